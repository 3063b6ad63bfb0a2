/**
 * Card numbers printed as floating-point numbers in exponent form. A PAN kept in a `double precision`
 * column (or cast to one) is printed by PostgreSQL, C's `%g`, JavaScript and Python as
 * `4.111111111111111e+15`: the digit run the detector looks for is broken by the point and the exponent.
 *
 * A token is `<digits>[.<digits>]e<exponent>` (`E` too), not glued to a letter, digit or point before it
 * nor to a letter after it, whose value is a whole number of 13–19 digits. The exponent is `+` and one or
 * two digits, or three with a leading zero (`e+015`: the MSVC runtime before 2015), or has no sign at all
 * (`4.111111111111111E15`: Java's and Rust's prints, and PostgreSQL's json type, which keeps what was
 * typed); a token without a sign counts from 13 bytes on (see findExponentPans).
 *
 * It is a PAN when that number is one (Luhn-valid, in a major issuer range), or when the token shows all
 * but its last digit: PostgreSQL with `extra_float_digits = 0` (the default before PostgreSQL 12), SQLite
 * and .NET's G15 print 15 significant digits (`%.15g`: `4.11111111111111e+15`), and the missing 16th digit
 * of a PAN is its Luhn check digit, so such a print gives the card number away too. `%g` drops trailing
 * zeros, so a 15th digit 0 is not printed (`4.1111111111111e+15` for 4111111111111103, one card in ten):
 * 12 to 14 shown digits of a 16-digit number are read as the first 15 with the missing ones zero. Fewer
 * (`4.5e+15`) would take ordinary numbers for cards; a PAN printed so has 4 or more zeros in a row there.
 * For the same reason no print with fewer than 8 significant digits, or standing for a number that ends
 * in more than 6 zeros, is taken (`6.059e+14` is 605900000000000, Luhn-valid in an issuer range).
 * In free text exponent tokens always need an issuer range, also with `anyLuhn`: printed
 * measurements in exponent form are common and one in ten is Luhn-valid (the same reasoning as for
 * decimal fractions in pan-detector.ts).
 *
 * The span covers the whole token, exponent included, so a mask keeps the shape (`*.*************11e+15`
 * under `last4`: its last four digits are the mantissa's last two and the exponent's) and a JSON caller
 * can quote it whole.
 */
import { luhnValid, networkIndex } from './card-networks.js';
import { escapeLetter } from './escape-letter.js';
import type { PanSpan } from './pan-detector.js';

const PLUS = 0x2b;
const DOT = 0x2e;

const isDigit = (b: number | undefined): boolean => b !== undefined && b >= 48 && b <= 57;
const isLetter = (b: number | undefined): boolean => b !== undefined && (b | 0x20) >= 97 && (b | 0x20) <= 122;
/** A byte before a token that makes it part of something longer: digit, ASCII letter, point (`v1.4.1e+15`). */
const glues = (b: number | undefined): boolean => isDigit(b) || b === DOT || isLetter(b);

