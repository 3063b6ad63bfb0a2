import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeAllTo } from '../../../recorder/durable-fs.js';

describe('writeAllTo (the audit log segment write)', () => {
  const dirs: string[] = [];
  const tmp = () => { const d = mkdtempSync(path.join(os.tmpdir(), 'pcigate-writeall-')); dirs.push(d); return path.join(d, 'seg.jsonl'); };
  afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

  it('writes a node FileHandle synchronously: the bytes are in the file when it returns', async () => {
    const file = tmp();
    writeFileSync(file, 'a\n');
    const fh = await fsp.open(file, 'a');
    try {
      expect(writeAllTo(fh, Buffer.from('b\nc\n'))).toBeUndefined();
      expect(readFileSync(file, 'utf8')).toBe('a\nb\nc\n');
    } finally {
      await fh.close();
    }
  });

  it('throws at once when the write fails (the writer then fails the batch closed)', async () => {
    const file = tmp();
    writeFileSync(file, '');
    const fh = await fsp.open(file, 'r'); // not writable: write(2) fails with EBADF
    try {
      expect(() => writeAllTo(fh, Buffer.from('x\n'))).toThrow(expect.objectContaining({ code: 'EBADF' }));
    } finally {
      await fh.close();
    }
  });

  it('goes through a handle whose write is wrapped (fault injection), and rejects with its error', async () => {
    const file = tmp();
    writeFileSync(file, '');
    const fh = await fsp.open(file, 'a');
    let calls = 0;
    const wrapped = new Proxy(fh, {
      get(t, p) {
        if (p === 'write') return async () => { calls++; throw Object.assign(new Error('injected'), { code: 'EIO' }); };
        const v = Reflect.get(t, p, t) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      },
    });
    try {
      await expect(writeAllTo(wrapped, Buffer.from('x\n'))).rejects.toThrow('injected');
      expect(calls).toBe(1);
      expect(readFileSync(file, 'utf8')).toBe('');
    } finally {
      await fh.close();
    }
  });
});
