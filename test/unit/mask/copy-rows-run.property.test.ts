/**
 * A COPY TO's text rows read as one run (PgMasker.onRows, where rows with nothing to mask are searched in place:
 * #plainCopyRow) come out byte for byte as each row masked alone (onBackendMessage, every row through #copyData),
 * with the same counts: random rows of card numbers in every form the masker reads (plain, spaced, hex of a bytea,
 * `\u` escapes, LATIN1 no-break spaces, float and grouped prints, track data), hex and ordinary text, NULLs and rows
 * that begin as binary COPY's signature does; with no announced columns, plain ones, a column rule, a number
 * column, CSV with a header; in a UTF-8 session and a LATIN1 one.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PgMasker } from '../../../src/mask/pg-masker.js';
import type { PgMaskerOptions } from '../../../src/mask/pg-masker.js';
import { bytes } from '../../harness/pg-bytes.js';

const config = (over: Partial<PgMaskerOptions['config']> = {}): PgMaskerOptions['config'] => ({ format: 'last4', networks: 'major', rules: [], sad_columns: [], ...over });

const fragment = fc.constantFrom(
  '4111111111111111', '4111 1111 1111 1111', '\\\\x34313131313131313131313131313131', '\\\\x0cc175b9c0f1b6a831c399e269772661',
  '0cc175b9c0f1b6a831c399e269772661', '\\\\u0034\\\\u0031\\\\u0031\\\\u0031\\\\u0031\\\\u0031\\\\u0031\\\\u0031\\\\u0031\\\\u0031\\\\u0031\\\\u0031\\\\u0031\\\\u0031\\\\u0031\\\\u0031',
  '4111\xa01111\xa01111\xa01111', 'caf\xe9', '4.111111111111111e+15', '$4,111,111,111,111,111.00', ';4111111111111111=2512101?',
  'a\\\\"b', '\\\\N', 'PGCOPY', '12345', '2026-12-07 19:00', ' ', '',
);
const field = fc.array(fragment, { maxLength: 3 }).map((f) => f.join(''));
const row = fc.tuple(field, field, field).map(([a, b, c]) => `${a}\t${b}\t${c}\n`);

type Setup = { columns?: Array<{ name: string; typeOid?: number }>; rules?: PgMaskerOptions['config']['rules']; csv?: boolean; header?: boolean };
const setups: Setup[] = [
  {},
  { columns: [{ name: 'a', typeOid: 23 }, { name: 'b', typeOid: 25 }, { name: 'c', typeOid: 17 }] },
  { columns: [{ name: 'a', typeOid: 23 }, { name: 'b', typeOid: 25 }, { name: 'c', typeOid: 25 }], csv: true, header: true },
  { columns: [{ name: 'a', typeOid: 25 }, { name: 'b', typeOid: 20 }, { name: 'c', typeOid: 25 }] },
  { columns: [{ name: 'a', typeOid: 25 }, { name: 'note', typeOid: 25 }, { name: 'c', typeOid: 25 }], rules: [{ name: 'notes', columns: ['note'], format: 'null' }] },
];

function masker(s: Setup, encoding: string): PgMasker {
  const m = new PgMasker({ config: config(s.rules ? { rules: s.rules } : {}) });
  m.onBackendMessage(bytes.parameterStatus('client_encoding', encoding));
  const stmt = STMT;
  if (s.columns) m.expectCopy(stmt, s.columns, { ...(s.csv ? { csv: true } : {}), ...(s.header ? { header: true } : {}) });
  m.onBackendMessage(bytes.copyOutResponse(0, [0, 0, 0]), stmt);
  return m;
}
const STMT = { n: 1 };

describe('COPY TO rows read as a run', () => {
  it('come out as each row masked alone, with the same counts', () => {
    fc.assert(fc.property(fc.array(row, { minLength: 1, maxLength: 12 }), fc.constantFrom(...setups.keys()), fc.constantFrom('UTF8', 'LATIN1'), (texts, k, encoding) => {
      const s = setups[k]!;
      const frames = texts.map((t) => bytes.copyData(Buffer.from(s.csv ? t.replaceAll('\t', ',') : t, 'latin1')));
      const one = masker(s, encoding);
      const alone = frames.map((f) => one.onBackendMessage(f, STMT) ?? f);
      const run = masker(s, encoding);
      // The run inside a larger buffer, as the framer's: a backslash after it is not its rows'.
      const tail = bytes.copyData('\\u0034');
      const buf = Buffer.concat([bytes.commandComplete('x'), ...frames, tail]);
      const from = bytes.commandComplete('x').length;
      const out = run.onRows(buf, from, buf.length - tail.length, STMT);
      expect((out ? Buffer.concat(out) : buf.subarray(from, buf.length - tail.length)).toString('latin1')).toBe(Buffer.concat(alone).toString('latin1'));
      expect(run.takeCounts()).toEqual(one.takeCounts());
    }), { numRuns: 400 });
  });
});
