/**
 * scanPaths(): looks for unmasked PAN and sensitive authentication data in stored files (issue 4,
 * deliverable 8; PCI DSS 3.5.1 "PAN is rendered unreadable anywhere it is stored" and 3.3.1 "SAD is not
 * retained"). Files are read in chunks with the same carry-over as the streaming masker, so a PAN across
 * a chunk boundary is still found; findings carry the value already masked, never the PAN itself.
 */
import path from 'node:path';
import { createGunzip, gunzipSync } from 'node:zlib';
import type { Ctx } from '../cli/ctx.js';
import { cardNetwork } from './card-networks.js';
import { applyMask } from './mask-format.js';
import { findPans } from './pan-detector.js';
import type { DetectOptions } from './pan-detector.js';
import { contextFrom, holdFrom } from './stream-masker.js';

export interface ScanFinding {
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column in characters. */
  column: number;
  kind: 'pan' | 'track_data' | 'sad_value';
  /** Card network for a PAN. */
  network?: string;
  /** The value as found, masked (last four digits of a PAN at most). */
  masked: string;
}

export interface ScanReport {
  findings: ScanFinding[];
  files: number;
  bytes: number;
  /** Files that could not be read: the scan is then not a proof of absence. */
  errors: Array<{ file: string; message: string }>;
}

export interface ScanOptions extends DetectOptions {
  /** Chunk size for reading (tests use small ones to cross boundaries). */
  chunkBytes?: number;
}

