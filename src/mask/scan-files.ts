/**
 * scanPaths(): looks for unmasked PAN and sensitive authentication data in stored files (issue 4,
 * deliverable 8; PCI DSS 3.5.1 "PAN is rendered unreadable anywhere it is stored" and 3.3.1 "SAD is not
 * retained"). Files are read in chunks with the same carry-over as the streaming masker, so a PAN across
 * a chunk boundary is still found; findings carry the value already masked, never the PAN itself.
 * Archives are looked into (scan-archive.ts): a zip entry by entry (`archive.zip!entry`), a gzip streamed
 * through decompression (or opened in memory when it holds an archive), within the limits there.
 */
import path from 'node:path';
import { pipeline } from 'node:stream';
import { createGunzip, gunzipSync, constants as zlibConstants } from 'node:zlib';
import type { Ctx } from '../cli/ctx.js';
import { sha256OfHandle } from '../../recorder/blob.js';
import { useRegularFile } from '../../recorder/regular-file.js';
import type { FileHandle } from '../../recorder/blob.js';
import { ARCHIVE_LIMITS, archiveKind, formatBytes, raiseAdvice, scanArchiveBytes } from './scan-archive.js';
import type { ArchiveLimits } from './scan-archive.js';
import { detect, LineCounter, sadCut, scanPlainBytes } from './scan-detect.js';
import type { ScanDetectOptions } from './scan-detect.js';
import type { ScanError, ScanFinding } from './scan-detect.js';
import { contextFrom, holdFrom } from './stream-masker.js';

export type { ScanError, ScanFinding } from './scan-detect.js';

export interface ScanReport {
  findings: ScanFinding[];
  files: number;
  bytes: number;
  /** Files, or parts of them, that could not be scanned: the scan is then not a proof of absence. */
  errors: ScanError[];
}

/** Bytes read (or decompressed) at a time, unless {@link ScanOptions.chunkBytes} says otherwise. */
export const SCAN_CHUNK_BYTES = 4 << 20;

export interface ScanOptions extends ScanDetectOptions {
  /** Chunk size for reading, default {@link SCAN_CHUNK_BYTES} (tests use small ones to cross boundaries). */
  chunkBytes?: number;
  /** Archive limits, default {@link ARCHIVE_LIMITS}; `--max-expanded` (of pcigate scan or evidence) sets them with archiveLimits(). */
  limits?: Partial<ArchiveLimits>;
}

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
  // The name lstat saw as a regular file may have been swapped for a FIFO or a link since: opened without
  // waiting or following (scanPaths never follows links), and what was opened is checked (fstat) and read.
  const r = await useRegularFile(ctx.fs, abs, { follow: false }, (fh) => scanOpen(fh, shown, report, opts));
  if (r.status === 'unopened') throw r.cause;
  if (r.status === 'not_file') throw new Error('is no longer a regular file (it changed while being scanned); not read');
}

/**
 * Scans what an open handle holds from its start, as {@link scanPaths} scans a file (zip and gzip looked into,
 * anything else streamed in chunks, memory flat), for a caller that opened the file itself and checked the
 * handle (fstat) — the evidence bundle scans each recording so (src/evidence/collect.ts). `upTo`: read no
 * further (the size at open, so a file still being appended to cannot keep the scan busy). The handle stays
 * open. Problems are in `errors`; a failed read throws.
 */
export async function scanHandle(fh: FileHandle, shown: string, opts: ScanOptions & { upTo?: number } = {}): Promise<ScanReport> {
  const report: ScanReport = { findings: [], files: 1, bytes: 0, errors: [] };
  await scanOpen(fh, shown, report, opts);
  return report;
}

async function scanOpen(fh: FileHandle, shown: string, report: ScanReport, opts: ScanOptions & { upTo?: number }): Promise<void> {
  const { upTo } = opts;
  const limits: ArchiveLimits = { ...ARCHIVE_LIMITS, ...opts.limits };
  const head = Buffer.alloc(4);
  const { bytesRead } = await fh.read(head, 0, 4, 0);
  const kind = archiveKind(head.subarray(0, Math.min(bytesRead, upTo ?? Infinity)));
  // A zip needs random access, and a gzip holding an archive is opened like one: both are read into memory.
  if (kind === 'zip' || (kind === 'gzip' && await gzipHoldsArchive(fh))) {
    const size = upTo ?? (await fh.stat()).size;
    if (size <= limits.maxArchiveBytes) {
      // With `upTo`, exactly that much (sha256OfHandle's bounded read; its hash is not needed).
      const bytes = upTo === undefined ? await fh.readFile() : (await sha256OfHandle(fh, { upTo, keep: true })).data!;
      const r = scanArchiveBytes(bytes, shown, opts, limits);
      report.findings.push(...r.findings);
      report.errors.push(...r.errors);
      report.bytes += r.bytes;
      return;
    }
    report.errors.push({ file: shown, message: `${kind === 'zip' ? 'a zip' : 'a gzip holding an archive'} of ${size} bytes, more than the ${limits.maxArchiveBytes} opened in memory (a fixed bound, not raised by --max-expanded): its entries were not scanned, only its ${kind === 'zip' ? 'raw' : 'decompressed'} bytes` });
  }
  const problems: ScanError[] = [];
  const gunzip = kind === 'gzip' ? { upTo: limits.maxExpandedBytes, raise: raiseAdvice(limits) } : undefined;
  await scanChunks(chunks(fh, opts.chunkBytes ?? SCAN_CHUNK_BYTES, gunzip, upTo, (message) => problems.push({ file: shown, message })), shown, report, opts);
  report.errors.push(...problems);
}

