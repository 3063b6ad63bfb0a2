/**
 * The audit record (ARCHITECTURE.md §4). Field names map one-to-one onto PCI DSS 10.2.2:
 * user identification → actor, type of event → type, date and time → ts, success or failure → outcome,
 * origination of event → src, identity or name of affected data/component → target.
 */

/** Who acted. `via`: how the identity was established (oidc, workload, local). */
export interface Actor {
  sub: string;
  idp?: string;
  email?: string;
  groups?: string[];
  amr?: string[];
  via: 'oidc' | 'workload' | 'local' | 'system';
}

export interface Account {
  kind: 'postgres' | 'ssh' | 'os' | 'pcigate';
  name: string;
}

export interface Source {
  ip?: string;
  port?: number;
  client?: string;
  host?: string;
}

export interface Target {
  conn?: string;
  kind?: 'postgres' | 'ssh' | 'log' | 'keys' | 'config';
  host?: string;
  db?: string;
  user?: string;
  objects?: string[];
}

export type Outcome = 'success' | 'failure' | 'denied' | 'pending';

export interface BlobRef {
  sha256: string;
  kind: string;
  bytes: number;
  /** Path of the blob relative to the data home (e.g. recordings/…); verify re-hashes it. */
  path?: string;
}

/** What a caller hands to append(); the recorder adds v, origin, seq, ts and prev. */
export interface AuditEvent {
  type: string;
  session?: string;
  actor?: Actor;
  account?: Account;
  src?: Source;
  target?: Target;
  outcome?: Outcome;
  detail?: Record<string, unknown>;
  blobs?: BlobRef[];
}

/** One line of the log as written. `ts` is RFC 3339 UTC with microseconds. `prev` is hex. */
export interface AuditRecord extends AuditEvent {
  v: 1;
  origin: string;
  seq: number;
  ts: string;
  prev: string;
}

/** What the broker needs from the recorder; the pg and ssh layers never see it. */
export interface AuditSink {
  /**
   * Resolves once the record is durable — fdatasync'd, or with audit.durability `os` written to the kernel
   * (fdatasync'd within audit.sync_interval); rejects with AuditWriteError otherwise.
   */
  append(event: AuditEvent): Promise<{ seq: number; leaf: string }>;
  /** Hashes a finished recording file so its sha256 and size can be committed into a record. */
  commitBlob(path: string, kind: string): Promise<BlobRef>;
}
