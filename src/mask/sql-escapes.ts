/**
 * Card numbers spelt with SQL string-constant escapes. PostgreSQL reads `U&'\0034\0031…'` (Unicode escapes: `\XXXX`,
 * `\+XXXXXX`, or another escape character chosen with `UESCAPE '!'`) and `E'\x34\x31…'`, `E'\064\061…'`,
 * `E'\u0034…'`, `E'\U00000034…'` as the card number (PostgreSQL docs, Lexical Structure, 4.1.2.2 and 4.1.2.3), and a
 * statement's text went to the log with it in clear: maskText (pan-masker.ts) reads digits, not escapes.
 *
 * The text is read once with each such escape read as what it spells: inside a U&'…' literal its Unicode escapes (with
 * that literal's UESCAPE character), everywhere else backslash escapes as an E'…' string reads them. Also in a plain
 * '…' string, which reads them so with standard_conforming_strings off, and where they are no escapes at all (a
 * dollar-quoted string, a comment): at worst text that was no card number is masked (fail closed). A constant
 * continued on the next line (`'4111 1111'` then `' 1111 1111'`) is read as one, its quotes and line break as nothing.
 * A card number found there by the detector's rules (pan-detector.ts; full-width digits too) is masked in the original
 * text: each hidden digit's escape becomes the same escape of `*` (`\002a`, `\+00002a`, `!002a`, `\x2a`, `\052`,
 * `\u002a`), of `＊` for a full-width digit (`\ff0a`; for one written as the bytes of its UTF-8, its last byte's
 * escape: `\x8a`, `\212`), and a digit written as itself `*` or `＊`. The statement still reads as SQL, its literal as
 * the masked card number, and keeps what the style keeps (the last four); `hmac` puts its token where the number was.
 */
import { digitsOf, forEachHiddenDigit, hmacToken, mergeSpans } from './mask-format.js';
import type { MaskStyle } from './mask-format.js';
import { findPans } from './pan-detector.js';
import type { DetectOptions } from './pan-detector.js';

/**
 * Between two quotes, whitespace with a line break (and `--` comments) continues a string constant: `'4111 1111'` and
 * `' 1111 1111'` on the next line are one (PostgreSQL docs, 4.1.2.1; scan.l quotecontinue), a U&'…' or E'…' one too.
 * Written as scan.l's whitespace_with_newline, where a comment runs to the end of its line: each character has one
 * reading, so a failed match costs its length. (`(?:[ \t\f]|--[^\n\r]*)*` read a run of dashes in exponentially many
 * ways: `'a'` then a line of 40 dashes and no quote held the event loop for seconds, 44 for half a minute.)
 */
const CONTINUED = String.raw`'[ \t\f]*(?:--[^\n\r]*)?[\n\r](?:\s|--[^\n\r]*[\n\r])*'`;
const CONTINUATION = new RegExp(CONTINUED, 'y');
/**
 * A U&'…' literal (its text in group 1, quotes doubled, continued on following lines) and its UESCAPE clause, if any
 * (the escape character in group 2). One without its closing quote runs to the end of the text, read with `\`: the
 * log's text is cut at 64 KiB (sql-record.ts redactSql), and a card number written `\0034…` before the cut in a
 * literal closed after it was read as octal escapes (`\003` and `4`) and kept in clear.
 */
const UNICODE_LITERAL = new RegExp(String.raw`(?<![\w$])U&'((?:[^']|''|${CONTINUED})*)(?:'(?:\s*UESCAPE\s*'([^'])')?|$)`, 'gi');
/**
 * Where an escape of a digit could be: a backslash before what starts one (an octal digit, 8 or 9, `x`, `u`, `U`),
 * a U&'…' literal (whose UESCAPE character need not be a backslash), or a string continued on the next line (both
 * quotes: a line ending in a quote is most multi-line SQL, and reading all of it again cost 11 times maskText's
 * own time). JSON's `\"` and `\n` are not read at all.
 */
const MAY_ESCAPE = new RegExp(String.raw`\\[0-9xuU]|&'|${CONTINUED}`);

/** What a piece of the original text reads as: itself, one code point, or one byte of UTF-8 (E'\xef\xbc\x94'). */
const PLAIN = 0;
const CODE_POINT = 1;
const BYTE = 2;

