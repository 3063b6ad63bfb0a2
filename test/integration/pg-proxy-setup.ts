/**
 * Shared set-up for the pg-proxy integration tests: a real PostgreSQL (test/harness/postgres.ts), a real
 * audit log (recorder/) in a temp data home, and a pcigate broker listening on a free loopback port.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { expect } from 'vitest';
import { openAuditLog, type AuditLog, type AuditLogOptions } from '../../recorder/index.js';
import type { AuditRecord, AuditSink } from '../../recorder/types.js';
import { systemClock, type Fs } from '../../src/cli/ctx.js';
import { localIdentity } from '../../src/broker/identity-provider.js';
import { startPgBroker, type PgBroker, type PgBrokerOptions } from '../../src/broker/pg-broker.js';
import { pgHooksFor } from '../../src/broker/pg-hooks.js';
import { configSchema, type PcigateConfig } from '../../src/config/index.js';
import { AuditWriteError } from '../../src/errors.js';
import { ApprovalStore, type ApprovalRequest } from '../../src/policy/approvals.js';
import type { PolicyIdentity } from '../../src/policy/evaluate.js';
import type { UpstreamTarget } from '../../src/pg/proxy/upstream.js';
import { readLog } from '../harness/audit-records.js';
import { tempDir } from '../harness/cli.js';
import type { PostgresServer } from '../harness/postgres.js';
import { testCtx } from '../harness/test-ctx.js';

/** Every record of a home's log, in seq order (test/harness/audit-records.ts; many tests import it from here). */
export { readLog };

export interface Gate {
  broker: PgBroker;
  log: AuditLog;
  home: string;
  /** Environment for libpq clients (psql, pgbench) pointed at the gate. */
  env: Record<string, string>;
  close(): Promise<void>;
}

export function targetOf(pg: PostgresServer, over: Partial<UpstreamTarget> = {}): UpstreamTarget {
  return { host: pg.host, port: pg.port, database: pg.database, user: pg.superuser, password: pg.password, sslmode: 'disable', ...over };
}

export async function startGate(
  pg: PostgresServer,
  over: Partial<PgBrokerOptions> & { sinkWrap?: (s: AuditSink) => AuditSink; audit?: Partial<AuditLogOptions>; auditFs?: Fs } = {},
): Promise<Gate> {
  const home = tempDir('pcigate-gate-');
  const ctx = testCtx({ clock: systemClock() as never, ...(over.auditFs ? { fs: over.auditFs } : {}) });
  const log = await openAuditLog(ctx, { home, createIfMissing: true, idleMs: 60_000, checkpointIntervalMs: 60_000, ...over.audit });
  const sink = over.sinkWrap ? over.sinkWrap(log) : log;
  const broker = await startPgBroker({
    conn: 'test-db', target: targetOf(pg), sink, identity: localIdentity({ name: 'tester', uid: 1000 }, true),
    clock: systemClock(), fs: ctx.fs, log: ctx.log, home, ...over,
  });
  const env = {
    PATH: process.env.PATH ?? '', PGHOST: broker.host, PGPORT: String(broker.port), PGUSER: broker.user,
    PGPASSWORD: broker.secret, PGDATABASE: broker.database, PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '10',
  };
  return {
    broker, log, home, env,
    async close() { await broker.close(); await log.close(); },
  };
}

/**
 * pcigate.yaml for a gate test: one postgres connection `test-db` to `server` (sslmode disable), the test
 * identity `tester` in role `eng` allowed the statement `classes`, and masking `rules`.
 */
export function gateConfig(server: PostgresServer, o: {
  classes: string[]; rules?: Array<Record<string, unknown>>;
  /** More of role eng's entry (tables, require_approval …) and the connection's approvals section. */
  role?: Record<string, unknown>; approvals?: Record<string, unknown>;
  /** More of the masking section (networks …). */
  masking?: Record<string, unknown>;
}): PcigateConfig {
  return configSchema.parse({
    connections: { 'test-db': { kind: 'postgres', host: server.host, port: server.port, database: server.database, user: server.superuser, sslmode: 'disable' } },
    masking: { rules: o.rules ?? [], ...o.masking },
    policy: {
      roles: { eng: { subjects: ['tester'] } },
      connections: { 'test-db': { ...(o.approvals ? { approvals: o.approvals } : {}), roles: { eng: { classes: o.classes, ...o.role } } } },
    },
  });
}

/**
 * A gate whose sessions get the hooks `pcigate connect` gives them (pgHooksFor: policy, approvals, masking,
 * session limits) from `config`, whose connection `test-db` must point at `pg`.
 */
