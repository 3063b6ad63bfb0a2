/**
 * Masking of single Postgres values, text and binary format (protocol "Formats and Format Codes",
 * https://www.postgresql.org/docs/current/protocol-overview.html#PROTOCOL-FORMAT-CODES; binary send/recv
 * layouts of int8, numeric, arrays and jsonb from src/backend/utils/adt/). A value is masked when a
 * column rule applies to it or when content detection finds a PAN in it.
 */
import { isUtf8 } from 'node:buffer';
import { applyMask, hmacToken, keptDigits, mergeSpans } from './mask-format.js';
import type { MaskFormat, MaskStyle } from './mask-format.js';
import { floatTokenIsPan } from './float-text.js';
import { hasHexRun, maskHexPans } from './hex-text.js';
import { maskJsonEscapes, readableEscape } from './json-escapes.js';
import { hasHighByte, legacyEncoding, maskLegacyText } from './legacy-text.js';
import type { LegacyEncoding } from './legacy-text.js';
import { findPans, lastFindSawHighByte, lastFindSawTrackMark, MAX_PAN_DIGITS, MIN_PAN_DIGITS } from './pan-detector.js';
import type { DetectOptions, PanSpan } from './pan-detector.js';
import { cardNetwork, luhnValid } from './card-networks.js';
import { addCount, SAD_RULE, TRACK1_RE, TRACK2_RE } from './pan-masker.js';
import type { MaskCounts } from './pan-masker.js';

