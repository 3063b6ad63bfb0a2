/**
 * Decoders for the frontend messages the proxy must understand to know what is executed: Query, Parse,
 * Bind, Execute, Close, FunctionCall (§55.7 Message Formats). Everything else is forwarded undecoded.
 * Each takes the whole frame (code byte + Int32 length + body).
 *
 * A message cut short or missing a string's terminator cannot be judged (policy would decide on a guess of
 * what the server reads): ClientViolation, which ends the session with FATAL 08P01. What does parse but the
 * server refuses anyway (bytes after the last field, a parameter count its formats do not match) goes on to the
 * server, which answers with its own error, as it would directly.
 */
import { ProtocolError } from '../../errors.js';
import type { BindParam } from './hooks.js';
import { readCString } from './wire.js';

/** A client message pcigate cannot read (ends the session with FATAL 08P01; the message says only what is wrong). */
export class ClientViolation extends ProtocolError {}

/** Runs a decoder; a read past the end of the message (Buffer's RangeError, readCString's) is a ClientViolation. */
function decoding<T>(what: string, decode: () => T): T {
  try {
    return decode();
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new ClientViolation(`${what} message ${e.message === 'unterminated string' ? 'with a string that does not end' : 'cut short'}`, { cause: e });
  }
}

export function decodeQuery(f: Buffer): string {
  return decoding('Query', () => readCString(f, 5)[0]);
}

export function decodeParse(f: Buffer): { name: string; sql: string; types: number[] } {
  return decoding('Parse', () => parse(f));
}

function parse(f: Buffer): { name: string; sql: string; types: number[] } {
  const [name, off] = readCString(f, 5);
  const [sql, at] = readCString(f, off);
  // Int16 count, then one Int32 type OID per parameter (0: left to the server).
  const n = at + 2 <= f.length ? f.readInt16BE(at) : 0;
  const types: number[] = [];
  for (let i = 0; i < n && at + 6 + 4 * i <= f.length; i++) types.push(f.readUInt32BE(at + 2 + 4 * i));
  return { name, sql, types };
}

export interface BindMessage {
  portal: string;
  statement: string;
  params: BindParam[];
  /** Result-column format codes: none (all text), one (for all) or one per column. */
  resultFormats: number[];
}

/** Bind: portal, statement, parameter format codes, parameter values, result format codes. */
export function decodeBind(f: Buffer): BindMessage {
  return decoding('Bind', () => bind(f));
}

function bind(f: Buffer): BindMessage {
  let [portal, off] = readCString(f, 5);
  const [statement, off2] = readCString(f, off);
  off = off2;
  const nFormats = f.readInt16BE(off);
  off += 2;
  const formats: number[] = [];
  for (let i = 0; i < nFormats; i++, off += 2) formats.push(f.readInt16BE(off));
  const nParams = f.readInt16BE(off);
  off += 2;
  const params: BindParam[] = [];
  for (let i = 0; i < nParams; i++) {
    const len = f.readInt32BE(off);
    off += 4;
    if (len < 0) { params.push(null); continue; }
    // One format code applies to all parameters; none means all text (§55.7 Bind).
    const fmt = nFormats === 0 ? 0 : nFormats === 1 ? formats[0] : formats[i];
    const value = f.subarray(off, off + len);
    off += len;
    params.push(fmt === 1 ? { format: 'binary', value: Uint8Array.from(value) } : { format: 'text', value: value.toString('utf8') });
  }
  const resultFormats: number[] = [];
  const nResults = off + 2 <= f.length ? f.readInt16BE(off) : 0;
  for (let i = 0, at = off + 2; i < nResults && at + 2 <= f.length; i++, at += 2) resultFormats.push(f.readInt16BE(at));
  return { portal, statement, params, resultFormats };
}

export function decodeExecute(f: Buffer): { portal: string; maxRows: number } {
  return decoding('Execute', () => {
    const [portal, off] = readCString(f, 5);
    return { portal, maxRows: f.readInt32BE(off) };
  });
}

/** Close and Describe share a layout: Byte1 'S' (statement) or 'P' (portal), then the name. */
export function decodeTarget(f: Buffer): { kind: 'S' | 'P'; name: string } {
  return decoding(f[0] === 0x43 ? 'Close' : 'Describe', () => {
    if (f.length < 6) throw new RangeError('no target');
    return { kind: f[5] === 0x53 ? 'S' : 'P', name: readCString(f, 6)[0] };
  });
}

/**
 * FunctionCall: the function's OID, and its first argument's bytes (null: NULL) when the message holds one whole
 * (lo_read's large-object descriptor, lo-read.ts). The rest is the server's to judge.
 */
export function decodeFunctionCall(f: Buffer): { oid: number; firstArg?: Buffer | null } {
  return decoding('FunctionCall', () => {
    const oid = f.readInt32BE(5);
    // Int16 count of format codes, the codes, Int16 count of arguments, then each: Int32 length (-1: NULL), bytes.
    if (f.length < 11) return { oid };
    const at = 11 + 2 * Math.max(0, f.readInt16BE(9));
    if (at + 6 > f.length || f.readInt16BE(at) < 1) return { oid };
    const len = f.readInt32BE(at + 2);
    if (len < 0) return { oid, firstArg: null };
    return at + 6 + len <= f.length ? { oid, firstArg: Buffer.from(f.subarray(at + 6, at + 6 + len)) } : { oid };
  });
}

/** Rows counted from a CommandComplete tag: the last number of `INSERT 0 5`, `SELECT 3`, `COPY 7` … */
export function tagRows(tag: string): number {
  const m = / (\d+)$/.exec(tag);
  return m ? Number(m[1]) : 0;
}
