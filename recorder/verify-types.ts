/**
 * The verifier's input and report (docs/log-format.md; issue 2 item 4). `verifyLog` is pure: everything it
 * looks at arrives in a VerifyInput (segment bytes and recordings through the reads it is handed, so that
 * they need not all be in memory), everything it concludes leaves in a VerifyReport.
 */

/**
 * The fixed problem vocabulary. `--json` consumers branch on these strings; never rename one, only add.
 * - modified: a record's bytes changed (its leaf no longer matches the next record's `prev`, or a signed
 *   checkpoint's root when it is the last record covered);
 * - missing: a seq absent from the log (a deleted line or segment);
 * - inserted: a line that is not part of the chain (a second record claiming a seq, a seq out of range);
 * - reordered: an intact record found out of seq order;
 * - truncated: the log ends before a signed checkpoint (or the size seen by an earlier run) says it does;
 * - rollback: the checkpoints are older than what an earlier run saw (`--state`) or than the log mirrors;
 * - fork: two checkpoints of the same size with different roots;
 * - wrong_epoch_key: a checkpoint or certificate signed by a key other than the one in force;
 * - epoch_gap: an epoch number skipped in epochs.jsonl or in key.rotate records;
 * - unsealed: records not covered by any checkpoint, older than the allowed age (a warning);
 * - time_regression: a record's ts earlier than its predecessor's (a warning: clocks step back, tampering
 *   would also break the chain);
 * - blob_mismatch: a committed recording whose file is gone or whose size or SHA-256 changed, or whose path
 *   leads out of recordings/ or names no regular file (not read);
 * - unreadable: bytes that are not a record (garbage, a torn line, non-JSON), with their position;
 * - unsigned: the log holds records but no valid signed checkpoint at all, so no signature vouches for any
 *   of them (checkpoints.jsonl gone or emptied and no mirror left, or a log rewritten from scratch).
 */
export const PROBLEM_KINDS = [
  'modified',
  'missing',
  'inserted',
  'reordered',
  'truncated',
  'rollback',
  'fork',
  'wrong_epoch_key',
  'epoch_gap',
  'unsealed',
  'time_regression',
  'blob_mismatch',
  'unreadable',
  'unsigned',
] as const;
export type ProblemKind = (typeof PROBLEM_KINDS)[number];

/**
 * Kinds that only warn: the log may be intact, but something needs a look. (One other case warns: an
 * incomplete last line at the very end of the log, `unreadable` — a write in flight or a torn tail the
 * writer has not yet recovered.)
 */
export const WARNING_KINDS: ReadonlySet<ProblemKind> = new Set<ProblemKind>(['unsealed', 'time_regression']);

export interface Problem {
  kind: ProblemKind;
  /**
   * Where the evidence is: a segment file name (`000000000000.jsonl`), `checkpoints.jsonl`,
   * `keys/epochs.jsonl`, `keys/root.pub` or `state`.
   */
  segment: string | null;
  /** The log seq concerned; null when the problem is not about one record (e.g. a checkpoints.jsonl line). */
  seq: number | null;
  detail: string;
  severity: 'fail' | 'warn';
  /** 1-based line in `segment` when known. */
  line?: number;
  /** Byte offset of that line in `segment` when known. */
  offset?: number;
}

/** What `--state` keeps between runs so that a later run can detect rollback and truncation. */
export interface VerifyState {
  v: 1;
  origin: string;
  /** Records verified in that run (seq 0 … size−1). */
  size: number;
  /** Hex RFC 6962 root of those `size` records. */
  root: string;
  /** The newest valid checkpoint seen then. */
  checkpoint?: { size: number; root: string; note: string };
}

/** What the loader found at a committed blob's path: the bytes, their digest, or the reason it refused to read. */
export type BlobContent = Uint8Array | { sha256: string; bytes: number } | { refused: string };

/**
 * A segment file of log/: its bytes, or `read()` that reads them (recorder/verify-load.ts). verifyLog reads
 * the segments one at a time in name order, keeps none of them once scanned, and may call `read()` of a
 * segment again (to re-parse a line the chain says changed): it must give the same bytes.
 */
