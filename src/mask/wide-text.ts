/**
 * Card numbers written with Unicode digits and separators (pan-detector.ts finds ASCII ones): full-width digits
 * (U+FF10–FF19, what a Japanese or Chinese input method types: `４１１１…`), and groups split by a no-break, thin,
 * figure or ideographic space or a Unicode dash instead of an ASCII space or `-` (`4111 1111 …` with U+00A0, as
 * word processors, spreadsheets and some locales' number formats write them). Their NFKC form is the ASCII card
 * number, so they are card numbers as much as it is.
 *
 * findPans notices such a character at one of its probes, next to an ASCII digit run it extends or past an ASCII
 * space or dash there (wideNextTo: a card number mixing full-width and ASCII digits is seen at any offset), and then
 * searches the text once more with each of them read as its ASCII digit, space or dash (wideSpans); the spans
 * found are mapped back to the original bytes. A full-width digit is masked as a full-width asterisk (U+FF0A,
 * mask-format.ts), so the value keeps its length and stays valid UTF-8. Other scripts' digits (Arabic-Indic,
 * Devanagari, …) are not read.
 */
import { firstAtLeast } from '../sorted-index.js';

/** What one UTF-8 sequence is: 0 nothing of a card number, else its ASCII reading (a digit, space or dash). */
export interface WideUnit {
  /** The ASCII byte it reads as (0x30–0x39, 0x20 or 0x2d), or 0. */
  ascii: number;
  /** Its length in bytes (1–3). */
  len: number;
}

// Shared results: the reader runs per byte and allocates nothing.
const NONE: WideUnit = { ascii: 0, len: 1 };
const NBSP: WideUnit = { ascii: 0x20, len: 2 };
const SPACE: WideUnit = { ascii: 0x20, len: 3 };
const DASH: WideUnit = { ascii: 0x2d, len: 3 };
const DIGIT: readonly WideUnit[] = Array.from({ length: 10 }, (_, d) => ({ ascii: 0x30 + d, len: 3 }));

/**
 * The reading of the UTF-8 sequence that starts at `i` (before `to`): a full-width digit, a Unicode space
 * (U+00A0, U+2000–200A, U+202F, U+205F, U+3000; and U+FFFD, a character that could not be read) or dash
 * (U+2010–2013, U+2212, U+FE63, U+FF0D).
 */
export function wideUnitAt(buf: Uint8Array, i: number, to: number): WideUnit {
  const b = buf[i]!;
  if (b === 0xc2) return i + 1 < to && buf[i + 1] === 0xa0 ? NBSP : NONE;
  if (i + 2 >= to) return NONE;
  const c1 = buf[i + 1]!;
  const c2 = buf[i + 2]!;
  if (b === 0xef) {
    if (c1 === 0xbc) {
      if (c2 >= 0x90 && c2 <= 0x99) return DIGIT[c2 - 0x90]!;
      if (c2 === 0x8d) return DASH;
    } else if (c1 === 0xb9 && c2 === 0xa3) return DASH;
    // U+FFFD, what a byte that did not decode became (a client's LATIN1 no-break space read as UTF-8 for the log):
    // it may have been a separator, so it reads as one (fail closed).
    else if (c1 === 0xbf && c2 === 0xbd) return SPACE;
    return NONE;
  }
  if (b === 0xe2) {
    if (c1 === 0x80) {
      if ((c2 >= 0x80 && c2 <= 0x8a) || c2 === 0xaf) return SPACE;
      if (c2 >= 0x90 && c2 <= 0x93) return DASH;
    } else if (c1 === 0x81 && c2 === 0x9f) return SPACE;
    else if (c1 === 0x88 && c2 === 0x92) return DASH;
    return NONE;
  }
  if (b === 0xe3 && c1 === 0x80 && c2 === 0x80) return SPACE;
  return NONE;
}

/**
 * Whether the byte at `p` (≥ 0x80) belongs to a full-width digit, or to a Unicode space or dash between two digits:
 * then the text is searched again read as ASCII (wideSpans). A few byte reads; most non-ASCII text answers no
 * (`12 €` or `prix : 12` with no-break spaces too).
 */
