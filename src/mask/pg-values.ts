/**
 * Masking of single Postgres values, text and binary format (protocol "Formats and Format Codes",
 * https://www.postgresql.org/docs/current/protocol-overview.html#PROTOCOL-FORMAT-CODES; binary send/recv
 * layouts of int8, numeric, arrays and jsonb from src/backend/utils/adt/). A value is masked when a
 * column rule applies to it or when content detection finds a PAN in it.
 */
import { applyMask, hmacToken, mergeSpans } from './mask-format.js';
import type { MaskFormat, MaskStyle } from './mask-format.js';
import { findPans, MAX_PAN_DIGITS, MIN_PAN_DIGITS } from './pan-detector.js';
import type { DetectOptions, PanSpan } from './pan-detector.js';
import { cardNetwork, luhnValid } from './card-networks.js';
import { addCount, SAD_RULE, TRACK1_RE, TRACK2_RE } from './pan-masker.js';
import type { MaskCounts } from './pan-masker.js';

/** Type OIDs whose binary form is their text (pg_type.typsend = textsend and friends). */
export const TEXT_LIKE_OIDS = new Set([25, 1043, 1042, 19, 114, 142, 705, 18]);
export const JSON_OID = 114;
export const JSONB_OID = 3802;
export const BYTEA_OID = 17;
export const INT8_OID = 20;
export const NUMERIC_OID = 1700;
export const FLOAT8_OID = 701;
/** Array types whose elements are text-like, jsonb, int8 or numeric. */
export const ARRAY_ELEMENT: Record<number, number> = { 1009: 25, 1015: 1043, 1014: 1042, 1003: 19, 199: 114, 3807: 3802, 1016: 20, 1231: 1700, 1001: 17 };
/** Binary types too small or too structured to hold a PAN (int2, int4, oid, float4, bool, dates, uuid, …). */
export const NO_PAN_BINARY = new Set([16, 21, 23, 26, 700, 1082, 1083, 1114, 1184, 1186, 1266, 2950, 869, 650, 829, 774]);

/** What to do with a value: the masked bytes, null for SQL NULL, or the same object when unchanged. */
export type ValueResult = Uint8Array | null;

export interface ValueContext {
  /** Format for content-detected PANs; undefined = content detection off (unmask grant `clear`). */
  content: MaskStyle | undefined;
  detect: DetectOptions;
  hmacKey: Uint8Array | undefined;
  counts: MaskCounts;
}

const STAR = 0x2a;

/**
 * A text value under a column rule: `null` → SQL NULL; `full` → every byte but separators becomes `*`;
 * `last4` / `first6last4` → every byte but separators and the kept digits; `hmac` → a token of the value.
 */
export function ruleText(value: Uint8Array, format: MaskFormat, key: Uint8Array | undefined): ValueResult {
  if (format === 'null') return null;
  if (format === 'hmac') {
    if (!key) throw new Error('hmac rule without a key');
    return Buffer.from(hmacToken(key, Buffer.from(value).toString('utf8')), 'latin1');
  }
  let digits = 0;
  for (const b of value) if (b >= 48 && b <= 57) digits++;
  const head = format === 'first6last4' ? 6 : 0;
  const tail = format === 'full' ? 0 : 4;
  // Short values (a 3-digit CVV under last4) are hidden whole: keeping 4 of 4 digits would hide nothing.
  const reveal = digits >= head + tail + 6;
  const out = new Uint8Array(value.length);
  let d = 0;
  for (let i = 0; i < value.length; i++) {
    const b = value[i]!;
    const isDigit = b >= 48 && b <= 57;
    if (b === 32 || b === 45) out[i] = b;
    else if (isDigit && reveal && (d < head || d >= digits - tail)) out[i] = b;
    else out[i] = STAR;
    if (isDigit) d++;
  }
  return out;
}

/**
 * Content masking of text bytes. For JSON, a PAN written as a bare number is quoted after masking so the
 * document stays valid JSON (`{"pan": 4111…}` → `{"pan": "************1111"}`).
 */
export function contentText(value: Uint8Array, ctx: ValueContext, json: boolean, rule = 'pan'): Uint8Array {
  if (!ctx.content) return value;
  const tracked = maskTrackData(value, ctx);
  if (tracked !== value) return tracked;
  const spans = findPans(value, ctx.detect);
  if (spans.length === 0) return value;
  addCount(ctx.counts, rule, mergeSpans(spans).length);
  const masked = applyMask(value, spans, ctx.content);
  if (!json) return masked;
  return quoteBareNumbers(value, spans, masked, ctx.content);
}

