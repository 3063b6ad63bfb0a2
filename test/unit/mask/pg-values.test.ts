/**
 * Single values (src/mask/pg-values.ts) read every way text is: the rest of a value after its track data too.
 */
import { describe, expect, it } from 'vitest';
import { contentText } from '../../../src/mask/pg-values.js';
import type { ValueContext } from '../../../src/mask/pg-values.js';

const ctxOf = (content: ValueContext['content']): ValueContext => ({ content, detect: {}, hmacKey: undefined, counts: {} });
const text = (v: Uint8Array | null) => (v === null ? null : Buffer.from(v).toString('latin1'));

/** Python's json.dumps of a card number grouped by no-break spaces. */
const NBSP_DOC = '{"c": "4111\\u00a01111\\u00a01111\\u00a01111"}';

describe('track data does not end the reading of a value', () => {
  const TRACK2 = ';4111111111111111=25121010000000000000?';

  it('a card number after track data is masked too', () => {
    const ctx = ctxOf({ format: 'last4' });
    expect(text(contentText(Buffer.from(`${TRACK2} and 5500000000000004`), ctx, false))).toBe(`${'*'.repeat(TRACK2.length)} and ************0004`);
    expect(ctx.counts).toEqual({ sad: 1, pan: 1 });
  });

  it('and in its other readings: hex, \\u escapes', () => {
    const hex = Buffer.from('5500000000000004').toString('hex');
    const ctx = ctxOf({ format: 'full' });
    const out = text(contentText(Buffer.from(`${TRACK2} \\x${hex} ${NBSP_DOC}`), ctx, false));
    expect(out).toBe(`${'*'.repeat(TRACK2.length)} \\x${'2a'.repeat(16)} {"c": "****\\u00a0****\\u00a0****\\u00a0****"}`);
    expect(ctx.counts).toEqual({ sad: 1, pan: 2 });
  });

  it('JSON: a bare card number after track data is quoted, so the document still parses', () => {
    const doc = `{"t": "${TRACK2}", "n": 5500000000000004}`;
    const out = text(contentText(Buffer.from(doc), ctxOf({ format: 'last4' }), true))!;
    expect(JSON.parse(out)).toEqual({ t: '*'.repeat(TRACK2.length), n: '************0004' });
  });
});
