/**
 * PgSession: one proxied PostgreSQL connection, as a state machine:
 *   startup (SSL/GSSENC negotiation, StartupMessage) → local authentication (listener secret, SCRAM)
 *   → opening (the owner connects upstream with the broker-held credential) → ready (Relay) → closed.
 * A CancelRequest arriving as the first packet is handed to the owner instead (§55.2.9).
 * The proxy knows nothing of policy or recording: the owner supplies hooks in `open`.
 */
import type net from 'node:net';
import type tls from 'node:tls';
import { PgSessionRefused, PgUpstreamError } from '../../errors.js';
import { type CancelMap, type Cancellable } from './cancel-map.js';
import type { SessionHooks } from './hooks.js';
import { acceptLocal, type StartupInfo } from './local-auth.js';
import { Relay } from './relay.js';
import type { ScramVerifier } from './scram.js';
import type { UpstreamConnection } from './upstream.js';
import { BE, backendKeyData, errorMessage, type ErrorFields } from './wire.js';

export interface ClientAddress {
  ip?: string;
  port?: number;
}

export interface OpenedSession {
  hooks: SessionHooks;
  upstream: UpstreamConnection;
  /** Sends a CancelRequest for the upstream backend key (the owner knows the upstream target). */
  cancelUpstream(): Promise<void>;
  /** RelayOptions.vanishedDrainMs. */
  vanishedDrainMs?: number;
}

export interface SessionSummary {
  startup: StartupInfo;
  bytesIn: number;
  bytesOut: number;
  statements: number;
  clean: boolean;
  reason: string;
}

export interface SessionOwner {
  verifier: ScramVerifier;
  tls?: tls.SecureContext;
  cancelMap: CancelMap;
  now(): number;
  /** After local authentication: record, build hooks, connect upstream. A throw refuses the session. */
  open(startup: StartupInfo, client: ClientAddress, session: PgSession): Promise<OpenedSession>;
  /** The session ended (only sessions that were opened). */
  closed(summary: SessionSummary, session: PgSession): void;
  refused(info: { reason: string; authFailed?: StartupInfo; error?: ErrorFields }, client: ClientAddress): void;
  cancelRequested(pid: number, secret: number, client: ClientAddress): void;
  internalError(e: unknown, session: PgSession | null): void;
}

const GENERIC_OPEN: ErrorFields = { severity: 'FATAL', code: '08006', message: 'pcigate could not open the upstream session (details are in the audit log)' };

export class PgSession implements Cancellable {
  state: 'startup' | 'opening' | 'ready' | 'closed' = 'startup';
  private relay: Relay | null = null;
  private opened: OpenedSession | null = null;
  private key: { pid: number; secret: number } | null = null;
  /** The client's socket while the owner opens the session (after AuthenticationOk, before ReadyForQuery). */
  private pending: net.Socket | null = null;
  readonly client: ClientAddress;

  constructor(private readonly socket: net.Socket, private readonly owner: SessionOwner) {
    socket.setNoDelay(true);
    this.client = { ip: socket.remoteAddress, port: socket.remotePort };
  }

