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
import { decodeSASLInitialResponse } from '../protocol/frontend.js';
import { isSplittingEncoding, startupSetting } from '../protocol/startup-params.js';
import { FrameReader } from './frame-reader.js';
import { FrameWaiter } from './frame-waiter.js';
import { ScramServer, type ScramVerifier } from './scram.js';
import {
  AUTH, FE, STARTUP_CODE, authRequest, cstr, errorMessage, negotiateProtocolVersion,
  type ErrorFields,
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

/**
 * The name/value pairs of a StartupMessage (after its Int32 length and protocol version): NUL-terminated
 * strings in pairs, then one more NUL as the packet's last byte (§55.7 StartupMessage), or null when the packet
 * is laid out otherwise (PostgreSQL: "invalid startup packet layout: expected terminator as last byte").
 */
function startupParams(f: Buffer): Record<string, string> | null {
  const all: Record<string, string> = {};
  let off = 8;
  while (off < f.length && f[off] !== 0) {
    const k = f.indexOf(0, off);
    const v = k < 0 ? -1 : f.indexOf(0, k + 1);
    if (v < 0) return null;
    all[f.subarray(off, k).toString('utf8')] = f.subarray(k + 1, v).toString('utf8');
    off = v + 1;
  }
  return off === f.length - 1 ? all : null;
}

/** Sends a FATAL error the client can show, then closes (§55.2.1: errors during start-up are FATAL). */
function refuse(socket: net.Socket, f: Omit<ErrorFields, 'severity'>): void {
  socket.end(errorMessage({ severity: 'FATAL', ...f }));
}

/** Runs the local side until the client is authenticated, cancels, or is refused. Never throws. */
export async function acceptLocal(raw: net.Socket, opts: LocalAuthOptions): Promise<LocalOutcome> {
  let socket: net.Socket = raw;
  // Small until the login succeeds (Limits.auth), the session's limit after.
  const reader = new FrameReader(Limits.auth, 'client');
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
      const request = code === STARTUP_CODE.CancelRequest ? 'CancelRequest' : code === STARTUP_CODE.SSLRequest ? 'SSLRequest' : code === STARTUP_CODE.GSSENCRequest ? 'GSSENCRequest' : null;
      if (request) {
        // Not a protocol version: the request with a length it does not have (or SSLRequest inside TLS).
        const error = { code: '08P01', message: request === 'SSLRequest' && isTls ? 'SSLRequest received inside TLS' : `invalid length ${f.length} of ${request} packet` };
        refuse(socket, error);
        return { kind: 'refused', reason: error.message };
      }
      const major = code >>> 16;
      const minor = code & 0xffff;
      if (major !== 3) {
        const error = { code: '08P01', message: `unsupported frontend protocol ${major}.${minor}: pcigate speaks 3.0` };
        refuse(socket, error);
        return { kind: 'refused', reason: error.message };
      }
      const all = startupParams(f);
      if (!all) {
        const error = { code: '08P01', message: 'invalid startup packet layout: expected terminator as last byte' };
        refuse(socket, error);
        return { kind: 'refused', reason: error.message };
      }
      const user = all.user ?? '';
      if (opts.tls && !isTls) {
        // A listener that serves TLS serves nothing without it (as pg_hba's hostssl): a client that falls back
        // to plain text (sslmode=prefer when something strips its SSLRequest) would send its session in clear.
        const error = { code: '28000', message: 'pcigate: this listener requires TLS (connect --tls); connect with sslmode=require or stronger' };
        refuse(socket, error);
        return { kind: 'refused', reason: error.message };
      }
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
    let serverFinal: string | null;
    try {
      const initial = await waiter.next();
      if (initial[0] !== FE.Password) throw new ProtocolError(`expected SASLInitialResponse, got message '${String.fromCharCode(initial[0]!)}'`);
      const { mechanism, data } = decodeSASLInitialResponse(initial.subarray(5));
      if (mechanism !== 'SCRAM-SHA-256') {
        const error = { code: '28000', message: `SASL mechanism ${mechanism} is not supported` };
        refuse(socket, error);
        return { kind: 'refused', reason: error.message, authFailed: startup };
      }
      if (!data) throw new ProtocolError('SASLInitialResponse without a client-first-message');
      const scram = new ScramServer(opts.verifier);
      const serverFirst = scram.first(data.toString('utf8'));
      socket.write(authRequest(AUTH.SASLContinue, Buffer.from(serverFirst)));
      const response = await waiter.next();
      if (response[0] !== FE.Password) throw new ProtocolError(`expected SASLResponse, got message '${String.fromCharCode(response[0]!)}'`);
      serverFinal = scram.final(response.subarray(5).toString('utf8'));
    } catch (e) {
      // A client that breaks the SCRAM exchange (a wrong nonce, a replayed client-final-message, a truncated or
      // wrong message) failed to log in as much as one with a wrong secret: refused with the reason, recorded as
      // auth.fail. Going away (closed, timed out) is not a failed attempt: psql does that to prompt for a password.
      if (!(e instanceof ProtocolError) || e instanceof DirectTlsRefused) throw e;
      const error = { code: '08P01', message: `invalid SASL authentication message: ${e.message}` };
      refuse(socket, error);
      waiter.detach();
      return { kind: 'refused', reason: error.message, authFailed: startup, error: { severity: 'FATAL', ...error } };
    }
    if (serverFinal === null) {
      const error = { code: '28P01', message: `password authentication failed for user "${startup.user}"` };
      refuse(socket, error);
      return { kind: 'refused', reason: 'wrong listener secret', authFailed: startup, error: { severity: 'FATAL', ...error } };
    }
    socket.write(authRequest(AUTH.SASLFinal, Buffer.from(serverFinal)));
    socket.write(authRequest(AUTH.Ok));
    waiter.detach();
    reader.setMaxFrame(Limits.frontend);
    return { kind: 'session', socket, reader, startup };
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    // pcigate's own reasons (a startup packet length out of range, bytes behind an SSLRequest): no secret in them.
    if (e instanceof ProtocolError && !socket.destroyed) refuse(socket, { code: '08P01', message: `invalid startup message: ${e.message}` });
    else socket.destroy();
    waiter.detach();
    return { kind: 'refused', reason };
  } finally {
    clearTimeout(timer);
  }
}
