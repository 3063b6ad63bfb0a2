/**
 * Card numbers written with JSON's `\uXXXX` escapes (RFC 8259 §7). Python's `json.dumps` and PHP's `json_encode`
 * escape every character beyond ASCII by default, so a card number grouped by no-break spaces is stored as
 * `"4111\u00a01111\u00a01111\u00a01111"` and a full-width one as `"\uff14\uff11…"`; the json type keeps a document
 * as it was written (so does a text column, where many applications keep JSON), and the client's JSON parser gives
 * back the card number wide-text.ts masks in UTF-8. Such a document went to the client unmasked.
 *
 * A text value (pg-values.ts contentText: a json document, JSON in a text column, a record's text, an error message)
 * holding `\u` is read once more with each escape of an ASCII
 * digit, space or dash, or of a character wide-text.ts reads (full-width digits, Unicode spaces and dashes), read as
 * that character, also behind a backslash a container doubled (a json document in a record's or an array's text, or
 * in a text COPY row: `\\u00a0`; to JSON itself that is a backslash and the text `u00a0`, read alike all the same:
 * a card number is masked, not let through); every other byte as it is. A card number found there is masked in the
 * original: an escaped digit hidden becomes an escaped asterisk of the same length (`\uff0a`, `\u002a`), a plain
 * one `*`; separators and kept digits stay, so the document still parses; `hmac` puts its token where the card
 * number was (inside a JSON string). bytea's escape output (`bytea_output = escape`: `4111\302\240…`,
 * `\357\274\224…`) is read the same way, each `\ooo` as its byte; a hidden full-width digit's last escape becomes
 * `\212` (`＊`).
 */
import { digitsOf, forEachHiddenDigit, hmacInPlace, mergeSpans } from './mask-format.js';
import type { MaskStyle } from './mask-format.js';
import { findPans } from './pan-detector.js';
import { wideUnitAt } from './wide-text.js';
import type { DetectOptions } from './pan-detector.js';

const BACKSLASH = 0x5c;
const U = 0x75;

/** One code point's UTF-8 (the escape's), for wide-text.ts to read: a module scratch, readable() allocates nothing. */
const UTF8 = new Uint8Array(3);

/**
 * Code points read from an escape: ASCII digits, space and dash, and whatever wide-text.ts reads in UTF-8 (full-width
 * digits, Unicode spaces and dashes, U+FFFD): the same characters, its one list, as the raw text is read by.
 */
function readable(cp: number): boolean {
  if (cp < 0x80) return (cp >= 0x30 && cp <= 0x39) || cp === 0x20 || cp === 0x2d;
  // hex4 gives at most U+FFFF: two or three bytes (a lone surrogate's ED … reads as nothing).
  if (cp < 0x800) {
    UTF8[0] = 0xc0 | (cp >> 6);
    UTF8[1] = 0x80 | (cp & 0x3f);
    return wideUnitAt(UTF8, 0, 2).ascii !== 0;
  }
  UTF8[0] = 0xe0 | (cp >> 12);
  UTF8[1] = 0x80 | ((cp >> 6) & 0x3f);
  UTF8[2] = 0x80 | (cp & 0x3f);
  return wideUnitAt(UTF8, 0, 3).ascii !== 0;
}

/** Whether `value` holds a backslash followed by `u` (also as a text COPY writes it, `\\u`). */
export function hasUnicodeEscape(value: Uint8Array): boolean {
  const v = Buffer.from(value.buffer, value.byteOffset, value.length);
  for (let i = v.indexOf(BACKSLASH); i >= 0; i = v.indexOf(BACKSLASH, i + 1)) if (v[i + 1] === U) return true;
  return false;
}

/**
 * Whether `v[from, to)` holds `\u` and four hex digits that spell a character {@link readable} reads, or an octal
 * escape of a digit or of the first byte of such a character's UTF-8: only then can maskJsonEscapes mask anything.
 * The DataRow hot path (pg-masker.ts) asks it of a value with a backslash, in place in the row.
 */
export function readableEscape(v: Buffer, from = 0, to = v.length): boolean {
  for (let i = v.indexOf(BACKSLASH, from); i >= 0 && i < to; i = v.indexOf(BACKSLASH, i + 1)) {
    const cp = v[i + 1] === U ? hex4(v, i + 2, to) : -1;
    if (cp >= 0 && readable(cp)) return true;
    const b = octal3(v, i + 1, to);
    if ((b >= 0x30 && b <= 0x39) || b === 0xc2 || b === 0xe2 || b === 0xe3 || b === 0xef) return true;
  }
  return false;
}

/** Marks a reading byte that was an octal escape (`escaped`). */
const OCTAL = -2;

/** The byte `ooo` at `at` spells (three octal digits, 000–377, before `to`), or -1. */
function octal3(v: Uint8Array, at: number, to: number): number {
  if (at + 3 > to) return -1;
  const a = v[at]!;
  const b = v[at + 1]!;
  const c = v[at + 2]!;
  if (a < 0x30 || a > 0x33 || b < 0x30 || b > 0x37 || c < 0x30 || c > 0x37) return -1;
  return ((a - 0x30) << 6) | ((b - 0x30) << 3) | (c - 0x30);
}

