import { describe, expect, it } from 'vitest';
import { decodeDataRow } from '../../../src/pg/protocol/backend.js';
import { PgMasker } from '../../../src/mask/pg-masker.js';
import type { PgMaskerOptions } from '../../../src/mask/pg-masker.js';
import { bytes } from '../../harness/pg-bytes.js';

const config = (over: Partial<PgMaskerOptions['config']> = {}): PgMaskerOptions['config'] => ({ format: 'last4', networks: 'major', rules: [], sad_columns: [], ...over });
const rows = (frame: Buffer | null) => decodeDataRow(frame!.subarray(5)).values.map((v) => (v === null ? null : v.toString('latin1')));

// PostgreSQL prints a float8 without an exponent below 1e15 (`SELECT 378282246310005::float8` is
// `378282246310005`, with extra_float_digits 1 or 3 alike): a 13- to 15-digit card number (Visa 13, Diners 14,
// Amex 15) kept as double precision is plain digits in text results and text COPY.
describe('card numbers in float columns printed without an exponent', () => {
  it('text results: a 13-, 14- or 15-digit PAN in a float8 column is NULL, as the exponent form is; amounts stay', () => {
    const m = new PgMasker({ config: config() });
    const s = { n: 1 };
    m.onBackendMessage(bytes.rowDescription([{ name: 'a', typeOid: 701 }, { name: 'b', typeOid: 701 }, { name: 'c', typeOid: 701 }, { name: 'amount', typeOid: 701 }]), s);
    expect(rows(m.onBackendMessage(bytes.dataRow(['4222222222222', '30569309025904', '-378282246310005', '1234567.25']), s))).toEqual([null, null, null, '1234567.25']);
    expect(m.takeCounts()).toEqual({ pan: 3, binary_null: 3 });
  });

  it('text COPY: a 15-digit PAN in a float8 column is written as NULL (a restore would fail on a masked one)', () => {
    const m = new PgMasker({ config: config() });
    const stmt = { n: 1 };
    m.expectCopy(stmt, [{ name: 'f', typeOid: 701 }, { name: 'id', typeOid: 20 }]);
    expect(m.onBackendMessage(bytes.copyData('378282246310005\t7\n'), stmt)!.subarray(5).toString()).toBe('\\N\t7\n');
    expect(m.onBackendMessage(bytes.copyData('1701608400000\t8\n'), stmt)).toBeNull();
  });
});

// money is an int8 of cents printed with a currency symbol and group separators (`$4,111,111,111,111,111.00`,
// lc_monetary): no digit run for the detector, and 18 digits in binary (the cents) where a PAN has 16.
describe('card numbers kept as money', () => {
  const i64 = (n: bigint) => { const b = Buffer.alloc(8); b.writeBigInt64BE(n); return b; };

  it('text results: a money value whose whole units are a PAN is NULL, in any locale\'s print; amounts stay', () => {
    const m = new PgMasker({ config: config() });
    m.onBackendMessage(bytes.rowDescription([{ name: 'a', typeOid: 790 }, { name: 'b', typeOid: 790 }, { name: 'c', typeOid: 790 }, { name: 'amount', typeOid: 790 }]));
    expect(rows(m.onBackendMessage(bytes.dataRow(['$4,111,111,111,111,111.00', '-4.111.111.111.111.111,00 €', '￥378,282,246,310,005', '$12,345,678.90']))))
      .toEqual([null, null, null, '$12,345,678.90']);
    expect(m.takeCounts()).toEqual({ pan: 3, binary_null: 3 });
  });

  it('binary results and binary COPY: the int8 count of cents of a PAN is NULL, an amount stays', () => {
    const m = new PgMasker({ config: config() });
    m.onBackendMessage(bytes.rowDescription([{ name: 'a', typeOid: 790, format: 1 }, { name: 'amount', typeOid: 790, format: 1 }]));
    const out = rows(m.onBackendMessage(bytes.dataRow([i64(411111111111111100n), i64(1234567890n)])));
    expect(out).toEqual([null, i64(1234567890n).toString('latin1')]);
  });

  it('a binary value of unknown type (no description, binary COPY without types, a record field) that reads as money of a PAN is NULL', () => {
    const m = new PgMasker({ config: config() });
    expect(rows(m.onBackendMessage(bytes.dataRow([i64(411111111111111100n), i64(1234567890n)])))).toEqual([null, i64(1234567890n).toString('latin1')]);
  });

  it('text and CSV COPY: a money field holding a PAN is written as NULL', () => {
    const m = new PgMasker({ config: config() });
    const stmt = { n: 1 };
    m.expectCopy(stmt, [{ name: 'm', typeOid: 790 }, { name: 'id', typeOid: 23 }], { csv: true });
    expect(m.onBackendMessage(bytes.copyData('"$4,111,111,111,111,111.00",7\n'), stmt)!.subarray(5).toString()).toBe(',7\n');
    expect(m.onBackendMessage(bytes.copyData('"$1,250.00",8\n'), stmt)).toBeNull();
  });
});

