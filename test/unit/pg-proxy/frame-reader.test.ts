/** FrameReader: every message split at every offset yields the same frames; limits are enforced. */
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../../src/errors.js';
import { FrameReader } from '../../../src/pg/proxy/frame-reader.js';
import { BE, errorMessage, readyForQuery, typed } from '../../../src/pg/proxy/wire.js';

function dataRow(values: (string | null)[]): Buffer {
  const parts: Buffer[] = [Buffer.from([values.length >> 8, values.length & 0xff])];
  for (const v of values) {
    const len = Buffer.alloc(4);
    if (v === null) { len.writeInt32BE(-1); parts.push(len); continue; }
    const b = Buffer.from(v);
    len.writeInt32BE(b.length);
    parts.push(len, b);
  }
  return typed(BE.DataRow, Buffer.concat(parts));
}

const stream = Buffer.concat([
  dataRow(['4111111111111111', null, 'é ünïcode']),
  typed(BE.CommandComplete, Buffer.from('SELECT 1\0')),
  errorMessage({ severity: 'ERROR', code: '42501', message: 'denied' }),
  typed(BE.NoData),
  readyForQuery(0x49),
]);

function drain(r: FrameReader, startup = false): Buffer[] {
  const out: Buffer[] = [];
  for (let f = r.next(startup); f; f = r.next(startup)) out.push(Buffer.from(f));
  return out;
}

describe('FrameReader', () => {
  const whole = drain(Object.assign(new FrameReader(1 << 20), {}), false);
  it('frames a whole stream', () => {
    const r = new FrameReader(1 << 20);
    r.push(stream);
    const frames = drain(r);
    expect(frames.map((f) => String.fromCharCode(f[0]!))).toEqual(['D', 'C', 'E', 'n', 'Z']);
    expect(Buffer.concat(frames)).toEqual(stream);
    expect(whole).toEqual([]);
  });

  it('yields the same frames when the stream is split at every pair of offsets', () => {
    const ref = (() => { const r = new FrameReader(1 << 20); r.push(stream); return drain(r); })();
    for (let i = 0; i <= stream.length; i++) {
      for (let j = i; j <= stream.length; j += 5) {
        const r = new FrameReader(1 << 20);
        const got: Buffer[] = [];
        for (const part of [stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)]) {
          if (part.length === 0) continue;
          r.push(Buffer.from(part));
          got.push(...drain(r));
        }
        expect(got).toEqual(ref);
        expect(r.buffered).toBe(0);
      }
    }
  });

  it('feeds one byte at a time', () => {
    const r = new FrameReader(1 << 20);
    const got: Buffer[] = [];
    for (const b of stream) { r.push(Buffer.from([b])); got.push(...drain(r)); }
    expect(Buffer.concat(got)).toEqual(stream);
  });

  it('frames untyped startup packets when told to', () => {
    const ssl = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
    const r = new FrameReader(1 << 20);
    r.push(ssl.subarray(0, 3));
    expect(r.next(true)).toBeNull();
    r.push(ssl.subarray(3));
    expect(r.next(true)).toEqual(ssl);
  });

  it('rejects a frame above the maximum and a length below the minimum', () => {
    const big = Buffer.from([0x44, 0x7f, 0xff, 0xff, 0xff]);
    const r = new FrameReader(1024);
    r.push(big);
    expect(() => r.next()).toThrow(ProtocolError);
    const tiny = new FrameReader(1024);
    tiny.push(Buffer.from([0x44, 0, 0, 0, 2]));
    expect(() => tiny.next()).toThrow(ProtocolError);
  });

  it('returns views of the pushed chunk when a frame is whole (no copy)', () => {
    const r = new FrameReader(1 << 20);
    const chunk = Buffer.from(stream);
    r.push(chunk);
    const f = r.next()!;
    expect(f.buffer).toBe(chunk.buffer);
  });
});
