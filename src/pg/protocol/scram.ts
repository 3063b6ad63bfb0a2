/**
 * SCRAM-SHA-256 (RFC 5802, RFC 7677) for both sides, as PostgreSQL uses it
 * (https://www.postgresql.org/docs/current/sasl-authentication.html), plus md5 password hashing.
 *
 * Pure functions over explicit state: the client side authenticates pcigate to the upstream server with a
 * broker-held password; the server side lets pcigate's listener verify a client against a per-listener
 * secret it stores only as StoredKey/ServerKey. Proofs and signatures are compared in constant time.
 * Channel binding (SCRAM-SHA-256-PLUS) is not offered; a client asking for it ('p=') is refused.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { ProtocolError } from '../../errors.js';

export const SCRAM_MECHANISM = 'SCRAM-SHA-256';
/** PostgreSQL's default iteration count (scram_iterations). */
export const SCRAM_DEFAULT_ITERATIONS = 4096;
/** Refuse absurd iteration counts from a server: each costs CPU on our side (a cheap denial of service). */
const MAX_ITERATIONS = 1_000_000;

const hmac = (key: Buffer, data: string | Buffer): Buffer => createHmac('sha256', key).update(data).digest();
const sha256 = (data: Buffer): Buffer => createHash('sha256').update(data).digest();
const xor = (a: Buffer, b: Buffer): Buffer => {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
};
/** Constant-time equality; unequal lengths are unequal (timingSafeEqual would throw). */
const safeEqual = (a: Buffer, b: Buffer): boolean => a.length === b.length && timingSafeEqual(a, b);

/** A fresh nonce: 18 random bytes in base64, printable and comma-free as RFC 5802 §5.1 requires. */
export function scramNonce(): string {
  return randomBytes(18).toString('base64');
}

/**
 * SASLprep (RFC 4013) as PostgreSQL applies it to passwords (src/common/saslprep.c): ASCII passwords are
 * used as is; otherwise non-ASCII spaces map to U+0020, "mapped to nothing" characters are removed and the
 * result is NFKC-normalised. Like PostgreSQL, a password containing prohibited characters is used raw
 * rather than rejected. (The bidi checks of RFC 3454 §6 are not applied; PostgreSQL falls back to the raw
 * password in those cases too, so the outcome only differs for passwords that are invalid SASLprep input.)
 */
export function saslprep(password: string): string {
  if (/^[\x00-\x7f]*$/.test(password)) return password;
  const mapped = password
    .replace(/[\u00a0\u1680\u2000-\u200b\u202f\u205f\u3000]/g, ' ')
    .replace(/[\u00ad\u034f\u1806\u180b-\u180d\u200c\u200d\u2060\ufe00-\ufe0f\ufeff]/g, '')
    .normalize('NFKC');
  // Prohibited output (RFC 4013 §2.3): control characters, private use, lone surrogates, non-characters.
  if (/[\p{Cc}\p{Co}\p{Cs}\ufdd0-\ufdef\ufff9-\uffff]/u.test(mapped)) return password;
  return mapped;
}

/** Attributes of a SCRAM message "a=value,b=value". */
function attributes(msg: string, what: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of msg.split(',')) {
    const m = /^([A-Za-z])=(.*)$/s.exec(part);
    if (!m) throw new ProtocolError(`malformed SCRAM ${what}`);
    if (!out.has(m[1]!)) out.set(m[1]!, m[2]!);
  }
  return out;
}

