/**
 * The secrets a SQL statement's text can carry, found by their spelling: a `PASSWORD` clause's literal (CREATE/ALTER
 * ROLE/USER, ENCRYPTED PASSWORD, `password '…'` in OPTIONS (…)) in any literal form, a connection string's
 * `password=…` (dblink, postgres_fdw, CREATE SUBSCRIPTION … CONNECTION) and a URL's password. ARCHITECTURE.md §4:
 * the log never holds a secret, and neither does anything else pcigate keeps or shows of a statement: its
 * `pg.query` record (src/broker/sql-record.ts) and an approval request, its file, its records and what approvers
 * and `policy explain` are shown (approvals.ts safeStatementText).
 */

/** A SQL string literal in any of its spellings: '…', E'…', U&'…', $tag$…$tag$. */
const LITERAL = String.raw`(?:[EeUu]&?'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*'|\$(?<tag>[A-Za-z_]*)\$[\s\S]*?\$\k<tag>\$)`;
/**
 * `PASSWORD 'x'` (CREATE/ALTER ROLE/USER, ENCRYPTED PASSWORD), and `password 'x'` in OPTIONS (…); with no word
 * boundary before it, so that postgres_fdw's `sslpassword 'x'` is one too.
 */
const PASSWORD_CLAUSE = new RegExp(String.raw`(password\s*)${LITERAL}`, 'gi');
/** `password=…` (and `sslpassword=…`) inside connection strings (dblink, postgres_fdw, subscriptions). */
const CONNSTR_PASSWORD = /(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s'"]+)/gi;
/** `postgres://user:secret@host` URLs, and `postgres://:secret@host` (libpq takes a URI without a user name). */
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@'"]*:)([^\s@'"]+)(@)/gi;

const PASSWORD_WORD = /password/i;

/** `text` with every secret found replaced by `mark` (a literal's by `'mark'`, so the SQL still reads as SQL). */
export function redactStatementSecrets(text: string, mark = '[redacted]'): string {
  let s = text;
  // The replacements only run on text that can match them (both password patterns name the word, a URL
  // has `://`): this runs once per distinct SQL text, which with literals in the SQL is once per statement.
  if (PASSWORD_WORD.test(s)) {
    s = s.replace(PASSWORD_CLAUSE, (_m, kw: string) => `${kw}'${mark}'`);
    s = s.replace(CONNSTR_PASSWORD, (_m, kw: string) => `${kw}${mark}`);
  }
  if (s.includes('://')) s = s.replace(URL_PASSWORD, (_m, a: string, _p: string, at: string) => `${a}${mark}${at}`);
  return s;
}
