/**
 * PanMasker: content masking of bytes and text wherever pcigate forwards or writes data (issue 4,
 * deliverables 2 and 5). The recorder's callers use maskText() for SQL text, bind parameters, transcript
 * samples and error messages before anything reaches disk; the Postgres masker uses maskBytes() on every
 * text value. Counts go into the `masked: {rule: count}` field of log records.
 */
import { MaskError } from '../errors.js';
import { maskHexPans } from './hex-text.js';
import { maskJsonEscapes } from './json-escapes.js';
import { applyMask, mergeSpans } from './mask-format.js';
import type { MaskStyle } from './mask-format.js';
import { findPans, MIN_PAN_DIGITS } from './pan-detector.js';
import type { DetectOptions } from './pan-detector.js';
import { maskSqlEscapes } from './sql-escapes.js';

/** Per-rule masking counts, as written into log records (`masked: {pan: 2, sad: 1}`). */
export type MaskCounts = Record<string, number>;

/** Adds `n` to `counts[rule]` (no-op for n = 0). */
export function addCount(counts: MaskCounts | undefined, rule: string, n: number): void {
  if (!counts || n === 0) return;
  counts[rule] = (counts[rule] ?? 0) + n;
}

/** Adds every count of `from` into `into`. */
export function mergeCounts(into: MaskCounts, from: MaskCounts): MaskCounts {
  for (const [k, v] of Object.entries(from)) addCount(into, k, v);
  return into;
}

export interface PanMaskerOptions extends DetectOptions {
  /** Mask style for PANs found by content; default `last4`. */
  style?: MaskStyle;
  /** Rule name counted for content matches; default `pan`. */
  rule?: string;
}

/** The rule name counted for content-detected PANs. */
export const PAN_RULE = 'pan';
/** The rule name counted for sensitive authentication data (track data, SAD columns). */
export const SAD_RULE = 'sad';

// Magnetic-stripe track data (ISO/IEC 7813): track 1 `%B<PAN>^<NAME>^<YYMM><SVC><discretionary>?`,
// track 2 `;<PAN>=<YYMM><SVC><discretionary>?`. SAD under PCI DSS 3.3.1: never kept, so masked whole.
export const TRACK1_RE = /%?B\d{13,19}\^[^^\n]{2,26}\^\d{4}[^?\n]{0,80}\??/g;
export const TRACK2_RE = /;?\d{13,19}=\d{4}[0-9]{0,80}\??/g;

/** Masks PANs (and, in text, track data) in everything pcigate forwards or writes. */
export class PanMasker {
  readonly style: MaskStyle;
  readonly detect: DetectOptions;
  readonly rule: string;

  constructor(opts: PanMaskerOptions = {}) {
    this.style = opts.style ?? { format: 'last4' };
    this.detect = { anyLuhn: opts.anyLuhn === true };
    this.rule = opts.rule ?? PAN_RULE;
    if (this.style.format === 'hmac' && !(this.style.hmacKey && this.style.hmacKey.length > 0)) {
      throw new MaskError('the hmac mask format needs a key (masking.hmac_key)');
    }
  }

  /**
   * Masks PANs in `buf`. Returns the very same buffer object when nothing was found, so callers can
   * forward the original bytes; otherwise a new buffer. Adds the number of PANs to `counts[rule]`.
   */
  maskBytes(buf: Uint8Array, counts?: MaskCounts): Uint8Array {
    const spans = findPans(buf, this.detect);
    let out = buf;
    if (spans.length > 0) {
      addCount(counts, this.rule, mergeSpans(spans).length);
      out = applyMask(buf, spans, this.style);
    }
    // A bytea literal or parameter in hex (`'\x3431…'`): hex-text.ts.
    return maskHexPans(out, this.style, this.detect, (n) => addCount(counts, this.rule, n));
  }

