/**
 * Encoders for the backend messages pcigate itself sends to a client (it plays the server on the listener).
 * https://www.postgresql.org/docs/current/protocol-message-formats.html
 */
import { AuthCode, BackendCode, ErrorField } from './codes.js';
import type { ErrorFieldName, SqlStateCode } from './codes.js';
import type { FormatCode } from './frontend.js';
import { MessageWriter } from './message-writer.js';

const w = new MessageWriter(1024);

const constant = (code: number, ...payload: number[]): Buffer =>
  Buffer.from([code, 0, 0, 0, 4 + payload.length, ...payload]);

/** Constant messages, built once. */
export const AUTH_OK: Buffer = Buffer.from([BackendCode.Authentication, 0, 0, 0, 8, 0, 0, 0, AuthCode.Ok]);
export const AUTH_CLEARTEXT: Buffer = Buffer.from([BackendCode.Authentication, 0, 0, 0, 8, 0, 0, 0, AuthCode.CleartextPassword]);
export const READY_IDLE: Buffer = constant(BackendCode.ReadyForQuery, 'I'.charCodeAt(0));
export const READY_IN_TX: Buffer = constant(BackendCode.ReadyForQuery, 'T'.charCodeAt(0));
export const READY_FAILED: Buffer = constant(BackendCode.ReadyForQuery, 'E'.charCodeAt(0));
export const PARSE_COMPLETE: Buffer = constant(BackendCode.ParseComplete);
export const BIND_COMPLETE: Buffer = constant(BackendCode.BindComplete);
export const CLOSE_COMPLETE: Buffer = constant(BackendCode.CloseComplete);
export const NO_DATA: Buffer = constant(BackendCode.NoData);
export const PORTAL_SUSPENDED: Buffer = constant(BackendCode.PortalSuspended);
export const EMPTY_QUERY_RESPONSE: Buffer = constant(BackendCode.EmptyQueryResponse);
export const COPY_DONE_BACKEND: Buffer = constant(BackendCode.CopyDone);

/** ReadyForQuery ('Z') for a transaction status. */
export function encodeReadyForQuery(status: 'I' | 'T' | 'E'): Buffer {
  return status === 'I' ? READY_IDLE : status === 'T' ? READY_IN_TX : READY_FAILED;
}

/** Fields of an ErrorResponse / NoticeResponse built by pcigate: severity, a real SQLSTATE and a message at least. */
export type NoticeInput = { severity: 'ERROR' | 'FATAL' | 'PANIC' | 'WARNING' | 'NOTICE' | 'DEBUG' | 'INFO' | 'LOG';
  code: SqlStateCode | string; message: string } & Partial<Record<Exclude<ErrorFieldName, 'severity' | 'code' | 'message'>, string>>;

function notice(code: number, f: NoticeInput): Buffer {
  w.begin(code);
  w.byte(ErrorField.severity).cstring(f.severity);
  // The non-localized severity lets clients (libpq ≥ 9.6) branch on it whatever lc_messages says.
  w.byte(ErrorField.severityV).cstring(f.severityV ?? f.severity);
  w.byte(ErrorField.code).cstring(f.code);
  w.byte(ErrorField.message).cstring(f.message);
  for (const [name, value] of Object.entries(f)) {
    if (value === undefined || name === 'severity' || name === 'severityV' || name === 'code' || name === 'message') continue;
    const fc = ErrorField[name as ErrorFieldName];
    if (fc !== undefined) w.byte(fc).cstring(value);
  }
  return w.byte(0).end().take();
}

/** ErrorResponse ('E'). */
export function encodeErrorResponse(fields: NoticeInput): Buffer {
  return notice(BackendCode.ErrorResponse, fields);
}

/** NoticeResponse ('N'). */
export function encodeNoticeResponse(fields: NoticeInput): Buffer {
  return notice(BackendCode.NoticeResponse, fields);
}

/** AuthenticationMD5Password ('R' 5) with a 4-byte salt. */
export function encodeAuthMD5(salt: Uint8Array): Buffer {
  return w.begin(BackendCode.Authentication).int32(AuthCode.MD5Password).bytes(salt).end().take();
}

/** AuthenticationSASL ('R' 10) offering mechanisms (pcigate offers SCRAM-SHA-256). */
export function encodeAuthSASL(mechanisms: readonly string[] = ['SCRAM-SHA-256']): Buffer {
  w.begin(BackendCode.Authentication).int32(AuthCode.SASL);
  for (const m of mechanisms) w.cstring(m);
  return w.byte(0).end().take();
}

