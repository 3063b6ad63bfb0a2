/**
 * The verifier's fast field reader: seq, prev, ts and whether a record needs a full parse, read from their
 * fixed places at the end of an RFC 8785 canonical record line (keys sorted: the top-level `prev`, `seq`,
 * `ts`, `type`, `v` come last), without building a string of the line or parsing its JSON.
 */
export interface Fields {
  seq: number;
  /** The prev hex, or '' when it equals the expected hex passed to fastFields (no string made). */
  prev: string;
  ts: string;
  /** A type verify inspects (SPECIAL_TYPES), or blobs present: the caller parses the line fully. */
  special: boolean;
}

/** Record types verify inspects beyond the chain. */
export const SPECIAL_TYPES: ReadonlySet<string> = new Set(['segment.open', 'checkpoint', 'key.rotate']);
const SPECIAL_TYPE_BYTES = [...SPECIAL_TYPES].map((x) => Buffer.from(x));
const PREV_KEY = Buffer.from('"prev":"');
const SEQ_KEY = Buffer.from('","seq":');
const TS_KEY = Buffer.from('"ts":"');
const TYPE_KEY = Buffer.from(',"type":"');
const V_END = Buffer.from(',"v":1}');
export const BLOBS_KEY = Buffer.from('"blobs":[');

function bytesAt(buf: Buffer, at: number, what: Buffer): boolean {
  for (let k = 0; k < what.length; k++) if (buf[at + k] !== what[k]) return false;
  return true;
}

/**
 * seq, prev, ts and type of the canonical record line buf[start, end), read from their places at the end
 * of the line with native byte searches, or undefined when the line does not have exactly that shape (the
 * caller then parses it fully). The last `"prev":"` is the top-level one: the objects that sort after
 * `detail` (src, target) have no such member, and inside a string a quote is always escaped.
 * `blobAt` is the position of the next `"blobs":[` in the segment at or after start (or -1).
 */
export function fastFields(buf: Buffer, start: number, end: number, blobAt: number, expectedPrev: string): Fields | undefined {
  if (buf[start] !== 123 /* { */ || end - start < 120 || !bytesAt(buf, end - 7, V_END)) return undefined;
  // Back from the end: the type value, then `"ts":"…",` before it, then the top-level `"prev":"`.
  const typeEnd = end - 8;
  if (buf[typeEnd] !== 34 /* " */) return undefined;
  let j = typeEnd - 1;
  while (j > start && buf[j] !== 34) {
    if (buf[j] === 92 /* \\ */) return undefined;
    j--;
  }
  const q = j - 42;
  if (q <= start || !bytesAt(buf, q, TS_KEY) || buf[q + 33] !== 34 || !bytesAt(buf, q + 34, TYPE_KEY)) return undefined;
  let p = q - 1;
  while (p > start && !(buf[p] === 34 && buf[p + 1] === 112 /* p */ && bytesAt(buf, p, PREV_KEY))) p--;
  if (p <= start || !bytesAt(buf, p + 72, SEQ_KEY)) return undefined;
  let seq = 0;
  let k = p + 80;
  for (; k < end && buf[k] !== 44 /* , */; k++) {
    const d = buf[k]! - 48;
    if (d < 0 || d > 9 || k - p - 80 > 15) return undefined;
    seq = seq * 10 + d;
  }
  if (k === p + 80 || (buf[p + 80] === 48 && k > p + 81)) return undefined;
  if (q < k) return undefined;
  let same = expectedPrev.length === 64;
  for (let j = 0; same && j < 64; j++) same = buf[p + 8 + j] === expectedPrev.charCodeAt(j);
  let special = blobAt >= 0 && blobAt < end;
  for (const name of SPECIAL_TYPE_BYTES) if (!special && name.length === typeEnd - q - 43 && bytesAt(buf, q + 43, name)) special = true;
  return { seq, prev: same ? '' : buf.toString('latin1', p + 8, p + 72), ts: buf.toString('latin1', q + 6, q + 33), special };
}

