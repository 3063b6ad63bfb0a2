/**
 * A slow, independent reference for the PAN rules (regex over strings, every group sub-range checked),
 * and generators of PANs and text for the property tests. Not used by src/.
 */
import fc from 'fast-check';
import { cardNetwork, luhnString } from '../../../src/mask/card-networks.js';

/** Digit strings of every PAN the spec says must not survive in `text`. */
export function oraclePans(text: string, anyLuhn = false): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/\d+(?:[ -]\d+)*/g)) {
    const groups = m[0].split(/[ -]/);
    const before = text[m.index - 1] ?? '';
    const after = text[m.index + m[0].length] ?? '';
    const letter = (c: string) => /^[A-Za-z]$/.test(c);
    const track1 = before === 'B' && (m.index === 1 || text[m.index - 2] === '%');
    // `\n4111…` (JSON, COPY text, E'…'): the letter of a backslash escape is a control character, not a word.
    const escaped = /^[bfnrtv]$/.test(before) && text[m.index - 2] === '\\';
    // After `<digit>.` the first group is a decimal fraction: any-Luhn holds it to the issuer ranges.
    const fraction = before === '.' && /^\d$/.test(text[m.index - 2] ?? '');
    // After a word it is a card number (`card4111…`); after an identifier's letters (behind a digit: `GB29NWBK6016…`,
    // `0x…`), a bytea's `\x…` or a word of more than 32 letters, part of the identifier.
    const word = /[A-Za-z]*$/.exec(text.slice(0, m.index))![0];
    const ahead = text[m.index - word.length - 1] ?? '';
    const identifier = word.length > 32 || /^\d$/.test(ahead) || (ahead === '\\' && /^[xX]/.test(word));
    for (let i = letter(before) && !track1 && !escaped && identifier ? 1 : 0; i < groups.length; i++) {
      let d = '';
      for (let j = i; j < groups.length; j++) {
        if (groups[j]!.length < 3) break;
        d += groups[j];
        if (d.length > 19) break;
        if (j === groups.length - 1 && letter(after)) break;
        const wide = anyLuhn && !(i === 0 && fraction);
        if (d.length >= 13 && luhnString(d) && (wide || cardNetwork((x) => d.charCodeAt(x) - 48, d.length))) found.push(d);
        // A group alone, zero-padded (not a decimal fraction): the digits after the zeros (13 at least) are the PAN.
        else if (j === i && d.length >= 13 && d.startsWith('0') && luhnString(d) && !wide && !(i === 0 && fraction)) {
          const p = d.slice(Math.min(d.search(/[^0]|$/), d.length - 13));
          if (cardNetwork((x) => p.charCodeAt(x) - 48, p.length)) found.push(p);
        }
      }
    }
  }
  return found;
}

export function luhnComplete(prefix: string): string {
  let s = 0;
  let dbl = true;
  for (let i = prefix.length - 1; i >= 0; i--) {
    let d = prefix.charCodeAt(i) - 48;
    if (dbl) { d *= 2; if (d > 9) d -= 9; }
    s += d;
    dbl = !dbl;
  }
  return prefix + String((10 - (s % 10)) % 10);
}

const NETWORKS: Array<[string, number[]]> = [
  ['4', [13, 16, 19]], ['51', [16]], ['55', [16]], ['2221', [16]], ['2720', [16]], ['34', [15]], ['37', [15]],
  ['6011', [16, 19]], ['65', [16]], ['644', [16]], ['3530', [16]], ['3589', [19]], ['36', [14]], ['300', [14]],
  ['62', [16, 19]], ['6759', [13, 19]], ['50', [16]],
];

/** A Luhn-valid PAN of a major network as a digit string. */
export const panDigits = fc
  .tuple(fc.constantFrom(...NETWORKS), fc.nat(10), fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 19, maxLength: 19 }))
  .map(([[prefix, lens], li, rnd]) => {
    const len = lens[li % lens.length]!;
    return luhnComplete(prefix + rnd.slice(0, len - prefix.length - 1).join(''));
  });

/** Splits digits into the usual layouts or random groups, joined by one space or dash. */
export const formattedPan = fc
  .tuple(panDigits, fc.constantFrom('plain', '4444', '465', '44443', 'random'), fc.constantFrom(' ', '-'), fc.array(fc.integer({ min: 3, max: 8 }), { minLength: 19, maxLength: 19 }))
  .map(([d, layout, sep, rnd]) => {
    const sizes = layout === 'plain' ? [d.length] : layout === '4444' ? [4, 4, 4, 4, 4] : layout === '465' ? [4, 6, 5, 5] : layout === '44443' ? [4, 4, 4, 4, 3] : rnd;
    const parts: string[] = [];
    let at = 0;
    for (const n of sizes) {
      if (at >= d.length) break;
      parts.push(d.slice(at, at + n));
      at += n;
    }
    if (at < d.length) parts.push(d.slice(at));
    // A trailing group shorter than 3 digits is joined to the one before (layouts never end that way).
    while (parts.length > 1 && parts[parts.length - 1]!.length < 3) { const t = parts.pop()!; parts[parts.length - 1] += t; }
    return { digits: d, text: parts.join(sep) };
  });

/** Filler: letters, punctuation, short numbers, separators and multibyte UTF-8. */
export const filler = fc
  .array(fc.constantFrom('a', 'Z', ' ', '-', ',', '|', '\n', '\t', ':', '"', '{', '}', 'é', '€', '😀', '12', '7', '2026-11-22', '3.14', 'x9', ' 5 '), { maxLength: 12 })
  .map((a) => a.join(''));

/** Delimiters that keep an embedded PAN from gluing to letters or digits around it. */
export const delim = fc.constantFrom(' ', ',', ';', '|', '\n', '"', '(', ')', 'é', '\t', '=');

/** Text with 1–4 embedded PANs; returns the text and the PAN digit strings. */
export const textWithPans = fc
  .array(fc.tuple(filler, delim, formattedPan, delim), { minLength: 1, maxLength: 4 })
  .chain((items) => filler.map((tail) => ({
    text: items.map(([f, a, p, b]) => f + a + p.text + b).join('') + tail,
    pans: items.map(([, , p]) => p.digits),
  })));

/** Random chunk boundaries for a byte length. */
export function splitAt(buf: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let at = 0;
  for (const p of points) {
    out.push(buf.subarray(at, p));
    at = p;
  }
  out.push(buf.subarray(at));
  return out;
}
