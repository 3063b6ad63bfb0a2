/**
 * verifyLog on logs built in memory (verify-fixture.ts): shapes the real writer never produces, and every
 * tamper case located exactly (kind, segment, seq) with no cascade of follow-on problems.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalize } from '../../../recorder/canonical-json.js';
import { epochKeyName, formatCheckpoint, signNote } from '../../../recorder/signed-note.js';
import { rootOf } from '../../../recorder/merkle.js';
import { verifyLog } from '../../../recorder/verify.js';
import type { Problem } from '../../../recorder/verify-types.js';
import { FixtureLog, joinLines, linesOf } from './verify-fixture.js';
import type { FixtureInput } from './verify-fixture.js';

const SEG0 = '000000000000.jsonl';
const SEG1 = '000000000040.jsonl';

/** 3 segments of 40 records, a checkpoint every 10 records, a rotation to epoch 1 near seq 50, closed. */
function build(): FixtureLog {
  const log = new FixtureLog(40);
  for (let k = 0; k < 10; k++) {
    log.events(9);
    log.checkpoint();
    if (k === 4) log.rotate();
  }
  log.append({ type: 'log.stop' });
  log.checkpoint();
  return log;
}

function editSegment(input: FixtureInput, name: string, edit: (lines: string[]) => string[] | Buffer): FixtureInput {
  return {
    ...input,
    segments: input.segments.map((s) => {
      if (s.name !== name) return s;
      const r = edit(linesOf(s.bytes));
      return { name, bytes: Buffer.isBuffer(r) ? r : joinLines(r) };
    }),
  };
}

const brief = (ps: Problem[]) => ps.map((p) => ({ kind: p.kind, segment: p.segment, seq: p.seq }));

