/** renderBinaryValue on the binary send formats (integration: test/integration/pg-upstream.test.ts checks real server bytes). */
import { describe, expect, it } from 'vitest';
import { renderBinaryValue, TypeOid } from '../../../src/pg/protocol/binary-values.js';

const hex = (h: string): Buffer => Buffer.from(h, 'hex');

describe('renderBinaryValue', () => {
  it('renders integers, floats, booleans and oids', () => {
    expect(renderBinaryValue(TypeOid.int2, hex('fffe'))).toBe('-2');
    expect(renderBinaryValue(TypeOid.int4, hex('0000002a'))).toBe('42');
    expect(renderBinaryValue(TypeOid.int8, hex('7fffffffffffffff'))).toBe('9223372036854775807');
    expect(renderBinaryValue(TypeOid.float8, hex('400921fb54442d18'))).toBe(String(Math.PI));
    expect(renderBinaryValue(TypeOid.float4, hex('3fc00000'))).toBe('1.5');
    expect(renderBinaryValue(TypeOid.bool, hex('01'))).toBe('t');
    expect(renderBinaryValue(TypeOid.bool, hex('00'))).toBe('f');
    expect(renderBinaryValue(TypeOid.oid, hex('ffffffff'))).toBe('4294967295');
  });

  it('renders text-like types, jsonb and uuid', () => {
    expect(renderBinaryValue(TypeOid.text, Buffer.from('naïve'))).toBe('naïve');
    expect(renderBinaryValue(TypeOid.jsonb, Buffer.concat([hex('01'), Buffer.from('{"a": 1}')]))).toBe('{"a": 1}');
    expect(renderBinaryValue(TypeOid.uuid, hex('a0eebc999c0b4ef8bb6d6bb9bd380a11'))).toBe('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
  });

  it('renders dates and timestamps relative to 2000-01-01', () => {
    expect(renderBinaryValue(TypeOid.date, hex('00000000'))).toBe('2000-01-01');
    expect(renderBinaryValue(TypeOid.date, hex('ffffffff'))).toBe('1999-12-31');
    expect(renderBinaryValue(TypeOid.date, hex('7fffffff'))).toBe('infinity');
    // 2026-11-22 12:00:00.123456 UTC = 848664000123456 µs after 2000-01-01
    const ts = Buffer.alloc(8);
    ts.writeBigInt64BE(BigInt(Date.UTC(2026, 10, 22, 12) - Date.UTC(2000, 0, 1)) * 1000n + 123456n);
    expect(renderBinaryValue(TypeOid.timestamptz, ts)).toBe('2026-11-22 12:00:00.123456+00');
    expect(renderBinaryValue(TypeOid.timestamp, ts)).toBe('2026-11-22 12:00:00.123456');
    expect(renderBinaryValue(TypeOid.timestamp, hex('ffffffffffffffff'))).toBe('1999-12-31 23:59:59.999999');
  });

  it('leaves values a Date cannot hold, and text that is not UTF-8, to the caller instead of throwing', () => {
    expect(renderBinaryValue(TypeOid.date, hex('7ffffffe'))).toBeUndefined();
    expect(renderBinaryValue(TypeOid.timestamp, hex('7ffffffffffffffe'))).toBeUndefined();
    expect(renderBinaryValue(TypeOid.text, hex('c328'))).toBeUndefined();
    expect(renderBinaryValue(TypeOid.text, Buffer.from('a \uFFFD b'))).toBe('a \uFFFD b');
  });

  it('leaves unknown types and wrong lengths to the caller', () => {
    expect(renderBinaryValue(TypeOid.int4, hex('00'))).toBeUndefined();
    expect(renderBinaryValue(TypeOid.bytea, hex('00'))).toBeUndefined();
    expect(renderBinaryValue(1700 /* numeric */, hex('0000'))).toBeUndefined();
  });
});