function b64(value: string | undefined, what: string): Buffer {
  if (value === undefined || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw new ProtocolError(`malformed base64 in SCRAM ${what}`);
  return Buffer.from(value, 'base64');
}

type ScramKeys = Readonly<{ clientKey: Buffer; storedKey: Buffer; serverKey: Buffer }>;

/**
 * Keys derived before, by a digest of (iterations, salt, password). A server keeps one salt and count per role, so
 * each connection pcigate opens upstream as that role derives the same keys: PBKDF2 (4096 rounds by default) took
 * ~0.9 ms of the event loop, synchronously, for every session (pgbench -C: 13% of the proxy's CPU). Bounded, in
 * memory only; it holds what the password held in the configuration does (SCRAM keys let their holder log in).
 */
const DERIVED = new Map<string, ScramKeys>();
const DERIVED_MAX = 64;

/** The keys a password derives for a salt and iteration count (RFC 5802 §3). Shared: callers must not change them. */
export function scramKeys(password: string, salt: Buffer, iterations: number): ScramKeys {
  // (The count and the salt's length end in ':', so no other triple has the same bytes.)
  const id = createHash('sha256').update(`${iterations}:${salt.length}:`).update(salt).update(password).digest('base64');
  let keys = DERIVED.get(id);
  if (keys === undefined) {
    const salted = pbkdf2Sync(saslprep(password), salt, iterations, 32, 'sha256');
    const clientKey = hmac(salted, 'Client Key');
    keys = { clientKey, storedKey: sha256(clientKey), serverKey: hmac(salted, 'Server Key') };
    if (DERIVED.size >= DERIVED_MAX) DERIVED.clear();
    DERIVED.set(id, keys);
  }
  return keys;
}

// ---------------------------------------------------------------- client side

export interface ScramClientState {
  clientNonce: string;
  clientFirstBare: string;
  password: string;
  /** Set by scramClientFinal: the ServerSignature the server must prove. */
  expectedServerSignature?: Buffer;
}

/**
 * client-first-message (RFC 5802 §5.1). PostgreSQL ignores the SCRAM user name (the startup packet's
 * `user` counts), so it is empty by default, as libpq sends it.
 */
export function scramClientStart(password: string, opts: { nonce?: string; user?: string } = {}): { message: string; state: ScramClientState } {
  const clientNonce = opts.nonce ?? scramNonce();
  const user = (opts.user ?? '').replace(/=/g, '=3D').replace(/,/g, '=2C');
  const clientFirstBare = `n=${user},r=${clientNonce}`;
  return { message: `n,,${clientFirstBare}`, state: { clientNonce, clientFirstBare, password } };
}

/**
 * client-final-message from the server-first-message (RFC 5802 §3, §5.1): derives the proof and remembers
 * the ServerSignature to check in scramClientVerify.
 * @throws ProtocolError when the server's nonce does not extend ours, or the salt/iterations are invalid.
 */
export function scramClientFinal(state: ScramClientState, serverFirst: string): { message: string; state: ScramClientState } {
  const a = attributes(serverFirst, 'server-first-message');
  if (a.has('m')) throw new ProtocolError('SCRAM server requires an unsupported extension');
  const nonce = a.get('r');
  if (!nonce || !nonce.startsWith(state.clientNonce) || nonce.length === state.clientNonce.length) {
    throw new ProtocolError('SCRAM server nonce does not extend the client nonce');
  }
  const salt = b64(a.get('s'), 'salt');
  const iterations = Number(a.get('i'));
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) {
    throw new ProtocolError(`invalid SCRAM iteration count ${a.get('i') ?? ''}`);
  }
  if (salt.length === 0) throw new ProtocolError('empty SCRAM salt');
  const { clientKey, serverKey } = scramKeys(state.password, salt, iterations);
  const withoutProof = `c=biws,r=${nonce}`; // biws = base64("n,,"): no channel binding
  const authMessage = `${state.clientFirstBare},${serverFirst},${withoutProof}`;
  const clientSignature = hmac(sha256(clientKey), authMessage);
  const proof = xor(clientKey, clientSignature).toString('base64');
  return {
    message: `${withoutProof},p=${proof}`,
    state: { ...state, expectedServerSignature: hmac(serverKey, authMessage) },
  };
}

/**
 * Check the server-final-message (RFC 5802 §3): the server proves it knows the ServerKey too.
 * @throws ProtocolError on a server error ('e=') or a wrong signature (constant-time comparison).
 */
export function scramClientVerify(state: ScramClientState, serverFinal: string): void {
  const a = attributes(serverFinal, 'server-final-message');
  const err = a.get('e');
  if (err !== undefined) throw new ProtocolError(`SCRAM authentication failed: ${err}`);
  if (!state.expectedServerSignature) throw new ProtocolError('SCRAM server-final-message before client-final-message');
  if (!safeEqual(b64(a.get('v'), 'server signature'), state.expectedServerSignature)) {
    throw new ProtocolError('SCRAM server signature does not match: the server does not know the password');
  }
}

// ---------------------------------------------------------------- server side

