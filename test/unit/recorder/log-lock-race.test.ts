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

describe('log/.lock taken by two openers at once', () => {
  it('gives it to exactly one; the other is told a live process holds it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-lock-race-'));
    // (the second opener claims this process's parent's pid: alive, and another than ours)
    let second: Promise<unknown> | undefined;
    const racing = {
      ...fsp,
      open: async (...args: Parameters<typeof fsp.open>) => {
        const fh = await fsp.open(...args);
        if (second === undefined) {
          const write = fh.writeFile.bind(fh);
          fh.writeFile = async (data: Parameters<typeof fh.writeFile>[0]) => {
            second = acquireLogLock(fsp, dir, process.ppid).then((l) => l, (e: unknown) => e);
            await second;
            return write(data);
          };
        }
        return fh;
      },
    } as unknown as Fs;
    const first = await acquireLogLock(racing, dir, process.pid).then((l) => l, (e: unknown) => e);
    const results = [first, await second];
    const held = results.filter((r) => !(r instanceof Error));
    expect(held).toHaveLength(1);
    expect(String(results.find((r) => r instanceof Error))).toMatch(/in use by process \d+/);
    expect((await fsp.readFile(path.join(dir, '.lock'), 'utf8')).trim()).toBe(String((held[0] as { pid: number }).pid));
    expect((await fsp.readdir(dir)).sort()).toEqual(['.lock']);
  });
});