/** Appends to `out` the exponent-form PANs in buf[from, to); with `openEnd`, a token reaching `to` is undecided. */
export function findExponentPans(buf: Uint8Array, from: number, to: number, openEnd: boolean, out: PanSpan[]): void {
  const first = out.length;
  // Every token taken is MIN_TOKEN bytes or more of IN_TOKEN: so, like the digit runs in pan-detector.ts, only every
  // MIN_TOKEN-th byte is looked at until one is such a byte, and then the run of them around it is searched for a
  // `+` after an `e` (exponentSpan decides) or, without a sign, an `e` between digits. The `e` of a token without a
  // sign is a letter like any other, frequent in text: such a token counts only from MIN_UNSIGNED bytes on.
  let p = from + MIN_TOKEN - 1;
  while (p < to) {
    if (IN_TOKEN[buf[p]!] === 0) {
      p += MIN_TOKEN;
      continue;
    }
    let a = p;
    while (a > from && IN_TOKEN[buf[a - 1]!] === 1) a--;
    let z = p + 1;
    while (z < to && IN_TOKEN[buf[z]!] === 1) z++;
    if (z - a >= MIN_TOKEN) {
      for (let i = a + 1; i < z - 1; i++) {
        const b = buf[i]!;
        if (b === PLUS) {
          const s = exponentSpan(buf, i - 1, i + 1, from, to, openEnd, false);
          if (s) out.push(s);
        } else if ((b | 0x20) === 0x65 && isDigit(buf[i + 1]) && isDigit(buf[i - 1])) {
          const s = exponentSpan(buf, i, i + 1, from, to, openEnd, false);
          if (s && s.end - s.start >= MIN_UNSIGNED) out.push(s);
        }
      }
    }
    p = z + MIN_TOKEN;
  }
  if (out.length > first + 1) {
    const mine = out.splice(first).sort((x, y) => x.start - y.start);
    out.push(...mine);
  }
}

/**
 * The bytes of a token (digits, point, `e`, `E`, `+`), and the fewest a token taken has: 8 significant digits
 * (MIN_SHOWN), its `e` and `+` and an exponent digit (`41111111e+5`).
 */
const IN_TOKEN = new Uint8Array(256);
for (const c of '0123456789.eE+') IN_TOKEN[c.charCodeAt(0)] = 1;
const MIN_TOKEN = 11;

/** The fewest bytes of a token without an exponent sign (`4.111111111111111E15`). */
const MIN_UNSIGNED = 13;
/** Exponent digits (`e+015`), and the longest token taken (what a stream may hold of one, exponentTail). */
const MAX_EXP_DIGITS = 3;
const MAX_TOKEN = 41;

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

/** The PAN span of the token whose `e` is at `e` and whose exponent digits start at `x`, if it is one. */
function exponentSpan(buf: Uint8Array, e: number, x: number, from: number, to: number, openEnd: boolean, anyLuhn: boolean): PanSpan | undefined {
  if (e <= from || ((buf[e]! | 0x20) !== 0x65)) return undefined;
  let q = x;
  while (q < to && isDigit(buf[q])) q++;
  const expLen = q - x;
  // e+100 and beyond is no card number (e+015 is 15); a token that may still grow is decided by the next
  // bytes. After it only a letter makes it part of a word; a point may end the sentence.
  if (expLen === 0 || expLen > MAX_EXP_DIGITS || (expLen === 3 && buf[x] !== 0x30) || (q === to && openEnd) || (q < to && isLetter(buf[q]))) return undefined;
  let exp = 0;
  for (let i = x; i < q; i++) exp = exp * 10 + buf[i]! - 48;
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
  if (intStart === intEnd || q - intStart > MAX_TOKEN) return undefined;
  if (intStart > from && glues(buf[intStart - 1]) && !escapeLetter(buf, intStart, from)) return undefined;
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
  // A short print (`6.059e+14`, C's default `%e`/`%g`) is a measurement, not a card number with a long run
  // of zeros at its end, even when that whole number passes Luhn in an issuer range.
  if (shown < MIN_SHOWN || n - shown > MAX_ZEROS) return false;
  while (sig.length < n) sig.push(0);
  if (isIssuedPan(sig, anyLuhn)) return true;
  // One digit short: the print was rounded to n − 1 significant digits; Luhn restores the last one. A
  // `%.15g` print of 16 digits may show fewer, its trailing zeros dropped (sig is padded with them).
  if (shown !== n - 1 && !(n - 1 === G_DIGITS && shown >= MIN_G_SHOWN && shown < n - 1)) return false;
  sig[n - 1] = checkDigit(sig, n - 1);
  return isIssuedPan(sig, anyLuhn);
}

