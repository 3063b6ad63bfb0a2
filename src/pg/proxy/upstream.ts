/**
 * Connects pcigate to the upstream PostgreSQL server with the broker-held credential: TCP or Unix
 * socket, TLS per sslmode (§55.2.10 SSL Session Encryption, libpq sslmode semantics), StartupMessage 3.0,
 * then SCRAM-SHA-256, md5, cleartext or trust (§55.2.2–55.2.3). The client never sees the credential.
 */
import net from 'node:net';
import tls from 'node:tls';
import { PgUpstreamError } from '../../errors.js';
import { Limits } from '../protocol/codes.js';
import { md5PasswordHash } from '../protocol/scram.js';
import { FrameReader } from './frame-reader.js';
import { FrameWaiter } from './frame-waiter.js';
import { ScramClient } from './scram.js';
import { AUTH, BE, FE, STARTUP_CODE, cstr, int32, parseErrorFields, readCString, typed } from './wire.js';

export type SslMode = 'disable' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

/** Where and as whom pcigate logs in upstream. `host` starting with `/` is a Unix socket directory. */
export interface UpstreamTarget {
  host: string;
  port: number;
  database: string;
  user: string;
  password?: string;
  sslmode: SslMode;
  /** PEM CA bundle for verify-ca / verify-full. */
  ca?: string;
  connectTimeoutMs?: number;
}

export interface UpstreamConnection {
  socket: net.Socket;
  /** Frames after AuthenticationOk up to and including the first ReadyForQuery, as the original bytes. */
  startupFrames: Buffer[];
  backendKey: { pid: number; secret: number } | null;
  /** Reader holding any bytes the server sent after the first ReadyForQuery. */
  reader: FrameReader;
  tls: boolean;
}

/** Opens the transport and, unless sslmode is disable or the target is a Unix socket, negotiates TLS. */
export async function openTransport(t: UpstreamTarget): Promise<{ socket: net.Socket; tls: boolean }> {
  const unix = t.host.startsWith('/');
  const raw = await new Promise<net.Socket>((resolve, reject) => {
    const s = unix ? net.connect({ path: `${t.host}/.s.PGSQL.${t.port}` }) : net.connect({ host: t.host, port: t.port });
    const timer = setTimeout(() => { s.destroy(); reject(new PgUpstreamError(`upstream ${describe(t)}: connect timed out`)); }, t.connectTimeoutMs ?? 10_000);
    s.once('connect', () => { clearTimeout(timer); s.setNoDelay(true); resolve(s); });
    s.once('error', (e) => { clearTimeout(timer); reject(new PgUpstreamError(`upstream ${describe(t)}: ${e.message}`, { cause: e })); });
  });
  if (unix || t.sslmode === 'disable') return { socket: raw, tls: false };
  raw.write(Buffer.concat([int32(8), int32(STARTUP_CODE.SSLRequest)]));
  const answer = await new Promise<number>((resolve, reject) => {
    raw.once('data', (b: Buffer) => resolve(b[0]!));
    raw.once('error', reject);
  });
  if (answer !== 0x53 /* 'S' */) {
    if (t.sslmode === 'prefer') return { socket: raw, tls: false };
    raw.destroy();
    throw new PgUpstreamError(`upstream ${describe(t)} does not offer TLS (sslmode=${t.sslmode})`);
  }
  const verify = t.sslmode === 'verify-ca' || t.sslmode === 'verify-full';
  const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({
      socket: raw,
      // `host` is what verify-full checks the certificate against (an IP is matched to IP SANs).
      host: t.host,
      servername: net.isIP(t.host) ? undefined : t.host,
      ca: t.ca,
      rejectUnauthorized: verify,
      // verify-ca checks the chain only; verify-full also checks the host name (libpq semantics).
      checkServerIdentity: t.sslmode === 'verify-full' ? tls.checkServerIdentity : () => undefined,
    });
    s.once('secureConnect', () => resolve(s));
    s.once('error', (e) => reject(new PgUpstreamError(`upstream TLS: ${e.message}`, { cause: e })));
  });
  secure.setNoDelay(true);
  return { socket: secure, tls: true };
}

function describe(t: UpstreamTarget): string {
  return t.host.startsWith('/') ? `${t.host}/.s.PGSQL.${t.port}` : `${t.host}:${t.port}`;
}

