/**
 * Card numbers printed with thousands separators: `pan::money` prints `$4,111,111,111,111,111.00`, and so does
 * `to_char(pan, '9,999,999,999,999,999')`; a money value inside a record, an array, JSON or `format()` is such a
 * print in free text (a money column itself is withheld whole: pg-values.ts). In lc_monetary locales that group
 * with a point (`4.111.111.111.111.111,00 €`) the roles of `.` and `,` swap.
 *
 * A candidate is a chain of digit groups joined by one and the same separator (`,` or `.`), its first group of
 * 1–3 digits and every later one of exactly 3 (thousands grouping, nothing else: a decimal number has one
 * point, a CSV row of numbers seldom has five 3-digit fields in a row and never a last one of another width),
 * at least four separators, 13–19 digits, Luhn-valid and in a major issuer range (also with `anyLuhn`: printed
 * amounts are common, as with decimal fractions in pan-detector.ts). The span covers the chain, separators
 * included, so a star mask keeps them (`$*,***,***,***,**1,111.00`).
 */
import { luhnValid, networkIndex } from './card-networks.js';
import { escapeLetter } from './escape-letter.js';
import type { PanSpan } from './pan-detector.js';

const COMMA = 0x2c;
const DOT = 0x2e;
/** The fewest bytes of a candidate: 13 digits and 4 separators. */
const MIN_BYTES = 17;
const MIN_SEPS = 4;

const isSep = (b: number | undefined): boolean => b === COMMA || b === DOT;
const isLetter = (b: number | undefined): boolean => b !== undefined && (b | 0x20) >= 97 && (b | 0x20) <= 122;

/** 1 for a digit, 2 for a group separator, 0 otherwise: one load per probe on the scan of every value. */
export const GROUP_CLASS = new Uint8Array(256);
for (let b = 48; b <= 57; b++) GROUP_CLASS[b] = 1;
GROUP_CLASS[COMMA] = 2;
GROUP_CLASS[DOT] = 2;
const CLASS = GROUP_CLASS;

/**
 * The grouped PANs of the chain around byte p, appended to `out`; returns the end of the bytes examined,
 * before which no other probe needs to look. Called by findPans' skip-ahead scan (pan-detector.ts) at each
 * probe whose byte is a digit or a separator (GROUP_CLASS), one probe every 13 bytes: a chain spans at
 * least 17, so the scan probes every chain and the data is read once for both searches.
 */
export function groupedAt(buf: Uint8Array, p: number, from: number, to: number, openEnd: boolean, out: PanSpan[]): number {
  const c = CLASS[buf[p]!]!;
  let q: number;
  if (c === 1) {
    // Inside a chain a separator comes every 4th byte at most, and a chain of ≥ 17 bytes holding p holds
    // p − 3 … p or p … p + 3: no separator within 3 bytes of p, no chain (most digits: ids, dates, times).
    let near = false;
    for (let k = Math.max(from, p - 3), end = Math.min(to, p + 4); k < end; k++) if (CLASS[buf[k]!] === 2) { near = true; break; }
    if (!near) return p;
    q = p;
  } else if (c === 2 && p + 1 < to && p - 1 >= from && CLASS[buf[p + 1]!] === 1 && CLASS[buf[p - 1]!] === 1) q = p - 1;
  else return p;
  // A chain of ≥ MIN_BYTES (17) bytes holding q reaches q − 8 or q + 8 (else it would span at most 15).
  const lo = q - 8;
  const hi = q + 8;
  if ((lo < from || CLASS[buf[lo]!] === 0) && (hi >= to || CLASS[buf[hi]!] === 0)) return p;
  // The maximal run of digits and single separators between digits around q.
  let s = q;
  for (;;) {
    if (s <= from) break;
    const c1 = CLASS[buf[s - 1]!];
    if (c1 === 1 || (c1 === 2 && s - 2 >= from && CLASS[buf[s - 2]!] === 1)) s--;
    else break;
  }
  let e = q + 1;
  for (;;) {
    if (e >= to) break;
    const c1 = CLASS[buf[e]!];
    if (c1 === 1 || (c1 === 2 && e + 1 < to && CLASS[buf[e + 1]!] === 1)) e++;
    else break;
  }
  if (e - s >= MIN_BYTES) chains(buf, s, e, from, to, openEnd, out);
  return e;
}

/** Checks each chain of groups joined by the same separator in the run [s, e). */
function chains(buf: Uint8Array, s: number, e: number, from: number, to: number, openEnd: boolean, out: PanSpan[]): void {
  // Groups: [start, end) of each digit group, and the separator before it (0 for the first).
  const starts: number[] = [];
  const ends: number[] = [];
  const seps: number[] = [];
  let g = s;
  for (let i = s; i <= e; i++) {
    if (i === e || isSep(buf[i])) {
      starts.push(g);
      ends.push(i);
      seps.push(starts.length === 1 ? 0 : buf[g - 1]!);
      g = i + 1;
    }
  }
  let i = 0;
  while (i < starts.length) {
    // A chain starts at group i and goes on while the separator stays the same.
    let j = i;
    const sep = seps[i + 1];
    while (j + 1 < starts.length && seps[j + 1] === sep) j++;
    if (j - i >= MIN_SEPS) check(buf, starts, ends, i, j, from, to, openEnd, out);
    i = j > i ? j : i + 1;
  }
}

function check(buf: Uint8Array, starts: number[], ends: number[], i: number, j: number, from: number, to: number, openEnd: boolean, out: PanSpan[]): void {
  const first = ends[i]! - starts[i]!;
  if (first < 1 || first > 3) return;
  for (let k = i + 1; k <= j; k++) if (ends[k]! - starts[k]! !== 3) return;
  const digits: number[] = [];
  for (let k = i; k <= j; k++) for (let x = starts[k]!; x < ends[k]!; x++) digits.push(buf[x]! - 48);
  const n = digits.length;
  if (n < 13 || n > 19) return;
  const start = starts[i]!;
  const end = ends[j]!;
  if ((start > from && isLetter(buf[start - 1]) && !escapeLetter(buf, start, from)) || (end < to && isLetter(buf[end]))) return;
  // A list, not one number: PostgreSQL quotes an array element or a CSV field that holds a comma, and JSON has no
  // grouped numbers, so `{4,111,…}`, `[500,404,…]` and `…,4,111,…` are several numbers.
  const before = start > from ? buf[start - 1] : undefined;
  const after = end < to ? buf[end] : undefined;
  if (before === COMMA || before === 0x7b || before === 0x5b || after === 0x7d || after === 0x5d) return;
  if (end === to && openEnd) return;
  if (!luhnValid((k) => digits[k]!, n)) return;
  const p6 = digits[0]! * 100000 + digits[1]! * 10000 + digits[2]! * 1000 + digits[3]! * 100 + digits[4]! * 10 + digits[5]!;
  if (networkIndex(p6, n) < 0) return;
  out.push({ start, end, digits: n });
}
