/**
 * Decoders for the backend (server → client) messages pcigate inspects. Each takes a frame's payload.
 * https://www.postgresql.org/docs/current/protocol-message-formats.html
 */
import { ProtocolError } from '../../errors.js';
import { AuthCode, ErrorField } from './codes.js';
import type { ErrorFieldName } from './codes.js';
import type { FormatCode } from './frontend.js';
import { PayloadReader } from './payload-reader.js';

export type AuthenticationMessage =
  | { type: typeof AuthCode.Ok }
  | { type: typeof AuthCode.CleartextPassword }
  | { type: typeof AuthCode.MD5Password; salt: Buffer }
  | { type: typeof AuthCode.SASL; mechanisms: string[] }
  | { type: typeof AuthCode.SASLContinue; data: Buffer }
  | { type: typeof AuthCode.SASLFinal; data: Buffer }
  /** Kerberos, GSS, SSPI: pcigate does not implement them and fails with a clear message. */
  | { type: typeof AuthCode.KerberosV5 | typeof AuthCode.GSS | typeof AuthCode.GSSContinue | typeof AuthCode.SSPI; data: Buffer };

/** Authentication* ('R'). */
export function decodeAuthentication(payload: Buffer): AuthenticationMessage {
  const r = new PayloadReader(payload, 'Authentication');
  const type = r.int32();
  switch (type) {
    case AuthCode.Ok:
    case AuthCode.CleartextPassword:
      r.done();
      return { type };
    case AuthCode.MD5Password: {
      const salt = r.bytes(4);
      r.done();
      return { type, salt };
    }
    case AuthCode.SASL: {
      const mechanisms: string[] = [];
      for (;;) {
        const m = r.cstring();
        if (m === '') break;
        mechanisms.push(m);
      }
      r.done();
      return { type, mechanisms };
    }
    case AuthCode.SASLContinue:
    case AuthCode.SASLFinal:
    case AuthCode.KerberosV5:
    case AuthCode.GSS:
    case AuthCode.GSSContinue:
    case AuthCode.SSPI:
      return { type, data: r.rest() };
    default:
      throw new ProtocolError(`unknown authentication request ${type}`);
  }
}

/** BackendKeyData ('K'): the key is 4 bytes in protocol 3.0, kept as bytes for 3.2's longer keys. */
export function decodeBackendKeyData(payload: Buffer): { pid: number; key: Buffer } {
  const r = new PayloadReader(payload, 'BackendKeyData');
  const pid = r.int32();
  const key = r.rest();
  if (key.length < 4 || key.length > 256) throw new ProtocolError(`invalid cancel key length ${key.length}`);
  return { pid, key };
}

/** ParameterStatus ('S'). */
export function decodeParameterStatus(payload: Buffer): { name: string; value: string } {
  const r = new PayloadReader(payload, 'ParameterStatus');
  const name = r.cstring();
  const value = r.cstring();
  r.done();
  return { name, value };
}

/** ReadyForQuery ('Z'): 'I' idle, 'T' in a transaction, 'E' in a failed transaction. */
export function decodeReadyForQuery(payload: Buffer): { status: 'I' | 'T' | 'E' } {
  const r = new PayloadReader(payload, 'ReadyForQuery');
  const s = String.fromCharCode(r.byte());
  r.done();
  if (s !== 'I' && s !== 'T' && s !== 'E') throw new ProtocolError(`invalid transaction status '${s}'`);
  return { status: s };
}

export interface FieldDescription {
  name: string;
  /** OID of the source table, 0 when the column is not a plain table column. */
  tableOid: number;
  /** Attribute number of the column in that table, 0 otherwise. */
  column: number;
  typeOid: number;
  typeSize: number;
  typeMod: number;
  format: FormatCode;
}

/** RowDescription ('T'). */
export function decodeRowDescription(payload: Buffer): { fields: FieldDescription[] } {
  const r = new PayloadReader(payload, 'RowDescription');
  const n = r.int16();
  if (n < 0) throw new ProtocolError(`negative field count ${n} in RowDescription`);
  const fields = new Array<FieldDescription>(n);
  for (let i = 0; i < n; i++) {
    const name = r.cstring();
    const tableOid = r.uint32();
    const column = r.int16();
    const typeOid = r.uint32();
    const typeSize = r.int16();
    const typeMod = r.int32();
    const f = r.int16();
    if (f !== 0 && f !== 1) throw new ProtocolError(`invalid format code ${f} in RowDescription`);
    fields[i] = { name, tableOid, column, typeOid, typeSize, typeMod, format: f };
  }
  r.done();
  return { fields };
}