// range_send: a flags byte, then each bound as Int32 length and the element's binary form; multirange_send:
// Int32 count, then each range with its length. The bounds' type is not in the bytes.
describe('card numbers as bounds of a range or multirange in binary format', () => {
  const i64 = (n: bigint) => { const b = Buffer.alloc(8); b.writeBigInt64BE(n); return b; };
  const i32 = (n: number) => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; };
  const bound = (v: Buffer) => Buffer.concat([i32(v.length), v]);
  const num = Buffer.from([0, 4, 0, 3, 0, 0, 0, 0, 0x10, 0x0f, 0x04, 0x57, 0x04, 0x57, 0x04, 0x57]); // numeric 4111111111111111

  it('int8range, numrange (unbounded above) and int8multirange holding a PAN become NULL; a range of ordinary numbers stays', () => {
    const m = new PgMasker({ config: config() });
    m.onBackendMessage(bytes.rowDescription([{ name: 'r8', typeOid: 3926, format: 1 }, { name: 'rn', typeOid: 3906, format: 1 }, { name: 'mr', typeOid: 4536, format: 1 }, { name: 'ok', typeOid: 3926, format: 1 }]));
    const r8 = Buffer.concat([Buffer.of(0x02), bound(i64(4111111111111111n)), bound(i64(41111111111111110n))]);
    const rn = Buffer.concat([Buffer.of(0x12), bound(num)]);
    const inner = Buffer.concat([Buffer.of(0x02), bound(i64(1n)), bound(i64(4111111111111111n))]);
    const mr = Buffer.concat([i32(2), i32(1), Buffer.of(0x18), i32(inner.length), inner]);
    const ok = Buffer.concat([Buffer.of(0x02), bound(i64(1n)), bound(i64(1000n))]);
    expect(rows(m.onBackendMessage(bytes.dataRow([r8, rn, mr, ok])))).toEqual([null, null, null, ok.toString('latin1')]);
  });

  it('binary COPY with the column types announced: an int8range field holding a PAN is written as NULL', () => {
    const m = new PgMasker({ config: config() });
    const stmt = { n: 1 };
    m.expectCopy(stmt, [{ name: 'r', typeOid: 3926 }]);
    const r8 = Buffer.concat([Buffer.of(0x12), bound(i64(4111111111111111n))]);
    const header = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), i32(0), i32(0)]);
    const out = m.onBackendMessage(bytes.copyData(Buffer.concat([header, Buffer.of(0, 1), bound(r8)])), stmt);
    expect(out!.subarray(5 + header.length + 2).readInt32BE(0)).toBe(-1);
  });
});

// float8_numeric keeps DBL_DIG (15) significant digits: a 16-digit card number kept as double precision and cast
// to numeric loses its check digit to a 0 (or more zeros), which Luhn gives back.
describe('a card number rounded by a float8 to numeric cast', () => {
  it('text and binary numeric: 4111111111111110 and 4111111111111100 are NULL; other 16-digit numbers, amounts and round numbers stay', () => {
    const m = new PgMasker({ config: config() });
    m.onBackendMessage(bytes.rowDescription(['a', 'b', 'c', 'd', 'e', 'f'].map((name) => ({ name, typeOid: 1700 }))));
    // 1234567890123450: no issuer range; 4000000000000000: a round number (15 zeros); 4111111111111110.50 has a fraction part ignored.
    expect(rows(m.onBackendMessage(bytes.dataRow(['4111111111111110', '-4111111111111100', '4111111111111110.00', '1234567890123450', '4000000000000000', '411111111111111']))))
      .toEqual([null, null, null, '1234567890123450', '4000000000000000', '411111111111111']);
    const b = new PgMasker({ config: config() });
    b.onBackendMessage(bytes.rowDescription([{ name: 'n', typeOid: 1700, format: 1 }]));
    // numeric_send of 4111111111111110: ndigits 4, weight 3, sign 0, dscale 0, digits 4111 1111 1111 1110
    const num = Buffer.from([0, 4, 0, 3, 0, 0, 0, 0, 0x10, 0x0f, 0x04, 0x57, 0x04, 0x57, 0x04, 0x56]);
    expect(rows(b.onBackendMessage(bytes.dataRow([num])))).toEqual([null]);
  });
});

