/**
 * The `pcigate scan` detector over bytes in memory (PCI DSS 3.5.1 full PAN, 3.3.1 SAD): PANs by
 * pan-detector.ts, track 1/2 data and labelled CVV/PIN values by pattern. Findings carry the value masked
 * (last four digits of a PAN at most) and a 1-based line and column. Shared by the file scan
 * (scan-files.ts), the archive scan (scan-archive.ts) and the evidence bundle's stored-data scan.
 */
import { cardNetwork } from './card-networks.js';
import { applyMask } from './mask-format.js';
import { findPans } from './pan-detector.js';
import type { DetectOptions } from './pan-detector.js';

export interface ScanFinding {
  /** The file; inside an archive `archive.zip!entry/path` (one `!` per archive level). */
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column in characters. */
  column: number;
  kind: 'pan' | 'track_data' | 'sad_value';
  /** Card network for a PAN. */
  network?: string;
  /** The value as found, masked (last four digits of a PAN at most). */
  masked: string;
}

/** A file or archive entry that could not be scanned (whole or in part): the scan is then no proof of absence. */
export interface ScanError {
  file: string;
  message: string;
}

// SAD in stored text: track 1/2 data and labelled CVV/PIN values (`cvv: 123`, `"cvc2":"4567"`, `pin=1234`).
const SAD_PATTERNS: Array<{ kind: ScanFinding['kind']; re: RegExp }> = [
  { kind: 'track_data', re: /%B\d{13,19}\^[^^\r\n]{2,26}\^\d{4}/g },
  { kind: 'track_data', re: /;\d{13,19}=\d{4}\d*\??/g },
  { kind: 'sad_value', re: /\b(?:cvv2?|cvc2?|cav2|cid|security[_ ]?code|pin(?:[_ ]?block)?)["']?\s*[:=]\s*["']?\d{3,12}\b/gi },
];

export type Found = { at: number; f: Omit<ScanFinding, 'file' | 'line' | 'column'> };

export interface ScanDetectOptions extends DetectOptions {
  /**
   * A caller that knows a number in its own files is no account data says so (the evidence bundle: pcigate's clock
   * readings in its audit records, src/evidence/clock-readings.ts): given the whole line a PAN was found in and the
   * PAN's byte offset in it. Asked only when the whole line is in view; otherwise the finding stands.
   */
  notAccountData?: (line: Buffer, at: number) => boolean;
}

/**
 * PANs and SAD in `data` starting in [skipBefore, cut), in offset order. With `!last` the data continues
 * (a chunk): a PAN touching its end is undecided and left for the next round. `lineStart`: data[0] begins a line.
 */
export function detect(data: Buffer, cut: number, skipBefore: number, last: boolean, opts: ScanDetectOptions, lineStart = true): Found[] {
  const found: Found[] = [];
  for (const s of findPans(data, opts, 0, data.length, !last)) {
    if (s.start >= cut || s.start < skipBefore) continue;
    if (opts.notAccountData && ownNumber(data, s.start, last, lineStart, opts.notAccountData)) continue;
    // UTF-8: full-width digits and Unicode separators (wide-text.ts) are more than a byte; NFKC reads them as ASCII.
    const masked = Buffer.from(applyMask(data.subarray(s.start, s.end), [{ start: 0, end: s.end - s.start, digits: s.digits }], { format: 'last4' })).toString('utf8');
    found.push({ at: s.start, f: { kind: 'pan', network: networkOf(data.subarray(s.start, s.end).toString('utf8').normalize('NFKC'), s.digits), masked } });
  }
  const text = data.toString('latin1');
  for (const { kind, re } of SAD_PATTERNS) {
    re.lastIndex = 0;
    for (const m of text.matchAll(re)) {
      if (m.index >= cut || m.index < skipBefore) continue;
      found.push({ at: m.index, f: { kind, masked: m[0].replace(/\d/g, '*') } });
    }
  }
  return found.sort((a, b) => a.at - b.at);
}

/** notAccountData asked about the PAN at data[at] with its whole line, when that line is all in `data`. */
function ownNumber(data: Buffer, at: number, last: boolean, lineStart: boolean, ask: (line: Buffer, at: number) => boolean): boolean {
  const a = at === 0 ? 0 : data.lastIndexOf(10, at - 1) + 1;
  if (a === 0 && !lineStart) return false;
  const z = data.indexOf(10, at);
  if (z === -1 && !last) return false;
  return ask(data.subarray(a, z === -1 ? data.length : z), at - a);
}

/**
 * The card network of a found PAN's text (`4111 1111 1111 1111`, or a float print `4.111111111111111e+15`,
 * whose number has mantissa-and-exponent digits, not its own), or `luhn` outside the major ranges.
 */
function networkOf(text: string, digits: number): string {
  const float = /^(\d+)(?:\.(\d*))?[eE]\+?(\d+)$/.exec(text);
  let d = text.replace(/\D/g, '');
  let n = digits;
  if (float) {
    const all = float[1]! + (float[2] ?? '');
    d = all.replace(/^0+/, '');
    n = float[1]!.length + Number(float[3]) - (all.length - d.length);
  }
  return cardNetwork((i) => (i < d.length ? d.charCodeAt(i) - 48 : 0), n) ?? 'luhn';
}

/** The findings in `data` as it is (no decompression), named `file`. */
export function scanPlainBytes(data: Buffer, file: string, opts: ScanDetectOptions = {}): ScanFinding[] {
  const pos = new LineCounter();
  return detect(data, data.length, 0, true, opts).map(({ at, f }) => ({ file, ...pos.at(data, 0, at), ...f }));
}

/** Track data and labelled values can be longer than a PAN: keep the last 160 bytes for the next round. */
export function sadCut(data: Buffer): number {
  return Math.max(0, data.length - 160);
}

/** Tracks line and column (in characters) of absolute offsets visited in ascending order. */
export class LineCounter {
  #line = 1;
  #cols = 0; // characters from line start to #scanned
  #scanned = 0; // absolute offset counted so far

  /** Counts up to absolute offset `base + i` and returns its position. */
  at(data: Buffer, base: number, i: number): { line: number; column: number } {
    this.#count(data, base, base + i);
    return { line: this.#line, column: this.#cols + 1 };
  }

  advance(data: Buffer, base: number, i: number): void {
    this.#count(data, base, base + i);
  }

  #count(data: Buffer, base: number, toAbs: number): void {
    for (let a = this.#scanned; a < toAbs; a++) {
      const b = data[a - base]!;
      if (b === 10) {
        this.#line++;
        this.#cols = 0;
      } else if ((b & 0xc0) !== 0x80) this.#cols++;
    }
    if (toAbs > this.#scanned) this.#scanned = toAbs;
  }
}