/** AuthenticationSASLContinue ('R' 11) carrying server-first-message. */
export function encodeAuthSASLContinue(data: Uint8Array | string): Buffer {
  return w.begin(BackendCode.Authentication).int32(AuthCode.SASLContinue).bytes(data).end().take();
}

/** AuthenticationSASLFinal ('R' 12) carrying server-final-message. */
export function encodeAuthSASLFinal(data: Uint8Array | string): Buffer {
  return w.begin(BackendCode.Authentication).int32(AuthCode.SASLFinal).bytes(data).end().take();
}

/** BackendKeyData ('K'). */
export function encodeBackendKeyData(pid: number, key: Uint8Array): Buffer {
  return w.begin(BackendCode.BackendKeyData).int32(pid).bytes(key).end().take();
}

/** ParameterStatus ('S'). */
export function encodeParameterStatus(name: string, value: string): Buffer {
  return w.begin(BackendCode.ParameterStatus).cstring(name).cstring(value).end().take();
}

/** CommandComplete ('C'). */
export function encodeCommandComplete(tag: string): Buffer {
  return w.begin(BackendCode.CommandComplete).cstring(tag).end().take();
}

/**
 * DataRow ('D'), e.g. re-encoded after masking. Sized exactly up front and written once: the hot path
 * for masked results must not grow buffers per column.
 */
export function encodeDataRow(values: readonly (Uint8Array | string | null)[]): Buffer {
  let size = 1 + 4 + 2;
  for (const v of values) size += 4 + (v === null ? 0 : typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : v.length);
  const out = Buffer.allocUnsafe(size);
  out[0] = BackendCode.DataRow;
  out.writeInt32BE(size - 1, 1);
  out.writeInt16BE(values.length, 5);
  let p = 7;
  for (const v of values) {
    if (v === null) {
      out.writeInt32BE(-1, p);
      p += 4;
    } else if (typeof v === 'string') {
      const n = out.write(v, p + 4, 'utf8');
      out.writeInt32BE(n, p);
      p += 4 + n;
    } else {
      out.writeInt32BE(v.length, p);
      out.set(v, p + 4);
      p += 4 + v.length;
    }
  }
  return out;
}

/** RowDescription ('T'), for answers pcigate builds itself. */
export function encodeRowDescription(fields: readonly { name: string; tableOid?: number; column?: number; typeOid: number;
  typeSize?: number; typeMod?: number; format?: FormatCode }[]): Buffer {
  w.begin(BackendCode.RowDescription).int16(fields.length);
  for (const f of fields) {
    w.cstring(f.name).uint32(f.tableOid ?? 0).int16(f.column ?? 0).uint32(f.typeOid).int16(f.typeSize ?? -1)
      .int32(f.typeMod ?? -1).int16(f.format ?? 0);
  }
  return w.end().take();
}

/** NotificationResponse ('A'). */
export function encodeNotification(pid: number, channel: string, payload: string): Buffer {
  return w.begin(BackendCode.NotificationResponse).int32(pid).cstring(channel).cstring(payload).end().take();
}

/** CopyInResponse ('G') / CopyOutResponse ('H') / CopyBothResponse ('W'). */
export function encodeCopyResponse(code: typeof BackendCode.CopyInResponse | typeof BackendCode.CopyOutResponse | typeof BackendCode.CopyBothResponse,
  format: FormatCode, columnFormats: readonly FormatCode[]): Buffer {
  w.begin(code).byte(format).int16(columnFormats.length);
  for (const f of columnFormats) w.int16(f);
  return w.end().take();
}

/** CopyData ('d') from the server side. */
export function encodeCopyDataBackend(data: Uint8Array | string): Buffer {
  return w.begin(BackendCode.CopyData).bytes(data).end().take();
}

/** FunctionCallResponse ('V'). */
export function encodeFunctionCallResponse(value: Uint8Array | string | null): Buffer {
  return w.begin(BackendCode.FunctionCallResponse).nullableBytes(value).end().take();
}

/** ParameterDescription ('t'). */
export function encodeParameterDescription(typeOids: readonly number[]): Buffer {
  w.begin(BackendCode.ParameterDescription).int16(typeOids.length);
  for (const t of typeOids) w.uint32(t);
  return w.end().take();
}

/** NegotiateProtocolVersion ('v'). */
export function encodeNegotiateProtocolVersion(minor: number, unrecognized: readonly string[]): Buffer {
  w.begin(BackendCode.NegotiateProtocolVersion).int32(minor).int32(unrecognized.length);
  for (const o of unrecognized) w.cstring(o);
  return w.end().take();
}
