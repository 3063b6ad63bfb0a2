/**
 * Passwords in a statement's text found by the server's own scanner (libpg-query's scanTokens), so that what a
 * password's spelling hides in (a literal or comment that mentions `password` before the real one, a literal
 * continued on the next line, a `$tag1$` dollar quote, a quoted `"password"` option name, a connection string or
 * statement inside a literal) is read as PostgreSQL reads it. redact-statement-secrets.ts runs its spelling
 * scanners only on text this cannot read (it returns undefined): over text this read they would misread SQL and
 * mangle the record (`SELECT 'reset password'; ALTER USER …` lost its ALTER). "Password" below stands for any
 * secret's name (NAMES_SECRET: passphrase, pwd, secret, token, API/access/private/secret key too).
 *
 * What counts as a password's value (literals are SCONST tokens, in any spelling: '…', E'…', U&'…', $tag$…$tag$;
 * numbers too):
 * - after a name that says password (the keyword, `sslpassword`, `db_password`, `"Password"`, `a.password`; not
 *   settings such as `password_encryption` nor dates and counts such as `password_changed_at`), and an optional
 *   `=`, `:=`, `=>`, `<>`, `!=`, TO, LIKE or ILIKE: the literal, number or bare word there (`SET app.password =
 *   x`), or every literal of the call or parentheses there (`crypt('x', …)`, `('x')`); a call of such a name
 *   (`set_password('bob', 'x')`): every literal of it; a literal compared with or named as it (`'x' = password`,
 *   `'x' AS password`);
 * - after a literal that is such a name, or a JSON path to one (`'db_password'`, `'app.password'`, `'{password}'`),
 *   and a comma: every literal of the next argument or value (VALUES, set_config, jsonb_build_object, jsonb_set);
 * - after a literal whose text ends in one and is concatenated (`'… PASSWORD ' || …`, `'password=' || …`), or a
 *   format string that puts a `%` there (`format('… PASSWORD %L', …)`): every later literal in the same
 *   parentheses and statement;
 * - a key literal's VALUES row, and what the SETs of an UPDATE in its statement assign (UPDATE settings SET value
 *   = 'x' WHERE key = 'smtp_password'); after it and `=`, as after a name (`data->>'password' = 'x'`);
 * - in `INSERT INTO t (…, password, …) VALUES (…), (…)` or a query (`SELECT a, b`, its UNION/INTERSECT/EXCEPT arms,
 *   parenthesized, after a WITH): every literal of that column's values; in a column list given rows (`SET (a,
 *   password) = ('x', 'y')`, `= ROW(…)`, `= (SELECT …)`, `(a, password) IN (…, …)`, compared either way round):
 *   every literal of each row's item in its place (brackets group as parentheses do: ARRAY[a, b] is one item);
 * - the arguments of functions that are keys or passwords (SECRET_ARGUMENTS, pgcrypto's, pgsodium's and aws_s3's:
 *   pgp_sym_decrypt(pan, 'k'), crypt('x', salt), crypto_secretbox(m, n, 'k')), whatever the statement names, in
 *   literals holding SQL too, and what dynamic SQL puts there
 *   (`'… pgp_sym_decrypt(pan, ' || …`, `format('… pgp_sym_decrypt(pan, %L)', …)`); every literal and number of its
 *   statement, and of those of the text that set a setting (SET, set_config), when such an argument is not written
 *   in its place (a column, a subquery), of the whole text when it is a setting's (current_setting, here or in a
 *   literal's SQL);
 * - the arguments of `EXECUTE name(…)` (and of CREATE TABLE … AS, EXPLAIN … EXECUTE): what the statement of that name does with
 *   them (`PREPARE p(text) AS SELECT pgp_sym_decrypt(pan, $1) …`) is not in the text, and what the server has prepared by a
 *   name (SQL PREPARE, the protocol's Parse, a DO block's EXECUTE, a PREPARE the server refused) is not known for sure;
 * - a literal or number right after a comment that names a password;
 * - in a statement the server refuses, what was typed for a password where it takes none: a word or quoted name
 *   right after a name that says password (`ALTER ROLE r PASSWORD hunter2`, `PASSWORD "hunter2"`, OPTIONS (password
 *   x)), with what is glued to it (`hunter-2`), where the parser stops at it (in a role's statement, at it or before
 *   it; not NULL nor another reserved word: `SELEC password FROM t`); and another server's syntax, which it never parses:
 *   `IDENTIFIED [WITH plugin] BY value` / `IDENTIFIED WITH plugin AS value` and Oracle's `REPLACE old` after it, MySQL's
 *   `SET PASSWORD FOR user = value` (a literal, a call, a word);
 * - inside a literal, comment or quoted name that mentions password (dynamic SQL, a function body, a connection
 *   string, JSON, `password: x`): its text redacted in turn (redact-statement-secrets.ts), three levels deep;
 *   deeper, the whole;
 * - in a command line the server runs (a COPY's PROGRAM, a `*_command` setting's value: runsCommand), what the
 *   command-line reader finds (argv-redact.ts: `curl -u user:x`, `mysql -px`, `sshpass -p x`, `PGPASSWORD=x`).
 * More than the secret may be redacted (a literal after `'reset password' AS a,`); never less than these. A plain
 * literal with a backslash is redacted to where `standard_conforming_strings = off` would end it too, if later, but
 * not past its statement's end as the scanner reads it (pcigate runs nothing with it off; what follows is shown).
 *
 * Text the scanner does not read to its end (a NUL, which ends the text for it; past about 3.5 million tokens
 * it answers with none) is left to the spelling scanners, as text it cannot read at all.
 */
// (A command line holds SQL too, psql -c '…', which argv-programs.ts reads with redactStatementSecrets: these modules
// import each other, and each calls the other only inside functions.)
import { redactCommandLine } from './argv/argv-redact.js';
import { NOT_A_SECRET } from '../mask/column-rules.js';
import { parseStatements, scanTokens } from './pg-parser.js';
import { CALLS_SECRET, EXECUTES, keyedCallText, mayHideSecret, mayHoldSecret, NAMES_SECRET, RUNS_COMMAND, SECRET_ARGUMENTS } from './redact-content.js';
import type { SqlToken } from './pg-parser.js';