/**
 * A segment's bytes, or a reader of them. `reserved`: the reader found room the writer reserves past the records
 * (only the newest segment has any) and left it out of the bytes (verify-load.ts segmentSource).
 */
export type SegmentSource = { name: string; bytes: Uint8Array } | { name: string; read(): Promise<Uint8Array>; reserved?: boolean };

/**
 * A JSONL file of the data home (checkpoints.jsonl, keys/epochs.jsonl): its bytes, or `read(each)` that hands
 * them to `each` a chunk at a time, in order, until `each` returns false (recorder/verify-load.ts; a chunk is
 * `each`'s to read during the call only: the reader may reuse its buffer). It may be
 * read again (pcigate evidence reads both after verify) and gives the same bytes: those the file held when it
 * was loaded, before the segments were listed.
 */
export type JsonlFile = Uint8Array | { read(each: (chunk: Buffer) => boolean): Promise<void> };

export interface VerifyInput {
  /** Segment files of log/, any order (sorted by name inside). */
  segments: ReadonlyArray<SegmentSource>;
  /** checkpoints.jsonl, or undefined when absent. */
  checkpoints?: JsonlFile;
  /** keys/epochs.jsonl, or undefined when absent. */
  epochs?: JsonlFile;
  /** The root public key (raw 32 bytes) and whether the user supplied it or it came from the data home. */
  rootKey?: { raw: Uint8Array; source: 'user' | 'home' };
  /** HOME/origin; when absent the origin of the first record is used. */
  origin?: string;
  /** State saved by an earlier run. */
  state?: VerifyState;
  /** Now, in microseconds since the Unix epoch. */
  nowMicros: number;
  /** Records not covered by a checkpoint older than this (µs) are reported as unsealed. */
  maxUnsealedMicros: number;
  /**
   * A committed blob by its path relative to the data home: its bytes, or their SHA-256 and size when the
   * loader hashed the file as a stream (recorder/recording-file.ts), or why it was not read; undefined when
   * it cannot be read. Asked only after every segment has been scanned.
   */
  blob(path: string): BlobContent | undefined | Promise<BlobContent | undefined>;
  /** Also build the inclusion proof of this seq to the newest checkpoint. */
  proofSeq?: number;
}

export interface InclusionProofReport {
  seq: number;
  /** Hex leaf hash of the record. */
  leaf: string;
  /** Tree size and root (hex and base64, as in the note) of the newest checkpoint. */
  size: number;
  root: string;
  rootBase64: string;
  /** Audit path, hex, leaf's sibling first (RFC 6962 §2.1.1). */
  proof: string[];
  note: string;
  /** The proof checked against the root with recorder/merkle.ts verifyInclusion. */
  verified: boolean;
}

export interface VerifyReport {
  result: 'pass' | 'warn' | 'fail';
  origin: string | null;
  /** Record lines that parsed. */
  records: number;
  /** Distinct checkpoints examined (checkpoints.jsonl and their mirrors in the log). */
  checkpoints: number;
  /** Certified key epochs. */
  epochs: number;
  segments: number;
  /** Problems, in log order then file order; at most MAX_LISTED (see problemsTotal). */
  problems: Problem[];
  problemsTotal: number;
  range: { firstSeq: number | null; lastSeq: number | null; firstTs: string | null; lastTs: string | null };
  newestCheckpoint: { size: number; root: string; epoch: number | null; time: string | null } | null;
  /**
   * Records after the newest valid checkpoint (its own mirror records not counted), or null when there are
   * none. They are chained but not signed: until a checkpoint covers them, whoever can write the log can
   * change, add or cut them without verify noticing (only `--state` notices a cut below its size).
   */
  unsealed: { firstSeq: number; lastSeq: number; count: number } | null;
  rootKeySource: 'user' | 'home' | null;
  /** The state to save for the next run; the previous state unchanged when the result is fail. */
  state: VerifyState | undefined;
  proof?: InclusionProofReport | { seq: number; error: string };
}
