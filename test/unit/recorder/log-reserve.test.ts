/**
 * The room the writer reserves past its records (recorder/log-writer.ts `reserve`, docs/log-format.md "Reserved
 * room"): newlines a batch is written into, so that its fdatasync has no file length to commit. What a reader sees of
 * a segment being written, of one a crash left (an image of the files taken while the writer runs), of one a crash
 * cut short inside the room, of the segments the writer left, and a real full disk (a tmpfs) running out of room.
 */
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, writeSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openAuditLog } from '../../../recorder/index.js';
import { recordsEnd, withoutReserve } from '../../../recorder/segment-scan.js';
import type { AuditEvent } from '../../../recorder/types.js';
import { verifyLog } from '../../../recorder/verify.js';
import { loadVerifyInput } from '../../../recorder/verify-load.js';
import type { VerifyReport } from '../../../recorder/verify-types.js';
import { parseRecords } from '../../../src/evidence/collect.js';
import { loggedState } from '../../../src/policy/approval-history.js';
import { loadSessionIndex } from '../../../src/sessions/session-index.js';
import { fill, mountTmpfs, unmountAll } from '../../harness/tmpfs.js';
import { testCtx } from '../../harness/test-ctx.js';
import { expectChain, probeFs, readLog, segments, tmpHome } from './log-helpers.js';

const NL = 0x0a;
/** A few minutes after testCtx's clock starts (2026-11-22T12:00Z): what verify takes for now. */
const NOW_US = Date.UTC(2026, 10, 22, 12, 5) * 1000;
const quiet = { checkpointRecords: 1e9, checkpointIntervalMs: 1e9, idleMs: 1e9 };
const ev = (i: number): AuditEvent => ({ type: 'test.event', target: { kind: 'log' }, detail: { i } });
const segFile = (home: string, name = '000000000000.jsonl') => path.join(home, 'log', name);

afterAll(() => unmountAll());

async function verifyHome(home: string): Promise<VerifyReport> {
  return verifyLog(await loadVerifyInput(fsp, home, { nowMicros: NOW_US, maxUnsealedMicros: 3600e6 }));
}

/** A copy of `home`'s files as they are now, the writer still running: what a crash (kill -9, power loss after sync) leaves. */
async function crashImage(home: string): Promise<string> {
  const dst = `${home}-crash-${Math.random().toString(36).slice(2, 8)}`;
  await fsp.cp(home, dst, { recursive: true });
  return dst;
}

/** Writes `bytes` at `at` of `file` (what a crash may leave of a batch written into the reserved room). */
function writeAt(file: string, bytes: Buffer, at: number): void {
  const fd = openSync(file, 'r+');
  try { writeSync(fd, bytes, 0, bytes.length, at); } finally { closeSync(fd); }
}