  /**
   * Masks PANs and magnetic-stripe track data in a string (SQL text, parameters, error messages,
   * transcript samples). Returns the same string when nothing was found.
   */
  maskText(text: string, counts?: MaskCounts): string {
    // A PAN and both track formats need at least 13 ASCII digits: text with fewer (most SQL, identifiers,
    // error messages) is returned without being encoded to bytes and scanned.
    // A float print of a PAN shows fewer (`4.1111111e+15`, `4.1111111E15`: at least 8 significant digits
    // and the exponent's, float-text.ts): text with an exponent is scanned from 10 digits on.
    if (fewerDigitsThan(text, MIN_PAN_DIGITS) && (fewerDigitsThan(text, 10) || !/[eE][+0-9]/.test(text))) return text;
    let t = text;
    if (t.includes('=') || t.includes('^')) {
      t = t.replace(TRACK1_RE, (m) => { addCount(counts, SAD_RULE, 1); return '*'.repeat(m.length); });
      t = t.replace(TRACK2_RE, (m) => { addCount(counts, SAD_RULE, 1); return '*'.repeat(m.length); });
    }
    const buf = Buffer.from(t, 'utf8');
    // JSON's `\u00a0` and `\uff14` escapes (Python's and PHP's JSON, E'…' SQL strings) read as the characters: json-escapes.ts.
    const out = maskJsonEscapes(this.maskBytes(buf, counts), this.style, this.detect, (n) => addCount(counts, this.rule, n));
    const masked = out === buf ? t : Buffer.from(out.buffer, out.byteOffset, out.byteLength).toString('utf8');
    // SQL's `U&'\0034…'` and `E'\x34…'` escapes (a statement's text, an error message quoting one): sql-escapes.ts.
    return maskSqlEscapes(masked, this.style, this.detect, (n) => addCount(counts, this.rule, n));
  }

  /**
   * Masks every string inside a JSON-like value (log record details, bind parameter lists); Uint8Array
   * values are masked as bytes. Returns the same value when nothing changed.
   */
  maskValue<T>(value: T, counts?: MaskCounts): T {
    return this.#maskAny(value, counts) as T;
  }

  #maskAny(v: unknown, counts: MaskCounts | undefined): unknown {
    if (typeof v === 'string') return this.maskText(v, counts);
    if (v instanceof Uint8Array) return this.maskBytes(v, counts);
    if (Array.isArray(v)) {
      let changed = false;
      const out = v.map((x) => { const y = this.#maskAny(x, counts); if (y !== x) changed = true; return y; });
      return changed ? out : v;
    }
    if (v !== null && typeof v === 'object') {
      let changed = false;
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        const y = this.#maskAny(x, counts);
        if (y !== x) changed = true;
        out[k] = y;
      }
      return changed ? out : v;
    }
    return v;
  }
}

/** True when `text` holds fewer than `n` digits (ASCII 0–9 or full-width, wide-text.ts), counting no further than needed. */
export function fewerDigitsThan(text: string, n: number): boolean {
  let seen = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (((c >= 48 && c <= 57) || (c >= 0xff10 && c <= 0xff19)) && ++seen >= n) return false;
  }
  return true;
}

/**
 * How far past a cut text is masked first: a card number straddling the cut is found whole (19 digits and 18
 * separators, or 38 hex pairs, and the byte after it), so the cut leaves masked digits, never the first 12 in clear.
 */
export const CUT_MARGIN = 128;

/**
 * `text` cut to `max` characters (`…` and `suffix(length)` appended when it was longer), PAN-masked. Masked before
 * it is cut: cut first, `…4111111111111` would keep a card number's first 13 digits and a Luhn check would fail.
 * `mask`: the masking to apply to the part kept (default: maskText).
 */
export function maskCut(text: string, max: number, suffix: (length: number) => string = () => '', mask: (t: string) => string = maskText): string {
  if (text.length <= max) return mask(text);
  return `${mask(text.slice(0, max + CUT_MARGIN)).slice(0, max)}…${suffix(text.length)}`;
}

let defaultMasker: PanMasker | undefined;

/** The default masker (`last4`, major networks), shared. */
export function defaultPanMasker(): PanMasker {
  defaultMasker ??= new PanMasker();
  return defaultMasker;
}

/** maskText with the default masker (`last4`, major networks): for log and error-message writers. */
export function maskText(text: string, counts?: MaskCounts): string {
  return defaultPanMasker().maskText(text, counts);
}

/** maskBytes with the default masker: returns `buf` itself when nothing was found. */
export function maskBytes(buf: Uint8Array, counts?: MaskCounts): Uint8Array {
  defaultMasker ??= new PanMasker();
  return defaultMasker.maskBytes(buf, counts);
}