/** The detector over a file's chunks, carrying the undecided tail of each into the next. */
async function scanChunks(source: AsyncIterable<Buffer>, shown: string, report: ScanReport, opts: ScanDetectOptions): Promise<void> {
  let carry: Buffer = Buffer.alloc(0);
  let carryAbs = 0; // absolute offset of carry[0]
  let reportedUpTo = 0; // absolute offset: findings starting before this were reported
  const pos = new LineCounter();
  const it = source[Symbol.asyncIterator]();
  for (;;) {
    const next = await it.next();
    const chunk: Buffer = next.done ? Buffer.alloc(0) : next.value;
    const last = next.done === true;
    report.bytes += chunk.length;
    const data = carry.length ? Buffer.concat([carry, chunk]) : chunk;
    const cut = last ? data.length : Math.min(holdFrom(data), sadCut(data));
    // A chunk's data begins a line at the file's start only (what the carry keeps may start mid-line).
    const found = detect(data, cut, reportedUpTo - carryAbs, last, opts, carryAbs === 0);
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
}

/**
 * The same scan over bytes already in memory (the evidence bundle scans the loaded log lines and samples
 * without touching the file system); a gzip member (RFC 1952) is decompressed first. Line and column
 * are as {@link scanPaths} reports them for a file with these bytes.
 */
export function scanBytes(bytes: Buffer, file: string, opts: ScanDetectOptions = {}): ScanFinding[] {
  return scanPlainBytes(archiveKind(bytes) === 'gzip' ? gunzipSync(bytes) : bytes, file, opts);
}

/** True when the gzip at `fh` decompresses to a zip or another gzip (peeks at its first KiB only). */
async function gzipHoldsArchive(fh: FileHandle): Promise<boolean> {
  const buf = Buffer.alloc(1024);
  const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
  try {
    // Z_SYNC_FLUSH: what the first KiB decompresses to, without an error for the rest missing.
    const start = gunzipSync(buf.subarray(0, bytesRead), { finishFlush: zlibConstants.Z_SYNC_FLUSH, maxOutputLength: 1 << 20 });
    return archiveKind(start.subarray(0, 4)) !== undefined;
  } catch {
    return false; // damaged, or a bomb from its first KiB: the streamed scan reports it precisely
  }
}

/**
 * The file's bytes in chunks; with `gunzip` (a gzip: pg_dump -Z, compressed exports, RFC 1952) they are
 * decompressed on the way, since its PANs would otherwise be invisible, and memory stays flat. Decompression
 * stops after `gunzip.upTo` bytes (a decompression bomb; `raise` says how to raise that) or at damaged data;
 * `problem` is told which, and what came before is still scanned. `Infinity`: no limit (memory stays flat all the
 * same). `upTo`: no file byte at or past it is read.
 */
async function* chunks(fh: FileHandle, size: number, gunzip: { upTo: number; raise: string } | undefined, upTo: number | undefined, problem: (message: string) => void): AsyncGenerator<Buffer> {
  const limit = upTo ?? Infinity;
  if (gunzip !== undefined) {
    const gunzipUpTo = gunzip.upTo;
    // `end` is inclusive; a gzip has at least its 2-byte magic below `limit` (scanOpen read it there).
    const raw = fh.createReadStream({ start: 0, autoClose: false, ...(upTo !== undefined ? { end: upTo - 1 } : {}) });
    const inflate = createGunzip();
    // pipeline, not pipe: a read error of the file ends the gunzip with that error instead of leaving it waiting.
    pipeline(raw, inflate, () => {});
    let total = 0;
    try {
      for await (const c of inflate) {
        let b = c as Buffer;
        if (total + b.length > gunzipUpTo) {
          b = b.subarray(0, gunzipUpTo - total);
          problem(`decompression stopped after ${formatBytes(gunzipUpTo)}, the --max-expanded limit for one file (a decompression bomb?): those were scanned, the rest was not; ${gunzip.raise}`);
          inflate.destroy();
        }
        total += b.length;
        for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
        if (inflate.destroyed) return;
      }
    } catch (e) {
      problem(`not a readable gzip: ${(e as Error).message} (after ${total} decompressed bytes, which were scanned)`);
    } finally {
      raw.destroy();
    }
    return;
  }
  let at = 0;
  while (at < limit) {
    const want = Math.min(size, limit - at);
    const buf = Buffer.alloc(want);
    const r = await fh.read(buf, 0, want, at);
    if (r.bytesRead === 0) return;
    at += r.bytesRead;
    yield buf.subarray(0, r.bytesRead);
  }
}