describe('the room the writer reserves past its records', () => {
  it('while the log is open the newest segment ends in reserved newlines, which no reader takes for records; close cuts them', async () => {
    const home = tmpHome();
    const log = await openAuditLog(testCtx(), { home, createIfMissing: true, ...quiet });
    for (let i = 0; i < 5; i++) await log.append(ev(i));
    const open = readFileSync(segFile(home));
    const records = withoutReserve(open);
    expect(open.length).toBeGreaterThan(records.length);
    expect(open.subarray(records.length).every((b) => b === NL)).toBe(true);
    expect(recordsEnd(open)).toBe(records.length);
    const live = readLog(home);
    expectChain(live);
    expect(live.filter((r) => r.rec.type === 'test.event')).toHaveLength(5);
    // The session index reads a live log up to its records: it resumes there once the writer has written more.
    const ctx = testCtx();
    expect((await loadSessionIndex(ctx.fs, home)).records).toBe(live.length);
    // Nothing new since: fresh, though the file's size (its room) is not the position the index keeps.
    expect(await loadSessionIndex(ctx.fs, home)).toMatchObject({ how: 'fresh', records: live.length });
    await log.append({ type: 'session.start', session: 's1', target: { kind: 'postgres', conn: 'db' }, outcome: 'success' });
    const after = await loadSessionIndex(ctx.fs, home);
    expect(after).toMatchObject({ how: 'updated', records: live.length + 1 });
    expect(after.sessions.map((s) => s.id)).toEqual(['s1']);
    await log.close();
    const closed = readFileSync(segFile(home));
    expect(closed.length).toBe(withoutReserve(closed).length);
    expect(closed.at(-1)).toBe(NL);
    expect(closed.includes('\n\n')).toBe(false);
    expectChain(readLog(home));
  });

  it('a crash image verifies (the room is no tail), reopens without log.recovered and continues the chain', async () => {
    const home = tmpHome();
    const log = await openAuditLog(testCtx(), { home, createIfMissing: true, checkpointRecords: 4, idleMs: 1e9, checkpointIntervalMs: 1e9 });
    for (let i = 0; i < 10; i++) await log.append(ev(i));
    await log.checkpoint();
    const image = await crashImage(home);
    await log.close();
    expect(readFileSync(segFile(image)).length).toBeGreaterThan(withoutReserve(readFileSync(segFile(image))).length);
    const report = await verifyHome(image);
    expect(report.problems.filter((p) => p.kind === 'unreadable')).toEqual([]);
    expect(report.problems.filter((p) => p.severity === 'fail')).toEqual([]);

    const reopened = await openAuditLog(testCtx(), { home: image });
    await reopened.append(ev(10));
    await reopened.close();
    const records = readLog(image);
    expectChain(records);
    expect(records.filter((r) => r.rec.type === 'log.recovered')).toEqual([]);
    expect(records.filter((r) => r.rec.type === 'test.event').map((r) => (r.rec.detail as { i: number }).i)).toEqual([...Array(11).keys()]);
    expect(readFileSync(segFile(image)).includes('\n\n')).toBe(false);
  });

  it('a batch a crash cut short in the room: verify warns (recoverable), the writer cuts it and says so in log.recovered', async () => {
    const home = tmpHome();
    const log = await openAuditLog(testCtx(), { home, createIfMissing: true, ...quiet });
    for (let i = 0; i < 3; i++) await log.append(ev(i));
    const partial = await crashImage(home);
    const holed = await crashImage(home);
    await log.close();
    const end = withoutReserve(readFileSync(segFile(partial))).length;

    // The first bytes of the next batch reached the disk, the newline after them is the room's.
    const torn = Buffer.from('{"account":{"sub":"x"},"detail":{"id":"A-7","i":3},"origin":"te');
    writeAt(segFile(partial), torn, end);
    const warned = await verifyHome(partial);
    expect(warned.problems.map((p) => [p.kind, p.severity])).toEqual([['unreadable', 'warn']]);
    expect(warned.problems[0]!.detail).toContain('recoverable');
    // The other readers take the part-written line for one still being written, as they take a line without its newline.
    const before = warned.records;
    expect(before).toBeGreaterThan(3);
    expect((await loadSessionIndex(fsp, partial)).records).toBe(before);
    await expect(loggedState(fsp, partial, 'A-7')).resolves.toBeUndefined();
    expect((await parseRecords((await loadVerifyInput(fsp, partial, { nowMicros: NOW_US, maxUnsealedMicros: 3600e6 })).segments)).records).toHaveLength(before);
    const reopened = await openAuditLog(testCtx(), { home: partial });
    await reopened.close();
    const recovered = readLog(partial).filter((r) => r.rec.type === 'log.recovered');
    expect(recovered.map((r) => r.rec.detail)).toEqual([{
      segment: '000000000000.jsonl', offset: end, bytes: torn.length + 1, reason: 'last line is not a JSON record',
    }]);

    // A later page of the batch reached the disk, an earlier one did not: NULs (a hole), then record bytes.
    const hole = Buffer.concat([Buffer.alloc(40), Buffer.from('"seq":3,"ts":"2026-11-22T12:00:00.000000Z","type":"test.event","v":1}\n')]);
    writeAt(segFile(holed), hole, end);
    const v = await verifyHome(holed);
    expect(v.problems.map((p) => [p.kind, p.severity])).toEqual([['unreadable', 'warn']]);
    expect(v.problems[0]!.detail).toContain('in the room the writer reserves');
    // What evidence reads is what verify checked: not the record line after the hole.
    const { records: parsed } = await parseRecords((await loadVerifyInput(fsp, holed, { nowMicros: NOW_US, maxUnsealedMicros: 3600e6 })).segments);
    expect(parsed).toHaveLength(v.records);
    expect((await loadSessionIndex(fsp, holed)).records).toBe(v.records);
    const again = await openAuditLog(testCtx(), { home: holed });
    await again.append(ev(3));
    await again.close();
    const records = readLog(holed);
    expectChain(records);
    expect(records.filter((r) => r.rec.type === 'log.recovered').map((r) => r.rec.detail)).toEqual([{
      segment: '000000000000.jsonl', offset: end, bytes: hole.length, reason: 'bytes after the last record, in the space the writer reserves (a write a crash cut short)',
    }]);
  });

  it('recovery never cuts below the newest signed checkpoint: a NUL amid the records is damage, and the log is refused, not shortened', async () => {
    const home = tmpHome();
    const log = await openAuditLog(testCtx(), { home, createIfMissing: true, ...quiet });
    for (let i = 0; i < 20; i++) await log.append(ev(i));
    await log.close(); // its last checkpoint covers every record
    const file = segFile(home);
    const bytes = readFileSync(file);
    writeAt(file, Buffer.alloc(1), Math.floor(bytes.length / 3));
    await expect(openAuditLog(testCtx(), { home })).rejects.toMatchObject({
      code: 'ERR_AUDIT_WRITE', message: expect.stringContaining('fewer than the newest signed checkpoint covers'),
    });
    expect(readFileSync(file).length).toBe(bytes.length);
    expect((await verifyHome(home)).problems.some((p) => p.severity === 'fail')).toBe(true);
  });

  it('the segments the writer left end with their last record: only the newest holds room, and the log verifies', async () => {
    const home = tmpHome();
    const log = await openAuditLog(testCtx(), { home, createIfMissing: true, segmentMaxBytes: 2048, checkpointRecords: 8, idleMs: 1e9, checkpointIntervalMs: 1e9 });
    for (let i = 0; i < 30; i++) await log.append(ev(i));
    // The checkpoints every 8 records asked for run in the background, and a checkpoint's mirror can roll the log
    // over: read halfway through one, the newest segment listed had just been trimmed and the next not yet made
    // (a CI run failed so). One more checkpoint runs after them; then nothing is in flight.
    await log.checkpoint();
    const names = await segments(home);
    expect(names.length).toBeGreaterThan(3);
    for (const name of names.slice(0, -1)) {
      const b = readFileSync(segFile(home, name));
      expect(b.at(-1), name).toBe(NL);
      expect(b.includes('\n\n'), name).toBe(false);
    }
    const newest = readFileSync(segFile(home, names.at(-1)!));
    expect(newest.length).toBeGreaterThan(withoutReserve(newest).length);
    expect((await verifyHome(home)).problems.filter((p) => p.severity === 'fail')).toEqual([]);
    await log.close();
    expectChain(readLog(home));
  });

  it('fsync durability: still one fdatasync per batch, the batches that reserve room included', async () => {
    const home = tmpHome();
    const probe = probeFs();
    const log = await openAuditLog(testCtx({ fs: probe.fs }), { home, createIfMissing: true, ...quiet });
    const before = probe.datasyncs;
    // Records of 200 KB arriving fast: each reservation holds about a second of them, up to 1 MiB.
    const big = 'x'.repeat(200_000);
    let extended = 0;
    let size = readFileSync(segFile(home)).length;
    for (let i = 0; i < 12; i++) {
      await log.append({ type: 'test.event', target: { kind: 'log' }, detail: { i, big } });
      const now = readFileSync(segFile(home)).length;
      if (now > size) extended++;
      size = now;
    }
    expect(probe.datasyncs - before).toBe(12);
    expect(extended).toBeGreaterThan(0);
    expect(extended).toBeLessThan(12); // later batches went into room an earlier one reserved
    await log.close();
    expectChain(readLog(home));
  });

  it('a full disk (a real tmpfs): batches go on into the reserved room, then fail closed; with space again log.gap comes first', async () => {
    const mnt = path.join(os.tmpdir(), `pcigate-reserve-full-${process.pid}-${Date.now()}`);
    mkdirSync(mnt);
    mountTmpfs(mnt, '4m');
    const home = path.join(mnt, 'home');
    const ctx = testCtx();
    const log = await openAuditLog(ctx, { home, createIfMissing: true, ...quiet });
    await log.append(ev(0));
    const filler = fill(mnt);
    // The room reserved before the disk filled takes records: no block has to be found for them (the file does not grow).
    const sizeFull = readFileSync(segFile(home)).length;
    const inRoom = await log.append(ev(1));
    const afterRoom = readFileSync(segFile(home));
    expect(afterRoom.length).toBe(sizeFull);
    expect(readLog(home).find((r) => r.rec.seq === inRoom.seq)?.rec.detail).toEqual({ i: 1 });
    const big = 'y'.repeat(100_000);
    let failed: unknown;
    for (let i = 0; i < 40 && failed === undefined; i++) {
      ctx.clock.advance(1000);
      await log.append({ type: 'test.event', target: { kind: 'log' }, detail: { i: 100 + i, big } }).catch((e: unknown) => { failed = e; });
    }
    expect(failed).toMatchObject({ code: 'ERR_AUDIT_WRITE', message: expect.stringContaining('ENOSPC') });
    const durable = readFileSync(segFile(home));
    expect(durable.length).toBe(withoutReserve(durable).length); // the failed batch and the room it could not finish were cut
    await fsp.rm(filler);
    ctx.clock.advance(1000);
    const ok = await log.append(ev(2));
    await log.close();
    const records = readLog(home);
    expectChain(records);
    expect(records[ok.seq - 1]!.rec.type).toBe('log.gap');
    expect(records.filter((r) => r.rec.type === 'test.event' && (r.rec.detail as { i: number }).i < 100).map((r) => (r.rec.detail as { i: number }).i)).toEqual([0, 1, 2]);
    expect(readdirSync(path.join(home, 'log')).filter((f) => f.endsWith('.jsonl'))).toEqual(['000000000000.jsonl']);
  });
});