function quoteBareNumbers(orig: Uint8Array, spans: PanSpan[], masked: Uint8Array, style: MaskStyle): Uint8Array {
  const merged = mergeSpans(spans);
  const bare = merged.some((s) => orig[s.start - 1] !== 0x22 || orig[s.end] !== 0x22);
  if (!bare) return masked;
  // Re-apply span by span on the original so offsets are known; quote the spans that are bare numbers.
  const parts: Uint8Array[] = [];
  let at = 0;
  for (const s of merged) {
    parts.push(orig.subarray(at, s.start));
    const one = applyMask(orig.subarray(s.start, s.end), spans.filter((x) => x.start >= s.start && x.end <= s.end).map((x) => ({ ...x, start: x.start - s.start, end: x.end - s.start })), style);
    const quoted = orig[s.start - 1] !== 0x22 || orig[s.end] !== 0x22;
    parts.push(quoted ? Buffer.concat([Buffer.of(0x22), one, Buffer.of(0x22)]) : one);
    at = s.end;
  }
  parts.push(orig.subarray(at));
  return Buffer.concat(parts);
}

/**
 * Magnetic-stripe track data (ISO/IEC 7813 track 1 `%B<PAN>^<NAME>^<YYMM><SVC>…?`, track 2
 * `;<PAN>=<YYMM><SVC>…?`) is SAD (PCI DSS 3.3.1): masked whole, not only its PAN, whatever the grant.
 * Returns `value` itself when there is none.
 */
export function maskTrackData(value: Uint8Array, ctx: ValueContext): Uint8Array {
  if (value.indexOf(0x3d) < 0 && value.indexOf(0x5e) < 0) return value;
  const text = Buffer.from(value.buffer, value.byteOffset, value.length).toString('latin1');
  let out: Uint8Array | undefined;
  for (const re of [TRACK1_RE, TRACK2_RE]) {
    for (const m of text.matchAll(re)) {
      const pan = /\d{13,19}/.exec(m[0])?.[0];
      if (!pan || !digitsArePan(pan, ctx.detect)) continue;
      out ??= new Uint8Array(value);
      out.fill(STAR, m.index, m.index + m[0].length);
      addCount(ctx.counts, SAD_RULE, 1);
    }
  }
  return out ?? value;
}

/** True when the decimal digit string is a PAN by the detector's rules. */
export function digitsArePan(digits: string, detect: DetectOptions): boolean {
  const n = digits.length;
  if (n < MIN_PAN_DIGITS || n > MAX_PAN_DIGITS) return false;
  const at = (i: number) => digits.charCodeAt(i) - 48;
  return luhnValid(at, n) && (detect.anyLuhn === true || cardNetwork(at, n) !== undefined);
}

/** Decimal digits of a binary int8 (8 bytes, big-endian two's complement). */
export function int8Digits(v: Uint8Array): string | undefined {
  if (v.length !== 8) return undefined;
  const n = Buffer.from(v.buffer, v.byteOffset, 8).readBigInt64BE(0);
  return (n < 0n ? -n : n).toString();
}

/** Decimal digits of a binary float8 holding a whole number of 12 to 19 digits (a PAN kept as double precision). */
export function float8Digits(v: Uint8Array): string | undefined {
  if (v.length !== 8) return undefined;
  const x = Math.abs(Buffer.from(v.buffer, v.byteOffset, 8).readDoubleBE(0));
  return Number.isInteger(x) && x >= 1e11 && x < 1e19 ? BigInt(x).toString() : undefined;
}

/**
 * Whether a binary value whose type is not known could be a PAN in one of the numeric layouts a card number
 * is stored in: int8, float8 (8 bytes) or numeric. Hex-looking garbage matches seldom (a Luhn digit and an
 * issuer range must agree); a value that does is withheld, as a PAN would be.
 */
export function panShaped(v: Uint8Array, detect: DetectOptions): boolean {
  for (const d of [int8Digits(v), float8Digits(v), numericDigits(v)]) if (d !== undefined && digitsArePan(d, detect)) return true;
  return false;
}

/**
 * Digits of the integer part of a binary numeric (ndigits, weight, sign, dscale, then base-10000 digits;
 * numeric_send in src/backend/utils/adt/numeric.c), or undefined when the layout does not fit.
 */
export function numericDigits(v: Uint8Array): string | undefined {
  if (v.length < 8) return undefined;
  const b = Buffer.from(v.buffer, v.byteOffset, v.length);
  const ndigits = b.readInt16BE(0);
  const weight = b.readInt16BE(2);
  if (ndigits < 0 || v.length !== 8 + 2 * ndigits || weight < 0 || weight > 10) return undefined;
  let s = '';
  for (let i = 0; i <= weight; i++) {
    const d = i < ndigits ? b.readInt16BE(8 + 2 * i) : 0;
    s += i === 0 ? String(d) : String(d).padStart(4, '0');
  }
  return s;
}

