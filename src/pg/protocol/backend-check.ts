/**
 * backendMessageProblem(): whether a server message after the start of a session has a layout PostgreSQL can
 * send. https://www.postgresql.org/docs/current/protocol-message-formats.html
 *
 * The proxy forwards most server messages as the original bytes, and only those it hands to the masking hooks
 * are read by them. A server that is hostile or broken (or a man in the middle of an unencrypted upstream) could
 * hide data where nobody reads it: in a message type that does not exist, in bytes behind a ParseComplete or a
 * CommandComplete tag, in a DataRow holding more values than it counts. A client library might show them all
 * the same. So every message is checked before anything else sees it: a type the server sends after startup,
 * and a body that is exactly what its type holds. Startup-only messages (Authentication, BackendKeyData,
 * NegotiateProtocolVersion) are a problem here too: they have no meaning mid-session.
 *
 * Cost: a switch on the type byte; a DataRow walks its value lengths (the masker walks them again, reading the
 * values), a RowDescription its field names. Nothing is copied.
 */
import { BackendCode } from './codes.js';

/** The end of the NUL-terminated string starting at `at` (the offset after its NUL), or -1 when it does not end before `end`. */
function cstringEnd(f: Buffer, at: number, end: number): number {
  const z = f.indexOf(0, at);
  return z < 0 || z >= end ? -1 : z + 1;
}

/** Int16 count at `at` (>= 0) or -1 when missing or negative. */
function count16(f: Buffer, at: number): number {
  return at + 2 <= f.length ? f.readInt16BE(at) : -1;
}

/** ErrorResponse / NoticeResponse: (field type byte, string)* then a single NUL, which is the last byte. */
function fieldsProblem(f: Buffer): string | null {
  let at = 5;
  while (at < f.length && f[at] !== 0) {
    at = cstringEnd(f, at + 1, f.length);
    if (at < 0) return 'a field that does not end';
  }
  return at === f.length - 1 ? null : 'no terminator after its fields';
}

/** RowDescription: Int16 count, then per field a name and 18 bytes (table, column, type, size, modifier, format). */
function rowDescriptionProblem(f: Buffer): string | null {
  const n = count16(f, 5);
  if (n < 0) return 'a missing or negative field count';
  let at = 7;
  for (let i = 0; i < n; i++) {
    at = cstringEnd(f, at, f.length);
    if (at < 0 || at + 18 > f.length) return `field ${i + 1} of ${n} cut short`;
    at += 18;
  }
  return at === f.length ? null : `${f.length - at} bytes after its ${n} fields`;
}

/** DataRow: Int16 count, then per value an Int32 length (-1 for NULL) and that many bytes. */
function dataRowProblem(f: Buffer): string | null {
  const n = count16(f, 5);
  if (n < 0) return 'a missing or negative column count';
  const end = dataRowEnd(f, 0, f.length);
  if (end >= 0) return end === f.length ? null : `${f.length - end} bytes after its ${n} values`;
  const i = -end;
  return badLength === undefined ? `value ${i} of ${n} missing` : `value ${i} of ${n} has length ${badLength} with ${f.length - badAt} bytes left`;
}

/** Set by dataRowEnd when a value does not fit: its length (undefined: no length word) and where its bytes start. */
let badLength: number | undefined;
let badAt = 0;

/**
 * Where the values of the DataRow at b[s, e) end (its Int16 count at s + 5, values from s + 7), or, when one does not
 * fit, minus its number (1-based; badLength and badAt say how), or 0 when the count is missing or negative.
 * Read by hand: it runs once per row of a large result.
 */
function dataRowEnd(b: Buffer, s: number, e: number): number {
  if (s + 7 > e) return 0;
  const n = (b[s + 5]! << 8) | b[s + 6]!;
  if (n & 0x8000) return 0;
  let at = s + 7;
  for (let i = 0; i < n; i++) {
    if (at + 4 > e) { badLength = undefined; return -(i + 1); }
    const len = (b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!;
    at += 4;
    if (len < -1 || at + Math.max(len, 0) > e) { badLength = len; badAt = at; return -(i + 1); }
    if (len > 0) at += len;
  }
  return at;
}

/** Whether the DataRow at b[s, e) (a whole frame) is one the server can send (backendMessageProblem's check, in place). */
export function dataRowFits(b: Buffer, s: number, e: number): boolean {
  return dataRowEnd(b, s, e) === e;
}

/** Strings one after the other filling the body exactly (CommandComplete: 1; ParameterStatus: 2). */
function stringsProblem(f: Buffer, at: number, n: number): string | null {
  for (let i = 0; i < n; i++) {
    at = cstringEnd(f, at, f.length);
    if (at < 0) return 'a string that does not end';
  }
  return at === f.length ? null : `${f.length - at} bytes after its strings`;
}

const B = BackendCode;

/**
 * Why `f` (a whole frame: type byte, Int32 length, body; the framer has checked that the length is the frame's)
 * cannot be a server message of an established session, or null when it can. The reason names the layout
 * problem only, never the message's contents: it may be shown to the client and logged.
 */
export function backendMessageProblem(f: Buffer): string | null {
  const code = f[0]!;
  const body = f.length - 5;
  const name = `'${code >= 0x20 && code < 0x7f ? String.fromCharCode(code) : `\\x${code.toString(16).padStart(2, '0')}`}'`;
  let why: string | null;
  switch (code) {
    case B.DataRow: why = dataRowProblem(f); break;
    case B.CopyData: return null;
    case B.CommandComplete: why = stringsProblem(f, 5, 1); break;
    case B.ReadyForQuery:
      why = body !== 1 ? `a body of ${body} bytes` : f[5] === 0x49 || f[5] === 0x54 || f[5] === 0x45 ? null : 'an unknown transaction status';
      break;
    case B.ParseComplete: case B.BindComplete: case B.CloseComplete: case B.NoData: case B.PortalSuspended:
    case B.EmptyQueryResponse: case B.CopyDone:
      why = body === 0 ? null : `a body of ${body} bytes where there is none`;
      break;
    case B.RowDescription: why = rowDescriptionProblem(f); break;
    case B.ErrorResponse: case B.NoticeResponse: why = fieldsProblem(f); break;
    case B.ParameterStatus: why = stringsProblem(f, 5, 2); break;
    case B.NotificationResponse: why = body < 4 ? 'no process ID' : stringsProblem(f, 9, 2); break;
    case B.ParameterDescription: {
      const n = count16(f, 5);
      why = n >= 0 && body === 2 + 4 * n ? null : 'a parameter count that does not fit its body';
      break;
    }
    case B.CopyInResponse: case B.CopyOutResponse: case B.CopyBothResponse: {
      const n = count16(f, 6);
      why = body >= 1 && (f[5] === 0 || f[5] === 1) && n >= 0 && body === 3 + 2 * n ? null : 'a format or column count that does not fit its body';
      break;
    }
    case B.FunctionCallResponse: {
      const len = body >= 4 ? f.readInt32BE(5) : -2;
      why = len === -1 ? (body === 4 ? null : 'bytes after a NULL result') : len >= 0 && body === 4 + len ? null : 'a result length that does not fit its body';
      break;
    }
    case B.Authentication: case B.BackendKeyData: case B.NegotiateProtocolVersion:
      return `${name} (${code === B.Authentication ? 'an authentication request' : code === B.BackendKeyData ? 'BackendKeyData' : 'NegotiateProtocolVersion'}) after the session started`;
    default:
      return `${name}, which is no server message type`;
  }
  return why === null ? null : `message ${name} with ${why}`;
}
