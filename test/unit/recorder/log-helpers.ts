/**
 * Test helpers for the audit log writer: an instrumented fs and a reader that re-parses the segments; and, for
 * the tamper tests of verify, reading, writing and re-linking a data home's segment files.
 */
import { expect } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { canonicalize } from '../../../recorder/canonical-json.js';
import type { Fs } from '../../../src/cli/ctx.js';

export const tmpHome = () => mkdtempSync(path.join(os.tmpdir(), 'pcigate-log-'));

export interface FsProbe {
  fs: Fs;
  datasyncs: number;
  writes: number;
  /** While > 0, each write to a segment fails with EIO and decrements it. */
  failWrites: number;
  /** When true, each write to a segment writes half its bytes and then fails (a torn write). */
  tearWrites: boolean;
  /**
   * While > 0, each fdatasync of a segment fails with EIO and decrements it — and, like Linux after a
   * writeback error, the unsynced bytes are gone: the file is put back as it was at the last good sync (its
   * length, and what the room the writer reserves held).
   */
  failDatasyncs: number;
  /** fdatasyncs that failed so far (counted when the failure is returned). */
  failedDatasyncs: number;
  /** Segment operations in order ('write' | 'datasync'), for checking what a sync covered. */
  ops: string[];
}

/** Wraps node:fs/promises so that segment FileHandles count writes and fdatasyncs and can be made to fail. */
export function probeFs(): FsProbe {
  const probe: FsProbe = { fs: fsp, datasyncs: 0, writes: 0, failWrites: 0, tearWrites: false, failDatasyncs: 0, failedDatasyncs: 0, ops: [] };
  const open = async (...args: Parameters<Fs['open']>) => {
    const fh = await fsp.open(...args);
    if (!String(args[0]).endsWith('.jsonl') || !String(args[0]).includes(`${path.sep}log${path.sep}`)) return fh;
    const file = String(args[0]);
    let synced = await fsp.readFile(file);
    return new Proxy(fh, {
      get(target, prop) {
        if (prop === 'write') {
          return async (buf: Buffer, off = 0, len = buf.length - off, position: number | null = null) => {
            probe.writes++;
            probe.ops.push('write');
            if (probe.failWrites > 0) {
              probe.failWrites--;
              if (probe.tearWrites) await target.write(buf, off, Math.floor(len / 2), position);
              throw Object.assign(new Error('injected write failure'), { code: 'EIO' });
            }
            return target.write(buf, off, len, position);
          };
        }
        if (prop === 'datasync') {
          return async () => {
            probe.datasyncs++;
            if (probe.failDatasyncs > 0) {
              probe.failDatasyncs--;
              await fsp.writeFile(file, synced);
              probe.failedDatasyncs++;
              throw Object.assign(new Error('injected fdatasync failure'), { code: 'EIO' });
            }
            const content = await fsp.readFile(file);
            await target.datasync();
            probe.ops.push('datasync');
            synced = content;
          };
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  };
  probe.fs = { ...fsp, open } as Fs;
  return probe;
}

export interface ReadRecord {
  file: string;
  line: string;
  leaf: string;
  rec: Record<string, unknown> & { seq: number; type: string; prev: string; ts: string; detail?: Record<string, unknown> };
}

/** Every line of every segment, in order, with its leaf hash. */
export function readLog(home: string): ReadRecord[] {
  const dir = path.join(home, 'log');
  const out: ReadRecord[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort()) {
    const text = readFileSync(path.join(dir, file), 'utf8');
    if (text.length > 0) expect(text.endsWith('\n')).toBe(true);
    for (const line of text.split('\n').filter((l) => l.length > 0)) {
      out.push({ file, line, leaf: createHash('sha256').update(Buffer.of(0)).update(line).digest('hex'), rec: JSON.parse(line) });
    }
  }
  return out;
}

/** Asserts gapless seq from 0 and the prev chain over all records. */
export function expectChain(records: ReadRecord[]): void {
  let prev = '0'.repeat(64);
  records.forEach((r, i) => {
    expect(r.rec.seq, `seq at line ${i}`).toBe(i);
    expect(r.rec.prev, `prev of seq ${i}`).toBe(prev);
    prev = r.leaf;
  });
}

/** A log line's leaf hash (RFC 6962: SHA-256 of 0x00 and the line), hex: what the next record's prev holds. */
export const leafHex = (line: string) => createHash('sha256').update(Buffer.from([0])).update(line).digest('hex');

/** The names of the data home's segment files (log/NNNNNNNNNNNN.jsonl), oldest first. */
export async function segments(home: string): Promise<string[]> {
  return (await fsp.readdir(path.join(home, 'log'))).filter((f) => /^\d{12}\.jsonl$/.test(f)).sort();
}

/** A file's lines, without the empty one after the final newline (an empty line inside is kept). */
export async function readLines(file: string): Promise<string[]> {
  const l = (await fsp.readFile(file, 'utf8')).split('\n');
  if (l[l.length - 1] === '') l.pop();
  return l;
}

/** Writes `lines`, each ended by a newline, over `file`. */
export async function writeLines(file: string, lines: string[]): Promise<void> {
  await fsp.writeFile(file, lines.map((x) => `${x}\n`).join(''));
}

/**
 * Appends a correctly chained pg.query record (`select forged`, `tsOffsetMs` after the last record, the last
 * record's origin; `fields` go over these) to the newest segment, as anyone with write access can; its seq.
 */
export async function appendChained(home: string, tsOffsetMs: number, fields: Record<string, unknown> = {}): Promise<number> {
  const segs = await segments(home);
  const file = path.join(home, 'log', segs[segs.length - 1]!);
  const lines = await readLines(file);
  const last = lines[lines.length - 1]!;
  const prev = JSON.parse(last) as { seq: number; ts: string; origin: string };
  const ts = new Date(Date.parse(prev.ts) + tsOffsetMs).toISOString().replace('Z', '000Z');
  lines.push(canonicalize({ v: 1, origin: prev.origin, seq: prev.seq + 1, ts, type: 'pg.query', detail: { sql: 'select forged' }, ...fields, prev: leafHex(last) }));
  await writeLines(file, lines);
  return prev.seq + 1;
}

/**
 * Rebuilds the home's log as one with no checkpoint at all, as someone with write access can: checkpoint and
 * segment.open records dropped, the rest re-numbered and re-chained into one segment, checkpoints.jsonl
 * removed. Returns the lines written.
 */
export async function relinkWithoutCheckpoints(home: string): Promise<string[]> {
  const kept: string[] = [];
  let prev = '0'.repeat(64);
  for (const seg of await segments(home)) {
    for (const line of await readLines(path.join(home, 'log', seg))) {
      const rec = JSON.parse(line) as Record<string, unknown>;
      if (rec.type === 'checkpoint' || rec.type === 'segment.open') continue;
      const out = canonicalize({ ...rec, seq: kept.length, prev });
      prev = leafHex(out);
      kept.push(out);
    }
    await fsp.rm(path.join(home, 'log', seg));
  }
  await writeLines(path.join(home, 'log', '000000000000.jsonl'), kept);
  await fsp.rm(path.join(home, 'checkpoints.jsonl'));
  return kept;
}
