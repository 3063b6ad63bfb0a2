/**
 * SCRAM-SHA-256 (RFC 5802, RFC 7677) both ways, as PostgreSQL uses it (§55.3.1 SASL Authentication):
 * the server side checks a pcigate listener secret from a local client; the client side authenticates
 * pcigate to the upstream server with the broker-held credential. No channel binding (`n,,` / `y,,`):
 * the local side is loopback, and the upstream side falls back to plain SCRAM-SHA-256 like libpq does
 * with channel_binding=prefer when the server does not offer -PLUS over a non-TLS socket.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { ProtocolError } from '../../errors.js';

const hmac = (key: Buffer, msg: string | Buffer): Buffer => createHmac('sha256', key).update(msg).digest();
const sha256 = (b: Buffer): Buffer => createHash('sha256').update(b).digest();

/** What a server keeps instead of the password (RFC 5802 §3): salt, iterations, StoredKey, ServerKey. */
export interface ScramVerifier {
  salt: Buffer;
  iterations: number;
  storedKey: Buffer;
  serverKey: Buffer;
}

/** SaltedPassword = Hi(Normalize(password), salt, i) (RFC 5802 §3). NFKC stands in for SASLprep. */
function saltedPassword(password: string, salt: Buffer, iterations: number): Buffer {
  return pbkdf2Sync(Buffer.from(password.normalize('NFKC'), 'utf8'), salt, iterations, 32, 'sha256');
}

/** Derives a verifier once per listener, so each local login costs a few HMACs, not a PBKDF2 run. */
export function makeScramVerifier(password: string, iterations = 4096, salt: Buffer = randomBytes(16)): ScramVerifier {
  const salted = saltedPassword(password, salt, iterations);
  return {
    salt,
    iterations,
    storedKey: sha256(hmac(salted, 'Client Key')),
    serverKey: hmac(salted, 'Server Key'),
  };
}

function attrs(msg: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of msg.split(',')) {
    const eq = part.indexOf('=');
    if (eq === 1) out.set(part[0]!, part.slice(2));
  }
  return out;
}

/** The server half of one SCRAM exchange (RFC 5802 §5). Throws ProtocolError on malformed input. */
export class ScramServer {
  private clientFirstBare = '';
  private serverFirst = '';
  private nonce = '';
  private gs2 = '';

  constructor(private readonly verifier: ScramVerifier, private readonly serverNonce = randomBytes(18).toString('base64')) {}

  /** client-first-message → server-first-message. */
  first(clientFirst: string): string {
    const m = /^([ny])(?:=[^,]*)?,(?:a=[^,]*)?,(.*)$/.exec(clientFirst);
    if (!m) throw new ProtocolError('malformed SCRAM client-first-message (channel binding is not offered)');
    this.gs2 = clientFirst.slice(0, clientFirst.length - m[2]!.length);
    this.clientFirstBare = m[2]!;
    const r = attrs(this.clientFirstBare).get('r');
    if (!r || r.includes(',')) throw new ProtocolError('SCRAM client nonce missing');
    this.nonce = r + this.serverNonce;
    this.serverFirst = `r=${this.nonce},s=${this.verifier.salt.toString('base64')},i=${this.verifier.iterations}`;
    return this.serverFirst;
  }

  /** client-final-message → server-final-message, or null when the proof is wrong (constant time). */
  final(clientFinal: string): string | null {
    const pIdx = clientFinal.lastIndexOf(',p=');
    if (pIdx < 0) throw new ProtocolError('SCRAM proof missing');
    const withoutProof = clientFinal.slice(0, pIdx);
    const a = attrs(withoutProof);
    if (a.get('r') !== this.nonce) throw new ProtocolError('SCRAM nonce mismatch');
    if (a.get('c') !== Buffer.from(this.gs2).toString('base64')) throw new ProtocolError('SCRAM channel binding mismatch');
    const proof = Buffer.from(clientFinal.slice(pIdx + 3), 'base64');
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const clientSignature = hmac(this.verifier.storedKey, authMessage);
    if (proof.length !== clientSignature.length) {
      // Still spend the same work so a short proof is not distinguishable by time.
      timingSafeEqual(clientSignature, clientSignature);
      return null;
    }
    const clientKey = Buffer.alloc(32);
    for (let i = 0; i < 32; i++) clientKey[i] = proof[i]! ^ clientSignature[i]!;
    if (!timingSafeEqual(sha256(clientKey), this.verifier.storedKey)) return null;
    return `v=${hmac(this.verifier.serverKey, authMessage).toString('base64')}`;
  }
}

/** The client half of one SCRAM exchange (RFC 5802 §5), used to log in upstream. */
export class ScramClient {
  private readonly clientNonce = randomBytes(18).toString('base64');
  private clientFirstBare = '';
  private expectedServerSignature: Buffer | null = null;

  constructor(private readonly password: string) {}

  first(): string {
    // PostgreSQL ignores the SCRAM user name (it uses the startup packet's), so it is left empty.
    this.clientFirstBare = `n=,r=${this.clientNonce}`;
    return `n,,${this.clientFirstBare}`;
  }

  final(serverFirst: string): string {
    const a = attrs(serverFirst);
    const nonce = a.get('r');
    const salt = a.get('s');
    const iterations = Number(a.get('i'));
    if (!nonce || !nonce.startsWith(this.clientNonce) || !salt || !Number.isInteger(iterations) || iterations < 1) {
      throw new ProtocolError('malformed SCRAM server-first-message from upstream');
    }
    const salted = saltedPassword(this.password, Buffer.from(salt, 'base64'), iterations);
    const clientKey = hmac(salted, 'Client Key');
    const withoutProof = `c=biws,r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const clientSignature = hmac(sha256(clientKey), authMessage);
    const proof = Buffer.alloc(32);
    for (let i = 0; i < 32; i++) proof[i] = clientKey[i]! ^ clientSignature[i]!;
    this.expectedServerSignature = hmac(hmac(salted, 'Server Key'), authMessage);
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** Checks the server's signature so a fake upstream cannot pretend to know the password. */
  verify(serverFinal: string): void {
    const v = attrs(serverFinal).get('v');
    const got = v ? Buffer.from(v, 'base64') : Buffer.alloc(0);
    const want = this.expectedServerSignature;
    if (!want || got.length !== want.length || !timingSafeEqual(got, want)) {
      throw new ProtocolError('upstream SCRAM server signature does not verify');
    }
  }
}
