/**
 * Reading the log back when the writer opens it: the segment files in order, the Merkle frontier and last
 * leaf over every line, and the crash check on the newest segment — a last line without `\n`, or one that
 * does not parse, or bytes a crash left in the room reserved past the records, is cut and described so that the
 * writer can log `log.recovered` (never silent); the room itself is cut without a record.
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import path from 'node:path';
import type { Fs } from '../src/cli/ctx.js';
import { AuditWriteError } from '../src/errors.js';
import { MerkleAccumulator, leafHex } from './merkle.js';

/** Segment files are named by the seq of their first record: 12 digits, zero-padded. */
export const SEGMENT_RE = /^(\d{12})\.jsonl$/;

export function segmentName(firstSeq: number): string {
  return `${String(firstSeq).padStart(12, '0')}.jsonl`;
}

/** `prev_segment` of a `segment.open` record (docs/log-format.md). */
export interface PrevSegment {
  file: string;
  first_seq: number;
  last_seq: number;
  last_leaf: string;
  sha256: string;
  bytes: number;
}

export interface Recovered {
  segment: string;
  offset: number;
  bytes: number;
  reason: string;
}

export interface ScannedLog {
  /** Leaves over all lines, in order. */
  acc: MerkleAccumulator;
  /** Leaf of the last line (64 zero hex digits' bytes when the log is empty). */
  /** The last record's leaf hash, lowercase hex (64 zeros for an empty log: the first record's `prev`). */
  lastLeaf: string;
  /** The newest segment, or undefined for an empty log directory. */
  last?: { file: string; firstSeq: number; bytes: number; hash: Hash; prev: PrevSegment | null };
  recovered?: Recovered;
}

const NL = 0x0a;

/**
 * Bytes that are no record: the newlines the writer reserves ahead of its records in the segment it writes (an
 * fdatasync that only has to write data, not grow the file, takes about a third less: log-writer.ts `reserve`), and
 * the NULs a file system may show there after a crash.
 */
function isPad(b: number): boolean {
  return b === NL || b === 0;
}

/**
 * Where a segment's records end: after the last record's `\n`, at its first empty line or the start of the first
 * line that holds a NUL (no record holds either: canonical JSON escapes control characters). What follows is the
 * writer's reserved space, and whatever a crash left in it.
 */
export function recordsEnd(buf: Buffer): number {
  if (buf.length > 0 && isPad(buf[0]!)) return 0;
  let end = buf.length;
  const nul = buf.indexOf(0);
  if (nul >= 0) end = buf.lastIndexOf(NL, nul) + 1;
  const blank = buf.indexOf(BLANK_LINE);
  return blank >= 0 && blank + 1 < end ? blank + 1 : end;
}

const BLANK_LINE = Buffer.from([NL, NL]);

/**
 * The end of `buf` without its trailing run of reserved bytes, the last record's `\n` kept: what a reader reads of a
 * segment being written.
 */
export function withoutReserve(buf: Buffer): Buffer {
  let k = buf.length;
  while (k > 0 && isPad(buf[k - 1]!)) k--;
  return buf.subarray(0, k > 0 && k < buf.length && buf[k] === NL ? k + 1 : k);
}

/** Lists segment files in seq order. */
export async function listSegments(fs: Fs, logDir: string): Promise<Array<{ file: string; firstSeq: number }>> {
  const names = await fs.readdir(logDir);
  return names
    .map((n) => ({ n, m: SEGMENT_RE.exec(n) }))
    .filter((x): x is { n: string; m: RegExpExecArray } => x.m !== null)
    .map((x) => ({ file: x.n, firstSeq: Number(x.m[1]) }))
    .sort((a, b) => a.firstSeq - b.firstSeq);
}

/**
 * Hashes every line of every segment; cuts a torn tail of the newest segment (the file is truncated). `sealed`: the
 * size of the newest signed checkpoint. A cut that would leave fewer records is refused (AuditWriteError): a
 * checkpoint is signed only once every record it covers is durable, so no crash leaves that, but damage does (a NUL or
 * an empty line amid the records, which recordsEnd would take for the room's start) and the log is not shortened.
 */
