/**
 * The login lock (src/identity/refresh-lock.ts) on the real file system: a live holder is waited for, a bounded
 * time, then refused with a message naming it; a released lock is taken; a lock whose process is gone, or that
 * is older than any refresh, is broken; a lock file still being written (empty) counts as live.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REFRESH_LOCK_FILE, withRefreshLock } from '../../../src/identity/refresh-lock.js';
import { PROCESS_TABLE, systemClock } from '../../../src/cli/ctx.js';
import { testCtx } from '../../harness/test-ctx.js';

const ctx = () => testCtx({ clock: systemClock() as never });

function home(lock?: string): { home: string; file: string } {
  const h = path.join(mkdtempSync(path.join(os.tmpdir(), 'pcigate-lock-')), 'home');
  const file = path.join(h, REFRESH_LOCK_FILE);
  if (lock !== undefined) {
    mkdirSync(h, { recursive: true });
    writeFileSync(file, lock, { mode: 0o600 });
  }
  return { home: h, file };
}

/** A pid that ran and has ended. */
function deadPid(): number {
  const pid = spawnSync('true').pid;
  expect(existsSync(`/proc/${pid}`)).toBe(false);
  return pid;
}

describe.skipIf(!existsSync('/proc/self'))('login lock', () => {
  it('holds the lock (with this pid) while f runs and removes it after', async () => {
    const { home: h, file } = home();
    const seen = await withRefreshLock(ctx(), h, async () => readFileSync(file, 'utf8'));
    expect(seen.split(' ')[0]).toBe(String(process.pid));
    expect(existsSync(file)).toBe(false);
  });

  it('waits for a live holder, then gives up with a message naming it and the file; the lock stays', async () => {
    // A live process that is not this one: the test runner's parent.
    const held = `${process.ppid} ${Date.now()} x\n`;
    const { home: h, file } = home(held);
    const started = Date.now();
    let ran = false;
    const err = await withRefreshLock(ctx(), h, async () => { ran = true; }, { waitMs: 400 }).then(() => undefined, (e: unknown) => e);
    expect(ran).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
    expect(err).toMatchObject({
      code: 'ERR_TOKEN_STORE',
      message: `another pcigate process (pid ${process.ppid}) is renewing the login and did not finish within 0.4 s (lock ${file})`,
      hint: `Try again; if no other pcigate is running, remove ${file}.`,
    });
    expect(readFileSync(file, 'utf8')).toBe(held);
  });

  it('names this process when the holder is an earlier renewal of its own (one left to finish after its deadline)', async () => {
    const held = `${process.pid} ${Date.now()} x\n`;
    const { home: h, file } = home(held);
    const err = await withRefreshLock(ctx(), h, async () => {}, { waitMs: 200 }).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({
      code: 'ERR_TOKEN_STORE',
      message: `an earlier renewal of the login in this pcigate process (pid ${process.pid}) was still waiting for the identity provider's answer after 0.2 s (lock ${file})`,
      hint: 'Try again in a moment: that renewal ends when the provider answers, or after 30 s.',
    });
    expect(readFileSync(file, 'utf8')).toBe(held);
  });

  it('takes the lock as soon as its holder releases it: one holder at a time', async () => {
    const { home: h } = home();
    const order: string[] = [];
    const first = withRefreshLock(ctx(), h, async () => {
      order.push('a in');
      await new Promise((r) => setTimeout(r, 300));
      order.push('a out');
    });
    await new Promise((r) => setTimeout(r, 50));
    const second = withRefreshLock(ctx(), h, async () => { order.push('b in'); }, { waitMs: 3_000 });
    await Promise.all([first, second]);
    expect(order).toEqual(['a in', 'a out', 'b in']);
  });

  it('breaks a lock whose process is gone', async () => {
    const { home: h, file } = home(`${deadPid()} ${Date.now()} x\n`);
    await expect(withRefreshLock(ctx(), h, async () => 'ran', { waitMs: 200 })).resolves.toBe('ran');
    expect(existsSync(file)).toBe(false);
  });

  it('breaks a lock whose process is gone where /proc is not, by the process table (macOS)', async () => {
    const { home: h, file } = home(`${deadPid()} ${Date.now()} x\n`);
    const base = ctx();
    const hidden = (p: unknown) => String(p).startsWith('/proc');
    const enoent = () => Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    const noProc = {
      ...base.fs,
      access: async (p: string, m?: number) => { if (hidden(p)) throw enoent(); return base.fs.access(p, m); },
      readlink: async (p: string) => { if (hidden(p)) throw enoent(); return base.fs.readlink(p); },
    } as typeof base.fs;
    // (without the table nothing tells the holder is gone: it is waited for)
    await expect(withRefreshLock({ ...base, fs: noProc }, h, async () => 'ran', { waitMs: 200 })).rejects.toThrow(/is renewing the login/);
    await expect(withRefreshLock({ ...base, fs: noProc, processes: PROCESS_TABLE }, h, async () => 'ran', { waitMs: 200 })).resolves.toBe('ran');
    expect(existsSync(file)).toBe(false);
  });

  it('breaks a lock older than any refresh even when its pid runs (a reused pid, or no /proc to ask)', async () => {
    const { home: h, file } = home(`${process.pid} 0 x\n`);
    const old = (Date.now() - 10 * 60_000) / 1000;
    utimesSync(file, old, old);
    await expect(withRefreshLock(ctx(), h, async () => 'ran', { waitMs: 200 })).resolves.toBe('ran');
  });

  it('counts an empty lock file (its holder is writing it this instant) as live', async () => {
    const { home: h, file } = home('');
    await expect(withRefreshLock(ctx(), h, async () => 'ran', { waitMs: 200 })).rejects.toMatchObject({ code: 'ERR_TOKEN_STORE', message: expect.stringMatching(/^another pcigate process is renewing the login/) });
    expect(existsSync(file)).toBe(true);
  });
});
