/**
 * PAN detection over bytes (issue 4, deliverable 1). A candidate is 13–19 ASCII digits, optionally in groups
 * of 3 or more digits separated by single spaces or dashes (4-4-4-4, 4-6-5, 4-4-4-4-3, …), not part of a longer run of digits
 * nor followed by letters nor the tail of an identifier (after a word it is: `card4111…`; inIdentifier) (a run of at most 19
 * digits may be zero-padded: the PAN is what follows the zeros), Luhn-valid (ISO/IEC 7812-1 Annex B) and, unless `anyLuhn`, inside an issuer range
 * of a major card network (card-networks.ts).
 *
 * `anyLuhn` widens the major networks, it never narrows them: every PAN the default finds, it finds too.
 * Beyond the issuer ranges it does not take the fractional part of a decimal number (a run right after
 * `<digit>.`, as in `249.99999999999977`): printed floating-point numbers have 13–17 such digits and one in
 * ten is Luhn-valid. Such a run is still a PAN when it lies in a major issuer range.
 *
 * Full-width digits and Unicode spaces and dashes between groups (`４１１１…`, `4111 1111 …` with U+00A0) read as
 * their ASCII forms (wide-text.ts).
 *
 * A floating-point print of a PAN (`4.111111111111111e+15`, or with one digit fewer) is found too
 * (float-text.ts); its span covers the whole token. So is one printed with thousands separators
 * (`$4,111,111,111,111,111.00`: money, to_char; grouped-text.ts).
 *
 * Skip-ahead scan: any candidate spans at least 13 bytes, so only every 13th byte is examined; a digit
 * there (or a separator followed by a digit) is extended both ways to the maximal run of digits and single
 * separators, and that run is checked. Clean data costs about one comparison per 13 bytes.
 */
import { networkIndex } from './card-networks.js';
import { escapeLetter } from './escape-letter.js';
import { findExponentPans } from './float-text.js';
import { GROUP_CLASS, groupedAt } from './grouped-text.js';
import { afterRun, beforeRun, completeUtf8, readWide, wideAround, wideNextTo } from './wide-text.js';

export interface DetectOptions {
  /** Accept any Luhn-valid 13–19 digit number, not only the issuer ranges of the major networks. */
  anyLuhn?: boolean;
}

/** A PAN found at bytes [start, end) of the buffer (first to last digit, separators included). */
export interface PanSpan {
  start: number;
  end: number;
  /** Number of digits (13–19). */
  digits: number;
}

export const MIN_PAN_DIGITS = 13;
export const MAX_PAN_DIGITS = 19;

/** Byte classes: 1 digit, 2 separator (space, dash), 4 ASCII letter. */
export const BYTE_CLASS = new Uint8Array(256);
for (let b = 48; b <= 57; b++) BYTE_CLASS[b] = 1;
BYTE_CLASS[32] = 2;
BYTE_CLASS[45] = 2;
for (let b = 65; b <= 90; b++) BYTE_CLASS[b] = 4;
for (let b = 97; b <= 122; b++) BYTE_CLASS[b] = 4;

const STRIDE = MIN_PAN_DIGITS;
const grouped: PanSpan[] = [];
const NO_SPANS: PanSpan[] = Object.freeze([]) as unknown as PanSpan[];
/** Smallest digit group of a separated PAN. */
export const MIN_GROUP = 3;

// Scratch space reused across calls (single-threaded): digit values of a run and its group boundaries.
let digs = new Uint8Array(256);
let gStart = new Int32Array(64); // byte offset of each group's first digit
let gEnd = new Int32Array(64); // byte offset after each group's last digit
let gDig = new Int32Array(65); // index into digs of each group's first digit

/**
 * Finds PANs in `buf[from, to)`. With `openEnd`, `to` is not the end of the data (a stream chunk): a
 * candidate whose last digit is the byte before `to` is undecided (more digits may follow) and is not
 * reported. `exponents: false` skips the search for float prints, for values of a type that has none. Spans are in ascending start order and may overlap when a run of groups holds several
 * Luhn-valid candidates; callers mask every one of them.
 */
