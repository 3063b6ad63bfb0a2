/**
 * Card numbers written in hexadecimal: a bytea holding a PAN as text prints as `\x34313131313131313131313131313131`
 * (bytea_output = hex, PostgreSQL's default since 9.0: psql, text results, text and CSV COPY, pg_dump), and
 * `encode(pan::bytea, 'hex')` prints the same without the `\x`. Each digit is a pair `3<digit>`, so the detector
 * sees one run of 26–38 decimal digits, which no PAN is.
 *
 * A run of 26 or more hex digits is decoded at both pair alignments and the decoded bytes are searched by the
 * detector's own rules (findPans: length, Luhn, issuer range, not part of a longer digit run). Ordinary hex
 * (hashes, keys, UUIDs without dashes) decodes to random bytes, which almost never hold 13 ASCII digits in a row,
 * and a number printed in decimal is not hex of digits unless every other digit is a 3: no false positives
 * beyond the detector's own. A digit to be masked becomes the pair `2a` (`*`), so the value still decodes,
 * to a masked card number, and keeps its length. Base64 is not searched (see README, known gaps).
 */
import { mergeSpans, starSpan } from './mask-format.js';
import type { MaskStyle } from './mask-format.js';
import { findPans } from './pan-detector.js';
import type { DetectOptions } from './pan-detector.js';
import { wideUnitAt } from './wide-text.js';
import type { WideUnit } from './wide-text.js';

/** The shortest hex run that can encode a PAN: 13 digits, two hex digits each. */
const MIN_HEX = 26;

const HEX = new Uint8Array(256);
for (let b = 48; b <= 57; b++) HEX[b] = 1;
for (let b = 65; b <= 70; b++) HEX[b] = 1;
for (let b = 97; b <= 102; b++) HEX[b] = 1;

const nibble = (b: number): number => (b <= 57 ? b - 48 : (b | 0x20) - 87);
const HEX_DIGIT = Buffer.from('0123456789abcdef', 'latin1');

/**
 * Whether buf[from, to) holds a run of hex digits that may encode a PAN: long enough, with 13 digit pairs in
 * a row (digitPairs). A cheap test for the hot path: only every 26th byte is looked at unless it is a hex digit.
 */
export function hasHexRun(buf: Uint8Array, from = 0, to = buf.length): boolean {
  let p = from + MIN_HEX - 1;
  while (p < to) {
    let c = RUN_HEX[buf[p]!]!;
    if (c === 0) {
      p += MIN_HEX;
      continue;
    }
    // Counted on the way: a digit is the pair `3<digit>` or a full-width one `efbc9<digit>` (its lead pair `ef`), so
    // 13 digits in a row need 13 hex digits `3`, `e` or `E` in the run (an md5 has 4 on average): only then are the
    // pairs read (digitPairs).
    let leads = c >> 1;
    let a = p;
    while (a > from && (c = RUN_HEX[buf[a - 1]!]!) !== 0) {
      a--;
      leads += c >> 1;
    }
    let z = p + 1;
    while (z < to && (c = RUN_HEX[buf[z]!]!) !== 0) {
      z++;
      leads += c >> 1;
    }
    if (z - a >= MIN_HEX && leads >= 13 && (digitPairs(buf, a, (z - a) >> 1) || digitPairs(buf, a + 1, (z - a - 1) >> 1))) return true;
    p = z + MIN_HEX;
  }
  return false;
}

/** 1 for a hex digit, 3 for one that begins a digit's pair (`3`, `e`, `E`: hasHexRun counts them), 0 otherwise. */
const RUN_HEX = new Uint8Array(256);
for (let b = 0; b < 256; b++) RUN_HEX[b] = HEX[b]!;
for (const c of '3eE') RUN_HEX[c.charCodeAt(0)] = 3;

/**
 * Whether the `n` hex pairs from `start` hold 13 digits in a row (pairs `30`–`39`, a space `20` or a dash
 * `2d` between them allowed), as any PAN written in hex does: only then is the run decoded and searched.
 * Hashes, keys and random hex almost never do, so they cost one look per pair (the 5M-row md5 SELECT of
 * bench/pg lost half its speed decoding every value at both alignments). The UTF-8 of a full-width digit
 * (`efbc94`) counts as a digit, and that of a Unicode space or dash between digits (`c2a0`, `e28093`, …) as a
 * separator (wide-text.ts): a bytea holding such a card number as text printed `\x34313131c2a0…` unmasked.
 */
export function digitPairs(value: Uint8Array, start: number, n: number): boolean {
  // Skip-ahead, as the detector's (pan-detector.ts): every pair of such a run begins with 2, 3 (separators,
  // digits), c, e (a wide character's lead) or 8–b (its continuation bytes), so a pair that begins otherwise
  // lies in no run, and only every 13th pair is looked at until one may: then the stretch of such pairs around
  // it is read exactly (digitRun). Random hex (an md5 column) has half its pairs so, and rarely 13 in a row.
  let i = 12;
  while (i < n) {
    if (IN_RUN[value[start + 2 * i]!] === 0) {
      i += 13;
      continue;
    }
    let a = i;
    while (a > 0 && IN_RUN[value[start + 2 * (a - 1)]!] === 1) a--;
    let z = i + 1;
    while (z < n && IN_RUN[value[start + 2 * z]!] === 1) z++;
    if (z - a >= 13 && digitRun(value, start + 2 * a, z - a)) return true;
    i = z + 13;
  }
  return false;
}

