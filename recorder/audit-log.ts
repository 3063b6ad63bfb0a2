/**
 * The audit log's public types: the options openAuditLog takes, the AuditLog it returns, and the mapping
 * from pcigate.yaml's `audit` section. The implementation is recorder/log-writer.ts.
 */
import type { Actor, AuditSink } from './types.js';

export interface AuditLogOptions {
  /** The data home (docs/log-format.md layout). */
  home: string;
  /** Checkpoint at least this often while records arrive (audit.checkpoint.interval). Default 10 s. */
  checkpointIntervalMs?: number;
  /** …and after this many records (audit.checkpoint.records). Default 1000. */
  checkpointRecords?: number;
  /** …and after this long without appends ("when idle"). Default 1 s. */
  idleMs?: number;
  /** Rotate the epoch key when the epoch is older than this (audit.epoch_hours). Default 24 h. */
  epochLengthMs?: number;
  /** Start a new segment once the current one reaches this size. Default 64 MiB. */
  segmentMaxBytes?: number;
  /**
   * Initialise keys and origin on first use (the embedded default), discarding the root private key.
   * `pcigate keys init` is the explicit path that can keep it.
   */
  createIfMissing?: boolean | { origin?: string };
  /** The pid written into log/.lock; default this process's (from /proc/self). */
  pid?: number;
  /**
   * When an append resolves (audit.durability): `fsync` (default) once its bytes are fdatasync'd; `os` once
   * write(2) handed them to the kernel (they survive a pcigate crash, not a power loss), with fdatasync run
   * in the background at most every `syncIntervalMs`. docs/log-format.md "Failure semantics".
   */
  durability?: Durability;
  /** `os` mode: the longest a written record waits for its fdatasync (audit.sync_interval). Default 50 ms. */
  syncIntervalMs?: number;
  /** `fsync` mode: the longest a batch waits for other sessions' records to share its fdatasync. Default 0.4 ms. */
  commitDelayMs?: number;
}

/** audit.durability: when an append counts as done (see AuditLogOptions.durability). */
export const DURABILITY = ['fsync', 'os'] as const;
export type Durability = (typeof DURABILITY)[number];

export interface CheckpointInfo {
  size: number;
  /** Hex RFC 6962 root. */
  root: string;
  epoch: number;
  /** The signed note as appended to checkpoints.jsonl. */
  note: string;
}

/** The recorder's public face: an AuditSink plus checkpoints, rotation and close. */
export interface AuditLog extends AuditSink {
  /** Records appended so far (= the next seq): durable, or with durability `os` written to the kernel. */
  readonly size: number;
  readonly origin: string;
  /** The key epoch in force. */
  readonly epoch: number;
  /** Signs a checkpoint over every durable record; undefined when the newest checkpoint already covers them. */
  checkpoint(): Promise<CheckpointInfo | undefined>;
  /** Ends the current key epoch (docs/log-format.md "Key epochs"); `actor` is who asked (keys rotate). */
  rotate(opts?: { actor?: Actor }): Promise<{ from_epoch: number; to_epoch: number }>;
  /** Writes `log.stop` and a final checkpoint, then releases the log. */
  close(): Promise<void>;
}

/**
 * AuditLogOptions from pcigate.yaml's `audit` section (src/config/sections/audit.ts), given structurally so
 * the recorder does not depend on the config module: durations in ms, sizes in bytes.
 */
export function auditLogOptionsFromConfig(
  home: string,
  audit: {
    checkpoint: { interval: number; records: number }; epoch: number; segment_bytes: number; origin?: string | undefined;
    durability?: Durability | undefined; sync_interval?: number | undefined;
  },
  extra: Partial<AuditLogOptions> = {},
): AuditLogOptions {
  return {
    home,
    checkpointIntervalMs: audit.checkpoint.interval,
    checkpointRecords: audit.checkpoint.records,
    epochLengthMs: audit.epoch,
    segmentMaxBytes: audit.segment_bytes,
    ...(audit.durability ? { durability: audit.durability } : {}),
    ...(audit.sync_interval !== undefined ? { syncIntervalMs: audit.sync_interval } : {}),
    ...extra,
    // (a data home made on first use takes the configured origin: the name its checkpoints and bundles carry)
    ...(extra.createIfMissing === true && audit.origin !== undefined ? { createIfMissing: { origin: audit.origin } } : {}),
  };
}
