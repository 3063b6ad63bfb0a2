/**
 * Two processes opening one log at once: the lock must appear with its owner's pid already in it. Made empty and
 * written after, a second opener that read it in between saw no owner, took it over, and both appended the same seqs
 * (a `pcigate demo` run in CI verified with `inserted` records). Here the second opener runs exactly in that window:
 * while the first writes its pid.
 */
import * as fsp from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireLogLock } from '../../../recorder/log-lock.js';
import type { Fs } from '../../../src/cli/ctx.js';

/**
 * Opens a lock for `pid` in `dir` while a second opener, for `secondPid`, runs exactly in the first's window: after
 * the first made its file and before it wrote its pid. Returns both outcomes (a LogLock or the error).
 */
async function openTwice(dir: string, pid: number, secondPid: number): Promise<unknown[]> {
  let second: Promise<unknown> | undefined;
  const racing = {
    ...fsp,
    open: async (...args: Parameters<typeof fsp.open>) => {
      const fh = await fsp.open(...args);
      if (second === undefined) {
        const write = fh.writeFile.bind(fh);
        fh.writeFile = async (data: Parameters<typeof fh.writeFile>[0]) => {
          second = acquireLogLock(fsp, dir, secondPid).then((l) => l, (e: unknown) => e);
          await second;
          return write(data);
        };
      }
      return fh;
    },
  } as unknown as Fs;
  const first = await acquireLogLock(racing, dir, pid).then((l) => l, (e: unknown) => e);
  return [first, await second];
}

describe('log/.lock taken by two openers at once', () => {
  it('gives it to exactly one; the other is told a live process holds it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-lock-race-'));
    // (the second opener claims this process's parent's pid: alive, and another than ours)
    const results = await openTwice(dir, process.pid, process.ppid);
    const held = results.filter((r) => !(r instanceof Error));
    expect(held).toHaveLength(1);
    expect(String(results.find((r) => r instanceof Error))).toMatch(/in use by process \d+/);
    expect((await fsp.readFile(path.join(dir, '.lock'), 'utf8')).split(' ')[0]).toBe(String((held[0] as { pid: number }).pid));
    expect((await fsp.readdir(dir)).sort()).toEqual(['.lock']);
  });
});

describe('log/.lock taken by two openers in one process', () => {
  it('gives it to one; the other is told the lock is held, not an internal error', async () => {
    // `pcigate demo` runs every person's command in its own process: the engineer's held DELETE and the approver's
    // `approvals` opened one log with one pid. Their files before the link were both named `.lock.PID.0`: the second
    // removed the first's, and the first's link failed with ENOENT (a demo run in CI).
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-lock-one-pid-'));
    const results = await openTwice(dir, process.pid, process.pid);
    expect(results.filter((r) => !(r instanceof Error))).toHaveLength(1);
    expect(String(results.find((r) => r instanceof Error))).toMatch(new RegExp(`in use by process ${process.pid}`));
    expect((await fsp.readdir(dir)).sort()).toEqual(['.lock']);
  });
});

describe('a stale log/.lock taken over by two openers at once', () => {
  it('goes to one of them; the other does not remove the fresh lock', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-lock-stale-'));
    const file = path.join(dir, '.lock');
    // A lock whose owner is gone (no such pid): both openers find it stale.
    await fsp.writeFile(file, '999999999\n');
    // The second opener runs all the way through exactly when the first is about to remove the stale lock: it takes
    // the lock over first. Removed by name, that fresh lock went, and both went on to write one log.
    let second: Promise<unknown> | undefined;
    const beforeRemoving = async () => {
      if (second !== undefined) return;
      second = acquireLogLock(fsp, dir, process.ppid).then((l) => l, (e: unknown) => e);
      await second;
    };
    const racing = {
      ...fsp,
      rm: async (p: string, o?: Parameters<typeof fsp.rm>[1]) => { if (p === file) await beforeRemoving(); return fsp.rm(p, o); },
      rename: async (a: string, b: string) => { if (a === file) await beforeRemoving(); return fsp.rename(a, b); },
    } as unknown as Fs;
    const first = await acquireLogLock(racing, dir, process.pid).then((l) => l, (e: unknown) => e);
    const results = [first, await second];
    const held = results.filter((r) => !(r instanceof Error)) as Array<{ pid: number }>;
    expect(held).toHaveLength(1);
    expect(String(results.find((r) => r instanceof Error))).toMatch(new RegExp(`in use by process ${held[0]!.pid}`));
    expect((await fsp.readFile(file, 'utf8')).split(' ')[0]).toBe(String(held[0]!.pid));
    expect((await fsp.readdir(dir)).sort()).toEqual(['.lock']);
  });
});

