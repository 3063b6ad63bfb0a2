/**
 * Column rules on COPY TO rows in text and CSV format (https://www.postgresql.org/docs/current/sql-copy.html
 * "File Formats"). COPY sends no RowDescription, so the caller names the columns (expectCopy in
 * pg-masker.ts); a row arrives as one CopyData message. Text format: fields split by the delimiter byte;
 * a backslash escapes the byte after it (a delimiter inside data is written `\` + delimiter, so only a
 * delimiter not escaped is a boundary); NULL is `\N`. CSV: fields may be quoted (QUOTE, default `"`), a
 * quote or escape inside written with ESCAPE before it (default: the quote, `""`); NULL is an empty unquoted
 * field. The server writes these bytes in UTF8 (the broker refuses another ENCODING: in SJIS or BIG5 a byte of
 * a character can equal `\` or the delimiter).
 */
import type { ColumnRule } from './column-rules.js';
import { addCount } from './pan-masker.js';
import { hasHexRun } from './hex-text.js';
import { maskJsonArrayText } from './json-array-text.js';
import { hasUnicodeEscape } from './json-escapes.js';
import { findPans } from './pan-detector.js';
import { contentText, isNumberContainer, numberTextIsPan, ruleText, withheldPan } from './pg-values.js';
import type { ValueContext } from './pg-values.js';

export interface CopyTextFormat {
  csv: boolean;
  /** One byte; default tab (text) or comma (CSV). */
  delimiter: number;
  /** CSV's QUOTE byte; default `"`. */
  quote?: number;
  /** CSV's ESCAPE byte; default the quote. */
  escape?: number;
  /** The NULL option's string as the server writes it (default `\N` in text, empty in CSV). */
  null?: Uint8Array;
}

const DQUOTE = 0x22;
const EMPTY = new Uint8Array(0);
const BACKSLASH_N = Buffer.from('\\N');
const BACKSLASH = 0x5c;
const NL = 0x0a;
const CR = 0x0d;

const JSON_ARRAY_OID = 199;
const JSONB_ARRAY_OID = 3807;
/** json, jsonb, json[], jsonb[]. */
const JSON_TYPES = new Set([114, 3802, JSON_ARRAY_OID, JSONB_ARRAY_OID]);

/** COPY text format's escapes (CopyAttributeOutText): `\\`, `\b \f \n \r \t \v`, and `\` before the delimiter. */
const UNESCAPE: Record<number, number> = { 0x62: 0x08, 0x66: 0x0c, 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09, 0x76: 0x0b };
const ESCAPE: Record<number, number> = { 0x08: 0x62, 0x0c: 0x66, 0x0a: 0x6e, 0x0d: 0x72, 0x09: 0x74, 0x0b: 0x76 };

function unescapeText(v: Uint8Array): Buffer {
  const out: number[] = [];
  for (let i = 0; i < v.length; i++) {
    const b = v[i]!;
    if (b === BACKSLASH && i + 1 < v.length) {
      const n = v[++i]!;
      out.push(UNESCAPE[n] ?? n);
    } else out.push(b);
  }
  return Buffer.from(out);
}

function escapeText(v: Uint8Array, delimiter: number): Buffer {
  const out: number[] = [];
  for (const b of v) {
    const e = ESCAPE[b];
    if (e !== undefined) out.push(BACKSLASH, e);
    else if (b === BACKSLASH || b === delimiter) out.push(BACKSLASH, b);
    else out.push(b);
  }
  return Buffer.from(out);
}

/** A quoted CSV field's data: each ESCAPE before a QUOTE or an ESCAPE removed (CopyAttributeOutCSV writes them). */
function unquoteCsv(v: Uint8Array, f: CopyTextFormat): Buffer {
  const quote = f.quote ?? DQUOTE;
  const escape = f.escape ?? quote;
  const out: number[] = [];
  for (let i = 0; i < v.length; i++) {
    const b = v[i]!;
    if (b === escape && i + 1 < v.length && (v[i + 1] === quote || v[i + 1] === escape)) out.push(v[++i]!);
    else out.push(b);
  }
  return Buffer.from(out);
}

/** `v` as a quoted CSV field: QUOTE around it, ESCAPE before each QUOTE and ESCAPE inside (as CopyAttributeOutCSV). */
function quoteCsv(v: Uint8Array, f: CopyTextFormat): Buffer {
  const quote = f.quote ?? DQUOTE;
  const escape = f.escape ?? quote;
  const out: number[] = [quote];
  for (const b of v) {
    if (b === quote || b === escape) out.push(escape);
    out.push(b);
  }
  out.push(quote);
  return Buffer.from(out);
}