// SAD in stored text: track 1/2 data and labelled CVV/PIN values (`cvv: 123`, `"cvc2":"4567"`, `pin=1234`).
const SAD_PATTERNS: Array<{ kind: ScanFinding['kind']; re: RegExp }> = [
  { kind: 'track_data', re: /%B\d{13,19}\^[^^\r\n]{2,26}\^\d{4}/g },
  { kind: 'track_data', re: /;\d{13,19}=\d{4}\d*\??/g },
  { kind: 'sad_value', re: /\b(?:cvv2?|cvc2?|cav2|cid|security[_ ]?code|pin(?:[_ ]?block)?)["']?\s*[:=]\s*["']?\d{3,12}\b/gi },
];

/** Scans files and directories (recursively, symlinks not followed). */
export async function scanPaths(ctx: Pick<Ctx, 'fs' | 'cwd'>, paths: readonly string[], opts: ScanOptions = {}): Promise<ScanReport> {
  const report: ScanReport = { findings: [], files: 0, bytes: 0, errors: [] };
  for (const p of paths) await visit(ctx, path.resolve(ctx.cwd, p), p, report, opts);
  return report;
}

async function visit(ctx: Pick<Ctx, 'fs'>, abs: string, shown: string, report: ScanReport, opts: ScanOptions): Promise<void> {
  let st;
  try {
    st = await ctx.fs.lstat(abs);
  } catch (e) {
    report.errors.push({ file: shown, message: (e as Error).message });
    return;
  }
  if (st.isDirectory()) {
    let names: string[];
    try {
      names = (await ctx.fs.readdir(abs)).sort();
    } catch (e) {
      report.errors.push({ file: shown, message: (e as Error).message });
      return;
    }
    for (const n of names) await visit(ctx, path.join(abs, n), path.join(shown, n), report, opts);
    return;
  }
  if (!st.isFile()) return;
  try {
    await scanFile(ctx, abs, shown, report, opts);
    report.files++;
  } catch (e) {
    report.errors.push({ file: shown, message: (e as Error).message });
  }
}

async function scanFile(ctx: Pick<Ctx, 'fs'>, abs: string, shown: string, report: ScanReport, opts: ScanOptions): Promise<void> {
  const fh = await ctx.fs.open(abs, 'r');
  try {
    const size = opts.chunkBytes ?? 4 << 20;
    let carry: Buffer = Buffer.alloc(0);
    let carryAbs = 0; // absolute offset of carry[0]
    let reportedUpTo = 0; // absolute offset: findings starting before this were reported
    const pos = new LineCounter();
    const source = chunks(fh, size)[Symbol.asyncIterator]();
    for (;;) {
      const next = await source.next();
      const chunk: Buffer = next.done ? Buffer.alloc(0) : next.value;
      const last = next.done === true;
      report.bytes += chunk.length;
      const data = carry.length ? Buffer.concat([carry, chunk]) : chunk;
      const cut = last ? data.length : Math.min(holdFrom(data), sadCut(data));
      const found = detect(data, cut, reportedUpTo - carryAbs, last, opts);
      for (const { at, f } of found) {
        const { line, column } = pos.at(data, carryAbs, at);
        report.findings.push({ file: shown, line, column, ...f });
      }
      if (last) break;
      reportedUpTo = carryAbs + cut;
      const keep = Math.min(contextFrom(data, cut), Math.max(0, cut - 256));
      pos.advance(data, carryAbs, keep);
      carry = data.subarray(keep);
      carryAbs += keep;
    }
  } finally {
    await fh.close();
  }
}

type Found = { at: number; f: Omit<ScanFinding, 'file' | 'line' | 'column'> };

/**
 * PANs and SAD in `data` starting in [skipBefore, cut), in offset order. With `!last` the data continues
 * (a chunk): a PAN touching its end is undecided and left for the next round.
 */
function detect(data: Buffer, cut: number, skipBefore: number, last: boolean, opts: DetectOptions): Found[] {
  const found: Found[] = [];
  for (const s of findPans(data, opts, 0, data.length, !last)) {
    if (s.start >= cut || s.start < skipBefore) continue;
    const digitAt = (i: number) => { let k = -1; for (let j = s.start; j < s.end; j++) { const b = data[j]!; if (b >= 48 && b <= 57 && ++k === i) return b - 48; } return 0; };
    const masked = Buffer.from(applyMask(data.subarray(s.start, s.end), [{ start: 0, end: s.end - s.start, digits: s.digits }], { format: 'last4' })).toString('latin1');
    found.push({ at: s.start, f: { kind: 'pan', network: cardNetwork(digitAt, s.digits) ?? 'luhn', masked } });
  }
  const text = data.toString('latin1');
  for (const { kind, re } of SAD_PATTERNS) {
    re.lastIndex = 0;
    for (const m of text.matchAll(re)) {
      if (m.index >= cut || m.index < skipBefore) continue;
      found.push({ at: m.index, f: { kind, masked: m[0].replace(/\d/g, '*') } });
    }
  }
  return found.sort((a, b) => a.at - b.at);
}

/**
 * The same scan over bytes already in memory (the evidence bundle scans the loaded log and recordings
 * without touching the file system); a gzip member (RFC 1952) is decompressed first. Line and column
 * are as {@link scanPaths} reports them for a file with these bytes.
 */
export function scanBytes(bytes: Buffer, file: string, opts: DetectOptions = {}): ScanFinding[] {
  const data = bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes;
  const pos = new LineCounter();
  return detect(data, data.length, 0, true, opts).map(({ at, f }) => ({ file, ...pos.at(data, 0, at), ...f }));
}

/**
 * The file's bytes in chunks; a gzip file (pg_dump -Z, compressed exports: magic 1f 8b, RFC 1952) is
 * decompressed on the way, since its PANs would otherwise be invisible.
 */
async function* chunks(fh: Awaited<ReturnType<Ctx['fs']['open']>>, size: number): AsyncGenerator<Buffer> {
  const magic = Buffer.alloc(2);
  const { bytesRead } = await fh.read(magic, 0, 2, 0);
  if (bytesRead === 2 && magic[0] === 0x1f && magic[1] === 0x8b) {
    const gunzip = fh.createReadStream({ start: 0, autoClose: false }).pipe(createGunzip());
    for await (const c of gunzip) {
      const b = c as Buffer;
      for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
    }
    return;
  }
  let at = 0;
  for (;;) {
    const buf = Buffer.alloc(size);
    const r = await fh.read(buf, 0, size, at);
    if (r.bytesRead === 0) return;
    at += r.bytesRead;
    yield buf.subarray(0, r.bytesRead);
  }
}

/** Track data and labelled values can be longer than a PAN: keep the last 160 bytes for the next round. */
function sadCut(data: Buffer): number {
  return Math.max(0, data.length - 160);
}

/** Tracks line and column (in characters) of absolute offsets visited in ascending order. */
class LineCounter {
  #line = 1;
  #cols = 0; // characters from line start to #scanned
  #scanned = 0; // absolute offset counted so far

  /** Counts up to absolute offset `base + i` and returns its position. */
  at(data: Buffer, base: number, i: number): { line: number; column: number } {
    this.#count(data, base, base + i);
    return { line: this.#line, column: this.#cols + 1 };
  }

  advance(data: Buffer, base: number, i: number): void {
    this.#count(data, base, base + i);
  }

  #count(data: Buffer, base: number, toAbs: number): void {
    for (let a = this.#scanned; a < toAbs; a++) {
      const b = data[a - base]!;
      if (b === 10) {
        this.#line++;
        this.#cols = 0;
      } else if ((b & 0xc0) !== 0x80) this.#cols++;
    }
    if (toAbs > this.#scanned) this.#scanned = toAbs;
  }
}
