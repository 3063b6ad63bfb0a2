/**
 * The client-facing start of a session, framed by step (§55.2.1 Start-up, §55.2.10 SSL, §55.2.11 GSSAPI
 * encryption): SSLRequest answered 'N' (or TLS when the listener has a certificate), GSSENCRequest 'N',
 * CancelRequest handed back to the caller, a direct-TLS first byte refused, StartupMessage 3.0 (newer
 * minors and `_pq_.` options negotiated down with NegotiateProtocolVersion), then the listener secret
 * checked with SCRAM-SHA-256 (§55.3.1) from pcigate's side.
 */
import type net from 'node:net';
import tls from 'node:tls';
import { DirectTlsRefused, ProtocolError } from '../../errors.js';
import { Limits } from '../protocol/codes.js';
import { isSplittingEncoding, startupSetting } from '../protocol/startup-params.js';
import { FrameReader } from './frame-reader.js';
import { FrameWaiter } from './frame-waiter.js';
import { ScramServer, type ScramVerifier } from './scram.js';
import {
  AUTH, FE, STARTUP_CODE, authRequest, cstr, errorMessage, negotiateProtocolVersion,
  readCString, type ErrorFields,
} from './wire.js';

/** What the client asked for in its StartupMessage. */
export interface StartupInfo {
  user: string;
  database: string;
  /** Parameters passed through upstream (application_name, client_encoding, options, …). */
  params: Record<string, string>;
  tls: boolean;
}

export type LocalOutcome =
  | { kind: 'session'; socket: net.Socket; reader: FrameReader; startup: StartupInfo }
  | { kind: 'cancel'; pid: number; secret: number }
  | { kind: 'refused'; reason: string; authFailed?: StartupInfo; error?: ErrorFields };

export interface LocalAuthOptions {
  verifier: ScramVerifier;
  /** Present when the listener runs with --tls. */
  tls?: tls.SecureContext;
  timeoutMs?: number;
}

/** Parameters never passed upstream: identity and routing come from the broker, not the client. */
const NOT_FORWARDED = new Set(['user', 'database', 'replication']);

/** Sends a FATAL error the client can show, then closes (§55.2.1: errors during start-up are FATAL). */
function refuse(socket: net.Socket, f: Omit<ErrorFields, 'severity'>): void {
  socket.end(errorMessage({ severity: 'FATAL', ...f }));
}

