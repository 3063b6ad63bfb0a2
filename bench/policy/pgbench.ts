/**
 * pgbench through pcigate with policy off vs on (issue 6 "Benchmark"): a private PostgreSQL
 * (test/harness/postgres.ts), a broker without hooks, and a broker with the policy hooks (read-only role,
 * column deny list); select-only pgbench in the simple and the extended protocol against each, and
 * directly. Prints TPS and the on/off ratio as JSON.
 * Run after the build: `node dist/bench/policy/pgbench.js [seconds] [clients]`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openAuditLog } from '../../recorder/index.js';
import { localIdentity } from '../../src/broker/identity-provider.js';
import { startPgBroker } from '../../src/broker/pg-broker.js';
import { systemClock } from '../../src/cli/ctx.js';
import { policySection } from '../../src/config/sections/policy.js';
import { loadParser } from '../../src/policy/pg-parser.js';
import { policyHooksFor } from '../../src/policy/pg-policy-hooks.js';
import { PolicyEngine } from '../../src/policy/policy-engine.js';
import { startPostgres } from '../../test/harness/postgres.js';

const SECONDS = Number(process.argv[2] ?? 5);
const CLIENTS = Number(process.argv[3] ?? 4);

const policy = policySection.parse({
  roles: { bench: { subjects: ['bench'] } },
  connections: {
    bench: {
      roles: {
        bench: { classes: ['read', 'transaction', 'utility'], tables: { allow: ['public.*'] }, columns: { deny: ['cards.pan'] }, require_approval: ['ddl'] },
      },
    },
  },
});

/** Runs pgbench asynchronously: the broker under test lives in this process and must keep serving. */
function pgbench(env: Record<string, string>, mode: 'simple' | 'extended'): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('pgbench', ['-n', '-S', '-M', mode, '-c', String(CLIENTS), '-j', String(Math.min(CLIENTS, 2)), '-T', String(SECONDS)], { env });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { out += c.toString(); });
    child.on('error', reject);
    child.on('close', () => {
      const m = /tps = ([\d.]+)/.exec(out);
      if (m) resolve(Number(m[1])); else reject(new Error(`pgbench failed: ${out}`));
    });
  });
}

const log = { debug: () => {}, warn: () => {} };
const server = await startPostgres({ tls: false });
const closers: Array<() => Promise<void>> = [];
try {
  const pgEnv = (host: string, port: number, user: string, password: string, database: string) => ({
    PATH: process.env.PATH ?? '', PGHOST: host, PGPORT: String(port), PGUSER: user, PGPASSWORD: password, PGDATABASE: database, PGSSLMODE: 'disable',
  });
  const direct = pgEnv(server.host, server.port, server.superuser, server.password, server.database);
  const init = spawnSync('pgbench', ['-i', '-s', '1', '-q'], { env: direct, encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);

  await loadParser();
  const clock = systemClock();
  const gate = async (withPolicy: boolean): Promise<Record<string, string>> => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-bench-'));
    const ctx = { fs: fsp, clock, log } as never;
    const sink = await openAuditLog(ctx, { home, createIfMissing: true });
    const engine = new PolicyEngine(policy, {});
    const b = await startPgBroker({
      conn: 'bench', sink, identity: localIdentity({ name: 'bench', uid: 0 }, true), clock, fs: fsp, log, home, transcripts: false,
      target: { host: server.host, port: server.port, database: server.database, user: server.superuser, password: server.password, sslmode: 'disable' },
      ...(withPolicy ? { hooksFor: policyHooksFor({ engine, connection: 'bench', clock }) } : {}),
    });
    closers.push(async () => { await b.close(); await sink.close(); await fsp.rm(home, { recursive: true, force: true }); });
    return pgEnv(b.host, b.port, b.user, b.secret, b.database);
  };
  const off = await gate(false);
  const on = await gate(true);
  const results: Record<string, unknown> = { seconds: SECONDS, clients: CLIENTS, load: os.loadavg().map((x) => Math.round(x * 10) / 10) };
  for (const mode of ['simple', 'extended'] as const) {
    const d = await pgbench(direct, mode);
    const tOff = await pgbench(off, mode);
    const tOn = await pgbench(on, mode);
    results[mode] = { direct_tps: d, policy_off_tps: tOff, policy_on_tps: tOn, on_vs_off: Math.round((tOn / tOff) * 1000) / 1000, off_vs_direct: Math.round((tOff / d) * 1000) / 1000 };
  }
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
} finally {
  for (const close of closers) await close();
  await server.stop();
}
