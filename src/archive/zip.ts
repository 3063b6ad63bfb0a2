/**
 * The evidence bundle's container: a plain ZIP file (PKWARE APPNOTE.TXT 6.3.x, §4.3 overall format) that
 * `unzip`, Python's zipfile and every archive tool open, written reproducibly and read strictly.
 *
 * Writer: one local header + data per entry, then the central directory and the end-of-central-directory
 * record; deflate (method 8, RFC 1951 raw) unless storing is smaller; CRC-32 from zlib; a fixed DOS timestamp
 * (1980-01-01 00:00, the earliest DOS date) and fixed attributes, so the same files give the same bytes — a
 * bundle's SHA-256 is a function of its content. No ZIP64, no encryption, no data descriptors.
 *
 * Reader: accepts what this writer and ordinary tools (Info-ZIP `zip`, Python) produce, and refuses anything
 * an unpacker could be tricked by: truncation, entries outside the file or overlapping each other, a CRC-32 or
 * size that does not match, duplicate names, absolute paths, `..`, backslashes, drive letters. Every refusal is
 * an EvidenceFormatError saying what is wrong and in which entry. `pcigate scan` reads zips with it too
 * (src/mask/scan-archive.ts), one entry at a time through {@link zipEntries}. It lives in src/archive/, beside
 * neither user, so the masking core does not depend on the evidence feature.
 */
import { crc32, deflateRawSync, inflateRawSync } from 'node:zlib';
import { EvidenceFormatError } from '../errors.js';

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const LOCAL_LEN = 30;
const CENTRAL_LEN = 46;
const EOCD_LEN = 22;
/** APPNOTE 4.4.3: 2.0 is the version that introduced deflate. */
const VERSION_NEEDED = 20;
/** APPNOTE 4.4.2: upper byte 3 = UNIX, so `external attributes` carry a mode that unzip applies. */
const VERSION_MADE_BY = (3 << 8) | VERSION_NEEDED;
/** APPNOTE 4.4.4 general purpose bit 11: the name is UTF-8. */
const FLAG_UTF8 = 0x0800;
const FLAG_ENCRYPTED = 0x0001;
const FLAG_DATA_DESCRIPTOR = 0x0008;
/** APPNOTE 4.3.9.3: the optional signature of a data descriptor (crc, compressed and uncompressed size follow). */
const SIG_DESCRIPTOR = 0x08074b50;
const METHOD_STORE = 0;
const METHOD_DEFLATE = 8;
/** MS-DOS date of 1980-01-01 ((year − 1980) << 9 | month << 5 | day); time 00:00:00 is 0. */
const DOS_DATE = (0 << 9) | (1 << 5) | 1;
const DOS_TIME = 0;
/** A regular file, rw-r--r--, in the UNIX half of the external attributes. */
const EXTERNAL_ATTRS = (0o100644 << 16) >>> 0;
/** Without ZIP64 a count is 16 bits and a size or offset 32 bits; 0xffff… values mean "look in ZIP64". */
const MAX_ENTRIES = 0xfffe;
const MAX_32 = 0xfffffffe;
/** The reader will not inflate more than this in total: a bundle is evidence, not a disk image. */
const MAX_TOTAL_BYTES = 1024 * 1024 * 1024;

export interface ZipEntry {
  /** `/`-separated relative path. */
  path: string;
  bytes: Buffer;
}

/**
 * Writes `entries` as a ZIP file (APPNOTE 6.3.x), in the given order, reproducibly. Throws EvidenceFormatError
 * for a path the reader would refuse, a duplicate, or content too large without ZIP64.
 */