export function wideAround(buf: Uint8Array, p: number, from: number, to: number): boolean {
  let i = p;
  while (i > from && p - i < 3 && (buf[i]! & 0xc0) === 0x80) i--;
  const u = wideUnitAt(buf, i, to);
  if (u.ascii === 0) return false;
  if (u.ascii >= 0x30) return true;
  const next = i + u.len;
  const digitAfter = next < to && ((buf[next]! >= 0x30 && buf[next]! <= 0x39) || buf[next] === 0xef);
  const l = buf[i - 1]!;
  const digitBefore = i > from && ((l >= 0x30 && l <= 0x39) || (l >= 0x90 && l <= 0x99 && i - 3 >= from && buf[i - 2] === 0xbc && buf[i - 3] === 0xef));
  return digitAfter && digitBefore;
}

/**
 * Whether the ASCII run of digits and single spaces or dashes [s, e) that findPans extended goes on in Unicode: the
 * character next to it on either side, or past one ASCII space or dash there, is a full-width digit, or a Unicode
 * space or dash between digits (wideAround). The run stops before a separator not followed by an ASCII digit, so in
 * `4111 1111 １２147379` the run `4111 1111` ends at the space before `１`: the character past it decides.
 */
export function wideNextTo(buf: Uint8Array, s: number, e: number, from: number, to: number): boolean {
  const l = beforeRun(buf, s, from);
  if (l >= from && buf[l]! >= 0x80 && wideAround(buf, l, from, to)) return true;
  const r = afterRun(buf, e, to);
  return r < to && buf[r]! >= 0x80 && wideAround(buf, r, from, to);
}

/** The byte that decides whether the run starting at `s` goes on to its left: the one before it, or past one ASCII space or dash there. */
export function beforeRun(buf: Uint8Array, s: number, from: number): number {
  const l = s - 1;
  return l > from && (buf[l] === 0x20 || buf[l] === 0x2d) ? l - 1 : l;
}

/** beforeRun on the right of a run ending before `e`. */
export function afterRun(buf: Uint8Array, e: number, to: number): number {
  return e + 1 < to && (buf[e] === 0x20 || buf[e] === 0x2d) ? e + 1 : e;
}

/** A text read as ASCII (`text`), and where its bytes are in the original. */
export interface WideReading {
  text: Buffer;
  /** The original bytes [start, end) that text[k] reads. */
  locate(k: number): [number, number];
}

/**
 * buf[from, to) with every full-width digit, Unicode space and dash written as its ASCII byte. The bytes read as
 * themselves are copied run by run, and only the characters read otherwise are noted (where each is in the
 * text and in the original): a map of every byte cost nine bytes per byte of a value of hundreds of megabytes
 * (a client's `repeat(…)` after a few full-width digits) and a per-byte loop of seconds.
 */
export function readWide(buf: Uint8Array, from: number, to: number): WideReading {
  const text = Buffer.allocUnsafe(to - from);
  // For each character read otherwise: its offset in text, its start in the original, its length there.
  const at: number[] = [];
  const orig: number[] = [];
  const lens: number[] = [];
  let k = 0;
  let run = from;
  for (let i = from; i < to;) {
    if (buf[i]! < 0xc2) { i++; continue; }
    const u = wideUnitAt(buf, i, to);
    if (u.ascii === 0) { i++; continue; }
    text.set(buf.subarray(run, i), k);
    k += i - run;
    at.push(k);
    orig.push(i);
    lens.push(u.len);
    text[k++] = u.ascii;
    i += u.len;
    run = i;
  }
  text.set(buf.subarray(run, to), k);
  k += to - run;
  const locate = (t: number): [number, number] => {
    // The last character read otherwise at or before t: bytes after it read as themselves.
    const j = firstAtLeast(at, t + 1) - 1;
    if (j < 0) return [from + t, from + t + 1];
    if (at[j] === t) return [orig[j]!, orig[j]! + lens[j]!];
    const start = orig[j]! + lens[j]! + (t - at[j]! - 1);
    return [start, start + 1];
  };
  return { text: text.subarray(0, k), locate };
}

/** `to`, or the start of an incomplete UTF-8 sequence that ends buf[from, to). */
export function completeUtf8(buf: Uint8Array, from: number, to: number): number {
  for (let k = 1; k <= 3 && to - k >= from; k++) {
    const b = buf[to - k]!;
    if (b < 0x80) return to;
    if (b >= 0xc0) return (b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2) > k ? to - k : to;
  }
  return to;
}
