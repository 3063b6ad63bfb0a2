/**
 * Opening a file whose name someone else may control (a recording a log record names, a file of the data
 * home, a segment, the log lock) so that only a regular file is ever read: the open neither waits for a FIFO's
 * writer nor, unless asked, follows a symbolic link, and what was opened (not what the name pointed to a
 * moment earlier) is checked with fstat before it is read. A FIFO would hang the reader, a device (a link to
 * /dev/zero) read without end, a directory fail as an internal error.
 */
import type { Fs } from '../src/cli/ctx.js';
import { noWaitReadFlags } from './blob.js';
import type { FileHandle } from './blob.js';

type StatKind = { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean };

/** What a file that is not a regular one is, for a message: `a FIFO`, `a directory` … */
export function fileKind(st: StatKind): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/**
 * What {@link useRegularFile} found: `use`'s value; `unopened` with the open's error (`code` ENOENT, ELOOP for
 * a symbolic link not followed, EACCES …); or `not_file` with what was opened instead (fileKind), not read.
 */
export type RegularFileUse<T> =
  | { status: 'used'; value: T }
  | { status: 'unopened'; code: string | undefined; cause: unknown }
  | { status: 'not_file'; kind: string };

/**
 * Opens `file` for reading (`follow: false`: a symbolic link as its last component is not followed), checks
 * that the handle is a regular file, hands it and its size at open to `use`, and closes it. `use` should read
 * no further than that size, so that a file still being appended to cannot keep it busy. An error of fstat or
 * of `use` is thrown (the file is closed first).
 */
export async function useRegularFile<T>(
  fs: Fs, file: string, opts: { follow: boolean }, use: (fh: FileHandle, size: number) => Promise<T>,
): Promise<RegularFileUse<T>> {
  let fh: FileHandle;
  try {
    fh = await fs.open(file, noWaitReadFlags(opts));
  } catch (e) {
    return { status: 'unopened', code: (e as NodeJS.ErrnoException | undefined)?.code, cause: e };
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return { status: 'not_file', kind: fileKind(st) };
    return { status: 'used', value: await use(fh, st.size) };
  } finally {
    await fh.close();
  }
}
