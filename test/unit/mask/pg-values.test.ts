/**
 * Single values (src/mask/pg-values.ts) read every way text is: a value of a type pcigate does not know (binary, or a
 * row with no RowDescription) as a text value is, and the rest of a value after its track data.
 */
import { describe, expect, it } from 'vitest';
import { decodeDataRow } from '../../../src/pg/protocol/backend.js';
import { PgMasker } from '../../../src/mask/pg-masker.js';
import type { PgMaskerOptions } from '../../../src/mask/pg-masker.js';
import { binaryValue, BYTEA_OID, contentText } from '../../../src/mask/pg-values.js';
import type { ValueContext } from '../../../src/mask/pg-values.js';
import { bytes } from '../../harness/pg-bytes.js';

const config = (over: Partial<PgMaskerOptions['config']> = {}): PgMaskerOptions['config'] => ({ format: 'last4', networks: 'major', rules: [], sad_columns: [], ...over });
const rows = (frame: Buffer | null) => (frame === null ? null : decodeDataRow(frame.subarray(5)).values.map((v) => (v === null ? null : v.toString('latin1'))));
const ctxOf = (content: ValueContext['content']): ValueContext => ({ content, detect: {}, hmacKey: undefined, counts: {} });
const text = (v: Uint8Array | null) => (v === null ? null : Buffer.from(v).toString('latin1'));

/** Python's json.dumps of a card number grouped by no-break spaces, and of one in full-width digits. */
const NBSP_DOC = '{"c": "4111\\u00a01111\\u00a01111\\u00a01111"}';
const NBSP_MASKED = '{"c": "****\\u00a0****\\u00a0****\\u00a01111"}';
const WIDE_DOC = '{"c": "\\uff15\\uff15\\uff15\\uff15\\uff15\\uff15\\uff15\\uff15\\uff15\\uff15\\uff15\\uff15\\uff14\\uff14\\uff14\\uff14"}';
const USER_TYPE_OID = 16_500; // a type the server made, unknown to pcigate

describe('values of a type not known are read for \\u escapes as text values are', () => {
  it('a row with no RowDescription: a card number in \\u escapes is masked, as in a text column', () => {
    const m = new PgMasker({ config: config() });
    expect(rows(m.onBackendMessage(bytes.dataRow([NBSP_DOC, 'x'])))).toEqual([NBSP_MASKED, 'x']);
    expect(m.takeCounts()).toEqual({ pan: 1 });
    // The same value in a text column (the reading the row above now matches).
    m.onBackendMessage(bytes.rowDescription([{ name: 'doc' }, { name: 'x' }]));
    expect(rows(m.onBackendMessage(bytes.dataRow([NBSP_DOC, 'x'])))).toEqual([NBSP_MASKED, 'x']);
  });

  it('a binary value of an unknown type OID, and a binary bytea: escaped digits become escaped stars of the same length', () => {
    for (const oid of [USER_TYPE_OID, BYTEA_OID, 0]) {
      const ctx = ctxOf({ format: 'last4' });
      expect(text(binaryValue(oid, Buffer.from(NBSP_DOC), undefined, ctx))).toBe(NBSP_MASKED);
      const wide = text(binaryValue(oid, Buffer.from(WIDE_DOC), undefined, ctx));
      expect(wide).toBe(`{"c": "${'\\uff0a'.repeat(12)}\\uff14\\uff14\\uff14\\uff14"}`);
      expect(ctx.counts).toEqual({ pan: 2 });
    }
  });

  it('hmac: a binary value keeps its length (stars, not a token), as in its other readings', () => {
    const ctx = ctxOf({ format: 'hmac', hmacKey: Buffer.from('k'.repeat(32)) });
    const out = text(binaryValue(USER_TYPE_OID, Buffer.from(NBSP_DOC), undefined, ctx));
    expect(out).toBe('{"c": "****\\u00a0****\\u00a0****\\u00a0****"}');
    // A text value gets the token in place of the card number.
    const t = text(contentText(Buffer.from(NBSP_DOC), ctxOf({ format: 'hmac', hmacKey: Buffer.from('k'.repeat(32)) }), true));
    expect(t).not.toContain('1111');
    expect(t!.length).not.toBe(NBSP_DOC.length);
  });

  it('a binary value with no card number stays the same object', () => {
    const v = Buffer.from('{"c": "\\u00a0 12\\u00a034 caf\\u00e9"}');
    expect(binaryValue(USER_TYPE_OID, v, undefined, ctxOf({ format: 'last4' }))).toBe(v);
  });
});

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
