/**
 * A lock file created with O_CREAT|O_EXCL (`wx`): the kernel lets exactly one creator win, across
 * processes on the same host and on a shared bastion. Used around approval state transitions so two
 * approvers (or an approver and an expiry) never both act on the same pending request.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Fs } from '../cli/ctx.js';
import { PolicyError } from '../errors.js';

/**
 * A lock seen unchanged for this long is left over from a crashed process and may be broken (a live holder
 * refreshes its mtime every fifth of it). Measured
 * by the waiter's own sleeps, not by comparing file mtimes with a clock (the two need not agree).
 */
export const STALE_LOCK_MS = 5_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs `fn` holding `lockPath`; waits (with jittered back-off) up to `waitMs` for the lock. */
export async function withFileLock<T>(fs: Fs, lockPath: string, fn: () => Promise<T>, waitMs = 15_000): Promise<T> {
  let waited = 0;
  let delay = 2;
  let seen: { id: string; since: number } | undefined;
  for (;;) {
    try {
      const fh = await fs.open(lockPath, 'wx', 0o600);
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new PolicyError(`cannot create lock ${path.basename(lockPath)}`, { cause: e });
      const st = await fs.stat(lockPath).catch(() => undefined);
      const id = st ? `${st.ino}:${st.mtimeMs}` : '';
      if (!seen || seen.id !== id) seen = { id, since: waited };
      else if (st && waited - seen.since > STALE_LOCK_MS) {
        // Break a stale lock by renaming it aside first: only one breaker's rename succeeds.
        const aside = `${lockPath}.stale-${randomBytes(4).toString('hex')}`;
        await fs.rename(lockPath, aside).then(() => fs.rm(aside, { force: true }), () => undefined);
        seen = undefined;
        continue;
      }
      if (waited > waitMs) throw new PolicyError(`timed out waiting for lock ${path.basename(lockPath)}`);
      const ms = delay + Math.floor(Math.random() * delay);
      await sleep(ms);
      waited += ms;
      delay = Math.min(delay * 2, 50);
    }
  }
  // A live holder keeps its lock fresh (its mtime), so that a waiter never takes it for a crashed process's
  // while `fn` waits on something slow (a record made durable on a busy disk): breaking it would let two
  // transitions run on the same state (a one-run approval used twice).
  const beat = setInterval(() => { const now = new Date(); void fs.utimes(lockPath, now, now).catch(() => undefined); }, Math.floor(STALE_LOCK_MS / 5));
  beat.unref();
  try {
    return await fn();
  } finally {
    clearInterval(beat);
    await fs.rm(lockPath, { force: true });
  }
}

/** Writes `data` to `file` atomically: a temporary file in the same directory, fsync, rename. */
export async function writeFileAtomic(fs: Fs, file: string, data: string): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const fh = await fs.open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, file);
}
