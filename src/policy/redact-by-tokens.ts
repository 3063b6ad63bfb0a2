/**
 * Passwords in a statement's text found by the server's own scanner (libpg-query's scanTokens), so that what a
 * password's spelling hides in (a literal or comment that mentions `password` before the real one, a literal
 * continued on the next line, a `$tag1$` dollar quote, a quoted `"password"` option name, a connection string or
 * statement inside a literal) is read as PostgreSQL reads it. redact-statement-secrets.ts runs this first and its
 * spelling scanners after, on what this left: each can only redact more.
 *
 * What counts as a password's value (literals are SCONST tokens, in any spelling: '…', E'…', U&'…', $tag$…$tag$):
 * - after a name that says password (the keyword, `sslpassword`, `db_password`, `"Password"`, `a.password`), and an
 *   optional `=`, `:=`, `=>` or TO: the literal there, or every literal of the call there (`crypt('x', …)`);
 * - after a literal that is such a name (`'db_password'`, set_config's `'app.password'`): the next literal in the
 *   same parentheses (VALUES, set_config, jsonb_build_object);
 * - after a literal whose text ends in one (`'… PASSWORD '`, `'password='`) or puts a format's `%` there
 *   (`format('… PASSWORD %L', …)`): every later literal in the same parentheses and statement;
 * - in `INSERT INTO t (…, password, …) VALUES (…), (…)`: every literal of that column's values;
 * - inside a literal that mentions password (dynamic SQL, a function body, a connection string): the literal's own
 *   text redacted as a statement, three levels deep; deeper, the whole literal.
 * More than the secret may be redacted (a literal after `'reset password',`); never less than these.
 */
import { scanTokens } from './pg-parser.js';
import type { SqlToken } from './pg-parser.js';