export async function startConfiguredGate(pg: PostgresServer, config: PcigateConfig): Promise<Gate> {
  const ref: { hooks?: Awaited<ReturnType<typeof pgHooksFor>> } = {};
  const gate = await startGate(pg, { hooksFor: (info) => ref.hooks!(info), networks: config.masking.networks });
  ref.hooks = await pgHooksFor(testCtx({ clock: systemClock() as never }), { config, name: 'test-db', target: targetOf(pg), home: gate.home, sink: gate.log });
  return gate;
}

/** The approver of held statements in gate tests: group security, with MFA. */
export const APPROVER: PolicyIdentity = { sub: 'u-approver', email: 'ann@example.com', groups: ['security'], via: 'oidc', mfa: true };

/**
 * A configured gate (startConfiguredGate) whose role eng may read, write, use transactions and utilities, with
 * writes without WHERE held for an approver of group security (APPROVER) for up to a minute — a test that
 * saw a hold wait out would time out long before — and the approval store of its data home. `role` adds to
 * eng's entry (approval_tables …), `masking` to the masking section.
 */
export async function heldGate(server: PostgresServer, o: { role?: Record<string, unknown>; masking?: Record<string, unknown> } = {}): Promise<{ gate: Gate; store: ApprovalStore }> {
  const gate = await startConfiguredGate(server, gateConfig(server, {
    classes: ['read', 'write', 'transaction', 'utility'],
    approvals: { groups: ['security'], wait: '60s' },
    role: { require_approval: ['write_without_where'], ...o.role },
    ...(o.masking ? { masking: o.masking } : {}),
  }));
  return { gate, store: new ApprovalStore({ fs: fsp, clock: systemClock(), home: gate.home, sink: gate.log }) };
}

/**
 * gateConfig of the client_encoding tests: role eng reads tables in public and utilities, all but the column
 * `número` (non-ASCII, so a text naming it in another encoding is what policy must not misread); `more`:
 * classes beyond those, and functions the role may call.
 */
export function numeroDeniedConfig(server: PostgresServer, more: { classes?: string[]; functions?: string[] } = {}): PcigateConfig {
  return gateConfig(server, {
    classes: ['read', 'utility', 'transaction', ...(more.classes ?? [])],
    role: { tables: { allow: ['public.*'] }, columns: { deny: ['número'] }, ...(more.functions ? { functions: { allow: more.functions } } : {}) },
  });
}

/**
 * Runs a client program that prints one `step=<name> <facts>` line per step and `done` at the end
 * (test/integration/clients/); fails the set-up with its output when it does not finish.
 */