/** Significant digits of `%.15g` (DBL_DIG), and the fewest of them a print must show to be read so. */
const G_DIGITS = 15;
const MIN_G_SHOWN = 12;
/**
 * The fewest significant digits of any print taken, and the most zeros a card number may end in for one:
 * printf's default precision (`%e`: 7 digits, `%g`: 6) never reads as a card; a card number ending in 7 or
 * more zeros (one in ten million) is not looked for.
 */
const MIN_SHOWN = 8;
const MAX_ZEROS = 6;

/** The digit that makes d[0, n) followed by it Luhn-valid (d[n] is overwritten). */
function checkDigit(d: number[], n: number): number {
  for (let c = 0; c < 9; c++) {
    d[n] = c;
    if (luhnValid((i) => d[i]!, n + 1)) return c;
  }
  return 9;
}

function isIssuedPan(d: readonly number[], anyLuhn: boolean): boolean {
  if (!luhnValid((i) => d[i]!, d.length)) return false;
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
  const s = exponentSpan(v, p - 1, p + 1, 0, v.length, false, anyLuhn);
  return s !== undefined && s.end === v.length && (s.start === 0 || (s.start === 1 && v[0] === 0x2d));
}

/**
 * For a stream whose chunk ends in `buf`: where a trailing token that may still become an exponent-form
 * PAN starts (`4.`, `4.1111`, `4.1111e`, `4.1111e+`, `4.1111e+1`, `4.1111e+15`, `4.1111e1`, `4111e+01`), or
 * −1. The caller holds from there, so what it sends of a float print never depends on where the chunk
 * ended. A plain digit run is left to the detector's own hold.
 */
export function exponentTail(buf: Uint8Array): number {
  const n = buf.length;
  let k = n;
  while (k > 0 && isDigit(buf[k - 1]) && n - k <= MAX_EXP_DIGITS) k--;
  let mEnd = n; // end of the mantissa
  let exponent = false;
  if (n - k <= MAX_EXP_DIGITS) {
    // `e+`, `e+1`…`e+015`, or no sign: `e`, `e1`…`e015`.
    const sign = k > 1 && buf[k - 1] === PLUS;
    const e = sign ? k - 2 : k - 1;
    if (e >= 0 && (buf[e]! | 0x20) === 0x65) {
      mEnd = e;
      exponent = true;
    }
  }
  // The walk stops a byte past the longest token: a long digit run costs no more than a short one.
  const floor = Math.max(0, n - MAX_TOKEN - 2);
  let m = mEnd;
  while (m > floor && isDigit(buf[m - 1])) m--;
  let point = false;
  if (m > floor + 1 && buf[m - 1] === DOT && isDigit(buf[m - 2])) {
    point = true;
    m--;
    while (m > floor && isDigit(buf[m - 1])) m--;
  }
  if (m === mEnd || (!exponent && !point)) return -1;
  // Bounded like the detector's hold (a stream holds at most 41 bytes: exponentSpan takes no longer
  // token), and not part of a longer word.
  if (n - m > MAX_TOKEN || (m > 0 && glues(buf[m - 1]) && !escapeLetter(buf, m, 0))) return -1;
  return m;
}

/**
 * Where the float print starts whose exponent digits start at `x` (`4.1111e+15` with x at `15`), or −1
 * when buf[x − 1] is no `e+` / `e` after a mantissa. For a stream's context (stream-masker.ts).
 */
export function exponentStart(buf: Uint8Array, x: number): number {
  let e = x - 1;
  if (e >= 1 && buf[e] === PLUS) e--;
  if (e < 1 || (buf[e]! | 0x20) !== 0x65 || !isDigit(buf[e - 1])) return -1;
  let m = e;
  while (m > 0 && isDigit(buf[m - 1]) && e - m < MAX_TOKEN) m--;
  if (m > 1 && buf[m - 1] === DOT && isDigit(buf[m - 2])) {
    m--;
    while (m > 0 && isDigit(buf[m - 1]) && e - m < MAX_TOKEN) m--;
  }
  return m;
}