/** The code point `XXXX` at `at` spells (four hex digits, before `to`), or -1. */
function hex4(v: Uint8Array, at: number, to: number): number {
  if (at + 4 > to) return -1;
  let n = 0;
  for (let i = at; i < at + 4; i++) {
    const b = v[i]!;
    const d = b >= 48 && b <= 57 ? b - 48 : (b | 0x20) >= 97 && (b | 0x20) <= 102 ? (b | 0x20) - 87 : -1;
    if (d < 0) return -1;
    n = n * 16 + d;
  }
  return n;
}

/**
 * Masks card numbers spelt with `\uXXXX` escapes in a JSON text; returns `value` itself when there is none.
 * `counted(n)`: n card numbers masked.
 */
export function maskJsonEscapes(value: Uint8Array, style: MaskStyle, detect: DetectOptions, counted: (n: number) => void): Uint8Array {
  // Most values hold no backslash at all: TypedArray's own indexOf answers that without the Buffer view and
  // Buffer#indexOf's argument handling (70 vs 240 ns a value; this runs for every text value and COPY row).
  if (Uint8Array.prototype.indexOf.call(value, BACKSLASH) < 0) return value;
  const v = Buffer.from(value.buffer, value.byteOffset, value.length);
  // Most text with escapes escapes other characters (`\"`, Cyrillic, emoji): read only when one of the card
  // number's characters is escaped, without building the reading of a large document for nothing.
  if (!readableEscape(v)) return value;
  // The reading: UTF-8 bytes; for each, the original bytes [from, to) of the character it belongs to, and that
  // character's code point when it was an escape (-1 otherwise).
  const reading: number[] = [];
  const from: number[] = [];
  const to: number[] = [];
  const escaped: number[] = [];
  const push = (bytes: Uint8Array, a: number, z: number, cp: number) => {
    for (const b of bytes) { reading.push(b); from.push(a); to.push(z); escaped.push(cp); }
  };
  const plain = (i: number) => { reading.push(v[i]!); from.push(i); to.push(i + 1); escaped.push(-1); };
  let any = false;
  for (let i = 0; i < v.length;) {
    if (v[i] === BACKSLASH) {
      // A run of backslashes before `uXXXX`: JSON's escape, or one whose backslash a container doubled (a json
      // document in a record's or an array's text, or in a text COPY row: `\\u00a0`), read alike.
      let u = i + 1;
      while (v[u] === BACKSLASH) u++;
      const cp = v[u] === U ? hex4(v, u + 1, v.length) : -1;
      if (cp >= 0 && readable(cp)) {
        push(Buffer.from(String.fromCharCode(cp), 'utf8'), i, u + 5, cp);
        any = true;
        i = u + 5;
        continue;
      }
      // bytea's escape output (bytea_output = escape) writes each byte beyond ASCII as `\ooo`: the UTF-8 of a
      // no-break space is `\302\240`, of a full-width 4 `\357\274\224`. Read as the byte it stands for.
      const byte = octal3(v, u, v.length);
      if (byte >= 0) {
        push(Buffer.of(byte), i, u + 3, OCTAL);
        any = true;
        i = u + 3;
        continue;
      }
      for (; i < u; i++) plain(i); // bytes like any other
      continue;
    }
    plain(i++);
  }
  if (!any) return value;
  const text = Buffer.from(reading);
  const spans = findPans(text, detect);
  if (spans.length === 0) return value;
  const merged = mergeSpans(spans);
  counted(merged.length);
  if (style.format === 'hmac') {
    return hmacInPlace(v, style.hmacKey, merged.map((s) => ({ from: from[s.start]!, to: to[s.end - 1]!, digits: digitsOf(text, s.start, s.end) })));
  }
  const out = Buffer.from(v);
  const star = (k: number, fullWidth: boolean): void => {
    // An escaped digit becomes an escaped asterisk of the same length; a plain one `*` (`＊`: EF BC 8A, as starSpan).
    if (escaped[k]! >= 0) out.write(fullWidth ? 'uff0a' : 'u002a', to[k]! - 5, 'latin1');
    // Octal: the last byte of a full-width digit becomes that of `＊` (EF BC 8A), an ASCII digit `*`.
    else if (escaped[k] === OCTAL || (fullWidth && escaped[k + 2] === OCTAL)) {
      if (fullWidth) { if (escaped[k + 2] === OCTAL) out.write('212', to[k + 2]! - 3, 'latin1'); else out[from[k + 2]!] = 0x8a; }
      else out.write('052', to[k]! - 3, 'latin1');
    }
    else if (fullWidth) out[from[k]! + 2] = 0x8a;
    else out[from[k]!] = 0x2a;
  };
  for (const s of spans) forEachHiddenDigit(text, s, style.format, star, undefined);
  return out;
}