export function writeZip(entries: Array<{ path: string; bytes: Buffer }>): Buffer {
  if (entries.length > MAX_ENTRIES) throw new EvidenceFormatError(`a bundle holds at most ${MAX_ENTRIES} files (no ZIP64), got ${entries.length}`);
  const seen = new Set<string>();
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const problem = pathProblem(e.path);
    if (problem) throw new EvidenceFormatError(`cannot write zip entry ${JSON.stringify(e.path)}: ${problem}`, { file: e.path });
    const key = foldName(e.path);
    if (seen.has(key)) throw new EvidenceFormatError(`cannot write zip entry ${JSON.stringify(e.path)} twice (names equal up to case or normalisation)`, { file: e.path });
    seen.add(key);
    const name = Buffer.from(e.path, 'utf8');
    // Level 6 (zlib's default): bench/evidence/bundle.ts measured level 9 at 0.3% smaller for twice the CPU.
    const deflated = deflateRawSync(e.bytes, { level: 6 });
    const [method, data] = deflated.length < e.bytes.length ? [METHOD_DEFLATE, deflated] : [METHOD_STORE, e.bytes];
    if (e.bytes.length > MAX_32 || offset > MAX_32) throw new EvidenceFormatError(`zip entry ${e.path} is too large without ZIP64`, { file: e.path });
    const crc = crc32(e.bytes) >>> 0;

    const local = Buffer.alloc(LOCAL_LEN);
    local.writeUInt32LE(SIG_LOCAL, 0);
    local.writeUInt16LE(VERSION_NEEDED, 4);
    local.writeUInt16LE(FLAG_UTF8, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(DOS_TIME, 10);
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(e.bytes.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);

    const central = Buffer.alloc(CENTRAL_LEN);
    central.writeUInt32LE(SIG_CENTRAL, 0);
    central.writeUInt16LE(VERSION_MADE_BY, 4);
    central.writeUInt16LE(VERSION_NEEDED, 6);
    central.writeUInt16LE(FLAG_UTF8, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt16LE(DOS_TIME, 12);
    central.writeUInt16LE(DOS_DATE, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(e.bytes.length, 24);
    central.writeUInt16LE(name.length, 28);
    // extra length, comment length, disk number start, internal attributes: all 0
    central.writeUInt32LE(EXTERNAL_ATTRS, 38);
    central.writeUInt32LE(offset, 42);

    locals.push(local, name, data);
    centrals.push(central, name);
    offset += LOCAL_LEN + name.length + data.length;
  }
  const cdSize = centrals.reduce((n, b) => n + b.length, 0);
  if (offset > MAX_32 || cdSize > MAX_32) throw new EvidenceFormatError('the bundle is too large without ZIP64');
  const eocd = Buffer.alloc(EOCD_LEN);
  eocd.writeUInt32LE(SIG_EOCD, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cdSize, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...centrals, eocd]);
}

/**
 * Reads a ZIP file written by {@link writeZip} or an ordinary zip tool: every file entry with its bytes, in
 * central-directory order (directory entries are skipped). Throws EvidenceFormatError on the first problem.
 */
export function readZip(zip: Buffer): ZipEntry[] {
  const scanned = scanZip(zip);
  const bad = scanned.find((e) => e.error !== undefined);
  if (bad) throw new EvidenceFormatError(`zip entry ${bad.path}: ${bad.error}`, { file: bad.path });
  return scanned.map((e) => ({ path: e.path, bytes: e.bytes as Buffer }));
}

/** An entry as {@link scanZip} found it: its bytes, or why they could not be read. */
export interface ScannedEntry {
  path: string;
  bytes: Buffer | null;
  error?: string;
}

/**
 * Like {@link readZip}, but a problem inside one entry's data (CRC-32, size, inflate, encryption) is returned on
 * that entry instead of thrown, so a verifier can name it and still check the rest. Structural problems — the
 * directory, names, duplicates, bounds — still throw EvidenceFormatError.
 */
export function scanZip(zip: Buffer): ScannedEntry[] {
  return zipEntries(zip, MAX_TOTAL_BYTES, true).map((e) => e.read());
}

/** A file entry whose data is read (inflated, CRC-checked) only when asked. */
export interface LazyEntry {
  path: string;
  /** Size unpacked as the central directory declares it; reading never yields more. */
  size: number;
  read(): ScannedEntry;
}

/**
 * The zip's structure checked as {@link scanZip} does, with each file entry's data left unread: a caller
 * holds one inflated entry at a time and can refuse one by its declared size first. `maxTotalBytes`: the
 * most the file entries may declare together (a decompression bomb is refused before anything inflates).
 */
export function zipEntries(zip: Buffer, maxTotalBytes = MAX_TOTAL_BYTES, whole = false): LazyEntry[] {
  const eocdAt = findEocd(zip);
  const disk = zip.readUInt16LE(eocdAt + 4);
  const cdDisk = zip.readUInt16LE(eocdAt + 6);
  const onDisk = zip.readUInt16LE(eocdAt + 8);
  const count = zip.readUInt16LE(eocdAt + 10);
  const cdSize = zip.readUInt32LE(eocdAt + 12);
  const cdOffset = zip.readUInt32LE(eocdAt + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) throw new EvidenceFormatError('not supported: ZIP64 archive');
  if (disk !== 0 || cdDisk !== 0 || onDisk !== count) throw new EvidenceFormatError('not supported: multi-disk (split) archive');
  if (cdOffset + cdSize !== eocdAt) {
    throw new EvidenceFormatError(`the central directory (offset ${cdOffset}, ${cdSize} bytes) does not end where the end record starts (${eocdAt}): truncated or extra bytes`);
  }

  const headers: CentralHeader[] = [];
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + CENTRAL_LEN > eocdAt || zip.readUInt32LE(p) !== SIG_CENTRAL) throw new EvidenceFormatError(`central directory entry ${i + 1} of ${count} is missing or damaged`);
    const h = readCentral(zip, p, eocdAt, i);
    headers.push(h);
    p = h.next;
  }
  if (p !== eocdAt) throw new EvidenceFormatError(`the central directory holds ${eocdAt - p} bytes after its ${count} entries`);

  checkNames(headers);
  const total = headers.reduce((n, h) => n + h.size, 0);
  if (total > maxTotalBytes) throw new EvidenceFormatError(`the zip would unpack to ${total} bytes, more than the ${maxTotalBytes} this reader accepts (a decompression bomb?)`);

  // Each entry's local header and data must lie before the central directory and not overlap another's.
  const regions = headers.map((h) => ({ h, ...localRegion(zip, h, cdOffset) })).sort((a, b) => a.start - b.start);
  for (let i = 1; i < regions.length; i++) {
    const prev = regions[i - 1]!;
    const cur = regions[i]!;
    if (cur.start < prev.end) throw new EvidenceFormatError(`zip entries ${prev.h.path} and ${cur.h.path} overlap`, { file: cur.h.path });
  }
  // `whole` (an evidence bundle, which pcigate writes): every byte before the central directory belongs to an entry
  // (its local header, data and data descriptor): bytes none accounts for may hold an entry the central directory
  // does not list, which a streaming reader (`jar x <`, a zip stream library) extracts, over a listed file of the
  // same name, and nothing here checked. Not for any zip (scan): a self-extractor's stub, an APK signing block
  // and ZIP64 data descriptors are such bytes too.
  let at = 0;
  for (const r of whole ? regions : []) {
    if (r.start !== at) throw new EvidenceFormatError(`zip: ${r.start - at > 0 ? `${r.start - at} bytes before entry ${r.h.path} belong to no listed entry` : `entry ${r.h.path} starts inside the one before`}`, { file: r.h.path });
    at = r.end + (r.descriptor ? (r.end + 4 <= cdOffset && zip.readUInt32LE(r.end) === SIG_DESCRIPTOR ? 16 : 12) : 0);
  }
  if (whole && at !== cdOffset) throw new EvidenceFormatError(`zip: ${cdOffset - at} bytes before the central directory belong to no listed entry`);
  const byHeader = new Map(regions.map((r) => [r.h, r]));
  const out: LazyEntry[] = [];
  for (const h of headers) {
    if (h.isDir) continue;
    const r = byHeader.get(h)!;
    out.push({ path: h.path, size: h.size, read: () => readData(zip.subarray(r.dataStart, r.end), h) });
  }
  return out;
}

