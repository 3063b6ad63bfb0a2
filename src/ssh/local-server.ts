/**
 * The local side of `pcigate connect SSH --listen`: an ssh2 server that OpenSSH tools connect to
 * (`ssh -p PORT pcigate@127.0.0.1`). It is not an open door: clients authenticate with the per-listener
 * secret (password or keyboard-interactive, compared in constant time), and the server's host key persists
 * in the data home so `known_hosts` keeps working across runs.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import path from 'node:path';
import ssh2 from 'ssh2';
import type { ClientInfo, Connection, Server } from 'ssh2';
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
}

function secretMatches(secret: string, given: string): boolean {
  // Hash both sides first so the comparison is constant time whatever the lengths.
  const a = createHash('sha256').update(secret).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}

/** Wrong secrets one connection may send before the listener closes it (sshd's MaxAuthTries default). */
export const MAX_SECRET_TRIES = 6;

export function createLocalSshServer(opts: LocalSshServerOptions): Server {
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
    conn.on('ready', () => opts.onClient(conn, info, user));
    conn.on('error', () => {
      // A client that drops mid-handshake is not an error of the listener; the broker's session end covers it.
    });
  });
}
