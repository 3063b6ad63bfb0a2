/**
 * Small durable-write helpers over Ctx.fs: create private directories, write a file atomically and
 * fsync'd (temp file, fsync, rename, fsync the directory), append a line with fsync. Crash consistency of
 * the key store and checkpoints.jsonl rests on these.
 */
import { writeSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
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
    const bytes = Buffer.from(line.endsWith('\n') ? line : `${line}\n`, 'utf8');
    const before = (await fh.stat()).size;
    try {
      // A short write (a full disk) is written on until the line is whole or a write fails.
      for (let at = 0; at < bytes.length;) {
        const { bytesWritten } = await fh.write(bytes, at, bytes.length - at);
        if (bytesWritten <= 0) throw new Error(`short write appending to ${file}`);
        at += bytesWritten;
      }
      await fh.sync();
    } catch (e) {
      // No part of a line is left behind, which every later line would follow on the same line.
      await fh.truncate(before).catch(() => undefined);
      throw e;
    }
  } finally {
    await fh.close();
  }
}

/**
 * Cuts a last line without its `\n` off `file` (a line append a crash cut short: appendLineDurable's file), so
 * the next line starts on a line of its own. Returns the bytes cut (0: none, or no file).
 */
export async function cutTornLine(fs: Fs, file: string): Promise<number> {
  let fh: Awaited<ReturnType<Fs['open']>>;
  try {
    fh = await fs.open(file, 'r+');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
  try {
    const size = (await fh.stat()).size;
    let end = size;
    const buf = Buffer.alloc(64 * 1024);
    // The last `\n`, read backwards a block at a time.
    while (end > 0) {
      const from = Math.max(0, end - buf.length);
      const { bytesRead } = await fh.read(buf, 0, end - from, from);
      const nl = buf.subarray(0, bytesRead).lastIndexOf(10);
      if (nl >= 0) { end = from + nl + 1; break; }
      end = from;
      if (from === 0) break;
    }
    if (end === size) return 0;
    await fh.truncate(end);
    await fh.sync();
    return size - end;
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

/**
 * Writes all of `buf` to `fh`: at byte `position`, or at the end of a handle opened for append when there is none.
 * A handle whose `write` is node's own is written with write(2) on the calling thread: a small write to the page
 * cache costs a few µs, where a thread-pool round trip costs a handoff, a wakeup and a promise, and under load waits
 * its turn (the audit log's group commit writes once per batch, and a read's response waits for that write). A
 * handle that wraps `write` (a test's fault-injecting Fs) is written through it. Returns a promise only in that
 * case; the synchronous path throws synchronously.
 */
export function writeAllTo(fh: FileHandle, buf: Buffer, position?: number): Promise<void> | undefined {
  if (fh.write === (Object.getPrototypeOf(fh) as FileHandle).write) {
    let off = 0;
    while (off < buf.length) {
      const n = writeSync(fh.fd, buf, off, buf.length - off, position === undefined ? null : position + off);
      if (n <= 0) throw new Error('short write');
      off += n;
    }
    return undefined;
  }
  return (async () => {
    let off = 0;
    while (off < buf.length) {
      const { bytesWritten } = await fh.write(buf, off, buf.length - off, position === undefined ? null : position + off);
      if (bytesWritten <= 0) throw new Error('short write');
      off += bytesWritten;
    }
  })();
}