export async function runProbe(cmd: string, args: string[]): Promise<{ steps: Map<string, string>; stdout: string }> {
  const r = await run(cmd, args, { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' }, { timeoutMs: 120_000 });
  if (r.code !== 0 || !r.stdout.includes('\ndone')) throw new Error(`${path.basename(args.find((a) => /\.(java|py)$/.test(a)) ?? cmd)} exited ${r.code}: ${r.stdout}\n${r.stderr}`);
  const steps = new Map(r.stdout.split('\n').filter((l) => l.startsWith('step=')).map((l): [string, string] => {
    const [name, ...rest] = l.slice(5).split(' ');
    return [name!, rest.join(' ')];
  }));
  return { steps, stdout: r.stdout };
}

/** The `pg.query` detail members the client tests read. */
export interface PgQueryDetail {
  n?: number; sql: string; protocol?: string; params?: unknown[]; statement?: string; portal?: string; rule?: string;
  result?: string; sqlstate?: string | null; commands?: string[]; rows?: number; data_rows?: number; suspended?: boolean; masked?: Record<string, number>;
}

/** A record's detail as a `pg.query` detail. */
export const queryDetail = (r: AuditRecord): PgQueryDetail => r.detail as unknown as PgQueryDetail;

/** The `pg.query` records whose SQL contains `sqlPart`, in seq order. */
export function pgQueries(home: string, sqlPart: string): AuditRecord[] {
  return readLog(home).filter((r) => r.type === 'pg.query' && queryDetail(r).sql.includes(sqlPart));
}

/** Runs `sqls` in order on one client through the gate; returns each result's rows, or the error's code and message. */
export async function queryEach(g: { broker: { host: string; port: number; user: string; secret: string; database: string } }, sqls: string[]): Promise<unknown[]> {
  const c = await pgClient(g);
  const out: unknown[] = [];
  try {
    for (const sql of sqls) out.push(await c.query(sql).then((r) => r.rows, (e: { code?: string; message: string }) => ({ code: e.code, message: e.message })));
  } finally { await c.end(); }
  return out;
}

export interface Run { code: number | null; stdout: string; stderr: string }

/** Runs a client program (psql, pgbench) with `env`, optional stdin, and a timeout. */
export function run(cmd: string, args: string[], env: Record<string, string>, opts: { input?: string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** A sink that holds pg.intent records of statements containing `marker` until release() (or fails them). */
export function slowIntents(marker: string) {
  let release: (ok: boolean) => void = () => {};
  const released = new Promise<boolean>((r) => { release = r; });
  let durableAt = 0;
  const wrap = (s: AuditSink): AuditSink => ({
    append: (e) => {
      const sql = (e.detail as { sql?: string } | undefined)?.sql ?? '';
      if (e.type !== 'pg.intent' || !sql.includes(marker)) return s.append(e);
      return s.append(e).then(async (r) => {
        if (!(await released)) throw new AuditWriteError('disk full');
        durableAt = performance.now();
        return r;
      });
    },
    commitBlob: (p, k) => s.commitBlob(p, k),
  });
  return { wrap, release: (ok: boolean) => release(ok), durableAt: () => durableAt };
}

/** The records of the session whose pg.query ran `sql`, once its session.end is in `home`'s log. */
export async function sessionOf(home: string, sql: string): Promise<AuditRecord[]> {
  let mine: AuditRecord[] = [];
  await until(() => {
    const log = readLog(home);
    const session = log.find((r) => r.type === 'pg.query' && queryDetail(r).sql === sql)?.session;
    mine = log.filter((r) => r.session === session);
    return session !== undefined && mine.some((r) => r.type === 'session.end');
  }, 20_000);
  return mine;
}

/**
 * SQL creating `stubborn(secs)`: it runs `secs` seconds whatever cancels it (it traps query_canceled), as a
 * statement that does not answer a cancel (a synchronous-replication commit wait) would.
 */
export const STUBBORN_FUNCTION = `create function stubborn(secs int) returns int language plpgsql as $$
  declare t timestamptz := clock_timestamp();
  begin
    while clock_timestamp() < t + make_interval(secs => secs) loop
      begin perform pg_sleep(0.05); exception when query_canceled then null; end;
    end loop;
    return secs;
  end $$`;

/** Polls until `check` returns true or the timeout passes. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A connected `pg` client through the gate's listener (errors after connect are the test's to observe). */
export async function pgClient(g: { broker: { host: string; port: number; user: string; secret: string; database: string } }): Promise<pg.Client> {
  const c = new pg.Client({ host: g.broker.host, port: g.broker.port, user: g.broker.user, password: g.broker.secret, database: g.broker.database });
  c.on('error', () => {});
  await c.connect();
  return c;
}

/** Every file under a data home (log, checkpoints, transcripts), concatenated: where no card number may be. */
export function dataHome(home: string): Buffer {
  const files: string[] = [];
  const walk = (d: string) => { for (const e of readdirSync(d, { withFileTypes: true })) (e.isDirectory() ? walk : (f: string) => files.push(f))(path.join(d, e.name)); };
  walk(home);
  return Buffer.concat(files.map((f) => readFileSync(f)));
}

/** Every file under `home`, with its text (latin1: any bytes read as they are), to look for what must not be on disk. */
export function homeFiles(home: string): Array<{ file: string; text: string }> {
  return readdirSync(home, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())
    .map((e) => ({ file: path.join(e.parentPath, e.name), text: readFileSync(path.join(e.parentPath, e.name), 'latin1') }));
}

/** How many sessions have ended in the log under `home` (a client's work is all recorded once its session.end is). */
export function sessionEnds(home: string): number {
  return readLog(home).filter((x) => x.type === 'session.end').length;
}

/** The first pending request of `store`, once a held statement has made one. */
export async function pendingRequest(store: ApprovalStore): Promise<ApprovalRequest> {
  let req: ApprovalRequest | undefined;
  await until(async () => { req = (await store.list()).find((x) => x.state === 'pending'); return req !== undefined; }, 15_000);
  return req!;
}

/** That no file under `home` (the log, transcripts, recordings, approval requests) holds any of `secrets`. */
export function expectNowhere(home: string, secrets: ReadonlyArray<string | RegExp>): void {
  for (const { file, text } of homeFiles(home)) {
    for (const secret of secrets) {
      if (typeof secret === 'string') expect(text, file).not.toContain(secret);
      else expect(text, file).not.toMatch(secret);
    }
  }
}

/** A psql script (for `psql -f`) of `lines`, one statement each, in a fresh temporary directory: its path. */
export function sqlScript(lines: readonly string[]): string {
  const file = path.join(tempDir('pcigate-sql-'), 'script.sql');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}
