/**
 * Proves a recording against the log before it is shown (issue 8 item 2): the file is re-hashed and its
 * SHA-256 and size compared with the blob a `session.end` / `exec.end` record committed
 * (docs/log-format.md `blobs [{sha256, kind, bytes, path}]`). What is shown is what was recorded, or the
 * viewer is told loudly that it is not.
 */
import type { Fs } from '../cli/ctx.js';
import { printable } from '../cli/printable.js';
import type { CommittedBlob } from '../sessions/session-summary.js';
import { readRecordingFile } from '../../recorder/recording-file.js';

export type RecordingStatus = 'verified' | 'mismatch' | 'missing' | 'partial' | 'outside' | 'not_file';

export interface RecordingCheck {
  status: RecordingStatus;
  /** The log record that committed the blob. */
  seq: number;
  path: string;
  kind: string;
  expected: { sha256: string; bytes: number };
  actual?: { sha256: string; bytes: number };
  /** The file's bytes as hashed (so what is played is exactly what was checked). */
  data?: Buffer;
}

/**
 * Reads and hashes the blob's file (relative to `home`) and compares it with the committed values. pcigate
 * writes every recording under `home`/recordings/, and the log names it relative to `home`: a path that is
 * absolute, holds `..`, or leads (also through a symbolic link) out of recordings/ is not read — a crafted
 * log must not make replay show (or --html copy) an arbitrary file — and is reported as `outside`; a FIFO or
 * device there is not read either (`not_file`). The rules are recorder/recording-file.ts's, shared with verify.
 */
export async function checkRecording(fs: Fs, home: string, blob: CommittedBlob): Promise<RecordingCheck> {
  const rel = blob.path ?? '';
  const base = { seq: blob.seq, path: rel, kind: blob.kind, expected: { sha256: blob.sha256, bytes: blob.bytes } };
  const file = await readRecordingFile(fs, home, rel, { keep: true });
  if (file.status !== 'read') return { ...base, status: file.status };
  const actual = { sha256: file.sha256, bytes: file.bytes };
  const same = actual.sha256 === blob.sha256 && actual.bytes === blob.bytes;
  // A running session's recording was only committed part-way: a longer file is expected, not proof.
  const status: RecordingStatus = same ? 'verified' : blob.partial ? 'partial' : 'mismatch';
  return { ...base, status, actual, ...(file.data ? { data: file.data } : {}) };
}

/**
 * The one-line verdict for a header: "verified against log record N" or a loud warning. The path is the log's
 * word (a crafted log's may hold escape sequences): shown printable().
 */
export function describeCheck(c: RecordingCheck): string {
  const shown = printable(c.path);
  switch (c.status) {
    case 'verified':
      return `verified against log record ${c.seq} (sha256 ${c.expected.sha256}, ${c.expected.bytes} bytes)`;
    case 'outside':
      return `WARNING: the recording path ${shown} in log record ${c.seq} is outside the data home's recordings/ directory; it was not read`;
    case 'missing':
      return `WARNING: the recording ${shown} committed in log record ${c.seq} is missing`;
    case 'not_file':
      return `WARNING: the recording path ${shown} in log record ${c.seq} is not a regular file (a FIFO, device or directory); it was not read`;
    case 'partial':
      return `WARNING: the session has not ended; the recording was last committed in log record ${c.seq} (${c.expected.bytes} bytes) and has changed since`;
    case 'mismatch':
      return `WARNING: the recording DOES NOT MATCH log record ${c.seq}: expected sha256 ${c.expected.sha256} (${c.expected.bytes} bytes), found ${c.actual?.sha256} (${c.actual?.bytes} bytes); it was changed after it was recorded`;
  }
}
