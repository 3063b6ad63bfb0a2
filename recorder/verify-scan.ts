/**
 * One pass over the segment bytes: split lines, hash each (RFC 6962 leaf), parse just enough to know its
 * seq, prev and ts, and keep the rare records that need a closer look (segment.open, checkpoint mirrors,
 * key.rotate, blobs). Per-line facts go into typed arrays indexed by file position so that a 1M-record log
 * costs tens of MB, not a million objects.
 */
import { createHash } from 'node:crypto';
import { BLOBS_KEY, SPECIAL_TYPES, fastFields } from './verify-fields.js';
import type { Fields } from './verify-fields.js';
import type { AuditRecord } from './types.js';
import type { SegmentSource } from './verify-types.js';
import { recordsEnd, withoutReserve } from './segment-scan.js';
import { leafHex } from './merkle.js';

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
  /** Parsed records worth a closer look, by file index (a `checkpoint` mirror as its note only: keptSpecial). */
  special: Map<number, SpecialRecord>;
  /** Why a line is unreadable, by file index. */
  unreadable: Map<number, string>;
  /** Origin of the first parsed record. */
  origin: string | null;
  /** Line index of an incomplete (no `\n`) line at the end of the last segment, or -1. */
  torn: number;
  /** Indices of lines that end in `\r` (a CRLF conversion leaves one on every line). */
  cr: Set<number>;
  /** Size and SHA-256 (hex) of each segment's bytes as scanned, for segment.open's prev_segment. */
  segFiles: Array<{ bytes: number; sha256: string }>;
}

/** What verify reads of a record it inspects beyond the chain (verify.ts). */
export type SpecialRecord = Pick<AuditRecord, 'type' | 'seq' | 'detail' | 'blobs'>;

/**
 * A record to keep until the scan is done: whole, except a `checkpoint` mirror, of which verify reads only the
 * note (and blobs, should a planted one carry any). A log holds one mirror per checkpoint, and the rest of the
 * record (actor, ts, prev, the root again in hex) is what the chain already checked. Its size and root are kept
 * too when the record is exactly what the writer writes (nothing else in it, log-writer.ts checkpoint): only such
 * a mirror of the newest checkpoint needs no signature of its own (verify.ts).
 */
function keptSpecial(rec: AuditRecord): SpecialRecord {
  if (rec.type !== 'checkpoint') return rec;
  const d = rec.detail as { note?: unknown; size?: unknown; root?: unknown } | undefined;
  const target = rec.target as { kind?: unknown } | undefined;
  const plain = Object.keys(rec).every((k) => MIRROR_MEMBERS.has(k)) && target !== undefined && target.kind === 'log' && Object.keys(target).length === 1 &&
    d !== undefined && Object.keys(d).length === 3 && typeof d.size === 'number' && typeof d.root === 'string' && typeof d.note === 'string';
  const detail = plain ? { note: d.note, size: d.size, root: d.root } : { note: d?.note };
  return rec.blobs === undefined ? { type: rec.type, seq: rec.seq, detail } : { type: rec.type, seq: rec.seq, detail, blobs: rec.blobs };
}

/** The members of a checkpoint mirror as the writer writes it (the recorder's and the event's). */
const MIRROR_MEMBERS: ReadonlySet<string> = new Set(['v', 'origin', 'seq', 'ts', 'prev', 'type', 'target', 'detail']);

/** A segment's bytes: those handed in, or read now (recorder/verify-load.ts reads one file per call). */
export function segmentBytes(seg: SegmentSource): Uint8Array | Promise<Uint8Array> {
  return 'bytes' in seg ? seg.bytes : seg.read();
}

/** A copy of typed array `a` with room for `n` elements (the per-line arrays here and in src/evidence/log-lines.ts). */
export function grow<T extends Float64Array | Int32Array | Uint8Array>(a: T, n: number): T {
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a);
  return b;
}

/** µs since the epoch from `YYYY-MM-DDTHH:MM:SS.ffffffZ`, NaN for any other shape. */
export function tsMicros(ts: string): number {
  if (ts.length !== 27 || ts.charCodeAt(26) !== 90 /* Z */ || ts.charCodeAt(19) !== 46 /* . */) return NaN;
  const head = ts.slice(0, 19);
  // Neighbouring records share their second: parse each second once.
  if (head !== lastHead) {
    lastHead = head;
    lastMs = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/.test(head) ? Date.parse(`${head}Z`) : NaN;
  }
  let frac = 0;
  for (let k = 20; k < 26; k++) {
    const d = ts.charCodeAt(k) - 48;
    if (d < 0 || d > 9) return NaN;
    frac = frac * 10 + d;
  }
  return lastMs * 1000 + frac;
}
let lastHead = '';
let lastMs = NaN;