/**
 * A binary-format value. Text-like types and bytea are masked like text (star formats keep the length;
 * bytea and unknown types only ever get stars in place). A non-text value under a rule, or an int8 or
 * numeric that is a PAN, becomes NULL. Arrays of those element types are walked element by element.
 */
export function binaryValue(typeOid: number, value: Uint8Array, rule: { name: string; format: MaskFormat } | undefined, ctx: ValueContext): ValueResult {
  if (TEXT_LIKE_OIDS.has(typeOid)) {
    return rule ? countRule(ctx, rule.name, ruleText(value, rule.format, ctx.hmacKey)) : contentText(value, ctx, typeOid === JSON_OID);
  }
  if (typeOid === JSONB_OID && value.length >= 1 && value[0] === 1) {
    if (rule) return countNull(ctx, rule.name); // a masked jsonb text would not parse: NULL instead
    const body = value.subarray(1);
    const out = contentText(body, ctx, true);
    return out === body ? value : Buffer.concat([value.subarray(0, 1), out]);
  }
  if (rule) return countNull(ctx, rule.name);
  if (!ctx.content) return value;
  if (typeOid === INT8_OID || typeOid === 790) {
    const d = int8Digits(value);
    return d !== undefined && digitsArePan(d, ctx.detect) ? countNull(ctx, 'pan') : value;
  }
  if (typeOid === NUMERIC_OID) {
    const d = numericDigits(value);
    return d !== undefined && digitsArePan(d, ctx.detect) ? countNull(ctx, 'pan') : value;
  }
  if (typeOid === FLOAT8_OID) {
    const d = float8Digits(value);
    return d !== undefined && digitsArePan(d, ctx.detect) ? countNull(ctx, 'pan') : value;
  }
  const elem = ARRAY_ELEMENT[typeOid];
  if (elem !== undefined) return binaryArray(value, elem, ctx);
  if (NO_PAN_BINARY.has(typeOid)) return value;
  // Type unknown (a row arriving without the RowDescription of its statement: a named statement executed
  // again without Describe): an int8, float8 or numeric PAN has no digits to find in its bytes.
  if (typeOid === 0 && panShaped(value, ctx.detect)) return countNull(ctx, 'pan');
  return starsInPlace(value, ctx);
}

/** Content masking that keeps the byte length (for bytea and types whose layout is unknown). */
export function starsInPlace(value: Uint8Array, ctx: ValueContext): ValueResult {
  if (!ctx.content) return value;
  const spans = findPans(value, ctx.detect);
  if (spans.length === 0) return value;
  if (ctx.content.format === 'hmac') return countNull(ctx, 'pan');
  addCount(ctx.counts, 'pan', mergeSpans(spans).length);
  return applyMask(value, spans, ctx.content);
}

/**
 * Binary array (array_send: ndim, has-null flag, element OID, ndim × (dim, lower bound), then per element
 * int32 length or -1 and the bytes). Elements are masked in place when lengths are kept; when a masked
 * element would change length (hmac) or must become NULL, the whole array becomes NULL.
 */
function binaryArray(value: Uint8Array, elem: number, ctx: ValueContext): ValueResult {
  const b = Buffer.from(value.buffer, value.byteOffset, value.length);
  if (b.length < 12) return starsInPlace(value, ctx);
  const ndim = b.readInt32BE(0);
  if (ndim < 0 || ndim > 6 || b.length < 12 + 8 * ndim) throw new Error('malformed binary array');
  let count = ndim === 0 ? 0 : 1;
  for (let i = 0; i < ndim; i++) count *= b.readInt32BE(12 + 8 * i);
  let at = 12 + 8 * ndim;
  let copy: Buffer | undefined;
  for (let i = 0; i < count; i++) {
    if (at + 4 > b.length) throw new Error('truncated binary array');
    const len = b.readInt32BE(at);
    at += 4;
    if (len < 0) continue;
    if (at + len > b.length) throw new Error('truncated binary array element');
    const el = b.subarray(at, at + len);
    const out = binaryValue(elem, el, undefined, ctx);
    if (out !== el) {
      if (out === null || out.length !== len) return countNull(ctx, 'pan', 0);
      copy ??= Buffer.from(b);
      copy.set(out, at);
    }
    at += len;
  }
  return copy ?? value;
}

function countRule(ctx: ValueContext, rule: string, v: ValueResult): ValueResult {
  addCount(ctx.counts, rule, 1);
  return v;
}

/** NULL for a value that cannot be masked in its own format; counted under the rule and `binary_null`. */
function countNull(ctx: ValueContext, rule: string, n = 1): null {
  addCount(ctx.counts, rule, n);
  addCount(ctx.counts, 'binary_null', 1);
  return null;
}
