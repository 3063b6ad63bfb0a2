/**
 * Card numbers printed as floating-point numbers in exponent form. A PAN kept in a `double precision`
 * column (or cast to one) is printed by PostgreSQL, C's `%g`, JavaScript and Python as
 * `4.111111111111111e+15`: the digit run the detector looks for is broken by the point and the exponent.
 *
 * A token is `<digits>[.<digits>]e+<1–2 digits>` (`E` too), not glued to a letter, digit or point
 * before it nor to a letter after it, whose value is a whole number of 13–19 digits. It is a PAN when
 * that number is one (Luhn-valid, in a major issuer range), or when the token shows all but its last
 * digit: PostgreSQL with `extra_float_digits = 0` prints 15 significant digits (`4.11111111111111e+15`),
 * and the missing 16th digit of a PAN is its Luhn check digit, so such a print gives the card number away
 * too. In free text exponent tokens always need an issuer range, also with `anyLuhn`: printed
 * measurements in exponent form are common and one in ten is Luhn-valid (the same reasoning as for
 * decimal fractions in pan-detector.ts).
 *
 * The span covers the whole token, exponent included, so a mask keeps the shape (`*.*************11e+15`
 * under `last4`: its last four digits are the mantissa's last two and the exponent's) and a JSON caller
 * can quote it whole.
 */
import { networkIndex } from './card-networks.js';
import type { PanSpan } from './pan-detector.js';

const PLUS = 0x2b;
const DOT = 0x2e;

const isDigit = (b: number | undefined): boolean => b !== undefined && b >= 48 && b <= 57;
const isLetter = (b: number | undefined): boolean => b !== undefined && (b | 0x20) >= 97 && (b | 0x20) <= 122;
/** A byte before a token that makes it part of something longer: digit, ASCII letter, point (`v1.4.1e+15`). */
const glues = (b: number | undefined): boolean => isDigit(b) || b === DOT || isLetter(b);

/** Appends to `out` the exponent-form PANs in buf[from, to); with `openEnd`, a token reaching `to` is undecided. */
export function findExponentPans(buf: Uint8Array, from: number, to: number, openEnd: boolean, out: PanSpan[]): void {
  // The shortest token is `5e+15`: its `+` is at least two bytes in and is followed by a digit.
  for (let p = nextPlus(buf, from + 2, to - 1); p >= 0; p = nextPlus(buf, p + 1, to - 1)) {
    const s = exponentSpan(buf, p, from, to, openEnd, false);
    if (s) out.push(s);
  }
}

const indexOf = Buffer.prototype.indexOf;

/**
 * Built-in types whose text output never has an exponent (integers, numeric, bool, dates and times, uuid,
 * money, bytea, network addresses): their values need no search for one. Everything else may hold a float
 * print (text, arrays, records, JSON, geometric and unknown types).
 */
const NO_EXPONENT: ReadonlySet<number> = new Set([16, 17, 20, 21, 23, 26, 650, 790, 829, 869, 1082, 1083, 1114, 1184, 1186, 1266, 1700, 2950]);

/** Whether a text value of type `oid` may contain a float print. */
export function mayPrintExponent(oid: number): boolean {
  return !NO_EXPONENT.has(oid);
}

/** The first `+` in buf[i, to), or −1: a loop over a short range, a native search over a long one. */
function nextPlus(buf: Uint8Array, i: number, to: number): number {
  if (to - i <= 48) {
    for (; i < to; i++) if (buf[i] === PLUS) return i;
    return -1;
  }
  const k = indexOf.call(buf, PLUS, i) as number;
  return k < to ? k : -1;
}

/** The PAN span of the token whose exponent sign is at `p`, if it is one. */
function exponentSpan(buf: Uint8Array, p: number, from: number, to: number, openEnd: boolean, anyLuhn: boolean): PanSpan | undefined {
  const e = p - 1;
  if (e <= from || ((buf[e]! | 0x20) !== 0x65)) return undefined;
  let q = p + 1;
  while (q < to && isDigit(buf[q])) q++;
  const expLen = q - p - 1;
  // e+100 and beyond is no card number; a token that may still grow is decided by the next bytes.
  // After it only a letter makes it part of a word; a point may end the sentence.
  if (expLen === 0 || expLen > 2 || (q === to && openEnd) || (q < to && isLetter(buf[q]))) return undefined;
  const exp = expLen === 1 ? buf[p + 1]! - 48 : (buf[p + 1]! - 48) * 10 + buf[p + 2]! - 48;
  // The mantissa: digits, optionally a point and more digits, right before the `e`.
  let m = e;
  while (m > from && isDigit(buf[m - 1])) m--;
  let intStart = m;
  let intEnd = e;
  let fracStart = e;
  if (m > from + 1 && buf[m - 1] === DOT && isDigit(buf[m - 2])) {
    fracStart = m;
    intEnd = m - 1;
    intStart = intEnd;
    while (intStart > from && isDigit(buf[intStart - 1])) intStart--;
  }
  if (intStart === intEnd || intEnd - intStart + (e - fracStart) > 40) return undefined;
  if (intStart > from && glues(buf[intStart - 1])) return undefined;
  if (!mantissaIsPan(buf, intStart, intEnd, fracStart, e, exp, anyLuhn)) return undefined;
  let digits = 0;
  for (let i = intStart; i < q; i++) if (isDigit(buf[i])) digits++;
  return { start: intStart, end: q, digits };
}