/**
 * Scans segments (already sorted by name) into ScannedLines.
 *
 * Hot path, measured (bench/recorder/verify.ts): each segment is copied once into a buffer with one spare
 * byte in front, so the byte before every line (the previous `\n`) can be set to 0x00 and the RFC 6962
 * leaf SHA-256(0x00 ‖ line) taken with one-shot crypto.hash — about 3× cheaper than createHash().update()
 * .update().digest() per line. Full JSON.parse is used only where it matters (first line of a segment,
 * records verify inspects, anything the fast field reader does not recognise); otherwise seq, prev, ts
 * and type are read at their fixed places in canonical JSON (RFC 8785 sorts keys: the top-level `prev`,
 * `seq`, `ts`, `type`, `v` come last). Lines whose chain link breaks are re-parsed by the caller
 * (reparse) so a non-JSON line is still reported as unreadable.
 *
 * Memory: segments are read one at a time (segmentBytes) and nothing keeps a segment's bytes once it is
 * scanned — only the per-line facts above, the few special records and the segment's size and SHA-256 —
 * so a log of tens of GB is verified in about 80 B per record plus one segment.
 */
export async function scanSegments(segments: ReadonlyArray<SegmentSource>): Promise<ScannedLines> {
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
    torn: -1,
    cr: new Set(),
    segFiles: [],
  };
  let leafView = Buffer.from(s.leaves.buffer);
  let lastLeafHex = '';
  let lastIdx = -1;
  // One segment's bytes at a time: they are handed straight to scanOne and referenced nowhere else, so the
  // previous segment is garbage once the next is read (test/unit/recorder/verify-memory.test.ts).
  const scanOne = (g: number, bytes: Uint8Array): void => {
    const newest = g === segments.length - 1;
    // The newest segment may end in room the writer reserved (segment-scan.ts): its records end before it, and
    // anything in it but reserved bytes is a batch a crash (or this read, racing the writer) saw part of.
    const whole = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const buf = newest ? withoutReserve(whole) : whole;
    const stop = newest ? recordsEnd(buf) : buf.length;
    s.segFiles.push({ bytes: buf.length, sha256: createHash('sha256').update(buf).digest('hex') });
    let pos = 0;
    let lineNo = 0;
    let blobAt = buf.indexOf(BLOBS_KEY);
    while (pos < buf.length) {
      let end = pos >= stop ? -1 : buf.indexOf(10, pos);
      const torn = end < 0;
      if (torn) end = buf.length;
      lineNo++;
      const i = s.n++;
      if (i >= cap) {
        cap *= 2;
        s.seg = grow(s.seg, cap); s.line = grow(s.line, cap); s.offset = grow(s.offset, cap);
        s.seq = grow(s.seq, cap); s.ts = grow(s.ts, cap); s.ok = grow(s.ok, cap);
        s.prevOk = grow(s.prevOk, cap); s.prevIdx = grow(s.prevIdx, cap); s.leaves = grow(s.leaves, cap * 32);
        leafView = Buffer.from(s.leaves.buffer);
      }
      s.seg[i] = g;
      s.line[i] = lineNo;
      s.offset[i] = pos;
      s.seq[i] = NaN;
      s.ts[i] = NaN;
      s.prevIdx[i] = lastIdx;
      const leaf = leafHex(buf, pos, end);
      leafView.write(leaf, i * 32, 32, 'hex');
      const start = pos;
      pos = end + 1;
      if (end > start && buf[end - 1] === 13) s.cr.add(i);
      if (torn) {
        if (newest) {
          s.torn = i;
          s.unreadable.set(i, start >= stop
            ? `${end - start} bytes after the last record, in the room the writer reserves: a write a crash cut short, or one in flight, recoverable — the writer cuts them on its next open and records log.recovered`
            : `incomplete last line (${end - start} bytes without a newline): a crash or a write in flight, recoverable — the writer cuts it on its next open and records log.recovered`);
        } else {
          // The writer fdatasyncs a segment before it starts the next one: no crash leaves this.
          s.unreadable.set(i, `incomplete last line (${end - start} bytes without a newline) in a segment that is not the newest: not a crash (a segment is made durable before the next one starts) but damage or a cut`);
        }
        continue;
      }
      while (blobAt >= 0 && blobAt < start) blobAt = buf.indexOf(BLOBS_KEY, blobAt + 1);
      const expectedPrev = lastIdx < 0 ? ZERO_PREV : lastLeafHex;
      let fields = lineNo === 1 ? undefined : fastFields(buf, start, end, blobAt, expectedPrev);
      let rec: AuditRecord | undefined;
      if (!fields) {
        try {
          rec = JSON.parse(buf.toString('utf8', start, end)) as AuditRecord;
        } catch {
          if (newest && end + 1 === buf.length && (whole.length > buf.length || ('read' in segments[g]! && segments[g]!.reserved === true))) {
            // Ended by the writer's reserved room, not by a newline of its own: a batch seen part-written.
            s.torn = i;
            s.unreadable.set(i, `last line is not a JSON record (${end - start} bytes, ended by the room the writer reserves): a write in flight or a crash, recoverable — the writer cuts it on its next open and records log.recovered`);
          } else {
            s.unreadable.set(i, `not JSON (${end - start} bytes)`);
          }
          continue;
        }
        const why = recordShapeProblem(rec);
        if (why) {
          s.unreadable.set(i, why);
          continue;
        }
        fields = { seq: rec.seq, prev: rec.prev === expectedPrev ? '' : rec.prev, ts: rec.ts, special: SPECIAL_TYPES.has(rec.type) || rec.blobs !== undefined };
        s.origin ??= rec.origin;
      }
      if (fields.prev !== '' && !HEX64.test(fields.prev)) {
        s.unreadable.set(i, `record seq ${fields.seq} without a valid prev`);
        continue;
      }
      if (fields.special && !rec) {
        try {
          rec = JSON.parse(buf.toString('utf8', start, end)) as AuditRecord;
        } catch {
          s.unreadable.set(i, `not JSON (${end - start} bytes)`);
          continue;
        }
        const why = recordShapeProblem(rec);
        if (why) {
          s.unreadable.set(i, why);
          continue;
        }
      }
      s.ok[i] = 1;
      s.seq[i] = fields.seq;
      s.ts[i] = tsMicros(fields.ts);
      if (fields.prev === '') s.prevOk[i] = 1;
      else s.prevHex.set(i, fields.prev);
      if (fields.special) s.special.set(i, keptSpecial(rec!));
      lastLeafHex = leaf;
      lastIdx = i;
    }
  };
  for (let g = 0; g < segments.length; g++) scanOne(g, await segmentBytes(segments[g]!));
  return s;
}


