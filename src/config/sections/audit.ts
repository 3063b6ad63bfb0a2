/**
 * The `audit` section of pcigate.yaml: where the log lives and how often it is sealed
 * (ARCHITECTURE.md §4; PCI DSS 10.3.4 integrity of audit logs, 10.5.1 retention). Durations are parsed to
 * milliseconds and sizes to bytes, so the recorder never sees a string.
 */
import { z } from 'zod';
import { byteSize, duration } from '../duration.js';

const HOUR = 3_600_000;

/**
 * The largest audit.segment_bytes: 1 GiB. A segment passes it by up to one group-commit batch (the writer
 * rolls over before a batch, not inside one), and `pcigate verify` reads a segment as one buffer, which Node
 * caps at 4 GiB: a larger setting would write segments verify must refuse.
 */
export const SEGMENT_BYTES_MAX = 1024 * 1024 * 1024;

export const checkpointSection = z
  .strictObject({
    /** Seal (sign a checkpoint) at least this often while records arrive. */
    interval: duration({ min: 100 }).default(30_000),
    /** …or after this many records, whichever comes first. */
    records: z.number().int().min(1).default(1000),
  })
  .prefault({});

export const auditSection = z
  .strictObject({
    /** The data home (log/, checkpoints, keys/, recordings/). Relative paths are relative to the config file. */
    dir: z.string().min(1).optional(),
    /** The log's origin line in checkpoints (C2SP signed note); default chosen by the recorder (host name). */
    origin: z.string().min(1).regex(/^\S+$/, 'expected an origin without spaces, e.g. pcigate.example.com/prod').optional(),
    checkpoint: checkpointSection,
    /** Length of a signing-key epoch: after it the key is rotated and the old private key destroyed. */
    epoch: duration({ min: 60_000 }).default(24 * HOUR),
    /** `verify` warns about records not covered by a checkpoint older than this. */
    max_unsealed_age: duration({ min: 1000 }).default(HOUR),
    /** A segment file is closed and a new one opened past this size. */
    segment_bytes: byteSize({ min: 4096, max: SEGMENT_BYTES_MAX }).default(64 * 1024 * 1024),
    /**
     * When a record counts as written, and so when a statement may run (docs/log-format.md "Failure
     * semantics"): `fsync` once fdatasync(2) returned (survives a power loss); `os` once write(2) handed it
     * to the kernel (survives a pcigate crash, not a power loss) with fdatasync at least every sync_interval.
     */
    durability: z.enum(['fsync', 'os']).default('fsync'),
    /** With `durability: os`: the longest a written record waits for its fdatasync. */
    sync_interval: duration({ min: 1, max: 10_000 }).default(50),
  })
  .prefault({});

export type AuditConfig = z.infer<typeof auditSection>;
