/** Property tests (fast-check): random message streams framed identically under random splits; round trips. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MessageFramer } from '../../../src/pg/protocol/message-framer.js';
import type { Frame } from '../../../src/pg/protocol/message-framer.js';
import * as P from '../../../src/pg/protocol/index.js';
import { bytes } from '../../harness/pg-bytes.js';

const value = fc.oneof(fc.constant(null), fc.string({ unit: 'binary' }), fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)));
const message = fc.oneof(
  fc.string({ unit: 'binary' }).filter((s) => !s.includes('\0')).map((s) => bytes.query(s)),
  fc.array(value, { maxLength: 20 }).map((v) => bytes.dataRow(v)),
  fc.uint8Array({ maxLength: 70_000 }).map((a) => bytes.copyData(Buffer.from(a))),
  fc.constantFrom(bytes.sync(), bytes.readyForQuery('T'), bytes.commandComplete('SELECT 1'), bytes.parseComplete()),
);

describe('codec properties', () => {
  it('any message stream cut anywhere yields the same frames', () => {
    fc.assert(fc.property(fc.array(message, { minLength: 1, maxLength: 30 }), fc.array(fc.nat(), { maxLength: 40 }), (msgs, cutsRaw) => {
      const stream = Buffer.concat(msgs);
      const cuts = [...new Set(cutsRaw.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
      const framer = new MessageFramer();
      const out: Buffer[] = [];
      let prev = 0;
      for (const c of [...cuts, stream.length]) {
        framer.push(Buffer.from(stream.subarray(prev, c)));
        prev = c;
        let f: Frame | undefined;
        while ((f = framer.next())) out.push(f.bytes);
      }
      expect(out.length).toBe(msgs.length);
      out.forEach((b, i) => expect(b.equals(msgs[i]!)).toBe(true));
      expect(framer.buffered).toBe(0);
    }), { numRuns: 200 });
  });

  it('DataRow and Bind round-trip', () => {
    fc.assert(fc.property(fc.array(value, { maxLength: 30 }), (values) => {
      const enc = P.encodeDataRow(values);
      expect(enc.equals(bytes.dataRow(values))).toBe(true);
      const dec = P.decodeDataRow(enc.subarray(5)).values;
      expect(dec.map((v) => (v === null ? null : v.toString('hex')))).toEqual(values.map((v) => (v === null ? null : Buffer.from(v).toString('hex'))));
      const bind = P.decodeBind(P.encodeBind({ portal: 'p', statement: 's', params: values, paramFormats: [1] }).subarray(5));
      expect(bind.params.length).toBe(values.length);
      expect(P.bindParamFormat(bind, values.length)).toBe(1);
    }));
  });
});