/**
 * Re-parses the lines of the given indices: a line read by the fast path that is not JSON after all
 * (a flipped brace, say) becomes unreadable. Returns the indices that failed with the reason. Each segment
 * holding one of them is read again, one at a time (`segments` in the order they were scanned).
 */
export async function reparse(segments: ReadonlyArray<SegmentSource>, s: ScannedLines, idx: Iterable<number>): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  const asked = [...idx];
  const bySeg = new Map<number, number[]>();
  for (const i of asked) {
    if (!s.ok[i]) continue;
    const g = s.seg[i]!;
    const list = bySeg.get(g);
    if (list) list.push(i);
    else bySeg.set(g, [i]);
  }
  const check = (g: number, bytes: Uint8Array): void => {
    for (const i of bySeg.get(g)!) {
      const start = s.offset[i]!;
      let end = start;
      while (end < bytes.length && bytes[end] !== 10) end++;
      try {
        const why = recordShapeProblem(JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('utf8')));
        if (why) out.set(i, why);
      } catch {
        out.set(i, `not JSON (${end - start} bytes)`);
      }
    }
  };
  // As in scanSegments: the bytes go straight to check, so one segment is held at a time.
  for (const g of [...bySeg.keys()].sort((a, b) => a - b)) check(g, await segmentBytes(segments[g]!));
  // In the order asked for, as before segments were read on demand.
  const ordered = new Map<number, string>();
  for (const i of asked) if (out.has(i)) ordered.set(i, out.get(i)!);
  return ordered;
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