/** Runs the local side until the client is authenticated, cancels, or is refused. Never throws. */
export async function acceptLocal(raw: net.Socket, opts: LocalAuthOptions): Promise<LocalOutcome> {
  let socket: net.Socket = raw;
  const reader = new FrameReader(Limits.frontend, 'client');
  const waiter = new FrameWaiter(socket, reader, 'client');
  const timer = setTimeout(() => socket.destroy(), opts.timeoutMs ?? 60_000);
  try {
    let isTls = false;
    let startup: StartupInfo;
    for (;;) {
      // A TLS ClientHello (0x16) where a startup packet belongs: a PG17 client with sslnegotiation=direct.
      let f: Buffer;
      try {
        f = await waiter.next(true);
      } catch (e) {
        if (!(e instanceof DirectTlsRefused)) throw e;
        const error = { code: '08P01', message: 'pcigate does not accept direct TLS (sslnegotiation=direct); connect with sslnegotiation=postgres' };
        refuse(socket, error);
        return { kind: 'refused', reason: 'direct TLS first byte', error: { severity: 'FATAL', ...error } };
      }
      const code = f.readInt32BE(4);
      if (code === STARTUP_CODE.SSLRequest && f.length === 8 && !isTls) {
        if (!opts.tls) { socket.write('N'); continue; }
        // Bytes after SSLRequest but before the handshake would be injectable in clear (CVE-2021-23214).
        if (reader.buffered > 0) throw new ProtocolError('data received after SSLRequest before TLS handshake');
        waiter.detach();
        socket.write('S');
        const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: opts.tls });
        secure.setNoDelay(true);
        socket = secure;
        waiter.attach(secure);
        isTls = true;
        continue;
      }
      if (code === STARTUP_CODE.GSSENCRequest && f.length === 8) { socket.write('N'); continue; }
      if (code === STARTUP_CODE.CancelRequest && f.length === 16) {
        socket.end();
        return { kind: 'cancel', pid: f.readInt32BE(8), secret: f.readInt32BE(12) };
      }
      const major = code >>> 16;
      const minor = code & 0xffff;
      if (major !== 3) {
        const error = { code: '08P01', message: `unsupported frontend protocol ${major}.${minor}: pcigate speaks 3.0` };
        refuse(socket, error);
        return { kind: 'refused', reason: error.message };
      }
      const all: Record<string, string> = {};
      for (let off = 8; off < f.length - 1;) {
        const [k, next] = readCString(f, off);
        const [v, after] = readCString(f, next);
        all[k] = v;
        off = after;
      }
      const user = all.user ?? '';
      if (!user) {
        const error = { code: '28000', message: 'no PostgreSQL user name specified in startup packet' };
        refuse(socket, error);
        return { kind: 'refused', reason: error.message };
      }
      if (all.replication !== undefined && !/^(false|off|no|0)$/i.test(all.replication)) {
        const error = { code: '0A000', message: 'replication connections are not supported through pcigate' };
        refuse(socket, error);
        return { kind: 'refused', reason: error.message };
      }
      const encoding = startupSetting(all, 'client_encoding');
      if (encoding !== undefined && isSplittingEncoding(encoding)) {
        // Policy reads statements as UTF-8; in this encoding the server would split the same bytes into
        // other statements (startup-params.ts). `SET client_encoding` to it is refused by policy likewise.
        const error = { code: '0A000', message: `client_encoding ${encoding} is not supported through pcigate: its characters can end in a byte that reads as a quote or backslash; use UTF8` };
        refuse(socket, error);
        return { kind: 'refused', reason: error.message };
      }
      const params: Record<string, string> = {};
      const unsupported: string[] = [];
      for (const [k, v] of Object.entries(all)) {
        if (k.startsWith('_pq_.')) unsupported.push(k);
        else if (!NOT_FORWARDED.has(k)) params[k] = v;
      }
      if (minor > 0 || unsupported.length > 0) socket.write(negotiateProtocolVersion(0, unsupported));
      startup = { user, database: all.database ?? user, params, tls: isTls };
      break;
    }

    socket.write(authRequest(AUTH.SASL, Buffer.concat([cstr('SCRAM-SHA-256'), Buffer.from([0])])));
    const initial = await waiter.next();
    if (initial[0] !== FE.Password) throw new ProtocolError('expected SASLInitialResponse');
    const [mechanism, off] = readCString(initial, 5);
    if (mechanism !== 'SCRAM-SHA-256') {
      const error = { code: '28000', message: `SASL mechanism ${mechanism} is not supported` };
      refuse(socket, error);
      return { kind: 'refused', reason: error.message, authFailed: startup };
    }
    const len = initial.readInt32BE(off);
    const scram = new ScramServer(opts.verifier);
    const serverFirst = scram.first(initial.subarray(off + 4, off + 4 + len).toString('utf8'));
    socket.write(authRequest(AUTH.SASLContinue, Buffer.from(serverFirst)));
    const response = await waiter.next();
    if (response[0] !== FE.Password) throw new ProtocolError('expected SASLResponse');
    const serverFinal = scram.final(response.subarray(5).toString('utf8'));
    if (serverFinal === null) {
      const error = { code: '28P01', message: `password authentication failed for user "${startup.user}"` };
      refuse(socket, error);
      return { kind: 'refused', reason: 'wrong listener secret', authFailed: startup, error: { severity: 'FATAL', ...error } };
    }
    socket.write(authRequest(AUTH.SASLFinal, Buffer.from(serverFinal)));
    socket.write(authRequest(AUTH.Ok));
    waiter.detach();
    return { kind: 'session', socket, reader, startup };
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    if (e instanceof ProtocolError && !socket.destroyed) refuse(socket, { code: '08P01', message: 'invalid startup or authentication message' });
    else socket.destroy();
    waiter.detach();
    return { kind: 'refused', reason };
  } finally {
    clearTimeout(timer);
  }
}
