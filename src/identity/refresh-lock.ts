/**
 * One pcigate process at a time renews the saved login. Providers rotate refresh tokens (RFC 9700 §4.14.2),
 * and a rotated-out token presented again is treated as replay: oidc-provider revokes the whole grant, so two
 * processes refreshing with the same stored token (`pcigate connect` next to `pcigate verify`) can leave both
 * without a login. The lock is `<data home>/login.lock`, made with O_EXCL (`wx`) and holding the holder's pid
 * and the time it was taken.
 *
 * recorder/log-lock.ts is the same idea for the audit log but does not fit here: its refusal is an
 * AuditWriteError about the log and it does not wait. This lock waits a bounded time for the holder (a refresh takes one round
 * trip), and breaks a lock only when its pid is gone or it is older than any refresh can take.
 */
import path from 'node:path';
import type { Ctx } from '../cli/ctx.js';
import { TokenStoreError } from '../errors.js';
import { isAlive, ownPid } from '../../recorder/log-lock.js';

export const REFRESH_LOCK_FILE = 'login.lock';
/** How long a process waits for another one's refresh before giving up. */
export const REFRESH_LOCK_WAIT_MS = 10_000;
/**
 * A lock older than this is stale whatever its pid says (a pid can be reused, and without /proc, as on
 * macOS, liveness cannot be read): a refresh is one HTTP round trip that openid-client gives up on long before.
 */
export const REFRESH_LOCK_STALE_MS = 120_000;
const POLL_MS = 50;

export interface RefreshLockOptions {
  /** Give up waiting after this long (default REFRESH_LOCK_WAIT_MS). */
  waitMs?: number;
  /** Stop waiting when this fires (a command's own deadline). */
  signal?: AbortSignal;
}

/**
 * Runs `f` holding `<home>/login.lock`; waits for a live holder up to `waitMs`, then rejects with a
 * TokenStoreError naming the holder and the file. The lock is released however `f` ends.
 */
export async function withRefreshLock<T>(ctx: Ctx, home: string, f: () => Promise<T>, opts: RefreshLockOptions = {}): Promise<T> {
  const release = await acquire(ctx, home, opts);
  try {
    return await f();
  } finally {
    await release();
  }
}

async function acquire(ctx: Ctx, home: string, opts: RefreshLockOptions): Promise<() => Promise<void>> {
  const file = path.join(home, REFRESH_LOCK_FILE);
  const waitMs = opts.waitMs ?? REFRESH_LOCK_WAIT_MS;
  const pid = await ownPid(ctx.fs, ctx.processes);
  // Counted in polls, not read off ctx.clock: a test's fixed clock must not make the wait endless.
  let polls = Math.ceil(waitMs / POLL_MS);
  await ctx.fs.mkdir(home, { recursive: true, mode: 0o700 });
  let holder = '';
  for (;;) {
    const token = `${pid} ${ctx.clock.now()} ${Math.random().toString(36).slice(2)}\n`;
    try {
      const fh = await ctx.fs.open(file, 'wx', 0o600);
      try {
        await fh.writeFile(token);
      } finally {
        await fh.close();
      }
      // Release only our own lock: a holder judged stale by others (we hung for minutes) must not remove theirs.
      return async () => {
        const now = await ctx.fs.readFile(file, 'utf8').catch(() => '');
        if (now === token) await ctx.fs.rm(file, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new TokenStoreError(`cannot take the login lock ${file}: ${(e as Error).message}`, { cause: e });
      }
    }
    holder = await breakIfStale(ctx, file);
    if (holder === '') continue; // broken (or gone): try again at once
    if (polls-- <= 0 || opts.signal?.aborted) break;
    await sleep(POLL_MS, opts.signal);
  }
  const pidNote = /^\d+$/.test(holder) && holder !== '0' ? ` (pid ${holder})` : '';
  const within = `${Math.round(waitMs / 100) / 10} s`;
  // This very process: a renewal whose session gave up waiting for the provider, still running on (live-check.ts).
  if (pid !== 0 && holder === String(pid)) {
    throw new TokenStoreError(`an earlier renewal of the login in this pcigate process${pidNote} was still waiting for the identity provider's answer after ${within} (lock ${file})`, {
      hint: 'Try again in a moment: that renewal ends when the provider answers, or after 30 s.',
    });
  }
  throw new TokenStoreError(`another pcigate process${pidNote} is renewing the login and did not finish within ${within} (lock ${file})`, {
    hint: `Try again; if no other pcigate is running, remove ${file}.`,
  });
}

/**
 * Removes the lock when its holder is gone or it is too old; returns '' then (or when it vanished), else the
 * holder's pid as written. Breaking renames the file aside first, so of two processes that both found it
 * stale only one removes it, and a fresh lock taken in between is put back, not removed.
 */
async function breakIfStale(ctx: Ctx, file: string): Promise<string> {
  let text: string;
  let st;
  try {
    st = await ctx.fs.stat(file);
    text = await ctx.fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw e;
  }
  const [pidText = ''] = text.split(' ');
  const pid = Number(pidText);
  const old = ctx.clock.now() - st.mtimeMs > REFRESH_LOCK_STALE_MS;
  // An empty file is a lock being written this instant: live, unless old.
  const dead = text !== '' && Number.isSafeInteger(pid) && pid > 0 && (await pidGone(ctx, pid));
  if (!old && !dead) return pidText.trim() || '?';
  const aside = `${file}.${Math.random().toString(36).slice(2)}.stale`;
  try {
    await ctx.fs.rename(file, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return ''; // someone else broke it
    throw e;
  }
  const moved = await ctx.fs.readFile(aside, 'utf8').catch(() => '');
  if (moved !== text) {
    // Between our read and the rename the stale lock was broken and a fresh one taken: give it back.
    await ctx.fs.link(aside, file).catch(() => {});
  }
  await ctx.fs.rm(aside, { force: true });
  ctx.log.debug(`removed a stale login lock ${file} (${dead ? `process ${pid} is gone` : 'older than any refresh'})`);
  return '';
}

/** True when the pid is not running (ctx's process table, else /proc); false when it runs or nothing can tell (fail towards waiting). */
async function pidGone(ctx: Ctx, pid: number): Promise<boolean> {
  return !(await isAlive(ctx.fs, pid, ctx.processes));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