/**
 * Logs in upstream. `params` are the client's pass-through startup parameters (application_name, …);
 * user and database always come from the target. Throws PgUpstreamError, carrying the server's
 * ErrorResponse frame when it sent one.
 */
export async function connectUpstream(t: UpstreamTarget, params: Record<string, string>): Promise<UpstreamConnection> {
  const { socket, tls: isTls } = await openTransport(t);
  const frames = new FrameWaiter(socket, new FrameReader(Limits.backend, 'server'), 'upstream');
  try {
    const kv: Buffer[] = [];
    for (const [k, v] of Object.entries({ ...params, user: t.user, database: t.database })) kv.push(cstr(k), cstr(v));
    const body = Buffer.concat([int32(STARTUP_CODE.Protocol30), ...kv, Buffer.from([0])]);
    socket.write(Buffer.concat([int32(body.length + 4), body]));
    let scram: ScramClient | null = null;
    const startupFrames: Buffer[] = [];
    let backendKey: UpstreamConnection['backendKey'] = null;
    let authed = false;
    for (;;) {
      const f = await frames.next();
      const code = f[0];
      if (code === BE.ErrorResponse) {
        const fields = parseErrorFields(f.subarray(5));
        const out: Record<string, string> = { severity: fields.get('S') ?? 'FATAL', code: fields.get('C') ?? '08006', message: fields.get('M') ?? '' };
        const detail = fields.get('D');
        if (detail) out.detail = detail;
        throw new PgUpstreamError(`upstream refused the session: ${out.code} ${out.message}`, { fields: out });
      }
      if (code === BE.Authentication && !authed) {
        const kind = f.readInt32BE(5);
        if (kind === AUTH.Ok) { authed = true; continue; }
        const pw = t.password;
        if (pw === undefined) throw new PgUpstreamError(`upstream asks for a password (auth type ${kind}) but the connection has none`);
        if (kind === AUTH.CleartextPassword) {
          socket.write(typed(FE.Password, cstr(pw)));
        } else if (kind === AUTH.MD5Password) {
          socket.write(typed(FE.Password, cstr(md5PasswordHash(t.user, pw, f.subarray(9, 13)))));
        } else if (kind === AUTH.SASL) {
          const mechs: string[] = [];
          for (let off = 9; off < f.length && f[off] !== 0;) { const [m, n] = readCString(f, off); mechs.push(m); off = n; }
          if (!mechs.includes('SCRAM-SHA-256')) throw new PgUpstreamError(`upstream offers no supported SASL mechanism (${mechs.join(', ')})`);
          scram = new ScramClient(pw);
          const first = Buffer.from(scram.first());
          socket.write(typed(FE.Password, Buffer.concat([cstr('SCRAM-SHA-256'), int32(first.length), first])));
        } else if (kind === AUTH.SASLContinue && scram) {
          socket.write(typed(FE.Password, Buffer.from(scram.final(f.subarray(9).toString('utf8')))));
        } else if (kind === AUTH.SASLFinal && scram) {
          scram.verify(f.subarray(9).toString('utf8'));
        } else {
          throw new PgUpstreamError(`upstream asks for an unsupported authentication method (${kind})`);
        }
        continue;
      }
      if (code === BE.BackendKeyData) {
        backendKey = { pid: f.readInt32BE(5), secret: f.readInt32BE(9) };
      }
      startupFrames.push(f);
      if (code === BE.ReadyForQuery) break;
    }
    frames.detach();
    return { socket, startupFrames, backendKey, reader: frames.reader, tls: isTls };
  } catch (e) {
    frames.detach();
    socket.destroy();
    throw e;
  }
}

/** Sends a CancelRequest for an upstream backend key on a fresh connection (§55.2.9). Best effort. */
export async function sendUpstreamCancel(t: UpstreamTarget, key: { pid: number; secret: number }): Promise<void> {
  const { socket } = await openTransport(t);
  await new Promise<void>((resolve) => {
    socket.once('close', () => resolve());
    socket.once('error', () => resolve());
    socket.end(Buffer.concat([int32(16), int32(STARTUP_CODE.CancelRequest), int32(key.pid), int32(key.secret)]));
    setTimeout(() => { socket.destroy(); resolve(); }, 5_000).unref();
  });
}