export function findPans(buf: Uint8Array, opts: DetectOptions = {}, from = 0, to = buf.length, openEnd = false, exponents = true): PanSpan[] {
  // A new array per call: emptying and copying a shared one (length = 0, slice) cost more than allocating it.
  const out: PanSpan[] = [];
  const anyLuhn = opts.anyLuhn === true;
  let p = from + STRIDE - 1;
  // Thousands-grouped prints are looked for at the same probes (grouped-text.ts), so the data is read once.
  let groupedEnd = from;
  // A full-width digit, or a Unicode space or dash by a digit, seen: the text is searched again read as ASCII.
  let wide = false;
  // A byte of 0x80 or more seen at a probe or next to a run (lastFindSawHighByte).
  let high = false;
  // A run of 13 or more digits ended by `=` or `^` seen (lastFindSawTrackMark).
  let track = false;
  while (p < to) {
    const b = buf[p]!;
    if (p >= groupedEnd && GROUP_CLASS[b] !== 0 && (GROUP_CLASS[b] === 2 || separatorNear(buf, p, from, to))) groupedEnd = groupedAt(buf, p, from, to, openEnd, grouped);
    const cls = BYTE_CLASS[b]!;
    let q: number;
    if (cls === 1) q = p;
    else if (cls === 2 && p + 1 < to && BYTE_CLASS[buf[p + 1]!] === 1) q = p + 1;
    else {
      // A byte ≥ 0x80 may be a full-width digit or a Unicode separator; so may the character after an ASCII space or
      // dash (`4111 1111 １２…`: the probe on the second space is all of that card number it sees).
      if (b >= 0x80) { high = true; if (!wide && !readingWide) wide = wideAround(buf, p, from, to); }
      else if (cls === 2 && p + 1 < to && buf[p + 1]! >= 0x80) { high = true; if (!wide && !readingWide) wide = wideAround(buf, p + 1, from, to); }
      p += STRIDE;
      continue;
    }
    // A run of ≥ 13 bytes holding q reaches q − 6 or q + 6; if neither is a digit or separator, skip the
    // extension (ids, amounts and times are short digit runs). A byte ≥ 0x80 may be a Unicode separator.
    const lo = q - 6;
    const hi = q + 6;
    if ((lo < from || ((BYTE_CLASS[buf[lo]!]! & 3) === 0 && buf[lo]! < 0x80)) && (hi >= to || ((BYTE_CLASS[buf[hi]!]! & 3) === 0 && buf[hi]! < 0x80))) {
      p += STRIDE;
      continue;
    }
    let s = q;
    let seps = 0;
    while (s > from) {
      const c = BYTE_CLASS[buf[s - 1]!];
      if (c === 1) s--;
      else if (c === 2 && s - 2 >= from && BYTE_CLASS[buf[s - 2]!] === 1) { s--; seps++; }
      else break;
    }
    let e = q + 1;
    while (e < to) {
      const c = BYTE_CLASS[buf[e]!];
      if (c === 1) e++;
      else if (c === 2 && e + 1 < to && BYTE_CLASS[buf[e + 1]!] === 1) { e++; seps++; }
      else break;
    }
    if (!high && highNextTo(buf, s, e, from, to)) high = true;
    if (!wide && !readingWide && high && wideNextTo(buf, s, e, from, to)) wide = true;
    // Digits, not bytes, must reach 13: a date like `2026-11-22 12` is 13 bytes but 10 digits.
    const digits = e - s - seps;
    if (digits >= MIN_PAN_DIGITS) {
      if (e < to && (buf[e] === 0x3d || buf[e] === 0x5e)) track = true;
      if (seps > 0) checkRun(buf, s, e, from, to, openEnd, anyLuhn, out);
      else if (digits <= MAX_PAN_DIGITS) checkPlain(buf, s, e, from, to, openEnd, anyLuhn, out);
    }
    p = e + STRIDE;
  }
  if (wide) {
    out.length = 0;
    grouped.length = 0;
    const spans = wideSpans(buf, opts, from, to, openEnd, exponents);
    sawHigh = true;
    sawTrack ||= track;
    return spans;
  }
  sawHigh = high;
  sawTrack = track;
  const found = out.length;
  if (exponents) findExponentPans(buf, from, to, openEnd, out);
  if (grouped.length > 0) {
    for (const g of grouped) out.push(g);
    grouped.length = 0;
  }
  if (out.length > 1 && out.length > found) out.sort((x, y) => x.start - y.start);
  // Most values hold no PAN: one shared, frozen empty array for them.
  return out.length === 0 ? NO_SPANS : out;
}

