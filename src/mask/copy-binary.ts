/**
 * Binary COPY TO output (https://www.postgresql.org/docs/current/sql-copy.html "Binary Format"): an
 * 11-byte signature, int32 flags, int32 header-extension length and extension, then tuples: int16 field
 * count (-1 ends the data), and per field int32 length (-1 = NULL) and bytes. The field types are not in
 * the stream: the broker announces them (expectCopy, from a Describe on a side connection), and each field
 * is then masked as a value of its type. Without them every field is treated as a value of unknown type:
 * PANs in text bytes are masked, an 8-byte field that reads as an int8 or float8 PAN and a numeric-shaped
 * field holding one become NULL (so does a timestamp whose bytes happen to read as one), arrays and
 * records (which name their element and field types) are walked.
 * The backend sends one tuple per CopyData message; a message that is not whole tuples is refused.
 */
import type { ColumnRule } from './column-rules.js';
import { addCount } from './pan-masker.js';
import { binaryValue, structuredOrPan } from './pg-values.js';
import type { ValueContext, ValueResult } from './pg-values.js';

/** Masks one CopyData body of a binary COPY; returns `body` itself when unchanged. */
export function maskCopyBinary(body: Buffer, headerDone: boolean, ctx: ValueContext, rules?: ReadonlyArray<ColumnRule | undefined>, types?: readonly number[]): { out: Buffer; ended: boolean } {
  let at = 0;
  if (!headerDone) {
    if (body.length < 19) throw new Error('short binary COPY header');
    const ext = body.readInt32BE(15);
    if (ext < 0) throw new Error('bad binary COPY header');
    at = 19 + ext;
  }
  const head = at;
  const tuples: Array<{ at: number; fields: ValueResult[] } | 'end'> = [];
  let changed = false;
  while (at < body.length) {
    if (at + 2 > body.length) throw new Error('truncated binary COPY tuple');
    const n = body.readInt16BE(at);
    at += 2;
    if (n === -1) { tuples.push('end'); continue; }
    if (types && n !== types.length) throw new Error(`binary COPY tuple has ${n} fields, expected ${types.length}`);
    const t: ValueResult[] = [];
    for (let i = 0; i < n; i++) {
      if (at + 4 > body.length) throw new Error('truncated binary COPY field');
      const len = body.readInt32BE(at);
      at += 4;
      if (len === -1) { t.push(null); continue; }
      if (len < 0 || at + len > body.length) throw new Error('truncated binary COPY field');
      const v = body.subarray(at, at + len);
      at += len;
      const rule = rules?.[i];
      // A value under a rule cannot be masked in its own binary format: NULL.
      const m = rule ? ruled(ctx, rule.name) : types ? binaryValue(types[i]!, v, undefined, ctx) : unknownField(v, ctx);
      if (m !== v) changed = true;
      t.push(m);
    }
    tuples.push({ at, fields: t });
  }
  const ended = tuples[tuples.length - 1] === 'end';
  if (!changed) return { out: body, ended };
  const parts: Buffer[] = [body.subarray(0, head)];
  for (const t of tuples) {
    if (t === 'end') { parts.push(Buffer.from([0xff, 0xff])); continue; }
    const c = Buffer.alloc(2);
    c.writeInt16BE(t.fields.length);
    parts.push(c);
    for (const f of t.fields) {
      const l = Buffer.alloc(4);
      l.writeInt32BE(f === null ? -1 : f.length);
      parts.push(l);
      if (f !== null) parts.push(Buffer.from(f.buffer, f.byteOffset, f.length));
    }
  }
  return { out: Buffer.concat(parts), ended };
}

function ruled(ctx: ValueContext, name: string): null {
  addCount(ctx.counts, name, 1);
  addCount(ctx.counts, 'binary_null', 1);
  return null;
}

/**
 * A field of unknown type: an array or record is walked by the types it names, an int8-, float8- or
 * numeric-shaped PAN becomes NULL, text bytes are masked (hmac tokens may change the length: COPY allows it).
 */
function unknownField(v: Buffer, ctx: ValueContext): ValueResult {
  if (!ctx.content) return v;
  const r = structuredOrPan(v, ctx, 0, true);
  return r === undefined ? binaryValue(25, v, undefined, ctx) : r; // null is an answer (the field becomes NULL)
}
