/**
 * Durable appends per second through the audit log writer (group commit + fdatasync), with 1 and with 32
 * concurrent writers. Each writer awaits every append before the next, as a broker session does, so a
 * batch holds at most one record per writer plus the recorder's own.
 *
 *   node dist/bench/recorder/append.js [--seconds N] [--runs 1x1,32x1,32x64] [--dir DIR] [--json]
 *
 * A run `WxK` has W writers each keeping K appends outstanding (K = 1: await each append).
 *
 * Records look like a pg.query record (~300 bytes of canonical JSON). DIR defaults to a fresh directory
 * under the OS temp dir: put it on the disk you want to measure.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { processCtx } from '../../src/cli/ctx.js';
import type { Ctx, Fs } from '../../src/cli/ctx.js';
import { openAuditLog } from '../../recorder/index.js';
import type { AuditEvent } from '../../recorder/types.js';

interface Row {
  writers: number;
  /** Appends each writer keeps outstanding (1: awaits each append, like one session). */
  inflight: number;
  records: number;
  seconds: number;
  records_per_s: number;
  fdatasyncs: number;
  records_per_sync: number;
  p50_us: number;
  p99_us: number;
  /** CPU time (user + system) of this process per record: on a shared machine a steadier figure than wall time. */
  cpu_us_per_record: number;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Counts fdatasync calls on segment handles. */
function countingFs(counter: { syncs: number }): Fs {
  const open = async (...args: Parameters<Fs['open']>) => {
    const fh = await fsp.open(...args);
    const datasync = fh.datasync.bind(fh);
    fh.datasync = async () => { counter.syncs++; return datasync(); };
    return fh;
  };
  return { ...fsp, open } as Fs;
}

function event(w: number, i: number): AuditEvent {
  return {
    type: 'pg.query',
    session: `s-${w.toString(16).padStart(8, '0')}`,
    actor: { sub: 'alice@example.com', via: 'oidc' },
    target: { conn: 'prod-db', kind: 'postgres', db: 'shop', user: 'app_ro' },
    outcome: 'success',
    detail: { sql: `select id, status from orders where id = $1 /* ${i} */`, rows: 1, ms: 0.42 },
  };
}

async function run(base: string, writers: number, inflight: number, seconds: number): Promise<Row> {
  const home = mkdtempSync(path.join(base, `append-${writers}x${inflight}-`));
  const counter = { syncs: 0 };
  const ctx: Ctx = { ...processCtx(), fs: countingFs(counter) };
  const log = await openAuditLog(ctx, { home, createIfMissing: { origin: 'bench/append' } });
  const lat: number[] = [];
  let records = 0;
  const syncs0 = counter.syncs;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const deadline = t0 + BigInt(Math.round(seconds * 1e9));
  await Promise.all(Array.from({ length: writers * inflight }, async (_, k) => {
    const w = k % writers;
    let i = 0;
    while (process.hrtime.bigint() < deadline) {
      const s = process.hrtime.bigint();
      await log.append(event(w, i++));
      if ((records++ & 7) === 0) lat.push(Number(process.hrtime.bigint() - s) / 1000);
    }
  }));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const syncs = counter.syncs - syncs0;
  await log.close();
  rmSync(home, { recursive: true, force: true });
  lat.sort((a, b) => a - b);
  const pct = (p: number) => Math.round(lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] ?? 0);
  return {
    writers, inflight, records, seconds: Number(secs.toFixed(2)), records_per_s: Math.round(records / secs), fdatasyncs: syncs,
    records_per_sync: Number((records / Math.max(1, syncs)).toFixed(1)), p50_us: pct(0.5), p99_us: pct(0.99),
    cpu_us_per_record: Number(((cpu.user + cpu.system) / Math.max(1, records)).toFixed(1)),
  };
}

async function main(): Promise<void> {
  const seconds = Number(arg('--seconds') ?? 3);
  // writers×inflight: 1×1 and 32×1 as the issue asks; 32×64 models a broker with ~2000 busy sessions.
  const counts = (arg('--runs') ?? '1x1,32x1,32x64').split(',').map((r) => r.split('x').map(Number) as [number, number]);
  const given = arg('--dir');
  const base = given ?? mkdtempSync(path.join(os.tmpdir(), 'pcigate-bench-'));
  const rows: Row[] = [];
  try {
    for (const [w, k] of counts) rows.push(await run(base, w, k ?? 1, seconds));
  } finally {
    // (each run removes its own home; the directory made for them goes too)
    if (given === undefined) rmSync(base, { recursive: true, force: true });
  }
  if (process.argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify({ bench: 'recorder/append', dir: base, node: process.version, loadavg: os.loadavg()[0], cpus: os.cpus().length, rows }, null, 2)}\n`);
    return;
  }
  const head = ['writers', 'inflight', 'records', 'seconds', 'records/s', 'fdatasyncs', 'records/sync', 'p50 µs', 'p99 µs', 'cpu µs/rec'];
  const body = rows.map((r) => [r.writers, r.inflight, r.records, r.seconds, r.records_per_s, r.fdatasyncs, r.records_per_sync, r.p50_us, r.p99_us, r.cpu_us_per_record].map(String));
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  for (const line of [head, ...body]) process.stdout.write(`${line.map((c, i) => c.padStart(widths[i]!)).join('  ')}\n`);
  process.stdout.write(`(durable: every append resolved after write + fdatasync; dir ${base}; load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} CPUs)\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