  /** Runs the session to its end. Never throws. */
  async run(): Promise<void> {
    const local = await acceptLocal(this.socket, { verifier: this.owner.verifier, tls: this.owner.tls });
    if (local.kind === 'cancel') {
      this.state = 'closed';
      this.owner.cancelRequested(local.pid, local.secret, this.client);
      return;
    }
    if (local.kind === 'refused') {
      this.state = 'closed';
      this.owner.refused(local, this.client);
      return;
    }
    this.state = 'opening';
    const client = local.socket;
    client.pause();
    let opened: OpenedSession;
    this.pending = client;
    try {
      opened = await this.owner.open(local.startup, this.client, this);
    } catch (e) {
      this.pending = null;
      this.state = 'closed';
      this.owner.internalError(e, this);
      // Only errors built for the client cross the wire: the upstream server's own refusal, or pcigate's.
      const fields = e instanceof PgUpstreamError && e.fields?.code ? e.fields : null;
      client.end(errorMessage(
        e instanceof PgSessionRefused ? { severity: 'FATAL', code: e.sqlstate, message: e.message, hint: e.hint }
        : fields ? { severity: 'FATAL', code: fields.code!, message: fields.message ?? 'upstream refused the session', detail: fields.detail }
        : GENERIC_OPEN));
      this.owner.closed({ startup: local.startup, bytesIn: 0, bytesOut: 0, statements: 0, clean: false, reason: e instanceof Error ? e.message : 'open failed' }, this);
      return;
    }
    this.pending = null;
    this.opened = opened;
    this.key = this.owner.cancelMap.issue(this, opened.upstream.backendKey?.pid);
    // Upstream's ParameterStatus (application_name is the client's to set) and NoticeResponse (a login event
    // trigger can RAISE NOTICE with table data) are offered to the hooks, then go through with ReadyForQuery; its
    // BackendKeyData does not. A hook that throws ends the session unanswered.
    let hello: Buffer[];
    try {
      hello = opened.upstream.startupFrames.map((f) => (f[0] === BE.BackendKeyData ? backendKeyData(this.key!.pid, this.key!.secret)
        : (f[0] === BE.ParameterStatus || f[0] === BE.NoticeResponse) && opened.hooks.onBackendMessage ? opened.hooks.onBackendMessage(f, null) ?? f : f));
    } catch (e) {
      this.owner.internalError(e, this);
      client.end(errorMessage(GENERIC_OPEN));
      opened.upstream.socket.destroy();
      this.owner.cancelMap.release(this.key.pid, this.key.secret);
      this.state = 'closed';
      this.owner.closed({ startup: local.startup, bytesIn: 0, bytesOut: 0, statements: 0, clean: false, reason: 'startup message could not be masked' }, this);
      return;
    }
    if (!opened.upstream.backendKey) hello.splice(hello.length - 1, 0, backendKeyData(this.key.pid, this.key.secret));
    client.write(Buffer.concat(hello));
    this.state = 'ready';
    await new Promise<void>((resolve) => {
      const relay = new Relay({
        client, upstream: opened.upstream.socket, clientReader: local.reader, upstreamReader: opened.upstream.reader,
        hooks: opened.hooks,
        now: () => this.owner.now(),
        onInternalError: (e) => this.owner.internalError(e, this),
        cancelUpstream: () => opened.cancelUpstream(),
        ...(opened.vanishedDrainMs !== undefined ? { vanishedDrainMs: opened.vanishedDrainMs } : {}),
        onEnd: ({ reason, clean }) => {
          this.state = 'closed';
          if (this.key) this.owner.cancelMap.release(this.key.pid, this.key.secret);
          this.owner.closed({ startup: local.startup, bytesIn: relay.bytesIn, bytesOut: relay.bytesOut, statements: relay.statements, clean, reason }, this);
          resolve();
        },
      });
      this.relay = relay;
      relay.start();
      client.resume();
    });
  }

  /**
   * A NoticeResponse to the client while the session is being opened (e.g. "waiting for approval A-…"):
   * §55.2.1 allows NoticeResponse after AuthenticationOk, and libpq and pg show it. No-op at other times.
   */
  notice(message: string): void {
    if (this.state === 'opening' && this.pending && !this.pending.destroyed) this.pending.write(errorMessage({ severity: 'NOTICE', code: '00000', message }, true));
  }

  /** The key pcigate issued to the client (null before ready). */
  get issuedKey(): { pid: number; secret: number } | null {
    return this.key;
  }

  async cancelUpstream(): Promise<void> {
    await this.opened?.cancelUpstream();
  }

  /** Closes the session from pcigate's side (listener shutdown). */
  shutdown(message = 'pcigate is shutting down'): void {
    if (this.relay) this.relay.shutdown(message);
    else this.socket.destroy();
  }
}