interface CentralHeader {
  index: number;
  path: string;
  isDir: boolean;
  flags: number;
  method: number;
  crc: number;
  compSize: number;
  size: number;
  localOffset: number;
  next: number;
}

/** APPNOTE 4.3.16: the end record is the last 22 bytes plus a comment of at most 65535 bytes. */
function findEocd(zip: Buffer): number {
  if (zip.length < EOCD_LEN) throw new EvidenceFormatError(`not a zip file: ${zip.length} bytes is shorter than an end-of-central-directory record (truncated?)`);
  const lowest = Math.max(0, zip.length - EOCD_LEN - 0xffff);
  for (let at = zip.length - EOCD_LEN; at >= lowest; at--) {
    // The comment length must reach exactly to the end of the file, so a signature inside a comment or in
    // file data cannot be mistaken for the end record.
    if (zip.readUInt32LE(at) === SIG_EOCD && at + EOCD_LEN + zip.readUInt16LE(at + 20) === zip.length) return at;
  }
  throw new EvidenceFormatError('not a zip file: no end-of-central-directory record (truncated or not a zip)');
}

function readCentral(zip: Buffer, p: number, limit: number, index: number): CentralHeader {
  const flags = zip.readUInt16LE(p + 8);
  const method = zip.readUInt16LE(p + 10);
  const crc = zip.readUInt32LE(p + 16);
  const compSize = zip.readUInt32LE(p + 20);
  const size = zip.readUInt32LE(p + 24);
  const nameLen = zip.readUInt16LE(p + 28);
  const extraLen = zip.readUInt16LE(p + 30);
  const commentLen = zip.readUInt16LE(p + 32);
  const localOffset = zip.readUInt32LE(p + 42);
  const next = p + CENTRAL_LEN + nameLen + extraLen + commentLen;
  if (next > limit) throw new EvidenceFormatError(`central directory entry ${index + 1} runs past the directory (truncated?)`);
  const path = decodeName(zip.subarray(p + CENTRAL_LEN, p + CENTRAL_LEN + nameLen), index);
  if (compSize === 0xffffffff || size === 0xffffffff || localOffset === 0xffffffff) throw new EvidenceFormatError(`zip entry ${path}: ZIP64 is not supported`, { file: path });
  const isDir = path.endsWith('/');
  if (isDir && size !== 0) throw new EvidenceFormatError(`zip entry ${path} is a directory with ${size} bytes of content`, { file: path });
  return { index, path: isDir ? path.slice(0, -1) : path, isDir, flags, method, crc, compSize, size, localOffset, next };
}

