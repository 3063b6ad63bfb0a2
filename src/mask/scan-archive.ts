/**
 * The scan inside archives, for `pcigate scan` and the evidence bundle's export scan alike (PCI DSS 3.5.1,
 * 3.3.1: a PAN deflated into a zip entry or a gzip is stored all the same, but invisible in the raw bytes).
 *
 * A zip (PKWARE APPNOTE, read by the evidence bundle's strict reader, src/archive/zip.ts) is scanned entry by
 * entry, each named `archive.zip!entry/path`; a gzip (RFC 1952) is decompressed and scanned under its own name.
 * Archives are recognised by their magic bytes, not their names: a renamed zip is still opened.
 *
 * Bounded, and never a crash: every limit or problem is a {@link ScanError} saying what was not scanned and why,
 * and the rest is still scanned —
 * - an archive inside an archive is opened (a bundle's `.gz` entry, a zip in a zip); one more level is not;
 * - decompression bombs: an entry may expand to {@link ArchiveLimits.maxEntryBytes}, everything inside one file
 *   on disk to {@link ArchiveLimits.maxExpandedBytes}; a zip's declared sizes are checked before anything is
 *   inflated (the reader never inflates past them) and a gzip stops at the limit. `pcigate scan --max-expanded`
 *   sets the per-file limit ({@link archiveLimits}; a legitimate `pg_dump | gzip` can expand to many GiB, and a
 *   streamed gzip needs no more memory for it); the per-entry limit follows it at a quarter, because an entry
 *   (and a gzip holding an archive) is held in memory whole while scanned. There is no expansion-ratio guard:
 *   deflate cannot exceed about 1032:1 per layer, so a ratio bound near that would refuse only near-constant
 *   data, legitimate (zero-filled files) as often as hostile, and what a bomb costs is already bounded in bytes;
 *   a bomb nested in layers is bounded by the nesting depth;
 * - an encrypted zip entry cannot be read and is reported; a zip that does not parse is reported and its raw
 *   bytes are scanned (that finds stored entries); a damaged gzip is reported.
 */
import { constants as bufferConstants } from 'node:buffer';
import { gunzipSync } from 'node:zlib';
import type { LazyEntry } from '../archive/zip.js';
import { zipEntries } from '../archive/zip.js';
import { UsageError } from '../errors.js';
import type { ScanDetectOptions } from './scan-detect.js';
import { maskText } from './pan-masker.js';
import { scanPlainBytes } from './scan-detect.js';
import type { ScanError, ScanFinding } from './scan-detect.js';

/** Byte limits of the archive scan; `Infinity` is no limit. */
export interface ArchiveLimits {
  /** Most bytes of a zip, or of a gzip holding an archive, read into memory to open it. */
  maxArchiveBytes: number;
  /** Most bytes one zip entry or in-memory gzip may expand to (it is held in memory while scanned). */
  maxEntryBytes: number;
  /** Most bytes everything inside one file on disk may expand to, nested archives included. */
  maxExpandedBytes: number;
  /**
   * The command whose `--max-expanded` set these limits (`pcigate scan` when not said): a message about a limit
   * tells how to raise it with that command, where the user ran the scan (`pcigate evidence` scans too).
   */
  command?: string;
}

/** One entry may take this share of the per-file limit: 1 GiB per file gives 256 MiB per entry. */
const ENTRY_SHARE = 4;
const GiB = 1024 ** 3;

/**
 * The limits for a per-file expansion limit of `maxExpandedBytes` (`Infinity`: none), as `pcigate scan
 * --max-expanded` sets it: an entry may take a quarter of it; how much of a zip is read into memory stays fixed.
 */
export function archiveLimits(maxExpandedBytes: number, command?: string): ArchiveLimits {
  return { maxArchiveBytes: 512 << 20, maxEntryBytes: Math.floor(maxExpandedBytes / ENTRY_SHARE), maxExpandedBytes, ...(command !== undefined ? { command } : {}) };
}

export const ARCHIVE_LIMITS: Readonly<ArchiveLimits> = Object.freeze(archiveLimits(GiB));

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4,
  kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4,
  kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12,
};

