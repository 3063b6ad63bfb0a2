/**
 * SCRAM-SHA-256 (RFC 5802, RFC 7677) both ways, as PostgreSQL uses it (§55.3.1 SASL Authentication), on top
 * of D's codec (src/pg/protocol/scram.ts): the server side checks a pcigate listener secret from a local
 * client; the client side authenticates pcigate to the upstream server with the broker-held credential.
 * No channel binding: the local side is loopback, and upstream falls back to plain SCRAM-SHA-256 as libpq
 * does with channel_binding=prefer.
 */
import { ProtocolError } from '../../errors.js';
import {
  scramClientFinal, scramClientStart, scramClientVerify, scramSecret, scramServerFinal, scramServerFirst,
  type ScramClientState, type ScramSecret, type ScramServerState,
} from '../protocol/scram.js';

/** What a server keeps instead of the password (RFC 5802 §3): salt, iterations, StoredKey, ServerKey. */
export type ScramVerifier = ScramSecret;

/** Derives a verifier once per listener, so each local login costs a few HMACs, not a PBKDF2 run. */
export function makeScramVerifier(password: string, iterations = 4096, salt?: Buffer): ScramVerifier {
  return scramSecret(password, { iterations, ...(salt ? { salt } : {}) });
}

/** The server half of one SCRAM exchange (RFC 5802 §5). Throws ProtocolError on malformed input. */
export class ScramServer {
  private state: ScramServerState | null = null;

  constructor(private readonly verifier: ScramVerifier) {}

  /** client-first-message → server-first-message. */
  first(clientFirst: string): string {
    const r = scramServerFirst(this.verifier, clientFirst);
    this.state = r.state;
    return r.message;
  }

  /** client-final-message → server-final-message, or null when the proof is wrong (constant time). */
  final(clientFinal: string): string | null {
    if (!this.state) throw new ProtocolError('SCRAM client-final-message before client-first-message');
    const r = scramServerFinal(this.state, clientFinal);
    return r.ok ? r.message : null;
  }
}

/** The client half of one SCRAM exchange (RFC 5802 §5), used to log in upstream. */
export class ScramClient {
  private state: ScramClientState | null = null;

  constructor(private readonly password: string) {}

  first(): string {
    const r = scramClientStart(this.password);
    this.state = r.state;
    return r.message;
  }

  final(serverFirst: string): string {
    if (!this.state) throw new ProtocolError('SCRAM server-first-message before client-first-message');
    const r = scramClientFinal(this.state, serverFirst);
    this.state = r.state;
    return r.message;
  }

  /** Checks the server's signature so a fake upstream cannot pretend to know the password. */
  verify(serverFinal: string): void {
    if (!this.state) throw new ProtocolError('SCRAM server-final-message out of order');
    scramClientVerify(this.state, serverFinal);
  }
}
