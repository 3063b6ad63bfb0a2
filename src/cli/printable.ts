/**
 * Text pcigate did not write (a data home an attacker could edit, a bundle, a token claim, a requester's
 * statement, a session's subject) on its way to a terminal. C0 controls, DEL, C1 controls (U+009B is a CSI on
 * some terminals), the Unicode bidi embeddings, overrides, isolates and marks (Trojan Source reordering), line
 * and paragraph separators, zero-width characters and the BOM are shown as `\uXXXX`, so an ANSI sequence, a
 * carriage return or a reordering cannot repaint or rearrange what the reader sees.
 */

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
// eslint-disable-next-line no-control-regex
const UNSAFE_KEEPING_LINES = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

const escapeChar = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** `s` with every unsafe character escaped; `keepLines` leaves newline and tab as they are. */
export function printable(s: string, opts: { keepLines?: boolean } = {}): string {
  return s.replace(opts.keepLines ? UNSAFE_KEEPING_LINES : UNSAFE, escapeChar);
}