/**
 * Parses a `--max-expanded` value: bytes, or a number with a unit — `K`, `M`, `G`, `T` and `KiB` … `TiB` are
 * powers of 1024 (as in `sort -S 512M`), `KB` … `TB` powers of 1000 (as in pcigate.yaml sizes). `0` or
 * `unlimited` is no limit (`Infinity`). Undefined when malformed or when it rounds to no byte at all.
 */
export function parseExpandedLimit(text: string): number | undefined {
  const t = text.trim();
  if (/^unlimited$/i.test(t)) return Infinity;
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(t);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) return undefined;
  const n = Number(m[1]);
  if (n === 0) return Infinity;
  const bytes = Math.round(n * unit);
  return bytes >= 1 && Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** `n` bytes for a message: `1073741824 bytes (1 GiB)`, `1000 bytes`. */
export function formatBytes(n: number): string {
  for (const [unit, size] of [['TiB', 1024 ** 4], ['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (n >= size) return `${n} bytes (${Number((n / size).toFixed(1))} ${unit})`;
  }
  return `${n} bytes`;
}

/** `n` bytes as a `--max-expanded` value, rounded up to a whole unit: `4G`, `300M`. */
function flagSize(n: number): string {
  for (const [unit, size] of [['T', 1024 ** 4], ['G', 1024 ** 3], ['M', 1024 ** 2], ['K', 1024]] as const) {
    if (n >= size) return `${Math.ceil(n / size)}${unit}`;
  }
  return String(n);
}

/** The end of a message about a limit: which option raises it, of the command that set `limits`. */
export function raiseAdvice(limits: Pick<ArchiveLimits, 'command'>): string {
  return `${limits.command ?? 'pcigate scan'} --max-expanded SIZE raises the limit (e.g. 4G; 0 for none)`;
}

/**
 * A command's `--max-expanded` value as parseExpandedLimit reads it (bytes, `Infinity` for none), undefined when it
 * was not given; a malformed value is a UsageError.
 */
export function expandedLimitOption(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const max = parseExpandedLimit(String(value));
  if (max === undefined) throw new UsageError(`--max-expanded: expected a size such as 512M, 4G or 1073741824, or 0 / unlimited for no limit; got '${String(value)}'`);
  return max;
}

/** The file on disk is archive level 1; an archive inside it is opened (level 2); one inside that is not. */
export const MAX_ARCHIVE_DEPTH = 2;

export interface ArchiveScan {
  findings: ScanFinding[];
  errors: ScanError[];
  /** Bytes scanned after decompression. */
  bytes: number;
}

const ZIP_MAGIC = [Buffer.from('PK\u0003\u0004', 'latin1'), Buffer.from('PK\u0005\u0006', 'latin1')];

/** True when `head` (the first bytes of a file) starts a zip archive (APPNOTE 4.3.7 / 4.3.16). */
export function isZip(head: Uint8Array): boolean {
  return head.length >= 4 && ZIP_MAGIC.some((m) => m.equals(head.subarray(0, 4)));
}

/** The archive `head` starts, by magic bytes: zip, gzip (RFC 1952 ID1 ID2 = 1f 8b), or undefined. */
export function archiveKind(head: Uint8Array): 'zip' | 'gzip' | undefined {
  if (isZip(head)) return 'zip';
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  return undefined;
}

/**
 * Scans `bytes`, the whole content of `file`: a zip's entries, a gzip's content, or the bytes themselves.
 * `depth`: the archive level of `file` (1 for a file on disk); `budget`: the bytes still allowed to expand
 * for the file on disk this is part of.
 */
export function scanArchiveBytes(bytes: Buffer, file: string, opts: ScanDetectOptions, limits: ArchiveLimits = ARCHIVE_LIMITS, depth = 1, budget = { left: limits.maxExpandedBytes }): ArchiveScan {
  const out: ArchiveScan = { findings: [], errors: [], bytes: 0 };
  const kind = archiveKind(bytes);
  if (kind === 'zip') scanZipInto(bytes, file, opts, limits, depth, budget, out);
  else if (kind === 'gzip') scanGzipInto(bytes, file, opts, limits, depth, budget, out);
  else plain(bytes, file, opts, out);
  return out;
}

function plain(bytes: Buffer, file: string, opts: ScanDetectOptions, out: ArchiveScan): void {
  out.findings.push(...scanPlainBytes(bytes, file, opts));
  out.bytes += bytes.length;
}

/** Content found inside an archive of level `depth`: scanned, or opened when it is itself an archive. */
function scanContent(bytes: Buffer, name: string, opts: ScanDetectOptions, limits: ArchiveLimits, depth: number, budget: { left: number }, out: ArchiveScan): void {
  const kind = archiveKind(bytes);
  if (kind === undefined) return plain(bytes, name, opts, out);
  if (depth >= MAX_ARCHIVE_DEPTH) {
    out.errors.push({ file: name, message: `a ${kind} archive nested ${depth} levels deep: archives are opened one level inside another, no deeper; not scanned` });
    return;
  }
  const inner = scanArchiveBytes(bytes, name, opts, limits, depth + 1, budget);
  out.findings.push(...inner.findings);
  out.errors.push(...inner.errors);
  out.bytes += inner.bytes;
}

function scanZipInto(bytes: Buffer, file: string, opts: ScanDetectOptions, limits: ArchiveLimits, depth: number, budget: { left: number }, out: ArchiveScan): void {
  let entries: LazyEntry[];
  try {
    // Infinity: the budget is checked below, where the message can name the option that raises it.
    entries = zipEntries(bytes, Infinity);
  } catch (e) {
    out.errors.push({ file, message: maskText(`zip not opened: ${(e as Error).message}; only its raw bytes were scanned`) });
    plain(bytes, file, opts, out);
    return;
  }
  // The declared sizes bound what the reader will inflate: a zip declaring more than is left is refused whole.
  const declared = entries.reduce((n, e) => n + e.size, 0);
  if (declared > budget.left) {
    out.errors.push({ file, message: `zip not opened: its entries would unpack to ${formatBytes(declared)}, more than the ${formatBytes(budget.left)} left of the --max-expanded limit of ${formatBytes(limits.maxExpandedBytes)} for this file (a decompression bomb?); only its raw bytes were scanned; ${raiseAdvice(limits)}` });
    plain(bytes, file, opts, out);
    return;
  }
  for (const entry of entries) {
    const name = `${file}!${maskText(entry.path)}`;
    if (entry.size > limits.maxEntryBytes) {
      out.errors.push({ file: name, message: `expands to ${formatBytes(entry.size)}, more than the ${formatBytes(limits.maxEntryBytes)} one entry may (a quarter of the --max-expanded limit; a decompression bomb?): not scanned; ${limits.command ?? 'pcigate scan'} --max-expanded ${flagSize(entry.size * ENTRY_SHARE)} or more scans it` });
      continue;
    }
    const read = entry.read();
    if (read.bytes === null) {
      out.errors.push({ file: name, message: maskText(`${read.error ?? 'unreadable'}: not scanned`) });
      continue;
    }
    budget.left -= read.bytes.length;
    scanContent(read.bytes, name, opts, limits, depth, budget, out);
  }
}

function scanGzipInto(bytes: Buffer, file: string, opts: ScanDetectOptions, limits: ArchiveLimits, depth: number, budget: { left: number }, out: ArchiveScan): void {
  const cap = Math.min(limits.maxEntryBytes, budget.left);
  // Held in memory whole: even without a limit, no more than one Buffer can hold.
  const held = Math.min(cap, bufferConstants.MAX_LENGTH);
  let data: Buffer;
  try {
    // maxOutputLength: a gzip bomb stops at the cap instead of filling memory.
    data = gunzipSync(bytes, { maxOutputLength: Math.max(1, held) });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ERR_BUFFER_TOO_LARGE') {
      out.errors.push({ file, message: `not a readable gzip: ${(e as Error).message}; not scanned` });
    } else if (held < cap) {
      out.errors.push({ file, message: `a gzip expanding to more than ${formatBytes(held)}, the most one buffer in memory holds: not scanned` });
    } else {
      const which = cap === limits.maxEntryBytes
        ? 'the most one entry or a gzip held in memory may (a quarter of the --max-expanded limit; a decompression bomb?)'
        : `what is left of the --max-expanded limit of ${formatBytes(limits.maxExpandedBytes)} for this file (a decompression bomb?)`;
      out.errors.push({ file, message: `a gzip expanding to more than ${formatBytes(cap)}, ${which}: not scanned; ${raiseAdvice(limits)}` });
    }
    return;
  }
  budget.left -= data.length;
  scanContent(data, file, opts, limits, depth, budget, out);
}
