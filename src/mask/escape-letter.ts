/** Backslash escapes before a card number (pan-detector.ts, float-text.ts, grouped-text.ts: the glue-to-a-letter rule). */

/**
 * Whether the letter before `s` ends a backslash escape (`\n`, `\t`, `\r`, `\b`, `\f`, `\v`): a line break or tab
 * inside a value as JSON (RFC 8259 §7), COPY's text format (and so pg_dump) and E'…' SQL strings write it. The
 * letter stands for a control character, not a word: `"Card:\n4111…"` is a PAN on a line of its own.
 */
export function escapeLetter(buf: Uint8Array, s: number, from: number): boolean {
  const l = buf[s - 1]!;
  return s - 2 >= from && buf[s - 2] === 0x5c && (l === 0x6e || l === 0x74 || l === 0x72 || l === 0x62 || l === 0x66 || l === 0x76);
}
