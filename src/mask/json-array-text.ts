/**
 * json[] and jsonb[] in text format (array_out, src/backend/utils/adt/arrayfuncs.c): `{elem,elem}`, nested braces
 * for more dimensions, an optional `[lo:hi]=` decoration; an element is written in double quotes with `"` and `\`
 * backslash-escaped whenever it holds a brace, comma, quote, backslash or space (every JSON object or string does),
 * bare otherwise (a JSON number), and NULL bare. Each element is a JSON document of its own: masked as one
 * (contentText with JSON's quoting: a bare card number becomes a string), then written back quoted, so every
 * element still parses. Masked in place as plain text, `{"{\"p\": ************1111}"}` held a document no client
 * could parse (node-postgres threw on the whole row).
 */
import { contentText, quotedElement } from './pg-values.js';
import type { ValueContext } from './pg-values.js';

const LBRACE = 0x7b;
const RBRACE = 0x7d;
const COMMA = 0x2c;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const NULL_WORD = Buffer.from('NULL');

/**
 * Masks the JSON documents of a json[]/jsonb[] text value; returns `value` itself when nothing changed. Throws on
 * text that is not an array literal (the caller's fail-closed path).
 */
export function maskJsonArrayText(value: Uint8Array, ctx: ValueContext): Uint8Array {
  const v = Buffer.from(value.buffer, value.byteOffset, value.length);
  let at = 0;
  if (v[0] === 0x5b) { // `[1:2]={…}`: dimensions with a lower bound other than 1
    at = v.indexOf(0x3d) + 1;
    if (at === 0) throw new Error('malformed array dimensions');
  }
  const parts: Uint8Array[] = [v.subarray(0, at)];
  let copied = at;
  let changed = false;
  let depth = 0;
  while (at < v.length) {
    const b = v[at]!;
    if (b === LBRACE) { depth++; at++; continue; }
    if (b === RBRACE) { depth--; at++; continue; }
    if (b === COMMA || depth === 0) { at++; continue; }
    // An element: quoted, or bare up to the next comma or closing brace.
    const start = at;
    let doc: Buffer;
    if (b === DQUOTE) {
      const q = quotedElement(v, at);
      doc = q.bytes;
      at = q.end;
    } else {
      while (at < v.length && v[at] !== COMMA && v[at] !== RBRACE) at++;
      doc = v.subarray(start, at);
      if (doc.equals(NULL_WORD)) continue;
    }
    const masked = contentText(doc, ctx, true);
    if (masked === doc) continue;
    changed = true;
    parts.push(v.subarray(copied, start), quoteElement(masked));
    copied = at;
  }
  if (depth !== 0) throw new Error('unbalanced array braces');
  if (!changed) return value;
  parts.push(v.subarray(copied));
  return Buffer.concat(parts);
}

/** An element as array_out writes it when quoted: in double quotes, `"` and `\` escaped with a backslash. */
function quoteElement(doc: Uint8Array): Buffer {
  const out: number[] = [DQUOTE];
  for (const c of doc) {
    if (c === DQUOTE || c === BACKSLASH) out.push(BACKSLASH);
    out.push(c);
  }
  out.push(DQUOTE);
  return Buffer.from(out);
}
