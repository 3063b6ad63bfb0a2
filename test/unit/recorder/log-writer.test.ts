import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalize } from '../../../recorder/canonical-json.js';
import { openAuditLog } from '../../../recorder/index.js';
import { loadPublicKeys } from '../../../recorder/keys.js';
import { rootOf } from '../../../recorder/merkle.js';
import { epochKeyName, parseCheckpoint, parseNote, verifyNote } from '../../../recorder/signed-note.js';
import { testCtx } from '../../harness/test-ctx.js';
import { withoutReserve } from '../../../recorder/segment-scan.js';
import { expectChain, probeFs, readLog, tmpHome } from './log-helpers.js';

const ev = (i: number) => ({ type: 'test.event', outcome: 'success' as const, detail: { i, pad: 'x'.repeat(40) } });

describe('audit log writer', () => {
  it('writes canonical, gapless, chained records across segment rollover', async () => {
    const home = tmpHome();
    const ctx = testCtx();
    const log = await openAuditLog(ctx, { home, createIfMissing: { origin: 'test/log' }, segmentMaxBytes: 2048, checkpointRecords: 1e9 });
    const seqs: number[] = [];
    for (let i = 0; i < 120; i++) {
      seqs.push((await log.append(ev(i))).seq);
      ctx.clock.advance(1);
    }
    await log.close();
    // Reopen: the frontier and the newest segment's running hash are rebuilt from disk, and the next
    // rollover must still commit to the previous segment's exact bytes.
    const again = await openAuditLog(ctx, { home, segmentMaxBytes: 2048, checkpointRecords: 1e9 });
    for (let i = 120; i < 150; i++) seqs.push((await again.append(ev(i))).seq);
    await again.close();
    const records = readLog(home);
    expectChain(records);
    for (const r of records) expect(r.line).toBe(canonicalize(r.rec));
    expect(records[0]!.rec.type).toBe('segment.open');
    expect(records[0]!.rec.detail).toEqual({ segment: '000000000000.jsonl', prev_segment: null });
    expect(records[1]!.rec.type).toBe('log.start');
    expect(records[1]!.rec.origin).toBe('test/log');
    expect(records[1]!.rec.ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    // The callers' records sit at the seqs append() reported, in order.
    const callers = records.filter((r) => r.rec.type === 'test.event');
    expect(callers.map((r) => (r.rec.detail as { i: number }).i)).toEqual([...Array(150).keys()]);
    expect(callers.map((r) => r.rec.seq)).toEqual(seqs);
    const files = readdirSync(path.join(home, 'log')).filter((f) => f.endsWith('.jsonl')).sort();
    expect(files.length).toBeGreaterThan(3);
    for (const [k, file] of files.entries()) {
      const mine = records.filter((r) => r.file === file);
      expect(file).toBe(`${String(mine[0]!.rec.seq).padStart(12, '0')}.jsonl`);
      expect(mine[0]!.rec.type).toBe('segment.open');
      if (k === 0) continue;
      const before = files[k - 1]!;
      const prevRecs = records.filter((r) => r.file === before);
      const bytes = readFileSync(path.join(home, 'log', before));
      expect(mine[0]!.rec.detail).toEqual({
        segment: file,
        prev_segment: {
          file: before, first_seq: prevRecs[0]!.rec.seq, last_seq: prevRecs.at(-1)!.rec.seq, last_leaf: prevRecs.at(-1)!.leaf,
          sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length,
        },
      });
      expect(statSync(path.join(home, 'log', file)).mode & 0o777).toBe(0o600);
    }
    expect(records.filter((r) => r.rec.type === 'log.start')).toHaveLength(2);
    expect(records.at(-2)!.rec.type).toBe('log.stop');
    expect(records.at(-1)!.rec.type).toBe('checkpoint');
    expect(statSync(path.join(home, 'log')).mode & 0o777).toBe(0o700);
  });

  it('reports seq and leaf that match the bytes on disk', async () => {
    const home = tmpHome();
    const log = await openAuditLog(testCtx(), { home, createIfMissing: true });
    const r = await log.append({ type: 'pg.query', detail: { sql: 'select 1' } });
    const records = readLog(home);
    expect(records[r.seq]!.leaf).toBe(r.leaf);
    expect(records[r.seq]!.rec.detail).toEqual({ sql: 'select 1' });
    expect(log.size).toBe(r.seq + 1);
    await log.close();
  });

  it('group commit: 32 concurrent appenders are all durable, gapless, with fewer fdatasyncs than appends', async () => {
    const home = tmpHome();
    const probe = probeFs();
    const ctx = testCtx({ fs: probe.fs });
    const log = await openAuditLog(ctx, { home, createIfMissing: true, checkpointRecords: 1e9, checkpointIntervalMs: 1e9 });
    const before = probe.datasyncs;
    const results = await Promise.all(Array.from({ length: 32 }, async (_, w) => {
      const got: Array<{ seq: number; leaf: string; w: number; i: number }> = [];
      for (let i = 0; i < 40; i++) got.push({ ...(await log.append({ type: 'test.event', detail: { w, i } })), w, i });
      return got;
    }));
    const syncs = probe.datasyncs - before;
    // Re-read the files only after every append resolved, before close: everything must already be there.
    const records = readLog(home);
    expectChain(records);
    const flat = results.flat();
    expect(flat).toHaveLength(1280);
    expect(new Set(flat.map((r) => r.seq)).size).toBe(1280);
    for (const r of flat) {
      expect(records[r.seq]!.leaf).toBe(r.leaf);
      expect(records[r.seq]!.rec.detail).toEqual({ w: r.w, i: r.i });
    }
    expect(syncs).toBeLessThan(1280 / 4);
    await log.close();
  });

  it('commit delay: with two sessions busy a record arriving a few loop turns later shares the fdatasync; one session alone is not delayed', async () => {
    const home = tmpHome();
    const probe = probeFs();
    // A long delay bound: the batch stops waiting as soon as it is as large as the last one, so the test does
    // not wait for it, and a loaded machine cannot make it expire between two loop turns.
    const log = await openAuditLog(testCtx({ fs: probe.fs }), { home, createIfMissing: true, checkpointRecords: 1e9, checkpointIntervalMs: 1e9, commitDelayMs: 5000 });
    const turns = async (n: number) => { for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r)); };
    const rec = (session: string) => log.append({ type: 'test.event', session, detail: { session } });
    const pair = async (first: string, second: string) => {
      const before = probe.datasyncs;
      const a = rec(first);
      await turns(3);
      await Promise.all([a, rec(second)]);
      return probe.datasyncs - before;
    };
    await Promise.all([rec('s1'), rec('s2')]); // a batch of two sessions
    expect(await pair('s1', 's2')).toBe(1);
    await rec('s1'); // a batch of one session: the next is not held back
    expect(await pair('s1', 's1')).toBe(2);
    expectChain(readLog(home));
    await log.close();
  });

  it('a failing write rejects the batch, leaves no partial bytes, and is followed by log.gap', async () => {
    const home = tmpHome();
    const probe = probeFs();
    const ctx = testCtx({ fs: probe.fs });
    const log = await openAuditLog(ctx, { home, createIfMissing: true, checkpointRecords: 1e9, checkpointIntervalMs: 1e9 });
    await log.append(ev(0));
    // The records so far; past them, room the writer reserved (newlines), which the failure cuts with the torn bytes.
    const recordsBefore = withoutReserve(readFileSync(path.join(home, 'log', '000000000000.jsonl')));
    probe.failWrites = 2;
    probe.tearWrites = true; // half the batch reaches the file before the error
    ctx.clock.advance(1000);
    const failed = await Promise.allSettled([log.append(ev(1)), log.append(ev(2))]);
    expect(failed.every((f) => f.status === 'rejected')).toBe(true);
    expect((failed[0] as PromiseRejectedResult).reason).toMatchObject({ code: 'ERR_AUDIT_WRITE' });
    expect(readFileSync(path.join(home, 'log', '000000000000.jsonl'))).toEqual(recordsBefore);
    ctx.clock.advance(1000);
    await expect(log.append(ev(3))).rejects.toMatchObject({ code: 'ERR_AUDIT_WRITE' });
    ctx.clock.advance(1000);
    const ok = await log.append(ev(4));
    const records = readLog(home);
    expectChain(records);
    const gap = records[ok.seq - 1]!.rec;
    expect(gap.type).toBe('log.gap');
    expect(gap.detail).toEqual({
      start: '2026-11-22T12:00:01.000000Z', end: '2026-11-22T12:00:02.000000Z', cause: 'EIO: injected write failure', lost: 3,
    });
    expect(records.filter((r) => r.rec.type === 'test.event').map((r) => (r.rec.detail as { i: number }).i)).toEqual([0, 4]);
    await log.close();
  });

  it('a failed fdatasync: the batch is cut back and the cut made durable at once (an OS crash then cannot bring the rejected records back)', async () => {
    const home = tmpHome();
    const probe = probeFs();
    const log = await openAuditLog(testCtx({ fs: probe.fs }), { home, createIfMissing: true, checkpointRecords: 1e9, checkpointIntervalMs: 1e9, idleMs: 1e9 });
    await log.append(ev(0));
    const recordsBefore = withoutReserve(readFileSync(path.join(home, 'log', '000000000000.jsonl')));
    probe.failDatasyncs = 1;
    const opsBefore = probe.ops.length;
    await expect(log.append(ev(1))).rejects.toMatchObject({ code: 'ERR_AUDIT_WRITE' });
    // The batch's write, its fdatasync failed (not listed), then the fdatasync of the cut.
    expect(probe.ops.slice(opsBefore)).toEqual(['write', 'datasync']);
    expect(readFileSync(path.join(home, 'log', '000000000000.jsonl'))).toEqual(recordsBefore);
    await log.append(ev(2));
    await log.close();
    expectChain(readLog(home));
  });

  it('under concurrent appends with random write failures: resolved records are on disk at their seq, rejected ones nowhere', async () => {
    const home = tmpHome();
    const probe = probeFs();
    const ctx = testCtx({ fs: probe.fs });
    const log = await openAuditLog(ctx, { home, createIfMissing: true, checkpointRecords: 50, idleMs: 5 });
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const outcomes = await Promise.all(Array.from({ length: 16 }, async (_, w) => {
      const got: Array<{ w: number; i: number; seq?: number; leaf?: string }> = [];
      for (let i = 0; i < 30; i++) {
        if (rnd() < 0.1) { probe.failWrites = 1; probe.tearWrites = rnd() < 0.5; }
        try {
          got.push({ w, i, ...(await log.append({ type: 'test.event', detail: { w, i } })) });
        } catch (e) {
          expect(e).toMatchObject({ code: 'ERR_AUDIT_WRITE' });
          got.push({ w, i });
        }
      }
      return got;
    }));
    probe.failWrites = 0;
    await log.close();
    const records = readLog(home);
    expectChain(records);
    const key = (d: unknown) => `${(d as { w: number }).w}/${(d as { i: number }).i}`;
    const onDisk = new Map(records.filter((r) => r.rec.type === 'test.event').map((r) => [key(r.rec.detail), r]));
    let rejected = 0;
    for (const o of outcomes.flat()) {
      const r = onDisk.get(key(o));
      if (o.seq === undefined) {
        rejected++;
        expect(r, `rejected ${o.w}/${o.i} must not be in the log`).toBeUndefined();
      } else {
        expect(r!.rec.seq).toBe(o.seq);
        expect(r!.leaf).toBe(o.leaf);
      }
    }
    expect(rejected).toBeGreaterThan(0);
    const lost = records.filter((r) => r.rec.type === 'log.gap').reduce((n, r) => n + (r.rec.detail as { lost: number }).lost, 0);
    expect(lost).toBeGreaterThanOrEqual(rejected);
  });

  it('cuts a torn last line on open and says so in log.recovered', async () => {
    const home = tmpHome();
    const ctx = testCtx();
    const log = await openAuditLog(ctx, { home, createIfMissing: true });
    await log.append(ev(0));
    await log.close();
    const seg = path.join(home, 'log', '000000000000.jsonl');
    const good = readFileSync(seg);
    const half = '{"detail":{"i":99},"origin":"x","prev":"00","seq":';
    appendFileSync(seg, half);
    const again = await openAuditLog(ctx, { home });
    await again.close();
    const records = readLog(home);
    expectChain(records);
    const rec = records.find((r) => r.rec.type === 'log.recovered')!;
    expect(rec.rec.seq).toBe(records.findIndex((r) => r.line.length > 0 && r.rec.type === 'log.recovered'));
    expect(rec.rec.detail).toEqual({ segment: '000000000000.jsonl', offset: good.length, bytes: Buffer.byteLength(half), reason: 'last line has no newline (torn write)' });
    expect(records[rec.rec.seq + 1]!.rec.type).toBe('log.start');
    expect(readFileSync(seg).includes(Buffer.from(half))).toBe(false);
    // a complete but unparsable last line is cut too
    appendFileSync(seg, 'garbage\n');
    const third = await openAuditLog(ctx, { home });
    await third.close();
    const rs = readLog(home);
    expectChain(rs);
    expect(rs.filter((r) => r.rec.type === 'log.recovered').at(-1)!.rec.detail).toMatchObject({ bytes: 8, reason: 'last line is not a JSON record' });
  });

  it('checkpoints are signed notes over the RFC 6962 root, in checkpoints.jsonl and mirrored', async () => {
    const home = tmpHome();
    const ctx = testCtx();
    const log = await openAuditLog(ctx, { home, createIfMissing: { origin: 'cp/test' }, checkpointRecords: 10, idleMs: 50 });
    for (let i = 0; i < 25; i++) await log.append(ev(i));
    const explicit = await log.checkpoint();
    expect(explicit).toBeDefined();
    await new Promise((r) => setTimeout(r, 150)); // idle checkpoint after the explicit one's mirror: none
    await log.close();
    const keys = await loadPublicKeys(ctx, home);
    const pub = Buffer.from(keys.certs[0]!.cert.pub, 'base64');
    const records = readLog(home);
    const leaves = records.map((r) => Buffer.from(r.leaf, 'hex'));
    const lines = readFileSync(path.join(home, 'checkpoints.jsonl'), 'utf8').trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(3); // by record count, explicit, on close
    const mirrors = records.filter((r) => r.rec.type === 'checkpoint');
    expect(mirrors).toHaveLength(lines.length);
    for (const [k, line] of lines.entries()) {
      expect(line).toBe(canonicalize(JSON.parse(line)));
      const { note } = JSON.parse(line) as { note: string };
      expect(verifyNote(note, epochKeyName('cp/test', 0), pub)).toBe(true);
      expect(verifyNote(note.replace('cp/test\n', 'cp/tesT\n'), epochKeyName('cp/test', 0), pub)).toBe(false);
      const cp = parseCheckpoint(parseNote(note).text);
      expect(cp.origin).toBe('cp/test');
      expect(cp.epoch).toBe(0);
      expect(cp.root.equals(rootOf(leaves, cp.size))).toBe(true);
      expect(mirrors[k]!.rec.detail).toEqual({ size: cp.size, root: cp.root.toString('hex'), note });
      expect(mirrors[k]!.rec.seq).toBeGreaterThanOrEqual(cp.size);
    }
    const last = parseCheckpoint(parseNote((JSON.parse(lines.at(-1)!) as { note: string }).note).text);
    expect(last.size).toBe(records.length - 1); // covers everything up to log.stop
    expect(explicit!.size).toBeLessThan(last.size);
  });

  it('a new log is signed at open; a reopened one is not (its tail waits for the timers)', async () => {
    const home = tmpHome();
    const cps = () => (existsSync(path.join(home, 'checkpoints.jsonl')) ? readFileSync(path.join(home, 'checkpoints.jsonl'), 'utf8').trim().split('\n') : []);
    const log = await openAuditLog(testCtx(), { home, createIfMissing: true, checkpointRecords: 1e9, idleMs: 60_000, checkpointIntervalMs: 60_000 });
    // Before anything else is appended: pcigate verify beside this broker finds a signature.
    expect(cps()).toHaveLength(1);
    expect(readLog(home).map((r) => r.rec.type)).toEqual(['segment.open', 'log.start', 'checkpoint']);
    expect(parseCheckpoint(parseNote((JSON.parse(cps()[0]!) as { note: string }).note).text).size).toBe(2);
    await log.close();
    expect(cps()).toHaveLength(2);
    const again = await openAuditLog(testCtx(), { home, checkpointRecords: 1e9, idleMs: 60_000, checkpointIntervalMs: 60_000 });
    expect(cps()).toHaveLength(2);
    await again.close();
  });

  it('checkpoints by timer after activity (idle or interval), never just for its own mirrors', async () => {
    const home = tmpHome();
    const log = await openAuditLog(testCtx(), { home, createIfMissing: true, checkpointRecords: 1e9, idleMs: 30, checkpointIntervalMs: 60 });
    await log.append(ev(0));
    const count = () => (existsSync(path.join(home, 'checkpoints.jsonl')) ? readFileSync(path.join(home, 'checkpoints.jsonl'), 'utf8').trim().split('\n').length : 0);
    const mirrored = () => readLog(home).filter((r) => r.rec.type === 'checkpoint').length >= 2;
    for (let t = 0; t < 100 && !mirrored(); t++) await new Promise((r) => setTimeout(r, 30));
    expect(count()).toBe(2); // the new log's, signed at open, and the one after ev(0)
    const timed = readLog(home).filter((r) => r.rec.type === 'checkpoint').at(-1)!;
    expect((timed.rec.detail as { size: number }).size).toBe(timed.rec.seq); // covers everything before its mirror
    await new Promise((r) => setTimeout(r, 300)); // idle: the mirror alone does not cause another checkpoint
    expect(count()).toBe(2);
    await log.close();
    expect(count()).toBe(3);
  });

  it('rotation: checkpoint by the old key, key.rotate with a cert signed by it, next checkpoint by the new key', async () => {
    const home = tmpHome();
    const ctx = testCtx();
    const log = await openAuditLog(ctx, { home, createIfMissing: { origin: 'rot' }, checkpointRecords: 1e9 });
    await log.append(ev(0));
    const oldKey = readFileSync(path.join(home, 'keys', 'epoch.key'), 'utf8');
    ctx.clock.advance(5000);
    expect(await log.rotate()).toEqual({ from_epoch: 0, to_epoch: 1 });
    expect(log.epoch).toBe(1);
    await log.append(ev(1));
    await log.close();
    expect(readFileSync(path.join(home, 'keys', 'epoch.key'), 'utf8')).not.toBe(oldKey);
    expect(readdirSync(path.join(home, 'keys')).sort()).toEqual(['epoch.key', 'epochs.jsonl', 'root.pub']);
    const keys = await loadPublicKeys(ctx, home);
    expect(keys.certs).toHaveLength(2);
    const records = readLog(home);
    expectChain(records);
    const rot = records.find((r) => r.rec.type === 'key.rotate')!;
    expect(rot.rec.detail).toEqual({ from_epoch: 0, to_epoch: 1, cert: keys.certs[1] });
    const pubs = keys.certs.map((c) => Buffer.from(c.cert.pub, 'base64'));
    const notes = readFileSync(path.join(home, 'checkpoints.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { note: string }).note);
    for (const note of notes) {
      const cp = parseCheckpoint(parseNote(note).text);
      const e = cp.size > rot.rec.seq ? 1 : 0;
      expect(cp.epoch).toBe(e);
      expect(verifyNote(note, epochKeyName('rot', e), pubs[e]!)).toBe(true);
      expect(verifyNote(note, epochKeyName('rot', 1 - e), pubs[1 - e]!)).toBe(false);
    }
    expect(notes.map((n) => parseCheckpoint(parseNote(n).text).epoch)).toContain(0);
  });

  it('rotates automatically on open when the epoch is older than its length', async () => {
    const home = tmpHome();
    const ctx = testCtx();
    const a = await openAuditLog(ctx, { home, createIfMissing: true, epochLengthMs: 3600_000 });
    await a.close();
    ctx.clock.advance(3600_000);
    const b = await openAuditLog(ctx, { home, epochLengthMs: 3600_000 });
    expect(b.epoch).toBe(1);
    await b.close();
    expect(readLog(home).filter((r) => r.rec.type === 'key.rotate')).toHaveLength(1);
  });

  it('rotates by timer while open once the epoch has run out', async () => {
    const home = tmpHome();
    const ctx = testCtx();
    const log = await openAuditLog(ctx, { home, createIfMissing: true, epochLengthMs: 1000 });
    expect(log.epoch).toBe(0);
    ctx.clock.advance(1500);
    await new Promise((r) => setTimeout(r, 1400)); // the epoch check runs every max(1 s, epoch length)
    expect(log.epoch).toBe(1);
    await log.close();
    const rot = readLog(home).find((r) => r.rec.type === 'key.rotate')!;
    expect(rot.rec.actor).toEqual({ sub: 'pcigate', via: 'system' });
  });

  it('one process owns the log: a second open fails while the lock is held; a stale lock is taken over', async () => {
    const home = tmpHome();
    const ctx = testCtx();
    const a = await openAuditLog(ctx, { home, createIfMissing: true });
    await expect(openAuditLog(ctx, { home })).rejects.toMatchObject({ code: 'ERR_AUDIT_WRITE', message: expect.stringContaining('in use by process') });
    await a.close();
    expect(existsSync(path.join(home, 'log', '.lock'))).toBe(false);
    writeFileSync(path.join(home, 'log', '.lock'), '2147483646\n'); // no such process
    const b = await openAuditLog(ctx, { home });
    expect(readFileSync(path.join(home, 'log', '.lock'), 'utf8').trim()).not.toBe('2147483646');
    await b.close();
    await expect(a.append(ev(0))).rejects.toMatchObject({ code: 'ERR_AUDIT_WRITE' });
  });

  it('refuses a home without keys unless createIfMissing, and an unusable home with HomeError', async () => {
    await expect(openAuditLog(testCtx(), { home: tmpHome() })).rejects.toMatchObject({ code: 'ERR_KEYS' });
    const file = path.join(tmpHome(), 'f');
    writeFileSync(file, '');
    await expect(openAuditLog(testCtx(), { home: path.join(file, 'h'), createIfMissing: true })).rejects.toMatchObject({ code: 'ERR_HOME' });
  });

  it('commitBlob hashes a recording relative to the home', async () => {
    const home = tmpHome();
    const log = await openAuditLog(testCtx(), { home, createIfMissing: true });
    const rec = path.join(home, 'recordings', 's1.cast');
    expect(statSync(path.join(home, 'recordings')).mode & 0o777).toBe(0o700);
    writeFileSync(rec, 'hello cast\n');
    expect(await log.commitBlob(rec, 'asciicast')).toEqual({
      sha256: createHash('sha256').update('hello cast\n').digest('hex'), kind: 'asciicast', bytes: 11, path: 'recordings/s1.cast',
    });
    await log.close();
  });
});
