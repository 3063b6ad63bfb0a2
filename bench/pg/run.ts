/**
 * pgbench and large results through pcigate vs direct vs PgBouncer vs a bare Node socket relay (issue 3
 * "Benchmark"), all in one run so the ratios compare like with like on a shared machine. Interleaved
 * rounds: every test runs once through every path before the next test (path order rotated per round):
 * `pgbench -S -c 8 -j 2` (simple and -M prepared), `-c 1` average latency, and a large `COPY … TO STDOUT`
 * and `SELECT` through psql, in MB/s, and sessions a second with a new connection for each transaction (`pgbench -C
 * -c 1`, `connect_per_s`: a session's set-up). pcigate runs twice as `pcigate connect` runs it (recording,
 * transcripts, policy classification and decision, PAN masking, session limits: bench/pg/serve.ts), with
 * audit.durability `fsync` and `os`; it, and the bare relay, each run in their own process so their peak
 * RSS (VmHWM) and CPU time are theirs alone (`cpu_us_per_tx_simple`/`_prepared`: the proxy's CPU per pgbench
 * transaction at c=8, steadier than TPS when something else shares the cores): `peak_rss_mb` over the whole run, and `large_result_rss_mb` while the large
 * results stream (VmHWM reset before each: what the "RSS under 150 MB whatever the size" is about;
 * pgbench's eight busy sessions before it grow V8's heap; pcigate caps the young generation at 8 MB semi-spaces:
 * src/cli/young-generation.ts). PgBouncer (session mode) is included when the `pgbouncer` binary is
 * installed. `os-nohooks` (recording without policy and masking) and `unrecorded` (the proxy without recording
 * or hooks), which no pcigate command runs, are only measured when named in --only, to see what each layer
 * costs; they are never in the goals' ratios. Named together with relay and os
 * (`--only=relay,unrecorded,os-nohooks,os`), the proxy's CPU per transaction is split layer by layer
 * (`cpu_us_per_tx_layers_*`: relay floor, proxy, recording, hooks).
 *
 *   npm run build && node dist/bench/pg/run.js [seconds=20] [rounds=2] [rows=5000000] [--only=direct,os,…] [--node-flags="…"]
 *
 * A quick round: `node dist/bench/pg/run.js 5 1 200000`. JSON on stdout, a table on stderr.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startPostgres } from '../../test/harness/postgres.js';
import { startPgBouncer, type Bouncer } from './pgbouncer.js';

const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const only = process.argv.slice(2).find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
/**
 * `--node-flags="--max-semi-space-size=8"`: node options for pcigate's own proxy processes (not the relay's), as a
 * user would set them in NODE_OPTIONS; a run with and one without show what they trade (docs/pg-proxy.md, Memory).
 */
const NODE_FLAGS = process.argv.slice(2).find((a) => a.startsWith('--node-flags='))?.slice('--node-flags='.length).split(' ').filter(Boolean) ?? [];
const SECONDS = Number(positional[0] ?? 20); // the pgbench -T 20
const ROUNDS = Number(positional[1] ?? 2);
const ROWS = Number(positional[2] ?? 5_000_000); // the 5M-row COPY and SELECT
const CLIENTS = 8;

type Env = Record<string, string>;

function exec(cmd: string, args: string[], env: Env): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { if (stdout.length < 65536) stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { if (stderr.length < 65536) stderr += c.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: performance.now() - t0 }));
  });
}

async function pgbench(env: Env, args: string[]): Promise<{ tps: number; latencyMs: number; transactions: number }> {
  // A -T in `args` (the warm-up's) comes last, so it wins over the run's.
  const r = await exec('pgbench', ['-n', '-S', '-T', String(SECONDS), ...args], env);
  const tps = /tps = ([\d.]+)/.exec(r.stdout);
  const lat = /latency average = ([\d.]+) ms/.exec(r.stdout);
  const n = /number of transactions actually processed: (\d+)/.exec(r.stdout);
  if (!tps || !lat || !n) throw new Error(`pgbench failed: ${r.stderr || r.stdout}`);
  return { tps: Number(tps[1]), latencyMs: Number(lat[1]), transactions: Number(n[1]) };
}

/**
 * CPU time (user + system) a process has used, in µs, from /proc (Linux; clock ticks of 1/100 s, the
 * USER_HZ every Linux ABI fixes). Per pgbench transaction it is the proxy's own cost, steadier than TPS on a
 * shared machine, where what else runs takes cores from pgbench, the server and the proxy alike.
 */
