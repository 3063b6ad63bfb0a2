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
 *   inflated (the reader never inflates past them) and a gzip stops at the limit;
 * - an encrypted zip entry cannot be read and is reported; a zip that does not parse is reported and its raw
 *   bytes are scanned (that finds stored entries); a damaged gzip is reported.
 */
import { gunzipSync } from 'node:zlib';
import type { LazyEntry } from '../archive/zip.js';
import { zipEntries } from '../archive/zip.js';
import type { DetectOptions } from './pan-detector.js';
import { maskText } from './pan-masker.js';
import { scanPlainBytes } from './scan-detect.js';
import type { ScanError, ScanFinding } from './scan-detect.js';

export interface ArchiveLimits {
  /** Most bytes of a zip, or of a gzip holding an archive, read into memory to open it. */
  maxArchiveBytes: number;
  /** Most bytes one zip entry or in-memory gzip may expand to (it is held in memory while scanned). */
  maxEntryBytes: number;
  /** Most bytes everything inside one file on disk may expand to, nested archives included. */
  maxExpandedBytes: number;
}

export const ARCHIVE_LIMITS: Readonly<ArchiveLimits> = Object.freeze({
  maxArchiveBytes: 512 << 20,
  maxEntryBytes: 256 << 20,
  maxExpandedBytes: 1024 << 20,
});

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
export function scanArchiveBytes(bytes: Buffer, file: string, opts: DetectOptions, limits: ArchiveLimits = ARCHIVE_LIMITS, depth = 1, budget = { left: limits.maxExpandedBytes }): ArchiveScan {
  const out: ArchiveScan = { findings: [], errors: [], bytes: 0 };
  const kind = archiveKind(bytes);
  if (kind === 'zip') scanZipInto(bytes, file, opts, limits, depth, budget, out);
  else if (kind === 'gzip') scanGzipInto(bytes, file, opts, limits, depth, budget, out);
  else plain(bytes, file, opts, out);
  return out;
}

function plain(bytes: Buffer, file: string, opts: DetectOptions, out: ArchiveScan): void {
  out.findings.push(...scanPlainBytes(bytes, file, opts));
  out.bytes += bytes.length;
}

/** Content found inside an archive of level `depth`: scanned, or opened when it is itself an archive. */
function scanContent(bytes: Buffer, name: string, opts: DetectOptions, limits: ArchiveLimits, depth: number, budget: { left: number }, out: ArchiveScan): void {
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

function scanZipInto(bytes: Buffer, file: string, opts: DetectOptions, limits: ArchiveLimits, depth: number, budget: { left: number }, out: ArchiveScan): void {
  let entries: LazyEntry[];
  try {
    // The declared sizes bound what the reader will inflate: a zip declaring more than is left is refused whole.
    entries = zipEntries(bytes, budget.left);
  } catch (e) {
    out.errors.push({ file, message: maskText(`zip not opened: ${(e as Error).message}; only its raw bytes were scanned`) });
    plain(bytes, file, opts, out);
    return;
  }
  for (const entry of entries) {
    const name = `${file}!${maskText(entry.path)}`;
    if (entry.size > limits.maxEntryBytes) {
      out.errors.push({ file: name, message: `expands to ${entry.size} bytes, more than the ${limits.maxEntryBytes} one entry may (a decompression bomb?): not scanned` });
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

function scanGzipInto(bytes: Buffer, file: string, opts: DetectOptions, limits: ArchiveLimits, depth: number, budget: { left: number }, out: ArchiveScan): void {
  const cap = Math.min(limits.maxEntryBytes, budget.left);
  let data: Buffer;
  try {
    // maxOutputLength: a gzip bomb stops at the cap instead of filling memory.
    data = gunzipSync(bytes, { maxOutputLength: Math.max(1, cap) });
  } catch (e) {
    const tooLarge = (e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
    out.errors.push({ file, message: tooLarge ? `a gzip expanding to more than ${cap} bytes (a decompression bomb?): not scanned` : `not a readable gzip: ${(e as Error).message}; not scanned` });
    return;
  }
  budget.left -= data.length;
  scanContent(data, file, opts, limits, depth, budget, out);
}
