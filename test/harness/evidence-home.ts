/**
 * buildEvidenceHome(): a pcigate data home whose audit log comes from REAL proxied sessions, for the
 * evidence-bundle tests (issue 9: "a bundle built from a log produced by real proxied sessions (Postgres and
 * SSH, with denials, approvals and masked values)").
 *
 * Peers: a real PostgreSQL 15 (harness/postgres.ts) seeded with a small payments schema holding the card
 * networks' published Luhn-valid TEST PANs, a real OpenSSH sshd (harness/sshd.ts; skipped with a reason where
 * it is absent) and a real OIDC provider (harness/oidc.ts) that signs the CI job's workload token. Everything
 * in the log is written by the built bin (runCli), the way an operator and a CI job would run it:
 *
 * | step | identity | records it leaves (PCI DSS) |
 * | --- | --- | --- |
 * | `keys init --root-key-out`, later `keys rotate` | admin (local) | epoch 0 and 1 (10.3.2, 10.5) |
 * | `exec payments --sql "create table/role …"` | admin (local) | DDL / DCL (10.2.1.5, 10.2.1.7) |
 * | `exec payments --sql "select … pan …"` | CI workload token | masked PAN read (10.2.1.1, 3.4.1) |
 * | `exec payments --sql "drop table cards"` → exit 5 | CI | policy denial (10.2.1.4, 7.2.6) |
 * | `exec payments --sql "update … "` held, `approve` | CI requests, an approver logged in with OIDC approves | approval.* (7.2.3) |
 * | `exec` with a token whose claims do not match → exit 4 | CI (refused) | auth.fail (10.2.1.4, 8.2.1) |
 * | psql with a wrong secret against `connect --json` | — | auth.fail (10.2.1.4) |
 * | `exec bastion -- echo <PAN>` / `-- rm …` → exit 5 | CI | ssh.exec masked / denied |
 * | OpenSSH `sftp` and `ssh -R` via `connect bastion --listen` | admin (local) | ssh.request denied |
 * | `verify`, `sessions` | admin (local) | verify.run, audit.access (10.2.1.3) |
 *
 * `withGap()` copies the home and adds a real `log.gap`: an in-process broker (recorder/openAuditLog with a
 * file system whose segment writes fail for a moment) proxies psql to the same PostgreSQL; the statement
 * during the failure is refused (fail closed) and the recorder writes `log.gap` when writing works again.
 *
 * Build once per test file (beforeAll, ~30 s); `cleanup()` stops every peer and removes the directories.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openAuditLog } from '../../recorder/index.js';
import type { AuditRecord } from '../../recorder/types.js';
import { startPgBroker } from '../../src/broker/pg-broker.js';
import { localIdentity } from '../../src/broker/identity-provider.js';
import { systemClock } from '../../src/cli/ctx.js';
import type { Fs } from '../../src/cli/ctx.js';
import { BIN, runCli, tempDir } from './cli.js';
import type { CliResult } from './cli.js';
import { APPROVER, approverConfigFor, ensureApproverLogin } from './approver-login.js';
import { AUDIENCE, startOidcProvider } from './oidc.js';
import type { OidcHarness } from './oidc.js';
import { startPostgres } from './postgres.js';
import type { PostgresServer } from './postgres.js';
import { startSshd, sshdAvailable } from './sshd.js';
import type { Sshd } from './sshd.js';
import { testCtx } from './test-ctx.js';

/** The OS account the bin runs as: it stands in as the admin identity (identity.allow_local). */
export const ADMIN = os.userInfo().username;
/** The CI job's workload identity (the `sub` of its token). */
export const CI_SUB = 'repo:org/payments:ref:refs/heads/main';
export const ORIGIN = 'evidence.test/pcigate';
/** Connection names in the fixture's config. */
export const DB = 'payments';
export const SSH = 'bastion';
/** The test PANs seeded into `cards` (never real cards); none may appear unmasked anywhere in the home. */
export const TEST_PANS = ['4111111111111111', '5555555555554444', '378282246310005'] as const;

