/**
 * The few wire-level pieces the proxy needs on its hot path: message codes, startup request codes,
 * and builders for the messages pcigate itself originates (errors, authentication, ReadyForQuery,
 * BackendKeyData). Everything pcigate does not originate is forwarded as the original bytes.
 *
 * PostgreSQL protocol 3.0: https://www.postgresql.org/docs/current/protocol-message-formats.html
 */

/** Frontend message codes (first byte of a typed frontend message). */
export const FE = {
  Bind: 0x42, // 'B'
  Close: 0x43, // 'C'
  CopyData: 0x64, // 'd'
  CopyDone: 0x63, // 'c'
  CopyFail: 0x66, // 'f'
  Describe: 0x44, // 'D'
  Execute: 0x45, // 'E'
  Flush: 0x48, // 'H'
  FunctionCall: 0x46, // 'F'
  Parse: 0x50, // 'P'
  Password: 0x70, // 'p' (also SASLInitialResponse, SASLResponse)
  Query: 0x51, // 'Q'
  Sync: 0x53, // 'S'
  Terminate: 0x58, // 'X'
} as const;

/** Backend message codes (first byte of a backend message). */
export const BE = {
  Authentication: 0x52, // 'R'
  BackendKeyData: 0x4b, // 'K'
  BindComplete: 0x32, // '2'
  CloseComplete: 0x33, // '3'
  CommandComplete: 0x43, // 'C'
  CopyBothResponse: 0x57, // 'W'
  CopyData: 0x64, // 'd'
  CopyDone: 0x63, // 'c'
  CopyInResponse: 0x47, // 'G'
  CopyOutResponse: 0x48, // 'H'
  DataRow: 0x44, // 'D'
  EmptyQueryResponse: 0x49, // 'I'
  ErrorResponse: 0x45, // 'E'
  FunctionCallResponse: 0x56, // 'V'
  NegotiateProtocolVersion: 0x76, // 'v'
  NoData: 0x6e, // 'n'
  NoticeResponse: 0x4e, // 'N'
  NotificationResponse: 0x41, // 'A'
  ParameterDescription: 0x74, // 't'
  ParameterStatus: 0x53, // 'S'
  ParseComplete: 0x31, // '1'
  PortalSuspended: 0x73, // 's'
  ReadyForQuery: 0x5a, // 'Z'
  RowDescription: 0x54, // 'T'
} as const;

/** Request codes carried in the second Int32 of an untyped startup-phase message (§55.2.1, §55.2.10). */
export const STARTUP_CODE = {
  Protocol30: 196608, // 3 << 16
  CancelRequest: 80877102,
  SSLRequest: 80877103,
  GSSENCRequest: 80877104,
} as const;

/** Authentication request subtypes ('R' messages). */
export const AUTH = {
  Ok: 0,
  CleartextPassword: 3,
  MD5Password: 5,
  SASL: 10,
  SASLContinue: 11,
  SASLFinal: 12,
} as const;


/** A typed message: code byte, Int32 length (including itself), body. */
export function typed(code: number, body: Uint8Array = new Uint8Array(0)): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = code;
  out.writeInt32BE(4 + body.length, 1);
  out.set(body, 5);
  return out;
}

/** A NUL-terminated UTF-8 string; lengths from Buffer.byteLength, never string.length. */
export function cstr(s: string): Buffer {
  const b = Buffer.allocUnsafe(Buffer.byteLength(s) + 1);
  b.write(s, 0, 'utf8');
  b[b.length - 1] = 0;
  return b;
}

export function int32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeInt32BE(n, 0);
  return b;
}

/** Fields of an ErrorResponse/NoticeResponse as pcigate builds them (§55.8). */
export interface ErrorFields {
  severity: 'ERROR' | 'FATAL' | 'NOTICE' | 'WARNING';
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

/** ErrorResponse ('E') or, with `notice`, NoticeResponse ('N'). Both S and V carry the severity. */
export function errorMessage(f: ErrorFields, notice = false): Buffer {
  const parts: Buffer[] = [
    Buffer.from('S'), cstr(f.severity),
    Buffer.from('V'), cstr(f.severity),
    Buffer.from('C'), cstr(f.code),
    Buffer.from('M'), cstr(f.message),
  ];
  if (f.detail) parts.push(Buffer.from('D'), cstr(f.detail));
  if (f.hint) parts.push(Buffer.from('H'), cstr(f.hint));
  parts.push(Buffer.from([0]));
  return typed(notice ? BE.NoticeResponse : BE.ErrorResponse, Buffer.concat(parts));
}

export function readyForQuery(status: number): Buffer {
  return typed(BE.ReadyForQuery, Buffer.from([status]));
}

export function authRequest(kind: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  return typed(BE.Authentication, Buffer.concat([int32(kind), payload]));
}

export function backendKeyData(pid: number, secret: number): Buffer {
  return typed(BE.BackendKeyData, Buffer.concat([int32(pid), int32(secret)]));
}

/** NegotiateProtocolVersion ('v'): newest minor we speak and the `_pq_.` options we do not. */
export function negotiateProtocolVersion(minor: number, unsupported: string[]): Buffer {
  return typed(BE.NegotiateProtocolVersion, Buffer.concat([int32(minor), int32(unsupported.length), ...unsupported.map(cstr)]));
}

/** Reads a NUL-terminated string at `off`; returns the string and the offset after the NUL. */
export function readCString(buf: Uint8Array, off: number, end = buf.length): [string, number] {
  let i = off;
  while (i < end && buf[i] !== 0) i++;
  if (i >= end) throw new RangeError('unterminated string');
  return [Buffer.from(buf.buffer, buf.byteOffset + off, i - off).toString('utf8'), i + 1];
}

/** Parses the fields of an ErrorResponse/NoticeResponse body into a map keyed by field letter. */
export function parseErrorFields(body: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  let off = 0;
  while (off < body.length && body[off] !== 0) {
    const key = String.fromCharCode(body[off]!);
    const [val, next] = readCString(body, off + 1);
    out.set(key, val);
    off = next;
  }
  return out;
}
