/**
 * Small durable-write helpers over Ctx.fs: create private directories, write a file atomically and
 * fsync'd (temp file, fsync, rename, fsync the directory), append a line with fsync. Crash consistency of
 * the key store and checkpoints.jsonl rests on these.
 */
import path from 'node:path';
import type { Fs } from '../src/cli/ctx.js';
import { HomeError } from '../src/errors.js';

/** mkdir -p with mode 0700, turning permission problems into one clear HomeError line. */
export async function ensurePrivateDir(fs: Fs, dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    await fs.access(dir, 2 /* W_OK */);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new HomeError(`cannot create or write the data home directory ${dir} (${code})`, {
      cause: e,
      hint: 'choose a writable directory with --home DIR or PCIGATE_HOME',
    });
  }
}

/** fsync a directory so that a rename or a new file in it survives a crash. */
export async function fsyncDir(fs: Fs, dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Atomically replaces `file` with `data` (mode `mode`), durable on resolve. */
export async function writeFileAtomic(fs: Fs, file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = `${file}.tmp`;
  await fs.rm(tmp, { force: true });
  const fh = await fs.open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, file);
  await fsyncDir(fs, path.dirname(file));
}

/** Creates `file` exclusively (fails if it exists) with `data`, durable on resolve. */
export async function writeFileExclusive(fs: Fs, file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const fh = await fs.open(file, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsyncDir(fs, path.dirname(file));
}

/** Appends one `\n`-terminated line to `file` (created 0600 if missing), fsync'd on resolve. */
export async function appendLineDurable(fs: Fs, file: string, line: string): Promise<void> {
  const fh = await fs.open(file, 'a', 0o600);
  try {
    await fh.write(line.endsWith('\n') ? line : `${line}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** True when `file` exists (any type). */
export async function exists(fs: Fs, file: string): Promise<boolean> {
  try {
    await fs.lstat(file);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw e;
  }
}
