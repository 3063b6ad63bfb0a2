/**
 * Property: one byte changed anywhere in one record (in the middle of a segment) fails verification and
 * every located problem names that record — no cascade onto its neighbours.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { verifyLog } from '../../../recorder/verify.js';
import { FixtureLog, joinLines, linesOf } from './verify-fixture.js';

describe('verifyLog localises any single-byte change', () => {
  const log = new FixtureLog();
  log.events(30);
  log.checkpoint();
  log.events(10);
  log.checkpoint();
  const input = log.input();
  const seg = input.segments[0]!;
  const lines = linesOf(seg.bytes);

  it('one byte in one record', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: lines.length - 3 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (k, at, delta) => {
        const line = Buffer.from(lines[k]!, 'utf8');
        const pos = at % line.length;
        const b = (line[pos]! + delta) % 256;
        if (b === 10) return; // a new line is another case (inserted/unreadable)
        line[pos] = b;
        const edited = [...lines];
        edited[k] = line.toString('latin1');
        const bytes = Buffer.concat(edited.map((l, i) => (i === k ? Buffer.concat([line, Buffer.from('\n')]) : Buffer.from(`${l}\n`, 'utf8'))));
        const r = verifyLog({ ...input, segments: [{ name: seg.name, bytes }] });
        expect(r.result).toBe('fail');
        const seqs = new Set(r.problems.map((p) => p.seq));
        expect([...seqs].filter((q) => q !== k && q !== null), JSON.stringify(r.problems)).toEqual([]);
        expect(r.problems.some((p) => p.seq === k || p.seq === null), JSON.stringify(r.problems)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('unchanged bytes pass', () => {
    expect(verifyLog({ ...input, segments: [{ name: seg.name, bytes: joinLines(lines) }] }).result).toBe('pass');
  });
});
