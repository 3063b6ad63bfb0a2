/**
 * Proves a recording against the log before it is shown (issue 8 item 2): the file is re-hashed and its
 * SHA-256 and size compared with the blob a `session.end` / `exec.end` record committed
 * (docs/log-format.md `blobs [{sha256, kind, bytes, path}]`). What is shown is what was recorded, or the
 * viewer is told loudly that it is not.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Fs } from '../cli/ctx.js';
import type { CommittedBlob } from '../sessions/session-summary.js';

export type RecordingStatus = 'verified' | 'mismatch' | 'missing' | 'partial';

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

/** Reads and hashes the blob's file (relative to `home`) and compares it with the committed values. */
export async function checkRecording(fs: Fs, home: string, blob: CommittedBlob): Promise<RecordingCheck> {
  const rel = blob.path ?? '';
  const base = { seq: blob.seq, path: rel, kind: blob.kind, expected: { sha256: blob.sha256, bytes: blob.bytes } };
  let data: Buffer;
  try {
    data = await fs.readFile(path.resolve(home, rel));
  } catch {
    return { ...base, status: 'missing' };
  }
  const actual = { sha256: createHash('sha256').update(data).digest('hex'), bytes: data.length };
  const same = actual.sha256 === blob.sha256 && actual.bytes === blob.bytes;
  // A running session's recording was only committed part-way: a longer file is expected, not proof.
  const status: RecordingStatus = same ? 'verified' : blob.partial ? 'partial' : 'mismatch';
  return { ...base, status, actual, data };
}

/** The one-line verdict for a header: "verified against log record N" or a loud warning. */
export function describeCheck(c: RecordingCheck): string {
  switch (c.status) {
    case 'verified':
      return `verified against log record ${c.seq} (sha256 ${c.expected.sha256}, ${c.expected.bytes} bytes)`;
    case 'missing':
      return `WARNING: the recording ${c.path} committed in log record ${c.seq} is missing`;
    case 'partial':
      return `WARNING: the session has not ended; the recording was last committed in log record ${c.seq} (${c.expected.bytes} bytes) and has changed since`;
    case 'mismatch':
      return `WARNING: the recording DOES NOT MATCH log record ${c.seq}: expected sha256 ${c.expected.sha256} (${c.expected.bytes} bytes), found ${c.actual?.sha256} (${c.actual?.bytes} bytes); it was changed after it was recorded`;
  }
}
