/**
 * Text pcigate did not write (a data home an attacker could edit, a bundle, a token claim, a requester's
 * statement, a session's subject) on its way to a terminal. C0 controls, DEL, C1 controls (U+009B is a CSI on
 * some terminals), the Unicode bidi embeddings, overrides, isolates and marks (Trojan Source reordering), line
 * and paragraph separators, zero-width characters and the BOM are shown as `\uXXXX`, so an ANSI sequence, a
 * carriage return or a reordering cannot repaint or rearrange what the reader sees.
 */

/**
 * The unsafe characters above C0, one list for every use: DEL and C1 (U+007F–U+009F), the Arabic letter mark
 * (U+061C), zero-width space/joiners and the LRM/RLM marks (U+200B–U+200F), line and paragraph separators and
 * the bidi embeddings and overrides (U+2028–U+202E), word joiner, invisible operators and bidi isolates
 * (U+2060–U+2069), and the BOM (U+FEFF). As the source of a regular-expression character class.
 */
const ABOVE_C0 = String.raw`\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff`;
const UNSAFE = new RegExp(String.raw`[\u0000-\u001f${ABOVE_C0}]`, 'g');
const UNSAFE_KEEPING_LINES = new RegExp(String.raw`[\u0000-\u0008\u000b-\u001f${ABOVE_C0}]`, 'g');
/** For JSON text: JSON.stringify escapes every C0 control in a string, and the C0 left are its own layout. */
const UNSAFE_KEEPING_C0 = new RegExp(`[${ABOVE_C0}]`, 'g');
const ANY_UNSAFE = new RegExp(UNSAFE.source);

const escapeChar = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * `s` with every unsafe character escaped; `keepLines` leaves newline and tab as they are, `keepC0` every C0
 * control (for JSON.stringify's output, whose strings hold none raw).
 */
export function printable(s: string, opts: { keepLines?: boolean; keepC0?: boolean } = {}): string {
  return s.replace(opts.keepC0 ? UNSAFE_KEEPING_C0 : opts.keepLines ? UNSAFE_KEEPING_LINES : UNSAFE, escapeChar);
}

/** True when `s` holds a character printable() escapes (for text that is refused rather than escaped). */
export function hasUnsafeChars(s: string): boolean {
  return ANY_UNSAFE.test(s);
}