describe('a log/.lock that names this process', () => {
  it('on this host is stale unless this process took it (a container restarted with the same pid)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-lock-own-pid-'));
    const file = path.join(dir, '.lock');
    // Left by an earlier process with this pid here: taken over, not "in use by process <ours>" for ever.
    await fsp.writeFile(file, `${process.pid} ${os.hostname()}\n`);
    const lock = await acquireLogLock(fsp, dir, process.pid);
    expect(await fsp.readFile(file, 'utf8')).toBe(`${process.pid} ${os.hostname()}\n`);
    // Held by this process now: a second opener here is refused.
    await expect(acquireLogLock(fsp, dir, process.pid)).rejects.toThrow(new RegExp(`in use by process ${process.pid}`));
    await lock.release();
    expect((await fsp.readdir(dir)).sort()).toEqual([]);
  });

  it('on another host (a second container on the volume), whatever its pid, or on none, stands', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-lock-other-host-'));
    const file = path.join(dir, '.lock');
    await fsp.writeFile(file, `${process.pid} other-container\n`);
    await expect(acquireLogLock(fsp, dir, process.pid)).rejects.toThrow(`in use by process ${process.pid} on other-container`);
    // (another pid there too: that host's processes are not in this one's /proc, so no pid there reads as gone)
    await fsp.writeFile(file, '999999999 other-container\n');
    await expect(acquireLogLock(fsp, dir, process.pid)).rejects.toThrow('in use by process 999999999 on other-container');
    await fsp.writeFile(file, `${process.pid}\n`);
    await expect(acquireLogLock(fsp, dir, process.pid)).rejects.toThrow(`in use by process ${process.pid}`);
    expect(await fsp.readFile(file, 'utf8')).toBe(`${process.pid}\n`);
  });

  it('reached through a symbolic link is the same lock', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-lock-alias-'));
    await fsp.mkdir(path.join(dir, 'home', 'log'), { recursive: true });
    await fsp.symlink(path.join(dir, 'home'), path.join(dir, 'alias'));
    const lock = await acquireLogLock(fsp, path.join(dir, 'home', 'log'), process.pid);
    await expect(acquireLogLock(fsp, path.join(dir, 'alias', 'log'), process.pid)).rejects.toThrow(`in use by process ${process.pid}`);
    await lock.release();
  });

  it('is released only while it is the one taken: a lock that replaced it stays', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-lock-release-'));
    const file = path.join(dir, '.lock');
    const lock = await acquireLogLock(fsp, dir, process.pid);
    await fsp.rm(file);
    await fsp.writeFile(file, `${process.ppid}\n`);
    await lock.release();
    expect(await fsp.readFile(file, 'utf8')).toBe(`${process.ppid}\n`);
  });

  it('a directory planted at its name is taken over; a missing log directory is named', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-lock-dir-'));
    await fsp.mkdir(path.join(dir, '.lock', 'x'), { recursive: true });
    const lock = await acquireLogLock(fsp, dir, process.pid);
    expect((await fsp.readFile(path.join(dir, '.lock'), 'utf8')).split(' ')[0]).toBe(String(process.pid));
    expect((await fsp.readdir(dir)).sort()).toEqual(['.lock']);
    await lock.release();
    const gone = path.join(dir, 'no-such-dir');
    await expect(acquireLogLock(fsp, gone, process.pid)).rejects.toMatchObject({ code: 'ENOENT', message: expect.stringContaining(gone) });
  });
});

describe('log/.lock where /proc gives no pid (macOS)', () => {
  it('stands against a second opener, which is told so: neither a process in this host nor this one can be told apart', async () => {
    // ownPid() is 0 there. A lock naming pid 0 was taken for one with no live owner: the second opener took it over,
    // and two processes appended to one log.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-lock-no-proc-'));
    const first = await acquireLogLock(fsp, dir, 0);
    await expect(acquireLogLock(fsp, dir, 0)).rejects.toMatchObject({ message: expect.stringMatching(/in use by a process whose pid was not known \(no \/proc\)/) });
    await expect(acquireLogLock(fsp, dir, process.pid)).rejects.toMatchObject({ hint: expect.stringContaining(path.join(dir, '.lock')) });
    expect((await fsp.readFile(path.join(dir, '.lock'), 'utf8')).split(' ')[0]).toBe('0');
    await first.release();
    await (await acquireLogLock(fsp, dir, 0)).release();
    expect(await fsp.readdir(dir)).toEqual([]);
  });
});

describe('files openers killed mid-way left beside log/.lock', () => {
  it('are removed by the next holder once a minute old; a fresh one (an opener at work) and other files stay', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-lock-leftovers-'));
    const old = new Date(Date.now() - 5 * 60_000);
    // Killed between creating its own file and removing it (seen in kill -9 runs), and in breakStale.
    const leftovers = ['.lock.4242.0123456789abcdef', '.lock.4243.fedcba9876543210.stale'];
    for (const name of leftovers) {
      await fsp.writeFile(path.join(dir, name), '4242 somewhere\n');
      await fsp.utimes(path.join(dir, name), old, old);
    }
    const fresh = '.lock.4244.00112233445566ff';
    await fsp.writeFile(path.join(dir, fresh), '4244\n');
    // Not an opener's: a name outside the pattern, old or not.
    await fsp.writeFile(path.join(dir, '.lock.notes'), 'x');
    await fsp.utimes(path.join(dir, '.lock.notes'), old, old);
    const lock = await acquireLogLock(fsp, dir, process.pid);
    expect((await fsp.readdir(dir)).sort()).toEqual(['.lock', fresh, '.lock.notes'].sort());
    await lock.release();
    expect((await fsp.readdir(dir)).sort()).toEqual([fresh, '.lock.notes'].sort());
  });

  it('are left alone by an opener refused the lock', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-lock-leftovers-held-'));
    const old = new Date(Date.now() - 5 * 60_000);
    const held = await acquireLogLock(fsp, dir, process.pid);
    await fsp.writeFile(path.join(dir, '.lock.4242.0123456789abcdef'), '4242\n');
    await fsp.utimes(path.join(dir, '.lock.4242.0123456789abcdef'), old, old);
    await expect(acquireLogLock(fsp, dir, process.pid)).rejects.toThrow('in use');
    expect(await fsp.readdir(dir)).toContain('.lock.4242.0123456789abcdef');
    await held.release();
  });
});
