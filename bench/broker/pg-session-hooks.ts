/**
 * What session limits (idle timer touched per client chunk, PCI DSS 8.2.8) and per-statement masked counts
 * cost on the data path: pgbench -S through the broker with the full per-session hooks of `pcigate connect`
 * (pgHooksFor: policy, masking, limits, counts) against the same policy and masking hooks without limits
 * and counts, in the simple and the extended protocol, interleaved and rotated per round; plus the cost of
 * one SessionLimits.activity() call. JSON on stdout.
 * Run after the build: `node dist/bench/broker/pg-session-hooks.js [seconds=5] [clients=4] [rounds=2]`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openAuditLog } from '../../recorder/index.js';
import { localIdentity } from '../../src/broker/identity-provider.js';
import { startPgBroker, type PgBrokerOptions } from '../../src/broker/pg-broker.js';
import { pgHooksFor } from '../../src/broker/pg-hooks.js';
import { effectiveLimits, SessionLimits, systemTimers } from '../../src/broker/session-limits.js';
import { systemClock, type Ctx } from '../../src/cli/ctx.js';
import { configSchema } from '../../src/config/index.js';
import { PgMasker } from '../../src/mask/pg-masker.js';
import { loadParser } from '../../src/policy/pg-parser.js';
import { identityOfActor, policyHooksFor } from '../../src/policy/pg-policy-hooks.js';
import { PolicyEngine } from '../../src/policy/policy-engine.js';
import { startPostgres } from '../../test/harness/postgres.js';

const SECONDS = Number(process.argv[2] ?? 5);
const CLIENTS = Number(process.argv[3] ?? 4);
const ROUNDS = Number(process.argv[4] ?? 2);

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

/** ns per SessionLimits.activity() (one clock read and a store). */
function activityCost(): number {
  const timers = systemTimers(systemClock());
  const l = new SessionLimits({ limits: effectiveLimits({ startedAt: timers.now(), idleTimeoutMs: 900_000, maxDurationMs: 8 * 3_600_000 }), timers, onLimit: () => {} });
  l.start();
  const n = 5_000_000;
  for (let i = 0; i < 100_000; i++) l.activity();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) l.activity();
  const ns = Number(process.hrtime.bigint() - t0) / n;
  l.stop();
  return Math.round(ns * 10) / 10;
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
  const config = configSchema.parse({
    connections: { bench: { kind: 'postgres', host: server.host, port: server.port, database: server.database, user: server.superuser, sslmode: 'disable' } },
    policy: { roles: { bench: { subjects: ['bench'] } }, connections: { bench: { roles: { bench: { classes: ['read', 'transaction', 'utility'] } } } } },
  });
  const target = { host: server.host, port: server.port, database: server.database, user: server.superuser, password: server.password, sslmode: 'disable' as const };
  const gate = async (full: boolean): Promise<Record<string, string>> => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-bench-'));
    const ctx = { fs: fsp, clock, log } as unknown as Ctx;
    const sink = await openAuditLog(ctx, { home, createIfMissing: true });
    let hooksFor: NonNullable<PgBrokerOptions['hooksFor']>;
    if (full) {
      hooksFor = await pgHooksFor(ctx, { config, name: 'bench', target, home, sink });
    } else {
      // Policy and masking as pgHooksFor composes them, without the session limits and the counts.
      const engine = new PolicyEngine(config.policy, config.connections);
      const policy = policyHooksFor({ engine, connection: 'bench', clock });
      hooksFor = (info) => {
        const masker = new PgMasker({ config: config.masking, grants: engine.unmaskGrants(identityOfActor(info.actor), 'bench') });
        return { ...policy(info), onBackendMessage: (f) => masker.onBackendMessage(f) };
      };
    }
    const b = await startPgBroker({ conn: 'bench', sink, identity: localIdentity({ name: 'bench', uid: 0 }, true), clock, fs: fsp, log, home, transcripts: false, target, hooksFor });
    closers.push(async () => { await b.close(); await sink.close(); await fsp.rm(home, { recursive: true, force: true }); });
    return pgEnv(b.host, b.port, b.user, b.secret, b.database);
  };
  const paths = { without: await gate(false), with: await gate(true) } as const;
  const tps: Record<string, number[]> = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of ['simple', 'extended'] as const) {
      const order = round % 2 === 0 ? (['without', 'with'] as const) : (['with', 'without'] as const);
      for (const p of order) (tps[`${mode}_${p}`] ??= []).push(await pgbench(paths[p], mode));
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const results: Record<string, unknown> = { seconds: SECONDS, clients: CLIENTS, rounds: ROUNDS, load: os.loadavg().map((x) => Math.round(x * 10) / 10), activity_ns: activityCost() };
  for (const mode of ['simple', 'extended'] as const) {
    const w = median(tps[`${mode}_with`]!);
    const wo = median(tps[`${mode}_without`]!);
    results[mode] = { without_limits_tps: Math.round(wo), with_limits_and_counts_tps: Math.round(w), ratio: Math.round((w / wo) * 1000) / 1000, runs: { with: tps[`${mode}_with`], without: tps[`${mode}_without`] } };
  }
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
} finally {
  for (const close of closers) await close();
  await server.stop();
}