describe('verifyLog on an in-memory log', () => {
  const log = build();

  it('passes an untouched log and counts what it checked', async () => {
    const r = await verifyLog(log.input());
    expect(r.problems).toEqual([]);
    expect(r.result).toBe('pass');
    expect(r.records).toBe(log.size);
    expect(r.segments).toBe(log.segments.size);
    expect(r.epochs).toBe(2);
    expect(r.checkpoints).toBe(log.checkpointLines.length);
    expect(r.state?.size).toBe(log.size);
    expect(r.newestCheckpoint?.size).toBe(log.size - 1);
  });

  it('locates one byte flipped in a middle record as modified at that seq only', async () => {
    const r = await verifyLog(editSegment(log.input(), SEG0, (l) => { l[13] = l[13]!.replace('select', 'selecT'); return l; }));
    expect(brief(r.problems)).toEqual([{ kind: 'modified', segment: SEG0, seq: 13 }]);
    expect(r.result).toBe('fail');
  });

  it('locates a flipped byte in the prev field at the record that holds it', async () => {
    const r = await verifyLog(editSegment(log.input(), SEG0, (l) => { l[13] = l[13]!.replace(/"prev":"(.)/, (_m, c: string) => `"prev":"${c === 'a' ? 'b' : 'a'}`); return l; }));
    expect(brief(r.problems)).toEqual([{ kind: 'modified', segment: SEG0, seq: 13 }]);
  });

  it('locates a flipped byte in the seq field', async () => {
    const r = await verifyLog(editSegment(log.input(), SEG0, (l) => { l[13] = l[13]!.replace('"seq":13', '"seq":19'); return l; }));
    expect(brief(r.problems)).toEqual([{ kind: 'modified', segment: SEG0, seq: 13 }]);
  });

  it('a flipped byte that breaks the JSON is unreadable and modified at that seq', async () => {
    const r = await verifyLog(editSegment(log.input(), SEG0, (l) => { l[13] = l[13]!.replace('{', '['); return l; }));
    expect(brief(r.problems).sort((a, b) => a.kind.localeCompare(b.kind))).toEqual([{ kind: 'modified', segment: SEG0, seq: 13 }, { kind: 'unreadable', segment: SEG0, seq: 13 }]);
  });

  it('a modified last record covered by a checkpoint fails the checkpoint root', async () => {
    const l2 = new FixtureLog();
    l2.events(5);
    l2.checkpoint({ mirror: false });
    const input = l2.input();
    const r = await verifyLog(editSegment(input, SEG0, (l) => { l[5] = l[5]!.replace('select', 'selecT'); return l; }));
    expect(brief(r.problems)).toEqual([{ kind: 'modified', segment: SEG0, seq: 5 }]);
  });

  it('a deleted middle line is missing at its seq', async () => {
    const r = await verifyLog(editSegment(log.input(), SEG1, (l) => { l.splice(5, 1); return l; }));
    expect(brief(r.problems)).toEqual([{ kind: 'missing', segment: SEG1, seq: 45 }]);
  });

  it('two swapped lines are reordered, nothing else', async () => {
    const r = await verifyLog(editSegment(log.input(), SEG1, (l) => { [l[5], l[6]] = [l[6]!, l[5]!]; return l; }));
    expect(brief(r.problems)).toEqual([{ kind: 'reordered', segment: SEG1, seq: 46 }]);
  });

  it('an inserted forged record claiming an existing seq is inserted', async () => {
    const r = await verifyLog(editSegment(log.input(), SEG1, (l) => {
      const orig = JSON.parse(l[5]!) as Record<string, unknown>;
      l.splice(5, 0, canonicalize({ ...orig, detail: { sql: 'select forged' } }));
      return l;
    }));
    expect(brief(r.problems)).toEqual([{ kind: 'inserted', segment: SEG1, seq: 45 }]);
    expect(r.problems[0]!.line).toBe(6);
  });

  it('an inserted copy of an existing line is inserted at the copy', async () => {
    const r = await verifyLog(editSegment(log.input(), SEG1, (l) => { l.splice(20, 0, l[3]!); return l; }));
    expect(brief(r.problems)).toEqual([{ kind: 'inserted', segment: SEG1, seq: 43 }]);
    expect(r.problems[0]!.line).toBe(21);
  });

  it('garbage bytes between lines are unreadable with their position, the rest verifies', async () => {
    const r = await verifyLog(editSegment(log.input(), SEG1, (l) => { l.splice(7, 0, '\u0000\u0001garbage{'); return l; }));
    expect(brief(r.problems)).toEqual([{ kind: 'unreadable', segment: SEG1, seq: null }]);
    expect(r.problems[0]!.line).toBe(8);
    expect(r.problems[0]!.offset).toBeGreaterThan(0);
  });

  it('a tail truncated before the last checkpoint is truncated', async () => {
    const names = [...log.segments.keys()];
    const last = names[names.length - 1]!;
    const input = editSegment(log.input(), last, (l) => l.slice(0, 3));
    const r = await verifyLog(input);
    const end = Number(last.slice(0, 12)) + 3;
    expect(brief(r.problems)).toEqual([{ kind: 'truncated', segment: last, seq: end }]);
  });

  it('a tail truncated after the last checkpoint is truncated against the state', async () => {
    const l2 = new FixtureLog();
    l2.events(10);
    l2.checkpoint();
    l2.events(5);
    const first = await verifyLog(l2.input());
    expect(first.result).toBe('pass');
    const r = await verifyLog(editSegment(l2.input({ state: first.state! }), SEG0, (l) => l.slice(0, 13)));
    expect(brief(r.problems)).toEqual([{ kind: 'truncated', segment: SEG0, seq: 13 }]);
    expect(r.state).toEqual(first.state);
  });

  it('an older copy of checkpoints.jsonl is a rollback against the state and the mirrors', async () => {
    const l2 = new FixtureLog();
    l2.events(10);
    l2.checkpoint();
    const old = l2.input().checkpoints!;
    l2.events(10);
    l2.checkpoint();
    const first = await verifyLog(l2.input());
    const r = await verifyLog(l2.input({ state: first.state!, checkpoints: old }));
    expect(r.problems.map((p) => p.kind)).toEqual(['rollback', 'rollback']);
    expect(brief(r.problems)).toContainEqual({ kind: 'rollback', segment: 'checkpoints.jsonl', seq: null });
    expect(brief(r.problems)).toContainEqual({ kind: 'rollback', segment: SEG0, seq: 22 });
  });

  it('two checkpoints of one size with different roots are a fork', async () => {
    const l2 = new FixtureLog();
    l2.events(10);
    l2.checkpoint({ mirror: false });
    const bogus = signNote(formatCheckpoint({ origin: l2.origin, size: 11, root: rootOf(l2.leaves.slice(0, 10).concat(l2.leaves[0]!)), epoch: 0 }), epochKeyName(l2.origin, 0), l2.keys[0]!.privateKey);
    l2.checkpointLines.push(canonicalize({ note: bogus }));
    const r = await verifyLog(l2.input());
    expect(brief(r.problems)).toContainEqual({ kind: 'fork', segment: 'checkpoints.jsonl', seq: null });
    expect(r.problems.find((p) => p.kind === 'fork')!.line).toBe(2);
  });

  it('a checkpoint signed with a later epoch key is wrong_epoch_key at its line', async () => {
    const l2 = new FixtureLog();
    l2.events(10);
    l2.checkpoint({ mirror: false });
    l2.rotate();
    l2.events(3);
    // Epoch 1's key (today's) signs a checkpoint of size 11, when epoch 0 was in force.
    const forged = signNote(formatCheckpoint({ origin: l2.origin, size: 11, root: rootOf(l2.leaves, 11), epoch: 0 }), epochKeyName(l2.origin, 1), l2.keys[1]!.privateKey);
    l2.checkpointLines.splice(0, 1, canonicalize({ note: forged }));
    const r = await verifyLog(l2.input());
    expect(brief(r.problems)).toEqual([{ kind: 'wrong_epoch_key', segment: 'checkpoints.jsonl', seq: null }]);
    expect(r.problems[0]!.line).toBe(1);
  });

  it('an epoch skipped in key.rotate is epoch_gap at that record', async () => {
    const l2 = new FixtureLog();
    l2.events(5);
    l2.rotate(2);
    l2.events(5);
    l2.checkpoint();
    const r = await verifyLog(l2.input());
    // seq 6 is the checkpoint mirror, seq 7 the key.rotate from epoch 0 to 2; epochs.jsonl skips too.
    expect(brief(r.problems)).toEqual([{ kind: 'epoch_gap', segment: SEG0, seq: 7 }, { kind: 'epoch_gap', segment: 'keys/epochs.jsonl', seq: null }]);
  });

  it('an epoch certificate removed from epochs.jsonl is epoch_gap at the next line', async () => {
    const l2 = new FixtureLog();
    l2.events(5);
    l2.rotate();
    l2.rotate();
    l2.checkpoint();
    const certs = linesOf(l2.input().epochs!);
    const r = await verifyLog(l2.input({ epochs: joinLines([certs[0]!, certs[2]!]) }));
    // The log's key.rotate still certifies epoch 1: its line was removed, which is said too.
    expect(brief(r.problems)).toEqual([{ kind: 'epoch_gap', segment: 'keys/epochs.jsonl', seq: null }, { kind: 'missing', segment: 'keys/epochs.jsonl', seq: null }]);
    expect(r.problems[0]!.line).toBe(2);
  });

  it('a certificate claiming a huge epoch is one more problem, not a walk through every epoch below it', async () => {
    const l2 = new FixtureLog();
    l2.events(3);
    l2.rotate();
    l2.checkpoint();
    const certs = linesOf(l2.input().epochs!);
    const forged = JSON.parse(certs[0]!) as { cert: { epoch: number } };
    forged.cert.epoch = Number.MAX_SAFE_INTEGER;
    const started = Date.now();
    const r = await verifyLog(l2.input({ epochs: joinLines([...certs, JSON.stringify(forged)]) }));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(brief(r.problems)).toEqual([
      { kind: 'epoch_gap', segment: 'keys/epochs.jsonl', seq: null },
      { kind: 'wrong_epoch_key', segment: 'keys/epochs.jsonl', seq: null },
    ]);
  });

  it('a certificate removed from epochs.jsonl that a key.rotate record still certifies is reported (the writer refuses such a home)', async () => {
    const l2 = new FixtureLog();
    l2.events(3);
    l2.rotate();
    l2.rotate();
    l2.checkpoint();
    const certs = linesOf(l2.input().epochs!);
    const r = await verifyLog(l2.input({ epochs: joinLines(certs.slice(0, -1)) }));
    expect(brief(r.problems)).toEqual([{ kind: 'missing', segment: 'keys/epochs.jsonl', seq: null }]);
    expect(r.problems[0]!.detail).toMatch(/^epoch 2 is certified by key\.rotate seq \d+, but keys\/epochs\.jsonl has no certificate for it/);
  });

  it('unsealed records older than the allowed age warn', async () => {
    const l2 = new FixtureLog();
    l2.events(5);
    l2.checkpoint();
    l2.events(3);
    const r = await verifyLog(l2.input({ nowMicros: Number(l2.clock) + 7200e6 }));
    expect(brief(r.problems)).toEqual([{ kind: 'unsealed', segment: SEG0, seq: 7 }]);
    expect(r.result).toBe('warn');
  });

  it('a recording changed after commit is blob_mismatch', async () => {
    const l2 = new FixtureLog();
    const rec = Buffer.from('{"version":2}\n[0.1,"o","hello"]\n');
    l2.events(2);
    l2.append({ type: 'session.end', blobs: [{ sha256: createHash('sha256').update(rec).digest('hex'), kind: 'asciicast', bytes: rec.length, path: 'recordings/s-1.cast' }] });
    l2.checkpoint();
    expect((await verifyLog(l2.input({ blob: (p) => (p === 'recordings/s-1.cast' ? rec : undefined) }))).result).toBe('pass');
    const changed = Buffer.from(rec);
    changed[20] = changed[20]! ^ 1;
    const r = await verifyLog(l2.input({ blob: () => changed }));
    expect(brief(r.problems)).toEqual([{ kind: 'blob_mismatch', segment: SEG0, seq: 3 }]);
  });

  it('ts going backwards is a time_regression warning', async () => {
    const l2 = new FixtureLog();
    l2.events(3);
    l2.clock -= 10_000_000n;
    l2.events(3);
    l2.checkpoint();
    const r = await verifyLog(l2.input());
    expect(brief(r.problems)).toEqual([{ kind: 'time_regression', segment: SEG0, seq: 4 }]);
    expect(r.result).toBe('warn');
  });

  it('an empty log does not pass', async () => {
    const r = await verifyLog(log.input({ segments: [] }));
    expect(r.result).toBe('fail');
    expect(brief(r.problems)).toContainEqual({ kind: 'missing', segment: null, seq: 0 });
  });

  it('builds an inclusion proof that verifies against the newest checkpoint', async () => {
    const r = await verifyLog(log.input({ proofSeq: 17 }));
    expect(r.proof && 'verified' in r.proof && r.proof.verified).toBe(true);
  });
});