/**
 * Whether a thousands separator (`,` `.`) lies within 3 bytes of the digit at p: a grouped print holding p has one
 * there (groupedAt's first test, made here, small enough to be inlined: most probes that meet a digit meet no such
 * print, and the call cost as much as the rest of the probe).
 */
function separatorNear(buf: Uint8Array, p: number, from: number, to: number): boolean {
  const z = p + 4 > to ? to : p + 4;
  for (let k = p - 3 < from ? from : p - 3; k < z; k++) if (GROUP_CLASS[buf[k]!] === 2) return true;
  return false;
}

/** Whether the last findPans saw a byte of 0x80 or more where a card number's character could be (lastFindSawHighByte). */
let sawHigh = false;

/**
 * Whether the last findPans call (not one inside it) met a byte of 0x80 or more at a probe or next to a run of
 * digits and single spaces or dashes: where a card number written with characters beyond ASCII has one, in
 * UTF-8 (wide-text.ts) or in another encoding (LATIN1's no-break space A0 between groups, EUC-JP's full-width
 * digits A3B0…). A caller whose value findPans found nothing in and saw no such byte need read it in no other
 * encoding.
 */
export function lastFindSawHighByte(): boolean {
  return sawHigh;
}

let sawTrack = false;

/**
 * Whether the last findPans call met a run of 13 or more digits ended by `=` or `^`: where magnetic-stripe track
 * data has its PAN (`;<PAN>=…`, `%B<PAN>^…`: maskTrackData in pg-values.ts). A value without one holds no track data.
 */
export function lastFindSawTrackMark(): boolean {
  return sawTrack;
}

/** Whether a byte of 0x80 or more is where wideNextTo looks beside the run [s, e). */
function highNextTo(buf: Uint8Array, s: number, e: number, from: number, to: number): boolean {
  const l = beforeRun(buf, s, from);
  if (l >= from && buf[l]! >= 0x80) return true;
  const r = afterRun(buf, e, to);
  return r < to && buf[r]! >= 0x80;
}

/** Set while findPans searches a text read as ASCII (wideSpans), which holds no more Unicode digits or separators. */
let readingWide = false;

/**
 * PANs in buf[from, to) with its full-width digits and Unicode spaces and dashes read as ASCII (wide-text.ts),
 * as spans of the original bytes. Everything the plain search finds it finds too: other bytes read as themselves.
 */
function wideSpans(buf: Uint8Array, opts: DetectOptions, from: number, to: number, openEnd: boolean, exponents: boolean): PanSpan[] {
  // In a stream (`openEnd`) a character cut at the end may be a digit still: the run before it stays undecided.
  const r = readWide(buf, from, openEnd ? completeUtf8(buf, from, to) : to);
  readingWide = true;
  let spans: PanSpan[];
  try {
    spans = findPans(r.text, opts, 0, r.text.length, openEnd, exponents);
  } finally {
    readingWide = false;
  }
  return spans.map((x) => ({ start: r.locate(x.start)[0], end: r.locate(x.end - 1)[1], digits: x.digits }));
}

