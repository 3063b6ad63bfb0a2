/**
 * Reading a recording file that a log record commits to (docs/log-format.md `blobs [{sha256, kind, bytes,
 * path}]`), for `pcigate verify` and `pcigate replay`. The path is the log's word, and a crafted log (or a
 * file planted in recordings/) must not make either read another file, hang on a FIFO or read without end
 * from a device: only a regular file under the data home's recordings/ is read, and only as many bytes as it
 * held when it was opened.
 */
import path from 'node:path';
import type { Fs } from '../src/cli/ctx.js';
import { sha256OfHandle } from './blob.js';
import type { FileHandle } from './blob.js';
import { fileKind, useRegularFile } from './regular-file.js';

/** Why a recording was not read: `outside` recordings/, `missing` (or unreadable), or `not_file` (a FIFO, device …). */
export type RecordingRefusal = 'outside' | 'missing' | 'not_file';

export type RecordingFile =
  | { status: 'read'; sha256: string; bytes: number; data?: Buffer }
  | { status: RecordingRefusal; detail: string };

/**
 * Hashes the recording `rel` (relative to `home`) as a stream, in 1 MiB chunks, and returns its SHA-256 and
 * size; with `keep` also its bytes (replay shows exactly what it checked). Opened as {@link useRecordingFile}
 * opens it; reads stop at the size the file had when opened, so a file still being appended to cannot keep
 * the reader busy.
 */
export async function readRecordingFile(fs: Fs, home: string, rel: string, opts: { keep?: boolean } = {}): Promise<RecordingFile> {
  const r = await useRecordingFile(fs, home, rel, (fh, size) => sha256OfHandle(fh, { upTo: size, ...(opts.keep ? { keep: true } : {}) }));
  return r.status === 'read' ? { status: 'read', ...r.value } : r;
}

/**
 * Opens the recording `rel` (relative to `home`) and hands the open handle and the file's size at open to `use`
 * (which must read no further than that size), then closes it. A path that is absolute, holds `..`, or leads
 * (also through a symbolic link) out of `home`/recordings/ — where pcigate writes every recording — is `outside`
 * and not opened; anything but a regular file is `not_file` and not read: the file is opened without waiting
 * for a writer or following a link, and what was opened is checked. An error of the open or of `use` is `missing`.
 */
export async function useRecordingFile<T>(
  fs: Fs, home: string, rel: string, use: (fh: FileHandle, size: number) => Promise<T>,
): Promise<{ status: 'read'; value: T } | { status: RecordingRefusal; detail: string }> {
  if (rel === '') return { status: 'missing', detail: 'no path' };
  const dir = path.resolve(home, 'recordings');
  const abs = path.resolve(home, rel);
  if (path.isAbsolute(rel) || rel.split(/[\\/]/).includes('..') || !abs.startsWith(dir + path.sep)) {
    return { status: 'outside', detail: "is outside the data home's recordings/ directory" };
  }
  const missing = (e: unknown) => ({ status: 'missing' as const, detail: `is missing or unreadable (${(e as NodeJS.ErrnoException | undefined)?.code ?? 'error'})` });
  const notFile = (kind: string) => ({ status: 'not_file' as const, detail: `is ${kind}, not a regular file` });
  let real: string;
  try {
    real = await fs.realpath(abs);
    if (!real.startsWith((await fs.realpath(dir)) + path.sep)) {
      return { status: 'outside', detail: "leads out of the data home's recordings/ directory through a symbolic link" };
    }
    const st = await fs.lstat(real);
    if (!st.isFile()) return notFile(fileKind(st));
  } catch (e) {
    return missing(e);
  }
  try {
    // Not following a link: one swapped in between realpath and open is not followed; and what was opened is
    // checked, not what lstat saw: the name may have been swapped for a FIFO in between.
    const r = await useRegularFile(fs, real, { follow: false }, use);
    if (r.status === 'unopened') return missing(r.cause);
    if (r.status === 'not_file') return notFile(r.kind);
    return { status: 'read', value: r.value };
  } catch (e) {
    return missing(e);
  }
}
