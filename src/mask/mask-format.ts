/**
 * Mask formats (issue 4, deliverable 2) applied to PAN spans found by findPans().
 * - `last4` (default): every digit but the last four becomes `*`; separators kept; same length.
 * - `first6last4`: the BIN and the last four stay (the most PCI DSS 3.4.1 allows to be displayed).
 * - `full`: every digit becomes `*`.
 * - `hmac`: the PAN is replaced by `pan:hmac:<first 16 hex of HMAC-SHA256(key, digits)>` (PCI DSS 3.5.1.1
 *   keyed cryptographic hash), so the same PAN can be correlated without being readable.
 * - `null`: only meaningful for column rules (the whole value becomes SQL NULL); on free text it acts as `full`.
 */
import { createHmac } from 'node:crypto';
import { findPans } from './pan-detector.js';
import type { PanSpan } from './pan-detector.js';

export const MASK_FORMATS = ['last4', 'first6last4', 'full', 'hmac', 'null'] as const;
export type MaskFormat = (typeof MASK_FORMATS)[number];

/** How to mask: a format and, for `hmac`, the key (resolved from a secret reference by the caller). */
export interface MaskStyle {
  format: MaskFormat;
  hmacKey?: Uint8Array;
}

const STAR = 0x2a;
const HMAC_PREFIX = 'pan:hmac:';

/**
 * The HMAC token for a digit string (separators removed): `pan:hmac:<16 hex>`, the digest's first 16 hex
 * characters — unless they read as a card number themselves (13 or more decimal digits in a row that pass Luhn:
 * `pan:hmac:d599044016062098`, about one token in 2,000): then the first 16 in a row of the digest that do not
 * are used instead, the same for the same number. Every other token is as it always was.
 */
export function hmacToken(key: Uint8Array, digits: string): string {
  const hex = createHmac('sha256', key).update(digits, 'latin1').digest('hex');
  for (let at = 0; at + 16 <= hex.length; at++) {
    const t = HMAC_PREFIX + hex.slice(at, at + 16);
    // Another window: also not a run of digits as long as a card number's, Luhn or not.
    if (findPans(Buffer.from(t, 'latin1'), { anyLuhn: true }).length === 0 && (at === 0 || !/[0-9]{13}/.test(t))) return t;
  }
  // 49 windows of a SHA-256 digest that each read as a card number: not seen in practice; a letter breaks the run.
  return `${HMAC_PREFIX}${hex.slice(0, 6)}x${hex.slice(7, 16)}`;
}

// Constant pairs: keptDigits runs for every span masked and allocates nothing.
const KEEP_LAST4: readonly [number, number] = [0, 4];
const KEEP_FIRST6_LAST4: readonly [number, number] = [6, 4];
const KEEP_NONE: readonly [number, number] = [0, 0];

/** Number of leading and trailing digits a star format keeps visible. */
export function keptDigits(format: MaskFormat): readonly [number, number] {
  if (format === 'last4') return KEEP_LAST4;
  if (format === 'first6last4') return KEEP_FIRST6_LAST4;
  return KEEP_NONE;
}

/** How a caller stars one digit at offset `at` of the reading (`fullWidth`: EF BC 90–99, three bytes from `at`). */
export type StarDigit<T> = (at: number, fullWidth: boolean, target: T) => void;

/**
 * The star formats' one step: calls `star` for each digit of the card number `span` of `reading` (UTF-8 bytes, the
 * text the detector read) that `format` hides — every one but those keptDigits keeps of `span.digits` (the first
 * six, the last four) — at the offset of its first byte; what is not a digit (separators) is not reported.
 * A digit is an ASCII one or a full-width one (U+FF10–FF19, wide-text.ts). A `*` or `＊` (U+FF0A) counts as the
 * digit it stands for, so spans that overlap (findPans) can be starred in place one after another (starSpan); a
 * reading that is not starred in place has none inside a span (neither is a separator).
 * Callers differ only in how a digit is starred in what they send: a byte in place, an escape that spells `*`
 * (sql-escapes.ts, json-escapes.ts), every byte of a character in another encoding (legacy-text.ts). `target` is
 * handed to `star` (a static `star` then needs no closure: starSpan runs for every value masked); digits before
 * `floor` are counted but not reported (a streaming caller sent them already).
 */