function decodeName(bytes: Buffer, index: number): string {
  try {
    // fatal: an invalid UTF-8 name must not silently become U+FFFD and collide with another.
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new EvidenceFormatError(`central directory entry ${index + 1}: the name is not UTF-8`);
  }
}

/** The name as a case-insensitive, normalising file system sees it. */
function foldName(p: string): string {
  return p.normalize('NFC').toLowerCase();
}

/** Why `p` is not a safe relative `/`-separated path, or undefined when it is. */
export function pathProblem(p: string): string | undefined {
  if (p.length === 0) return 'empty name';
  if (/[\u0000-\u001f\u007f]/.test(p)) return 'the name holds a control character';
  if (p.includes('\\')) return 'the name holds a backslash';
  if (p.startsWith('/')) return 'absolute path';
  if (/^[A-Za-z]:/.test(p)) return 'the name starts with a drive letter';
  const segs = p.split('/');
  if (segs.includes('..')) return 'the path escapes the bundle (".." segment)';
  if (segs.some((s) => s === '' || s === '.')) return 'empty or "." path segment';
  return undefined;
}

function checkNames(headers: CentralHeader[]): void {
  const files = new Set<string>();
  const dirs = new Set<string>();
  // Names that differ only in case or Unicode normalisation land on the same file when unpacked on macOS or
  // Windows: one would silently replace the other, so they count as duplicates.
  const folded = new Map<string, string>();
  for (const h of headers) {
    const problem = pathProblem(h.path);
    if (problem) throw new EvidenceFormatError(`zip entry ${JSON.stringify(h.path)}: ${problem}`, { file: h.path });
    const set = h.isDir ? dirs : files;
    if (set.has(h.path)) throw new EvidenceFormatError(`zip entry ${h.path} appears twice`, { file: h.path });
    set.add(h.path);
    if (h.isDir) continue;
    const key = foldName(h.path);
    const other = folded.get(key);
    if (other !== undefined) throw new EvidenceFormatError(`zip entries ${other} and ${h.path} differ only in case or Unicode normalisation`, { file: h.path });
    folded.set(key, h.path);
  }
  // A file that is also the parent directory of another entry cannot be unpacked faithfully.
  for (const h of headers) {
    const segs = h.path.split('/');
    for (let i = 1; i < segs.length; i++) {
      const parent = segs.slice(0, i).join('/');
      if (files.has(parent)) throw new EvidenceFormatError(`zip entry ${h.path} is inside ${parent}, which is a file`, { file: h.path });
    }
  }
}

