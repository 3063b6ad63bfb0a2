/**
 * The secrets a SQL statement's text can carry, found by their spelling: a `PASSWORD` clause's literal (CREATE/ALTER
 * ROLE/USER, ENCRYPTED PASSWORD, `password '…'` in OPTIONS (…)) in any literal form, a connection string's
 * `password=…` (dblink, postgres_fdw, CREATE SUBSCRIPTION … CONNECTION) and a URL's password. ARCHITECTURE.md §4:
 * the log never holds a secret, and neither does anything else pcigate keeps or shows of a statement: its
 * `pg.query` record (src/broker/sql-record.ts) and an approval request, its file, its records and what approvers
 * and `policy explain` are shown (approvals.ts safeStatementText).
 */

/*
 * Each secret is found in one pass over the text (a statement of any length: approvals.ts safeStatementText
 * has no cap). The spelling is the RegExps this file held before, and each scanner below says which; they are
 * checked against them on random text (test/unit/policy/redact-statement-secrets.test.ts). As RegExps they read
 * from each candidate to the end of the text and back: `password$t1$password$t2$…` (a dollar quote never
 * closed, each tag another) and `a.a.a.…a x://` or `x://:bx://:b…` (a URL without `@`) took a second per 64 KiB.
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

/** `text` with every secret found replaced by `mark` (a literal's by `'mark'`, so the SQL still reads as SQL). */
export function redactStatementSecrets(text: string, mark = '[redacted]'): string {
  let s = text;
  // The replacements only run on text that can match them (both password patterns name the word, a URL
  // has `://`): this runs once per distinct SQL text, which with literals in the SQL is once per statement.
  if (PASSWORD_WORD.test(s)) {
    s = redactPasswordClauses(s, mark);
    s = redactConnstrPasswords(s, mark);
  }
  if (s.includes('://')) s = redactUrlPasswords(s, mark);
  return s;
}

const SQ = 0x27; // '
const BACKSLASH = 0x5c;
const DOLLAR = 0x24;

/** `password` (any case, ASCII), blanks, a literal: the literal replaced by `'mark'`; left to right, as String.replace. */
function redactPasswordClauses(s: string, mark: string): string {
  let out = '';
  let done = 0;
  let tags: DollarTags | undefined;
  for (let at = 0, next: number; (next = indexOfPassword(s, at)) >= 0; ) {
    PASSWORD_KEYWORD.lastIndex = next;
    const kw = PASSWORD_KEYWORD.exec(s)![0];
    const start = next + kw.length;
    const c = s.charCodeAt(start);
    const end = c === SQ ? quotedEnd(s, start)
      : c === DOLLAR ? dollarQuotedEnd(s, start, (tags ??= new DollarTags(s)))
      : c === 0x45 || c === 0x65 || c === 0x55 || c === 0x75 ? escapedEnd(s, start)
      : -1;
    // Not followed by a literal: the next `password` starts past this one (the word has no border).
    if (end < 0) { at = next + 1; continue; }
    out += `${s.slice(done, next)}${kw}'${mark}'`;
    done = at = end;
  }
  return done === 0 ? s : out + s.slice(done);
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
 * the unit after it (not a line terminator: the RegExp's `.`) inside; unclosed (the text's end or a backslash
 * before a line terminator), the first quote of the last `''`; -1 with neither.
 */
function escapedEnd(s: string, at: number): number {
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
      if (i + 1 >= s.length || isLineTerminator(s.charCodeAt(i + 1))) break;
      i += 2;
    } else {
      i++;
    }
  }
  return lastPair < 0 ? -1 : lastPair + 1;
}

/** `password = value`: the value replaced by `mark`; left to right, as String.replace. */
function redactConnstrPasswords(s: string, mark: string): string {
  let out = '';
  let done = 0;
  for (let at = 0, next: number; (next = indexOfPassword(s, at)) >= 0; ) {
    CONNSTR_KEYWORD.lastIndex = next;
    const kw = CONNSTR_KEYWORD.exec(s)?.[0];
    const end = kw === undefined ? -1 : connstrValueEnd(s, next + kw.length);
    if (end < 0) { at = next + 1; continue; }
    out += `${s.slice(done, next)}${kw}${mark}`;
    done = at = end;
  }
  return done === 0 ? s : out + s.slice(done);
}

/**
 * The end of a connection string's value at `at`: `'…'` with a backslash and the unit after it (not a line
 * terminator) inside, else a run of [^\s'"]; -1 when neither (a quote never closed is no value).
 */
function connstrValueEnd(s: string, at: number): number {
  if (s.charCodeAt(at) !== SQ) {
    CONNSTR_BARE_VALUE.lastIndex = at;
    return CONNSTR_BARE_VALUE.test(s) ? CONNSTR_BARE_VALUE.lastIndex : -1;
  }
  for (let i = at + 1; i < s.length; ) {
    const c = s.charCodeAt(i);
    if (c === SQ) return i + 1;
    if (c === BACKSLASH) {
      if (i + 1 >= s.length || isLineTerminator(s.charCodeAt(i + 1))) return -1;
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
      let lo = 0;
      let hi = list.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (list[mid]! < from) lo = mid + 1;
        else hi = mid;
      }
      if (lo < list.length) return list[lo]!;
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
function redactUrlPasswords(s: string, mark: string): string {
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
    done = from = end + 1;
  }
  return done === 0 ? s : out + s.slice(done);
}