function cpuMicros(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10_000;
}

/** Peak resident set of a process, from /proc (Linux), in MB. */
function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Starts a new peak: `5` in clear_refs resets VmHWM to the current RSS (proc(5), Linux ≥ 4.0). */
function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

interface Proxy { port: number; password: string; child: ChildProcess }

/** Modes no pcigate command runs (bench/pg/serve.ts), measured only when named in --only and never in the goals' ratios. */
const PARTIAL: ReadonlySet<string> = new Set(['os-nohooks', 'unrecorded']);

async function startProxy(mode: 'relay' | 'fsync' | 'os' | 'os-nohooks' | 'unrecorded', pg: { host: string; port: number; database: string; superuser: string; password: string }): Promise<Proxy> {
  const serve = fileURLToPath(new URL('./serve.js', import.meta.url));
  const child = spawn(process.execPath, [...(mode === 'relay' ? [] : NODE_FLAGS), serve, mode, pg.host, String(pg.port), pg.database, pg.superuser, pg.password], { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => { buf += d.toString(); if (buf.includes('\n')) resolve(buf.split('\n')[0]!); });
    child.once('exit', (code) => reject(new Error(`serve.js ${mode} exited (${code})`)));
  });
  const info = JSON.parse(line) as { port: number; password: string };
  return { ...info, child };
}

async function stopProxy(p: Proxy): Promise<void> {
  if (p.child.exitCode !== null) return;
  const exited = new Promise((r) => p.child.once('exit', r));
  p.child.stdin!.end();
  await exited;
}

