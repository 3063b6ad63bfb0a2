/**
 * connectUpstream(): log pcigate in to the real PostgreSQL server with the broker-held credential.
 *
 * - TCP or Unix socket (a `host` starting with '/' is a socket directory, as in libpq);
 * - TLS per libpq's sslmode (https://www.postgresql.org/docs/current/libpq-ssl.html#LIBPQ-SSL-PROTECTION):
 *   disable, prefer, require (verifies the chain when a CA is given, like libpq with a root cert),
 *   verify-ca, verify-full; the SSLRequest answer must be exactly one byte (CVE-2021-23222);
 * - StartupMessage 3.0, then SCRAM-SHA-256 (with the server's signature checked), md5, cleartext or trust
 *   (https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-START-UP);
 * - returns after the first ReadyForQuery with the messages that followed AuthenticationOk
 *   (ParameterStatus, BackendKeyData, NoticeResponse, ReadyForQuery) as frames, the socket paused, and the
 *   framer holding any bytes that arrived after ReadyForQuery.
 */
import net from 'node:net';
import tls from 'node:tls';
import { PgUpstreamError, ProtocolError } from '../../errors.js';
import { backendMessageProblem } from './backend-check.js';
import { decodeAuthentication, decodeBackendKeyData, decodeNotice, decodeParameterStatus } from './backend.js';
import { AuthCode, BackendCode, Limits } from './codes.js';
import { encodePasswordMessage, encodeSASLInitialResponse, encodeSASLResponse } from './frontend.js';
import { MessageFramer } from './message-framer.js';
import type { Frame } from './message-framer.js';
import { SCRAM_MECHANISM, md5PasswordHash, scramClientFinal, scramClientStart, scramClientVerify } from './scram.js';
import { SSL_REQUEST, encodeCancelRequest, encodeStartupMessage } from './startup.js';

export type SslMode = 'disable' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
export type UpstreamAuthMethod = 'scram-sha-256' | 'md5' | 'password' | 'trust';

export interface UpstreamTarget {
  /** Host name or IP; a value starting with '/' is the directory of a Unix socket. */
  host: string;
  port: number;
  database: string;
  user: string;
  /** The broker-held password; absent for trust. */
  password?: string;
  sslmode: SslMode;
  /** PEM CA bundle (contents, not a path) for verify-ca / verify-full; the system store when absent. */
  ca?: string | Buffer;
  connectTimeoutMs?: number;
  /** Extra startup parameters (application_name, options, …); `user` and `database` always come from above. */
  params?: Readonly<Record<string, string>>;
  /** Refuse a cleartext password over an unencrypted TCP connection (default true: fail closed). */
  refuseCleartextWithoutTls?: boolean;
  /** Accept only these methods (libpq's require_auth); default: any. */
  requireAuth?: readonly UpstreamAuthMethod[];
}

export interface UpstreamConnection {
  /** Plain or TLS socket, paused; attach a 'data' listener (or resume) to continue. */
  socket: net.Socket;
  tls: boolean;
  /** The framer of the server → pcigate direction, holding bytes received after ReadyForQuery. */
  framer: MessageFramer;
  /** Messages between AuthenticationOk and the first ReadyForQuery (inclusive), as received. */
  startup: Frame[];
  /** ParameterStatus values from `startup`. */
  parameters: Record<string, string>;
  backendKey: { pid: number; key: Buffer } | undefined;
  /** NegotiateProtocolVersion or NoticeResponse messages sent before AuthenticationOk. */
  preAuth: Frame[];
  authMethod: UpstreamAuthMethod;
}

function where(t: UpstreamTarget): string {
  return t.host.startsWith('/') ? `${t.host}/.s.PGSQL.${t.port}` : `${t.host}:${t.port}`;
}

