/**
 * recorder/jsonl-lines.ts: the data home's JSONL files cut into lines off chunks, as verify-load.ts hands them
 * over (one buffer, reused), with a line longer than the limit unreadable and skipped. The limit is the
 * parameter here, so that a few bytes stand for 16 MiB.
 */
import { describe, expect, it } from 'vitest';
import { forEachJsonLine, jsonLines } from '../../../recorder/jsonl-lines.js';
import type { JsonLine } from '../../../recorder/jsonl-lines.js';
import type { JsonlFile } from '../../../recorder/verify-types.js';

/** `bytes` handed over in chunks of `size` (the last shorter), through one buffer reused as the loader does. */
function chunked(bytes: Buffer, size: number, asked: { chunks: number } = { chunks: 0 }): JsonlFile {
  return {
    read: async (each) => {
      const buf = Buffer.alloc(size);
      for (let at = 0; at < bytes.length; at += size) {
        asked.chunks++;
        const n = bytes.copy(buf, 0, at, Math.min(at + size, bytes.length));
        if (!each(buf.subarray(0, n))) return;
        buf.fill(0x78); // what a reused buffer holds by the next read: nothing of this chunk
      }
    },
  };
}

async function linesOf(file: JsonlFile, maxLine?: number): Promise<JsonLine[]> {
  const out: JsonLine[] = [];
  await forEachJsonLine(file, (l) => { out.push(l); }, maxLine);
  return out;
}

const TEXT = Buffer.from('{"note":"a\\nb"}\n\nnot json\n[1,2,3]\n"x"\n{"k":"éé"}');

describe('jsonl-lines', () => {
  it('in memory: every line numbered and parsed, an empty or non-JSON one undefined, a last one without its newline read (torn)', () => {
    expect([...jsonLines(TEXT)]).toEqual([
      { line: 1, value: { note: 'a\nb' } },
      { line: 2, value: undefined },
      { line: 3, value: undefined },
      { line: 4, value: [1, 2, 3] },
      { line: 5, value: 'x' },
      { line: 6, value: { k: 'éé' }, torn: true },
    ]);
    expect([...jsonLines(Buffer.from('1\n2\n'))]).toEqual([{ line: 1, value: 1 }, { line: 2, value: 2 }]);
  });

  it('in chunks of every size (a line, a character split between them): the same lines', async () => {
    const whole = [...jsonLines(TEXT)];
    for (let size = 1; size <= TEXT.length; size++) expect(await linesOf(chunked(TEXT, size)), `chunks of ${size}`).toEqual(whole);
  });

  it('a line longer than the limit is unreadable, whole or in chunks, and the next line is read', async () => {
    const text = Buffer.from(`[1]\n"${'z'.repeat(40)}"\n[2]\n"${'y'.repeat(20)}"`);
    const want = [{ line: 1, value: [1] }, { line: 2, value: undefined }, { line: 3, value: [2] }, { line: 4, value: undefined, torn: true }];
    expect([...jsonLines(text, 16)]).toEqual(want);
    for (const size of [1, 3, 7, 16, 64]) expect(await linesOf(chunked(text, size), 16), `chunks of ${size}`).toEqual(want);
    // At the limit it is a line like any other.
    expect(await linesOf(chunked(Buffer.from(`"${'z'.repeat(14)}"`), 5), 16)).toEqual([{ line: 1, value: 'z'.repeat(14), torn: true }]);
  });

  it('`each` returning false stops the reading: no further chunk is asked for', async () => {
    const asked = { chunks: 0 };
    const seen: number[] = [];
    await forEachJsonLine(chunked(Buffer.from('1\n2\n3\n4\n5\n6\n'), 4, asked), (l) => {
      seen.push(l.value as number);
      return l.line < 2;
    });
    expect(seen).toEqual([1, 2]);
    expect(asked.chunks).toBe(1);
  });
});
