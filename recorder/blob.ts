/**
 * commitBlob: the SHA-256 and size of a finished recording file, so they can be committed into a record
 * (docs/log-format.md: `blobs [{sha256, kind, bytes, path}]`, re-hashed by verify).
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import path from 'node:path';
import type { Fs } from '../src/cli/ctx.js';
import { AuditWriteError } from '../src/errors.js';
import type { BlobRef } from './types.js';

/** SHA-256 and size of an open-able file, read in 1 MiB chunks (never whole into memory). */
export async function sha256OfFile(fs: Fs, abs: string): Promise<{ sha256: string; bytes: number }> {
  const fh = await fs.open(abs, 'r');
  try {
    return await sha256OfHandle(fh);
  } finally {
    await fh.close();
  }
}

/**
 * Open flags for reading a file a name may have been swapped under: O_NONBLOCK (opening a FIFO for reading
 * waits for a writer; with it the open returns), and with `follow: false` O_NOFOLLOW (a symbolic link as the
 * last component is not followed). 0 where the platform lacks them (Windows). What was opened must still be
 * checked with fstat before it is read: these only keep the open itself from hanging or going elsewhere.
 */
export function noWaitReadFlags(opts: { follow: boolean }): number {
  return constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (opts.follow ? 0 : (constants.O_NOFOLLOW ?? 0));
}

/** A handle `Fs.open` gives: what recording-file.ts hands its reader and scan-files.ts (src/mask) scans. */
export type FileHandle = Awaited<ReturnType<Fs['open']>>;

const CHUNK = 1 << 20;

/**
 * SHA-256 and size of what an open handle holds from its start, in 1 MiB chunks: for a caller that opened the
 * file itself and checked the handle (fstat) before hashing it. The handle stays open. `upTo`: stop there (the
 * size at open, so a file still being appended to cannot keep the reader busy); `keep`: return the bytes too.
 */
export async function sha256OfHandle(
  fh: { read(buf: Buffer, offset: number, length: number, position: number | null): Promise<{ bytesRead: number }> },
  opts: { upTo?: number; keep?: boolean } = {},
): Promise<{ sha256: string; bytes: number; data?: Buffer }> {
  const hash = createHash('sha256');
  const limit = opts.upTo ?? Infinity;
  const kept: Buffer[] = [];
  const shared = opts.keep ? undefined : Buffer.allocUnsafe(Math.min(CHUNK, limit));
  let bytes = 0;
  while (bytes < limit) {
    const buf = shared ?? Buffer.allocUnsafe(Math.min(CHUNK, limit - bytes));
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, limit - bytes), bytes);
    if (bytesRead === 0) break; // the end, or cut while being read: what was there is what is hashed
    const got = buf.subarray(0, bytesRead);
    hash.update(got);
    if (opts.keep) kept.push(got);
    bytes += bytesRead;
  }
  return { sha256: hash.digest('hex'), bytes, ...(opts.keep ? { data: Buffer.concat(kept, bytes) } : {}) };
}

/** Hashes `file` (absolute, or relative to `home`); `path` in the result is relative to home. */
export async function hashBlob(fs: Fs, home: string, file: string, kind: string): Promise<BlobRef> {
  const abs = path.resolve(home, file);
  let sum;
  try {
    sum = await sha256OfFile(fs, abs);
  } catch (e) {
    throw new AuditWriteError(`cannot read recording ${abs} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { cause: e });
  }
  const rel = path.relative(home, abs);
  return { sha256: sum.sha256, kind, bytes: sum.bytes, path: rel.startsWith('..') || path.isAbsolute(rel) ? abs : rel.split(path.sep).join('/') };
}