export async function scanLog(fs: Fs, logDir: string, sealed = 0): Promise<ScannedLog> {
  const segs = await listSegments(fs, logDir);
  const acc = new MerkleAccumulator();
  let lastLeaf = '0'.repeat(64);
  let prev: PrevSegment | null = null;
  let recovered: Recovered | undefined;
  let last: ScannedLog['last'];
  for (const [i, seg] of segs.entries()) {
    const full = path.join(logDir, seg.file);
    let buf = await fs.readFile(full);
    const isLast = i === segs.length - 1;
    if (isLast) {
      const cut = tailCut(buf);
      if (cut) {
        const kept = acc.size + countLines(buf.subarray(0, cut.offset));
        if (kept < sealed) {
          throw new AuditWriteError(`the newest segment ${seg.file} would be cut at byte ${cut.offset} (${cut.reason}), leaving ${kept} records, fewer than the newest signed checkpoint covers (${sealed}): that is damage, not what a crash leaves; refusing to open the log`, {
            hint: 'run `pcigate verify` to locate the problem',
          });
        }
        if (cut.bytes > 0) recovered = { segment: seg.file, offset: cut.offset, bytes: cut.bytes, reason: cut.reason };
        const fh = await fs.open(full, 'r+');
        try {
          await fh.truncate(cut.offset);
          await fh.sync();
        } finally {
          await fh.close();
        }
        buf = buf.subarray(0, cut.offset);
      }
    }
    const firstSeq = acc.size;
    if (buf.length > 0 && seg.firstSeq !== firstSeq) {
      throw new AuditWriteError(`segment ${seg.file} should start at seq ${firstSeq}: the log is damaged, refusing to append`, {
        hint: 'run `pcigate verify` to locate the problem',
      });
    }
    let start = 0;
    while (start < buf.length) {
      const end = buf.indexOf(NL, start);
      lastLeaf = leafHex(buf, start, end);
      acc.appendHex(lastLeaf);
      start = end + 1;
    }
    const hash = createHash('sha256').update(buf);
    if (isLast && buf.length > 0) checkLastSeq(buf, acc.size, seg.file);
    if (isLast) {
      last = { file: seg.file, firstSeq: seg.firstSeq, bytes: buf.length, hash, prev };
    } else if (buf.length > 0) {
      prev = {
        file: seg.file, first_seq: firstSeq, last_seq: acc.size - 1, last_leaf: lastLeaf,
        sha256: hash.digest('hex'), bytes: buf.length,
      };
    }
  }
  return { acc, lastLeaf, ...(last ? { last } : {}), ...(recovered ? { recovered } : {}) };
}

/**
 * What the writer cuts from its newest segment on open: its reserved space (silently: no record was there), and a
 * torn tail before or in it (`bytes`: how many bytes that were not reserved space are cut; log.recovered says so).
 */
function tailCut(buf: Buffer): { offset: number; bytes: number; reason: string } | undefined {
  const end = recordsEnd(buf);
  const torn = tornTail(buf.subarray(0, end));
  const offset = torn?.offset ?? end;
  if (offset === buf.length) return undefined;
  const data = withoutReserve(buf).length;
  // Bytes past the records that are not reserved room: a batch a crash cut short, written into room reserved for it.
  const reason = torn?.reason ?? 'bytes after the last record, in the space the writer reserves (a write a crash cut short)';
  return { offset, bytes: Math.max(0, data - offset), reason };
}

function countLines(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(NL); i >= 0; i = buf.indexOf(NL, i + 1)) n++;
  return n;
}

/** Where the torn tail of a segment starts, if it has one. */
function tornTail(buf: Buffer): { offset: number; reason: string } | undefined {
  if (buf.length === 0) return undefined;
  if (buf[buf.length - 1] !== NL) {
    return { offset: buf.lastIndexOf(NL) + 1, reason: 'last line has no newline (torn write)' };
  }
  const from = buf.lastIndexOf(NL, buf.length - 2) + 1;
  try {
    const rec = JSON.parse(buf.subarray(from, buf.length - 1).toString('utf8')) as unknown;
    if (typeof rec === 'object' && rec !== null && typeof (rec as { seq?: unknown }).seq === 'number') return undefined;
  } catch {
    // fall through
  }
  return { offset: from, reason: 'last line is not a JSON record' };
}

/** The writer continues at seq = number of leaves; refuse a log whose last record disagrees (fail closed). */
function checkLastSeq(buf: Buffer, size: number, file: string): void {
  const from = buf.lastIndexOf(NL, buf.length - 2) + 1;
  const rec = JSON.parse(buf.subarray(from, buf.length - 1).toString('utf8')) as { seq?: unknown };
  if (rec.seq !== size - 1) {
    throw new AuditWriteError(`the last record of ${file} has seq ${String(rec.seq)} but the log holds ${size} records: the log is damaged, refusing to append`, {
      hint: 'run `pcigate verify` to locate the problem',
    });
  }
}