export interface EvidenceHome {
  /** Directory holding the config, the home, the root key files. */
  dir: string;
  home: string;
  configPath: string;
  /** The auditor's copy of the root public key: a file `ed25519 <base64>` (the format of keys/root.pub). */
  rootPubFile: string;
  /** The root public key, raw 32 bytes. */
  rootPub: Buffer;
  origin: string;
  /** Environment for the bin (the broker's DB password behind `env:` — a secret reference, never a literal). */
  env: Record<string, string>;
  /** Runs the built bin with `--config` and `--home` (of this home, or `home`) before `args`. */
  cli(args: string[], opts?: { home?: string; env?: Record<string, string>; timeoutMs?: number }): Promise<CliResult>;
  /** What the fixture did, for assertions. */
  facts: {
    approvalId: string;
    requester: string;
    approver: string;
    /** Why the SSH part was skipped, when it was. */
    sshSkipped?: string;
  };
  /** A copy of the home with a real `log.gap` appended (built on first call, then cached). */
  withGap(): Promise<{ home: string; gap: AuditRecord }>;
  /** Stops every peer and removes the directories. */
  cleanup(): Promise<void>;
}

/** Every record of a home's log, in seq order. */
export function readHomeLog(home: string): AuditRecord[] {
  const dir = path.join(home, 'log');
  return readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort()
    .flatMap((f) => readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRecord));
}

const SEED = `
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, country text NOT NULL);
CREATE TABLE cards (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers(id), pan text NOT NULL, brand text NOT NULL);
CREATE TABLE transactions (id int PRIMARY KEY, card_id int NOT NULL REFERENCES cards(id), amount_cents int NOT NULL, note text);
INSERT INTO customers VALUES (1, 'Ada Byron', 'GB'), (2, 'Grace Hopper', 'US'), (3, 'Alan Kay', 'US');
INSERT INTO cards VALUES (1, 1, '4111111111111111', 'visa'), (2, 2, '5555-5555-5555-4444', 'mastercard'), (3, 3, '3782 822463 10005', 'amex');
INSERT INTO transactions VALUES (1, 1, 1299, NULL), (2, 2, 45000, 'refund for card 5555555555554444'), (3, 3, 899, NULL);
`;

function configYaml(pg: PostgresServer, issuer: string, ssh: { sshd: Sshd; keyFile: string } | undefined): string {
  return [
    '# evidence fixture (test/harness/evidence-home.ts)',
    'version: 1',
    'identity:',
    '  allow_local: true',
    'audit:',
    `  origin: ${ORIGIN}`,
    '  checkpoint: { interval: 1s, records: 20 }',
    'masking:',
    '  format: last4',
    '  rules:',
    '    - { name: card-pan, columns: [cards.pan], format: last4 }   # names the cardholder table (10.2.1.1, 7.2.6)',
    'connections:',
    `  ${DB}:`,
    '    kind: postgres',
    '    description: payments database (test card numbers only)',
    `    host: ${pg.host}`,
    `    port: ${pg.port}`,
    `    database: ${pg.database}`,
    `    user: ${pg.superuser}`,
    '    password: env:EVIDENCE_DB_PASSWORD',
    '    sslmode: disable',
    '    workload:',
    `      - { issuer: "${issuer}", claims: { repository: org/payments } }`,
    ...(ssh ? [
      `  ${SSH}:`,
      '    kind: ssh',
      `    host: ${ssh.sshd.host}`,
      `    port: ${ssh.sshd.port}`,
      `    user: ${ssh.sshd.user}`,
      `    private_key: file:${ssh.keyFile}`,
      `    host_key: "${ssh.sshd.hostKeyFingerprint}"`,
      '    allow:',
      '      exec: { allow: ["echo *", "sh -c *"], deny: ["rm *"] }',
      '    workload:',
      `      - { issuer: "${issuer}", claims: { repository: org/payments } }`,
    ] : []),
    'policy:',
    '  roles:',
    `    ci: { subjects: ["${CI_SUB}"] }`,
    `    dba: { subjects: [${ADMIN}] }`,
    '  connections:',
    `    ${DB}:`,
    '      session: { idle_timeout: 10m }',
    `      approvals: { subjects: [${APPROVER.email}], min_approvals: 1, expires: 15m, wait: 2m }`,
    '      roles:',
    '        ci:',
    '          classes: [read, write, transaction, utility]',
    '          require_approval: [write_without_where]',
    '        dba:',
    '          classes: [read, write, ddl, dcl, transaction, utility]',
    '',
  ].join('\n');
}

function expectCode(what: string, r: CliResult, code: number): void {
  if (r.code !== code) throw new Error(`evidence fixture: ${what} exited ${r.code}, expected ${code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

/** Polls until `check` returns a value (not undefined) or the timeout passes. */
async function poll<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`evidence fixture: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface ProcResult { code: number | null; stdout: string; stderr: string }

function runProc(cmd: string, args: string[], env: Record<string, string>, input = '', timeoutMs = 30_000): Promise<ProcResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    child.stdin.end(input);
  });
}