/** ParameterDescription ('t'): the parameter type OIDs of a described statement. */
export function decodeParameterDescription(payload: Buffer): { typeOids: number[] } {
  const r = new PayloadReader(payload, 'ParameterDescription');
  const n = r.int16();
  if (n < 0) throw new ProtocolError(`negative parameter count ${n}`);
  const typeOids = new Array<number>(n);
  for (let i = 0; i < n; i++) typeOids[i] = r.uint32();
  r.done();
  return { typeOids };
}

/** DataRow ('D'): column values as views into the payload; null is SQL NULL. */
export function decodeDataRow(payload: Buffer): { values: (Buffer | null)[] } {
  const r = new PayloadReader(payload, 'DataRow');
  const n = r.int16();
  if (n < 0) throw new ProtocolError(`negative column count ${n} in DataRow`);
  const values = new Array<Buffer | null>(n);
  for (let i = 0; i < n; i++) values[i] = r.nullableBytes();
  r.done();
  return { values };
}

/** CommandComplete ('C'): the command tag, e.g. "SELECT 5", "INSERT 0 1", "COPY 3". */
export function decodeCommandComplete(payload: Buffer): { tag: string } {
  const r = new PayloadReader(payload, 'CommandComplete');
  const tag = r.cstring();
  r.done();
  return { tag };
}

/**
 * Split a command tag into the command and its row count (the last number for INSERT/UPDATE/DELETE/
 * SELECT/MOVE/FETCH/COPY/MERGE; undefined for tags without one such as "CREATE TABLE").
 */
export function parseCommandTag(tag: string): { command: string; rows: number | undefined } {
  const m = /^(INSERT \d+|[A-Z ]+?) (\d+)$/.exec(tag);
  if (!m) return { command: tag, rows: undefined };
  const command = m[1]!.startsWith('INSERT') ? 'INSERT' : m[1]!;
  return { command, rows: Number(m[2]) };
}

/** ErrorResponse / NoticeResponse fields by name; unknown field codes are kept under their letter. */
export type NoticeFields = Partial<Record<ErrorFieldName, string>> & Record<string, string | undefined>;

const fieldNameByCode = new Map<number, string>(Object.entries(ErrorField).map(([k, v]) => [v, k]));

/** ErrorResponse ('E') and NoticeResponse ('N'): all fields. */
export function decodeNotice(payload: Buffer): NoticeFields {
  const r = new PayloadReader(payload, 'ErrorResponse');
  const out: NoticeFields = {};
  for (;;) {
    const t = r.byte();
    if (t === 0) break;
    out[fieldNameByCode.get(t) ?? String.fromCharCode(t)] = r.cstring();
  }
  r.done();
  return out;
}

/** NotificationResponse ('A'): LISTEN/NOTIFY delivery. */
export function decodeNotification(payload: Buffer): { pid: number; channel: string; payload: string } {
  const r = new PayloadReader(payload, 'NotificationResponse');
  const pid = r.int32();
  const channel = r.cstring();
  const body = r.cstring();
  r.done();
  return { pid, channel, payload: body };
}

/** CopyInResponse ('G'), CopyOutResponse ('H'), CopyBothResponse ('W'). */
export function decodeCopyResponse(payload: Buffer): { format: FormatCode; columnFormats: FormatCode[] } {
  const r = new PayloadReader(payload, 'CopyResponse');
  const f = r.byte();
  if (f !== 0 && f !== 1) throw new ProtocolError(`invalid COPY format ${f}`);
  const columnFormats = r.int16Array().map((v) => {
    if (v !== 0 && v !== 1) throw new ProtocolError(`invalid COPY column format ${v}`);
    return v;
  });
  r.done();
  return { format: f, columnFormats };
}

/** FunctionCallResponse ('V'): the result, null for SQL NULL. */
export function decodeFunctionCallResponse(payload: Buffer): { value: Buffer | null } {
  const r = new PayloadReader(payload, 'FunctionCallResponse');
  const value = r.nullableBytes();
  r.done();
  return { value };
}

/** NegotiateProtocolVersion ('v'): the newest minor version the server supports and options it did not know. */
export function decodeNegotiateProtocolVersion(payload: Buffer): { minor: number; unrecognized: string[] } {
  const r = new PayloadReader(payload, 'NegotiateProtocolVersion');
  const minor = r.int32();
  const n = r.int32();
  if (n < 0) throw new ProtocolError(`negative option count ${n}`);
  const unrecognized: string[] = [];
  for (let i = 0; i < n; i++) unrecognized.push(r.cstring());
  r.done();
  return { minor, unrecognized };
}