// point_send and friends (geo_ops.c): float8 coordinates; path has a closed flag and a count before them,
// polygon a count.
describe('a card number kept as double precision inside a geometric value in binary format', () => {
  const f8 = (x: number) => { const b = Buffer.alloc(8); b.writeDoubleBE(x); return b; };
  it('point, circle and polygon holding a float8 PAN become NULL; ordinary coordinates stay', () => {
    const m = new PgMasker({ config: config() });
    m.onBackendMessage(bytes.rowDescription([{ name: 'p', typeOid: 600, format: 1 }, { name: 'c', typeOid: 718, format: 1 }, { name: 'poly', typeOid: 604, format: 1 }, { name: 'ok', typeOid: 600, format: 1 }]));
    const pan = 4111111111111111;
    const count = Buffer.alloc(4); count.writeInt32BE(2);
    const ok = Buffer.concat([f8(52.52), f8(13.405)]);
    const out = rows(m.onBackendMessage(bytes.dataRow([Buffer.concat([f8(pan), f8(0)]), Buffer.concat([f8(1), f8(pan), f8(1)]), Buffer.concat([count, f8(0), f8(0), f8(1), f8(pan)]), ok])));
    expect(out).toEqual([null, null, null, ok.toString('latin1')]);
  });
});

// Arrays, ranges and multiranges of number types: masked in place their text is no literal of the type
// (`{************1111}`: psycopg's int() and a restore of the dump failed on it), so the whole value is withheld.
describe('card numbers inside arrays and ranges of numbers', () => {
  /** One text-format row of `values` in columns of `types`, as the masker passes it on. */
  const textRow = (types: number[], values: string[]) => {
    const m = new PgMasker({ config: config() });
    m.onBackendMessage(bytes.rowDescription(types.map((typeOid, i) => ({ name: `c${i}`, typeOid }))));
    return rows(m.onBackendMessage(bytes.dataRow(values)));
  };
  /** What a COPY TO of columns `types` passes on for `line` (null: unchanged). */
  const copied = (types: number[], line: string, csv = false) => {
    const m = new PgMasker({ config: config() });
    const stmt = { n: 1 };
    m.expectCopy(stmt, types.map((typeOid, i) => ({ name: `c${i}`, typeOid })), csv ? { csv: true } : undefined);
    return m.onBackendMessage(bytes.copyData(line), stmt)?.subarray(5).toString() ?? null;
  };

  it('text results: an int8[], numeric[], float8[], money[], int8range, numrange or int8multirange holding a PAN is NULL; others stay', () => {
    const values = [
      '{5,4111111111111111}', '{{1.5},{4111111111111111.00}}', '{4.111111111111111e+15}', '{"$4,111,111,111,111,111.00"}',
      '[4111111111111111,4111111111111112)', '(,4111111111111111.5]', '{[1,3),[4111111111111111,4111111111111112)}',
      '{1,2,NULL,1234567890123}', '[5,10)',
    ];
    expect(textRow([1016, 1231, 1022, 791, 3926, 3906, 4536, 1016, 3926], values))
      .toEqual([null, null, null, null, null, null, null, '{1,2,NULL,1234567890123}', '[5,10)']);
  });

  it('text results: an int8range[], numrange[] or int8multirange[] holding a PAN is NULL; one without stays', () => {
    const values = ['{"[4111111111111111,4111111111111112)",empty}', '{"(,4111111111111110]"}', '{"{[1,2),[4111111111111111,)}"}', '{"[1,10)","[20,30)"}'];
    expect(textRow([3927, 3907, 6157, 3927], values)).toEqual([null, null, null, '{"[1,10)","[20,30)"}']);
  });

  it('text results: a numeric[] or numrange holding a card number that went through double precision (check digit rounded to 0) is NULL', () => {
    // No Luhn-valid run for the detector: only numberTextIsPan's reading of a rounded numeric finds it.
    expect(textRow([1231, 3906, 1700], ['{4111111111111110}', '[4111111111111110,)', '4111111111111110'])).toEqual([null, null, null]);
  });

  it('text COPY: an int8[] field holding a PAN is written as NULL, so the dump restores', () => {
    expect(copied([23, 1016], '1\t{4111111111111111,5}\n')).toBe('1\t\\N\n');
    expect(copied([23, 1016], '2\t{5,6}\n')).toBeNull();
  });

  it('CSV COPY: a money[] field holding a PAN (CSV-quoted, its quotes doubled) is written as NULL', () => {
    expect(copied([23, 791], '1,"{""$4,111,111,111,111,111.00"",""$5.00""}"\n', true)).toBe('1,\n');
  });
});
