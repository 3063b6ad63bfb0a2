/**
 * Decoders for the frontend (client → server) messages pcigate inspects, and encoders for the ones it sends
 * upstream itself. Each decoder takes a frame's payload (after the length).
 * https://www.postgresql.org/docs/current/protocol-message-formats.html
 */
import { ProtocolError } from '../../errors.js';
import { FrontendCode } from './codes.js';
import { MessageWriter } from './message-writer.js';
import { PayloadReader } from './payload-reader.js';

/** Format codes: 0 text, 1 binary. */
export type FormatCode = 0 | 1;

function format(v: number, what: string): FormatCode {
  if (v !== 0 && v !== 1) throw new ProtocolError(`invalid format code ${v} in ${what}`);
  return v;
}

/** Query ('Q'): a simple-protocol query string (may hold several statements). */
export function decodeQuery(payload: Buffer): { sql: string } {
  const r = new PayloadReader(payload, 'Query');
  const sql = r.cstring();
  r.done();
  return { sql };
}

export interface ParseMessage {
  /** Prepared statement name; '' is the unnamed statement. */
  name: string;
  sql: string;
  /** Parameter type OIDs the client specified (0 = unspecified). */
  paramTypes: number[];
}

/** Parse ('P'). */
export function decodeParse(payload: Buffer): ParseMessage {
  const r = new PayloadReader(payload, 'Parse');
  const name = r.cstring();
  const sql = r.cstring();
  const n = r.int16();
  if (n < 0) throw new ProtocolError(`negative parameter count ${n} in Parse`);
  const paramTypes = new Array<number>(n);
  for (let i = 0; i < n; i++) paramTypes[i] = r.uint32();
  r.done();
  return { name, sql, paramTypes };
}

export interface BindMessage {
  portal: string;
  statement: string;
  /** As sent: empty (all text), one (applies to all), or one per parameter. */
  paramFormats: FormatCode[];
  /** Values as views into the payload; null is SQL NULL. */
  params: (Buffer | null)[];
  resultFormats: FormatCode[];
}

/** Bind ('B'). */
export function decodeBind(payload: Buffer): BindMessage {
  const r = new PayloadReader(payload, 'Bind');
  const portal = r.cstring();
  const statement = r.cstring();
  const paramFormats = r.int16Array().map((v) => format(v, 'Bind'));
  const n = r.int16();
  if (n < 0) throw new ProtocolError(`negative parameter count ${n} in Bind`);
  if (paramFormats.length > 1 && paramFormats.length !== n) {
    throw new ProtocolError(`Bind has ${paramFormats.length} parameter formats for ${n} parameters`);
  }
  const params = new Array<Buffer | null>(n);
  for (let i = 0; i < n; i++) params[i] = r.nullableBytes();
  const resultFormats = r.int16Array().map((v) => format(v, 'Bind'));
  r.done();
  return { portal, statement, paramFormats, params, resultFormats };
}

/** The format of parameter `i` of a Bind, applying the protocol's 0/1/N rule. */
export function bindParamFormat(bind: Pick<BindMessage, 'paramFormats'>, i: number): FormatCode {
  const f = bind.paramFormats;
  if (f.length === 0) return 0;
  if (f.length === 1) return f[0]!;
  return f[i] ?? 0;
}

/** Describe ('D') and Close ('C'): 'S' for a prepared statement, 'P' for a portal. */
export function decodeTarget(payload: Buffer, what: 'Describe' | 'Close'): { kind: 'S' | 'P'; name: string } {
  const r = new PayloadReader(payload, what);
  const k = String.fromCharCode(r.byte());
  if (k !== 'S' && k !== 'P') throw new ProtocolError(`invalid ${what} target '${k}'`);
  const name = r.cstring();
  r.done();
  return { kind: k, name };
}

/** Execute ('E'): `maxRows` 0 means no limit; otherwise the portal may answer PortalSuspended. */
export function decodeExecute(payload: Buffer): { portal: string; maxRows: number } {
  const r = new PayloadReader(payload, 'Execute');
  const portal = r.cstring();
  const maxRows = r.int32();
  r.done();
  return { portal, maxRows };
}

/** CopyData ('d', either direction): the data as a view. */
export function decodeCopyData(payload: Buffer): { data: Buffer } {
  return { data: payload };
}

/** CopyFail ('f'). */
export function decodeCopyFail(payload: Buffer): { message: string } {
  const r = new PayloadReader(payload, 'CopyFail');
  const message = r.cstring();
  r.done();
  return { message };
}

export interface FunctionCallMessage {
  oid: number;
  argFormats: FormatCode[];
  args: (Buffer | null)[];
  resultFormat: FormatCode;
}

