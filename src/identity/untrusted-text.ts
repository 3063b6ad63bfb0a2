/**
 * Text that came from a token or from the identity provider (a JWT header, an unverified `iss`, an OAuth
 * `error_description`) on its way into an error message: such text reaches a terminal and may reach a log.
 * Control characters and bidirectional overrides are shown as `\u…` escapes (src/cli/printable.ts), so an ANSI
 * escape or a carriage return cannot repaint the terminal; a card number is masked (PCI DSS 3.4.1); and the text is
 * cut, so a 100 KB claim does not become a 100 KB message.
 */
import { printable } from '../cli/printable.js';
import { maskCut } from '../mask/pan-masker.js';

/** `value` fit for a message: escaped, PAN-masked, at most `max` characters (then `…`). */
export function untrustedText(value: unknown, max = 80): string {
  const s = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  return printable(maskCut(s, max));
}