/** Bytes a card number is written with: digits, and the space and dash between its groups. */
const PAN_BYTE = /^[0-9 -]$/;
/** Bytes that, glued to a card number's first or last digit, make it read as part of a word or a longer number. */
const GLUE_BYTE = /^[0-9A-Za-z]$/;
/** A DELIMITER glued after a field's last digit that makes the next field's digits a decimal fraction. */
const DECIMAL_POINT = '.';

/**
 * Why COPY's options would make a card number unrecognisable in its rows, or undefined when they do not. In CSV a
 * QUOTE or ESCAPE byte inside a field is doubled or escaped (QUOTE '1' writes 4111… as 1411111…1, each 1 doubled),
 * in text format a DELIMITER inside a field gets a backslash (DELIMITER '-' writes 4111\-1111\-…): digits or
 * separators rewritten so, the detector finds no run to mask, and a client's CSV or COPY reader restores the card
 * number. A DELIMITER, QUOTE or ESCAPE that is a letter or digit is written right beside a field's digits
 * (DELIMITER 'X' writes `7X4111…1111X…`, QUOTE 'q' with FORCE_QUOTE `q4111…1111q`, ESCAPE 'e' before a quote after
 * one `4111…1111e"`, a CSV DELIMITER '1' `71550000…0004`): glued to a letter the card number reads as part of a
 * word or identifier, glued to a digit as part of a longer number, and the detector rightly takes neither for a
 * card number. A DELIMITER '.' between a field ending in a digit and one holding a card number (a CSV DELIMITER '.'
 * writes `7.9999123456789019`) makes the card number read as a decimal fraction, which the detector takes for a card
 * number only in a major network's range (pan-detector.ts decimalFraction), and never with padding zeros
 * (`7.0004111…`): QUOTE and ESCAPE '.' are never written between a digit and a field's first digit (`,.4111….`,
 * `"7."4111…"`) and stay usable. Such a COPY is refused (fail closed). The server itself refuses a text DELIMITER
 * that is a point, a digit or a lower-case letter, not an upper-case one; a CSV DELIMITER '.' it accepts.
 */
export function copyOptionsHidePans(o: { binary: boolean; csv: boolean; delimiter?: string | undefined; quote?: string | undefined; escape?: string | undefined }): string | undefined {
  if (o.binary) return undefined;
  if (o.delimiter === DECIMAL_POINT) {
    return `DELIMITER '.' would be written right beside the digits of a field, and a card number after a digit and a point reads as the fraction of a decimal number, which masking takes for a card number only in a major network's range and without padding zeros; use one that is not a point, letter or digit`;
  }
  const check = (name: string, v: string | undefined, what: string, inside = true) => {
    if (v === undefined) return undefined;
    if (inside && PAN_BYTE.test(v)) return `${name} '${v}' ${what}, which masking could then not find; use one that is not a letter, digit, space or dash`;
    if (GLUE_BYTE.test(v)) return `${name} '${v}' would be written right beside the digits of a field, and a card number glued to a letter or digit reads as part of a word or a longer number, which masking does not take for a card number; use one that is not a letter${inside ? ', digit, space or dash' : ' or digit'}`;
    return undefined;
  };
  if (o.csv) {
    return check('QUOTE', o.quote, 'would double itself inside a field and so rewrite the digits or separators of a card number')
      ?? check('ESCAPE', o.escape, 'would be written before itself inside a quoted field and so rewrite the digits or separators of a card number')
      // A CSV field holding the delimiter is quoted, not rewritten: only its place between fields matters.
      ?? check('DELIMITER', o.delimiter, '', false);
  }
  return check('DELIMITER', o.delimiter, 'would be escaped with a backslash inside a field and so split the digit groups of a card number');
}

/** A field's value as the column holds it: its text-format escapes or its CSV quoting undone. */
function fieldValue(value: Uint8Array, quoted: boolean, f: CopyTextFormat): Buffer {
  return !f.csv ? unescapeText(value) : quoted ? unquoteCsv(value, f) : Buffer.from(value);
}