/** Reads frames from a socket on demand; leaves the socket paused between reads. */
class SocketFrames {
  private waiting: { resolve: (f: Frame) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  private readonly onData = (chunk: Buffer) => {
    try { this.framer.push(chunk); } catch (e) { this.fail(e as Error); return; }
    this.pump();
  };
  private readonly onEnd = () => this.fail(new PgUpstreamError(`upstream ${this.label} closed the connection during startup`));
  private readonly onError = (e: Error) => this.fail(new PgUpstreamError(`upstream ${this.label}: ${e.message}`, { cause: e }));

  constructor(readonly socket: net.Socket, readonly framer: MessageFramer, private readonly label: string) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.pause();
  }

  private fail(e: Error): void {
    this.failure ??= e;
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(this.failure);
  }

  private pump(): void {
    if (!this.waiting) { this.socket.pause(); return; }
    let f: Frame | undefined;
    try { f = this.framer.next(); } catch (e) { this.fail(e as Error); return; }
    if (f) {
      const w = this.waiting;
      this.waiting = undefined;
      this.socket.pause();
      w.resolve(f);
    } else {
      this.socket.resume();
    }
  }

  next(): Promise<Frame> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<Frame>((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.pump();
    });
  }

  /** Stop listening; the socket stays paused with unread bytes left in the framer. */
  detach(): void {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('error', this.onError);
    this.socket.pause();
  }
}

/**
 * Open the transport to the server and negotiate TLS per `sslmode` (over TCP; Unix sockets are never
 * encrypted, as in libpq).
 */
export async function openUpstreamTransport(t: UpstreamTarget, signal?: AbortSignal): Promise<{ socket: net.Socket; tls: boolean }> {
  const unix = t.host.startsWith('/');
  const raw = await new Promise<net.Socket>((resolve, reject) => {
    const s = unix ? net.connect({ path: `${t.host}/.s.PGSQL.${t.port}` }) : net.connect({ host: t.host, port: t.port });
    const onAbort = () => { s.destroy(); reject(new PgUpstreamError(`upstream ${where(t)}: connect timed out`)); };
    signal?.addEventListener('abort', onAbort, { once: true });
    s.once('connect', () => { signal?.removeEventListener('abort', onAbort); s.setNoDelay(true); resolve(s); });
    s.once('error', (e) => { signal?.removeEventListener('abort', onAbort); reject(new PgUpstreamError(`upstream ${where(t)}: ${e.message}`, { cause: e })); });
  });
  if (unix || t.sslmode === 'disable') return { socket: raw, tls: false };
  raw.write(SSL_REQUEST);
  const answer = await new Promise<number>((resolve, reject) => {
    const onData = (b: Buffer) => {
      cleanup();
      // Bytes after 'S' before the handshake would be injected by a man in the middle (CVE-2021-23222).
      if (b.length !== 1) { raw.destroy(); reject(new PgUpstreamError(`upstream ${where(t)} sent unexpected data after the SSLRequest answer`)); return; }
      resolve(b[0]!);
    };
    const onClose = () => { cleanup(); reject(new PgUpstreamError(`upstream ${where(t)} closed the connection after SSLRequest`)); };
    const onError = (e: Error) => { cleanup(); reject(new PgUpstreamError(`upstream ${where(t)}: ${e.message}`, { cause: e })); };
    const cleanup = () => { raw.off('data', onData); raw.off('close', onClose); raw.off('error', onError); raw.pause(); };
    raw.on('data', onData);
    raw.once('close', onClose);
    raw.once('error', onError);
  });
  if (answer === 0x4e /* 'N' */) {
    if (t.sslmode === 'prefer') return { socket: raw, tls: false };
    raw.destroy();
    throw new PgUpstreamError(`upstream ${where(t)} does not offer TLS, and sslmode is ${t.sslmode}`);
  }
  if (answer !== 0x53 /* 'S' */) {
    raw.destroy();
    throw new PgUpstreamError(`upstream ${where(t)} answered SSLRequest with an unexpected byte ${answer}`);
  }
  // libpq: require verifies the chain when a root certificate is configured; verify-full also the name.
  const verifyChain = t.sslmode === 'verify-ca' || t.sslmode === 'verify-full' || (t.sslmode === 'require' && t.ca !== undefined);
  const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({
      socket: raw,
      host: t.host,
      servername: net.isIP(t.host) ? undefined : t.host,
      ca: t.ca,
      rejectUnauthorized: verifyChain,
      checkServerIdentity: t.sslmode === 'verify-full' ? tls.checkServerIdentity : () => undefined,
    });
    s.once('secureConnect', () => { s.off('error', onError); resolve(s); });
    const onError = (e: Error) => { s.destroy(); reject(new PgUpstreamError(`upstream ${where(t)} TLS (sslmode=${t.sslmode}): ${e.message}`, { cause: e })); };
    s.once('error', onError);
  });
  secure.setNoDelay(true);
  return { socket: secure, tls: true };
}

