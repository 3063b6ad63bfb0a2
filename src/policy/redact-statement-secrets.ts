/**
 * The secrets a SQL statement's text can carry, found by their spelling: a `PASSWORD` clause's literal (CREATE/ALTER
 * ROLE/USER, ENCRYPTED PASSWORD, `password '…'` in OPTIONS (…)) in any literal form, a connection string's
 * `password=…` (dblink, postgres_fdw, CREATE SUBSCRIPTION … CONNECTION) and a URL's password. ARCHITECTURE.md §4:
 * the log never holds a secret, and neither does anything else pcigate keeps or shows of a statement: its
 * `pg.query` record (src/broker/sql-record.ts) and an approval request, its file, its records and what approvers
 * and `policy explain` are shown (approvals.ts safeStatementText).
 *
 * Where the parser is loaded, the server's scanner reads the text instead (redact-by-tokens.ts), so that a literal
 * or comment that mentions a password does not hide the real one, and a password or other secret named or spelled
 * otherwise (`"password" 'x'`, VALUES ('db_password', 'x'), set_config, format, INSERT … (api_key) VALUES, a
 * statement inside a literal) is found. The spelling scanners below read what the scanner cannot (an unclosed
 * literal, a NUL, a process that did not load the parser); in a literal's text, redact-content.ts reads JSON,
 * `password: x` and connection strings first. URLs are read by spelling in every case.
 *
 * A statement the server refuses is recorded too (pg.query, refused as unparsable), and its password with it: a
 * PASSWORD literal never closed is replaced to the text's end, a word or quoted name given for one
 * (`PASSWORD hunter2`, `PASSWORD "hunter2"`) is replaced, and so is a password in another server's syntax
 * (`IDENTIFIED BY 'x'`, `SET PASSWORD FOR u = 'x'`). The parser's error quotes the statement's text near where it
 * stopped: parseErrorRedacted takes out of it what the redaction hides (statementSecretSpans), for the policy's reason.
 */
import { firstAtLeast } from '../sorted-index.js';
import { redactByTokens, utf16Offset } from './redact-by-tokens.js';
import type { TableColumns } from './redact-by-tokens.js';
import { CALLS_SECRET, EXECUTES, HTTP_HINT, httpCredentials, IDENTIFIES, KNOWN_TOKEN, mayHoldSecret, NAMES_SECRET, privateKeyBodies, redactContentSecrets, RUNS_COMMAND, TOKEN_HINT } from './redact-content.js';
import { parseStatements, parserReady } from './pg-parser.js';

/*
 * Each secret is found in one pass over the text (a statement of any length: approvals.ts safeStatementText
 * has no cap). The spelling is the RegExps this file held before, and each scanner below says which; they are
 * checked against them on random text (test/unit/policy/redact-statement-secrets.test.ts). As RegExps they read
 * from each candidate to the end of the text and back: `password$t1$password$t2$…` (a dollar quote never
 * closed, each tag another) and `a.a.a.…a x://` or `x://:bx://:b…` (a URL without `@`) took a second per 64 KiB.
 *
 * Two spellings those RegExps missed are looked for since in the text the scanners of their spelling (unchanged)
 * left, so that all those replaced stays replaced (redactMissedPasswords; `mark` is taken to hold no quote, no
 * `password`, no comment and no backslash, as '[redacted]' and '***' do): a comment between
 * `PASSWORD` and its literal (`PASSWORD /* c *\/ 'x'`, `PASSWORD -- c⏎ 'x'`; PostgreSQL reads a comment as
 * whitespace, `/* *\/` nests, `--` runs to \n or \r), the literal replaced and the comment kept; and a backslash
 * before a line break inside `E'…'` / `U&'…'` or a quoted `password='…'` (it escapes any character, but the
 * RegExps' `\\.` stopped there, so `PASSWORD E'a\⏎b'` was kept whole).
 *
 * Where those RegExps found a literal never closed (no quote, or only doubled ones: they backtracked to the last
 * `''`, and kept the rest), the server reads it to the text's end: all of it is replaced now, as `'mark` (left open,
 * as it was). What the server refuses and they never read, a word, a quoted name, another server's syntax, is looked
 * for last, in what the others left (redactUnreadPasswords). Each is read once: a value read is taken whole, and no
 * place inside it is looked at again.
 */

/**
 * `PASSWORD 'x'` (CREATE/ALTER ROLE/USER, ENCRYPTED PASSWORD), and `password 'x'` in OPTIONS (…); with no word
 * boundary before it, so that postgres_fdw's `sslpassword 'x'` is one too. The literal in any of its spellings:
 * '…', E'…', U&'…', $tag$…$tag$. Was the RegExp
 * `(password\s*)(?:[EeUu]&?'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*'|\$(?<tag>[A-Za-z_]*)\$[\s\S]*?\$\k<tag>\$)` (gi).
 */
const PASSWORD_KEYWORD = /password\s*/iy;
/**
 * `password=…` (and `sslpassword=…`) inside connection strings (dblink, postgres_fdw, subscriptions). Was the
 * RegExp `(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s'"]+)` (gi): linear, but its backtracking stack ran out on a
 * quoted value of 8 MiB (a RangeError, from a held statement's safeStatementText).
 */