export function forEachHiddenDigit<T>(reading: Uint8Array, span: PanSpan, format: MaskFormat, star: StarDigit<T>, target: T, floor = 0): void {
  const [head, tail] = keptDigits(format);
  const hiddenTo = span.digits - tail;
  let d = 0;
  for (let i = span.start; i < span.end; i++) {
    const b = reading[i]!;
    const fullWidth = b === 0xef && fullWidthDigitOrStar(reading, i);
    if (!fullWidth && (b < 48 || b > 57) && b !== STAR) continue; // a separator
    if (d >= head && d < hiddenTo && i >= floor) star(i, fullWidth, target);
    d++;
    if (fullWidth) i += 2;
  }
}

/**
 * Stars the digits of `span` in `out` (in place) that `format` does not keep, touching only bytes at or
 * after `floor` (bytes before it were already sent by a streaming caller).
 */
export function starSpan(out: Uint8Array, span: PanSpan, format: MaskFormat, floor = 0): void {
  forEachHiddenDigit(out, span, format, starInPlace, out, floor);
}

/** `*` for an ASCII digit; a full-width digit (wide-text.ts) becomes a full-width asterisk: same length, still UTF-8. */
function starInPlace(at: number, fullWidth: boolean, out: Uint8Array): void {
  if (fullWidth) out[at + 2] = FULL_WIDTH_STAR;
  else out[at] = STAR;
}

/** U+FF0A FULLWIDTH ASTERISK is EF BC 8A; the full-width digits U+FF10–FF19 are EF BC 90–99. */
const FULL_WIDTH_STAR = 0x8a;
const fullWidthDigitOrStar = (b: Uint8Array, i: number): boolean => b[i + 1] === 0xbc && ((b[i + 2]! >= 0x90 && b[i + 2]! <= 0x99) || b[i + 2] === FULL_WIDTH_STAR);

/** Merges overlapping spans (sorted by start) into disjoint ones; digits are recounted by the caller. */
export function mergeSpans(spans: readonly PanSpan[]): PanSpan[] {
  const out: PanSpan[] = [];
  for (const s of spans) {
    const last = out[out.length - 1];
    if (last && s.start < last.end) {
      if (s.end > last.end) out[out.length - 1] = { start: last.start, end: s.end, digits: -1 };
    } else out.push(s);
  }
  return out;
}

/**
 * Applies `style` to `spans` of `buf` (byte range [from, to) is what the caller will use; spans lie
 * inside it). Returns `buf` itself when `spans` is empty, otherwise a new buffer; the number of PANs
 * masked is `mergeSpans(spans).length`.
 */
export function applyMask(buf: Uint8Array, spans: readonly PanSpan[], style: MaskStyle): Uint8Array {
  if (spans.length === 0) return buf;
  if (style.format !== 'hmac') {
    const out = new Uint8Array(buf);
    for (const s of spans) starSpan(out, s, style.format);
    return out;
  }
  const key = style.hmacKey;
  if (!key || key.length === 0) throw new Error('hmac mask format needs a key');
  const parts: Uint8Array[] = [];
  let at = 0;
  for (const s of mergeSpans(spans)) {
    parts.push(buf.subarray(at, s.start));
    parts.push(Buffer.from(hmacToken(key, digitsOf(buf, s.start, s.end)), 'latin1'));
    at = s.end;
  }
  parts.push(buf.subarray(at));
  return Buffer.concat(parts);
}

/**
 * `value` with each of `spans` (byte ranges, in order and disjoint, and the digits each spells) replaced by its hmac
 * token: for card numbers found in a reading of the text other than its bytes (legacy-text.ts, json-escapes.ts).
 */
export function hmacInPlace(value: Uint8Array, key: Uint8Array | undefined, spans: ReadonlyArray<{ from: number; to: number; digits: string }>): Buffer {
  if (!key || key.length === 0) throw new Error('hmac mask format needs a key');
  const parts: Uint8Array[] = [];
  let at = 0;
  for (const s of spans) {
    parts.push(value.subarray(at, s.from), Buffer.from(hmacToken(key, s.digits), 'latin1'));
    at = s.to;
  }
  parts.push(value.subarray(at));
  return Buffer.concat(parts);
}

/** The digits in buf[start, end) as an ASCII string (full-width ones too). */
export function digitsOf(buf: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    if (b >= 48 && b <= 57) s += String.fromCharCode(b);
    else if (b === 0xef && buf[i + 1] === 0xbc && buf[i + 2]! >= 0x90 && buf[i + 2]! <= 0x99) { s += String.fromCharCode(buf[i + 2]! - 0x90 + 48); i += 2; }
  }
  return s;
}
