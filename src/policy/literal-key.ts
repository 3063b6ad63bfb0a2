/**
 * literalKey(sql): the SQL text with every plain constant replaced by a placeholder, so statements that
 * differ only in their constants (`… WHERE aid = 4711`, `… WHERE aid = 815`: what a client using the
 * simple protocol sends) share one policy decision instead of one parse each.
 *
 * The placeholders follow the token types of PostgreSQL's lexer (scan.l), because the grammar accepts
 * each in different places (`FETCH 5` parses, `FETCH 5.5` and `FETCH '5'` do not):
 * - `\0i` an integer that fits in int32 (ICONST), `\0f` any other number (FCONST: a decimal point, an
 *   exponent, or an integer too large for int32);
 * - `\0s` a plain `'…'` string (SCONST; `''` is a quote inside it).
 * A query string never holds a NUL byte (the protocol ends it with one), so no text outside the
 * placeholders can look like one. Everything else (keywords, identifiers, operators, whitespace,
 * `"quoted"` identifiers, `$1` parameters) is kept as written.
 *
 * Two texts with the same key therefore have the same tokens but for the values of these constants, and
 * parse to the same tree but for what the grammar takes from those values: A_Const values, counts (FETCH
 * 5), type modifiers (FLOAT(p) even picks float4 or float8), a SET's value. Classification (classify.ts)
 * reads none of these but a SET's value, EXPLAIN's option values and a function's quoted body, and takes
 * table, column and function names only from identifiers otherwise; PolicyEngine shares a decision only
 * between statements that read no constant. Where this lexer could get a token
 * boundary wrong it gives up (undefined, and the caller keys by the text itself): comments, dollar
 * quoting, `E'…'`/`U&'…'`/`B'…'`/`X'…'`/`N'…'` and typed-prefix strings glued to a word, any backslash (in
 * a string its meaning depends on standard_conforming_strings), numbers glued to a letter, `_` or `.`
 * (`0x1F`, `1_000`, `1..2`, `.5`), an unterminated quote, and texts longer than {@link LITERAL_KEY_MAX}.
 * Nor does it key a text that says UESCAPE anywhere: the string after it is no value but the escape character
 * of the `U&"…"` identifier before it, so `U&"s!0065crets" UESCAPE '!'` names the table secrets and
 * `U&"s!0065crets" UESCAPE '#'` a table named s!0065crets (the first took the second's cached allow).
 */

/** Longer texts are keyed by themselves: the scan is linear, but a key this long is rarely shared. */
export const LITERAL_KEY_MAX = 8192;
const INT32_MAX = 2_147_483_647;
/** The keyword whose string is a `U&"…"` identifier's escape character, not a value (scan.l, gram.y UESCAPE). */
const UESCAPE = /uescape/i;

/** [A-Za-z0-9_$] or any non-ASCII character: what may continue an identifier (scan.l ident_cont). */
function identChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x24 || c >= 0x80;
}

function digit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** scan.l process_integer_literal: an integer that does not fit in int32 is an FCONST. */
function fitsInt32(digits: string): boolean {
  let k = 0;
  while (k < digits.length - 1 && digits.charCodeAt(k) === 0x30) k++;
  const n = digits.length - k;
  return n < 10 || (n === 10 && Number(digits.slice(k)) <= INT32_MAX);
}

/** The last text keyed and its key: a statement's text is keyed twice, by policy and by its record. */
let lastSql: string | undefined;
let lastKey: string | undefined;

/** The key of `sql`, or undefined when the text holds something this lexer does not take apart. */
export function literalKey(sql: string): string | undefined {
  if (sql === lastSql) return lastKey;
  lastKey = scan(sql);
  lastSql = sql;
  return lastKey;
}