/** Type OIDs whose binary form is their text (pg_type.typsend = textsend and friends). */
const TEXT_LIKE_OIDS = new Set([25, 1043, 1042, 19, 114, 142, 705, 18]);
export const JSON_OID = 114;
export const JSONB_OID = 3802;
export const BYTEA_OID = 17;
export const INT8_OID = 20;
export const NUMERIC_OID = 1700;
export const FLOAT8_OID = 701;
/** money: an int8 count of the locale's smallest unit (cents), printed as `$4,111,111,111,111,111.00` (lc_monetary). */
export const MONEY_OID = 790;
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
  /** The session's client_encoding when it is not UTF-8: text is read in it too (legacy-text.ts). */
  legacy?: LegacyEncoding | undefined;
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
  const [head, tail] = keptDigits(format);
  // Short values (a 3-digit CVV under last4) are hidden whole: keeping 4 of 4 digits would hide nothing.
  const reveal = digits >= head + tail + 6;
  // Byte by byte, not mask-format.ts forEachHiddenDigit: a rule hides the whole value (letters and all but spaces
  // and dashes), counts ASCII digits only, and stars a full-width digit's every byte; a `*` is not a digit here.
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
 * document stays valid JSON (`{"pan": 4111…}` → `{"pan": "************1111"}`). `found`: what findPans already
 * found in `value` (float prints included: #dataRow hands on only such a search's spans), used when track data
 * changes nothing.
 */
export function contentText(value: Uint8Array, ctx: ValueContext, json: boolean, rule = 'pan', found?: PanSpan[]): Uint8Array {
  const content = ctx.content;
  if (!content) return value;
  let high: boolean;
  if (found === undefined) {
    found = findPans(value, ctx.detect);
    high = lastFindSawHighByte();
    if (found.length === 0 && leftAsIs(value, 0, value.length, ctx)) return value;
  } else high = hasHighByte(value);
  // Track data is starred whole (SAD); the rest of the value is read on like any other, a card number after it too.
  const tracked = maskTrackData(value, ctx);
  const spans = tracked === value ? found : findPans(tracked, ctx.detect);
  if (tracked !== value) high = lastFindSawHighByte();
  let out = tracked;
  if (spans.length > 0) {
    addCount(ctx.counts, rule, mergeSpans(spans).length);
    const masked = applyMask(tracked, spans, content);
    out = json ? quoteBareNumbers(tracked, spans, masked, content) : masked;
  }
  return otherReadings(out, content, ctx, rule, { sameLength: false, encoded: true, high });
}

/**
 * Whether contentText leaves buf[from, to) as it is, asked right after a findPans over exactly that range (float
 * prints included, unless the value's type prints none: mayPrintExponent) found nothing in it: no track data
 * (lastFindSawTrackMark), no hex-encoded digits (hasHexRun), no escape spelling a card number's character
 * (readableEscape) and no byte of 0x80 or more another encoding reads as one (otherReadings). Most values hold no
 * card number: a DataRow's values and COPY's rows leave here, read in place, without a copy or a second pass.
 * `backslash`: the first `\` at or after `from`, −1 for none (a DataRow looks for it once for the row).
 */
export function leftAsIs(buf: Uint8Array, from: number, to: number, ctx: ValueContext, backslash = U8_INDEX_OF.call(buf, 0x5c, from)): boolean {
  if (lastFindSawTrackMark() || hasHexRun(buf, from, to)) return false;
  if (ctx.legacy === undefined ? lastFindSawHighByte() && !isUtf8(buf.subarray(from, to)) : hasHighByte(buf, from, to)) return false;
  return backslash === -1 || backslash >= to || !readableEscape(Buffer.from(buf.buffer, buf.byteOffset, buf.length), backslash, to);
}

/**
 * Every reading of a value besides its bytes as they are (findPans), each masking in the original bytes what it
 * finds, so that a value is read the same way whatever path brought it (contentText, starsInPlace): a bytea
 * printed in hex (`\x3431…`, encode(…, 'hex'): hex-text.ts, same length); JSON written by Python or PHP
 * (`4111\u00a01111…`, `\uff14\uff11…`) and bytea's escape output (`\302\240`: json-escapes.ts); and, for text the
 * server sent in the session's client_encoding (`encoded`), that encoding when it is not UTF-8 (legacy-text.ts).
 * `sameLength`: a binary value whose length must not change (a bytea, a type not known): where hmac would write
 * its token, stars instead.
 */
function otherReadings(value: Uint8Array, content: MaskStyle, ctx: ValueContext, rule: string, o: { sameLength: boolean; encoded: boolean; high: boolean }): Uint8Array {
  const style: MaskStyle = o.sameLength && content.format === 'hmac' ? { format: 'full' } : content;
  const counted = (n: number) => addCount(ctx.counts, rule, n);
  const out = maskJsonEscapes(maskHexPans(value, style, ctx.detect, counted), style, ctx.detect, counted);
  if (!o.encoded) return out;
  if (ctx.legacy) {
    const read = maskLegacyText(out, ctx.legacy, style, ctx.detect, counted);
    return ctx.legacy.also ? maskLegacyText(read, ctx.legacy.also, style, ctx.detect, counted) : read;
  }
  // A UTF-8 session sent text that is not UTF-8: its client_encoding changed where the server reports it only before
  // the next ReadyForQuery (`SET client_encoding = 'LATIN1'; SELECT …` in one string, set_config in the SELECT
  // itself). Read in each encoding whose card-number characters are not ASCII, as that report would have had it read.
  return o.high && !isUtf8(out) ? UNREPORTED_ENCODINGS.reduce((v, enc) => maskLegacyText(v, enc, style, ctx.detect, counted), out) : out;
}

/**
 * The readers of a text in an encoding the session has not reported: WIN1252 (LATIN1's and the WIN125x no-break
 * space A0, WIN1252's en dash 96) and the EUC encodings' full-width digits and ideographic spaces (A3B0…, A1A1).
 */
const UNREPORTED_ENCODINGS: LegacyEncoding[] = ['WIN1252', 'EUC_JP', 'EUC_KR', 'EUC_CN'].map((n) => legacyEncoding(n, 'UTF8')!);

const QUOTE = Buffer.of(0x22);

function quoteBareNumbers(orig: Uint8Array, spans: PanSpan[], masked: Uint8Array, style: MaskStyle): Uint8Array {
  const merged = mergeSpans(spans);
  const inString = spansInJsonString(orig, merged);
  if (inString.every(Boolean)) return masked;
  // Re-apply span by span on the original so offsets are known. A PAN inside a JSON string (`"note": "amex
  // 3782… on file"`) is masked in place: quotes added there would end the string and break the document.
  // A bare number is quoted whole, its sign, fraction and exponent too (`4111….0` → `"****…1111.0"`).
  const parts: Uint8Array[] = [];
  let at = 0;
  // `spans` are sorted by start (as mergeSpans needs), so each merged span's own spans are the next ones in
  // order: taken with one moving index, not a filter of all the spans per merged span (a JSON array of
  // 80,000 bare card numbers took seconds).
  let next = 0;
  merged.forEach((s, k) => {
    let from = s.start;
    let to = s.end;
    if (!inString[k]) {
      while (from > at && NUMBER_BYTE(orig[from - 1]!)) from--;
      while (to < orig.length && NUMBER_BYTE(orig[to]!)) to++;
    }
    parts.push(orig.subarray(at, from));
    const own: PanSpan[] = [];
    for (; next < spans.length && spans[next]!.start < s.end; next++) {
      const x = spans[next]!;
      if (x.start >= s.start && x.end <= s.end) own.push({ ...x, start: x.start - s.start, end: x.end - s.start });
    }
    const one = applyMask(orig.subarray(s.start, s.end), own, style);
    if (inString[k]) parts.push(one);
    else parts.push(QUOTE, orig.subarray(from, s.start), one, orig.subarray(s.end, to), QUOTE);
    at = to;
  });
  parts.push(orig.subarray(at));
  return Buffer.concat(parts);
}

/** Bytes of a JSON number token (RFC 8259 §6): digits, sign, point, exponent. */
const NUMBER_BYTE = (b: number): boolean => (b >= 48 && b <= 57) || b === 0x2e || b === 0x2d || b === 0x2b || (b | 0x20) === 0x65;

/** For each span (sorted, disjoint), whether it starts inside a JSON string of `doc` (RFC 8259 §7: `\` escapes). */
function spansInJsonString(doc: Uint8Array, spans: readonly PanSpan[]): boolean[] {
  const out: boolean[] = [];
  let inside = false;
  let i = 0;
  for (const s of spans) {
    for (; i < s.start; i++) {
      const b = doc[i]!;
      if (b === 0x22) inside = !inside;
      else if (b === 0x5c && inside) i++;
    }
    out.push(inside);
  }
  return out;
}

/**
 * Magnetic-stripe track data (ISO/IEC 7813 track 1 `%B<PAN>^<NAME>^<YYMM><SVC>…?`, track 2
 * `;<PAN>=<YYMM><SVC>…?`) is SAD (PCI DSS 3.3.1): masked whole, not only its PAN, whatever the grant.
 * Returns `value` itself when there is none.
 */
export function maskTrackData(value: Uint8Array, ctx: ValueContext): Uint8Array {
  // TypedArray's own indexOf: a Buffer's goes through its argument handling first (json-escapes.ts measured it).
  if (U8_INDEX_OF.call(value, 0x3d) < 0 && U8_INDEX_OF.call(value, 0x5e) < 0) return value;
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

const U8_INDEX_OF = Uint8Array.prototype.indexOf;

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

export const FLOAT4_OID = 700;

/**
 * Whether a float8 or float4 in text form is a card number: PostgreSQL prints a whole number of 16 digits
 * kept as double precision as `4.111111111111111e+15` (with `extra_float_digits = 0`, one digit fewer,
 * which Luhn restores), a value that cannot be masked and still be a float (float-text.ts).
 */
export function floatTextIsPan(v: Uint8Array, detect: DetectOptions): boolean {
  return v.length <= 32 && floatTokenIsPan(v, detect.anyLuhn === true);
}

/**
 * Arrays, ranges and multiranges of those number types, by their element type: `{4111111111111111}`,
 * `[4111111111111111,4111111111111112)`. Masked in place, their text is no literal of the type any more (a
 * client's parser, or a restore of a dump, fails on `{************1111}`), so a card number in one withholds the
 * whole value, as for a single number.
 */
const NUMBER_CONTAINERS: ReadonlyMap<number, number> = new Map([
  [1016, INT8_OID], [1231, NUMERIC_OID], [1022, FLOAT8_OID], [1021, FLOAT4_OID], [791, MONEY_OID], // arrays
  [3926, INT8_OID], [3906, NUMERIC_OID], [4536, INT8_OID], [4532, NUMERIC_OID], // int8range, numrange, multiranges
  [3927, 3926], [3907, 3906], [6157, 4536], [6151, 4532], // arrays of those: each element read as its range
]);

/** An array, range or multirange of number types (NUMBER_CONTAINERS). */
export function isNumberContainer(typeOid: number): boolean {
  return NUMBER_CONTAINERS.has(typeOid);
}

/**
 * Number types a masked card number would not fit in text form (int8, numeric, float4/8, money, and arrays and
 * ranges of them): it is withheld there.
 */
export function isNumberType(typeOid: number): boolean {
  return typeOid === INT8_OID || typeOid === NUMERIC_OID || typeOid === FLOAT8_OID || typeOid === FLOAT4_OID || typeOid === MONEY_OID || isNumberContainer(typeOid);
}

/**
 * A double-quoted element of an array's or range's text (array_out, range_out: `"` and `\` escaped with a
 * backslash), `at` on its opening quote: its bytes unescaped, and where its closing quote ends. Throws on one that is
 * not closed (the caller's fail-closed path).
 */
export function quotedElement(v: Uint8Array, at: number): { bytes: Buffer; end: number } {
  const bytes: number[] = [];
  for (let i = at + 1; i < v.length; i++) {
    const c = v[i]!;
    if (c === 0x22) return { bytes: Buffer.from(bytes), end: i + 1 };
    if (c === 0x5c) i++;
    if (i < v.length) bytes.push(v[i]!);
  }
  throw new Error('unterminated array element');
}

/** What separates elements in an array's, range's or multirange's text: braces, brackets, parentheses, commas. */
const CONTAINER_PUNCTUATION = new Set([0x7b, 0x7d, 0x5b, 0x5d, 0x28, 0x29, 0x2c]);

/**
 * The elements of an array's, range's or multirange's text (`{1,"$4,111.00",NULL}`, `{[1,5),[7,9)}`): what lies
 * between its punctuation outside double quotes, a quoted one unquoted (quotedElement).
 */
function containerElements(v: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < v.length) {
    const c = v[i]!;
    if (c === 0x22) {
      const q = quotedElement(v, i);
      out.push(q.bytes);
      i = q.end;
    } else if (CONTAINER_PUNCTUATION.has(c) || c === 0x20) {
      i++;
    } else {
      const start = i;
      while (i < v.length && !CONTAINER_PUNCTUATION.has(v[i]!) && v[i] !== 0x22) i++;
      out.push(v.subarray(start, i));
    }
  }
  return out;
}

/**
 * Whether the digits of a money value (its text with the currency symbol, group separators and the decimal
 * mark taken out, or its binary int8 count) are a card number: `pan::money` prints `$4,111,111,111,111,111.00`,
 * and which byte is the decimal mark, and how many fraction digits follow it (0 to 3), depends on
 * lc_monetary, so the whole-units part is tried with each. Only amounts of 10^10 units and more can match.
 */
export function moneyDigitsArePan(digits: string, detect: DetectOptions): boolean {
  for (let frac = 0; frac <= 3; frac++) if (digitsArePan(digits.slice(0, digits.length - frac), detect)) return true;
  return false;
}

/**
 * Whether a text-form value of a number type (isNumberType) is a card number: masked, it would not be a number
 * any more (a client's parser, or a restore of a dump, would fail on it), so it is withheld.
 */
export function numberTextIsPan(typeOid: number, v: Uint8Array, detect: DetectOptions): boolean {
  const element = NUMBER_CONTAINERS.get(typeOid);
  if (element !== undefined) return v.length >= MIN_PAN_DIGITS && containerElements(v).some((el) => numberTextIsPan(element, el, detect));
  if (typeOid === MONEY_OID) {
    let digits = '';
    for (const b of v) if (b >= 48 && b <= 57) digits += String.fromCharCode(b);
    return digits.length >= MIN_PAN_DIGITS && moneyDigitsArePan(digits, detect);
  }
  // A float8 below 1e15 prints without an exponent (378282246310005): a 13- to 15-digit PAN is plain digits.
  if ((typeOid === FLOAT8_OID || typeOid === FLOAT4_OID) && floatTextIsPan(v, detect)) return true;
  if (v.length < MIN_PAN_DIGITS) return false;
  if (findPans(v, detect).length > 0) return true;
  if (typeOid !== NUMERIC_OID) return false;
  let digits = '';
  for (const b of v) {
    if (b === 0x2e) break;
    if (b >= 48 && b <= 57) digits += String.fromCharCode(b);
  }
  return roundedFloatPan(digits, detect);
}

/**
 * Whether the integer digits of a numeric are a 16-digit card number that went through double precision:
 * float8 to numeric keeps 15 significant digits (`pan_float::numeric` is 4111111111111110, the check digit
 * rounded to 0, or more zeros where %g dropped them: 4111111111111100 for 4111111111111103), and Luhn restores
 * the last one. As for float prints (float-text.ts), not for a number ending in more than 6 zeros.
 */
export function roundedFloatPan(digits: string, detect: DetectOptions): boolean {
  if (digits.length !== 16 || digits[15] !== '0' || /0{7}$/.test(digits)) return false;
  const d = digits.slice(0, 15);
  for (let c = 0; c <= 9; c++) {
    const pan = d + String(c);
    if (luhnValid((i) => pan.charCodeAt(i) - 48, 16)) return digitsArePan(pan, detect);
  }
  return false;
}

/** A value withheld because it is a PAN that cannot be masked in its own format: NULL, counted. */
export function withheldPan(ctx: ValueContext): null {
  return countNull(ctx, 'pan');
}

/**
 * Whether a binary value whose type is not known could be a PAN in one of the numeric layouts a card number
 * is stored in: int8 (or money), float8 (8 bytes) or numeric. Hex-looking garbage matches seldom (a Luhn digit and an
 * issuer range must agree); a value that does is withheld, as a PAN would be.
 */
export function panShaped(v: Uint8Array, detect: DetectOptions): boolean {
  // An int8 is read as money too (a count of cents: a PAN's digits and 0–3 more).
  const i8 = int8Digits(v);
  if (i8 !== undefined && moneyDigitsArePan(i8, detect)) return true;
  for (const d of [float8Digits(v), numericDigits(v)]) if (d !== undefined && digitsArePan(d, detect)) return true;
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
  if (typeOid === INT8_OID) {
    const d = int8Digits(value);
    return d !== undefined && digitsArePan(d, ctx.detect) ? countNull(ctx, 'pan') : value;
  }
  if (typeOid === MONEY_OID) {
    const d = int8Digits(value);
    return d !== undefined && moneyDigitsArePan(d, ctx.detect) ? countNull(ctx, 'pan') : value;
  }
  if (typeOid === NUMERIC_OID) {
    const d = numericDigits(value);
    return d !== undefined && (digitsArePan(d, ctx.detect) || roundedFloatPan(d, ctx.detect)) ? countNull(ctx, 'pan') : value;
  }
  if (typeOid === FLOAT8_OID) {
    const d = float8Digits(value);
    return d !== undefined && digitsArePan(d, ctx.detect) ? countNull(ctx, 'pan') : value;
  }
  const floatsAt = GEOMETRIC_FLOATS_AT[typeOid];
  if (floatsAt !== undefined) {
    // point, lseg, box, line, circle: float8s from the start; path a closed flag and a count, polygon a count first.
    for (let at = floatsAt; at + 8 <= value.length; at += 8) {
      const d = float8Digits(value.subarray(at, at + 8));
      if (d !== undefined && digitsArePan(d, ctx.detect)) return countNull(ctx, 'pan');
    }
    return value;
  }
  if (ARRAY_ELEMENT[typeOid] !== undefined) {
    const out = walkBinary(value, ctx, 0, 'array');
    if (out === undefined) throw new Error('malformed binary array');
    return out;
  }
  if (NO_PAN_BINARY.has(typeOid)) return value;
  if (typeOid === BYTEA_OID) return starsInPlace(value, ctx, false);
  return unknownBinary(value, ctx, 0, typeOid === 0);
}

/**
 * A binary value of a type not handled above: a record or composite (`select c from cards c`, a ROW(…)), an
 * array of another element type, a user-defined type, or a row with no plan at all (type 0: a named
 * statement executed again without Describe). Arrays and records declare their element and field types
 * in their own bytes, so they are walked by those; anything else is read as an int8, float8 or numeric
 * (a PAN in those has no digits to find in its bytes) and then as text bytes.
 */
function unknownBinary(value: Uint8Array, ctx: ValueContext, depth: number, maybeText = false): ValueResult {
  const r = structuredOrPan(value, ctx, depth, maybeText);
  if (r !== undefined) return r; // null is an answer (the value becomes NULL)
  // Read as text, in the session's encoding too: a text type pcigate does not know (citext, a domain's base
  // type in a record) is sent in it.
  return starsInPlace(value, ctx, true);
}

/**
 * The first half of {@link unknownBinary}, shared with binary COPY (whose fields are all of unknown type):
 * the masked value when `value` is an array or record, or null when it reads as an int8/float8/numeric PAN;
 * undefined when neither (the caller then searches it as text bytes). Type 0 may also be a text value (its
 * format is not known either): printable ASCII is not read as a number (no int8 or float8 PAN is printable
 * ASCII throughout: a 16-digit one starts with a zero byte).
 */
export function structuredOrPan(value: Uint8Array, ctx: ValueContext, depth = 0, maybeText = false): ValueResult | undefined {
  const walked = depth < MAX_NESTING ? walkBinary(value, ctx, depth, 'any') : undefined;
  if (walked !== undefined) return walked;
  if (!(maybeText && isPrintableAscii(value)) && panShaped(value, ctx.detect)) return countNull(ctx, 'pan');
  return undefined;
}

/** Every byte printable ASCII (0x20–0x7e). */
export function isPrintableAscii(v: Uint8Array): boolean {
  for (const b of v) if (b < 0x20 || b > 0x7e) return false;
  return true;
}

/** Geometric types (geo_ops.c *_send): where their float8 coordinates start. */
const GEOMETRIC_FLOATS_AT: Record<number, number> = { 600: 0, 601: 0, 602: 5, 603: 0, 604: 4, 628: 0, 718: 0 };

const MAX_NESTING = 4;
const KNOWN_BINARY = (oid: number) => TEXT_LIKE_OIDS.has(oid) || oid === JSONB_OID || oid === INT8_OID || oid === MONEY_OID || oid === NUMERIC_OID ||
  oid === FLOAT8_OID || oid === BYTEA_OID || NO_PAN_BINARY.has(oid) || GEOMETRIC_FLOATS_AT[oid] !== undefined;

/**
 * An array (array_send: Int32 ndim, Int32 has-null flag, UInt32 element OID, ndim × (Int32 dim, Int32 lower
 * bound), then per element Int32 length or −1 and the bytes) or a record (record_send: Int32 field count,
 * then per field UInt32 type OID, Int32 length or −1, the bytes), a range (range_send: a flags byte, then
 * each bound it has as Int32 length and the bytes: `int8range(pan, …)`) or a multirange (multirange_send: Int32
 * count, then per range Int32 length and the range), when `value` is exactly one of those; undefined otherwise.
 * Each element or field is masked by its own type (a range's bounds, whose type is not in the bytes, as a value
 * of unknown type); when one would change length or become NULL, the whole value becomes NULL (a re-encoded
 * container is not worth the risk of a bad one).
 */
function walkBinary(value: Uint8Array, ctx: ValueContext, depth: number, layouts: 'array' | 'any'): ValueResult | undefined {
  const b = Buffer.from(value.buffer, value.byteOffset, value.length);
  const fields: Array<{ oid: number; at: number; len: number }> = [];
  if (!arrayFields(b, fields) && (layouts === 'array' || (!recordFields(b, fields) && !rangeFields(b, 0, b.length, fields) && !multirangeFields(b, fields)))) return undefined;
  let copy: Buffer | undefined;
  for (const f of fields) {
    const el = b.subarray(f.at, f.at + f.len);
    const out = KNOWN_BINARY(f.oid) || ARRAY_ELEMENT[f.oid] !== undefined ? binaryValue(f.oid, el, undefined, ctx) : unknownBinary(el, ctx, depth + 1);
    if (out === el) continue;
    if (out === null || out.length !== f.len) return countNull(ctx, 'pan', 0);
    copy ??= Buffer.from(b);
    copy.set(out, f.at);
  }
  return copy ?? value;
}

function arrayFields(b: Buffer, out: Array<{ oid: number; at: number; len: number }>): boolean {
  if (b.length < 12) return false;
  const ndim = b.readInt32BE(0);
  const flags = b.readInt32BE(4);
  if (ndim < 0 || ndim > 6 || (flags !== 0 && flags !== 1) || b.length < 12 + 8 * ndim) return false;
  const oid = b.readUInt32BE(8);
  let count = ndim === 0 ? 0 : 1;
  for (let i = 0; i < ndim; i++) {
    const dim = b.readInt32BE(12 + 8 * i);
    if (dim < 0) return false;
    count *= dim;
  }
  if (count > b.length) return false; // each element takes at least 4 bytes
  let at = 12 + 8 * ndim;
  for (let i = 0; i < count; i++) {
    if (at + 4 > b.length) return false;
    const len = b.readInt32BE(at);
    at += 4;
    if (len < -1 || at + Math.max(len, 0) > b.length) return false;
    if (len >= 0) out.push({ oid, at, len });
    at += Math.max(len, 0);
  }
  return at === b.length;
}

function recordFields(b: Buffer, out: Array<{ oid: number; at: number; len: number }>): boolean {
  if (b.length < 4) return false;
  const n = b.readInt32BE(0);
  if (n < 0 || n > 1664 || 4 + 8 * n > b.length) return false; // 1664: MaxTupleAttributeNumber
  let at = 4;
  for (let i = 0; i < n; i++) {
    if (at + 8 > b.length) return false;
    const oid = b.readUInt32BE(at);
    const len = b.readInt32BE(at + 4);
    at += 8;
    if (len < -1 || at + Math.max(len, 0) > b.length) return false;
    if (len >= 0) out.push({ oid, at, len });
    at += Math.max(len, 0);
  }
  return at === b.length;
}

// range_send's flags (src/include/utils/rangetypes.h): a bound is sent unless the range is empty or the bound infinite or null.
const RANGE_EMPTY = 0x01;
const RANGE_LB_INF = 0x08;
const RANGE_UB_INF = 0x10;
const RANGE_LB_NULL = 0x20;
const RANGE_UB_NULL = 0x40;

/** Bounds of a range in b[from, to) (type OID 0: not in the bytes); false unless the layout fits exactly. */
function rangeFields(b: Buffer, from: number, to: number, out: Array<{ oid: number; at: number; len: number }>): boolean {
  if (to - from < 1) return false;
  const flags = b[from]!;
  const empty = (flags & RANGE_EMPTY) !== 0;
  let at = from + 1;
  const found: Array<{ oid: number; at: number; len: number }> = [];
  for (const absent of [RANGE_LB_INF | RANGE_LB_NULL, RANGE_UB_INF | RANGE_UB_NULL]) {
    if (empty || (flags & absent) !== 0) continue;
    if (at + 4 > to) return false;
    const len = b.readInt32BE(at);
    at += 4;
    if (len < 0 || at + len > to) return false;
    found.push({ oid: 0, at, len });
    at += len;
  }
  if (at !== to) return false;
  out.push(...found);
  return true;
}

function multirangeFields(b: Buffer, out: Array<{ oid: number; at: number; len: number }>): boolean {
  if (b.length < 4) return false;
  const n = b.readInt32BE(0);
  if (n < 1 || 4 + 5 * n > b.length) return false;
  const found: Array<{ oid: number; at: number; len: number }> = [];
  let at = 4;
  for (let i = 0; i < n; i++) {
    if (at + 4 > b.length) return false;
    const len = b.readInt32BE(at);
    at += 4;
    if (len < 1 || at + len > b.length || !rangeFields(b, at, at + len, found)) return false;
    at += len;
  }
  if (at !== b.length) return false;
  out.push(...found);
  return true;
}

/**
 * Content masking that keeps the byte length (for bytea and types whose layout is unknown), with every reading a
 * text value has (otherReadings: a bytea's text output in hex, JSON's `\u` escapes, in a row or function result
 * whose format is not known); `encoded`: a value that may be text in the session's encoding (not a bytea's bytes).
 * A card number in the bytes as they are becomes NULL under hmac (the token would change the length).
 */
function starsInPlace(value: Uint8Array, ctx: ValueContext, encoded: boolean): ValueResult {
  if (!ctx.content) return value;
  const spans = findPans(value, ctx.detect);
  let out = value;
  if (spans.length > 0) {
    if (ctx.content.format === 'hmac') return countNull(ctx, 'pan');
    addCount(ctx.counts, 'pan', mergeSpans(spans).length);
    out = applyMask(value, spans, ctx.content);
  }
  return otherReadings(out, ctx.content, ctx, 'pan', { sameLength: true, encoded, high: lastFindSawHighByte() });
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