/** A password's name: password, passwd, and words that contain them. */
const NAMES_PASSWORD = /passw(?:or)?d/i;
/** A literal that is only a name, as a key: 'db_password', 'app.password'. */
const BARE_NAME = /^\s*[\w.$-]+\s*$/;
/** A literal whose text ends where a password goes, or puts a format's placeholder there. */
const PASSWORD_NEXT = /passw(?:or)?d[\s=:'"]*(?:%|$)/i;
/** How deep literals inside literals are read before one that mentions password is redacted whole. */
const MAX_DEPTH = 3;

interface Tok {
  start: number;
  end: number;
  text: string;
  kind: 'string' | 'name' | 'open' | 'close' | 'end' | 'assign' | 'comma' | 'other';
}

/**
 * `text` with the passwords the scanner finds replaced by `'mark'`, or undefined when the scanner cannot read it
 * (an unclosed literal or comment: the server would not run it either, and the spelling scanners still read it).
 * `redactText` redacts a literal's own text (the caller's whole redaction, for what a statement inside a
 * literal carries); `depth` counts the literals around this text. Linear in the tokens: where each group of
 * parentheses ends and each literal's next one in its group are found in one pass each, and the literals to
 * redact are collected as ranges and swept once.
 */
export function redactByTokens(text: string, mark: string, redactText: (inner: string, depth: number) => string, depth = 0): string | undefined {
  let raw: SqlToken[];
  try {
    raw = scanTokens(text);
  } catch {
    return undefined;
  }
  const comments: Tok[] = [];
  const toks = new Tokens(tokensOf(text, raw, comments));
  const { list } = toks;
  const redact = new Map<number, string>();
  /** Ranges [from, to) of tokens whose literals are all redacted. */
  const ranges: Array<[number, number]> = [];
  let insertsReadTo = 0;
  for (let i = 0; i < list.length; i++) {
    const t = list[i]!;
    if (t.kind === 'name') {
      if (/^insert$/i.test(t.text) && i >= insertsReadTo) insertsReadTo = insertValues(toks, i, ranges);
      else if (NAMES_PASSWORD.test(t.text)) valueAfterName(toks, i, ranges);
    } else if (t.kind === 'string') {
      const content = literalContent(t.text);
      if (!NAMES_PASSWORD.test(content)) continue;
      if (BARE_NAME.test(content)) {
        const next = toks.nextInGroup[i]!;
        if (next >= 0) ranges.push([next, next + 1]);
        continue;
      }
      if (PASSWORD_NEXT.test(content)) ranges.push([i + 1, toks.groupEnd[i]!]);
      // What a literal's text could carry besides the word: a quote, a dollar quote, a `=` or a URL's `:`.
      if (/['$=:]/.test(content)) {
        const inner = depth + 1 >= MAX_DEPTH ? undefined : reencode(t.text, redactText(content, depth + 1));
        if (inner !== t.text) redact.set(i, inner ?? `'${mark}'`);
      }
    }
  }
  // The ranges swept in order: every literal in one is replaced whole (over what its own text's redaction made).
  ranges.sort((a, b) => a[0] - b[0]);
  for (let r = 0, at = 0; r < ranges.length; r++) {
    const [from, to] = ranges[r]!;
    for (at = Math.max(at, from); at < to; at++) if (list[at]!.kind === 'string') redact.set(at, `'${mark}'`);
  }
  const edits = [...redact].map(([i, to]) => ({ start: list[i]!.start, end: list[i]!.end, to }));
  // A comment that mentions a password (a statement commented out, a note): its text redacted as a statement's.
  for (const c of comments) {
    const open = c.text.startsWith('--') ? '--' : '/*';
    const inner = c.text.slice(2, open === '--' ? undefined : -2);
    const to = depth + 1 >= MAX_DEPTH ? `${open} ${mark} ${open === '--' ? '' : '*/'}` : `${open}${redactText(inner, depth + 1)}${open === '--' ? '' : '*/'}`;
    if (to !== c.text) edits.push({ start: c.start, end: c.end, to });
  }
  if (edits.length === 0) return text;
  edits.sort((a, b) => a.start - b.start);
  let out = '';
  let done = 0;
  for (const e of edits) {
    out += text.slice(done, e.start) + e.to;
    done = e.end;
  }
  return out + text.slice(done);
}

/** The tokens, and for each where its group of parentheses (or its statement) ends and its group's next literal. */
class Tokens {
  /** For each token: the index of the `)` that closes its group, or of the `;` that ends its statement first, or the length. */
  readonly groupEnd: number[];
  /** For a literal: the index of the next literal in its own group (not in nested parentheses) and statement, or -1. */
  readonly nextInGroup: number[];
  /** For a `(`: the index after its `)` (or where its statement ends). */
  readonly afterClose: number[];

  constructor(readonly list: Tok[]) {
    const n = list.length;
    const depth = new Array<number>(n);
    let d = 0;
    for (let i = 0; i < n; i++) {
      const k = list[i]!.kind;
      if (k === 'close') d = Math.max(0, d - 1);
      depth[i] = d;
      if (k === 'open') d++;
      if (k === 'end') d = 0;
    }
    this.groupEnd = new Array<number>(n);
    this.nextInGroup = new Array<number>(n).fill(-1);
    this.afterClose = new Array<number>(n).fill(n);
    // Right to left: per depth, the group's closing `)` and next literal seen so far; a `;` ends them all (a
    // generation, so that it costs one step however deep the text went).
    const closeAt: Array<[number, number]> = [];
    const nextString: Array<[number, number]> = [];
    let gen = 0;
    let endAt = n;
    for (let i = n - 1; i >= 0; i--) {
      const t = list[i]!;
      const di = depth[i]!;
      if (t.kind === 'end') { gen++; endAt = i; }
      if (t.kind === 'close') { closeAt[di + 1] = [i, gen]; nextString[di + 1] = [-1, gen]; }
      if (t.kind === 'open') { const c = closeAt[di + 1]; this.afterClose[i] = c && c[1] === gen ? c[0] + 1 : endAt; }
      const c = closeAt[di];
      this.groupEnd[i] = c && c[1] === gen ? c[0] : endAt;
      if (t.kind === 'string') {
        const s = nextString[di];
        this.nextInGroup[i] = s && s[1] === gen ? s[0] : -1;
        nextString[di] = [i, gen];
      }
    }
  }
}
/**
 * The scanner's tokens without comments, offsets in UTF-16 code units (the scanner gives UTF-8 bytes); the
 * comments that mention a password go to `comments`.
 */
function tokensOf(text: string, raw: SqlToken[], comments: Tok[]): Tok[] {
  const ascii = Buffer.byteLength(text) === text.length;
  let ch = 0;
  let byte = 0;
  const charAt = (b: number): number => {
    while (byte < b && ch < text.length) {
      const c = text.codePointAt(ch)!;
      byte += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
      ch += c >= 0x10000 ? 2 : 1;
    }
    return ch;
  };
  const out: Tok[] = [];
  for (const r of raw) {
    const name = (r as { tokenName?: string }).tokenName;
    const start = ascii ? r.start : charAt(r.start);
    const end = ascii ? r.end : charAt(r.end);
    const t = text.slice(start, end);
    if (name === 'SQL_COMMENT' || name === 'C_COMMENT') {
      if (NAMES_PASSWORD.test(t)) comments.push({ start, end, text: t, kind: 'other' });
      continue;
    }
    out.push({ start, end, text: t, kind: kindOf(name, (r as { keywordKind?: number }).keywordKind ?? 0, t) });
  }
  return out;
}

function kindOf(name: string | undefined, keywordKind: number, t: string): Tok['kind'] {
  if (name === 'SCONST' || /^[Uu]&'/.test(t)) return 'string';
  if (name === 'IDENT' || keywordKind > 0 || /^[Uu]&"/.test(t)) return /^to$/i.test(t) ? 'assign' : 'name';
  if (t === '(') return 'open';
  if (t === ')') return 'close';
  if (t === ';') return 'end';
  if (t === ',') return 'comma';
  if (t === '=' || t === ':=' || t === '=>') return 'assign';
  return 'other';
}

/** A literal's text, roughly: what lies between its quotes, a doubled quote read as one. For reading, not for SQL. */
function literalContent(t: string): string {
  const dollar = /^(\$[^$]*\$)([\s\S]*)\1$/.exec(t);
  if (dollar) return dollar[2]!;
  const q = t.indexOf("'");
  const quoted = t.slice(q + 1, -1).replace(/''/g, "'");
  // A backslash escapes only in E'…' (standard_conforming_strings, as the scanner reads).
  return q === 1 && /^[Ee]/.test(t) ? quoted.replace(/\\([\s\S])/g, '$1') : quoted;
}

/**
 * The literal `t` with its text replaced by `inner` (already redacted), in its own quoting; `t` when nothing
 * changed; undefined when the quoting cannot carry it back (E'…', U&'…': the caller replaces it whole).
 */
function reencode(t: string, inner: string): string | undefined {
  if (inner === literalContent(t)) return t;
  const dollar = /^(\$[^$]*\$)[\s\S]*\1$/.exec(t);
  if (dollar) return inner.includes(dollar[1]!) ? undefined : `${dollar[1]}${inner}${dollar[1]}`;
  return t.startsWith("'") ? `'${inner.replace(/'/g, "''")}'` : undefined;
}

/** After a name that says password at `i`: an optional `=`/`:=`/`=>`/TO, then a literal, or a call's literals. */
function valueAfterName(toks: Tokens, i: number, ranges: Array<[number, number]>): void {
  const { list } = toks;
  let j = i + 1;
  if (list[j]?.kind === 'assign') j++;
  if (list[j]?.kind === 'string') { ranges.push([j, j + 1]); return; }
  // A function's name (schema-qualified or not) and its arguments: crypt('x', gen_salt('bf')), pg_catalog.md5('x').
  while (list[j]?.kind === 'name' && list[j + 1]?.text === '.') j += 2;
  if (list[j]?.kind === 'name' && list[j + 1]?.kind === 'open') ranges.push([j + 1, toks.afterClose[j + 1]!]);
}

/** The most tokens between INSERT and its column list: INTO a . b . c AS x. */
const INSERT_TARGET_TOKENS = 9;

/**
 * `INSERT INTO t (cols) [OVERRIDING … VALUE] VALUES (…), (…)` at `i`: every literal of a column that says
 * password. Returns the index this read to (an INSERT inside what it read is not looked at again).
 */
function insertValues(toks: Tokens, i: number, ranges: Array<[number, number]>): number {
  const { list } = toks;
  let j = i + 1;
  while (j < list.length && j <= i + INSERT_TARGET_TOKENS && (list[j]!.kind === 'name' || list[j]!.text === '.')) j++;
  if (list[j]?.kind !== 'open') return j;
  const secret = new Set<number>();
  let col = 0;
  for (j++; j < list.length && list[j]!.kind !== 'close'; j++) {
    const t = list[j]!;
    if (t.kind === 'comma') col++;
    else if (t.kind === 'name' && NAMES_PASSWORD.test(t.text)) secret.add(col);
    else if (t.kind !== 'name' && t.kind !== 'other') return j;
  }
  j++;
  if (/^overriding$/i.test(list[j]?.text ?? '')) j += 3;
  if (secret.size === 0 || !/^values$/i.test(list[j]?.text ?? '')) return j;
  for (j++; list[j]?.kind === 'open'; j++) {
    // One row: its values split at the commas of its own parentheses.
    const close = toks.afterClose[j]! - 1;
    let at = 0;
    let from = j + 1;
    for (let k = j + 1; k <= close && k < list.length; k++) {
      if (k === close || (list[k]!.kind === 'comma' && toks.groupEnd[k] === close)) {
        if (secret.has(at)) ranges.push([from, k]);
        at++;
        from = k + 1;
      }
    }
    j = close + 1;
    if (list[j]?.kind !== 'comma') return j;
  }
  return j;
}