/** Field boundaries [start, end) of one row (without its line end); for CSV, `quoted` marks "…" fields. */
function splitRow(row: Uint8Array, end: number, f: CopyTextFormat): Array<{ start: number; end: number; quoted: boolean }> {
  const out: Array<{ start: number; end: number; quoted: boolean }> = [];
  const quote = f.quote ?? DQUOTE;
  const escape = f.escape ?? quote;
  let i = 0;
  for (;;) {
    if (f.csv && row[i] === quote) {
      let j = i + 1;
      for (;;) {
        if (j >= end) throw new Error('unterminated quoted CSV field');
        const b = row[j];
        // An escape before a quote or an escape is data (with ESCAPE = QUOTE: `""`).
        if (b === escape && (row[j + 1] === quote || (escape !== quote && row[j + 1] === escape))) { j += 2; continue; }
        if (b === quote) break;
        j++;
      }
      out.push({ start: i + 1, end: j, quoted: true });
      i = j + 1;
      if (i < end && row[i] !== f.delimiter) throw new Error('garbage after a quoted CSV field');
    } else {
      let j = i;
      while (j < end && row[j] !== f.delimiter) j += !f.csv && row[j] === BACKSLASH ? 2 : 1;
      if (j > end) j = end;
      out.push({ start: i, end: j, quoted: false });
      i = j;
    }
    if (i >= end) return out;
    i++; // the delimiter
  }
}

/**
 * Applies column rules to one COPY row; returns `row` itself when no rule applied. A `null` rule writes
 * the format's NULL; other formats mask the field's text (quotes of a CSV field kept). A card number in a
 * number column (int8, numeric, float: isNumberType; `numbers` holds each one's type, 0 for the others) is
 * written as NULL: masked it would not be a number (a restore of the rows would fail on it).
 */
export function maskCopyTextRow(row: Uint8Array, rules: ReadonlyArray<ColumnRule | undefined>, f: CopyTextFormat, ctx: ValueContext, numbers?: readonly number[]): Uint8Array {
  const withhold = numbers !== undefined && ctx.content !== undefined;
  if (!withhold && !rules.some((r) => r !== undefined)) return row;
  let end = row.length;
  if (row[end - 1] === NL) end--;
  if (row[end - 1] === CR) end--;
  const fields = splitRow(row, end, f);
  if (fields.length !== rules.length) throw new Error(`COPY row has ${fields.length} fields, expected ${rules.length}`);
  const parts: Uint8Array[] = [];
  let at = 0;
  fields.forEach((fld, i) => {
    const rule = rules[i];
    const numberType = withhold && !rule ? numbers[i] ?? 0 : 0;
    if (!rule && numberType === 0) return;
    const value = row.subarray(fld.start, fld.end);
    const isNull = !fld.quoted && Buffer.compare(value, f.null ?? (f.csv ? EMPTY : BACKSLASH_N)) === 0;
    if (isNull) return;
    if (!rule && JSON_TYPES.has(numberType)) {
      // JSON kept JSON (pg_dump writes text format, and its restore parses every document; a CSV reader hands the
      // document to a JSON parser): the field's escapes or quoting undone, the document masked as JSON (a bare card
      // number quoted), escaped or quoted again. Most documents hold no card number: only those the detector finds
      // one in are unescaped (the dump's hot path).
      if (findPans(value, ctx.detect).length === 0 && !hasHexRun(value) && !hasUnicodeEscape(value)) return;
      const doc = fieldValue(value, fld.quoted, f);
      const out = numberType === JSON_ARRAY_OID || numberType === JSONB_ARRAY_OID ? maskJsonArrayText(doc, ctx) : contentText(doc, ctx, true);
      if (out === doc) return;
      if (f.csv) {
        // Always quoted: masking may have added quotes (a bare number becomes a string).
        parts.push(row.subarray(at, fld.quoted ? fld.start - 1 : fld.start), quoteCsv(out, f));
        at = fld.quoted ? fld.end + 1 : fld.end;
      } else {
        parts.push(row.subarray(at, fld.start), escapeText(out, f.delimiter));
        at = fld.end;
      }
      return;
    }
    let masked: Uint8Array | null;
    if (rule) {
      addCount(ctx.counts, rule.name, 1);
      masked = ruleText(value, rule.format, ctx.hmacKey);
    } else {
      // A number field is its digits, with no escapes to undo; an array's or range's may have quotes (money[]'s
      // `{"$4,111.00"}`), escaped or CSV-quoted in the field.
      const text = isNumberContainer(numberType) ? fieldValue(value, fld.quoted, f) : value;
      if (!numberTextIsPan(numberType, text, ctx.detect)) return;
      masked = withheldPan(ctx);
    }
    const from = fld.quoted ? fld.start - 1 : fld.start;
    const to = fld.quoted ? fld.end + 1 : fld.end;
    parts.push(row.subarray(at, from));
    parts.push(masked === null ? (f.null ?? (f.csv ? EMPTY : BACKSLASH_N)) : fld.quoted ? Buffer.concat([Buffer.of(f.quote ?? DQUOTE), masked, Buffer.of(f.quote ?? DQUOTE)]) : masked);
    at = to;
  });
  if (parts.length === 0) return row;
  parts.push(row.subarray(at));
  return Buffer.concat(parts);
}