/** The reading: UTF-8 bytes, and for each the piece of the original it comes from. */
class Reading {
  readonly bytes: number[] = [];
  readonly piece: number[] = [];
  // Per piece: where it is in the original, the length of its escape's head (`\x`, `\+`, `!`) and the radix of the
  // digits after it (0: the character after the head is itself), and what it reads as.
  readonly start: number[] = [];
  readonly end: number[] = [];
  readonly head: number[] = [];
  readonly radix: number[] = [];
  readonly kind: number[] = [];
  /** Whether it reads other than the text: an escape read, or a continuation read as nothing. */
  escaped = false;

  add(start: number, end: number, head: number, radix: number, kind: number, value: number): void {
    const p = this.start.length;
    this.start.push(start);
    this.end.push(end);
    this.head.push(head);
    this.radix.push(radix);
    this.kind.push(kind);
    if (kind !== PLAIN) this.escaped = true;
    if (kind === BYTE || value < 0x80) this.byte(value & 0xff, p);
    else if (value < 0x800) { this.byte(0xc0 | (value >> 6), p); this.byte(0x80 | (value & 0x3f), p); }
    else if (value < 0x10000) { this.byte(0xe0 | (value >> 12), p); this.byte(0x80 | ((value >> 6) & 0x3f), p); this.byte(0x80 | (value & 0x3f), p); }
    else { this.byte(0xf0 | (value >> 18), p); this.byte(0x80 | ((value >> 12) & 0x3f), p); this.byte(0x80 | ((value >> 6) & 0x3f), p); this.byte(0x80 | (value & 0x3f), p); }
  }

  private byte(b: number, p: number): void {
    this.bytes.push(b);
    this.piece.push(p);
  }

  /** The escape of piece `p` spelling `value` instead, in the same form (and, where the form allows, the same length). */
  respell(text: string, p: number, value: number): string {
    if (this.kind[p] === PLAIN) return String.fromCharCode(value);
    const head = text.slice(this.start[p], this.start[p]! + this.head[p]!);
    const radix = this.radix[p]!;
    if (radix === 0) return head + String.fromCharCode(value);
    return head + value.toString(radix).padStart(this.end[p]! - this.start[p]! - this.head[p]!, '0');
  }
}

const isHex = (c: number) => (c >= 48 && c <= 57) || ((c | 0x20) >= 97 && (c | 0x20) <= 102);
const isOctal = (c: number) => c >= 48 && c <= 55;

/** The number the `n` digits of `radix` at `at` spell (all before `to`), or -1. */
function digitsAt(text: string, at: number, n: number, radix: 8 | 16, to: number): number {
  if (at + n > to) return -1;
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const c = text.charCodeAt(i);
    if (!(radix === 16 ? isHex(c) : isOctal(c))) return -1;
    v = v * radix + (c <= 57 ? c - 48 : (c | 0x20) - 87);
  }
  return v;
}

/** A Unicode scalar value (not a surrogate, at most U+10FFFF): what an escape may read as. */
const scalar = (cp: number) => cp >= 0 && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);

/**
 * Reads the backslash escape at `i` as an E'…' string does (octal `\o`–`\ooo`, hex `\xh`–`\xhh`, `\uXXXX`,
 * `\UXXXXXXXX`, `\8`, `\9`); returns where it ends, or -1 when no escape there spells anything a card number has.
 */
function readBackslash(text: string, i: number, to: number, r: Reading): number {
  const c = text.charCodeAt(i + 1);
  if (isOctal(c)) {
    let n = 1;
    while (n < 3 && i + 1 + n < to && isOctal(text.charCodeAt(i + 1 + n))) n++;
    // PostgreSQL keeps the low byte of `\400`–`\777`.
    r.add(i, i + 1 + n, 1, 8, BYTE, digitsAt(text, i + 1, n, 8, to));
    return i + 1 + n;
  }
  if (c === 0x78 && i + 2 < to && isHex(text.charCodeAt(i + 2))) {
    const n = i + 3 < to && isHex(text.charCodeAt(i + 3)) ? 2 : 1;
    r.add(i, i + 2 + n, 2, 16, BYTE, digitsAt(text, i + 2, n, 16, to));
    return i + 2 + n;
  }
  const n = c === 0x75 ? 4 : c === 0x55 ? 8 : 0;
  const cp = n > 0 ? digitsAt(text, i + 2, n, 16, to) : -1;
  if (cp >= 0 && scalar(cp)) {
    r.add(i, i + 2 + n, 2, 16, CODE_POINT, cp);
    return i + 2 + n;
  }
  // Any other character after a backslash is itself: `\8` is 8.
  if (c === 0x38 || c === 0x39) {
    r.add(i, i + 2, 1, 0, CODE_POINT, c);
    return i + 2;
  }
  return -1;
}

