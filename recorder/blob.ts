/**
 * commitBlob: the SHA-256 and size of a finished recording file, so they can be committed into a record
 * (docs/log-format.md: `blobs [{sha256, kind, bytes, path}]`, re-hashed by verify).
 */
import { createHash } from 'node:crypto';
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
 * SHA-256 and size of what an open handle reads from its position to the end, in 1 MiB chunks: for a caller
 * that opened the file itself and checked the handle (fstat) before hashing it. The handle stays open.
 */
export async function sha256OfHandle(fh: { read(buf: Buffer, offset: number, length: number, position: number | null): Promise<{ bytesRead: number }> }): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const buf = Buffer.allocUnsafe(1 << 20);
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, null);
    if (bytesRead === 0) break;
    hash.update(buf.subarray(0, bytesRead));
    bytes += bytesRead;
  }
  return { sha256: hash.digest('hex'), bytes };
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