/** Whether `int.frac × 10^exp` is a PAN, or shows all of one but its check digit. */
function mantissaIsPan(buf: Uint8Array, intStart: number, intEnd: number, fracStart: number, fracEnd: number, exp: number, anyLuhn: boolean): boolean {
  const d: number[] = [];
  for (let i = intStart; i < intEnd; i++) d.push(buf[i]! - 48);
  for (let i = fracStart; i < fracEnd; i++) d.push(buf[i]! - 48);
  let n = intEnd - intStart + exp; // digits of the whole number
  let lead = 0;
  while (lead < d.length && d[lead] === 0) lead++;
  if (lead === d.length) return false;
  const sig = d.slice(lead);
  n -= lead;
  if (n < 13 || n > 19) return false;
  for (let i = n; i < sig.length; i++) if (sig[i] !== 0) return false; // not a whole number
  if (sig.length > n) sig.length = n;
  const shown = sig.length;
  while (sig.length < n) sig.push(0);
  if (isIssuedPan(sig, anyLuhn)) return true;
  if (shown !== n - 1) return false;
  // One digit short: the print was rounded to n − 1 significant digits; Luhn restores the last one.
  sig[n - 1] = checkDigit(sig, n - 1);
  return isIssuedPan(sig, anyLuhn);
}

function luhnSum(d: readonly number[], n: number, doubleLast: boolean): number {
  let sum = 0;
  let dbl = doubleLast;
  for (let i = n - 1; i >= 0; i--) {
    let x = d[i]!;
    if (dbl) {
      x *= 2;
      if (x > 9) x -= 9;
    }
    sum += x;
    dbl = !dbl;
  }
  return sum;
}

/** The digit that makes d[0, n) followed by it Luhn-valid. */
function checkDigit(d: readonly number[], n: number): number {
  return (10 - (luhnSum(d, n, true) % 10)) % 10;
}

function isIssuedPan(d: readonly number[], anyLuhn: boolean): boolean {
  if (luhnSum(d, d.length, false) % 10 !== 0) return false;
  if (anyLuhn) return true;
  const p6 = d[0]! * 100000 + d[1]! * 10000 + d[2]! * 1000 + d[3]! * 100 + d[4]! * 10 + d[5]!;
  return networkIndex(p6, d.length) >= 0;
}

/**
 * Whether the whole of `v`, the text of a value typed float4/float8 (optionally signed), is an exponent-form
 * PAN. The type makes the reading certain, so here `anyLuhn` widens the check like everywhere else.
 */
export function floatTokenIsPan(v: Uint8Array, anyLuhn: boolean): boolean {
  const p = v.indexOf(PLUS);
  if (p < 0) return false;
  const s = exponentSpan(v, p, 0, v.length, false, anyLuhn);
  return s !== undefined && s.end === v.length && (s.start === 0 || (s.start === 1 && v[0] === 0x2d));
}

/**
 * For a stream whose chunk ends in `buf`: where a trailing token that may still become an exponent-form
 * PAN starts (`4.`, `4.1111`, `4.1111e`, `4.1111e+`, `4.1111e+1`, `4.1111e+15`), or −1. The caller holds
 * from there, so what it sends of a float print never depends on where the chunk ended. A plain digit run
 * is left to the detector's own hold.
 */
export function exponentTail(buf: Uint8Array): number {
  const n = buf.length;
  let k = n;
  while (k > 0 && isDigit(buf[k - 1]) && n - k < 3) k--;
  let mEnd = n; // end of the mantissa
  let exponent = false;
  if (n - k < 3 && k > 1 && buf[k - 1] === PLUS && (buf[k - 2]! | 0x20) === 0x65) {
    mEnd = k - 2;
    exponent = true;
  } else if (n > 0 && (buf[n - 1]! | 0x20) === 0x65) {
    mEnd = n - 1;
    exponent = true;
  }
  let m = mEnd;
  while (m > 0 && isDigit(buf[m - 1])) m--;
  let point = false;
  if (m > 1 && buf[m - 1] === DOT && isDigit(buf[m - 2])) {
    point = true;
    m--;
    while (m > 0 && isDigit(buf[m - 1])) m--;
  }
  if (m === mEnd || (!exponent && !point)) return -1;
  // Bounded like the detector's hold (a stream holds at most 41 bytes), and not part of a longer word.
  if (n - m > 41 || (m > 0 && glues(buf[m - 1]))) return -1;
  return m;
}
