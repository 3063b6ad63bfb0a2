/**
 * The tamper matrix (issue 2) on logs written by the real writer (openAuditLog): each change is detected
 * and located exactly — kind, segment, seq — with no follow-on problems, and an untouched log passes.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants as fsConstants, openSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuditLog } from '../../../recorder/index.js';
import { privateKeyFromPem } from '../../../recorder/ed25519.js';
import { canonicalize } from '../../../recorder/canonical-json.js';
import { epochKeyName, parseNote, signNote } from '../../../recorder/signed-note.js';
import { verifyLog } from '../../../recorder/verify.js';
import { loadVerifyInput } from '../../../recorder/verify-load.js';
import type { Problem, VerifyReport, VerifyState } from '../../../recorder/verify-types.js';
import { testCtx } from '../../harness/test-ctx.js';
import { readLines, segments, writeLines } from './log-helpers.js';

const ORIGIN = 'test.example/pcigate';
let tmp: string;
let base: string;
let n = 0;

interface Line { seg: string; index: number; text: string; rec: { seq: number; type: string } }

async function writeLog(home: string, phases: Array<(log: Awaited<ReturnType<typeof openAuditLog>>, ctx: ReturnType<typeof testCtx>) => Promise<void>>, laterMs = 0): Promise<void> {
  const ctx = testCtx();
  ctx.clock.advance(laterMs);
  for (const phase of phases) {
    const log = await openAuditLog(ctx, { home, createIfMissing: { origin: ORIGIN }, checkpointRecords: 8, segmentMaxBytes: 4096, idleMs: 60_000 });
    await phase(log, ctx);
    await log.close();
  }
}

async function queries(log: Awaited<ReturnType<typeof openAuditLog>>, ctx: ReturnType<typeof testCtx>, count: number): Promise<void> {
  for (let k = 0; k < count; k++) {
    ctx.clock.advance(1);
    await log.append({ type: 'pg.query', session: 's-1', outcome: 'success', detail: { sql: `select ${k} from orders` } });
  }
}

async function copyOf(src: string): Promise<string> {
  const dst = path.join(tmp, `case-${++n}`);
  await fsp.cp(src, dst, { recursive: true });
  return dst;
}

async function allLines(home: string): Promise<Line[]> {
  const out: Line[] = [];
  for (const seg of await segments(home)) {
    (await readLines(path.join(home, 'log', seg))).forEach((text, index) => out.push({ seg, index, text, rec: JSON.parse(text) as Line['rec'] }));
  }
  return out;
}

/** A pg.query line well inside the log: in the third segment, not its first line. */
async function middleQuery(home: string): Promise<Line> {
  const segs = await segments(home);
  const l = (await allLines(home)).find((x) => x.seg === segs[2] && x.index > 1 && x.rec.type === 'pg.query' && x.text.includes('select'));
  if (!l) throw new Error('fixture: no middle pg.query');
  return l;
}

async function editSegment(home: string, seg: string, edit: (lines: string[]) => string[]): Promise<void> {
  const f = path.join(home, 'log', seg);
  await writeLines(f, edit(await readLines(f)));
}

async function verifyHome(home: string, over: { state?: VerifyState; rootKeyFile?: string } = {}): Promise<VerifyReport> {
  const input = await loadVerifyInput(fsp, home, { nowMicros: Date.UTC(2026, 10, 22, 12, 5) * 1000, maxUnsealedMicros: 3600e6, ...over });
  return verifyLog(input);
}

const brief = (ps: Problem[]) => ps.map((p) => ({ kind: p.kind, segment: p.segment, seq: p.seq }));

beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'pcigate-verify-'));
  base = path.join(tmp, 'base');
  await writeLog(base, [
    async (log, ctx) => {
      await queries(log, ctx, 40);
      await log.rotate();
      await queries(log, ctx, 20);
      await log.rotate();
      await fsp.mkdir(path.join(base, 'recordings'), { recursive: true });
      await fsp.writeFile(path.join(base, 'recordings', 's-1.cast'), '{"version":2,"width":80,"height":24}\n[0.5,"o","$ ls\\r\\n"]\n');
      const blob = await log.commitBlob('recordings/s-1.cast', 'asciicast');
      await log.append({ type: 'session.end', session: 's-1', outcome: 'success', blobs: [blob] });
      // Queries up to a new segment, then a few that it and the closing records hold whatever the lengths of
      // log.start's pid and host (segments end by size): cut to its first line, the last segment loses signed records.
      const opened = (await segments(base)).length;
      while ((await segments(base)).length === opened) await queries(log, ctx, 1);
      await queries(log, ctx, 6);
    },
  ]);
});

afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

describe('verify: the tamper matrix on a log written by openAuditLog', () => {
  it('passes the untouched log, with the root key from the home or from the user', async () => {
    expect((await segments(base)).length).toBeGreaterThanOrEqual(4);
    const r = await verifyHome(base);
    expect(r.problems).toEqual([]);
    expect(r.result).toBe('pass');
    expect(r.epochs).toBe(3);
    expect(r.rootKeySource).toBe('home');
    expect(r.records).toBe((await allLines(base)).length);
    const mine = path.join(tmp, 'root.pub');
    await fsp.copyFile(path.join(base, 'keys', 'root.pub'), mine);
    const u = await verifyHome(base, { rootKeyFile: mine });
    expect(u.result).toBe('pass');
    expect(u.rootKeySource).toBe('user');
  });

  it('a wrong root key fails the certificate chain', async () => {
    const other = path.join(tmp, 'other.pub');
    await fsp.writeFile(other, `ed25519 ${Buffer.alloc(32, 7).toString('base64')}\n`);
    const r = await verifyHome(base, { rootKeyFile: other });
    expect(brief(r.problems)).toContainEqual({ kind: 'wrong_epoch_key', segment: 'keys/epochs.jsonl', seq: null });
    expect(r.result).toBe('fail');
  });

  it('one byte flipped in a middle record: modified at that seq, nothing else', async () => {
    const home = await copyOf(base);
    const m = await middleQuery(home);
    await editSegment(home, m.seg, (l) => { l[m.index] = l[m.index]!.replace('select', 'selecT'); return l; });
    const r = await verifyHome(home);
    expect(brief(r.problems)).toEqual([{ kind: 'modified', segment: m.seg, seq: m.rec.seq }]);
    expect(r.result).toBe('fail');
  });

  it('a middle line deleted: missing at its seq', async () => {
    const home = await copyOf(base);
    const m = await middleQuery(home);
    await editSegment(home, m.seg, (l) => { l.splice(m.index, 1); return l; });
    expect(brief((await verifyHome(home)).problems)).toEqual([{ kind: 'missing', segment: m.seg, seq: m.rec.seq }]);
  });

  it('a whole segment file deleted: its records missing, named by the file', async () => {
    const home = await copyOf(base);
    const segs = await segments(home);
    const gone = segs[2]!;
    const count = (await readLines(path.join(home, 'log', gone))).length;
    await fsp.rm(path.join(home, 'log', gone));
    const r = await verifyHome(home);
    expect(brief(r.problems)).toEqual([{ kind: 'missing', segment: gone, seq: Number(gone.slice(0, 12)) }]);
    expect(r.problems[0]!.detail).toContain(`(${count} records)`);
  });

  it('two lines swapped: reordered', async () => {
    const home = await copyOf(base);
    const m = await middleQuery(home);
    await editSegment(home, m.seg, (l) => { [l[m.index], l[m.index + 1]] = [l[m.index + 1]!, l[m.index]!]; return l; });
    const r = await verifyHome(home);
    expect(brief(r.problems)).toEqual([{ kind: 'reordered', segment: m.seg, seq: m.rec.seq + 1 }]);
  });

  it('a forged line inserted: inserted at the seq it claims, on its own line', async () => {
    const home = await copyOf(base);
    const m = await middleQuery(home);
    const forged = canonicalize({ ...JSON.parse(m.text), detail: { sql: 'select 1' } });
    await editSegment(home, m.seg, (l) => { l.splice(m.index, 0, forged); return l; });
    const r = await verifyHome(home);
    expect(brief(r.problems)).toEqual([{ kind: 'inserted', segment: m.seg, seq: m.rec.seq }]);
    expect(r.problems[0]!.line).toBe(m.index + 1);
  });

  it('the tail truncated before the last checkpoint: truncated where the log now ends', async () => {
    const home = await copyOf(base);
    const segs = await segments(home);
    const last = segs[segs.length - 1]!;
    // Premise: the cut removes signed records, not only the closing checkpoint's own mirror.
    expect((await readLines(path.join(home, 'log', last))).length).toBeGreaterThan(2);
    await editSegment(home, last, (l) => l.slice(0, 1));
    const end = Number(last.slice(0, 12)) + 1;
    expect(brief((await verifyHome(home)).problems)).toEqual([{ kind: 'truncated', segment: last, seq: end }]);
  });

  it('the tail truncated after the last checkpoint: truncated against --state', async () => {
    const home = await copyOf(base);
    const first = await verifyHome(home);
    const segs = await segments(home);
    const last = segs[segs.length - 1]!;
    const lines = await readLines(path.join(home, 'log', last));
    await editSegment(home, last, (l) => l.slice(0, -1));
    const cut = (JSON.parse(lines[lines.length - 1]!) as { seq: number }).seq;
    expect((await verifyHome(home)).result).toBe('pass'); // without the state the cut is invisible
    const r = await verifyHome(home, { state: first.state! });
    expect(brief(r.problems)).toEqual([{ kind: 'truncated', segment: last, seq: cut }]);
  });

  it('checkpoints.jsonl replaced by an older copy: rollback against --state and the mirrors', async () => {
    const home = path.join(tmp, 'rollback');
    let old = '';
    await writeLog(home, [
      async (log, ctx) => { await queries(log, ctx, 12); },
      async (log, ctx) => { old = await fsp.readFile(path.join(home, 'checkpoints.jsonl'), 'utf8'); await queries(log, ctx, 12); },
    ]);
    const first = await verifyHome(home);
    expect(first.result).toBe('pass');
    await fsp.writeFile(path.join(home, 'checkpoints.jsonl'), old);
    const r = await verifyHome(home, { state: first.state! });
    expect(new Set(r.problems.map((p) => p.kind))).toEqual(new Set(['rollback']));
    expect(brief(r.problems)).toContainEqual({ kind: 'rollback', segment: 'checkpoints.jsonl', seq: null });
    expect(r.state).toEqual(first.state);
  });

  it("a checkpoint signed with a later epoch's key: wrong_epoch_key at its line", async () => {
    const home = await copyOf(base);
    const file = path.join(home, 'checkpoints.jsonl');
    const lines = await readLines(file);
    const note = (JSON.parse(lines[0]!) as { note: string }).note;
    expect(note).toContain('\nepoch 0\n');
    const today = privateKeyFromPem(await fsp.readFile(path.join(home, 'keys', 'epoch.key')));
    lines[0] = canonicalize({ note: signNote(parseNote(note).text, epochKeyName(ORIGIN, 2), today) });
    await writeLines(file, lines);
    const r = await verifyHome(home);
    expect(brief(r.problems)).toEqual([{ kind: 'wrong_epoch_key', segment: 'checkpoints.jsonl', seq: null }]);
    expect(r.problems[0]!.line).toBe(1);
  });

  it('an epoch skipped in epochs.jsonl: epoch_gap at the line after the gap', async () => {
    const home = await copyOf(base);
    const file = path.join(home, 'keys', 'epochs.jsonl');
    const lines = await readLines(file);
    expect(lines).toHaveLength(3);
    await writeLines(file, [lines[0]!, lines[2]!]);
    const r = await verifyHome(home);
    // The log's key.rotate still certifies epoch 1: the line's removal is said too.
    expect(brief(r.problems)).toEqual([{ kind: 'epoch_gap', segment: 'keys/epochs.jsonl', seq: null }, { kind: 'missing', segment: 'keys/epochs.jsonl', seq: null }]);
    expect(r.problems[0]!.line).toBe(2);
  });

  it('a torn last line: unreadable (a warning) before recovery; after the writer reopens, log.recovered and a pass', async () => {
    const home = await copyOf(base);
    const segs = await segments(home);
    const last = path.join(home, 'log', segs[segs.length - 1]!);
    await fsp.appendFile(last, '{"v":1,"origin":"test.exa');
    const before = await verifyHome(home);
    expect(brief(before.problems)).toEqual([{ kind: 'unreadable', segment: segs[segs.length - 1]!, seq: null }]);
    // A write in flight looks the same: a warning, not a failure (no checkpoint can cover those bytes).
    expect(before.problems[0]!.severity).toBe('warn');
    expect(before.result).toBe('warn');
    await writeLog(home, [async () => {}], 3_600_000); // reopened an hour later
    const after = await verifyHome(home);
    expect(after.problems).toEqual([]);
    expect((await allLines(home)).some((l) => l.rec.type === 'log.recovered')).toBe(true);
  });

  it('garbage bytes in a segment: unreadable with its position, the rest verified', async () => {
    const home = await copyOf(base);
    const m = await middleQuery(home);
    await editSegment(home, m.seg, (l) => { l.splice(m.index, 0, '\u0000\u0007\u00ffnot a record'); return l; });
    const r = await verifyHome(home);
    expect(brief(r.problems)).toEqual([{ kind: 'unreadable', segment: m.seg, seq: null }]);
    expect(r.problems[0]!.line).toBe(m.index + 1);
    expect(r.records).toBe((await allLines(base)).length);
  });

  it('a recording changed after commit: blob_mismatch at the record that committed it', async () => {
    const home = await copyOf(base);
    const end = (await allLines(home)).find((l) => l.rec.type === 'session.end')!;
    await fsp.appendFile(path.join(home, 'recordings', 's-1.cast'), '[1.0,"o","rm -rf /"]\n');
    expect(brief((await verifyHome(home)).problems)).toEqual([{ kind: 'blob_mismatch', segment: end.seg, seq: end.rec.seq }]);
    await fsp.rm(path.join(home, 'recordings', 's-1.cast'));
    expect(brief((await verifyHome(home)).problems)).toEqual([{ kind: 'blob_mismatch', segment: end.seg, seq: end.rec.seq }]);
  });

  it('a symbolic link out of recordings/ at a recording path is not followed, even to an identical copy', async () => {
    const home = await copyOf(base);
    const end = (await allLines(home)).find((l) => l.rec.type === 'session.end')!;
    const rec = path.join(home, 'recordings', 's-1.cast');
    const outside = path.join(tmp, `outside-${n}.cast`);
    await fsp.rename(rec, outside);
    await fsp.symlink(outside, rec);
    const r = await verifyHome(home);
    expect(brief(r.problems)).toEqual([{ kind: 'blob_mismatch', segment: end.seg, seq: end.rec.seq }]);
    expect(r.problems[0]!.detail).toBe("recording recordings/s-1.cast leads out of the data home's recordings/ directory through a symbolic link; it was not read");
  });

  it('a FIFO at a recording path is refused at once, not read (verify would wait for a writer forever)', async () => {
    const home = await copyOf(base);
    const end = (await allLines(home)).find((l) => l.rec.type === 'session.end')!;
    const fifo = path.join(home, 'recordings', 's-1.cast');
    await fsp.rm(fifo);
    execFileSync('mkfifo', [fifo]);
    // Without the check verify waits in the thread pool for a writer: this one ends the wait, so a regression
    // fails on the detail instead of hanging the test run.
    const unstick = setTimeout(() => { try { closeSync(openSync(fifo, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK)); } catch { /* no reader */ } }, 1500);
    try {
      const r = await verifyHome(home);
      expect(brief(r.problems)).toEqual([{ kind: 'blob_mismatch', segment: end.seg, seq: end.rec.seq }]);
      expect(r.problems[0]!.detail).toBe('recording recordings/s-1.cast is a FIFO, not a regular file; it was not read');
    } finally {
      clearTimeout(unstick);
    }
  }, 5000);
});
