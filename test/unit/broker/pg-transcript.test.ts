import { mkdtempSync, readFileSync } from 'node:fs';
import fsp from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Fs } from '../../../src/cli/ctx.js';
import { PgTranscript } from '../../../src/broker/pg-transcript.js';

const home = () => mkdtempSync(path.join(os.tmpdir(), 'pcigate-transcript-'));
const lines = (file: string) => readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

/** An Fs whose transcript handle writes through `write` (a wrapping handle, as fault-injecting tests use). */
function wrapping(write: (fh: FileHandle, data: Buffer) => Promise<{ bytesWritten: number }>): Fs {
  return {
    ...fsp,
    open: async (...args: Parameters<Fs['open']>) => {
      const fh = await fsp.open(...args);
      return Object.assign(Object.create(fh) as FileHandle, {
        write: (data: Buffer) => write(fh, data),
        sync: () => fh.sync(),
        close: () => fh.close(),
      });
    },
  } as Fs;
}

describe('PgTranscript', () => {
  it('samples a row with a token known by its form redacted, whatever its column is named', async () => {
    const t = await PgTranscript.create(fsp as Fs, home(), 's-token');
    const stripe = `sk_live_${'4eC39HqLyjWDarjt'}`;
    t.row(1, [Buffer.from('stripe'), Buffer.from(`key ${stripe}`), Buffer.from('sk-not-a-key')]);
    await t.close();
    expect(lines(t.file)).toEqual([{ t: 'row', n: 1, values: ['stripe', 'key [redacted]', 'sk-not-a-key'] }]);
    expect(readFileSync(t.file, 'utf8')).not.toContain(stripe);
  });

  it('samples a row with a URL\'s password, an HTTP credential and a private key redacted, as in a literal', async () => {
    const t = await PgTranscript.create(fsp as Fs, home(), 's-creds');
    const key = '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----';
    t.row(1, [Buffer.from('postgres://app:pw-9x7@db/x'), Buffer.from('Authorization: Basic c3ZjOmh1bnRlcjI='), Buffer.from(key), Buffer.from('Basic plan')]);
    await t.close();
    expect(lines(t.file)).toEqual([{ t: 'row', n: 1, values: [
      'postgres://app:[redacted]@db/x', 'Authorization: Basic [redacted]', '-----BEGIN RSA PRIVATE KEY-----\n[redacted]\n-----END RSA PRIVATE KEY-----', 'Basic plan',
    ] }]);
  });

  it('samples a value past V8\'s longest string (512 MiB) by its head, and still masks and redacts across the cut', async () => {
    // Decoded whole, it threw and the session closed (`select repeat('a', 600000000)` through psql).
    const t = await PgTranscript.create(fsp as Fs, home(), 's-huge');
    const huge = Buffer.alloc(0x1fffffe8 + 1, 0x61);
    t.row(1, [huge]);
    // A card number and a token that start before the 200-character cut and end after it.
    const stripe = `sk_live_${'4eC39HqLyjWDarjt'.repeat(4)}`;
    const tail = Buffer.alloc(1_000_000, 0x62);
    t.row(2, [Buffer.concat([Buffer.from(`${'x'.repeat(190)} 4111111111111111 `), tail])]);
    t.row(3, [Buffer.concat([Buffer.from(`${'x'.repeat(180)} ${stripe} `), tail])]);
    await t.close();
    const [one, two, three] = lines(t.file) as Array<{ values: string[] }>;
    expect(one!.values[0]).toBe(`${'a'.repeat(200)}…`);
    expect(two!.values[0]).toBe(`${'x'.repeat(190)} ${'*'.repeat(9)}…`);
    expect(three!.values[0]).toBe(`${'x'.repeat(180)} [redacted] ${'b'.repeat(8)}…`);
    expect(readFileSync(t.file, 'utf8')).not.toContain('4111111111111111');
  });

  it('writes every line in order, batch by batch, with write(2) on the calling thread', async () => {
    const t = await PgTranscript.create(fsp as Fs, home(), 's1');
    const detail = { n: 1, protocol: 'simple', sql: 'select 1', kind: 'read' };
    t.addTagged('query', detail);
    for (let i = 0; i < 150; i++) t.add({ t: 'row', n: 1, values: [String(i)] });
    // 151 lines: two batches of 64 are in the file before close, synchronously.
    expect(lines(t.file)).toHaveLength(128);
    t.addTagged('end', {});
    await t.close();
    const out = lines(t.file);
    expect(out).toHaveLength(152);
    expect(out[0]).toEqual({ t: 'query', ...detail });
    expect(Object.keys(out[0]!)[0]).toBe('t');
    expect(out.slice(1, 151).map((l) => (l.values as string[])[0])).toEqual(Array.from({ length: 150 }, (_, i) => String(i)));
    expect(out[151]).toEqual({ t: 'end' });
  });

  it('lines fewer than a batch reach the file within a second (a killed broker loses no more)', async () => {
    const t = await PgTranscript.create(fsp as Fs, home(), 's-quiet');
    t.addTagged('query', { n: 1, protocol: 'simple', sql: 'select 1', kind: 'read' });
    t.add({ t: 'result', n: 1, result: 'success' });
    expect(readFileSync(t.file, 'utf8')).toBe('');
    await expect.poll(() => readFileSync(t.file, 'utf8').split('\n').filter(Boolean).length, { timeout: 3000 }).toBe(2);
    await t.close();
    expect(lines(t.file)).toHaveLength(2);
  });

  it('through a wrapping handle: batches stay in order even when a write is slow', async () => {
    let calls = 0;
    const fs = wrapping(async (fh, data) => {
      if (calls++ === 0) await new Promise((r) => setTimeout(r, 30));
      return fh.write(data);
    });
    const t = await PgTranscript.create(fs, home(), 's2');
    for (let i = 0; i < 200; i++) t.add({ i });
    await t.close();
    expect(lines(t.file).map((l) => l.i)).toEqual(Array.from({ length: 200 }, (_, i) => i));
  });

  it('a failed write is reported at close, and nothing after it is written', async () => {
    let calls = 0;
    const fs = wrapping(async (fh, data) => {
      if (++calls === 2) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      return fh.write(data);
    });
    const t = await PgTranscript.create(fs, home(), 's3');
    for (let i = 0; i < 200; i++) t.add({ i });
    await expect(t.close()).rejects.toThrow(/ENOSPC/);
    expect(lines(t.file).map((l) => l.i)).toEqual(Array.from({ length: 64 }, (_, i) => i));
    expect(calls).toBe(2);
  });
});
