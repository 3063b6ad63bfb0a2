/**
 * Untyped startup-phase packets: StartupMessage, SSLRequest, GSSENCRequest, CancelRequest.
 * https://www.postgresql.org/docs/current/protocol-message-formats.html
 * https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-START-UP
 *
 * The framer returns them as frames with code 0 when the session step says a startup packet comes next
 * (`MessageFramer.expectStartup()`); decodeStartupPacket says which one it is.
 */
import { ProtocolError } from '../../errors.js';
import { StartupCode } from './codes.js';
import { MessageWriter } from './message-writer.js';
import { PayloadReader } from './payload-reader.js';

export type StartupPacket =
  | { kind: 'ssl' }
  | { kind: 'gssenc' }
  /** `key` is 4 bytes in protocol 3.0 (and up to 256 in 3.2): kept as bytes. */
  | { kind: 'cancel'; pid: number; key: Buffer }
  | {
      kind: 'startup';
      /** 3 for protocol 3.x. */
      major: number;
      minor: number;
      /** `user`, `database`, `options`, `application_name`, `_pq_.*` protocol options, … in order. */
      params: Record<string, string>;
    };

/**
 * Decode the payload (after the Int32 length) of a startup-phase packet.
 * @throws ProtocolError for an unknown request code, an unsupported major version or a malformed body.
 */
export function decodeStartupPacket(payload: Buffer): StartupPacket {
  const r = new PayloadReader(payload, 'startup packet');
  const code = r.int32();
  switch (code) {
    case StartupCode.SSLRequest:
      r.done();
      return { kind: 'ssl' };
    case StartupCode.GSSENCRequest:
      r.done();
      return { kind: 'gssenc' };
    case StartupCode.CancelRequest: {
      const pid = r.int32();
      const key = r.rest();
      if (key.length < 4 || key.length > 256) throw new ProtocolError(`invalid cancel key length ${key.length}`);
      return { kind: 'cancel', pid, key };
    }
    default: {
      const major = code >>> 16;
      const minor = code & 0xffff;
      if (major !== 3) {
        throw new ProtocolError(`unsupported frontend protocol ${major}.${minor}: pcigate supports protocol 3`);
      }
      const params: Record<string, string> = Object.create(null) as Record<string, string>;
      for (;;) {
        const name = r.cstring();
        if (name === '') break;
        params[name] = r.cstring();
      }
      r.done();
      if (params.user === undefined || params.user === '') {
        throw new ProtocolError('no PostgreSQL user name specified in startup packet');
      }
      return { kind: 'startup', major, minor, params };
    }
  }
}

const w = new MessageWriter(256);

/** A StartupMessage for protocol 3.`minor` (default 3.0) with the given parameters (`user` is required). */
export function encodeStartupMessage(params: Readonly<Record<string, string>>, minor = 0): Buffer {
  w.begin(0).int32((3 << 16) | minor);
  for (const [k, v] of Object.entries(params)) w.cstring(k).cstring(v);
  return w.byte(0).end().take();
}

/** SSLRequest: ask the server to start TLS; it answers one byte, 'S' or 'N'. */
export const SSL_REQUEST: Buffer = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

/** GSSENCRequest: ask for GSSAPI encryption; pcigate answers 'N'. */
export const GSSENC_REQUEST: Buffer = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30]);

/** One-byte answers to SSLRequest / GSSENCRequest. */
export const SSL_ACCEPT: Buffer = Buffer.from('S');
export const SSL_REFUSE: Buffer = Buffer.from('N');

/** CancelRequest for backend `pid` with its secret `key` (from BackendKeyData). */
export function encodeCancelRequest(pid: number, key: Uint8Array): Buffer {
  return w.begin(0).int32(StartupCode.CancelRequest).int32(pid).bytes(key).end().take();
}