/** `pcigate connect NAME --json [--listen]` in the background until `use` is done, then SIGINT (exit 0 expected). */
async function withListener<T>(h: { configPath: string; home: string; env: Record<string, string> }, args: string[], use: (info: Record<string, unknown>) => Promise<T>): Promise<T> {
  const child = spawn(process.execPath, [BIN, 'connect', '--config', h.configPath, '--home', h.home, ...args, '--json'], {
    env: { PATH: process.env.PATH ?? '', HOME: h.home, NO_COLOR: '1', ...h.env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  try {
    const info = await poll(async () => (out.trim().endsWith('}') ? JSON.parse(out) as Record<string, unknown> : undefined), `connect ${args.join(' ')} to listen`);
    const r = await use(info);
    child.kill('SIGINT');
    const code = await exited;
    if (code !== 0) throw new Error(`evidence fixture: connect ${args.join(' ')} exited ${code}: ${err}`);
    return r;
  } finally {
    child.kill('SIGKILL');
  }
}

/** Builds the home; see the file comment. Throws (after stopping what it started) when a step misbehaves. */
export async function buildEvidenceHome(): Promise<EvidenceHome> {
  const started: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of started.reverse()) await stop().catch(() => undefined);
    started.length = 0;
  };
  try {
    const pg = await startPostgres();
    started.push(() => pg.stop());
    pg.psql(SEED);
    const oidc: OidcHarness = await startOidcProvider();
    started.push(() => oidc.close());
    const skipSsh = sshdAvailable();
    const sshd = skipSsh ? undefined : await startSshd();
    if (sshd) started.push(() => sshd.stop());

    const dir = tempDir('pcigate-evidence-');
    started.push(async () => { rmSync(dir, { recursive: true, force: true }); });
    const home = path.join(dir, 'home');
    const configPath = path.join(dir, 'pcigate.yaml');
    const keyFile = path.join(dir, 'ssh_key');
    if (sshd) writeFileSync(keyFile, sshd.clientKey, { mode: 0o600 });
    writeFileSync(configPath, configYaml(pg, oidc.issuer, sshd ? { sshd, keyFile } : undefined), { mode: 0o600 });
    const env = { EVIDENCE_DB_PASSWORD: pg.password };
    const cli: EvidenceHome['cli'] = (args, o = {}) =>
      runCli(['--config', configPath, '--home', o.home ?? home, ...args], { env: { ...env, ...o.env }, home: dir, timeoutMs: o.timeoutMs ?? 60_000 });
    const now = () => Math.floor(Date.now() / 1000);
    const token = (over: Record<string, unknown> = {}) => oidc.sign({
      iss: oidc.issuer, aud: AUDIENCE, sub: CI_SUB, repository: 'org/payments', ref: 'refs/heads/main',
      workflow: 'nightly-report', actor: 'alice', iat: now(), exp: now() + 600, jti: randomUUID(), ...over,
    }, { typ: 'JWT' });
    const ci = async (args: string[], over?: Record<string, unknown>) => cli(['exec', ...args], { env: { PCIGATE_ID_TOKEN: await token(over) } });

    // Keys first, so the root private key can be kept "offline" and the auditor holds root.pub.
    const init = await cli(['keys', 'init', '--origin', ORIGIN, '--root-key-out', path.join(dir, 'root.pem'), '--json']);
    expectCode('keys init', init, 0);
    const rootPub = Buffer.from((JSON.parse(init.stdout) as { root_pub: string }).root_pub, 'base64');
    const rootPubFile = path.join(dir, 'root.pub');
    writeFileSync(rootPubFile, `ed25519 ${rootPub.toString('base64')}\n`);

    // Admin (local account, role dba): system-level objects and a credential change (10.2.1.5, 10.2.1.7).
    expectCode('create table', await cli(['exec', DB, '--sql', 'create table refunds (id int primary key, card_id int, amount_cents int)']), 0);
    expectCode('create role', await cli(['exec', DB, '--sql', 'create role reporting_ro nologin']), 0);
    expectCode('grant', await cli(['exec', DB, '--sql', 'grant select on transactions to reporting_ro']), 0);
    expectCode('drop table (dba)', await cli(['exec', DB, '--sql', 'drop table refunds']), 0);

    // CI job (workload token): a masked read of PANs, a denied DROP TABLE, a refused token.
    const read = await ci([DB, '--sql', 'select id, pan, brand from cards order by id', '--format', 'csv']);
    expectCode('masked select', read, 0);
    if (TEST_PANS.some((p) => read.stdout.replace(/[ -]/g, '').includes(p))) throw new Error('evidence fixture: a PAN reached the client unmasked');
    expectCode('denied drop table', await ci([DB, '--sql', 'drop table cards']), 5);
    expectCode('refused token', await ci([DB, '--sql', 'select 1'], { repository: 'org/payments-fork' }), 4);

    // A held statement: CI requests, a person logged in (APPROVER) approves while the job waits (7.2.3).
    let heldDone: CliResult | undefined;
    const held = ci([DB, '--reason', 'CHG-1042 mark refunds', '--sql', "update transactions set note = 'reviewed'"]);
    held.then((r) => { heldDone = r; }, () => { /* `await held` below throws it */ });
    const approvalId = await poll(async () => {
      if (heldDone) throw new Error(`evidence fixture: the held statement ended before approval (${heldDone.code}): ${heldDone.stderr}`);
      // Read the approvals store directly: `pcigate approvals` would open the audit log and could take it
      // just before the waiting job does (one process owns the log), making the job fail instead of wait.
      const names = existsSync(path.join(home, 'approvals')) ? readdirSync(path.join(home, 'approvals')) : [];
      return names.map((n) => /^(A-[a-z2-7]{10})\.json$/.exec(n)?.[1]).find((id): id is string => id !== undefined);
    }, 'the held statement to reach the approvals store', 45_000);
    const listed = await cli(['approvals', '--json']);
    expectCode('approvals', listed, 0);
    if (!listed.stdout.includes(approvalId)) throw new Error(`evidence fixture: pcigate approvals does not list ${approvalId}: ${listed.stdout}`);
    // The approver logs in: the admin's OS account runs the CI job here too, and cannot decide its requests.
    await ensureApproverLogin(oidc, home);
    const approverConfig = approverConfigFor(configPath, oidc);
    expectCode('approve', await runCli(['--config', approverConfig, '--home', home, 'approve', approvalId, '--reason', 'checked with the requester'], { env, home: dir, timeoutMs: 60_000 }), 0);
    expectCode('held update', await held, 0);

    // Postgres listener: a wrong secret (auth.fail), then an allowed session.
    await withListener({ configPath, home, env }, [DB], async (info) => {
      const base = { PATH: process.env.PATH ?? '', PGHOST: String(info.host), PGPORT: String(info.port), PGUSER: String(info.user), PGDATABASE: String(info.database), PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '10' };
      const bad = await runProc('psql', ['-X', '-At', '-c', 'select 1'], { ...base, PGPASSWORD: 'not-the-secret' });
      if (bad.code === 0) throw new Error('evidence fixture: psql with a wrong secret got in');
      const good = await runProc('psql', ['-X', '-At', '-c', 'select count(*) from cards'], { ...base, PGPASSWORD: String(info.password) });
      if (good.code !== 0 || good.stdout.trim() !== '3') throw new Error(`evidence fixture: psql through the listener failed: ${good.stderr}`);
    });

    // A new key epoch in the middle of the period (10.3.2: checkpoints signed by two epochs, chained to root).
    expectCode('keys rotate', await cli(['keys', 'rotate']), 0);

    if (sshd) {
      const echo = await ci([SSH, '--', 'echo', 'card', '4111', '1111', '1111', '1111']);
      expectCode('ssh echo', echo, 0);
      if (echo.stdout !== 'card **** **** **** 1111\n') throw new Error(`evidence fixture: unexpected ssh output ${JSON.stringify(echo.stdout)}`);
      expectCode('ssh denied rm', await ci([SSH, '--', 'rm', '-rf', '/tmp/evidence-x']), 5);
      await withListener({ configPath, home, env }, [SSH, '--listen'], async (info) => {
        const askpass = path.join(dir, 'askpass.sh');
        writeFileSync(askpass, `#!/bin/sh\necho '${String(info.password)}'\n`, { mode: 0o700 });
        const sshEnv = { PATH: process.env.PATH ?? '', HOME: dir, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' };
        const common = ['-p', String(info.port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'PreferredAuthentications=password'];
        // The subsystem request the sftp client sends (sftp's batch mode would rule out password auth).
        const sftp = await runProc('ssh', ['-T', '-s', ...common, 'pcigate@127.0.0.1', 'sftp'], sshEnv);
        if (sftp.code === 0) throw new Error('evidence fixture: sftp was not refused');
        // -N: no session channel. With a command, ssh leaves as soon as the forward is refused, while the
        // bridge is still deciding the exec request — the listener then crashed on upstream.exec "Not
        // connected" (reported to the lead), which is not what this fixture is about.
        const fwd = await runProc('ssh', ['-N', ...common, '-o', 'ExitOnForwardFailure=yes', '-R', '0:127.0.0.1:9', 'pcigate@127.0.0.1'], sshEnv);
        if (fwd.code === 0) throw new Error('evidence fixture: remote forwarding was not refused');
      });
    }

    // Access to the audit log itself (10.2.1.3).
    expectCode('verify', await cli(['verify', '--root-key', rootPubFile]), 0);
    expectCode('sessions', await cli(['sessions']), 0);

    let gapped: { home: string; gap: AuditRecord } | undefined;
    const withGap = async () => {
      gapped ??= await addGap(pg, dir, home);
      return gapped;
    };
    return {
      dir, home, configPath, rootPubFile, rootPub, origin: ORIGIN, env, cli,
      facts: { approvalId, requester: CI_SUB, approver: APPROVER.sub, ...(skipSsh ? { sshSkipped: skipSsh } : {}) },
      withGap,
      cleanup: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** A file system whose writes to log segments fail with EIO while `failing` is set (an unwritable disk). */
function failingFs(state: { failing: boolean }): Fs {
  const open = async (...args: Parameters<Fs['open']>) => {
    const fh = await fsp.open(...args);
    if (!String(args[0]).endsWith('.jsonl') || !String(args[0]).includes(`${path.sep}log${path.sep}`)) return fh;
    return new Proxy(fh, {
      get(target, prop) {
        if (prop === 'write') {
          return async (buf: Buffer, off = 0, len = buf.length - off, position: number | null = null) => {
            if (state.failing) throw Object.assign(new Error('injected write failure (evidence fixture)'), { code: 'EIO' });
            return target.write(buf, off, len, position);
          };
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  };
  return { ...fsp, open } as Fs;
}

/**
 * Copies the home and proxies three psql sessions through an in-process broker whose audit log cannot write
 * during the second: that statement is refused (fail closed) and the recorder writes `log.gap` first thing
 * when writing works again (docs/log-format.md "Failure semantics").
 */
async function addGap(pg: PostgresServer, dir: string, home: string): Promise<{ home: string; gap: AuditRecord }> {
  const gapHome = path.join(dir, 'home-gap');
  cpSync(home, gapHome, { recursive: true });
  const state = { failing: false };
  const ctx = testCtx({ clock: systemClock() as never, fs: failingFs(state) });
  const log = await openAuditLog(ctx, { home: gapHome, createIfMissing: false, idleMs: 60_000, checkpointIntervalMs: 60_000 });
  const broker = await startPgBroker({
    conn: DB, target: { host: pg.host, port: pg.port, database: pg.database, user: pg.superuser, password: pg.password, sslmode: 'disable' },
    sink: log, identity: localIdentity({ name: ADMIN, uid: process.getuid?.() ?? 0 }, true),
    clock: systemClock(), fs: fsp as Fs, log: ctx.log, home: gapHome, transcripts: false,
  });
  const env = {
    PATH: process.env.PATH ?? '', PGHOST: broker.host, PGPORT: String(broker.port), PGUSER: broker.user,
    PGPASSWORD: broker.secret, PGDATABASE: broker.database, PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '10',
  };
  try {
    const before = await runProc('psql', ['-X', '-At', '-c', 'select count(*) from customers'], env);
    if (before.code !== 0) throw new Error(`evidence fixture (gap): psql failed before the gap: ${before.stderr}`);
    state.failing = true;
    const during = await runProc('psql', ['-X', '-At', '-c', 'select count(*) from transactions'], env);
    if (during.code === 0) throw new Error('evidence fixture (gap): a statement ran while the audit log could not write');
    await new Promise((r) => setTimeout(r, 300));
    state.failing = false;
    const after = await runProc('psql', ['-X', '-At', '-c', 'select count(*) from customers'], env);
    if (after.code !== 0) throw new Error(`evidence fixture (gap): psql failed after the gap: ${after.stderr}`);
  } finally {
    state.failing = false;
    await broker.close();
    await log.close();
  }
  const gap = readHomeLog(gapHome).find((r) => r.type === 'log.gap');
  if (!gap) throw new Error('evidence fixture (gap): no log.gap record was written');
  return { home: gapHome, gap };
}
