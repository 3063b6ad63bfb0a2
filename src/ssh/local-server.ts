/**
 * The local side of `pcigate connect SSH --listen`: an ssh2 server that OpenSSH tools connect to
 * (`ssh -p PORT pcigate@127.0.0.1`). It is not an open door: clients authenticate with the per-listener
 * secret (password or keyboard-interactive, compared in constant time), and the server's host key persists
 * in the data home so `known_hosts` keeps working across runs.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import ssh2 from 'ssh2';
import type { ClientInfo, Connection } from 'ssh2';
import type { Fs } from '../cli/ctx.js';
import { sshFingerprint } from './host-key.js';

export interface LocalHostKey {
  pem: string;
  fingerprint: string;
  path: string;
}

/**
 * A new ed25519 host key in OpenSSH format. ssh2's generateKeyPairSync strips leading zero bytes from the
 * public key, so about 1 key in 256 (a public key starting with 0x00) cannot be parsed back
 * (mscdex/ssh2#1390, #1513): such a key is drawn again.
 */
export function generateHostKeyPem(): string {
  for (let i = 0; i < 16; i++) {
    const pem = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'pcigate local listener' }).private;
    if (!(ssh2.utils.parseKey(pem) instanceof Error)) return pem;
  }
  throw new Error('could not generate an SSH host key that parses');
}

/**
 * Loads `keys/ssh_host_ed25519_key` from the data home, creating it (0600) on first use. A key an earlier
 * version wrote unparseable (see generateHostKeyPem) never served a connection: it is replaced.
 */
export async function loadOrCreateHostKey(fs: Fs, home: string): Promise<LocalHostKey> {
  const dir = path.join(home, 'keys');
  const file = path.join(dir, 'ssh_host_ed25519_key');
  let pem: string;
  try {
    pem = await fs.readFile(file, 'utf8');
    if (ssh2.utils.parseKey(pem) instanceof Error && pem.includes('OPENSSH PRIVATE KEY')) {
      pem = generateHostKeyPem();
      await fs.writeFile(file, pem, { mode: 0o600 });
    }
  } catch {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    pem = generateHostKeyPem();
    await fs.writeFile(file, pem, { mode: 0o600, flag: 'wx' }).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
      pem = await fs.readFile(file, 'utf8'); // another process created it first
    });
  }
  const parsed = ssh2.utils.parseKey(pem);
  if (parsed instanceof Error) throw parsed;
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  return { pem, fingerprint: sshFingerprint(key.getPublicSSH()), path: file };
}

export interface AuthFailure {
  ip: string;
  port: number;
  user: string;
  method: string;
}

export interface LocalSshServerOptions {
  hostKey: LocalHostKey;
  secret: string;
  onAuthFail(info: AuthFailure): void;
  /** An authenticated client; the broker takes it from here. */
  onClient(conn: Connection, info: ClientInfo, user: string): void;
  /** How long a connection may take to authenticate (sshd's LoginGraceTime); default LOGIN_GRACE_MS. */
  loginGraceMs?: number;
  /** Connections not yet authenticated at once (sshd's MaxStartups); default MAX_UNAUTHENTICATED. */
  maxUnauthenticated?: number;
}

function secretMatches(secret: string, given: string): boolean {
  // Hash both sides first so the comparison is constant time whatever the lengths.
  const a = createHash('sha256').update(secret).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}

/** Wrong secrets one connection may send before the listener closes it (sshd's MaxAuthTries default). */
export const MAX_SECRET_TRIES = 6;

/** sshd's LoginGraceTime default: a connection that has not authenticated by then is dropped. */
export const LOGIN_GRACE_MS = 120_000;

/** Unauthenticated connections at once (sshd's MaxStartups starts refusing at 10); more are dropped at once. */
export const MAX_UNAUTHENTICATED = 10;

/**
 * The listener. ssh2's server has no limit before authentication (its keepalive starts once a client is
 * in), so a client that connects and says nothing held its socket for ever, and any number of them could;
 * the TCP side is therefore ours: each connection gets the login grace time to authenticate, and at most
 * `maxUnauthenticated` wait at once — as sshd's LoginGraceTime and MaxStartups. Authenticated sessions are
 * not counted and never cut by it.
 */
export function createLocalSshServer(opts: LocalSshServerOptions): net.Server {
  const graceMs = opts.loginGraceMs ?? LOGIN_GRACE_MS;
  const maxPending = opts.maxUnauthenticated ?? MAX_UNAUTHENTICATED;
  /** Sockets not yet authenticated, by remote address and port (what ssh2 gives the connection handler). */
  const pending = new Map<string, () => void>();
  const ssh = createSshServer(opts, (info) => pending.get(`${info.ip}|${info.port}`)?.());
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const key = `${socket.remoteAddress}|${socket.remotePort}`;
    if (pending.size >= maxPending || pending.has(key)) { socket.destroy(); return; }
    const timer = setTimeout(() => socket.destroy(), graceMs);
    timer.unref?.();
    const authenticated = () => { clearTimeout(timer); pending.delete(key); };
    pending.set(key, authenticated);
    socket.once('close', authenticated);
    ssh.injectSocket(socket);
  });
  // net.Server.close() waits until every connection has gone: with a client still connected, closing the
  // listener (Ctrl-C) never finished. Closing ends them (the broker has ended its sessions' connections first,
  // with an SSH disconnect; this is for the rest: not yet authenticated, or a session still opening).
  const close = server.close.bind(server);
  server.close = (cb?: (err?: Error) => void) => {
    close(cb);
    for (const s of sockets) s.destroy();
    return server;
  };
  return server;
}

function createSshServer(opts: LocalSshServerOptions, onAuthenticated: (info: ClientInfo) => void): ssh2.Server {
  // ssh2 is CommonJS: its classes come from the default export under Node's ESM loader.
  return new ssh2.Server({ hostKeys: [opts.hostKey.pem], ident: 'pcigate' }, (conn, info) => {
    let user = '';
    let wrongSecrets = 0;
    conn.on('authentication', (actx) => {
      // Closing: a request already on its way is not checked (so never a 7th guess) nor recorded.
      if (wrongSecrets >= MAX_SECRET_TRIES) { actx.reject(); return; }
      user = actx.username;
      const fail = () => {
        if (actx.method !== 'none') opts.onAuthFail({ ip: info.ip, port: info.port, user: actx.username, method: actx.method });
        actx.reject(['password', 'keyboard-interactive']);
        // As sshd's MaxAuthTries: a connection does not get to guess the secret for ever (a key offered is no guess).
        if ((actx.method === 'password' || actx.method === 'keyboard-interactive') && ++wrongSecrets >= MAX_SECRET_TRIES) conn.end();
      };
      if (actx.method === 'password') {
        if (secretMatches(opts.secret, actx.password)) actx.accept();
        else fail();
      } else if (actx.method === 'keyboard-interactive') {
        actx.prompt([{ prompt: 'pcigate listener secret: ', echo: false }], (answers) => {
          if (answers.length === 1 && secretMatches(opts.secret, answers[0] ?? '')) actx.accept();
          else fail();
        });
      } else {
        fail();
      }
    });
    conn.on('ready', () => { onAuthenticated(info); opts.onClient(conn, info, user); });
    conn.on('error', () => {
      // A client that drops mid-handshake is not an error of the listener; the broker's session end covers it.
    });
  });
}
