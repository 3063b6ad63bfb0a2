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
      return v.length === 4 ? String(v.readFloatBE(0)) : undefined;
    case TypeOid.float8:
      return v.length === 8 ? String(v.readDoubleBE(0)) : undefined;
    case TypeOid.text:
    case TypeOid.varchar:
    case TypeOid.bpchar:
    case TypeOid.name:
    case TypeOid.char:
    case TypeOid.json:
      // Binary text is the string's bytes in the client encoding (UTF-8 for pcigate).
      return v.toString('utf8');
    case TypeOid.jsonb:
      // Version byte 1, then the JSON text.
      return v.length >= 1 && v[0] === 1 ? v.subarray(1).toString('utf8') : undefined;
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
      return new Date(PG_EPOCH_MS + days * 86_400_000).toISOString().slice(0, 10);
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
      const iso = new Date(PG_EPOCH_MS + Number(sec) * 1000).toISOString().slice(0, 19).replace('T', ' ');
      return `${iso}.${String(frac).padStart(6, '0')}${typeOid === TypeOid.timestamptz ? '+00' : ''}`;
    }
    default:
      return undefined;
  }
}