const pg = await startPostgres({ tls: false, config: { max_connections: 200 } });
const proxies = new Map<string, Proxy>();
let bouncer: Bouncer | undefined;
try {
  const env = (port: number, password: string): Env => ({
    PATH: process.env.PATH ?? '', PGHOST: '127.0.0.1', PGPORT: String(port), PGUSER: pg.superuser, PGPASSWORD: password,
    PGDATABASE: pg.database, PGSSLMODE: 'disable',
  });
  const want = (name: string) => !only || only.includes(name);
  const paths: Record<string, Env> = {};
  if (want('direct')) paths.direct = env(pg.port, pg.password);
  if (want('pgbouncer')) {
    bouncer = await startPgBouncer({ host: pg.host, port: pg.port, database: pg.database, user: pg.superuser, password: pg.password });
    if (bouncer) paths.pgbouncer = env(bouncer.port, 'unused');
    else process.stderr.write('pgbouncer is not installed: skipped (apt-get install -y pgbouncer)\n');
  }
  for (const mode of ['relay', 'fsync', 'os', 'os-nohooks', 'unrecorded'] as const) {
    if (!want(mode) || (PARTIAL.has(mode) && !only?.includes(mode))) continue;
    const p = await startProxy(mode, pg);
    proxies.set(mode, p);
    paths[mode] = env(p.port, p.password);
  }
  const init = await exec('pgbench', ['-i', '-s', '1', '-q'], env(pg.port, pg.password));
  if (init.code !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);

  const results: Record<string, Record<string, number[]>> = {};
  const add = (p: string, k: string, v: number) => { ((results[p] ??= {})[k] ??= []).push(v); };
  // The large results come from a stored table. Generated in the query (md5 of generate_series), they held the
  // server to ~43 MB/s, less than any path carries, and hid the proxy's own cost: from the table direct gives ~170
  // MB/s, pcigate ~50 (2026-12-07).
  const large = await exec('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', `create table bench_large as select g, md5(g::text) as h from generate_series(1, ${ROWS}) g`, '-c', 'vacuum analyze bench_large'], env(pg.port, pg.password));
  if (large.code !== 0) throw new Error(`creating the large table failed: ${large.stderr}`);
  const copySql = 'copy bench_large to stdout';
  const selectSql = 'select g, h from bench_large';
  const mbPerS = async (e: Env, sql: string) => {
    const r = await exec('sh', ['-c', `psql -X -At -v ON_ERROR_STOP=1 -c "${sql}" | wc -c`], e);
    // psql's errors (a statement refused by policy, say) reach stderr: a refused query is no throughput.
    if (r.stderr.trim() || !(Number(r.stdout.trim()) > 0)) throw new Error(`psql failed: ${r.stderr.trim() || 'no output'}`);
    return Number(r.stdout.trim()) / 1e6 / (r.ms / 1000);
  };
  // The proxy's CPU per transaction of the c=8 runs (cpuMicros), under `cpu_us_per_tx_<test>`.
  let cpuPid: number | undefined;
  const c8 = async (e: Env, test: string, args: string[]) => {
    const c0 = cpuPid ? cpuMicros(cpuPid) : 0;
    const r = await pgbench(e, args);
    if (cpuPid) cpu.perTx = { key: `cpu_us_per_tx_${test.slice('tps_c8_'.length)}`, v: (cpuMicros(cpuPid) - c0) / r.transactions };
    return r.tps;
  };
  const cpu: { perTx?: { key: string; v: number } | undefined } = {};
  const tests: Array<[string, (e: Env) => Promise<number>]> = [
    ['tps_c8_simple', (e) => c8(e, 'tps_c8_simple', ['-c', String(CLIENTS), '-j', '2'])],
    ['tps_c8_prepared', (e) => c8(e, 'tps_c8_prepared', ['-M', 'prepared', '-c', String(CLIENTS), '-j', '2'])],
    ['latency_c1_ms', async (e) => (await pgbench(e, ['-c', '1'])).latencyMs],
    ['copy_mb_s', (e) => mbPerS(e, copySql)],
    ['select_mb_s', (e) => mbPerS(e, selectSql)],
    // A new connection for every transaction (pgbench -C, one client): what a session's set-up costs (the listener's
    // SCRAM, the server's login and backend, pcigate's session records and transcript), in sessions a second.
    ['connect_per_s', async (e) => (await pgbench(e, ['-c', '1', '-C', '-T', String(Math.max(3, Math.round(SECONDS / 2)))])).tps],
  ];
  const names = Object.keys(paths);
  // Warm-up, not measured: each path's first seconds are JIT compilation, libpg-query's WebAssembly
  // compiling its parser and the first sessions' set-up, which made whichever test ran first an outlier.
  // 10 s, not 3: after 3 s the first measured c=8 run through pcigate still cost ~1.5× the CPU per
  // transaction of the next (181 vs 108 µs, 2026-12-04), as V8 was still growing its young generation.
  for (const name of names) await pgbench(paths[name]!, ['-c', String(CLIENTS), '-j', '2', '-T', '10']).catch((e: Error) => { throw new Error(`warm-up through ${name}: ${e.message}`); });
  const peakRss = new Map<string, number>();
  for (let round = 0; round < ROUNDS; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length]!);
    for (const [test, fn] of tests) {
      for (const name of order) {
        // A proxy's peak RSS over the whole run, and its own peak while it streams a large result (the
        // goal: flat whatever the size; pgbench's eight sessions before it are another matter).
        const pid = proxies.get(name)?.child.pid;
        const large = test === 'copy_mb_s' || test === 'select_mb_s';
        if (pid && large) { peakRss.set(name, Math.max(peakRss.get(name) ?? 0, peakRssMb(pid))); resetPeakRss(pid); }
        cpuPid = pid;
        cpu.perTx = undefined;
        const v = await fn(paths[name]!);
        const perTx = cpu.perTx as { key: string; v: number } | undefined; // set by c8() meanwhile
        if (perTx) add(name, perTx.key, perTx.v);
        if (pid && large) add(name, 'large_result_rss_mb', peakRssMb(pid));
        add(name, test, v);
        process.stderr.write(`round ${round + 1} ${test.padEnd(16)} ${name.padEnd(10)} ${v.toFixed(3)}\n`);
      }
    }
  }
  for (const [name, p] of proxies) add(name, 'peak_rss_mb', Math.max(peakRss.get(name) ?? 0, peakRssMb(p.child.pid!)));

  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  const summary: Record<string, Record<string, number>> = {};
  // Means over the rounds; a peak is the highest of them.
  for (const [p, ks] of Object.entries(results)) summary[p] = Object.fromEntries(Object.entries(ks).map(([k, v]) => [k, r3(k.endsWith('_rss_mb') ? Math.max(...v) : mean(v))]));
  const ratio = (a: string, b: string, k: string) => (summary[a] && summary[b] ? r3(summary[a]![k]! / summary[b]![k]!) : null);
  const ratios: Record<string, Record<string, number | null>> = {};
  for (const mode of ['fsync', 'os']) {
    if (!summary[mode]) continue;
    ratios[`pcigate_${mode}`] = {
      vs_relay_c8_simple: ratio(mode, 'relay', 'tps_c8_simple'),
      vs_relay_c8_prepared: ratio(mode, 'relay', 'tps_c8_prepared'),
      vs_pgbouncer_c8_simple: ratio(mode, 'pgbouncer', 'tps_c8_simple'),
      vs_pgbouncer_c8_prepared: ratio(mode, 'pgbouncer', 'tps_c8_prepared'),
      vs_direct_c8_simple: ratio(mode, 'direct', 'tps_c8_simple'),
      cpu_per_tx_vs_relay_simple: ratio(mode, 'relay', 'cpu_us_per_tx_simple'),
      cpu_per_tx_vs_relay_prepared: ratio(mode, 'relay', 'cpu_us_per_tx_prepared'),
      added_latency_c1_us: summary.direct ? Math.round((summary[mode]!.latency_c1_ms! - summary.direct.latency_c1_ms!) * 1000) : null,
      vs_direct_copy: ratio(mode, 'direct', 'copy_mb_s'),
      vs_direct_select: ratio(mode, 'direct', 'select_mb_s'),
      vs_relay_connect: ratio(mode, 'relay', 'connect_per_s'),
      peak_rss_mb: summary[mode]!.peak_rss_mb ?? null,
      large_result_rss_mb: summary[mode]!.large_result_rss_mb ?? null,
    };
  }
  ratios.reference = {
    relay_vs_direct_c8_simple: ratio('relay', 'direct', 'tps_c8_simple'),
    pgbouncer_vs_direct_c8_simple: ratio('pgbouncer', 'direct', 'tps_c8_simple'),
    relay_added_latency_c1_us: summary.relay && summary.direct ? Math.round((summary.relay.latency_c1_ms! - summary.direct.latency_c1_ms!) * 1000) : null,
  };
  // Where the proxy's CPU per transaction goes, layer by layer, when every layer was measured in this run
  // (`--only=relay,unrecorded,os-nohooks,os`): the relay's floor; pcigate's proxy (framing, the prepared
  // mirror, statement tracking) without recording; recording (the audit records and transcripts); the
  // policy, masking and limit hooks — and whatever else `pcigate connect`'s path (connectPg: config, outbox drain)
  // adds over os-nohooks' bare broker, and, with BENCH_NO_TRANSCRIPTS=1 (which only os-nohooks reads), the
  // transcripts too. Differences of means, so a layer's figure carries the noise of two.
  const layers = ['relay', 'unrecorded', 'os-nohooks', 'os'];
  if (layers.every((m) => summary[m])) {
    for (const test of ['simple', 'prepared']) {
      const cpu = layers.map((m) => summary[m]![`cpu_us_per_tx_${test}`]!);
      ratios[`cpu_us_per_tx_layers_${test}`] = {
        relay_floor: r3(cpu[0]!), proxy: r3(cpu[1]! - cpu[0]!), recording: r3(cpu[2]! - cpu[1]!), hooks: r3(cpu[3]! - cpu[2]!), total_os: r3(cpu[3]!),
      };
    }
  }
  const goals = { vs_relay_c8: 0.95, vs_pgbouncer_c8: 0.75, added_latency_c1_us: 40, vs_direct_large: 0.95, large_result_rss_mb: 150 };
  process.stdout.write(`${JSON.stringify({ seconds: SECONDS, rounds: ROUNDS, rows: ROWS, clients: CLIENTS, node_flags: NODE_FLAGS, summary, ratios, goals }, null, 2)}\n`);
  const cols = Object.keys(summary);
  const keys = [...new Set(cols.flatMap((c) => Object.keys(summary[c]!)))];
  process.stderr.write(`\n${'metric'.padEnd(18)}${cols.map((c) => c.padStart(12)).join('')}\n`);
  for (const k of keys) process.stderr.write(`${k.padEnd(18)}${cols.map((c) => String(summary[c]![k] ?? '-').padStart(12)).join('')}\n`);
} finally {
  for (const p of proxies.values()) await stopProxy(p).catch(() => undefined);
  await bouncer?.stop().catch(() => undefined);
  await pg.stop();
}