/** Fast path: a run of 13–19 digits without separators is one candidate, checked on the bytes directly. */
function checkPlain(buf: Uint8Array, s: number, e: number, from: number, to: number, openEnd: boolean, anyLuhn: boolean, out: PanSpan[]): void {
  if (s > from && BYTE_CLASS[buf[s - 1]!] === 4 && inIdentifier(buf, s, from)) return;
  if (e < to ? BYTE_CLASS[buf[e]!] === 4 : openEnd) return;
  let sum = 0;
  let dbl = false;
  for (let i = e - 1; i >= s; i--) {
    let d = buf[i]! - 48;
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  if (sum % 10 !== 0) return;
  if (!anyLuhn || decimalFraction(buf, s, from)) {
    // No issuer range starts with 0: leading zeros are padding (a PAN kept zero-padded to 19 digits, lpad(pan,
    // 19, '0'), a fixed-width field). Luhn is blind to them, so the digits after them are checked as the PAN.
    // Not in a decimal fraction, whose zeros are digits (414.0687…).
    let z = s;
    if (!decimalFraction(buf, s, from)) while (buf[z] === 0x30 && e - z > MIN_PAN_DIGITS) z++;
    if (networkIndex(prefix6(buf, z), e - z) < 0) return;
    out.push({ start: z, end: e, digits: e - z });
    return;
  }
  out.push({ start: s, end: e, digits: e - s });
}

/** The first six digits from `at` as a number (an issuer range's prefix). */
function prefix6(buf: Uint8Array, at: number): number {
  return (buf[at]! - 48) * 100000 + (buf[at + 1]! - 48) * 10000 + (buf[at + 2]! - 48) * 1000 + (buf[at + 3]! - 48) * 100 + (buf[at + 4]! - 48) * 10 + (buf[at + 5]! - 48);
}

/** Checks the maximal run [s, e) (starts and ends with a digit) for candidates; appends found spans. */
function checkRun(buf: Uint8Array, s: number, e: number, from: number, to: number, openEnd: boolean, anyLuhn: boolean, out: PanSpan[]): void {
  if (e - s > digs.length) digs = new Uint8Array(2 * (e - s));
  let k = 0; // groups
  let nd = 0; // digits
  let inGroup = false;
  for (let i = s; i < e; i++) {
    const b = buf[i]!;
    if (b >= 48 && b <= 57) {
      if (!inGroup) {
        if (k + 1 >= gStart.length) growGroups();
        gStart[k] = i;
        gDig[k] = nd;
        inGroup = true;
      }
      digs[nd++] = b - 48;
    } else if (inGroup) {
      gEnd[k++] = i;
      inGroup = false;
    }
  }
  gEnd[k] = e;
  k++;
  gDig[k] = nd;
  // Letters glued to the run's end make its last group part of a word or identifier, not a PAN; before it, only
  // an identifier's or hex number's letters do (inIdentifier: `card4111 …` is a card number after a word).
  const leftLetter = s > from && BYTE_CLASS[buf[s - 1]!] === 4 && inIdentifier(buf, s, from);
  const rightOpen = e < to ? BYTE_CLASS[buf[e]!] === 4 : openEnd;
  // The first group of a run after `<digit>.` is a decimal fraction: any-Luhn candidates starting there
  // must be in a major issuer range, like the default's.
  const fraction = anyLuhn && decimalFraction(buf, s, from);
  for (let i = leftLetter ? 1 : 0; i < k; i++) {
    const wide = anyLuhn && !(i === 0 && fraction);
    let best = -1;
    for (let j = i; j < k; j++) {
      // Card layouts group digits by 3 or more (4-4-4-4, 4-6-5, 4-3-3-3); a group of 1–2 digits is a
      // country code, area code or list item, never part of a printed PAN.
      if (gDig[j + 1]! - gDig[j]! < MIN_GROUP) break;
      const n = gDig[j + 1]! - gDig[i]!;
      if (n > MAX_PAN_DIGITS) break;
      if (n < MIN_PAN_DIGITS) continue;
      if (j === k - 1 && rightOpen) break;
      if (isPan(gDig[i]!, n, wide)) best = j;
    }
    if (best >= 0 && !inUuid(buf, gStart[i]!, gEnd[best]!, from, to)) out.push({ start: gStart[i]!, end: gEnd[best]!, digits: gDig[best + 1]! - gDig[i]! });
    else if (best < 0 && digs[gDig[i]!] === 0 && !(i === 0 && decimalFraction(buf, s, from)) && !(i === k - 1 && rightOpen)) zeroPadded(i, out);
  }
}

const UUID_RE = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/**
 * True when [start, end) lies inside an RFC 9562 UUID (8-4-4-4-12 hex digits): a UUID whose first groups
 * happen to be decimal can look like a dashed PAN. Checked only for candidates already found, so rare.
 */
function inUuid(buf: Uint8Array, start: number, end: number, from: number, to: number): boolean {
  const hexOrDash = (b: number) => b === 45 || (b >= 48 && b <= 57) || ((b | 0x20) >= 97 && (b | 0x20) <= 102);
  let a = start;
  while (a > from && start - a < 40 && hexOrDash(buf[a - 1]!)) a--;
  let z = end;
  while (z < to && z - end < 40 && hexOrDash(buf[z]!)) z++;
  if (z - a < 36) return false;
  const token = Buffer.from(buf.buffer, buf.byteOffset + a, z - a).toString('latin1');
  for (const m of token.matchAll(UUID_RE)) if (a + m.index <= start && a + m.index + 36 >= end) return true;
  return false;
}

/**
 * True when the run starting at `s` is the fractional part of a decimal number: right after `<digit>.`
 * (`249.99999999999977`). Not after a letter and a full stop (`paid.4111…`) nor a bare `.`; a comma is
 * not taken as a decimal mark (it separates CSV fields). Before `from` nothing is known: not a fraction.
 */
function decimalFraction(buf: Uint8Array, s: number, from: number): boolean {
  return s - 2 >= from && buf[s - 1] === 0x2e && BYTE_CLASS[buf[s - 2]!] === 1;
}

/** The longest word a card number glued after it is looked for behind (`cardnumber4111…`); a longer one is an identifier. */
export const MAX_GLUED_WORD = 32;

/**
 * Whether the run at `s`, right after a letter, is the tail of an identifier or a hex number rather than a card
 * number glued after a word (`card4111…`, `PAN:x4111…`, `cc4111…`: masked). An identifier: the letters follow a
 * digit (`GB29NWBK6016…`, an IBAN; `0x4111…`; a digest's `3f9a4111…`), or are `\x…` (a bytea in hex: its digits
 * are hex, and starred it would not decode), or are more than MAX_GLUED_WORD. Neither is the ISO/IEC 7813
 * track 1 format code (`%B4111…`) nor the letter of a backslash escape (`\n4111…`, escapeLetter). The first
 * letter of the word at `from` (the start of a value, or of what a stream kept before the run) starts a word.
 */
function inIdentifier(buf: Uint8Array, s: number, from: number): boolean {
  if (track1Start(buf, s, from) || escapeLetter(buf, s, from)) return false;
  let w = s - 1;
  while (w > from && BYTE_CLASS[buf[w - 1]!] === 4) {
    if (s - w >= MAX_GLUED_WORD) return true;
    w--;
  }
  if (w === from) return false;
  const before = buf[w - 1]!;
  return BYTE_CLASS[before] === 1 || (before === 0x5c && (buf[w]! | 0x20) === 0x78);
}

/** `%B<PAN>^…` (ISO/IEC 7813 track 1): the format code `B` glued to the PAN is not a word. */
function track1Start(buf: Uint8Array, s: number, from: number): boolean {
  return buf[s - 1] === 0x42 && (s - 1 === from || buf[s - 2] === 0x25);
}

/** Group `g` of the run checkRun read, alone and zero-padded (as in checkPlain): the PAN after its zeros, if any. */
function zeroPadded(g: number, out: PanSpan[]): void {
  const d0 = gDig[g]!;
  const d1 = gDig[g + 1]!;
  if (d1 - d0 < MIN_PAN_DIGITS || d1 - d0 > MAX_PAN_DIGITS) return;
  let off = d0;
  while (digs[off] === 0 && d1 - off > MIN_PAN_DIGITS) off++;
  if (off > d0 && isPan(off, d1 - off, false)) out.push({ start: gStart[g]! + (off - d0), end: gEnd[g]!, digits: d1 - off });
}

function growGroups(): void {
  const n = gStart.length * 2;
  const a = new Int32Array(n);
  a.set(gStart);
  gStart = a;
  const b = new Int32Array(n);
  b.set(gEnd);
  gEnd = b;
  const c = new Int32Array(n + 1);
  c.set(gDig);
  gDig = c;
}

function isPan(off: number, n: number, anyLuhn: boolean): boolean {
  let sum = 0;
  let dbl = false;
  for (let i = off + n - 1; i >= off; i--) {
    let d = digs[i]!;
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  if (sum % 10 !== 0) return false;
  if (anyLuhn) return true;
  const p6 = digs[off]! * 100000 + digs[off + 1]! * 10000 + digs[off + 2]! * 1000 + digs[off + 3]! * 100 + digs[off + 4]! * 10 + digs[off + 5]!;
  return networkIndex(p6, n) >= 0;
}

/** True when `buf` holds at least one PAN (convenience for checks and tests). */
export function containsPan(buf: Uint8Array, opts: DetectOptions = {}): boolean {
  return findPans(buf, opts).length > 0;
}
