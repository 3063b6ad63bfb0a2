/**
 * One pass over the segment bytes: split lines, hash each (RFC 6962 leaf), parse just enough to know its
 * seq, prev and ts, and keep the rare records that need a closer look (segment.open, checkpoint mirrors,
 * key.rotate, blobs). Per-line facts go into typed arrays indexed by file position so that a 1M-record log
 * costs tens of MB, not a million objects.
 */
import { leafHash } from './merkle.js';
import type { AuditRecord } from './types.js';

/** Record types verify inspects beyond the chain. */
const SPECIAL_TYPES: ReadonlySet<string> = new Set(['segment.open', 'checkpoint', 'key.rotate']);
const HEX64 = /^[0-9a-f]{64}$/;
export const ZERO_PREV = '0'.repeat(64);

export interface ScannedLines {
  /** Number of lines (records and unreadable lines). */
  n: number;
  segNames: string[];
  /** First seq each segment's name promises (NaN when the name is not 12 digits). */
  segStarts: number[];
  seg: Int32Array;
  /** 1-based line within its segment. */
  line: Int32Array;
  offset: Float64Array;
  /** Claimed seq, NaN for an unreadable line. */
  seq: Float64Array;
  /** ts in µs since the epoch, NaN when unreadable or malformed. */
  ts: Float64Array;
  /** 1 when the line parsed as a record. */
  ok: Uint8Array;
  /** 1 when `prev` equals the leaf of the previous parsed record in file order (prevIdx). */
  prevOk: Uint8Array;
  /** File index of the previous parsed record, -1 for none. */
  prevIdx: Int32Array;
  /** `prev` of records whose prevOk is 0 (rare). */
  prevHex: Map<number, string>;
  /** 32 bytes per line. */
  leaves: Uint8Array;
  /** Parsed records worth a closer look, by file index. */
  special: Map<number, AuditRecord>;
  /** Why a line is unreadable, by file index. */
  unreadable: Map<number, string>;
  /** ts strings of the first and last parsed record for the report. */
  origin: string | null;
}

function grow<T extends Float64Array | Int32Array | Uint8Array>(a: T, n: number): T {
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a);
  return b;
}

/** µs since the epoch from `YYYY-MM-DDTHH:MM:SS.ffffffZ`, NaN for any other shape. */
export function tsMicros(ts: string): number {
  if (ts.length !== 27 || ts.charCodeAt(26) !== 90 /* Z */ || ts.charCodeAt(19) !== 46 /* . */) return NaN;
  const secs = Date.parse(`${ts.slice(0, 19)}Z`);
  const frac = ts.slice(20, 26);
  if (!/^\d{6}$/.test(frac)) return NaN;
  return secs * 1000 + Number(frac);
}

/** Scans segments (already sorted by name) into ScannedLines. */
export function scanSegments(segments: ReadonlyArray<{ name: string; bytes: Uint8Array }>): ScannedLines {
  let cap = 1024;
  const s: ScannedLines = {
    n: 0,
    segNames: segments.map((x) => x.name),
    segStarts: segments.map((x) => (/^\d{12}\.jsonl$/.test(x.name) ? Number(x.name.slice(0, 12)) : NaN)),
    seg: new Int32Array(cap),
    line: new Int32Array(cap),
    offset: new Float64Array(cap),
    seq: new Float64Array(cap),
    ts: new Float64Array(cap),
    ok: new Uint8Array(cap),
    prevOk: new Uint8Array(cap),
    prevIdx: new Int32Array(cap),
    prevHex: new Map(),
    leaves: new Uint8Array(cap * 32),
    special: new Map(),
    unreadable: new Map(),
    origin: null,
  };
  let lastLeafHex = '';
  let lastIdx = -1;
  for (let g = 0; g < segments.length; g++) {
    const seg = segments[g]!;
    const buf = Buffer.from(seg.bytes.buffer, seg.bytes.byteOffset, seg.bytes.byteLength);
    let pos = 0;
    let lineNo = 0;
    while (pos < buf.length) {
      let end = buf.indexOf(10, pos);
      const torn = end < 0;
      if (torn) end = buf.length;
      lineNo++;
      const i = s.n++;
      if (i >= cap) {
        cap *= 2;
        s.seg = grow(s.seg, cap); s.line = grow(s.line, cap); s.offset = grow(s.offset, cap);
        s.seq = grow(s.seq, cap); s.ts = grow(s.ts, cap); s.ok = grow(s.ok, cap);
        s.prevOk = grow(s.prevOk, cap); s.prevIdx = grow(s.prevIdx, cap); s.leaves = grow(s.leaves, cap * 32);
      }
      s.seg[i] = g;
      s.line[i] = lineNo;
      s.offset[i] = pos;
      s.seq[i] = NaN;
      s.ts[i] = NaN;
      s.prevIdx[i] = lastIdx;
      const bytes = buf.subarray(pos, end);
      const leaf = leafHash(bytes);
      s.leaves.set(leaf, i * 32);
      pos = end + 1;
      if (torn) {
        s.unreadable.set(i, `incomplete last line (${bytes.length} bytes without a newline): a torn write not yet recovered`);
        continue;
      }
      let rec: AuditRecord;
      try {
        rec = JSON.parse(bytes.toString('utf8')) as AuditRecord;
      } catch {
        s.unreadable.set(i, `not JSON (${bytes.length} bytes)`);
        continue;
      }
      const why = recordShapeProblem(rec);
      if (why) {
        s.unreadable.set(i, why);
        continue;
      }
      s.ok[i] = 1;
      s.seq[i] = rec.seq;
      s.ts[i] = tsMicros(rec.ts);
      s.origin ??= rec.origin;
      const expectedPrev = lastIdx < 0 ? ZERO_PREV : lastLeafHex;
      if (rec.prev === expectedPrev) s.prevOk[i] = 1;
      else s.prevHex.set(i, rec.prev);
      if (SPECIAL_TYPES.has(rec.type) || rec.blobs !== undefined) s.special.set(i, rec);
      lastLeafHex = leaf.toString('hex');
      lastIdx = i;
    }
  }
  return s;
}

/** Why a parsed value is not an audit record, or undefined when it has the fields verify relies on. */
function recordShapeProblem(rec: unknown): string | undefined {
  if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) return 'a JSON value that is not a record object';
  const r = rec as Partial<AuditRecord>;
  if (!Number.isSafeInteger(r.seq) || (r.seq as number) < 0) return 'record without a valid seq';
  if (typeof r.prev !== 'string' || !HEX64.test(r.prev)) return `record seq ${String(r.seq)} without a valid prev`;
  if (typeof r.ts !== 'string' || typeof r.type !== 'string' || typeof r.origin !== 'string') return `record seq ${String(r.seq)} without ts, type or origin`;
  return undefined;
}

/** Hex of the leaf of line i. */
export function leafHexAt(s: ScannedLines, i: number): string {
  return Buffer.from(s.leaves.buffer, s.leaves.byteOffset + i * 32, 32).toString('hex');
}

/** True when the 32-byte leaves of lines a and b are equal. */
export function leavesEqual(s: ScannedLines, a: number, b: number): boolean {
  const x = a * 32;
  const y = b * 32;
  for (let k = 0; k < 32; k++) if (s.leaves[x + k] !== s.leaves[y + k]) return false;
  return true;
}

/** The 32-byte leaf of line i (a view, not a copy). */
export function leafAt(s: ScannedLines, i: number): Uint8Array {
  return s.leaves.subarray(i * 32, i * 32 + 32);
}