/** FunctionCall ('F'): the legacy fast-path interface (lo_* functions use it). */
export function decodeFunctionCall(payload: Buffer): FunctionCallMessage {
  const r = new PayloadReader(payload, 'FunctionCall');
  const oid = r.uint32();
  const argFormats = r.int16Array().map((v) => format(v, 'FunctionCall'));
  const n = r.int16();
  if (n < 0) throw new ProtocolError(`negative argument count ${n} in FunctionCall`);
  const args = new Array<Buffer | null>(n);
  for (let i = 0; i < n; i++) args[i] = r.nullableBytes();
  const resultFormat = format(r.int16(), 'FunctionCall');
  r.done();
  return { oid, argFormats, args, resultFormat };
}

/** PasswordMessage ('p' answering AuthenticationCleartextPassword or AuthenticationMD5Password). */
export function decodePasswordMessage(payload: Buffer): { password: string } {
  const r = new PayloadReader(payload, 'PasswordMessage');
  const password = r.cstring();
  r.done();
  return { password };
}

/** SASLInitialResponse ('p' answering AuthenticationSASL): the mechanism and client-first-message. */
export function decodeSASLInitialResponse(payload: Buffer): { mechanism: string; data: Buffer | null } {
  const r = new PayloadReader(payload, 'SASLInitialResponse');
  const mechanism = r.cstring();
  const data = r.nullableBytes();
  r.done();
  return { mechanism, data };
}

/** SASLResponse ('p' answering AuthenticationSASLContinue): the client-final-message. */
export function decodeSASLResponse(payload: Buffer): { data: Buffer } {
  return { data: payload };
}

// ---- encoders for what pcigate sends upstream ----

const w = new MessageWriter(1024);

/** Query ('Q'). */
export function encodeQuery(sql: string): Buffer {
  return w.begin(FrontendCode.Query).cstring(sql).end().take();
}

/** Parse ('P'). */
export function encodeParse(m: ParseMessage): Buffer {
  w.begin(FrontendCode.Parse).cstring(m.name).cstring(m.sql).int16(m.paramTypes.length);
  for (const t of m.paramTypes) w.uint32(t);
  return w.end().take();
}

/** Bind ('B'); values given as strings are written as UTF-8. */
export function encodeBind(m: { portal?: string; statement?: string; paramFormats?: FormatCode[];
  params: (Uint8Array | string | null)[]; resultFormats?: FormatCode[] }): Buffer {
  const pf = m.paramFormats ?? [];
  const rf = m.resultFormats ?? [];
  w.begin(FrontendCode.Bind).cstring(m.portal ?? '').cstring(m.statement ?? '').int16(pf.length);
  for (const f of pf) w.int16(f);
  w.int16(m.params.length);
  for (const p of m.params) w.nullableBytes(p);
  w.int16(rf.length);
  for (const f of rf) w.int16(f);
  return w.end().take();
}

/** Describe ('D') or Close ('C'). */
export function encodeTarget(code: typeof FrontendCode.Describe | typeof FrontendCode.Close, kind: 'S' | 'P', name: string): Buffer {
  return w.begin(code).byte(kind.charCodeAt(0)).cstring(name).end().take();
}

/** Execute ('E'). */
export function encodeExecute(portal = '', maxRows = 0): Buffer {
  return w.begin(FrontendCode.Execute).cstring(portal).int32(maxRows).end().take();
}

/** FunctionCall ('F'). */
export function encodeFunctionCall(m: FunctionCallMessage): Buffer {
  w.begin(FrontendCode.FunctionCall).uint32(m.oid).int16(m.argFormats.length);
  for (const f of m.argFormats) w.int16(f);
  w.int16(m.args.length);
  for (const a of m.args) w.nullableBytes(a);
  return w.int16(m.resultFormat).end().take();
}

/** CopyData ('d'), either direction. */
export function encodeCopyData(data: Uint8Array | string): Buffer {
  return w.begin(FrontendCode.CopyData).bytes(data).end().take();
}

/** CopyFail ('f'). */
export function encodeCopyFail(message: string): Buffer {
  return w.begin(FrontendCode.CopyFail).cstring(message).end().take();
}

/** PasswordMessage ('p') with a cleartext password or an md5 hash ("md5…"). */
export function encodePasswordMessage(password: string): Buffer {
  return w.begin(FrontendCode.Password).cstring(password).end().take();
}

/** SASLInitialResponse ('p'). */
export function encodeSASLInitialResponse(mechanism: string, data: Uint8Array | string): Buffer {
  return w.begin(FrontendCode.Password).cstring(mechanism).nullableBytes(data).end().take();
}

/** SASLResponse ('p'). */
export function encodeSASLResponse(data: Uint8Array | string): Buffer {
  return w.begin(FrontendCode.Password).bytes(data).end().take();
}

/** Constant messages, built once. */
export const SYNC: Buffer = Buffer.from([FrontendCode.Sync, 0, 0, 0, 4]);
export const FLUSH: Buffer = Buffer.from([FrontendCode.Flush, 0, 0, 0, 4]);
export const TERMINATE: Buffer = Buffer.from([FrontendCode.Terminate, 0, 0, 0, 4]);
export const COPY_DONE: Buffer = Buffer.from([FrontendCode.CopyDone, 0, 0, 0, 4]);