const CONNSTR_KEYWORD = /password\s*=\s*/iy;
/** A connection string's unquoted value. */
const CONNSTR_BARE_VALUE = /[^\s'"]+/y;
/**
 * `postgres://user:secret@host` URLs, and `postgres://:secret@host` (libpq takes a URI without a user name).
 * Was the RegExp `(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@'"]*:)([^\s@'"]+)(@)` (gi): its user part, then the password.
 */
const URL_USER = /[^\s:/@'"]*:/y;
/** What ends a URL's password: the `@` after it, or what stops it being one. */
const URL_PASSWORD_END = /[\s@'"]/g;

const PASSWORD_WORD = /password/i;
const PASSWORD_ALL = /password/gi;
/** A backslash before a line terminator: what the RegExps' `\\.` stopped at. */
const ESCAPED_LINE_BREAK = /\\[\n\r\u2028\u2029]/;
/** PostgreSQL's whitespace and more (a RegExp's \s), as PASSWORD_KEYWORD skips it. */
const BLANKS = /\s*/y;

/** `text` with every secret found replaced by `mark` (a literal's by `'mark'`, so the SQL still reads as SQL). */
export function redactStatementSecrets(text: string, mark = '[redacted]', tables?: TableColumns): string {
  return redactAt(text, mark, 0, tables);
}

/**
 * Where the text redactStatementSecrets replaces is (`text`'s offsets, [start, end) each, in order, none touching):
 * what of a statement its record hides, for text that quotes the statement otherwise (parseErrorRedacted).
 */
export function statementSecretSpans(text: string, mark = '[redacted]', tables?: TableColumns): Array<[number, number]> {
  const kept = new Kept(text.length);
  redactAt(text, mark, 0, tables, kept);
  return kept.hidden(text.length);
}

/**
 * The parser's message for `sql` (a ParseFailure's, `cursor` where it stopped, in characters, or -1) without the text
 * the statement's redaction hides: the server quotes the token it stopped at (`syntax error at or near "'hunter2'"`,
 * `unterminated quoted string at or near "'hunter2"`, `unrecognized role option "x"`), which may be a password the
 * record shows as `'[redacted]'`. A quoted part that is the text at the cursor is replaced by `"mark"` when any of
 * it is hidden; one that is not found there, when it holds a hidden text (or is too long to look through).
 */
export function parseErrorRedacted(sql: string, message: string, cursor: number, mark = '[redacted]'): string {
  if (!message.includes('"')) return message;
  const spans = statementSecretSpans(sql, mark);
  if (spans.length === 0) return message;
  const starts = spans.map(([a]) => a);
  /** Whether any text in [from, to) is hidden. */
  const hides = (from: number, to: number): boolean => {
    const k = firstAtLeast(starts, to) - 1; // the last span starting before `to`
    return k >= 0 && spans[k]![1] > from;
  };
  const at = cursor >= 0 && cursor <= sql.length ? utf16Offset(sql, cursor) : -1;
  const hidden = (quoted: string): boolean => {
    if (at >= 0 && sql.slice(at, at + quoted.length).toLowerCase() === quoted.toLowerCase()) return hides(at, at + quoted.length);
    // Not the text at the cursor (or no cursor): hidden when it holds any hidden text, with or without its quotes.
    if (quoted.length * spans.length > 4_000_000) return true;
    const q = quoted.toLowerCase();
    return spans.some(([a, b]) => {
      const t = sql.slice(a, b).toLowerCase();
      const inner = t.replace(/^(?:[eu]&?)?['"$]+|['"$]+$/g, '');
      return (t !== '' && q.includes(t)) || (inner !== '' && q.includes(inner));
    });
  };
  // The token near which the parser stopped is quoted last, as the server wrote it (it may hold `"`): to the end.
  const near = / at or near "/.exec(message);
  const head = near ? message.slice(0, near.index + near[0].length) : message;
  const out = head.replace(/"([^"]*)"/g, (whole, quoted: string) => (quoted !== '' && hidden(quoted) ? `"${mark}"` : whole));
  if (!near) return out;
  const token = message.endsWith('"') ? message.slice(head.length, -1) : message.slice(head.length);
  return `${out}${token !== '' && hidden(token) ? mark : token}${message.endsWith('"') ? '"' : ''}`;
}

/**
 * `text` redacted at `depth` (0: a statement; more: a literal's or comment's text inside one). `kept`, at depth 0:
 * told what each pass replaced (its edits: flat [start, end, length of what replaced it], in that pass's text).
 */
function redactAt(text: string, mark: string, depth: number, tables?: TableColumns, kept?: Kept): string {
  let s = text;
  const edits: number[] | undefined = kept ? [] : undefined;
  /** Runs a pass over `s`; `kept` learns what it replaced. */
  const pass = (f: (t: string, e: number[] | undefined) => string): void => {
    s = f(s, edits);
    if (kept && edits!.length > 0) {
      kept.apply(edits!);
      edits!.length = 0;
    }
  };
  // Read as the server reads it (the parser is loaded wherever statements are recorded or held: pg-hooks.ts,
  // explain.ts, startPgBroker). Text the scanner read needs no PASSWORD-clause spelling: it misreads SQL and would
  // mangle the record (`SELECT 'reset password'; ALTER USER …` lost its ALTER to a "literal" from that quote);
  // the spelling's catches the scanner's rules must also make are tests (redact-by-tokens.test.ts). A literal's
  // or comment's text (depth > 0) may be a connection string, JSON or prose, not SQL: the content rules read it
  // first (a value's quoting and escapes), then the scanner's (`password = x` in prose, as SQL).
  if (depth > 0 && NAMES_SECRET.test(s)) s = redactContentSecrets(s, mark);
  // (An INSERT's values may be a password's by the table's columns alone: read when the caller can ask the catalog,
  // in a function or DO body too; an EXECUTE's arguments always.)
  // (Another server's password syntax names no secret: IDENTIFIED BY 'x'.)
  // (A command line the server runs, COPY … PROGRAM, archive_command: read by the scanner, which knows where it is.)
  const scanned = (mayHoldSecret(s) || IDENTIFIES.test(s) || (tables?.columnsOf !== undefined && /insert/i.test(s)) || (depth === 0 && EXECUTES.test(s)) || RUNS_COMMAND.test(s)) && parserReady();
  const read = scanned ? redactByTokens(s, mark, (inner, d) => redactAt(inner, mark, d, tables), depth, tables, edits) : undefined;
  if (read !== undefined) pass(() => read);
  if (read === undefined && PASSWORD_WORD.test(s)) {
    // The replacements only run on text that can match them (both password patterns name the word, a URL
    // has `://`): this runs once per distinct SQL text, which with literals in the SQL is once per statement.
    pass((t, e) => redactPasswordClauses(t, mark, e));
    pass((t, e) => redactConnstrPasswords(t, mark, e));
  }
  if (s.includes('://')) pass((t, e) => redactUrlPasswords(t, mark, e));
  // What the RegExps' spelling missed, looked for in what they left: it can only replace more.
  if (read === undefined && PASSWORD_WORD.test(s)) pass((t, e) => redactMissedPasswords(t, mark, e));
  // What the server refuses and the spellings above never read: a word or quoted name for a password, another server's syntax.
  if (read === undefined && (PASSWORD_WORD.test(s) || IDENTIFIES.test(s))) pass((t, e) => redactUnreadPasswords(t, mark, e));
  // The spelling knows passwords only. Text the scanner cannot read that calls a key's function, names a secret other
  // than a password or EXECUTEs: a literal's text (maybe not SQL: a PL/Python body, where quotes pair otherwise) and a
  // statement the server cannot parse either (it runs none of it) are replaced whole, a key may be anywhere in them;
  // a statement the server parses (past ~3.6 million tokens the scanner answers with none) runs, and keeps its code:
  // every literal of it goes, read by SQL's quoting rules (sqlLiteralsRedacted).
  if (scanned && read === undefined && (CALLS_SECRET.test(s) || (depth === 0 && EXECUTES.test(s)) || NAMES_SECRET.test(s.replace(PASSWORD_ALL, '')))) {
    if (depth > 0 || 'error' in parseStatements(s)) pass((t, e) => { e?.push(0, t.length, mark.length); return mark; });
    else pass((t, e) => sqlLiteralsRedacted(t, mark, e));
  }
  // A token known by its form, whatever names it (`UPDATE settings SET v = 'sk_live_…'`): in a literal, its text goes.
  if (TOKEN_HINT.test(s)) pass((t, e) => redactKnownTokens(t, mark, e));
  // An HTTP credential (`'Authorization: Basic …'`, http_header('Authorization', 'Bearer …')) and a private key's body,
  // in a literal or not.
  if (HTTP_HINT.test(s) || s.includes('PRIVATE KEY')) pass((t, e) => redactSpans(t, [...httpCredentials(t), ...privateKeyBodies(t)], mark, e));
  return s;
}

/**
 * A value's text as pcigate keeps it (a bind parameter, a sampled result value): read as a literal's text is (a
 * password's key and value, a connection string's, a URL's password, a token or an HTTP credential known by its form,
 * a private key).
 */
export function valueSecretsRedacted(text: string, mark = '[redacted]'): string {
  return redactAt(text, mark, 1);
}

/** `s` with each of the [start, end) pairs of `at` (flat) replaced by `mark`; `edits` told each. */
function redactSpans(s: string, at: readonly number[], mark: string, edits?: number[]): string {
  const ranges: Range[] = [];
  for (let k = 0; k < at.length; k += 2) ranges.push({ start: at[k]!, end: at[k + 1]!, mark });
  return replaceRanges(s, ranges, edits);
}

/** `s` with each KNOWN_TOKEN replaced by `mark`; `edits` told each. */
function redactKnownTokens(s: string, mark: string, edits?: number[]): string {
  const ranges: Range[] = [];
  KNOWN_TOKEN.lastIndex = 0;
  for (let m = KNOWN_TOKEN.exec(s); m; m = KNOWN_TOKEN.exec(s)) ranges.push({ start: m.index, end: m.index + m[0].length, mark });
  return replaceRanges(s, ranges, edits);
}

/**
 * `text` with every string literal ('…', E'…' with its backslash escapes, U&'…', $tag$…$tag$) replaced by `'mark'`, read as
 * PostgreSQL's scanner reads quotes and comments (-- to the line end, nested block comments, "…" names), in one pass: for text
 * the scanner will not read (too many tokens) that the server parses.
 */
export function sqlLiteralsRedacted(text: string, mark: string, edits?: number[]): string {
  let out = '';
  let done = 0;
  for (let i = 0; i < text.length;) {
    const c = text[i]!;
    if (c === '-' && text[i + 1] === '-') { const nl = text.indexOf('\n', i); i = nl < 0 ? text.length : nl; continue; }
    if (c === '/' && text[i + 1] === '*') {
      let depth = 1;
      for (i += 2; i < text.length && depth > 0; i++) {
        if (text[i] === '/' && text[i + 1] === '*') { depth++; i++; } else if (text[i] === '*' && text[i + 1] === '/') { depth--; i++; }
      }
      continue;
    }
    if (c === '"') { const q = text.indexOf('"', i + 1); i = q < 0 ? text.length : q + 1; continue; }
    let end = -1;
    if (c === "'") {
      const escapes = i > 0 && /[Ee]/.test(text[i - 1]!) && !/[\w$]/.test(text[i - 2] ?? ' ');
      let k = i + 1;
      for (; k < text.length; k++) {
        if (escapes && text[k] === '\\') k++;
        else if (text[k] === "'") { if (text[k + 1] === "'") k++; else break; }
      }
      end = Math.min(k + 1, text.length);
    } else if (c === '$' && !/[\w$]/.test(text[i - 1] ?? ' ')) {
      const tag = /^\$(?:[A-Za-z_\u0080-\uffff][\w\u0080-\uffff]*)?\$/.exec(text.slice(i, i + 64))?.[0];
      if (tag) { const close = text.indexOf(tag, i + tag.length); end = close < 0 ? text.length : close + tag.length; }
    }
    if (end < 0) { i++; continue; }
    out += `${text.slice(done, i)}'${mark}'`;
    edits?.push(i, end, mark.length + 2);
    done = i = end;
  }
  return out + text.slice(done);
}

const SQ = 0x27; // '
const BACKSLASH = 0x5c;
const DOLLAR = 0x24;

/**
 * `password` (any case, ASCII), blanks, a literal: the literal replaced by `'mark'`; left to right, as String.replace.
 * A literal the server reads to the text's end (never closed: where the RegExp backtracked to the last `''`, or found
 * none) is replaced to the end, as `'mark`.
 */
function redactPasswordClauses(s: string, mark: string, edits?: number[]): string {
  let out = '';
  let done = 0;
  let tags: DollarTags | undefined;
  const dollarTags = () => (tags ??= new DollarTags(s));
  for (let at = 0, next: number; (next = indexOfPassword(s, at)) >= 0; ) {
    PASSWORD_KEYWORD.lastIndex = next;
    const kw = PASSWORD_KEYWORD.exec(s)![0];
    const start = next + kw.length;
    const end = literalEnd(s, start, dollarTags, false);
    if (!closedAt(s, end) && neverClosed(s, start, dollarTags)) {
      out += `${s.slice(done, next)}${kw}'${mark}`;
      edits?.push(start, s.length, mark.length + 1);
      done = s.length;
      break;
    }
    // Not followed by a literal: the next `password` starts past this one (the word has no border).
    if (end < 0) { at = next + 1; continue; }
    out += `${s.slice(done, next)}${kw}'${mark}'`;
    edits?.push(start, end, mark.length + 2);
    done = at = end;
  }
  return done === 0 ? s : out + s.slice(done);
}

/** Whether `end` (literalEnd's, quotedEnd's or escapedEnd's) ends a literal at its closing quote: not -1, nor a `''` backtracked to. */
function closedAt(s: string, end: number): boolean {
  return end >= 0 && s.charCodeAt(end) !== SQ;
}

/**
 * Whether the literal at `start` is one the server reads to the text's end: '…' with no quote but doubled ones after
 * it, E'…' / U&'…' the same with a backslash escaping any character, $tag$ with no closing tag (in any case, as the
 * RegExp's) and not glued to a name. Each reads no further than the literal.
 */
function neverClosed(s: string, start: number, tags: () => DollarTags): boolean {
  const c = s.charCodeAt(start);
  if (c === SQ) return !closedAt(s, quotedEnd(s, start));
  if (isEscapeLetter(c)) {
    const end = escapedEnd(s, start, true);
    return end !== -1 ? !closedAt(s, end) : escapedOpens(s, start);
  }
  // (A `$` after a name's character continues the name, `password$q$`: no dollar quote for the server.)
  if (c !== DOLLAR || (start > 0 && /[\w$\u0080-\uffff]/.test(s[start - 1]!))) return false;
  let j = start + 1;
  while (j < s.length && isTagChar(s.charCodeAt(j))) j++;
  return s.charCodeAt(j) === DOLLAR && tags().find(s.slice(start + 1, j), j + 1) < 0;
}

/** Whether an E'…' / U&'…' literal starts at `at` (escapedEnd's -1 is both "none" and "never closed, no `''`"). */
function escapedOpens(s: string, at: number): boolean {
  const i = s.charCodeAt(at + 1) === 0x26 /* & */ ? at + 2 : at + 1;
  return s.charCodeAt(i) === SQ;
}

/**
 * The end of the literal at `start` ('…', E'…', U&'…', $tag$…$tag$), or -1. `anyEscape`: a backslash in E'…'
 * escapes a line terminator too (PostgreSQL); without it, as the RegExp's `\\.`.
 */
function literalEnd(s: string, start: number, tags: () => DollarTags, anyEscape: boolean): number {
  const c = s.charCodeAt(start);
  return c === SQ ? quotedEnd(s, start)
    : c === DOLLAR ? dollarQuotedEnd(s, start, tags())
    : isEscapeLetter(c) ? escapedEnd(s, start, anyEscape)
    : -1;
}

/** E, e, U, u: an E'…' or U&'…' literal's letter. */
function isEscapeLetter(c: number): boolean {
  return c === 0x45 || c === 0x65 || c === 0x55 || c === 0x75;
}

/**
 * What the RegExps' spelling missed, in the text they redacted (so that all they replaced stays replaced): every
 * `password` (those inside a literal or a comment too: this reads spellings, not SQL) followed by blanks and at
 * least one comment, then a literal; or by blanks and an E'…' / U&'…' that a backslash before a line terminator
 * makes end elsewhere than where the RegExp ended it; and every `password=` whose quoted value that does. The
 * literal is replaced by `'mark'` (the comment kept), the value by `mark`; overlapping ones make one. Linear:
 * where a comment ends and what a run of blanks and comments leads to are remembered by position
 * (CommentSkipper), and a literal's end by where it starts.
 */
function redactMissedPasswords(s: string, mark: string, edits?: number[]): string {
  const comments = s.includes('/*') || s.includes('--');
  const breaks = ESCAPED_LINE_BREAK.test(s);
  if (!comments && !breaks) return s;
  const ranges: Range[] = [];
  const skipper = comments ? new CommentSkipper(s) : undefined;
  let tags: DollarTags | undefined;
  const ends = new Map<number, number>();
  for (let next = indexOfPassword(s, 0); next >= 0; next = indexOfPassword(s, next + 1)) {
    BLANKS.lastIndex = next + 8;
    BLANKS.test(s);
    let start = BLANKS.lastIndex;
    const commented = skipper !== undefined && startsComment(s, start);
    if (commented) {
      start = skipper.skip(start);
      if (start < 0) continue;
    } else if (!breaks || !isEscapeLetter(s.charCodeAt(start))) {
      continue; // what the RegExp read
    }
    let end = ends.get(start);
    const dollarTags = () => (tags ??= new DollarTags(s));
    if (end === undefined) ends.set(start, (end = literalEnd(s, start, dollarTags, true)));
    // After a comment, a literal never closed: to the text's end (as redactPasswordClauses reads one with none).
    if (commented && !closedAt(s, end) && neverClosed(s, start, dollarTags)) {
      ranges.push({ start, end: s.length, mark: `'${mark}` });
      break;
    }
    if (end < 0 || (!commented && end === escapedEnd(s, start, false))) continue;
    ranges.push({ start, end, mark: `'${mark}'` });
  }
  for (let next = breaks ? indexOfPassword(s, 0) : -1; next >= 0; next = indexOfPassword(s, next + 1)) {
    CONNSTR_KEYWORD.lastIndex = next;
    const kw = CONNSTR_KEYWORD.exec(s)?.[0];
    if (kw === undefined) continue;
    const start = next + kw.length;
    if (s.charCodeAt(start) !== SQ) continue;
    const end = connstrValueEnd(s, start, true);
    if (end >= 0 && end !== connstrValueEnd(s, start, false)) ranges.push({ start, end, mark });
  }
  return replaceRanges(s, ranges, edits);
}

/** `/*` or `--` at `at`. */
function startsComment(s: string, at: number): boolean {
  const c = s.charCodeAt(at);
  const d = s.charCodeAt(at + 1);
  return (c === SLASH && d === STAR) || (c === DASH && d === DASH);
}

interface Range {
  start: number;
  end: number;
  mark: string;
}

/** Each range replaced by its mark; ranges that overlap are one, with the first one's mark. `edits`: told each (redactAt). */
function replaceRanges(s: string, ranges: Range[], edits?: number[]): string {
  if (ranges.length === 0) return s;
  ranges.sort((a, b) => a.start - b.start || b.end - a.end);
  let out = '';
  let done = 0;
  for (let k = 0; k < ranges.length; ) {
    const { start, mark } = ranges[k]!;
    let end = ranges[k]!.end;
    for (k++; k < ranges.length && ranges[k]!.start < end; k++) end = Math.max(end, ranges[k]!.end);
    out += `${s.slice(done, start)}${mark}`;
    edits?.push(start, end, mark.length);
    done = end;
  }
  return out + s.slice(done);
}

const SLASH = 0x2f;
const STAR = 0x2a;
const DASH = 0x2d;

/** A RegExp's \s (no u flag). */
function isBlank(c: number): boolean {
  return (c >= 0x09 && c <= 0x0d) || c === 0x20 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a)
    || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

/**
 * Blanks and comments, as PostgreSQL's lexer reads them: `/*` to its `*\/` with `/* *\/` nested inside (read
 * left to right, `/*` and `*\/` are two characters each: `/*\/` opens one), `--` to the next \n or \r. Each
 * `password` reads them from its own place (one inside another's comment too), so what is read is remembered:
 * where each `/*` read ends (or that it never does), what each position read outside a comment leads to, and
 * where the line breaks are; no character is read more than a few times however many `password`s there are.
 */
class CommentSkipper {
  readonly #s: string;
  /** By position read outside a comment: 0 not yet, else what skip returned + 2. */
  #next: Int32Array | undefined;
  /** By the position of a `/*`: 0 not yet, else where the comment ends + 2 (1: never). */
  #close: Int32Array | undefined;
  /** Every \n and \r, in order. */
  #breaks: number[] | undefined;

  constructor(s: string) {
    this.#s = s;
  }

  /** The first position at or after `at` (read outside a comment) that is no blank and starts no comment; -1 in a comment never closed. */
  skip(at: number): number {
    const s = this.#s;
    const next = (this.#next ??= new Int32Array(s.length + 1));
    const read: number[] = [];
    let found: number;
    for (let i = at; ; ) {
      if (next[i] !== 0) { found = next[i]! - 2; break; }
      read.push(i);
      const c = s.charCodeAt(i);
      const d = s.charCodeAt(i + 1);
      if (c === SLASH && d === STAR) {
        i = this.#commentEnd(i);
        if (i < 0) { found = -1; break; }
      } else if (c === DASH && d === DASH) {
        i = this.#lineEnd(i + 2);
      } else if (isBlank(c)) {
        i++;
      } else {
        found = i; // the text's end too
        break;
      }
    }
    for (const i of read) next[i] = found + 2;
    return found;
  }

  /** The end of the `/*` comment at `at`, or -1 if it is never closed. */
  #commentEnd(at: number): number {
    const s = this.#s;
    const close = (this.#close ??= new Int32Array(s.length + 1));
    if (close[at] !== 0) return close[at]! - 2;
    const open = [at];
    for (let i = at + 2; ; ) {
      if (i >= s.length) {
        for (const o of open) close[o] = 1;
        return -1;
      }
      const c = s.charCodeAt(i);
      const d = s.charCodeAt(i + 1);
      if (c === SLASH && d === STAR) {
        const known = close[i]!;
        if (known === 1) {
          for (const o of open) close[o] = 1;
          return -1;
        }
        if (known !== 0) { i = known - 2; continue; }
        open.push(i);
        i += 2;
      } else if (c === STAR && d === SLASH) {
        i += 2;
        close[open.pop()!] = i + 2;
        if (open.length === 0) return i;
      } else {
        i++;
      }
    }
  }

  /** The first \n or \r at or after `at`, or the text's end. */
  #lineEnd(at: number): number {
    const s = this.#s;
    let breaks = this.#breaks;
    if (!breaks) {
      breaks = this.#breaks = [];
      for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (c === 0x0a || c === 0x0d) breaks.push(i);
      }
    }
    const k = firstAtLeast(breaks, at);
    return k < breaks.length ? breaks[k]! : s.length;
  }
}

const PASSWORD_AT = /password/gi;
/** Where the first `password` (any case) at or after `from` starts, or -1. */
function indexOfPassword(s: string, from: number): number {
  PASSWORD_AT.lastIndex = from;
  return PASSWORD_AT.exec(s)?.index ?? -1;
}

/**
 * The end of `'…'` (`''` inside) at `at`: the first quote not doubled; unclosed, the first quote of the last
 * `''` (what the RegExp backtracked to); -1 with neither.
 */
function quotedEnd(s: string, at: number): number {
  let lastPair = -1;
  for (let i = s.indexOf("'", at + 1); i >= 0; i = s.indexOf("'", i + 2)) {
    if (s.charCodeAt(i + 1) !== SQ) return i + 1;
    lastPair = i;
  }
  return lastPair < 0 ? -1 : lastPair + 1;
}

/** `.` of a RegExp without the s flag: any UTF-16 unit but a line terminator. */
function isLineTerminator(c: number): boolean {
  return c === 0x0a || c === 0x0d || c === 0x2028 || c === 0x2029;
}

/**
 * The end of `E'…'` / `U&'…'` (either letter in either case, `&` optional) at `at`: `''` and a backslash with
 * the unit after it inside (`anyEscape` false: not a line terminator, the RegExp's `.`); unclosed (the text's end,
 * or a backslash before a line terminator), the first quote of the last `''`; -1 with neither.
 */
function escapedEnd(s: string, at: number, anyEscape: boolean): number {
  let i = at + 1;
  if (s.charCodeAt(i) === 0x26 /* & */) i++;
  if (s.charCodeAt(i) !== SQ) return -1;
  let lastPair = -1;
  for (i++; i < s.length; ) {
    const c = s.charCodeAt(i);
    if (c === SQ) {
      if (s.charCodeAt(i + 1) !== SQ) return i + 1;
      lastPair = i;
      i += 2;
    } else if (c === BACKSLASH) {
      if (i + 1 >= s.length || (!anyEscape && isLineTerminator(s.charCodeAt(i + 1)))) break;
      i += 2;
    } else {
      i++;
    }
  }
  return lastPair < 0 ? -1 : lastPair + 1;
}

/** `password = value`: the value replaced by `mark`; left to right, as String.replace. */
function redactConnstrPasswords(s: string, mark: string, edits?: number[]): string {
  let out = '';
  let done = 0;
  for (let at = 0, next: number; (next = indexOfPassword(s, at)) >= 0; ) {
    CONNSTR_KEYWORD.lastIndex = next;
    const kw = CONNSTR_KEYWORD.exec(s)?.[0];
    const end = kw === undefined ? -1 : connstrValueEnd(s, next + kw.length, false);
    if (end < 0) { at = next + 1; continue; }
    out += `${s.slice(done, next)}${kw}${mark}`;
    edits?.push(next + kw!.length, end, mark.length);
    done = at = end;
  }
  return done === 0 ? s : out + s.slice(done);
}

/**
 * The end of a connection string's value at `at`: `'…'` with a backslash and the unit after it inside
 * (`anyEscape` false: not a line terminator, the RegExp's `.`), else a run of [^\s'"]; -1 when neither (a quote
 * never closed is no value).
 */
function connstrValueEnd(s: string, at: number, anyEscape: boolean): number {
  if (s.charCodeAt(at) !== SQ) {
    CONNSTR_BARE_VALUE.lastIndex = at;
    return CONNSTR_BARE_VALUE.test(s) ? CONNSTR_BARE_VALUE.lastIndex : -1;
  }
  for (let i = at + 1; i < s.length; ) {
    const c = s.charCodeAt(i);
    if (c === SQ) return i + 1;
    if (c === BACKSLASH) {
      if (i + 1 >= s.length || (!anyEscape && isLineTerminator(s.charCodeAt(i + 1)))) return -1;
      i += 2;
    } else {
      i++;
    }
  }
  return -1;
}

/** A dollar quote's tag character: [A-Za-z_]. */
function isTagChar(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
}

/**
 * The `$tag$`s of a text by tag (its letters in one case: the RegExp's backreference ignored case), so that
 * each closing one is found without reading the text again for each opening; indexed from the start as far
 * as a closing one was looked for. A `$` opens at most one: its tag is every tag character up to the next `$`.
 */
class DollarTags {
  readonly #s: string;
  readonly #at = new Map<string, number[]>();
  /** Every `$tag$` that starts before this is in #at. */
  #indexed = 0;

  constructor(s: string) {
    this.#s = s;
  }

  /** Where the first `$tag$` at or after `from` starts, or -1. */
  find(tag: string, from: number): number {
    const key = tag.toLowerCase();
    const list = this.#at.get(key);
    if (list) {
      const k = firstAtLeast(list, from);
      if (k < list.length) return list[k]!;
    }
    const s = this.#s;
    for (let i: number; (i = s.indexOf('$', this.#indexed)) >= 0; ) {
      let j = i + 1;
      while (j < s.length && isTagChar(s.charCodeAt(j))) j++;
      this.#indexed = j;
      if (j >= s.length || s.charCodeAt(j) !== DOLLAR) continue;
      const found = s.slice(i + 1, j).toLowerCase();
      const at = this.#at.get(found);
      if (at) at.push(i);
      else this.#at.set(found, [i]);
      if (found === key && i >= from) return i;
    }
    this.#indexed = s.length;
    return -1;
  }
}

/** The end of `$tag$…$tag$` at `at` (the first closing one, its tag in any case), or -1. */
function dollarQuotedEnd(s: string, at: number, tags: DollarTags): number {
  let j = at + 1;
  while (j < s.length && isTagChar(s.charCodeAt(j))) j++;
  if (s.charCodeAt(j) !== DOLLAR) return -1;
  const tag = s.slice(at + 1, j);
  const close = tags.find(tag, j + 1);
  return close < 0 ? -1 : close + tag.length + 2;
}

function isAsciiLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** A URL scheme's character: [a-z0-9+.-] in either case. */
function isSchemeChar(c: number): boolean {
  return isAsciiLetter(c) || isDigit(c) || c === 0x2b || c === 0x2e || c === 0x2d;
}

/** A RegExp's \w (no u flag): [A-Za-z0-9_]. */
function isWordChar(c: number): boolean {
  return isAsciiLetter(c) || isDigit(c) || c === 0x5f;
}

/**
 * `scheme://user:password@` (user may be empty): the password replaced by `mark`. The scheme is a letter at a
 * word boundary and scheme characters up to `://`; which letter it starts at does not change what is replaced,
 * so for each `://` the scheme characters before it are read once, back to the first that is not one.
 */
function redactUrlPasswords(s: string, mark: string, edits?: number[]): string {
  let out = '';
  let done = 0;
  // The first [\s@'"] at or after the password last looked at (passwords are looked at left to right).
  let end = -1;
  for (let from = 0, c: number; (c = s.indexOf('://', from)) >= 0; ) {
    from = c + 1;
    let scheme = false;
    for (let i = c - 1; i >= done && isSchemeChar(s.charCodeAt(i)); i--) {
      if (isAsciiLetter(s.charCodeAt(i)) && (i === 0 || !isWordChar(s.charCodeAt(i - 1)))) { scheme = true; break; }
    }
    if (!scheme) continue;
    URL_USER.lastIndex = c + 3;
    if (!URL_USER.test(s)) continue;
    const password = URL_USER.lastIndex;
    if (end < password) {
      URL_PASSWORD_END.lastIndex = password;
      end = URL_PASSWORD_END.exec(s)?.index ?? s.length;
    }
    if (end === password || s.charCodeAt(end) !== 0x40 /* @ */) continue;
    out += `${s.slice(done, password)}${mark}@`;
    edits?.push(password, end, mark.length);
    done = from = end + 1;
  }
  return done === 0 ? s : out + s.slice(done);
}

const DQ = 0x22; // "
/** Where each `password` or IDENTIFIED starts (redactUnreadPasswords' places to look). */
const UNREAD_AT = /password|identified/gi;
/**
 * After IDENTIFIED: `BY`, `WITH plugin BY|AS` (MySQL) or `VIA plugin USING` (MariaDB), then blanks, and a
 * `PASSWORD(` or `PASSWORD` before a literal (`USING PASSWORD('x')`, `BY PASSWORD '*hash'`); the value follows.
 */
const IDENTIFIED_BY = /\s+(?:with\s+[^\s;]+\s+(?:by|as)|via\s+[^\s;]+\s+using|by)\s+(?:password\s*\(\s*|password\s+(?='))?/iy;
/** After an IDENTIFIED BY value: Oracle's `REPLACE old`. */
const REPLACE_AFTER = /\s+replace\s+/iy;
/** After MySQL's `SET PASSWORD`: `FOR user` then `= value`, or `= value` at once (the session's own user). */
const FOR_AFTER = /\s+for\s|\s*=/iy;
/** MySQL's `PASSWORD('x')` given as the value: the literal inside is. */
const PASSWORD_CALL = /password\s*\(\s*/iy;
/** A statement (at its start) whose PASSWORD is a role's option: CREATE/ALTER ROLE, USER (not USER MAPPING) or GROUP. */
const ROLE_STATEMENT = /\s*(?:create|alter)\s+(?:role|user|group)\b(?!\s+mapping\b)/iy;
/** Words after which `password` is a role's or a setting's name, not the option: ROLE password, RENAME TO password, SET password TO. */
const NAME_AFTER = new Set(['role', 'user', 'group', 'admin', 'to', 'set', 'reset', 'in']);
/** A word given for a password: to a blank, `;` or `,`. */
const BARE_WORD = /[^\s;,]+/y;

/**
 * Passwords written as the server refuses them, which none of the spellings above read (the record keeps a statement
 * the server refused): in a CREATE/ALTER ROLE, USER or GROUP statement (after its last `;`, spelled so at its start), a
 * word or quoted name given to PASSWORD (`PASSWORD hunter2`, `PASSWORD "hunter2"`; not NULL, nor a role named password:
 * ROLE password, TO password, `a, password`); another server's syntax anywhere: `IDENTIFIED [WITH plugin] BY value`,
 * `IDENTIFIED WITH plugin AS value` and Oracle's `REPLACE old` after one, MySQL's `SET PASSWORD FOR user = value`. A
 * value is a literal in any spelling, a quoted name (either never closed: to the text's end) or a word (to a blank, `;`
 * or `,`); it is replaced by `'mark'`, `"mark"` or `mark`. Linear: each place reads forward no further than its value,
 * a value read is taken whole and nothing inside it is looked at again, and what comes before a place (its word, its
 * statement's start, the next `=`) is found by pointers that only move forward.
 */
function redactUnreadPasswords(s: string, mark: string, edits?: number[]): string {
  const ranges: Range[] = [];
  const skipper = s.includes('/*') || s.includes('--') ? new CommentSkipper(s) : undefined;
  /** Where blanks and comments after `at` end (-1: in a comment never closed). */
  const skip = (at: number): number => {
    if (skipper) return skipper.skip(at);
    BLANKS.lastIndex = at;
    BLANKS.test(s);
    return BLANKS.lastIndex;
  };
  // The statement around a place: after the last `;` before it, and the first `;` after it (-1: none).
  let statement = 0;
  let semi = s.indexOf(';');
  let roleAt = -1;
  let role = false;
  let eq = -2; // the first `=` at or after the last place looked from (-1: none; -2: not looked for yet)
  /** Takes the value at `at` (literals too, or not); where it ends, or -1 when there is none. */
  const take = (at: number, literals: boolean): number => {
    const r = unreadValue(s, at, mark, literals);
    if (r === undefined) return -1;
    ranges.push(r);
    return r.end;
  };
  UNREAD_AT.lastIndex = 0;
  for (let m: RegExpExecArray | null; (m = UNREAD_AT.exec(s)) !== null; ) {
    const at = m.index;
    const after = at + m[0].length;
    if (isWordChar(s.charCodeAt(after)) || (at > 0 && /[\w$."']/.test(s[at - 1]!))) continue;
    while (semi >= 0 && semi < at) { statement = semi + 1; semi = s.indexOf(';', statement); }
    let taken = -1;
    if (m[0].length === 10) {
      // IDENTIFIED [WITH plugin] BY|AS value [REPLACE value].
      IDENTIFIED_BY.lastIndex = after;
      if (!IDENTIFIED_BY.test(s)) continue;
      taken = take(IDENTIFIED_BY.lastIndex, true);
      if (taken >= 0) {
        REPLACE_AFTER.lastIndex = taken;
        if (REPLACE_AFTER.test(s)) taken = Math.max(taken, take(REPLACE_AFTER.lastIndex, true));
      }
    } else if (wordBefore(s, at) === 'set') {
      // SET PASSWORD [FOR user] = value (MySQL), within its statement; `= PASSWORD('x')` too.
      FOR_AFTER.lastIndex = after;
      if (!FOR_AFTER.test(s)) continue;
      if (eq === -2 || (eq >= 0 && eq < after)) eq = s.indexOf('=', after);
      if (eq < 0 || (semi >= 0 && eq > semi)) continue;
      let value = skip(eq + 1);
      PASSWORD_CALL.lastIndex = value;
      if (value >= 0 && PASSWORD_CALL.test(s)) value = PASSWORD_CALL.lastIndex;
      if (value >= 0) taken = take(value, true);
    } else {
      // PASSWORD word | "name" in a role's statement: a literal there is the spellings' above.
      if (roleAt !== statement) {
        roleAt = statement;
        ROLE_STATEMENT.lastIndex = statement;
        role = ROLE_STATEMENT.test(s);
      }
      if (!role || NAME_AFTER.has(wordBefore(s, at)) || charBefore(s, at) === 0x2c /* , */) continue;
      const value = skip(after);
      if (value < 0 || (value === after && s.charCodeAt(value) !== DQ)) continue;
      taken = take(value, false);
    }
    // Nothing inside what was taken is looked at again (a value never closed runs to the end).
    if (taken > UNREAD_AT.lastIndex) UNREAD_AT.lastIndex = taken;
  }
  return replaceRanges(s, ranges, edits);
}

/**
 * The value at `at` (redactUnreadPasswords) and what replaces it: a quoted name (`""` inside), a literal (with
 * `literals`: '…', E'…' / U&'…' with backslash escapes, $tag$…$tag$, the server's closing), either never closed to
 * the text's end; or a word but NULL. Undefined when there is none (a `=`, `(`, `,`, `;` or the text's end there).
 */
function unreadValue(s: string, at: number, mark: string, literals: boolean): Range | undefined {
  if (at >= s.length) return undefined;
  const c = s.charCodeAt(at);
  if (c === DQ) {
    let i = s.indexOf('"', at + 1);
    while (i >= 0 && s.charCodeAt(i + 1) === DQ) i = s.indexOf('"', i + 2);
    return i < 0 ? { start: at, end: s.length, mark: `"${mark}` } : { start: at, end: i + 1, mark: `"${mark}"` };
  }
  const end = serverLiteralEnd(s, at);
  if (end !== -2) {
    if (!literals) return undefined;
    return end < 0 ? { start: at, end: s.length, mark: `'${mark}` } : { start: at, end, mark: `'${mark}'` };
  }
  if (/[=:(),;]/.test(s[at]!)) return undefined;
  BARE_WORD.lastIndex = at;
  BARE_WORD.test(s);
  const stop = BARE_WORD.lastIndex;
  if (stop - at === 4 && /^null$/i.test(s.slice(at, stop))) return undefined;
  return { start: at, end: stop, mark };
}

/**
 * The end of the literal at `at` as the server reads it ('…', E'…' / U&'…' with backslash escapes, $tag$…$tag$ with the
 * same tag): -1 when it is never closed, -2 when none starts there.
 */
function serverLiteralEnd(s: string, at: number): number {
  const c = s.charCodeAt(at);
  let i: number;
  if (c === SQ) {
    for (i = s.indexOf("'", at + 1); i >= 0 && s.charCodeAt(i + 1) === SQ; i = s.indexOf("'", i + 2));
    return i < 0 ? -1 : i + 1;
  }
  if (isEscapeLetter(c)) {
    if (!escapedOpens(s, at)) return -2;
    i = s.indexOf("'", at) + 1;
    for (; i < s.length; i++) {
      const d = s.charCodeAt(i);
      if (d === BACKSLASH) i++;
      else if (d === SQ) {
        if (s.charCodeAt(i + 1) !== SQ) return i + 1;
        i++;
      }
    }
    return -1;
  }
  if (c !== DOLLAR) return -2;
  const tag = /^\$(?:[A-Za-z_\u0080-\uffff][\w\u0080-\uffff]*)?\$/.exec(s.slice(at, at + 64))?.[0];
  if (!tag) return -2;
  const close = s.indexOf(tag, at + tag.length);
  return close < 0 ? -1 : close + tag.length;
}

/** The first character before `at` that is no blank (NaN: none). */
function charBefore(s: string, at: number): number {
  let i = at - 1;
  while (i >= 0 && isBlank(s.charCodeAt(i))) i--;
  return s.charCodeAt(i);
}

/** The word (ASCII letters, digits, `_`, at most 8) before the blanks before `at`, in lower case; '' when there is none or it is longer. */
function wordBefore(s: string, at: number): string {
  let end = at;
  while (end > 0 && isBlank(s.charCodeAt(end - 1))) end--;
  let start = end;
  while (start > 0 && end - start <= 8 && isWordChar(s.charCodeAt(start - 1))) start--;
  return end - start > 8 ? '' : s.slice(start, end).toLowerCase();
}

/**
 * What of a text is kept through the passes of its redaction: runs of the current text that are the original's, each
 * where it is now and where it was (flat [at, end, from]), in order. A pass's edits (flat [start, end, length of what
 * replaced it], in order, not overlapping) cut them and move them; what no run covers any more was hidden. Linear in
 * the runs and the edits.
 */
class Kept {
  #runs: number[];

  constructor(length: number) {
    this.#runs = length > 0 ? [0, length, 0] : [];
  }

  apply(edits: readonly number[]): void {
    const runs = this.#runs;
    const out: number[] = [];
    let e = 0;
    let delta = 0; // how far the edits before `pos` moved the text
    for (let r = 0; r < runs.length; r += 3) {
      const start = runs[r]!;
      const end = runs[r + 1]!;
      const from = runs[r + 2]!;
      for (let pos = start; pos < end; ) {
        // The edits that end at or before `pos`: before it (an insertion at `pos` too).
        while (e < edits.length && edits[e + 1]! <= pos) { delta += edits[e + 2]! - (edits[e + 1]! - edits[e]!); e += 3; }
        if (e < edits.length && edits[e]! <= pos) { pos = Math.min(edits[e + 1]!, end); continue; } // replaced
        const stop = e < edits.length ? Math.min(edits[e]!, end) : end;
        out.push(pos + delta, stop + delta, from + (pos - start));
        pos = stop;
      }
    }
    this.#runs = out;
  }

  /** The original text's spans no run covers ([start, end) each, in order, none touching), of a text `length` long. */
  hidden(length: number): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    let at = 0;
    for (let r = 0; r < this.#runs.length; r += 3) {
      const from = this.#runs[r + 2]!;
      if (from > at) out.push([at, from]);
      at = from + this.#runs[r + 1]! - this.#runs[r]!;
    }
    if (length > at) out.push([at, length]);
    return out;
  }
}
