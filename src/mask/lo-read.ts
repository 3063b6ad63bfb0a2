/**
 * Large objects read in chunks. libpq's lo_read is a fast-path call of `loread` (OID 954) for so many bytes: psql's
 * `\lo_export` reads 8 KiB at a time, pg_dump 16 KiB. Each FunctionCallResponse is masked on its own
 * (pg-masker.ts), so a card number across two chunks was seen whole in neither and reached the exported file (and a
 * "masked" dump) in clear.
 *
 * A chunk cannot be held back for the next (the client asked for at most so many bytes, and libpq writes whatever
 * comes into its buffer), so the edges are masked on what is known:
 * - the run of digits and single spaces or dashes at a chunk's end (4 digits or more: a card number's group; fewer
 *   are left, which a binary object ends in often enough) has every digit starred: it may be the start of a card
 *   number, and what follows is not known yet;
 * - a chunk's start is read after the original bytes at the end of the chunk before (of the same reading), and a
 *   card number across the two is masked in this chunk's part as the deployment's format masks it.
 * Bytes keep their places, so the object keeps its length. A stream is one descriptor's `loread`s in a row of
 * loreads (PgMasker keeps one per descriptor: a client reading two objects by turns, as a dump may, has each read
 * after its own chunks); any other call between (a seek) starts them all afresh.
 *
 * The same holds for `SELECT loread($1, $2)` by SQL (the npm package pg-large-object reads so): each chunk is the one
 * bytea value of a row, in hex or escape text (bytea_output) or binary; it is read here as the bytes it spells and
 * given back in the same form (byteaText). Rows of other statements between do not end a reading (a seek by SQL
 * neither: at worst a few digits at the next chunk's start are starred that need not be).
 */
import { applyMask } from './mask-format.js';
import type { MaskStyle } from './mask-format.js';
import { findPans } from './pan-detector.js';
import type { DetectOptions } from './pan-detector.js';

/** pg_proc OID of loread(integer, integer) (fmgroids.h F_LOREAD): stable across PostgreSQL versions. */
export const LOREAD_OID = 954;

/** Original bytes kept from the end of a chunk: more than the longest card number with its separators (19 + 18). */
const KEEP = 48;
/** Fewest digits of a run at a chunk's end that is starred (a group of a printed card number). */
const EDGE_DIGITS = 4;
const STAR = 0x2a;

const isDigit = (b: number | undefined): boolean => b !== undefined && b >= 0x30 && b <= 0x39;
const isSep = (b: number | undefined): boolean => b === 0x20 || b === 0x2d;

export class LoReadStream {
  #tail: Buffer = Buffer.alloc(0);

  /**
   * The chunk `orig` as it goes to the client: `alone` (orig masked on its own, same length) with its edges masked
   * as above; `counted(n)`: card numbers across the previous edge that were masked.
   */
  next(orig: Uint8Array, alone: Uint8Array | null, style: MaskStyle, detect: DetectOptions, counted: (n: number) => void): Uint8Array | null {
    const tail = this.#tail;
    const combined = Buffer.concat([tail, orig]);
    this.#tail = Buffer.from(combined.subarray(Math.max(0, combined.length - KEEP)));
    if (alone === null || alone.length !== orig.length) return alone;
    let out: Uint8Array | undefined;
    // The start, read after the end of the chunk before.
    if (tail.length > 0) {
      const crossing = findPans(combined, detect).filter((s) => s.start < tail.length && s.end > tail.length);
      if (crossing.length > 0) {
        const masked = applyMask(combined, crossing, style.format === 'hmac' ? { format: 'full' } : style);
        out = new Uint8Array(alone);
        for (let i = tail.length; i < combined.length; i++) if (masked[i] !== combined[i]) out[i - tail.length] = masked[i]!;
        counted(crossing.length);
      }
    }
    // The end: a run of digits and single separators (and one separator after it) that may go on in the next chunk.
    let s = orig.length;
    if (s >= 2 && isSep(orig[s - 1]) && isDigit(orig[s - 2])) s--;
    let digits = 0;
    while (s > 0) {
      const b = orig[s - 1];
      if (isDigit(b)) { s--; digits++; } else if (isSep(b) && isDigit(orig[s]) && isDigit(orig[s - 2])) s--;
      else break;
    }
    if (digits >= EDGE_DIGITS) {
      out ??= new Uint8Array(alone);
      for (let i = s; i < orig.length; i++) if (isDigit(orig[i])) out[i] = STAR;
    }
    return out ?? alone;
  }
}

/**
 * A large-object descriptor as a key: a 4-byte binary integer (libpq's fast-path lo_read, a binary bind parameter)
 * and a decimal text (a text parameter, a constant) give the same one; anything else its bytes in hex.
 */
export function descriptorKey(arg: Uint8Array | string | null | undefined): string {
  if (arg === null || arg === undefined) return '';
  if (typeof arg === 'string') return /^\s*[+-]?\d{1,10}\s*$/.test(arg) ? String(Number(arg)) : `t${arg}`;
  return arg.length === 4 ? String(Buffer.from(arg.buffer, arg.byteOffset, 4).readInt32BE(0)) : `x${Buffer.from(arg).toString('hex')}`;
}

/** The bytes a bytea's text output spells (hex `\x…`, or escape: `\\`, `\ooo`); undefined when it is neither. */
export function byteaBytes(text: Uint8Array): Buffer | undefined {
  if (text.length >= 2 && text[0] === 0x5c && text[1] === 0x78) {
    if (text.length % 2 !== 0) return undefined;
    const out = Buffer.from(Buffer.from(text.buffer, text.byteOffset + 2, text.length - 2).toString('latin1'), 'hex');
    return out.length * 2 === text.length - 2 ? out : undefined;
  }
  const out = Buffer.allocUnsafe(text.length);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const b = text[i]!;
    if (b !== 0x5c) { out[n++] = b; continue; }
    if (text[i + 1] === 0x5c) { out[n++] = 0x5c; i++; continue; }
    const o = (k: number) => { const d = text[i + k]; return d !== undefined && d >= 0x30 && d <= 0x37 ? d - 0x30 : -1; };
    const [a, b2, c] = [o(1), o(2), o(3)];
    if (a < 0 || a > 3 || b2 < 0 || c < 0) return undefined;
    out[n++] = (a << 6) | (b2 << 3) | c;
    i += 3;
  }
  return out.subarray(0, n);
}

/** `bytes` as a bytea's text output: hex (`\x…`), or escape as the server writes it (byteaout). */
export function byteaText(bytes: Uint8Array, hex: boolean): Buffer {
  if (hex) return Buffer.from(`\\x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex')}`, 'latin1');
  let s = '';
  for (const b of bytes) s += b === 0x5c ? '\\\\' : b < 0x20 || b > 0x7e ? `\\${b.toString(8).padStart(3, '0')}` : String.fromCharCode(b);
  return Buffer.from(s, 'latin1');
}
