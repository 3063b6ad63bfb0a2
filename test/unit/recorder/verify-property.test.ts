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

  it('one byte in one record', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: lines.length - 3 }), fc.nat(), fc.integer({ min: 1, max: 255 }), async (k, at, delta) => {
        const line = Buffer.from(lines[k]!, 'utf8');
        const pos = at % line.length;
        const b = (line[pos]! + delta) % 256;
        if (b === 10) return; // a new line is another case (inserted/unreadable)
        line[pos] = b;
        const edited = [...lines];
        edited[k] = line.toString('latin1');
        const bytes = Buffer.concat(edited.map((l, i) => (i === k ? Buffer.concat([line, Buffer.from('\n')]) : Buffer.from(`${l}\n`, 'utf8'))));
        const r = await verifyLog({ ...input, segments: [{ name: seg.name, bytes }] });
        expect(r.result).toBe('fail');
        const seqs = new Set(r.problems.map((p) => p.seq));
        expect([...seqs].filter((q) => q !== k && q !== null), JSON.stringify(r.problems)).toEqual([]);
        expect(r.problems.some((p) => p.seq === k || p.seq === null), JSON.stringify(r.problems)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  const run = (edited: string[]) => verifyLog({ ...input, segments: [{ name: seg.name, bytes: joinLines(edited) }] });
  const brief = (r: Awaited<ReturnType<typeof verifyLog>>) => r.problems.map((p) => ({ kind: p.kind, seq: p.seq }));
  const middle = fc.integer({ min: 1, max: lines.length - 3 });

  it('one line deleted: missing at its seq only', async () => {
    await fc.assert(fc.asyncProperty(middle, async (k) => {
      expect(brief(await run(lines.filter((_, i) => i !== k)))).toEqual([{ kind: 'missing', seq: k }]);
    }), { numRuns: 100 });
  });

  it('two adjacent lines swapped: one reordered record only', async () => {
    await fc.assert(fc.asyncProperty(middle, async (k) => {
      const e = [...lines];
      [e[k], e[k + 1]] = [e[k + 1]!, e[k]!];
      expect(brief(await run(e))).toEqual([{ kind: 'reordered', seq: k + 1 }]);
    }), { numRuns: 100 });
  });

  it('a copy of one line inserted anywhere: inserted at the copy only', async () => {
    await fc.assert(fc.asyncProperty(middle, fc.integer({ min: 1, max: lines.length - 1 }), async (k, at) => {
      if (at === k || at === k + 1) return; // next to itself the copy is indistinguishable from the original
      const e = [...lines];
      e.splice(at, 0, lines[k]!);
      const r = await run(e);
      expect(brief(r)).toEqual([{ kind: 'inserted', seq: k }]);
      expect(r.problems[0]!.line).toBe(at + 1);
    }), { numRuns: 100 });
  });

  it('unchanged bytes pass', async () => {
    expect((await verifyLog({ ...input, segments: [{ name: seg.name, bytes: joinLines(lines) }] })).result).toBe('pass');
  });
});