/** A literal that is only a name, as a key ('db_password', 'app.password'), or a JSON path ('{auth,password}'). */
const BARE_NAME = /^\s*(?:[\w.$-]+|\{[\w.$,\s"-]*\})\s*$/;
/** Whether a name (a column's, a setting's) says it holds a secret, and is not one of those that hold none. */
export function namesSecret(name: string): boolean {
  return NAMES_SECRET.test(name) && !NOT_A_SECRET.test(name);
}
/** A literal whose text ends where a password goes, or puts a format's placeholder there. */
const PASSWORD_NEXT = /passw(?:or)?d[\s=:'"]*$/i;
/** A format string that puts a placeholder where a password goes. */
const PASSWORD_PLACEHOLDER = /passw(?:or)?d[\s=:'"]*(?:%|\$\d)/i;
/** How deep literals inside literals are read before one that mentions password is redacted whole. */
const MAX_DEPTH = 3;

interface Tok {
  start: number;
  end: number;
  text: string;
  kind: 'string' | 'number' | 'name' | 'open' | 'close' | 'end' | 'assign' | 'comma' | 'other';
  /** A name that is not a keyword (IDENT): a bare word a SET gives a setting. */
  ident?: boolean;
  /** A reserved keyword (FROM, NULL, FOR …): never a word given for a password. */
  reserved?: boolean;
  /** For a comment: the index of the token after it. */
  next?: number;
}

/**
 * `text` with the passwords the scanner finds replaced by `'mark'`, or undefined when the scanner cannot read it
 * (an unclosed literal or comment: the server would not run it either, and the spelling scanners still read it).
 * `redactText` redacts a literal's own text (the caller's whole redaction, for what a statement inside a
 * literal carries); `depth` counts the literals around this text. Linear in the tokens: where each group of
 * parentheses ends and each literal's next one in its group are found in one pass each, and the literals to
 * redact are collected as ranges and swept once. `edits`: told what was replaced (flat [start, end, length of what
 * replaced it], in order; redact-statement-secrets.ts statementSecretSpans).
 */
export function redactByTokens(text: string, mark: string, redactText: (inner: string, depth: number) => string, depth = 0, tables?: TableColumns, edits?: number[]): string | undefined {
  const comments: Tok[] = [];
  const tokens = readTokens(text, comments);
  if (tokens === undefined) return undefined;
  const toks = new Tokens(tokens);
  const { list } = toks;
  const redact = new Map<number, string>();
  /** Ranges [from, to) of tokens whose literals are all redacted. */
  const ranges: Array<[number, number]> = [];
  let insertsReadTo = 0;
  /** Per statement (by its first token), the SET clauses of its UPDATEs: found (and redacted) once, for its first key. */
  const updates = new Map<number, Array<[number, number]>>();
  /** The column lists (by their `(`) whose row of values columnOfRow has read: each once. */
  const rowsRead = new Set<number>();
  /** Statements (by their first token) with a key not written in its place, and those that set a setting (SET, set_config). */
  const keyedStatements = new Set<number>();
  const settingStatements = new Set<number>();
  /**
   * Statements (by their first token) that name a secret: a column, table, setting, option or keyword (`password`,
   * `api_key`, `"Password"`), or build dynamic SQL's text for a password. Every literal and number of theirs is redacted:
   * where a value meets the secret's name is not only the places read below (`lower(password) = 'x'`, `password
   * BETWEEN 'x' AND 'y'`, `(a, password) = ANY (ARRAY[ROW(…)])`, `password text DEFAULT 'x'`, `coalesce(password,
   * 'x')`), as their bind parameters are all redacted (paramsMayBeSecret). A literal that only names one (a key/value
   * table's 'smtp_password', 'password_reset') does not: its statement keeps what the rules below do not take. Some
   * literals there are no values (secretSweep): a body, and dynamic SQL where it is run (codeAt), are code, shown with
   * their values redacted.
   */
  const secretStatements = new Set<number>();
  /** A key from a setting: every literal and number of the text is redacted. */
  let keyedText = false;
  /** For each token index, how many current_setting names come before it (counted once, when a key needs it). */
  let settingsBefore: number[] | undefined;
  /** Redacts token `j` whole: `mark`, or nothing when it continues a value already marked. */
  const one = (j: number, first: boolean): void => { redact.set(j, first ? mark : ''); };
  /** A word or quoted name given for a password at `j`, and what is glued to it: `mark` (`"mark"` for a quoted name). */
  const word = (j: number): number => {
    redact.set(j, list[j]!.text.startsWith('"') ? `"${mark}"` : mark);
    let k = j + 1;
    for (; k < list.length && list[k]!.start === list[k - 1]!.end && GLUED.has(list[k]!.kind); k++) one(k, false);
    return k;
  };
  /** Per COPY statement (by its first token): its TO or FROM (copyTarget). */
  const copyTargets = new Map<number, number>();
  /** Per statement (by its first token): where the server's parser stops in it (an offset in `text`; -1: it parses). */
  const stops = new Map<number, number>();
  const stopOf = (start: number): number => {
    let at = stops.get(start);
    if (at === undefined) {
      const from = list[start]!.start;
      const sql = text.slice(from, list[toks.statementEnd[start]!]?.start ?? text.length);
      const parsed = parseStatements(sql);
      at = !('error' in parsed) ? -1 : parsed.error.cursor >= 0 ? from + utf16Offset(sql, parsed.error.cursor) : from;
      stops.set(start, at);
    }
    return at;
  };
  // A comment that names a password right before a literal or number: its value (VALUES ('bob', -- password⏎ 'x')).
  for (const c of comments) {
    const k = list[c.next!]?.kind;
    if (k === 'string' || k === 'number') ranges.push([c.next!, c.next! + 1]);
  }
  for (let i = 0; i < list.length; i++) {
    const t = list[i]!;
    if (t.kind === 'name') {
      if ((i === toks.statementStart[i] && /^set$/i.test(t.text)) || (list[i + 1]?.kind === 'open' && unquoted(t.text) === 'set_config')) settingStatements.add(toks.statementStart[i]!);
      // A call of a function taking keys or passwords (SECRET_ARGUMENTS): where they are in it.
      const positions = list[i + 1]?.kind === 'open' ? SECRET_ARGUMENTS.get(unquoted(t.text)) : undefined;
      if (/^insert$/i.test(t.text) && i >= insertsReadTo) insertsReadTo = insertValues(toks, i, ranges, tables);
      // (Such a call is read by its keys' places below, whatever its name says: aws_commons.create_aws_credentials(…) keeps
      // its access key id and the rest of its statement.)
      else if (namesSecret(t.text) && !positions) {
        secretStatements.add(toks.statementStart[i]!);
        valueOfName(toks, i, ranges, one);
        columnOfRow(toks, i, ranges, rowsRead);
        // A word or quoted name where the server takes a literal (PASSWORD hunter2): where its parser stops at it, or,
        // in a role's statement (CREATE/ALTER ROLE, USER, GROUP), before it (ALTER ROLE r WTH PASSWORD x). Not a reserved
        // word (FROM, FOR, NULL: the statement goes on there), nor what follows MySQL's SET PASSWORD or a plugin's name
        // (IDENTIFIED WITH mysql_native_password BY: identifiedValues').
        const v = list[i + 1];
        const start = toks.statementStart[i]!;
        const plugin = /^with$/i.test(list[i - 1]?.text ?? '') && /^identified$/i.test(list[i - 2]?.text ?? '');
        const other = v?.kind === 'other' && !/^[%$]/.test(v.text); // (not format's %L, nor a parameter)
        if (v && !v.reserved && !plugin && (v.kind === 'name' || other) && !(i === start + 1 && /^set$/i.test(list[start]!.text))) {
          const stop = stopOf(start);
          if (stop >= 0 && (stop === v.start || (stop < v.start && v.kind === 'name' && roleStatement(list, start)))) word(i + 1);
        }
      }
      // Another server's syntax for a password (IDENTIFIED BY 'x', SET PASSWORD FOR u = x).
      if (t.ident && /^identified$/i.test(t.text)) identifiedValues(toks, i, ranges, word);
      if (i === toks.statementStart[i] && /^set$/i.test(t.text) && list[i + 1]?.kind === 'name' && namesSecret(list[i + 1]!.text) && /^for$/i.test(list[i + 2]?.text ?? '')) {
        setValueRedacted(list, i, toks.statementEnd[i]!, mark, (v, to) => redact.set(v, to));
      }
      // pgcrypto's (and others') keys and passwords, by their place in the call: pgp_sym_decrypt(pan, 'key').
      if (positions) {
        const args = items(toks, i + 1);
        const secretArgs = typeof positions === 'function' ? positions(args.length) : positions;
        for (const a of secretArgs) {
          const arg = args[a];
          if (!arg || keyedCall(toks, arg)) continue;
          ranges.push(arg);
          // A key not written in its place (a column, a subquery, a setting: pgp_sym_decrypt(pan, k.v) FROM cards,
          // (SELECT 'k' AS v) k) may be any literal of its statement or of a statement of the text that sets a setting;
          // a setting's (current_setting('app.k')) any literal of the text (a DO block or a function may set it).
          if (!writtenInPlace(list, arg)) {
            settingsBefore ??= countBefore(list, (x) => x.kind === 'name' && unquoted(x.text) === 'current_setting');
            if (settingsBefore[arg[1]]! > settingsBefore[arg[0]]!) keyedText = true;
            else keyedStatements.add(toks.statementStart[i]!);
          }
        }
      }
      // EXECUTE p('x'): see above (`EXECUTE FUNCTION f(…)` of a trigger has a name, not `(`, after FUNCTION).
      if (depth === 0 && /^execute$/i.test(t.text) && list[i + 1]?.kind === 'name' && list[i + 2]?.kind === 'open') {
        ranges.push([i + 2, toks.afterClose[i + 2]!]);
      }
      // A name is text too: AS "password 'hunter2'", and password$t$x$t$ (a `$` goes on a name: one token).
      if (NAMES_SECRET.test(t.text) && /['$=:]/.test(t.text)) {
        const quoted = t.text.endsWith('"');
        const q = t.text.indexOf('"');
        const content = quoted ? t.text.slice(q + 1, -1).replace(/""/g, '"') : t.text;
        const inner = depth + 1 >= MAX_DEPTH ? undefined : redactText(content, depth + 1);
        if (inner !== content) redact.set(i, inner === undefined || q > 0 ? `"${mark}"` : quoted ? `"${inner.replace(/"/g, '""')}"` : inner);
      }
    } else if (t.kind === 'string') {
      const content = literalContent(t.text, /^uescape$/i.test(list[i + 1]?.text ?? '') && list[i + 2]?.kind === 'string' ? literalContent(list[i + 2]!.text) : undefined);
      // A command line the server runs (COPY … PROGRAM 'curl -u user:pw …', ALTER SYSTEM SET archive_command = '…'):
      // its credentials, read as the shell reads them (argv-redact.ts, which knows the forms the rules below read
      // too, in a command's words, and reads psql -c's SQL as SQL). Where it finds one, the rules below do not read
      // the text again: as SQL, `PGPASSWORD=[redacted] psql -c '…'` names a password and they took psql's statement
      // for its value. Where it finds none, they read it as any literal.
      if (runsCommand(toks, i, copyTargets)) {
        const command = redactCommandLine(content);
        if (command !== content) {
          redact.set(i, reencode(t.text, mark === REDACTED ? command : command.split(REDACTED).join(mark)) ?? `'${mark}'`);
          continue;
        }
      }
      const named = NAMES_SECRET.test(content);
      // SQL in a literal that calls a function taking a key (a function body, dynamic SQL): read as a statement.
      const calls = CALLS_SECRET.test(content);
      // An INSERT in a body may write a table whose columns say which value is a password's (read as a statement).
      const inserts = tables?.columnsOf !== undefined && /insert/i.test(content);
      // A body or dynamic SQL may give the server a command line (EXECUTE 'COPY t TO PROGRAM ''curl -u …''').
      if (!named && !calls && !inserts && !RUNS_COMMAND.test(content)) continue;
      // Dynamic SQL: whether the literal is joined to what follows or is format's string (textBuilt), and the
      // parameters a plpgsql EXECUTE … USING gives it (casts passed over; to its statement's end).
      let k = i;
      while (list[k + 1]?.text === '::' && list[k + 2]?.kind === 'name') k += 2;
      const built = textBuilt(toks, i);
      const joinedOn = built === 'joined';
      const formatted = built === 'format';
      if (/^using$/i.test(list[k + 1]?.text ?? '')) ranges.push([k + 2, toks.statementEnd[i]!]);
      // SQL in a literal that takes a key from a setting (DO $$ … pgp_sym_decrypt(pan, current_setting('app.k')) $$):
      // the setting may be set anywhere in the text (SET app.k = 'k'; DO …).
      if (calls && /current_setting/i.test(content)) keyedText = true;
      if (calls) {
        // A key put into such a call: 'SELECT pgp_sym_decrypt(pan, ' || …, format('… decrypt(pan, %L)', …).
        const { openAtEnd, placeholder } = keyedCallText(content);
        if ((openAtEnd && joinedOn) || (placeholder && formatted)) ranges.push([i + 1, toks.groupEnd[i]!]);
      }
      if (!named) {
        const inner = depth + 1 >= MAX_DEPTH ? undefined : reencode(t.text, redactText(content, depth + 1));
        if (inner !== t.text) redact.set(i, inner ?? `'${mark}'`);
        continue;
      }
      // Dynamic SQL built around a password: 'ALTER ROLE x PASSWORD ' || …, format('… PASSWORD %L', …). How the
      // password gets there need not be read (format((('… PASSWORD %L')), ('x')), 'PASSWORD ' || …): every literal of
      // the statement goes (a statement's text, as this one, is kept as code: secretSweep).
      const passwordNext = PASSWORD_NEXT.test(content) || PASSWORD_PLACEHOLDER.test(content);
      if (passwordNext && (buildsText(toks, i) || takesText(toks, i, content))) secretStatements.add(toks.statementStart[i]!);
      if (BARE_NAME.test(content)) {
        // (A key-like password, 'Password1', is one in a PASSWORD clause's range all the same.)
        if (!NOT_A_SECRET.test(content.trim())) keyValues(toks, i, ranges, one, updates);
        continue;
      }
      if ((PASSWORD_NEXT.test(content) && joinedOn) || (PASSWORD_PLACEHOLDER.test(content) && formatted)) ranges.push([i + 1, toks.groupEnd[i]!]);
      // What a literal's text could carry besides the word: a quote, a dollar quote, a `=` or a URL's `:`; a body or
      // dynamic SQL is read as statements whatever it holds (`WHERE password BETWEEN 123456 AND 123457` in a DO block,
      // EXECUTE 'SET app.api_key TO k3y').
      if (/['$=:]/.test(content) || isBody(toks, i) || readsAsStatement(content)) {
        const inner = depth + 1 >= MAX_DEPTH ? undefined : reencode(t.text, redactText(content, depth + 1));
        if (inner !== t.text) redact.set(i, inner ?? `'${mark}'`);
      }
    }
  }
  if (keyedText) ranges.push([0, list.length]);
  else for (const start of keyedStatements.size > 0 ? new Set([...keyedStatements, ...settingStatements]) : []) ranges.push([start, toks.statementEnd[start]!]);
  // A SET in either's scope (all of them) may give its setting a bare word (SET app.k = k3y): its value list replaced once,
  // as a whole, when it has a word but DEFAULT (strings and numbers are swept anyway).
  if (keyedText || keyedStatements.size > 0) {
    for (const start of settingStatements) {
      if (/^set$/i.test(list[start]!.text)) setValueRedacted(list, start, toks.statementEnd[start]!, mark, (v, to) => redact.set(v, to));
    }
  }
  // A statement that names a secret first: every literal and number that is a value; then the ranges the rules found,
  // whole, over it (a literal kept there as no value is redacted when a rule took it).
  const bodyRedacted = (at: number, keepCode: boolean): void => {
    const src = redact.get(at) || list[at]!.text;
    redact.set(at, reencode(src, codeRedacted(literalContent(src), mark, keepCode) ?? mark) ?? `'${mark}'`);
  };
  const valueRedacted = (at: number): void => {
    // (A U&'…' literal with a UESCAPE clause keeps its prefix, so that the clause still reads.)
    redact.set(at, /^uescape$/i.test(list[at + 1]?.text ?? '') ? `U&'${mark}'` : `'${mark}'`);
  };
  for (const start of secretStatements) {
    for (let at = start, to = toks.statementEnd[start]!; at < to; at++) {
      const k = list[at]!.kind;
      if (redact.get(at) === '' || (k !== 'string' && k !== 'number')) continue;
      const role = k === 'number' ? 'value' : secretSweep(toks, at, copyTargets);
      if (role === 'value') valueRedacted(at);
      else if (role === 'code') bodyRedacted(at, true);
    }
  }
  // The ranges swept in order: every literal and number in one is replaced whole (over what its own text's
  // redaction made); a DO block's or a function's body is code that runs: its literals and numbers go, what it does is
  // shown. (What continues a value already replaced whole stays gone.)
  ranges.sort((a, b) => a[0] - b[0]);
  for (let r = 0, at = 0; r < ranges.length; r++) {
    const [from, to] = ranges[r]!;
    for (at = Math.max(at, from); at < to; at++) {
      const k = list[at]!.kind;
      if (redact.get(at) === '') continue;
      if (k === 'number' || (k === 'string' && !isBody(toks, at))) valueRedacted(at);
      // (There a body's dynamic SQL goes whole too: a key may be in it as a bare word, SET app.k = k3y.)
      else if (k === 'string') bodyRedacted(at, false);
    }
  }
  // A literal read to where standard_conforming_strings = off would end it is cut at its statement's end as the
  // scanner reads it: pcigate runs nothing with it off (a session turning it off is refused), and past that `;`
  // is a statement the record must show (SELECT crypt('x\', …); DROP TABLE cards).
  const changes = [...redact].map(([i, to]) => ({
    start: list[i]!.start, end: list[i]!.end, to, tok: list[i] as Tok | undefined, limit: list[toks.statementEnd[i]!]?.start ?? text.length,
    stmt: list[toks.statementStart[i]!]!.start,
  }));
  // Whether the statement at `start` (an offset) fails to parse as the server reads it (standard_conforming_strings
  // on): only then may a literal in it be meant for the setting off and be read on (nothing of it runs). One that
  // parses is what the server runs: its text after the literal is shown (`PASSWORD 'x\' SUPERUSER`). Asked once.
  const parsesCache = new Map<number, boolean>();
  const offReadingMatters = (start: number, end: number): boolean => {
    let fails = parsesCache.get(start);
    if (fails === undefined) {
      fails = 'error' in parseStatements(text.slice(start, end));
      parsesCache.set(start, fails);
    }
    return fails;
  };
  // A comment that mentions a password (a statement commented out, a note): its text redacted as a statement's.
  for (const c of comments) {
    const open = c.text.startsWith('--') ? '--' : '/*';
    const inner = c.text.slice(2, open === '--' ? undefined : -2);
    const whole = `${open} ${mark} ${open === '--' ? '' : '*/'}`;
    const redacted = depth + 1 >= MAX_DEPTH ? undefined : redactText(inner, depth + 1);
    // A nested /* or */ in a block comment's text (or in what its redaction made) would end it elsewhere once a
    // quote is replaced (`/* /* password '*/' */ DROP …` left open, hiding the DROP): such a comment is replaced whole.
    const to = redacted === undefined || (open === '/*' && (inner.includes('/*') || inner.includes('*/') || redacted.includes('/*') || redacted.includes('*/')))
      ? whole : `${open}${redacted}${open === '--' ? '' : '*/'}`;
    if (to !== c.text) changes.push({ start: c.start, end: c.end, to, tok: undefined, limit: c.end, stmt: c.start });
  }
  if (changes.length === 0) return text;
  changes.sort((a, b) => a.start - b.start);
  let out = '';
  let done = 0;
  for (const e of changes) {
    // Inside one before it (a literal read to where standard_conforming_strings = off ends it): replaced with it.
    // (Read from where no edit before reached, each such read ends before the next: linear.)
    if (e.start < done) {
      if (e.end > done) { edits?.push(done, e.end, 0); done = e.end; }
      continue;
    }
    out += text.slice(done, e.start) + e.to;
    done = e.tok && e.tok.kind === 'string' && e.tok.text.startsWith("'") && e.tok.text.includes('\\') && offReadingMatters(e.stmt, e.limit)
      ? Math.max(e.end, offConformingEnd(text, e.tok, e.limit)) : e.end;
    if (edits && text.slice(e.start, done) !== e.to) edits.push(e.start, done, e.to.length);
  }
  return out + text.slice(done);
}

/** Whether the statement at `start` is a role's: CREATE/ALTER ROLE, USER (not USER MAPPING) or GROUP. */
function roleStatement(list: readonly Tok[], start: number): boolean {
  return /^(?:create|alter)$/i.test(list[start]?.text ?? '') && /^(?:role|user|group)$/i.test(list[start + 1]?.text ?? '') && !/^mapping$/i.test(list[start + 2]?.text ?? '');
}

/** What is glued to a word given for a password, as part of it (hunter-2, p@ss!): operators, numbers, names. */
const GLUED = new Set<Tok['kind']>(['other', 'number', 'name', 'assign']);

/** The UTF-16 offset in `text` of the code point at index `codePoints` (the parser's cursor counts characters). */
export function utf16Offset(text: string, codePoints: number): number {
  let at = 0;
  for (let n = 0; n < codePoints && at < text.length; n++) at += text.codePointAt(at)! > 0xffff ? 2 : 1;
  return at;
}

/**
 * `IDENTIFIED [WITH plugin] BY value` and `IDENTIFIED WITH plugin AS value` at `i` (MySQL, Oracle: CREATE/ALTER USER,
 * GRANT, CREATE DATABASE LINK), and Oracle's `REPLACE old` after: each value redacted (valueAt).
 */
function identifiedValues(toks: Tokens, i: number, ranges: Array<[number, number]>, word: (j: number) => number): void {
  const { list } = toks;
  let j = i + 1;
  const plugin = /^with$/i.test(list[j]?.text ?? '');
  if (plugin) j += 2;
  const kw = list[j]?.text ?? '';
  if (!/^by$/i.test(kw) && !(plugin && /^as$/i.test(kw))) return;
  j = valueAt(toks, j + 1, ranges, word);
  if (/^replace$/i.test(list[j]?.text ?? '')) valueAt(toks, j + 1, ranges, word);
}

/**
 * The value at `j` of another server's password clause: a literal or number, a call (PASSWORD('x'): its arguments), a
 * word or quoted name and what is glued to it. Where it ends.
 */
function valueAt(toks: Tokens, j: number, ranges: Array<[number, number]>, word: (j: number) => number): number {
  const { list } = toks;
  const v = list[j];
  if (!v) return j;
  if (v.kind === 'string' || v.kind === 'number') { ranges.push([j, j + 1]); return j + 1; }
  if (v.kind === 'name' && list[j + 1]?.kind === 'open') { ranges.push([j + 1, toks.afterClose[j + 1]!]); return toks.afterClose[j + 1]!; }
  if (v.kind === 'name' || v.kind === 'other') return word(j);
  return j;
}

/**
 * Where a plain '…' literal `t` with a backslash in it ends when standard_conforming_strings is off (a backslash
 * escapes the next character, `\'` too), read no further than `limit` (its statement's end as the scanner reads it).
 */
function offConformingEnd(text: string, t: Tok, limit: number): number {
  for (let k = t.start + 1; k < limit; k++) {
    const c = text.charCodeAt(k);
    if (c === 0x5c) k++;
    else if (c === 0x27) {
      if (text.charCodeAt(k + 1) !== 0x27) return k + 1;
      k++;
    }
  }
  return limit;
}

/** The tokens, and for each where its group of parentheses (or its statement) ends and its group's next literal. */
class Tokens {
  /** For each token: the index of the `)` that closes its group, or of the `;` that ends its statement first, or the length. */
  readonly groupEnd: number[];
  /** For each token: the index of the next comma of its own group (not in nested parentheses) and statement, or -1. */
  readonly nextComma: number[];
  /** For a `(`: the index after its `)` (or where its statement ends). */
  readonly afterClose: number[];
  /** For each token: the index of its statement's first token. */
  readonly statementStart: number[];
  /** For each token: how many parentheses are open around it (a `(` and its `)` count as outside). */
  readonly depth: number[];
  /** For each token: the index of the `(` that opens its group, or -1. */
  readonly groupOpen: number[];
  /** For a `)`: whether it closes a row of VALUES (VALUES (…) or a row after one and a comma). */
  readonly rowOfValues: boolean[];
  /** For a `)`: the index of its `(`, or -1. */
  readonly openOf: number[];
  /** For each token: the index of the `;` that ends its statement, or the length. */
  readonly statementEnd: number[];
  /** Where the text a `||` operand is joined into starts, for the operands chainStart walked. */
  readonly chainStarts = new Map<number, number>();

  constructor(readonly list: Tok[]) {
    const n = list.length;
    const depth = this.depth = new Array<number>(n);
    this.statementStart = new Array<number>(n);
    this.groupOpen = new Array<number>(n).fill(-1);
    this.rowOfValues = new Array<boolean>(n).fill(false);
    this.openOf = new Array<number>(n).fill(-1);
    const opens: number[] = [];
    let d = 0;
    for (let i = 0, start = 0; i < n; i++) {
      const k = list[i]!.kind;
      this.statementStart[i] = start;
      if (k === 'end') start = i + 1;
      if (k === 'close') {
        d = Math.max(0, d - 1);
        const open = opens.pop();
        if (open !== undefined) {
          this.openOf[i] = open;
          const before = list[open - 1];
          this.rowOfValues[i] = /^values$/i.test(before?.text ?? '') || (before?.kind === 'comma' && list[open - 2]?.kind === 'close' && this.rowOfValues[open - 2]!);
        }
      }
      depth[i] = d;
      this.groupOpen[i] = opens.length > 0 ? opens[opens.length - 1]! : -1;
      if (k === 'open') { d++; opens.push(i); }
      if (k === 'end') { d = 0; opens.length = 0; }
    }
    this.groupEnd = new Array<number>(n);
    this.nextComma = new Array<number>(n).fill(-1);
    this.afterClose = new Array<number>(n).fill(n);
    this.statementEnd = new Array<number>(n);
    // Right to left: per depth, the group's closing `)` and next comma seen so far; a `;` ends them all (a
    // generation, so that it costs one step however deep the text went).
    const closeAt: Array<[number, number]> = [];
    const commaAt: Array<[number, number]> = [];
    let gen = 0;
    let endAt = n;
    for (let i = n - 1; i >= 0; i--) {
      const t = list[i]!;
      const di = depth[i]!;
      if (t.kind === 'end') { gen++; endAt = i; }
      this.statementEnd[i] = endAt;
      if (t.kind === 'close') { closeAt[di + 1] = [i, gen]; commaAt[di + 1] = [-1, gen]; }
      if (t.kind === 'open') { const c = closeAt[di + 1]; this.afterClose[i] = c && c[1] === gen ? c[0] + 1 : endAt; }
      const c = closeAt[di];
      this.groupEnd[i] = c && c[1] === gen ? c[0] : endAt;
      const comma = commaAt[di];
      this.nextComma[i] = comma && comma[1] === gen ? comma[0] : -1;
      if (t.kind === 'comma') commaAt[di] = [i, gen];
    }
  }
}
/** The scanner's tokens of `text` (tokensOf), or undefined when it cannot read it to its end. */
function readTokens(text: string, comments: Tok[] = []): Tok[] | undefined {
  let raw: SqlToken[];
  try {
    raw = scanTokens(text);
  } catch {
    return undefined;
  }
  return tokensOf(text, raw, comments);
}

/**
 * The scanner's tokens without comments, offsets in UTF-16 code units (the scanner gives UTF-8 bytes); the
 * comments that mention a password go to `comments`.
 */
function tokensOf(text: string, raw: SqlToken[], comments: Tok[]): Tok[] | undefined {
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
      if (mayHoldSecret(t)) comments.push({ start, end, text: t, kind: 'other', next: out.length });
      continue;
    }
    // A U&"…" name is read as the name it spells (U&"\0070assword"), written back as a plain quoted one if redacted.
    const read = /^[Uu]&"/.test(t) ? `"${unicodeEscapes(t.slice(3, -1))}"` : t;
    const keywordKind = (r as { keywordKind?: number }).keywordKind ?? 0;
    out.push({ start, end, text: read, kind: kindOf(name, keywordKind, t), ...(name === 'IDENT' ? { ident: true } : {}), ...(keywordKind === 4 ? { reserved: true } : {}) });
  }
  // A U&"…" name with a UESCAPE clause: read again with its escape character, the clause part of the name (what
  // follows it is what follows the name).
  const clause = new Set<number>();
  for (let k = 0; k + 2 < out.length; k++) {
    if (!/^uescape$/i.test(out[k + 1]!.text) || out[k + 2]!.kind !== 'string') continue;
    const name = text.slice(out[k]!.start, out[k]!.end);
    if (/^[Uu]&"/.test(name)) {
      out[k]!.text = `"${unicodeEscapes(name.slice(3, -1), literalContent(out[k + 2]!.text))}"`;
      clause.add(k + 1).add(k + 2);
    }
  }
  // Read to its end (but for the blanks after the last token), or not read.
  const last = raw.length > 0 ? (ascii ? raw[raw.length - 1]!.end : charAt(raw[raw.length - 1]!.end)) : 0;
  if (!/^[ \t\n\r\f\v]*$/.test(text.slice(last))) return undefined;
  return clause.size > 0 ? out.filter((_, k) => !clause.has(k)) : out;
}

function kindOf(name: string | undefined, keywordKind: number, t: string): Tok['kind'] {
  if (name === 'SCONST' || /^[Uu]&'/.test(t)) return 'string';
  // (A bit string, B'1010' or X'DEADBEEF', is a value as a number is.)
  if (name === 'ICONST' || name === 'FCONST' || /^[BbXx]'/.test(t)) return 'number';
  if (name === 'IDENT' || keywordKind > 0 || /^[Uu]&"/.test(t)) return /^(?:to|like|ilike)$/i.test(t) ? 'assign' : 'name';
  // Brackets group as parentheses do (ARRAY[a, b], a subscript): their commas are not the call's or the row's.
  if (t === '(' || t === '[') return 'open';
  if (t === ')' || t === ']') return 'close';
  if (t === ';') return 'end';
  if (t === ',') return 'comma';
  if (t === '=' || t === ':=' || t === '=>' || t === '<>' || t === '!=') return 'assign';
  return 'other';
}

/**
 * A literal's text, roughly: what lies between its quotes, a doubled quote read as one, and the escapes of an E'…' or
 * U&'…' literal read as the server reads them (`E'\160assword=x'`, `U&'\0070assword=x'` spell password=x; `uescape`:
 * the escape character its UESCAPE clause chose). For reading, not for SQL.
 */
function literalContent(t: string, uescape = '\\'): string {
  const dollar = /^(\$[^$]*\$)([\s\S]*)\1$/.exec(t);
  if (dollar) return dollar[2]!;
  const q = t.indexOf("'");
  const quoted = t.slice(q + 1, -1).replace(/''/g, "'");
  // A backslash escapes only in E'…' (standard_conforming_strings, as the scanner reads).
  if (q === 1 && /^[Ee]/.test(t)) return quoted.replace(E_ESCAPE, readEscape);
  return q === 2 && /^[Uu]&/.test(t) ? unicodeEscapes(quoted, uescape) : quoted;
}

/** A U&'…' literal's or U&"…" name's text with its Unicode escapes (`\XXXX`, `\+XXXXXX`; `uescape` doubled is itself) read. */
function unicodeEscapes(text: string, uescape = '\\'): string {
  const e = uescape.replace(/[\\^$.*+?()[\]{}|-]/g, '\\$&');
  return text.replace(new RegExp(`${e}(?:([0-9A-Fa-f]{4})|\\+([0-9A-Fa-f]{6})|${e})`, 'g'), (_, u4?: string, u6?: string) => (u4 || u6 ? codePoint(parseInt((u4 ?? u6)!, 16)) : uescape));
}

/** An E'…' escape (PostgreSQL docs 4.1.2.2): octal, hex, 16- and 32-bit Unicode, the C escapes, any other character as itself. */
const E_ESCAPE = /\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|([\s\S]))/g;
const C_ESCAPES: Readonly<Record<string, string>> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
function readEscape(_: string, octal?: string, hex?: string, u4?: string, u8?: string, c?: string): string {
  if (octal) return String.fromCharCode(parseInt(octal, 8) & 0xff);
  if (hex) return String.fromCharCode(parseInt(hex, 16));
  if (u4 || u8) return codePoint(parseInt((u4 ?? u8)!, 16));
  return C_ESCAPES[c!] ?? c!;
}
/** The character of a code point; U+FFFD for one past Unicode (the server refuses those). */
function codePoint(n: number): string {
  return n <= 0x10ffff ? String.fromCodePoint(n) : '\ufffd';
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

/**
 * The value of a name that says password at `i`: a call of it (every literal), the literal, number, bare word,
 * call or parentheses after it (and an `=`, `:=`, `=>`, `<>`, `!=`, TO, LIKE or ILIKE), and a literal before it
 * that is compared with it or named as it. `one` redacts one token whole.
 */
function valueOfName(toks: Tokens, i: number, ranges: Array<[number, number]>, one: (j: number, first: boolean) => void): void {
  const { list } = toks;
  const before = list[i - 1];
  if (list[i - 2]?.kind === 'string' && (before?.kind === 'assign' || /^as$/i.test(before?.text ?? ''))) ranges.push([i - 2, i - 1]);
  let j = i + 1;
  if (list[j]?.kind === 'open') { ranges.push([j, toks.afterClose[j]!]); return; }
  // PASSWORDU&'x' (no blank): the scanner reads a name PASSWORDU, an operator & and a literal.
  if (list[j]?.text === '&' && list[j]!.start === list[i]!.end && list[j + 1]?.kind === 'string') { ranges.push([j + 1, j + 2]); return; }
  const assigned = list[j]?.kind === 'assign';
  if (assigned) j++;
  const v = list[j];
  if (v?.kind === 'string' || v?.kind === 'number') { ranges.push([j, j + 1]); return; }
  if (v?.kind === 'open') { ranges.push([j, toks.afterClose[j]!]); return; }
  // A function's name (schema-qualified or not) and its arguments: crypt('x', gen_salt('bf')), pg_catalog.md5('x').
  let f = j;
  while (list[f]?.kind === 'name' && list[f + 1]?.text === '.') f += 2;
  if (list[f]?.kind === 'name' && list[f + 1]?.kind === 'open') { ranges.push([f + 1, toks.afterClose[f + 1]!]); return; }
  // A typed literal: text 'x', bytea '…'.
  if (list[f]?.kind === 'name' && list[f + 1]?.kind === 'string') { ranges.push([f + 1, f + 2]); return; }
  // A word given to it: what a SET (ALTER … SET, CREATE FUNCTION … SET) gives a setting, a keyword or not (SET
  // app.password = admin), a signed number, words and operators glued (hunter-2); anywhere else a column
  // (password = other_col) or a literal whose quotes were forgotten (password = hunter2, which the server refuses
  // but the record keeps): redacted all the same.
  if (!assigned || !v) return;
  if (!(v.kind === 'name' || v.text === '-' || v.text === '+') || list[j + 1]?.text === '.') return;
  one(j, true);
  // (Glued to it: a blank ends the value, as it ends a connection string's.)
  for (let k = j + 1; k < list.length && list[k]!.start === list[k - 1]!.end && (list[k]!.kind === 'other' || list[k]!.kind === 'number' || list[k]!.ident); k++) one(k, false);
}

/**
 * The value of a literal at `i` that is a password's key ('db_password', '{auth,password}'): after its comma,
 * the next argument (up to the next comma of the group, or its end: set_config, jsonb_build_object, VALUES
 * ('key', 'value')); after `=` or the like, what valueOfName takes (`data->>'password' = 'x'`); the other
 * literals of its row, when that is a VALUES row (VALUES ('x', 'db_password')); and the literals a SET of an
 * UPDATE in its statement assigns (UPDATE settings SET value = 'x' WHERE key = 'smtp_password', ON CONFLICT …
 * DO UPDATE SET value = 'x'). A cast after it (`'app.password'::text`) is passed over.
 */
function keyValues(toks: Tokens, i: number, ranges: Array<[number, number]>, one: (j: number, first: boolean) => void, updates: Map<number, Array<[number, number]>>): void {
  const { list } = toks;
  let k = i;
  while (list[k + 1]?.text === '::' && list[k + 2]?.kind === 'name') k += 2;
  if (list[k + 1]?.kind === 'comma') ranges.push([k + 2, toks.nextComma[k + 1]! >= 0 ? toks.nextComma[k + 1]! : toks.groupEnd[i]!]);
  else if (list[k + 1]?.kind === 'assign') valueOfName(toks, k, ranges, one);
  const open = toks.groupOpen[i]!;
  if (open >= 0 && (/^values$/i.test(list[open - 1]?.text ?? '') || (list[open - 1]?.kind === 'comma' && list[open - 2]?.kind === 'close' && toks.rowOfValues[open - 2]))) {
    ranges.push([open + 1, i], [k + 1, toks.groupEnd[i]!]);
  }
  const start = toks.statementStart[i]!;
  if (!updates.has(start)) {
    const sets = updateSets(toks, start);
    updates.set(start, sets);
    for (const r of sets) ranges.push(r);
  }
}

/** The SET clauses of the UPDATEs (and ON CONFLICT … DO UPDATE) of the statement starting at `start`: [from, to). */
function updateSets(toks: Tokens, start: number): Array<[number, number]> {
  const { list } = toks;
  const out: Array<[number, number]> = [];
  let update = false;
  for (let j = start; j < list.length && list[j]!.kind !== 'end'; j++) {
    const t = list[j]!;
    if (t.kind !== 'name') continue;
    if (/^update$/i.test(t.text)) update = true;
    else if (update && /^set$/i.test(t.text)) {
      let e = j + 1;
      const end = toks.groupEnd[j]!;
      while (e < end && !(toks.depth[e] === toks.depth[j] && /^(?:where|from|returning)$/i.test(list[e]!.text))) e++;
      out.push([j + 1, e]);
      update = false;
      j = e - 1;
    }
  }
  return out;
}

/**
 * Whether the argument [from, to) is one call, its schema named or not, of a function whose keys' places are known
 * (table_import_from_s3(…, aws_commons.create_aws_credentials('AKIA…', 'secret', ''))): its own are read by those.
 */
function keyedCall(toks: Tokens, [from, to]: [number, number]): boolean {
  const { list } = toks;
  let j = from;
  while (j + 2 < to && list[j]!.kind === 'name' && list[j + 1]!.text === '.') j += 2;
  return list[j]?.kind === 'name' && list[j + 1]?.kind === 'open' && toks.afterClose[j + 1] === to && SECRET_ARGUMENTS.has(unquoted(list[j]!.text));
}

/**
 * Whether the argument [from, to) is written in its place: literals, parameters and operators, parenthesized or cast
 * (`'k'`, `$1`, `'k' || $2`, `'\\x…'::bytea`), no name but a cast's type.
 */
function writtenInPlace(list: readonly Tok[], [from, to]: [number, number]): boolean {
  for (let j = from; j < to; j++) {
    if (list[j]!.text === '::') {
      while (j + 1 < to && list[j + 1]!.kind === 'name') j++;
      // (A type's modifiers or a subscript, `::varchar(10)`, read as not in place: a call after `::` is read to no end.)
      if (list[j + 1]?.kind === 'open') return false;
      continue;
    }
    if (list[j]!.kind === 'name') return false;
  }
  return true;
}

/** For each index 0..list.length, how many tokens before it `test` holds for. */
function countBefore(list: readonly Tok[], test: (t: Tok) => boolean): number[] {
  const out = new Array<number>(list.length + 1);
  out[0] = 0;
  for (let i = 0; i < list.length; i++) out[i + 1] = out[i]! + (test(list[i]!) ? 1 : 0);
  return out;
}

/** Whether the literal at `i` is a body (DO $$…$$, DO LANGUAGE x $$…$$, CREATE FUNCTION … AS $$…$$): code that runs. */
function isBody(toks: Tokens, i: number): boolean {
  const { list } = toks;
  const before = list[i - 1]?.text ?? '';
  if (/^do$/i.test(before) || (list[i - 3]?.text !== undefined && /^do$/i.test(list[i - 3]!.text) && /^language$/i.test(list[i - 2]!.text))) return true;
  // CREATE [OR REPLACE] FUNCTION|PROCEDURE … AS '…' (not a C function's AS 'obj_file', 'link_symbol').
  if (!/^as$/i.test(before) || list[i + 1]?.kind === 'comma') return false;
  const start = toks.statementStart[i]!;
  if (!/^create$/i.test(list[start]?.text ?? '')) return false;
  for (let k = start + 1; k <= start + 3 && k < i; k++) if (/^(?:function|procedure)$/i.test(list[k]!.text)) return true;
  return false;
}

/**
 * What literal `i` of a statement that names a secret is: a value (redacted); code, shown with its own literals and
 * numbers redacted as a body's are (codeRedacted: a body, or dynamic SQL in its place: codeAt); or kept, being no value
 * (a UESCAPE clause's one character, a setting's name: set_config's or current_setting's first argument, a COPY's file
 * or program when it names no secret). Only for that rule: a literal any other rule takes is redacted whole all the same.
 */
function secretSweep(toks: Tokens, i: number, copyTargets: Map<number, number>): 'value' | 'code' | 'keep' {
  const { list } = toks;
  const t = list[i]!.text;
  const before = list[i - 1]?.text ?? '';
  if (/^uescape$/i.test(before) && /^[Uu]&'/.test(list[i - 2]?.text ?? '') && /^'[^']'$/.test(t)) return 'keep';
  if (copyTarget(toks, i, copyTargets) && !NAMES_SECRET.test(literalContent(t))) return 'keep';
  if (before === '(' && (list[i + 1]?.kind === 'comma' || list[i + 1]?.kind === 'close') && /^(?:set_config|current_setting)$/.test(unquoted(list[i - 2]?.text ?? ''))) return 'keep';
  return codeAt(toks, i) ? 'code' : 'value';
}

/**
 * Whether literal `i` is code by its place: a DO block's or function's body; text that reads as a statement
 * (readsAsStatement) where SQL is run (runsAt: after PL/pgSQL's EXECUTE, in a function that runs SQL, as format's
 * string), or a password's template joined into text; a piece of text joined into run SQL that starts a statement or
 * closes what an earlier piece opened. Anywhere else a literal is a value, however it reads (`lower(password) =
 * 'select me please'`).
 */
function codeAt(toks: Tokens, i: number): boolean {
  if (isBody(toks, i)) return true;
  const { list } = toks;
  const content = literalContent(list[i]!.text);
  // A piece of text joined into SQL that is run (EXECUTE 'SELECT ''' || x || '''; DROP TABLE t'): code when it starts a
  // statement or closes what an earlier piece opened (a quote, a statement); a piece that does neither may sit inside a
  // literal an earlier piece opened ('… v = ''' || 'k3y' || ''''): a value.
  if ((list[i - 1]?.text === '||' || buildsText(toks, i)) && runsAt(toks, chainStart(toks, i))) return readsAsStatement(content) || /^\s*[;'"]/.test(content);
  if (!readsAsStatement(content)) return false;
  // Text read as a statement where SQL is run, or a template for a password joined into text.
  return runsAt(toks, i) || (buildsText(toks, i) && (PASSWORD_NEXT.test(content) || PASSWORD_PLACEHOLDER.test(content)));
}

/** Functions that run SQL given as text (dblink, pg_cron, pg_background, query_to_xml, Citus). */
const RUNS_SQL = /^(?:dblink(?:_exec|_send_query|_open|_prepare)?|schedule(?:_in_database)?|pg_background_launch|query_to_xml(?:_and_xmlschema|schema)?|run_command_on_\w+)$/;

/** Whether the text at token `i` (a literal, or the start of text built from it) is run as SQL: after EXECUTE, EXECUTE (, in such a function or as format's string. */
function runsAt(toks: Tokens, i: number): boolean {
  const { list } = toks;
  const before = list[i - 1]?.text ?? '';
  if (/^execute$/i.test(before) || (before === '(' && /^execute$/i.test(list[i - 2]?.text ?? ''))) return true;
  const open = toks.groupOpen[i]!;
  if (open < 0) return false;
  const fn = unquoted(list[open - 1]?.text ?? '');
  return RUNS_SQL.test(fn) || (fn === 'format' && open === i - 1);
}

/** Where the text literal `i` is joined into starts: its first operand of `||` (a call, a literal), or a concat's first argument. */
function chainStart(toks: Tokens, i: number): number {
  const { list } = toks;
  const open = toks.groupOpen[i]!;
  if (open >= 0 && /^concat(?:_ws)?$/.test(unquoted(list[open - 1]?.text ?? ''))) return open - 1;
  // Each operand walked once: where a chain starts is kept for every operand passed (a chain of n pieces is O(n)).
  const passed: number[] = [];
  let k = i;
  let start: number | undefined;
  while (list[k - 1]?.text === '||') {
    start = toks.chainStarts.get(k);
    if (start !== undefined) break;
    passed.push(k);
    let p = k - 2;
    if (list[p]?.kind === 'close' && toks.openOf[p]! >= 0) p = toks.openOf[p]!;
    if (list[p - 1]?.kind === 'name' && list[p]?.kind === 'open') p--;
    if (p < 0 || p >= k - 1) break;
    k = p;
  }
  start ??= k;
  for (const q of passed) toks.chainStarts.set(q, start);
  return start;
}

/**
 * Whether literal `i`, ending where a password goes, is text a call or an operator takes (CAST(… AS text), textcat,
 * replace, array_to_string(ARRAY[…]), format's argument, COLLATE, OPERATOR(||)) and reads as a statement or names what
 * takes a password (a role, user, server, its options, a user mapping, ALTER SYSTEM): text built otherwise than
 * buildsText reads.
 */
function takesText(toks: Tokens, i: number, content: string): boolean {
  const { list } = toks;
  const open = toks.groupOpen[i]!;
  const inCall = open >= 0 && list[open - 1]?.kind === 'name';
  const operand = /^(?:as|collate|operator)$/i.test(list[i + 1]?.text ?? '');
  return (inCall || operand) && (readsAsStatement(content) || /\b(?:role|user|options|server|system|mapping)\b/i.test(content));
}

/** Statement keywords: what dynamic SQL starts with. */
const STATEMENT_KEYWORD = /(?:select|insert|update|delete|merge|drop|create|alter|truncate|grant|revoke|copy|with|call|execute|perform|set|reset|do|declare|begin|start|commit|end|rollback|abort|savepoint|release|comment|lock|refresh|vacuum|analyze|analyse|explain|prepare|deallocate|table|values|reindex|cluster|notify|listen|unlisten|discard|checkpoint|load|security|import|reassign|show|fetch|move|close)(?=\s|\(|--|\/\*|;|$)/iy;

/** Whether `text` starts as a statement does: a statement keyword after blanks, comments and opening parentheses. */
function readsAsStatement(text: string): boolean {
  let k = 0;
  while (k < text.length) {
    const c = text[k]!;
    if (c === '(' || /\s/.test(c)) k++;
    else if (c === '-' && text[k + 1] === '-') { const nl = text.indexOf('\n', k); k = nl < 0 ? text.length : nl + 1; }
    else if (c === '/' && text[k + 1] === '*') { const e = text.indexOf('*/', k + 2); k = e < 0 ? text.length : e + 2; }
    else break;
  }
  STATEMENT_KEYWORD.lastIndex = k;
  return STATEMENT_KEYWORD.test(text);
}

/**
 * Whether literal `i` is a COPY's file or program: right after the first TO or FROM (and PROGRAM) at its statement's
 * own level (not a WHERE clause's IS DISTINCT FROM, not inside the query copied). `copyTargets`: per COPY statement, the
 * index of that TO or FROM (found once).
 */
function copyTarget(toks: Tokens, i: number, copyTargets: Map<number, number>): boolean {
  const { list } = toks;
  const start = toks.statementStart[i]!;
  if (!/^copy$/i.test(list[start]!.text)) return false;
  let at = copyTargets.get(start);
  if (at === undefined) {
    at = -1;
    for (let k = start + 1, end = toks.statementEnd[start]!; k < end; k++) {
      if (toks.depth[k] === toks.depth[start] && /^(?:to|from)$/i.test(list[k]!.text)) { at = k; break; }
    }
    copyTargets.set(start, at);
  }
  return at >= 0 && (i === at + 1 || (i === at + 2 && /^program$/i.test(list[at + 1]!.text)));
}

/** What the command-line reader puts in a credential's place (argv-redact.ts). */
const REDACTED = '[redacted]';

/**
 * Whether literal `i` is a command line the server runs: a COPY's program, or the value a SET or ALTER SYSTEM gives a
 * setting that holds one (archive_command, restore_command, archive_cleanup_command, recovery_end_command,
 * ssl_passphrase_command: `… = '…'`, `… TO '…'`).
 */
function runsCommand(toks: Tokens, i: number, copyTargets: Map<number, number>): boolean {
  const { list } = toks;
  const before = list[i - 1]?.text ?? '';
  if (/^program$/i.test(before)) return copyTarget(toks, i, copyTargets);
  return (before === '=' || /^to$/i.test(before)) && list[i - 2]?.kind === 'name' && unquoted(list[i - 2]!.text).endsWith('_command');
}

/**
 * How literal `i` builds a statement's text: as format's string (inside parentheses too: format((('…')), …)), or
 * joined, by `||` (casts passed over, and the parentheses around it: (('…')) || …, not a call's: f('…') || …) or as an
 * argument of concat or concat_ws.
 */
function textBuilt(toks: Tokens, i: number): 'format' | 'joined' | undefined {
  const { list } = toks;
  let j = i - 1;
  while (list[j]?.kind === 'open') j--;
  if (j < i - 1 && unquoted(list[j]?.text ?? '') === 'format') return 'format';
  // Parentheses that only group it: those opened right before it, but a call's (a function's name before the first;
  // a keyword, SELECT or THEN, opens a group).
  let grouping = i - 1 - j;
  if (grouping > 0 && (list[j]?.ident === true || list[j]?.text.startsWith('"') === true)) grouping--;
  let k = i;
  for (;;) {
    if (list[k + 1]?.text === '::' && list[k + 2]?.kind === 'name') k += 2;
    else if (grouping > 0 && list[k + 1]?.kind === 'close') { k++; grouping--; }
    else break;
  }
  if (list[k + 1]?.text === '||') return 'joined';
  const open = toks.groupOpen[i]!;
  return list[k + 1]?.kind === 'comma' && open >= 0 && /^concat(?:_ws)?$/.test(unquoted(list[open - 1]?.text ?? '')) ? 'joined' : undefined;
}

/** Whether literal `i` builds a statement's text (textBuilt). */
function buildsText(toks: Tokens, i: number): boolean {
  return textBuilt(toks, i) !== undefined;
}

/**
 * `text` (code: a body, dynamic SQL) with every literal and number that is a value replaced by `'mark'`, and what a SET
 * (ALTER … SET) gives a setting (`SET app.k = k3y`: a bare word is a value too), read by the scanner. With `keepCode`,
 * the code in it (codeAt: a body, dynamic SQL in its place) is kept and read so in turn (MAX_DEPTH levels, deeper
 * replaced whole); without, every literal goes. A piece of a template (`'… PASSWORD ''' || pw || ''''`) is read as it
 * is: text ending inside a literal or quoted name is read to its end, text starting inside one (`'''; DROP TABLE t'`)
 * from its start, an open literal being a value. Undefined when the scanner cannot read it.
 */
function codeRedacted(text: string, mark: string, keepCode = true, depth = 0): string | undefined {
  let tokens: Tok[] | undefined;
  let pre = '';
  // (Text that starts with a quote is read as starting inside a literal first: `'; DROP TABLE t` closes one.)
  const ends = [['', "'"], ['', 'x"']] as const;
  const starts = [["'", ''], ["'", "'"], ["'", 'x"']] as const;
  for (const [before, after] of [['', ''] as const, ...(text.startsWith("'") ? [...starts, ...ends] : [...ends, ...starts])]) {
    tokens = readTokens(before + text + after);
    if (tokens !== undefined) { pre = before; break; }
  }
  if (tokens === undefined) return undefined;
  const shift = pre.length;
  const toks = new Tokens(tokens);
  const edits = new Map<number, string>();
  for (let j = 0; j < tokens.length; j++) {
    const t = tokens[j]!;
    if (t.kind !== 'string' && t.kind !== 'number') continue;
    const opens = t.end - shift > text.length;
    const closes = t.start < shift;
    let to = `${closes ? '' : "'"}${mark}${opens ? '' : "'"}`;
    if (keepCode && !opens && !closes && t.kind === 'string' && codeAt(toks, j)) {
      const inner = depth + 1 >= MAX_DEPTH ? undefined : codeRedacted(literalContent(t.text), mark, true, depth + 1);
      to = (inner === undefined ? undefined : reencode(t.text, inner)) ?? to;
    }
    edits.set(j, to);
  }
  // SET name = value, … (ALTER … SET too): the value list as one, when it has a word.
  for (let j = 0; j < tokens.length; j++) {
    if (!/^set$/i.test(tokens[j]!.text) || !/^(?:set|alter)$/i.test(tokens[toks.statementStart[j]!]!.text)) continue;
    setValueRedacted(tokens, j, toks.statementEnd[j]!, mark, (v, to) => edits.set(v, to));
    j = toks.statementEnd[j]!;
  }
  let out = '';
  let done = 0;
  for (const [j, to] of [...edits].sort((x, y) => x[0] - y[0])) {
    const t = tokens[j]!;
    const from = Math.max(0, t.start - shift);
    if (from < done) continue;
    out += text.slice(done, from) + to;
    done = Math.min(t.end - shift, text.length);
  }
  return out + text.slice(done);
}

/**
 * The value list of the SET at token `set` (to `end`, its statement's end: SET app.k = k3y, TO w1, w2): replaced as a
 * whole (`mark` on its first token, nothing on the rest) when it holds a word but DEFAULT (strings and numbers are
 * swept anyway).
 */
function setValueRedacted(list: Tok[], set: number, end: number, mark: string, edit: (v: number, to: string) => void): void {
  let a = set + 1;
  while (a < end && list[a]!.kind !== 'assign') a++;
  let words = false;
  for (let v = a + 1; v < end; v++) if ((list[v]!.kind === 'name' && !/^default$/i.test(list[v]!.text)) || list[v]!.kind === 'other') words = true;
  if (words) for (let v = a + 1; v < end; v++) edit(v, v === a + 1 ? mark : '');
}

/** A name unquoted, in lower case (a quoted "CRYPT" is another function, but one may be made to wrap crypt). */
function unquoted(name: string): string {
  return (name.startsWith('"') ? name.slice(1, -1).replace(/""/g, '"') : name).toLowerCase();
}

/**
 * The items of the parentheses opened at `open` (a call's arguments, a row, a column list): [from, to) each, split at
 * the commas of the group itself. An unclosed group runs to the end of its statement.
 */
function items(toks: Tokens, open: number): Array<[number, number]> {
  const { list } = toks;
  const after = toks.afterClose[open]!;
  const close = list[after - 1]?.kind === 'close' && toks.depth[after - 1] === toks.depth[open] && after - 1 > open ? after - 1 : after;
  const out: Array<[number, number]> = [];
  for (let from = open + 1; from < close;) {
    const comma = toks.nextComma[from]!;
    const to = comma >= 0 && comma < close ? comma : close;
    out.push([from, to]);
    from = to + 1;
  }
  return out;
}

/** What ends a SELECT's output list at its own depth. */
const SELECT_LIST_END = /^(?:from|where|group|having|window|order|limit|offset|fetch|for|union|intersect|except|into|returning|on|select|insert|update|delete|values)$/i;
/** What joins the arms of a set operation. */
const SET_OPERATION = /^(?:union|intersect|except)$/i;

/**
 * The output items of the SELECT at `sel` (`SELECT [ALL | DISTINCT [ON (…)]] a, b FROM …`): [from, to) each, to the
 * first clause at its depth (or the end of its group or statement), and where that is. Over its own level's tokens
 * only (a group is stepped over): nested SELECTs are not read again by each one around them.
 */
function selectItems(toks: Tokens, sel: number): { items: Array<[number, number]>; stop: number } {
  const { list } = toks;
  const end = toks.groupEnd[sel]!;
  let from = sel + 1;
  if (/^all$/i.test(list[from]?.text ?? '')) from++;
  else if (/^distinct$/i.test(list[from]?.text ?? '')) {
    from++;
    if (/^on$/i.test(list[from]?.text ?? '') && list[from + 1]?.kind === 'open') from = toks.afterClose[from + 1]!;
  }
  const out: Array<[number, number]> = [];
  let start = from;
  let k = from;
  for (; k < end; k = list[k]!.kind === 'open' ? toks.afterClose[k]! : k + 1) {
    const t = list[k]!;
    // (IS [NOT] DISTINCT FROM is an operator, not the FROM clause.)
    if (t.kind === 'name' && SELECT_LIST_END.test(t.text) && list[k - 1]?.text !== '.' && !(/^from$/i.test(t.text) && /^distinct$/i.test(list[k - 1]?.text ?? ''))) break;
    if (t.kind === 'comma') { out.push([start, k]); start = k + 1; }
  }
  out.push([start, Math.min(k, end)]);
  return { items: out, stop: k };
}

/**
 * The rows a query at `at` gives, each as its items: the arms of a set operation (UNION, INTERSECT, EXCEPT), each a
 * SELECT's output list, a VALUES list's rows or a parenthesized query, after a WITH's queries. Iterative (nested
 * parentheses and arms are a stack, not recursion); each token of the query's own levels read once.
 */
function queryRows(toks: Tokens, at: number): Array<Array<[number, number]>> {
  const { list } = toks;
  const rows: Array<Array<[number, number]>> = [];
  const todo = [at];
  while (todo.length > 0) {
    let k = todo.pop()!;
    if (/^with$/i.test(list[k]?.text ?? '')) {
      // Its queries (groups) and names stepped over, to the statement they are for.
      const end = toks.groupEnd[k]!;
      for (k++; k < end && !(list[k]!.kind === 'name' && /^(?:select|values|insert|update|delete)$/i.test(list[k]!.text));) {
        k = list[k]!.kind === 'open' ? toks.afterClose[k]! : k + 1;
      }
    }
    let next: number;
    const t = list[k];
    if (t?.kind === 'open') {
      todo.push(k + 1);
      next = toks.afterClose[k]!;
    } else if (t && /^select$/i.test(t.text)) {
      const sel = selectItems(toks, k);
      rows.push(sel.items);
      next = sel.stop;
      // Past its FROM, WHERE …: to a set operation at its level, if any.
      const end = toks.groupEnd[k]!;
      while (next < end && !(list[next]!.kind === 'name' && SET_OPERATION.test(list[next]!.text))) next = list[next]!.kind === 'open' ? toks.afterClose[next]! : next + 1;
    } else if (t && /^values$/i.test(t.text)) {
      for (next = k + 1; list[next]?.kind === 'open'; next = toks.afterClose[next]! + 1) {
        rows.push(items(toks, next));
        if (list[toks.afterClose[next]!]?.kind !== 'comma') { next = toks.afterClose[next]!; break; }
      }
    } else {
      // Another arm (TABLE t): passed over to a set operation at its level, if any.
      const end = toks.groupEnd[k]!;
      next = k;
      while (next < end && !(list[next]!.kind === 'name' && SET_OPERATION.test(list[next]!.text))) next = list[next]!.kind === 'open' ? toks.afterClose[next]! : next + 1;
    }
    if (list[next]?.kind === 'name' && SET_OPERATION.test(list[next]!.text)) {
      next++;
      if (/^(?:all|distinct)$/i.test(list[next]?.text ?? '')) next++;
      todo.push(next);
    }
  }
  return rows;
}

/** Comparisons a row of columns can be given a row by (`=`, `<>`, `IN`, `IS [NOT] DISTINCT FROM`, `< ANY` …). */
const ROW_OPERATOR = /^(?:=|<>|!=|<|>|<=|>=|in|is|not|distinct|from|any|all|some|row)$/i;

/**
 * The rows given to the row of columns whose `(` is `open`: the group after (or before) it and an operator, `SET (a,
 * password) = ('a', 'x')`, `= ROW(…)`, `= (SELECT …)`, `(a, password) IN (('b', 'x'), …)`, `('b', 'x') = (a, password)`.
 */
function rowsGiven(toks: Tokens, open: number, columns: number): Array<Array<[number, number]>> {
  const { list } = toks;
  let v = toks.afterClose[open]!;
  let ops = 0;
  while (list[v] && ROW_OPERATOR.test(list[v]!.text) && ops < 6) { v++; ops++; }
  let inList = ops > 0 && list.slice(toks.afterClose[open]!, v).some((t) => /^(?:in|any|all|some)$/i.test(t.text));
  if (ops === 0 || list[v]?.kind !== 'open') {
    // Reversed: a row, an operator, then these columns.
    let o = open - 1;
    ops = 0;
    while (o > 0 && ROW_OPERATOR.test(list[o]!.text) && ops < 6) { o--; ops++; }
    if (ops === 0 || list[o]?.kind !== 'close' || toks.openOf[o]! < 0) return [];
    v = toks.openOf[o]!;
    inList = false;
  }
  // Unwrapped: ((SELECT …)), (('a', 'x')); a list of rows for IN.
  for (;;) {
    if (/^(?:select|values|with)$/i.test(list[v + 1]?.text ?? '')) return queryRows(toks, v + 1);
    const row = items(toks, v);
    const single = row.length === 1 && list[row[0]![0]]?.kind === 'open' && toks.afterClose[row[0]![0]] === row[0]![1];
    if (single && columns !== 1) { v = row[0]![0]; continue; }
    if (!inList || !row.every(([f, t]) => list[f]?.kind === 'open' && toks.afterClose[f] === t)) return [row];
    return row.map(([f]) => items(toks, f));
  }
}

/**
 * A password-named column `i` of a column list given rows (rowsGiven): each row's item in its place. Each list once.
 */
function columnOfRow(toks: Tokens, i: number, ranges: Array<[number, number]>, read: Set<number>): void {
  const { list } = toks;
  const open = toks.groupOpen[i]!;
  if (open < 0 || read.has(open)) return;
  read.add(open);
  const columns = items(toks, open);
  const rows = rowsGiven(toks, open, columns.length);
  for (let c = 0; c < columns.length; c++) {
    const [from, to] = columns[c]!;
    for (let k = from; k < to; k++) {
      const t = list[k]!;
      if (t.kind === 'name' && namesSecret(t.text)) {
        for (const row of rows) if (row[c]) ranges.push(row[c]!);
        break;
      }
    }
  }
}

/**
 * The columns of the tables an INSERT without a column list writes (`INSERT INTO users VALUES (1, 'bob', 'x')`: which
 * value is the password is the table's to say). `columnsOf` answers by the name as written, unquoted and in lower
 * case (`users`, `app.users`); undefined: not known, and every value of such an INSERT is redacted (fail safe).
 * `needed` is set when a text has such an INSERT: its redaction depends on the catalog (not to be cached by text).
 */
export interface TableColumns {
  columnsOf?: ((table: string) => readonly string[] | undefined) | undefined;
  needed: boolean;
}

/** The table an INSERT at `i` writes (`INSERT INTO [schema.]table [AS x]`), as TableColumns names it, and the token after. */
function insertTarget(toks: Tokens, i: number): { name: string; next: number } | undefined {
  const { list } = toks;
  let j = i + 1;
  if (/^into$/i.test(list[j]?.text ?? '')) j++;
  const parts: string[] = [];
  while (list[j]?.kind === 'name' && parts.length < 3) {
    parts.push(unquoted(list[j]!.text));
    if (list[j + 1]?.text !== '.') { j++; break; }
    j += 2;
  }
  if (parts.length === 0) return undefined;
  if (/^as$/i.test(list[j]?.text ?? '') && list[j + 1]?.kind === 'name') j += 2;
  return { name: parts.slice(-2).join('.'), next: j };
}

/** The tables written by INSERTs without a column list in `text` (TableColumns names), for their columns to be looked up. */
export function insertTargetsWithoutColumns(text: string): string[] {
  if (!/insert/i.test(text)) return [];
  const tokens = readTokens(text);
  if (tokens === undefined) return [];
  const toks = new Tokens(tokens);
  const out = new Set<string>();
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i]!.kind !== 'name' || !/^insert$/i.test(tokens[i]!.text)) continue;
    const target = insertTarget(toks, i);
    if (target && !columnListAt(toks, target.next)) out.add(target.name);
  }
  return [...out];
}

/**
 * Whether a statement's bind parameters are withheld from its record and an approver's view: it names a password
 * or another secret (set_password($1), … PASSWORD $1, WHERE api_key = $1), calls a function that takes a key
 * (pgp_sym_decrypt(pan, $1)), is an INSERT without a column list (INSERT INTO users VALUES ($1, $2, $3): which is
 * the password is the table's to say) or an EXECUTE (EXECUTE p($1): what p does with it is another statement's).
 * `insertTargets`: insertTargetsWithoutColumns(sql), when the caller has it already.
 */
export function paramsMayBeSecret(sql: string, insertTargets?: readonly string[]): boolean {
  return namesSecretIn(sql) || mayHideSecret(sql) || EXECUTES.test(sql) || (insertTargets ?? insertTargetsWithoutColumns(sql)).length > 0;
}

/**
 * Whether `sql` names a secret as the literal rules read one: a name (a column, function, option or keyword) by
 * namesSecret, so that a flag's or a check's (`password_set`, `cvc_check`) does not withhold the parameters its
 * statement's literals keep; a literal or a comment that mentions one by NAMES_SECRET (set_config('app.api_key', $1,
 * false)); and any text the scanner cannot read where NAMES_SECRET finds one. Read by the scanner (~20–45 µs): the
 * proxy asks once per text (sql-record.ts statementMayHoldSecret).
 */
function namesSecretIn(sql: string): boolean {
  if (!NAMES_SECRET.test(sql)) return false;
  const comments: Tok[] = [];
  const tokens = readTokens(sql, comments);
  return tokens === undefined || comments.length > 0 || tokens.some((t) => (t.kind === 'name' ? namesSecret(t.text) : NAMES_SECRET.test(t.text)));
}

/** Whether the group at `j` (after an INSERT's table) is its column list, not a parenthesized query. */
function columnListAt(toks: Tokens, j: number): boolean {
  return toks.list[j]?.kind === 'open' && !/^(?:select|values|with)$/i.test(toks.list[j + 1]?.text ?? '') && toks.list[j + 1]?.kind !== 'open';
}

/**
 * `INSERT INTO t (cols) [OVERRIDING … VALUE] VALUES (…), (…)` at `i`: every literal of a column that says
 * password. Returns the index this read to (an INSERT inside what it read is not looked at again).
 */
function insertValues(toks: Tokens, i: number, ranges: Array<[number, number]>, tables?: TableColumns): number {
  const { list } = toks;
  const target = insertTarget(toks, i);
  if (!target) return i + 1;
  let j = target.next;
  const secret = new Set<number>();
  /** Every value is taken (a table whose columns are not known). */
  let all = false;
  if (!columnListAt(toks, j)) {
    // No column list: the table's columns in their order, as the catalog has them.
    if (!tables?.columnsOf) return j;
    tables.needed = true;
    const columns = tables.columnsOf(target.name);
    if (columns === undefined) all = true;
    else columns.forEach((c, k) => { if (namesSecret(c)) secret.add(k); });
  } else {
    let col = 0;
    for (j++; j < list.length && list[j]!.kind !== 'close'; j++) {
      const t = list[j]!;
      // A subscript or field (tags[1], point.x): passed over.
      if (t.kind === 'open') { j = toks.afterClose[j]! - 1; continue; }
      if (t.kind === 'comma') col++;
      else if (t.kind === 'name' && NAMES_SECRET.test(t.text)) secret.add(col);
      else if (t.kind !== 'name' && t.kind !== 'other') return j;
    }
    j++;
  }
  if (/^overriding$/i.test(list[j]?.text ?? '')) j += 3;
  if (secret.size === 0 && !all) return j;
  if (/^(?:select|with)$/i.test(list[j]?.text ?? '') || list[j]?.kind === 'open') {
    // INSERT … (email, password) SELECT 'a', 'x' [UNION …], (SELECT …), WITH …: the output item in the password's place.
    for (const row of queryRows(toks, j)) for (let c = 0; c < row.length; c++) if (all || secret.has(c)) ranges.push(row[c]!);
    return j + 1;
  }
  if (!/^values$/i.test(list[j]?.text ?? '')) return j;
  for (j++; list[j]?.kind === 'open'; j++) {
    // One row: its values split at the commas of its own parentheses.
    // An unclosed row (the statement ends first) runs to where it ends.
    const close = list[toks.afterClose[j]! - 1]?.kind === 'close' ? toks.afterClose[j]! - 1 : toks.afterClose[j]!;
    let at = 0;
    let from = j + 1;
    for (let k = j + 1; k <= close; k++) {
      if (k === close || (list[k]!.kind === 'comma' && toks.groupEnd[k] === close)) {
        if (all || secret.has(at)) ranges.push([from, k]);
        at++;
        from = k + 1;
      }
    }
    j = close + 1;
    if (list[j]?.kind !== 'comma') return j;
  }
  return j;
}