function scan(sql: string): string | undefined {
  const len = sql.length;
  if (len > LITERAL_KEY_MAX || sql.includes('\\') || UESCAPE.test(sql)) return undefined;
  let out = '';
  let from = 0;
  let i = 0;
  while (i < len) {
    const c = sql.charCodeAt(i);
    if (c === 0x27) { // '
      const before = i > 0 ? sql.charCodeAt(i - 1) : 0x20;
      if (identChar(before) || before === 0x26) return undefined; // E'…', U&'…', B'…', X'…', N'…', date'…'
      let j = i + 1;
      for (;;) {
        const q = sql.indexOf("'", j);
        if (q < 0) return undefined;
        if (sql.charCodeAt(q + 1) === 0x27) { j = q + 2; continue; }
        j = q + 1;
        break;
      }
      out += `${sql.slice(from, i)}\0s`;
      from = i = j;
      continue;
    }
    if (c === 0x22) { // "quoted identifier": kept as written; "" inside it is two adjacent quotes to skip
      const q = sql.indexOf('"', i + 1);
      if (q < 0) return undefined;
      i = q + 1;
      continue;
    }
    if ((c === 0x2d && sql.charCodeAt(i + 1) === 0x2d) || (c === 0x2f && sql.charCodeAt(i + 1) === 0x2a)) return undefined; // -- or /*
    if (c === 0x24) { // $: inside an identifier, a parameter $n, or a dollar quote (given up)
      const before = i > 0 ? sql.charCodeAt(i - 1) : 0x20;
      if (!identChar(before) && !digit(sql.charCodeAt(i + 1))) return undefined;
      i++;
      while (i < len && identChar(sql.charCodeAt(i))) i++;
      continue;
    }
    if (identChar(c) && !digit(c)) { // a word: keyword or identifier, digits in it included
      i++;
      while (i < len && identChar(sql.charCodeAt(i))) i++;
      continue;
    }
    if (digit(c)) {
      if (i > 0 && sql.charCodeAt(i - 1) === 0x2e) return undefined; // .5, or t.1
      let j = i;
      while (j < len && digit(sql.charCodeAt(j))) j++;
      let integer = true;
      if (sql.charCodeAt(j) === 0x2e) { // 1.  1.5
        integer = false;
        j++;
        while (j < len && digit(sql.charCodeAt(j))) j++;
      }
      const e = sql.charCodeAt(j);
      if (e === 0x65 || e === 0x45) { // 1e5  1.5E-3
        integer = false;
        j++;
        const sign = sql.charCodeAt(j);
        if (sign === 0x2b || sign === 0x2d) j++;
        if (!digit(sql.charCodeAt(j))) return undefined;
        while (j < len && digit(sql.charCodeAt(j))) j++;
      }
      const next = j < len ? sql.charCodeAt(j) : 0x20;
      if (identChar(next) || next === 0x2e) return undefined; // 0x1F, 1_000, 12abc, 1..2
      out += `${sql.slice(from, i)}\0${integer && fitsInt32(sql.slice(i, j)) ? 'i' : 'f'}`;
      from = i = j;
      continue;
    }
    i++;
  }
  return from === 0 ? sql : out + sql.slice(from);
}

/**
 * `sql` with the text of each `'…'` string (`''` is a quote inside it) left out: `''` in its place. Exactly what
 * `sql.replace(/'(?:[^']|'')*'/g, "''")` gives, without the regular expression: V8 runs that alternation with a
 * stack frame a character and overflowed its stack on a 10 MB string (a SELECT of one long literal was refused as
 * an internal error). Where a string is not closed, its longest prefix that ends in a quote counts (the first
 * quote of its last `''`), as the expression's backtracking does; the rest is kept as written.
 */
export function withoutStringTexts(sql: string): string {
  let i = sql.indexOf("'");
  if (i < 0) return sql;
  let out = '';
  let from = 0;
  while (i >= 0) {
    // The quote that closes the string opened at i, skipping each `''`; or where a string not closed ends.
    let j = sql.indexOf("'", i + 1);
    let lastPair = -1;
    while (j >= 0 && sql.charCodeAt(j + 1) === 0x27) {
      lastPair = j;
      j = sql.indexOf("'", j + 2);
    }
    if (j < 0) j = lastPair;
    if (j < 0) break; // not closed, and no `''` in it: kept as written
    out += `${sql.slice(from, i)}''`;
    from = j + 1;
    i = sql.indexOf("'", from);
  }
  return out + sql.slice(from);
}
