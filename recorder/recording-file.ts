/**
 * Reading a recording file that a log record commits to (docs/log-format.md `blobs [{sha256, kind, bytes,
 * path}]`), for `pcigate verify` and `pcigate replay`. The path is the log's word, and a crafted log (or a
 * file planted in recordings/) must not make either read another file, hang on a FIFO or read without end
 * from a device: only a regular file under the data home's recordings/ is read, and only as many bytes as it
 * held when it was opened.
 */
import { constants } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Fs } from '../src/cli/ctx.js';

/** Why a recording was not read: `outside` recordings/, `missing` (or unreadable), or `not_file` (a FIFO, device …). */
export type RecordingRefusal = 'outside' | 'missing' | 'not_file';

export type RecordingFile =
  | { status: 'read'; sha256: string; bytes: number; data?: Buffer }
  | { status: RecordingRefusal; detail: string };

// O_NONBLOCK: opening a FIFO for reading waits for a writer; with it the open returns and fstat refuses it.
// O_NOFOLLOW: a symbolic link swapped in between realpath and open is not followed. Both 0 where the
// platform lacks them (Windows), where the lstat/fstat checks still hold.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);
const CHUNK = 1 << 20;

function fileKind(st: { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/**
 * Hashes the recording `rel` (relative to `home`) as a stream, in 1 MiB chunks, and returns its SHA-256 and
 * size; with `keep` also its bytes (replay shows exactly what it checked). A path that is absolute, holds
 * `..`, or leads (also through a symbolic link) out of `home`/recordings/ — where pcigate writes every
 * recording — is `outside` and not opened; anything but a regular file is `not_file` and not read. Reads
 * stop at the size the file had when opened, so a file still being appended to cannot keep the reader busy.
 */
export async function readRecordingFile(fs: Fs, home: string, rel: string, opts: { keep?: boolean } = {}): Promise<RecordingFile> {
  if (rel === '') return { status: 'missing', detail: 'no path' };
  const dir = path.resolve(home, 'recordings');
  const abs = path.resolve(home, rel);
  if (path.isAbsolute(rel) || rel.split(/[\\/]/).includes('..') || !abs.startsWith(dir + path.sep)) {
    return { status: 'outside', detail: "is outside the data home's recordings/ directory" };
  }
  let real: string;
  try {
    real = await fs.realpath(abs);
    if (!real.startsWith((await fs.realpath(dir)) + path.sep)) {
      return { status: 'outside', detail: "leads out of the data home's recordings/ directory through a symbolic link" };
    }
    const st = await fs.lstat(real);
    if (!st.isFile()) return { status: 'not_file', detail: `is ${fileKind(st)}, not a regular file` };
  } catch (e) {
    return { status: 'missing', detail: `is missing or unreadable (${(e as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  let fh;
  try {
    fh = await fs.open(real, OPEN_FLAGS);
  } catch (e) {
    return { status: 'missing', detail: `is missing or unreadable (${(e as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  try {
    // What was opened, not what lstat saw: the name may have been swapped for a FIFO in between.
    const st = await fh.stat();
    if (!st.isFile()) return { status: 'not_file', detail: `is ${fileKind(st)}, not a regular file` };
    const hash = createHash('sha256');
    const chunks: Buffer[] = [];
    let bytes = 0;
    const shared = opts.keep ? undefined : Buffer.allocUnsafe(Math.min(CHUNK, st.size));
    while (bytes < st.size) {
      const buf = shared ?? Buffer.allocUnsafe(Math.min(CHUNK, st.size - bytes));
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, st.size - bytes), bytes);
      if (bytesRead === 0) break; // cut while being read: what was there is what is hashed
      const got = buf.subarray(0, bytesRead);
      hash.update(got);
      if (opts.keep) chunks.push(got);
      bytes += bytesRead;
    }
    return { status: 'read', sha256: hash.digest('hex'), bytes, ...(opts.keep ? { data: Buffer.concat(chunks, bytes) } : {}) };
  } catch (e) {
    return { status: 'missing', detail: `is missing or unreadable (${(e as NodeJS.ErrnoException).code ?? 'error'})` };
  } finally {
    await fh.close();
  }
}
