/**
 * A lock left by a dead process where /proc is not (macOS): whether its holder runs is asked of the caller's process
 * table (the CLI's PROCESS_TABLE: kill(pid, 0)), so it is taken over, as on Linux; without a table it stands (fail
 * closed). Here /proc is hidden from the file system the lock reads.
 */
import { spawnSync } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireLogLock, isAlive, ownPid } from '../../../recorder/log-lock.js';
import { PROCESS_TABLE } from '../../../src/cli/ctx.js';
import type { Fs } from '../../../src/cli/ctx.js';

/** fs/promises with no /proc: as on macOS. */
const noProc = {
  ...fsp,
  access: async (p: string, mode?: number) => {
    if (String(p).startsWith('/proc')) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
    return fsp.access(p, mode);
  },
  readlink: async (p: string) => {
    if (String(p).startsWith('/proc')) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
    return fsp.readlink(p);
  },
} as unknown as Fs;

/** The pid of a process that has exited (its pid not reused this soon). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

/** A log directory whose lock names `pid` on this host. */
function lockedBy(pid: number): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-lock-'));
  writeFileSync(path.join(dir, '.lock'), `${pid} ${os.hostname()}\n`);
  return dir;
}

describe('log/.lock where /proc is not', () => {
  it("is taken over from a dead holder when the caller's process table says so", async () => {
    const dir = lockedBy(deadPid());
    const lock = await acquireLogLock(noProc, dir, await ownPid(noProc, PROCESS_TABLE), PROCESS_TABLE);
    try {
      expect(lock.pid).toBe(process.pid);
      expect(readFileSync(path.join(dir, '.lock'), 'utf8').split(' ')[0]).toBe(String(process.pid));
    } finally {
      await lock.release();
    }
  });

  it('stands without a process table, as before (whether its holder runs cannot be told)', async () => {
    const dir = lockedBy(deadPid());
    expect(await ownPid(noProc)).toBe(0);
    await expect(acquireLogLock(noProc, dir, process.pid)).rejects.toThrow(/in use by process \d+/);
  });

  it("stands while its holder runs, by the table's answer", async () => {
    const dir = lockedBy(process.ppid);
    await expect(acquireLogLock(noProc, dir, process.pid, PROCESS_TABLE)).rejects.toThrow(new RegExp(`in use by process ${process.ppid}`));
  });
});

describe('PROCESS_TABLE', () => {
  it('knows this process, a running one and an exited one, and agrees with /proc', async () => {
    expect(PROCESS_TABLE.pid).toBe(process.pid);
    const dead = deadPid();
    expect(PROCESS_TABLE.alive(process.ppid)).toBe(true);
    expect(PROCESS_TABLE.alive(dead)).toBe(false);
    for (const pid of [process.pid, process.ppid, dead, 1]) expect(PROCESS_TABLE.alive(pid), String(pid)).toBe(await isAlive(fsp as unknown as Fs, pid));
  });
});