/** The first hex digit of a pair that can lie in a run digitRun accepts: 2, 3, 8, 9, a, b, c, e (either case). */
const IN_RUN = new Uint8Array(256);
for (const c of '2389abceABCE') IN_RUN[c.charCodeAt(0)] = 1;

/** digitPairs' exact reading of the `n` pairs from `start`, pair by pair (exported for its differential test). */
export function digitRun(value: Uint8Array, start: number, n: number): boolean {
  let run = 0;
  for (let i = 0; i < n; i++) {
    const hi = value[start + 2 * i]!;
    const lo = value[start + 2 * i + 1]!;
    if (hi === 0x33 && lo >= 0x30 && lo <= 0x39) {
      if (++run >= 13) return true;
    } else if (hi === 0x32 && (lo === 0x30 || lo === 0x64 || lo === 0x44) && run > 0) continue;
    // Only a pair `c…` or `e…` can be the lead byte of what wideUnitAt reads (WIDE_LEAD): any other pair ends the run
    // undecoded (most pairs of a hash, at both alignments: md5 text rows cost half as much again decoding them all).
    else if ((hi | 0x20) !== 0x63 && (hi | 0x20) !== 0x65) run = 0;
    else {
      const wide = wideAt(value, start, n, i);
      if (wide.ascii >= 0x30 && ++run >= 13) return true;
      if (wide.ascii === 0 || (wide.ascii < 0x30 && run === 0)) run = 0;
      else i += wide.len - 1;
    }
  }
  return false;
}

/** Lead bytes of the UTF-8 sequences wideUnitAt reads (U+00A0, U+20xx, U+3000, U+FExx and U+FFxx). */
const WIDE_LEAD = new Uint8Array(256);
for (const b of [0xc2, 0xe2, 0xe3, 0xef]) WIDE_LEAD[b] = 1;
const wideBytes = new Uint8Array(3);

/** What the UTF-8 sequence hex-encoded from pair `i` of the `n` at `start` reads as (wide-text.ts). */
function wideAt(value: Uint8Array, start: number, n: number, i: number): WideUnit {
  const lead = pairAt(value, start, i);
  if (WIDE_LEAD[lead] === 0) return NOT_WIDE;
  const len = Math.min(3, n - i);
  wideBytes[0] = lead;
  for (let k = 1; k < len; k++) wideBytes[k] = pairAt(value, start, i + k);
  return wideUnitAt(wideBytes, 0, len);
}
const NOT_WIDE: WideUnit = { ascii: 0, len: 1 };

/** The byte hex pair `k` from `start` spells. */
function pairAt(value: Uint8Array, start: number, k: number): number {
  return (nibble(value[start + 2 * k]!) << 4) | nibble(value[start + 2 * k + 1]!);
}

/**
 * Masks hex-encoded PANs in `value`: returns `value` itself when there is none, otherwise a copy of the same
 * length. `counted(n)` is told how many PANs were masked. Star formats keep their digits as in plain text;
 * `hmac` (a token cannot be written as the same number of hex pairs) stars every digit.
 */
export function maskHexPans(value: Uint8Array, style: MaskStyle, detect: DetectOptions, counted: (n: number) => void): Uint8Array {
  let out: Uint8Array | undefined;
  const format = style.format === 'hmac' ? 'full' : style.format;
  const to = value.length;
  let p = MIN_HEX - 1;
  while (p < to) {
    if (HEX[value[p]!] === 0) {
      p += MIN_HEX;
      continue;
    }
    let a = p;
    while (a > 0 && HEX[value[a - 1]!] === 1) a--;
    let z = p + 1;
    while (z < to && HEX[value[z]!] === 1) z++;
    if (z - a >= MIN_HEX) {
      for (let align = 0; align < 2; align++) {
        const start = a + align;
        const n = (z - start) >> 1;
        if (n < 13 || !digitPairs(value, start, n)) continue;
        const decoded = new Uint8Array(n);
        for (let i = 0; i < n; i++) decoded[i] = pairAt(value, start, i);
        const spans = findPans(decoded, detect, 0, n, false, false);
        if (spans.length === 0) continue;
        const masked = new Uint8Array(decoded);
        for (const s of spans) starSpan(masked, s, format);
        out ??= new Uint8Array(value);
        for (let i = 0; i < n; i++) {
          if (masked[i] === decoded[i]) continue;
          // `2a` for `*`; `8a` for the last byte of a full-width `＊` (EF BC 8A: mask-format.ts starSpan).
          out[start + 2 * i] = HEX_DIGIT[masked[i]! >> 4]!;
          out[start + 2 * i + 1] = HEX_DIGIT[masked[i]! & 15]!;
        }
        counted(mergeSpans(spans).length);
      }
    }
    p = z + MIN_HEX;
  }
  return out ?? value;
}