/** What a server stores for a password: never the password itself. */
export interface ScramSecret {
  iterations: number;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

/** Derive a ScramSecret from a password (a fresh 16-byte salt unless given). */
export function scramSecret(password: string, opts: { salt?: Buffer; iterations?: number } = {}): ScramSecret {
  const salt = opts.salt ?? randomBytes(16);
  const iterations = opts.iterations ?? SCRAM_DEFAULT_ITERATIONS;
  const { storedKey, serverKey } = scramKeys(password, salt, iterations);
  return { iterations, salt, storedKey, serverKey };
}

/** PostgreSQL's text form, as in pg_authid.rolpassword: SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>. */
export function formatScramSecret(s: ScramSecret): string {
  return `SCRAM-SHA-256$${s.iterations}:${s.salt.toString('base64')}$${s.storedKey.toString('base64')}:${s.serverKey.toString('base64')}`;
}

/** Parse PostgreSQL's text form of a SCRAM secret. */
export function parseScramSecret(text: string): ScramSecret {
  const m = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/.exec(text);
  if (!m) throw new ProtocolError('not a SCRAM-SHA-256 secret');
  return { iterations: Number(m[1]), salt: Buffer.from(m[2]!, 'base64'), storedKey: Buffer.from(m[3]!, 'base64'), serverKey: Buffer.from(m[4]!, 'base64') };
}

export interface ScramServerState {
  secret: ScramSecret;
  gs2Header: string;
  clientFirstBare: string;
  serverFirst: string;
  nonce: string;
}

/**
 * server-first-message from the client-first-message (the SASLInitialResponse data).
 * @throws ProtocolError for a malformed message, channel binding ('p=') or an authzid.
 */
export function scramServerFirst(secret: ScramSecret, clientFirst: string, opts: { nonce?: string } = {}): { message: string; state: ScramServerState } {
  const m = /^([ny]|p=[^,]*),([^,]*),(.*)$/s.exec(clientFirst);
  if (!m) throw new ProtocolError('malformed SCRAM client-first-message');
  if (m[1]!.startsWith('p=')) throw new ProtocolError('SCRAM channel binding was requested but is not offered');
  if (m[2] !== '') throw new ProtocolError('SCRAM authorization identity is not supported');
  const clientFirstBare = m[3]!;
  const a = attributes(clientFirstBare, 'client-first-message');
  if (a.has('m')) throw new ProtocolError('SCRAM extension is not supported');
  const clientNonce = a.get('r');
  if (!a.has('n') || !clientNonce || !/^[\x21-\x2b\x2d-\x7e]+$/.test(clientNonce)) {
    throw new ProtocolError('malformed SCRAM client-first-message');
  }
  const nonce = clientNonce + (opts.nonce ?? scramNonce());
  const serverFirst = `r=${nonce},s=${secret.salt.toString('base64')},i=${secret.iterations}`;
  return { message: serverFirst, state: { secret, gs2Header: `${m[1]},${m[2]},`, clientFirstBare, serverFirst, nonce } };
}

/**
 * Verify the client-final-message (the SASLResponse data). On success `message` is the server-final-message
 * to send in AuthenticationSASLFinal; on a wrong proof `ok` is false (send FATAL 28P01, not the message).
 * @throws ProtocolError for a malformed message, a wrong nonce or channel-binding data.
 */
export function scramServerFinal(state: ScramServerState, clientFinal: string): { ok: boolean; message: string } {
  const idx = clientFinal.lastIndexOf(',p=');
  if (idx < 0) throw new ProtocolError('SCRAM client-final-message has no proof');
  const withoutProof = clientFinal.slice(0, idx);
  const a = attributes(withoutProof, 'client-final-message');
  const cbind = b64(a.get('c'), 'channel binding');
  if (!safeEqual(cbind, Buffer.from(state.gs2Header))) throw new ProtocolError('SCRAM channel binding does not match');
  if (a.get('r') !== state.nonce) throw new ProtocolError('SCRAM nonce does not match');
  const proof = b64(clientFinal.slice(idx + 3), 'proof');
  const authMessage = `${state.clientFirstBare},${state.serverFirst},${withoutProof}`;
  const clientSignature = hmac(state.secret.storedKey, authMessage);
  if (proof.length !== clientSignature.length) return { ok: false, message: 'e=invalid-proof' };
  const clientKey = xor(proof, clientSignature);
  if (!safeEqual(sha256(clientKey), state.secret.storedKey)) return { ok: false, message: 'e=invalid-proof' };
  return { ok: true, message: `v=${hmac(state.secret.serverKey, authMessage).toString('base64')}` };
}

// ---------------------------------------------------------------- md5

/**
 * The PasswordMessage answer to AuthenticationMD5Password:
 * "md5" + md5hex(md5hex(password + user) + salt). https://www.postgresql.org/docs/current/auth-password.html
 */
export function md5PasswordHash(user: string, password: string, salt: Uint8Array): string {
  const inner = createHash('md5').update(password, 'utf8').update(user, 'utf8').digest('hex');
  return `md5${createHash('md5').update(inner).update(salt).digest('hex')}`;
}
