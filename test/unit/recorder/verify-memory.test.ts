/**
 * verify holds one segment at a time: on a log of many segments written by openAuditLog, read through an Fs
 * that remembers every buffer a segment was read into (WeakRef) and, after each read, forces a full garbage
 * collection and adds up the segment bytes still reachable. Not timed: a full collection frees every
 * unreachable buffer, so what is left is what verify (or its loader) still holds. And a segment that grows
 * while verify reads it is read up to its size at open: no false problem.
 */
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuditLog } from '../../../recorder/index.js';
import { verifyLog } from '../../../recorder/verify.js';
import { loadVerifyInput } from '../../../recorder/verify-load.js';
import { scanSegments } from '../../../recorder/verify-scan.js';
import type { Fs } from '../../../src/cli/ctx.js';
import { testCtx } from '../../harness/test-ctx.js';
import { readLines, segments, writeLines } from './log-helpers.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const NOW_US = Date.UTC(2026, 10, 22, 12, 5) * 1000;
let tmp: string;
let home: string;
let segmentSizes: number[];

const isSegment = (file: unknown) => /[\\/]log[\\/]\d{12}\.jsonl$/.test(String(file));

interface Probe {
  fs: Fs;
  /** Most segment bytes reachable after a read, not counting the buffer that read filled. */
  maxHeldOthers: number;
  /** Segment bytes read in all. */
  bytesRead: number;
  /** Called once per segment file when it is first opened or read, before its bytes are read. */
  onFirstAccess?: (file: string) => Promise<void>;
}

/** fs/promises with segment reads (FileHandle.read and readFile) watched as the file comment says. */
function probeFs(): Probe {
  const live: Array<{ ref: WeakRef<Uint8Array>; bytes: number }> = [];
  const known = new WeakSet<Uint8Array>();
  const accessed = new Set<string>();
  const probe: Probe = { fs: fsp, maxHeldOthers: 0, bytesRead: 0 };
  const afterRead = (buf: Uint8Array, bytes: number) => {
    probe.bytesRead += bytes;
    if (!known.has(buf)) {
      known.add(buf);
      live.push({ ref: new WeakRef(buf), bytes: buf.byteLength });
    }
    gc();
    let held = 0;
    for (const l of live) {
      const b = l.ref.deref();
      if (b !== undefined && b !== buf) held += l.bytes;
    }
    probe.maxHeldOthers = Math.max(probe.maxHeldOthers, held);
  };
  const first = async (file: string) => {
    if (accessed.has(file)) return;
    accessed.add(file);
    await probe.onFirstAccess?.(file);
  };
  const open = async (...args: Parameters<Fs['open']>) => {
    const fh = await fsp.open(...args);
    if (!isSegment(args[0])) return fh;
    const file = String(args[0]);
    return new Proxy(fh, {
      get(target, prop) {
        if (prop === 'stat') {
          return async (...a: Parameters<typeof target.stat>) => {
            const st = await target.stat(...a);
            await first(file);
            return st;
          };
        }
        if (prop === 'read') {
          return async (buf: Buffer, off: number, len: number, pos: number | null) => {
            await first(file);
            const r = await target.read(buf, off, len, pos);
            afterRead(buf, r.bytesRead);
            return r;
          };
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  };
  const readFile = (async (file: Parameters<Fs['readFile']>[0], opts?: Parameters<Fs['readFile']>[1]) => {
    if (!isSegment(file)) return fsp.readFile(file, opts);
    await first(String(file));
    const buf = await fsp.readFile(file);
    afterRead(buf, buf.length);
    return buf;
  }) as Fs['readFile'];
  probe.fs = { ...fsp, open, readFile } as Fs;
  return probe;
}

async function verifyWith(probe: Probe, dir = home) {
  return verifyLog(await loadVerifyInput(probe.fs, dir, { nowMicros: NOW_US, maxUnsealedMicros: 3600e6 }));
}

beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'pcigate-verify-mem-'));
  home = path.join(tmp, 'home');
  const ctx = testCtx();
  const log = await openAuditLog(ctx, { home, createIfMissing: { origin: 'test.example/pcigate' }, checkpointRecords: 50, segmentMaxBytes: 32 * 1024, idleMs: 60_000 });
  for (let k = 0; k < 1500; k++) {
    ctx.clock.advance(1);
    await log.append({ type: 'pg.query', session: 's-1', outcome: 'success', detail: { sql: `select ${k} from orders where note = '${'x'.repeat(k % 200)}'` } });
  }
  await log.close();
  segmentSizes = await Promise.all((await segments(home)).map(async (s) => (await fsp.stat(path.join(home, 'log', s))).size));
});

afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

describe('verify reads one segment at a time', () => {
  it('holds no earlier segment once the next is read, and reads each once', async () => {
    expect(segmentSizes.length).toBeGreaterThanOrEqual(10);
    const total = segmentSizes.reduce((a, b) => a + b, 0);
    const probe = probeFs();
    const r = await verifyWith(probe);
    expect(r.problems).toEqual([]);
    expect(r.result).toBe('pass');
    expect(r.segments).toBe(segmentSizes.length);
    expect(probe.bytesRead).toBe(total);
    // Nothing but the segment being read: everything read before it was let go.
    expect(probe.maxHeldOthers).toBe(0);
  });

  it('a modified record: its segment is read again to re-parse it, still one at a time', async () => {
    const dir = path.join(tmp, 'modified');
    await fsp.cp(home, dir, { recursive: true });
    const seg = (await segments(dir))[4]!;
    const file = path.join(dir, 'log', seg);
    const lines = await readLines(file);
    lines[3] = lines[3]!.replace('select', 'selecT');
    await writeLines(file, lines);
    const probe = probeFs();
    const r = await verifyWith(probe, dir);
    expect(r.problems.map((p) => ({ kind: p.kind, segment: p.segment }))).toEqual([{ kind: 'modified', segment: seg }]);
    expect(probe.bytesRead).toBe(segmentSizes.reduce((a, b) => a + b, 0) + (await fsp.stat(file)).size);
    expect(probe.maxHeldOthers).toBe(0);
  });

  it('a segment gone after it was listed is a clear verification error, not an internal one', async () => {
    const dir = path.join(tmp, 'gone');
    await fsp.cp(home, dir, { recursive: true });
    const input = await loadVerifyInput(fsp as unknown as Fs, dir, { nowMicros: NOW_US, maxUnsealedMicros: 3600e6 });
    const third = path.join(dir, 'log', (await segments(dir))[2]!);
    await fsp.rm(third);
    await expect(verifyLog(input)).rejects.toMatchObject({ name: 'VerificationError', message: `cannot read the segment ${third} (ENOENT)` });
  });

  it('a segment a writer appends to while verify reads it is read up to its size at open: no torn line', async () => {
    const dir = path.join(tmp, 'growing');
    await fsp.cp(home, dir, { recursive: true });
    const last = path.join(dir, 'log', (await segments(dir)).at(-1)!);
    const probe = probeFs();
    // A record being written at that moment: half a line, no newline yet.
    probe.onFirstAccess = async (file) => {
      if (file === last) await fsp.appendFile(last, '{"v":1,"origin":"test.example/pcigate","seq":');
    };
    const r = await verifyWith(probe, dir);
    expect(r.problems).toEqual([]);
    expect(r.result).toBe('pass');
  });
});

describe('what verify keeps of a checkpoint', () => {
  it('of a checkpoint mirror record the scan keeps the note, size and root only (one a checkpoint), the other records it inspects whole', async () => {
    const input = await loadVerifyInput(fsp as unknown as Fs, home, { nowMicros: NOW_US, maxUnsealedMicros: 3600e6 });
    const kept = [...(await scanSegments(input.segments)).special.values()];
    const mirrors = kept.filter((r) => r.type === 'checkpoint');
    expect(mirrors.length).toBeGreaterThanOrEqual(20);
    for (const m of mirrors) expect(m).toEqual({ type: 'checkpoint', seq: expect.any(Number), detail: { note: expect.stringMatching(/^test\.example\/pcigate\n/), size: expect.any(Number), root: expect.stringMatching(/^[0-9a-f]{64}$/) } });
    expect(kept.find((r) => r.type === 'segment.open')).toHaveProperty('prev');
  });
});