/** Reads the Unicode escape at `i` of a U&'…' literal whose escape character is at `i` (`\XXXX`, `\+XXXXXX`); or -1. */
function readUnicodeEscape(text: string, i: number, to: number, r: Reading): number {
  const six = text.charCodeAt(i + 1) === 0x2b;
  const cp = six ? digitsAt(text, i + 2, 6, 16, to) : digitsAt(text, i + 1, 4, 16, to);
  if (cp < 0 || !scalar(cp)) return -1;
  const end = six ? i + 8 : i + 5;
  r.add(i, end, six ? 2 : 1, 16, CODE_POINT, cp);
  return end;
}

/** `text` read with every escape read as what it spells; each other character as itself. */
function readEscapes(text: string): Reading {
  const r = new Reading();
  // U&'…' literals: [start of the literal, end of it, escape character].
  const literals: Array<[number, number, number]> = [];
  if (text.includes("&'")) {
    for (const m of text.matchAll(UNICODE_LITERAL)) literals.push([m.index + 3, m.index + 3 + m[1]!.length, m[2] === undefined ? 0x5c : m[2].charCodeAt(0)]);
  }
  let lit = 0;
  for (let i = 0; i < text.length;) {
    while (lit < literals.length && literals[lit]![1] <= i) lit++;
    const inside = lit < literals.length && literals[lit]![0] <= i;
    const c = text.charCodeAt(i);
    let next = -1;
    if (c === 0x27) {
      CONTINUATION.lastIndex = i;
      if (CONTINUATION.test(text)) { r.escaped = true; i = CONTINUATION.lastIndex; continue; }
    }
    // Inside a U&'…' literal its escape character starts a Unicode escape, elsewhere a backslash one.
    const esc = inside ? literals[lit]![2] : 0x5c;
    if (c === esc) {
      // A doubled escape character (`\\`) is the character itself: the one after it starts no escape.
      if (text.charCodeAt(i + 1) === esc) { r.add(i, i + 1, 0, 0, PLAIN, c); r.add(i + 1, i + 2, 0, 0, PLAIN, c); next = i + 2; }
      else next = inside ? readUnicodeEscape(text, i, literals[lit]![1], r) : readBackslash(text, i, text.length, r);
    }
    if (next >= 0) { i = next; continue; }
    const cp = text.codePointAt(i)!;
    const len = cp > 0xffff ? 2 : 1;
    r.add(i, i + len, 0, 0, PLAIN, cp);
    i += len;
  }
  return r;
}

/**
 * Masks card numbers spelt with SQL string escapes in `text` (a statement, or anything that may quote one: an error
 * message); returns `text` itself when there is none. `counted(n)`: n card numbers masked.
 */
export function maskSqlEscapes(text: string, style: MaskStyle, detect: DetectOptions, counted: (n: number) => void): string {
  if (!MAY_ESCAPE.test(text)) return text;
  const r = readEscapes(text);
  if (!r.escaped) return text;
  const reading = Buffer.from(r.bytes);
  const spans = findPans(reading, detect);
  if (spans.length === 0) return text;
  const merged = mergeSpans(spans);
  counted(merged.length);
  // New spellings of pieces, by piece: applied in order of the pieces, which is the order of the text.
  const respelt = new Map<number, string>();
  if (style.format === 'hmac') {
    const key = style.hmacKey;
    if (!key || key.length === 0) throw new Error('hmac mask format needs a key');
    for (const s of merged) {
      const first = r.piece[s.start]!;
      const last = r.piece[s.end - 1]!;
      respelt.set(first, hmacToken(key, digitsOf(reading, s.start, s.end)));
      for (let p = first + 1; p <= last; p++) respelt.set(p, '');
    }
  } else {
    const star = (k: number, fullWidth: boolean): void => {
      // A full-width digit from the bytes of its UTF-8: the last one's escape spells the last byte of `＊` (EF BC 8A).
      const p = r.piece[fullWidth ? k + 2 : k]!;
      respelt.set(p, r.respell(text, p, !fullWidth ? 0x2a : r.kind[p] === BYTE ? 0x8a : 0xff0a));
    };
    for (const s of spans) forEachHiddenDigit(reading, s, style.format, star, undefined);
  }
  let out = '';
  let at = 0;
  for (const p of [...respelt.keys()].sort((a, b) => a - b)) {
    out += text.slice(at, r.start[p]) + respelt.get(p)!;
    at = r.end[p]!;
  }
  return out + text.slice(at);
}
