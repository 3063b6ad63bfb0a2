/**
 * Luhn check and issuer identification (IIN/BIN) ranges of the major card networks.
 * Luhn: ISO/IEC 7812-1 Annex B. Ranges: ISO/IEC 7812 issuer ranges as published by the networks
 * (Visa, Mastercard incl. the 2-series, American Express, Discover, JCB, Diners Club, UnionPay, Maestro).
 * Everything works on ASCII digit bytes in a buffer so the scanner never builds strings.
 */

export const CARD_NETWORKS = ['visa', 'mastercard', 'amex', 'discover', 'jcb', 'diners', 'unionpay', 'maestro'] as const;
export type CardNetwork = (typeof CARD_NETWORKS)[number];

/** One issuer range: IIN prefixes from `lo` to `hi` (same number of digits), and the PAN lengths allowed. */
interface IinRange {
  network: CardNetwork;
  lo: number;
  hi: number;
  digits: number;
  lengths: readonly number[];
}

const L16_19 = [16, 17, 18, 19] as const;
const L13_19 = [13, 14, 15, 16, 17, 18, 19] as const;

/**
 * Ordered most specific first where ranges overlap (the first match names the network); Visa and
 * Mastercard 51–55 overlap nothing else and come first because most PANs are theirs.
 */
const RANGES: readonly IinRange[] = [
  { network: 'visa', lo: 4, hi: 4, digits: 1, lengths: [13, 16, 19] },
  { network: 'mastercard', lo: 51, hi: 55, digits: 2, lengths: [16] },
  { network: 'discover', lo: 622126, hi: 622925, digits: 6, lengths: L16_19 },
  { network: 'discover', lo: 6011, hi: 6011, digits: 4, lengths: L16_19 },
  { network: 'jcb', lo: 3528, hi: 3589, digits: 4, lengths: L16_19 },
  { network: 'mastercard', lo: 2221, hi: 2720, digits: 4, lengths: [16] },
  { network: 'diners', lo: 3095, hi: 3095, digits: 4, lengths: [14, 15, 16, 17, 18, 19] },
  { network: 'maestro', lo: 5018, hi: 5018, digits: 4, lengths: L13_19 },
  { network: 'maestro', lo: 5020, hi: 5020, digits: 4, lengths: L13_19 },
  { network: 'maestro', lo: 5038, hi: 5038, digits: 4, lengths: L13_19 },
  { network: 'maestro', lo: 5893, hi: 5893, digits: 4, lengths: L13_19 },
  { network: 'maestro', lo: 6304, hi: 6304, digits: 4, lengths: L13_19 },
  { network: 'maestro', lo: 6759, hi: 6763, digits: 4, lengths: L13_19 },
  { network: 'diners', lo: 300, hi: 305, digits: 3, lengths: [14, 15, 16, 17, 18, 19] },
  { network: 'discover', lo: 644, hi: 649, digits: 3, lengths: L16_19 },
  { network: 'amex', lo: 34, hi: 34, digits: 2, lengths: [15] },
  { network: 'amex', lo: 37, hi: 37, digits: 2, lengths: [15] },
  { network: 'diners', lo: 36, hi: 36, digits: 2, lengths: [14, 15, 16, 17, 18, 19] },
  { network: 'diners', lo: 38, hi: 39, digits: 2, lengths: [14, 15, 16, 17, 18, 19] },
  { network: 'discover', lo: 65, hi: 65, digits: 2, lengths: L16_19 },
  { network: 'unionpay', lo: 62, hi: 62, digits: 2, lengths: L16_19 },
  // Maestro's wide 50, 56–69 ranges (lengths 12–19; PANs shorter than 13 are out of scope here).
  { network: 'maestro', lo: 50, hi: 50, digits: 2, lengths: L13_19 },
  { network: 'maestro', lo: 56, hi: 69, digits: 2, lengths: L13_19 },
];

/** The ranges flattened for the hot path: 6-digit prefix bounds and a bitmask of allowed lengths. */
const FLAT = RANGES.map((r) => ({
  network: r.network,
  lo6: r.lo * 10 ** (6 - r.digits),
  hi6: (r.hi + 1) * 10 ** (6 - r.digits) - 1,
  lengths: r.lengths.reduce((m, n) => m | (1 << n), 0),
}));
const FLAT_LO = Int32Array.from(FLAT, (f) => f.lo6);
const FLAT_HI = Int32Array.from(FLAT, (f) => f.hi6);
const FLAT_LEN = Int32Array.from(FLAT, (f) => f.lengths);

/** Index into the range table of the PAN with 6-digit prefix `p6` and `n` digits, or -1. */
export function networkIndex(p6: number, n: number): number {
  const bit = 1 << n;
  for (let i = 0; i < FLAT_LO.length; i++) {
    if (p6 >= FLAT_LO[i]! && p6 <= FLAT_HI[i]! && (FLAT_LEN[i]! & bit) !== 0) return i;
  }
  return -1;
}

/** The network of a range index from networkIndex(). */
export function networkName(i: number): CardNetwork | undefined {
  return FLAT[i]?.network;
}

/**
 * The network whose issuer range holds the PAN made of `n` digits, or undefined.
 * `digitAt(i)` returns the i-th digit (0–9).
 */
export function cardNetwork(digitAt: (i: number) => number, n: number): CardNetwork | undefined {
  let p6 = 0;
  for (let i = 0; i < 6; i++) p6 = p6 * 10 + digitAt(i);
  return networkName(networkIndex(p6, n));
}

/** Luhn (mod 10) over `n` digits given by `digitAt`, ISO/IEC 7812-1 Annex B. */
export function luhnValid(digitAt: (i: number) => number, n: number): boolean {
  let sum = 0;
  let dbl = false;
  for (let i = n - 1; i >= 0; i--) {
    let d = digitAt(i);
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return sum % 10 === 0;
}

/** Luhn over a digit string (tests and generators). */
export function luhnString(digits: string): boolean {
  return luhnValid((i) => digits.charCodeAt(i) - 48, digits.length);
}
