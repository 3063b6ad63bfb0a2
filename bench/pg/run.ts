/**
 * pgbench and large results through pcigate vs direct vs a bare Node socket relay (issue 3 "Benchmark").
 * Interleaved rounds of `pgbench -S -c 8 -j 2` (simple and -M prepared), `-c 1` average latency, and a large
 * `COPY … TO STDOUT` and `SELECT` through each path, with MB/s and this process's peak RSS (the broker runs
 * in-process, so RSS is pcigate's plus the harness's). Recording is on (real audit log, transcripts).
 * Run after the build: `node dist/bench/pg/run.js [seconds=10] [rounds=2] [rows=2000000]`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { openAuditLog } from '../../recorder/index.js';
import { localIdentity } from '../../src/broker/identity-provider.js';
import { startPgBroker } from '../../src/broker/pg-broker.js';
import { systemClock } from '../../src/cli/ctx.js';
import { startPostgres } from '../../test/harness/postgres.js';

const SECONDS = Number(process.argv[2] ?? 10);
const ROUNDS = Number(process.argv[3] ?? 2);
const ROWS = Number(process.argv[4] ?? 2_000_000);

type Env = Record<string, string>;

function exec(cmd: string, args: string[], env: Env): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { if (stdout.length < 65536) stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: performance.now() - t0 }));
  });
}

async function pgbench(env: Env, args: string[]): Promise<{ tps: number; latencyMs: number }> {
  const r = await exec('pgbench', ['-n', '-S', ...args, '-T', String(SECONDS)], env);
  const tps = /tps = ([\d.]+)/.exec(r.stdout);
  const lat = /latency average = ([\d.]+) ms/.exec(r.stdout);
  if (!tps || !lat) throw new Error(`pgbench failed: ${r.stderr || r.stdout}`);
  return { tps: Number(tps[1]), latencyMs: Number(lat[1]) };
}

/** A bare relay: accept, connect upstream, pipe both ways (the floor any proxy in Node pays). */
async function bareRelay(host: string, port: number): Promise<{ port: number; close(): void }> {
  const server = net.createServer({ noDelay: true }, (c) => {
    const u = net.connect({ host, port, noDelay: true });
    c.pipe(u).on('error', () => c.destroy());
    u.pipe(c).on('error', () => u.destroy());
    c.on('error', () => u.destroy());
    u.on('error', () => c.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

let peakRss = 0;
const sampler = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage().rss); }, 50);

const server = await startPostgres({ tls: false });
const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-bench-pg-'));
const clock = systemClock();
const logger = { debug: () => {}, warn: () => {} };
const ctx = { fs: fsp, clock, log: logger, env: {}, cwd: home, user: { name: 'bench', uid: 0 } } as never;
const audit = await openAuditLog(ctx, { home, createIfMissing: true });
const broker = await startPgBroker({
  conn: 'bench', target: { host: server.host, port: server.port, database: server.database, user: server.superuser, password: server.password, sslmode: 'disable' },
  sink: audit, identity: localIdentity({ name: 'bench', uid: 0 }, true), clock, fs: fsp, log: logger, home,
});
const relay = await bareRelay(server.host, server.port);
try {
  const env = (port: number, password: string): Env => ({
    PATH: process.env.PATH ?? '', PGHOST: '127.0.0.1', PGPORT: String(port), PGUSER: server.superuser, PGPASSWORD: password,
    PGDATABASE: server.database, PGSSLMODE: 'disable',
  });
  const paths: Record<string, Env> = {
    direct: env(server.port, server.password),
    relay: env(relay.port, server.password),
    pcigate: env(broker.port, broker.secret),
  };
  const init = await exec('pgbench', ['-i', '-s', '1', '-q'], paths.direct!);
  if (init.code !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);

  const results: Record<string, Record<string, number[]>> = {};
  const add = (p: string, k: string, v: number) => { ((results[p] ??= {})[k] ??= []).push(v); };
  const copySql = `copy (select g, md5(g::text) from generate_series(1, ${ROWS}) g) to stdout`;
  const selectSql = `select g, md5(g::text) from generate_series(1, ${ROWS}) g`;
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, e] of Object.entries(paths)) {
      add(name, 'tps_c8_simple', (await pgbench(e, ['-c', '8', '-j', '2'])).tps);
      add(name, 'tps_c8_prepared', (await pgbench(e, ['-M', 'prepared', '-c', '8', '-j', '2'])).tps);
      add(name, 'latency_c1_ms', (await pgbench(e, ['-c', '1'])).latencyMs);
      peakRss = 0;
      const copy = await exec('sh', ['-c', `psql -X -At -c "${copySql}" | wc -c`], e);
      const bytes = Number(copy.stdout.trim());
      add(name, 'copy_mb_s', bytes / 1e6 / (copy.ms / 1000));
      const sel = await exec('sh', ['-c', `psql -X -At -c "${selectSql}" | wc -c`], e);
      add(name, 'select_mb_s', Number(sel.stdout.trim()) / 1e6 / (sel.ms / 1000));
      add(name, 'peak_rss_mb', peakRss / 1e6);
    }
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const summary: Record<string, Record<string, number>> = {};
  for (const [p, ks] of Object.entries(results)) {
    summary[p] = Object.fromEntries(Object.entries(ks).map(([k, v]) => [k, Math.round(mean(v) * 1000) / 1000]));
  }
  const ratio = (a: string, b: string, k: string) => Math.round((summary[a]![k]! / summary[b]![k]!) * 1000) / 1000;
  const report = {
    seconds: SECONDS, rounds: ROUNDS, rows: ROWS, summary,
    ratios: {
      pcigate_vs_relay_c8_simple: ratio('pcigate', 'relay', 'tps_c8_simple'),
      pcigate_vs_relay_c8_prepared: ratio('pcigate', 'relay', 'tps_c8_prepared'),
      pcigate_vs_direct_c8_simple: ratio('pcigate', 'direct', 'tps_c8_simple'),
      relay_vs_direct_c8_simple: ratio('relay', 'direct', 'tps_c8_simple'),
      pcigate_added_latency_us: Math.round((summary.pcigate!.latency_c1_ms! - summary.direct!.latency_c1_ms!) * 1000),
      pcigate_vs_direct_copy: ratio('pcigate', 'direct', 'copy_mb_s'),
      pcigate_vs_direct_select: ratio('pcigate', 'direct', 'select_mb_s'),
    },
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
} finally {
  clearInterval(sampler);
  relay.close();
  await broker.close();
  await audit.close();
  await server.stop();
}