function serverError(f: Frame, t: UpstreamTarget): PgUpstreamError {
  const n = decodeNotice(f.payload);
  const fields: Record<string, string> = {};
  for (const [k, v] of Object.entries(n)) if (v !== undefined) fields[k] = v;
  return new PgUpstreamError(`upstream ${where(t)} refused the session: ${n.code ?? '?'} ${n.message ?? ''}`, { fields });
}

/**
 * Connect and authenticate; see the file comment.
 * @throws PgUpstreamError (with the server's ErrorResponse `fields` when it sent one) or ProtocolError.
 */
export async function connectUpstream(t: UpstreamTarget): Promise<UpstreamConnection> {
  const timeout = AbortSignal.timeout(t.connectTimeoutMs ?? 10_000);
  const { socket, tls: isTls } = await openUpstreamTransport(t, timeout);
  const framer = new MessageFramer({ maxLength: Limits.backend, peer: 'upstream server' });
  const frames = new SocketFrames(socket, framer, where(t));
  const onTimeout = () => socket.destroy(new Error('startup timed out'));
  timeout.addEventListener('abort', onTimeout, { once: true });
  const allowed = (m: UpstreamAuthMethod) => {
    if (t.requireAuth && !t.requireAuth.includes(m)) throw new PgUpstreamError(`upstream ${where(t)} asks for ${m} authentication, which is not allowed`);
  };
  const needPassword = (m: string): string => {
    if (t.password === undefined) throw new PgUpstreamError(`upstream ${where(t)} asks for ${m} authentication but the connection has no password`);
    return t.password;
  };
  try {
    socket.write(encodeStartupMessage({ ...t.params, user: t.user, database: t.database }));
    const preAuth: Frame[] = [];
    let scram: ReturnType<typeof scramClientFinal>['state'] | ReturnType<typeof scramClientStart>['state'] | undefined;
    let scramVerified = false;
    let method: UpstreamAuthMethod = 'trust';
    for (;;) {
      const f = await frames.next();
      if (f.code === BackendCode.ErrorResponse) throw serverError(f, t);
      if (f.code === BackendCode.NegotiateProtocolVersion || f.code === BackendCode.NoticeResponse) { preAuth.push(f); continue; }
      if (f.code !== BackendCode.Authentication) throw new ProtocolError(`upstream sent '${String.fromCharCode(f.code)}' during authentication`);
      const a = decodeAuthentication(f.payload);
      if (a.type === AuthCode.Ok) {
        // A server that skips the SCRAM exchange it started has not proven it knows the password.
        if (scram && !scramVerified) throw new PgUpstreamError(`upstream ${where(t)} ended SCRAM without proving the server signature`);
        if (method === 'trust') allowed('trust');
        break;
      }
      if (a.type === AuthCode.CleartextPassword) {
        allowed('password');
        method = 'password';
        if (!isTls && !t.host.startsWith('/') && t.refuseCleartextWithoutTls !== false) {
          throw new PgUpstreamError(`upstream ${where(t)} asks for a cleartext password over an unencrypted connection; use sslmode=require or better`);
        }
        socket.write(encodePasswordMessage(needPassword('password')));
      } else if (a.type === AuthCode.MD5Password) {
        allowed('md5');
        method = 'md5';
        socket.write(encodePasswordMessage(md5PasswordHash(t.user, needPassword('md5'), a.salt)));
      } else if (a.type === AuthCode.SASL) {
        allowed('scram-sha-256');
        method = 'scram-sha-256';
        if (!a.mechanisms.includes(SCRAM_MECHANISM)) {
          throw new PgUpstreamError(`upstream ${where(t)} offers no supported SASL mechanism (${a.mechanisms.join(', ')})`);
        }
        const start = scramClientStart(needPassword('SCRAM-SHA-256'));
        scram = start.state;
        socket.write(encodeSASLInitialResponse(SCRAM_MECHANISM, start.message));
      } else if (a.type === AuthCode.SASLContinue && scram && !scram.expectedServerSignature) {
        const fin = scramClientFinal(scram, a.data.toString('utf8'));
        scram = fin.state;
        socket.write(encodeSASLResponse(fin.message));
      } else if (a.type === AuthCode.SASLFinal && scram?.expectedServerSignature) {
        scramClientVerify(scram, a.data.toString('utf8'));
        scramVerified = true;
      } else {
        throw new PgUpstreamError(`upstream ${where(t)} asks for an unsupported authentication step (${a.type})`);
      }
    }
    const startup: Frame[] = [];
    const parameters: Record<string, string> = {};
    let backendKey: UpstreamConnection['backendKey'];
    for (;;) {
      const f = await frames.next();
      if (f.code === BackendCode.ErrorResponse) throw serverError(f, t);
      // Only these come between AuthenticationOk and ReadyForQuery (§55.2.1), and they are handed to the client:
      // anything else, or a body its type does not have, could carry data past the proxy's masking.
      if (f.code !== BackendCode.ParameterStatus && f.code !== BackendCode.BackendKeyData && f.code !== BackendCode.NoticeResponse && f.code !== BackendCode.ReadyForQuery) {
        throw new ProtocolError(`upstream ${where(t)} sent message '${String.fromCharCode(f.code)}' before its first ReadyForQuery`);
      }
      const why = f.code === BackendCode.BackendKeyData ? null : backendMessageProblem(f.bytes);
      if (why) throw new ProtocolError(`upstream ${where(t)} sent ${why} before its first ReadyForQuery`);
      startup.push(f);
      if (f.code === BackendCode.ParameterStatus) {
        const p = decodeParameterStatus(f.payload);
        parameters[p.name] = p.value;
      } else if (f.code === BackendCode.BackendKeyData) {
        const k = decodeBackendKeyData(f.payload);
        backendKey = { pid: k.pid, key: Buffer.from(k.key) };
      } else if (f.code === BackendCode.ReadyForQuery) {
        break;
      }
    }
    frames.detach();
    timeout.removeEventListener('abort', onTimeout);
    return { socket, tls: isTls, framer, startup, parameters, backendKey, preAuth, authMethod: method };
  } catch (e) {
    frames.detach();
    timeout.removeEventListener('abort', onTimeout);
    socket.destroy();
    if (timeout.aborted && !(e instanceof PgUpstreamError && e.fields)) {
      throw new PgUpstreamError(`upstream ${where(t)}: startup timed out`, { cause: e });
    }
    throw e;
  }
}

/**
 * Send a CancelRequest for an upstream backend on a new connection (same transport and sslmode as the
 * session). https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-CANCELING-REQUESTS
 * Resolves when the server closes the connection (it never answers); best effort by design. The request is
 * written without a FIN after it, and the server closes: as libpq's PQcancel does. PgBouncer (1.18 tested)
 * drops a cancel whose connection is half-closed right behind it, before passing it on to the server.
 */
export async function sendUpstreamCancel(t: UpstreamTarget, key: { pid: number; key: Uint8Array }): Promise<void> {
  const { socket } = await openUpstreamTransport(t, AbortSignal.timeout(t.connectTimeoutMs ?? 10_000));
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => { socket.destroy(); resolve(); }, 5_000);
    timer.unref();
    socket.once('close', () => { clearTimeout(timer); resolve(); });
    socket.once('error', () => undefined);
    socket.resume();
    socket.write(encodeCancelRequest(key.pid, key.key));
  });
}
