/**
 * Rendering of binary-format values (Bind parameters, DataRow columns with format 1) for the common
 * built-in types, so a recorder can show `42` instead of `0000002a`. Binary send/recv formats:
 * https://www.postgresql.org/docs/current/protocol-overview.html#PROTOCOL-FORMAT-CODES and the types'
 * `*send` functions in the server source. Unknown types are left to the caller (undefined).
 */

/** OIDs of built-in types (pg_type.oid; stable across PostgreSQL versions). */
export const TypeOid = {
  bool: 16,
  bytea: 17,
  char: 18,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  oid: 26,
  json: 114,
  float4: 700,
  float8: 701,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  timestamp: 1114,
  timestamptz: 1184,
  numeric: 1700,
  uuid: 2950,
  jsonb: 3802,
} as const;

const PG_EPOCH_MS = Date.UTC(2000, 0, 1);

/**
 * A binary value of type `typeOid` as text, or undefined when the type is not one of the built-ins
 * handled here or the length does not fit the type (the caller then shows it as hex, as for bytea).
 */
export function renderBinaryValue(typeOid: number, v: Buffer): string | undefined {
  switch (typeOid) {
    case TypeOid.bool:
      return v.length === 1 ? (v[0] ? 't' : 'f') : undefined;
    case TypeOid.int2:
      return v.length === 2 ? String(v.readInt16BE(0)) : undefined;
    case TypeOid.int4:
      return v.length === 4 ? String(v.readInt32BE(0)) : undefined;
    case TypeOid.oid:
      return v.length === 4 ? String(v.readUInt32BE(0)) : undefined;
    case TypeOid.int8:
      return v.length === 8 ? v.readBigInt64BE(0).toString() : undefined;
    case TypeOid.float4:
      return v.length === 4 ? float4Text(v.readFloatBE(0)) : undefined;
    case TypeOid.float8:
      return v.length === 8 ? String(v.readDoubleBE(0)) : undefined;
    case TypeOid.text:
    case TypeOid.varchar:
    case TypeOid.bpchar:
    case TypeOid.name:
    case TypeOid.char:
    case TypeOid.json:
      // Binary text is the string's bytes in the client encoding (UTF-8 for pcigate).
      return utf8(v);
    case TypeOid.jsonb:
      // Version byte 1, then the JSON text.
      return v.length >= 1 && v[0] === 1 ? utf8(v.subarray(1)) : undefined;
    case TypeOid.numeric:
      return numericText(v);
    case TypeOid.uuid: {
      if (v.length !== 16) return undefined;
      const h = v.toString('hex');
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    }
    case TypeOid.date: {
      if (v.length !== 4) return undefined;
      const days = v.readInt32BE(0);
      if (days === 0x7fffffff) return 'infinity';
      if (days === -0x80000000) return '-infinity';
      return isoOf(PG_EPOCH_MS + days * 86_400_000)?.slice(0, 10);
    }
    case TypeOid.timestamp:
    case TypeOid.timestamptz: {
      if (v.length !== 8) return undefined;
      const us = v.readBigInt64BE(0);
      if (us === 0x7fffffffffffffffn) return 'infinity';
      if (us === -0x8000000000000000n) return '-infinity';
      // Floor division: a negative value (before 2000) still has a non-negative fraction of a second.
      let sec = us / 1_000_000n;
      let frac = us % 1_000_000n;
      if (frac < 0n) { sec -= 1n; frac += 1_000_000n; }
      const iso = isoOf(PG_EPOCH_MS + Number(sec) * 1000)?.slice(0, 19).replace('T', ' ');
      return iso && `${iso}.${String(frac).padStart(6, '0')}${typeOid === TypeOid.timestamptz ? '+00' : ''}`;
    }
    default:
      return undefined;
  }
}

/**
 * ISO 8601 for years 1–9999, else undefined (shown as hex): BC and far-future values are rare, and an int32
 * of days or an int64 of microseconds from a client can lie outside what a JavaScript Date holds at all.
 */
function isoOf(ms: number): string | undefined {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return undefined;
  const y = d.getUTCFullYear();
  return y < 1 || y > 9999 ? undefined : d.toISOString();
}

/** UTF-8 text, or undefined when the bytes are not valid UTF-8 (the caller shows hex). */
function utf8(v: Buffer): string | undefined {
  const s = v.toString('utf8');
  return s.includes('\uFFFD') && !v.includes(REPLACEMENT) ? undefined : s;
}
const REPLACEMENT = Buffer.from('\uFFFD', 'utf8');

/** The fewest significant digits that read back as the same float4 (what float4out prints since 12). */
function float4Text(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  for (let p = 1; p < 9; p++) {
    const t = Number(x.toPrecision(p));
    if (Math.fround(t) === x) return String(t);
  }
  return String(x);
}

/**
 * numeric_send: Int16 ndigits, Int16 weight, UInt16 sign (0x0000 +, 0x4000 −, 0xC000 NaN, 0xD000 Infinity,
 * 0xF000 −Infinity), Int16 dscale, then ndigits base-10000 digits, the first worth 10000^weight.
 */
function numericText(v: Buffer): string | undefined {
  if (v.length < 8) return undefined;
  const ndigits = v.readInt16BE(0);
  const weight = v.readInt16BE(2);
  const sign = v.readUInt16BE(4);
  const dscale = v.readInt16BE(6);
  if (ndigits < 0 || v.length !== 8 + 2 * ndigits || dscale < 0) return undefined;
  if (sign === 0xc000) return 'NaN';
  if (sign === 0xd000) return 'Infinity';
  if (sign === 0xf000) return '-Infinity';
  if (sign !== 0 && sign !== 0x4000) return undefined;
  const digit = (i: number) => (i >= 0 && i < ndigits ? v.readInt16BE(8 + 2 * i) : 0);
  for (let i = 0; i < ndigits; i++) if (digit(i) < 0 || digit(i) > 9999) return undefined;
  let int = '';
  for (let i = 0; i <= weight; i++) int += i === 0 ? String(digit(i)) : String(digit(i)).padStart(4, '0');
  let frac = '';
  for (let i = weight + 1; frac.length < dscale; i++) frac += String(digit(i)).padStart(4, '0');
  const body = `${int || '0'}${dscale > 0 ? `.${frac.slice(0, dscale)}` : ''}`;
  return sign === 0x4000 && /[1-9]/.test(body) ? `-${body}` : body;
}