function localRegion(zip: Buffer, h: CentralHeader, cdOffset: number): { start: number; dataStart: number; end: number; descriptor: boolean } {
  const at = h.localOffset;
  const fail = (why: string) => new EvidenceFormatError(`zip entry ${h.path}: ${why}`, { file: h.path });
  if (at + LOCAL_LEN > cdOffset || zip.readUInt32LE(at) !== SIG_LOCAL) throw fail('its local header is missing or damaged');
  const flags = zip.readUInt16LE(at + 6);
  const method = zip.readUInt16LE(at + 8);
  const nameLen = zip.readUInt16LE(at + 26);
  const extraLen = zip.readUInt16LE(at + 28);
  const dataStart = at + LOCAL_LEN + nameLen + extraLen;
  if (dataStart > cdOffset) throw fail('its local header runs into the central directory');
  const localName = zip.subarray(at + LOCAL_LEN, at + LOCAL_LEN + nameLen);
  if (!localName.equals(Buffer.from(h.isDir ? `${h.path}/` : h.path, 'utf8'))) throw fail('the local header names a different file than the central directory');
  if (method !== h.method || (flags & FLAG_ENCRYPTED) !== (h.flags & FLAG_ENCRYPTED)) throw fail('the local header disagrees with the central directory');
  // With a data descriptor (bit 3) the local sizes are zero and the central directory's are authoritative.
  if (!(flags & FLAG_DATA_DESCRIPTOR)) {
    if (zip.readUInt32LE(at + 14) !== h.crc || zip.readUInt32LE(at + 18) !== h.compSize || zip.readUInt32LE(at + 22) !== h.size) {
      throw fail('the local header disagrees with the central directory (CRC-32 or sizes)');
    }
  }
  const end = dataStart + h.compSize;
  if (end > cdOffset) throw fail(`its ${h.compSize} bytes of data run past the end of the entries (truncated?)`);
  return { start: at, dataStart, end, descriptor: (flags & FLAG_DATA_DESCRIPTOR) !== 0 };
}

function readData(data: Buffer, h: CentralHeader): ScannedEntry {
  // APPNOTE 4.4.4 bit 0: without the password the data is noise; the rest of the zip is still readable.
  if (h.flags & FLAG_ENCRYPTED) return { path: h.path, bytes: null, error: 'it is encrypted: its content cannot be read' };
  let bytes: Buffer;
  if (h.method === METHOD_STORE) {
    if (h.compSize !== h.size) return { path: h.path, bytes: null, error: `stored with ${h.compSize} bytes but declares ${h.size}` };
    bytes = Buffer.from(data);
  } else if (h.method === METHOD_DEFLATE) {
    try {
      // maxOutputLength bounds memory by the declared size: a deflate bomb fails here instead of growing.
      bytes = inflateRawSync(data, { maxOutputLength: Math.max(1, h.size) });
    } catch (e) {
      return { path: h.path, bytes: null, error: `its deflate data is damaged (${(e as Error).message})` };
    }
    if (bytes.length !== h.size) return { path: h.path, bytes: null, error: `inflates to ${bytes.length} bytes, the directory says ${h.size}` };
  } else {
    return { path: h.path, bytes: null, error: `compression method ${h.method} is not supported (only stored and deflate)` };
  }
  const crc = crc32(bytes) >>> 0;
  if (crc !== h.crc) return { path: h.path, bytes: null, error: `CRC-32 mismatch (${hex8(crc)}, the directory says ${hex8(h.crc)})` };
  return { path: h.path, bytes };
}

const hex8 = (n: number): string => n.toString(16).padStart(8, '0');
