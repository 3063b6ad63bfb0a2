/**
 * audit.durability `os` (docs/log-format.md "Failure semantics"): an append resolves once write(2) returned,
 * one background fdatasync per sync interval, fail closed with log.gap when that fdatasync fails, and a
 * clean close leaves nothing unsynced. The probe's failing fdatasync also drops the unsynced bytes (as Linux
 * may after a writeback error), so only a real rewrite gets them back.
 */
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openAuditLog } from '../../../recorder/index.js';
import { verifyLog } from '../../../recorder/verify.js';
import { loadVerifyInput } from '../../../recorder/verify-load.js';
import { testCtx } from '../../harness/test-ctx.js';
import { expectChain, probeFs, readLog, tmpHome } from './log-helpers.js';

const ev = (i: number) => ({ type: 'test.event', outcome: 'success' as const, detail: { i } });
const quiet = { checkpointRecords: 1e9, checkpointIntervalMs: 1e9, idleMs: 1e9 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(5);
  }
}

describe('audit log durability: os', () => {
  it('resolves appends once written, before any fdatasync', async () => {
    const home = tmpHome();
    const probe = probeFs();
    const log = await openAuditLog(testCtx({ fs: probe.fs }), { home, createIfMissing: true, durability: 'os', syncIntervalMs: 60_000, ...quiet });
    const before = probe.datasyncs;
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => log.append(ev(i))));
    // Resolved, on the file (through the page cache), and not one fdatasync yet.
    expect(probe.datasyncs).toBe(before);
    const records = readLog(home);
    expectChain(records);
    for (const [i, r] of results.entries()) expect(records[r.seq]!.rec.detail).toEqual({ i });
    await log.close();
  });

  it('one background fdatasync per interval covers what was written, none when nothing was', async () => {
    const home = tmpHome();
    const probe = probeFs();
    const log = await openAuditLog(testCtx({ fs: probe.fs }), { home, createIfMissing: true, durability: 'os', syncIntervalMs: 30, ...quiet });
    await until(() => probe.ops.at(-1) === 'datasync'); // log.start
    const before = probe.datasyncs;
    await Promise.all(Array.from({ length: 20 }, (_, i) => log.append(ev(i))));
    await until(() => probe.ops.at(-1) === 'datasync');
    const after = probe.datasyncs;
    expect(after).toBeGreaterThan(before);
    await sleep(150); // nothing new written: no further fdatasync
    expect(probe.datasyncs).toBe(after);
    await log.close();
  });

  it('in fsync mode (the default) the same appends each wait for an fdatasync', async () => {
    const home = tmpHome();
    const probe = probeFs();
    const log = await openAuditLog(testCtx({ fs: probe.fs }), { home, createIfMissing: true, ...quiet });
    const before = probe.datasyncs;
    await log.append(ev(0));
    expect(probe.datasyncs).toBe(before + 1);
    await log.close();
  });

  it('a failing fdatasync rejects later appends until the unsynced records are rewritten, then log.gap', async () => {
    const home = tmpHome();
    const probe = probeFs();
    const ctx = testCtx({ fs: probe.fs });
    const log = await openAuditLog(ctx, { home, createIfMissing: true, durability: 'os', syncIntervalMs: 20, ...quiet });
    const seg = path.join(home, 'log', '000000000000.jsonl');
    await until(() => probe.ops.at(-1) === 'datasync'); // log.start is durable
    const durableLength = readFileSync(seg).length;
    ctx.clock.advance(1000);
    probe.failDatasyncs = 2; // the background one, and the first repair's
    const a = await log.append(ev(1)); // resolves: written to the kernel
    await until(() => probe.failedDatasyncs === 1);
    // The failed fdatasync lost the unsynced bytes.
    expect(readFileSync(seg).length).toBe(durableLength);
    ctx.clock.advance(1000);
    await expect(log.append(ev(2))).rejects.toMatchObject({ code: 'ERR_AUDIT_WRITE' });
    ctx.clock.advance(1000);
    const c = await log.append(ev(3));
    const records = readLog(home);
    expectChain(records);
    // ev(1) was rewritten at the seq it was given; ev(2) is nowhere; log.gap comes before ev(3).
    expect(records[a.seq]!.rec.detail).toEqual({ i: 1 });
    expect(records.filter((r) => r.rec.type === 'test.event').map((r) => (r.rec.detail as { i: number }).i)).toEqual([1, 3]);
    const gap = records[c.seq - 1]!.rec;
    expect(gap.type).toBe('log.gap');
    expect(gap.outcome).toBe('failure');
    expect(gap.detail).toEqual({
      start: '2026-11-22T12:00:01.000000Z', end: '2026-11-22T12:00:02.000000Z', cause: 'EIO: injected fdatasync failure', lost: 1,
    });
    await log.close();
  });

  it('a clean close fdatasyncs everything, and the log verifies', async () => {
    const home = tmpHome();
    const probe = probeFs();
    const log = await openAuditLog(testCtx({ fs: probe.fs }), { home, createIfMissing: true, durability: 'os', syncIntervalMs: 60_000, checkpointRecords: 7, idleMs: 1e9 });
    for (let i = 0; i < 30; i++) await log.append(ev(i));
    await log.close();
    // Nothing was written after the last fdatasync.
    expect(probe.ops.at(-1)).toBe('datasync');
    const records = readLog(home);
    expectChain(records);
    expect(records.filter((r) => r.rec.type === 'test.event')).toHaveLength(30);
    expect(records.at(-2)!.rec.type).toBe('log.stop');
    // Checkpoints (signed only over synced records) cover the log like in fsync mode.
    const report = await verifyLog(await loadVerifyInput(fsp, home, { nowMicros: Date.UTC(2026, 10, 22, 12, 5) * 1000, maxUnsealedMicros: 3600e6 }));
    expect(report.problems).toEqual([]);
    expect(report.result).toBe('pass');
  });

  it('each checkpoint is signed only after the records it covers were fdatasync\'d', async () => {
    const home = tmpHome();
    const probe = probeFs();
    const log = await openAuditLog(testCtx({ fs: probe.fs }), { home, createIfMissing: true, durability: 'os', syncIntervalMs: 60_000, ...quiet });
    for (let i = 0; i < 5; i++) await log.append(ev(i));
    const syncs = probe.datasyncs;
    const cp = await log.checkpoint();
    expect(cp?.size).toBe(8); // segment.open, log.start, the new log's first checkpoint's mirror, 5 events
    expect(probe.datasyncs).toBe(syncs + 1);
    await log.close();
  });
});
