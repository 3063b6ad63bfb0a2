/**
 * A statement the server refuses is recorded all the same (pg.query, refused by policy as unparsable), and was recorded
 * with its password: a PASSWORD literal never closed, a word or quoted name typed for one (`PASSWORD hunterP2`), another
 * server's syntax (`IDENTIFIED BY 'x'`, `SET PASSWORD FOR u = 'x'`). And the policy's reason for it quoted the
 * parser's error, which quotes the token it stopped at: `syntax error at or near "'hunterP1'"`, sent to the client and
 * kept, while the record showed `'[redacted]'`. A review reproduced each through `pcigate exec … -- psql -c`. Each is
 * checked twice: by spelling (the parser not loaded; this file's first part runs before it is) and by the server's
 * scanner (the parser loaded, as wherever statements are recorded).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { redactSql } from '../../../src/broker/sql-record.js';
import { policySection } from '../../../src/config/sections/policy.js';
import { safeStatementText } from '../../../src/policy/approvals.js';
import { classify } from '../../../src/policy/classify.js';
import type { Classification } from '../../../src/policy/classify.js';
import { evaluate } from '../../../src/policy/evaluate.js';
import type { PolicyIdentity } from '../../../src/policy/evaluate.js';
import { loadParser, parserReady } from '../../../src/policy/pg-parser.js';
import { parseErrorRedacted, statementSecretSpans, redactStatementSecrets } from '../../../src/policy/redact-statement-secrets.js';

const policy = policySection.parse({
  roles: { dba: { groups: ['dba'] } },
  connections: { 'test-db': { roles: { dba: { classes: ['read', 'write', 'ddl', 'dcl', 'utility', 'transaction'] } } } },
});
const dba: PolicyIdentity = { sub: 'u-1', groups: ['dba'], via: 'oidc', mfa: true };
const session = { searchPath: ['public'], prepared: new Map() };
const reasonFor = (c: Classification): string => evaluate(policy, dba, { name: 'test-db' }, c, session).reason;

/** Every secret below spells one of these: none may be left in what is recorded, held or shown. */
const SECRET = /hunter|oldP/i;

/** A value the server refuses where it takes a password: replaced in either reading. */
const UNPARSABLE: ReadonlyArray<readonly [string, string]> = [
  ['ALTER ROLE app PASSWORD hunterP2', 'ALTER ROLE app PASSWORD [redacted]'],
  ['ALTER ROLE app PASSWORD "hunterP2"', 'ALTER ROLE app PASSWORD "[redacted]"'],
  ['ALTER ROLE app WITH LOGIN PASSWORD "hunter""P2" CREATEDB', 'ALTER ROLE app WITH LOGIN PASSWORD "[redacted]" CREATEDB'],
  // Never closed: the server reads it to the end (the record keeps it open).
  ["ALTER ROLE app PASSWORD 'hunter2", "ALTER ROLE app PASSWORD '[redacted]"],
  ["ALTER ROLE app PASSWORD 'hunter''2", "ALTER ROLE app PASSWORD '[redacted]"],
  ["ALTER ROLE app PASSWORD E'hunter\\'2", "ALTER ROLE app PASSWORD '[redacted]"],
  ['ALTER ROLE app PASSWORD $$hunter2', "ALTER ROLE app PASSWORD '[redacted]"],
  ['ALTER ROLE app PASSWORD $q$hunter2$Q', "ALTER ROLE app PASSWORD '[redacted]"],
  ['ALTER ROLE app PASSWORD "hunter2', 'ALTER ROLE app PASSWORD "[redacted]'],
  ["ALTER ROLE app PASSWORD /* why */ 'hunter2", "ALTER ROLE app PASSWORD /* why */ '[redacted]"],
  // A word with operators glued to it is one; a statement after it is kept.
  ['CREATE ROLE app LOGIN PASSWORD hunter-2! CREATEDB', 'CREATE ROLE app LOGIN PASSWORD [redacted] CREATEDB'],
  ['ALTER ROLE app PASSWORD hunterP2; SELECT 1', 'ALTER ROLE app PASSWORD [redacted]; SELECT 1'],
  ['SELECT 1; ALTER USER app ENCRYPTED PASSWORD hunterP2', 'SELECT 1; ALTER USER app ENCRYPTED PASSWORD [redacted]'],
];

/** Another server's syntax (MySQL, Oracle) typed through this one: replaced in either reading. */
const FOREIGN: ReadonlyArray<readonly [string, string]> = [
  ["ALTER USER app IDENTIFIED BY 'hunterP3'", "ALTER USER app IDENTIFIED BY '[redacted]'"],
  ['ALTER USER app IDENTIFIED BY hunterP3', 'ALTER USER app IDENTIFIED BY [redacted]'],
  ['ALTER USER app IDENTIFIED BY "hunterP3"', 'ALTER USER app IDENTIFIED BY "[redacted]"'],
  ["ALTER USER app IDENTIFIED WITH caching_sha2_password BY 'hunterP3'", "ALTER USER app IDENTIFIED WITH caching_sha2_password BY '[redacted]'"],
  ["ALTER USER app IDENTIFIED WITH mysql_native_password AS '*hunterP3'", "ALTER USER app IDENTIFIED WITH mysql_native_password AS '[redacted]'"],
  ["ALTER USER app IDENTIFIED BY 'hunterP3' REPLACE 'oldP4'", "ALTER USER app IDENTIFIED BY '[redacted]' REPLACE '[redacted]'"],
  ['ALTER USER app IDENTIFIED BY hunterP3 REPLACE oldP4', 'ALTER USER app IDENTIFIED BY [redacted] REPLACE [redacted]'],
  ['CREATE USER app IDENTIFIED BY hunterP3 DEFAULT TABLESPACE users', 'CREATE USER app IDENTIFIED BY [redacted] DEFAULT TABLESPACE users'],
  ["GRANT ALL ON db.* TO 'app'@'%' IDENTIFIED BY 'hunterP3'", "GRANT ALL ON db.* TO 'app'@'%' IDENTIFIED BY '[redacted]'"],
  ["ALTER USER app IDENTIFIED BY 'hunterP3", "ALTER USER app IDENTIFIED BY '[redacted]"],
  ["SET PASSWORD FOR app = 'hunterP5'", "SET PASSWORD FOR app = '[redacted]'"],
  ['SET PASSWORD FOR app = hunterP5', 'SET PASSWORD FOR app = [redacted]'],
  ["SET PASSWORD FOR CURRENT_USER() = 'hunterP5'; SELECT 1", "SET PASSWORD FOR CURRENT_USER() = '[redacted]'; SELECT 1"],
  ["ALTER USER app IDENTIFIED VIA ed25519 USING PASSWORD('hunterP3')", "ALTER USER app IDENTIFIED VIA ed25519 USING PASSWORD('[redacted]')"],
];
/** Written differently by spelling and by the parser's scanner (a literal or more), but never left in clear. */
const FOREIGN_HIDDEN: readonly string[] = [
  "SET PASSWORD = 'hunterP5'", "SET PASSWORD = PASSWORD('hunterP5')", "CREATE USER app IDENTIFIED BY PASSWORD '*hunterP3'",
];

/** Statements with no secret: unchanged in either reading (the word password alone is none). */
const KEPT = [
  'select password_reset_at from users',
  'ALTER ROLE app PASSWORD NULL',
  'ALTER ROLE app WITH LOGIN',
  'ALTER ROLE password WITH LOGIN',
  'ALTER ROLE app RENAME TO password',
  'CREATE ROLE app IN ROLE admins, password LOGIN',
  'SELECT password FROM users WHERE id IS NULL',
  'SELECT password AS pw, email FROM users',
  'CREATE TABLE users (id int, password text NOT NULL)',
  'SELECT identified FROM cases ORDER BY identified',
  'SET PASSWORD_ENCRYPTION TO md5',
];

function redactsEverywhere(cases: ReadonlyArray<readonly [string, string]>): void {
  for (const [sql, want] of cases) {
    expect(redactStatementSecrets(sql), sql).toBe(want);
    expect(redactSql(sql), sql).not.toMatch(SECRET);
    expect(safeStatementText(sql), sql).not.toMatch(SECRET);
  }
}

/** statementSecretSpans gives the places of what it replaced (run by spelling and with the parser). */
function spansFound(): void {
  const sql = "ALTER USER app SET PASSWORD 'hunterP1'";
  expect(statementSecretSpans(sql).map(([a, b]) => sql.slice(a, b))).toEqual(["'hunterP1'"]);
  const more = "SELECT 'postgres://u:hunterU@h'; ALTER ROLE a PASSWORD hunterP2; ALTER USER b IDENTIFIED BY 'hunterP3'";
  expect(statementSecretSpans(more).map(([a, b]) => more.slice(a, b))).toEqual(['hunterU', 'hunterP2', "'hunterP3'"]);
  for (const sql of KEPT) expect(statementSecretSpans(sql), sql).toEqual([]);
}

describe('by spelling (the parser not loaded)', () => {
  it('is read before the parser is loaded', () => {
    expect(parserReady()).toBe(false);
  });

  it('redacts a password the server refuses: a word, a quoted name, a literal never closed', () => {
    redactsEverywhere(UNPARSABLE);
  });

  it("redacts another server's password syntax: IDENTIFIED BY, REPLACE, SET PASSWORD FOR", () => {
    redactsEverywhere(FOREIGN);
    for (const sql of FOREIGN_HIDDEN) expect(redactStatementSecrets(sql), sql).not.toMatch(SECRET);
  });

  it('leaves statements without a secret as they are', () => {
    for (const sql of KEPT) expect(redactStatementSecrets(sql), sql).toBe(sql);
  });

  it('tells where what it replaced was (statementSecretSpans)', spansFound);

  it("takes from the policy's reason what the statement's redaction hides (a classification made elsewhere)", () => {
    // As classify gives them where the parser is loaded: the message and where it stopped (in characters).
    const refused: Array<[string, string, number]> = [
      ["ALTER USER app SET PASSWORD 'hunterP1'", `syntax error at or near "'hunterP1'"`, 28],
      ['ALTER ROLE app PASSWORD hunterP2', 'syntax error at or near "hunterP2"', 24],
      ["ALTER ROLE app PASSWORD 'hunter2", `unterminated quoted string at or near "'hunter2"`, 24],
      ['ALTER ROLE app PASSWORD "hunterP2"', 'syntax error at or near ""hunterP2""', 24],
    ];
    for (const [sql, message, cursor] of refused) {
      const reason = reasonFor({ sql, statements: [], error: { message, cursor } });
      expect(reason, sql).not.toMatch(SECRET);
      expect(reason, sql).toContain(`at or near "[redacted]" at position ${cursor}`);
      // Where the parser gives no position, a quoted text holding a hidden one goes all the same.
      expect(parseErrorRedacted(sql, message, -1), sql).not.toMatch(SECRET);
    }
    // A token that is no secret is kept, in a statement with one too.
    const sql = "ALTER ROLE app PASSWORD 'hunterP1' NOLOGIN x";
    expect(reasonFor({ sql, statements: [], error: { message: 'syntax error at or near "x"', cursor: 43 } })).toContain('at or near "x"');
  });
});

describe('read by the server\'s scanner (the parser loaded)', () => {
  beforeAll(async () => { await loadParser(); });

  it('redacts a password the server refuses: a word, a quoted name, a literal never closed', () => {
    redactsEverywhere(UNPARSABLE);
    redactsEverywhere([
      // Where the parser stops at it (an option list, a role's statement past a typo); in dynamic SQL too.
      ["CREATE USER MAPPING FOR app SERVER s OPTIONS (user 'app', password hunterP2)", "CREATE USER MAPPING FOR app SERVER s OPTIONS (user '[redacted]', password [redacted])"],
      ['ALTER ROLE app WTH PASSWORD hunterP2', 'ALTER ROLE app WTH PASSWORD [redacted]'],
      ["DO $$ BEGIN EXECUTE 'ALTER ROLE x PASSWORD hunterP2'; END $$", "DO $$ BEGIN EXECUTE 'ALTER ROLE x PASSWORD [redacted]'; END $$"],
      ["select '😀'; ALTER ROLE app PASSWORD \"p😀hunter\"", "select '😀'; ALTER ROLE app PASSWORD \"[redacted]\""],
    ]);
  });

  it("redacts another server's password syntax: IDENTIFIED BY, REPLACE, SET PASSWORD FOR", () => {
    redactsEverywhere(FOREIGN);
    for (const sql of FOREIGN_HIDDEN) expect(redactStatementSecrets(sql), sql).not.toMatch(SECRET);
    redactsEverywhere([["SET PASSWORD FOR app = PASSWORD('hunterP5')", 'SET PASSWORD FOR app = [redacted]']]);
  });

  it('leaves statements without a secret as they are, and what the server reads past a word in a refused one', () => {
    for (const sql of KEPT) expect(redactStatementSecrets(sql), sql).toBe(sql);
    for (const sql of [
      // The parser stops elsewhere: these words are no password's.
      'SELEC password pw FROM users',
      'SELECT password pw FROM users WHER id IS NULL',
      'CREATE TABLE users (id int password text)',
      "SELECT format('ALTER ROLE %I PASSWORD %L', r, p) FROM t",
    ]) expect(redactStatementSecrets(sql), sql).toBe(sql);
  });

  it('tells where what it replaced was (statementSecretSpans)', spansFound);

  it("takes from the policy's reason what the statement's redaction hides, the server's own message", () => {
    for (const [sql, near] of [
      ["ALTER USER app SET PASSWORD 'hunterP1'", "'hunterP1'"],
      ['ALTER ROLE app PASSWORD hunterP2', 'hunterP2'],
      ['ALTER ROLE app PASSWORD "hunterP2"', '"hunterP2"'],
      ["ALTER ROLE app PASSWORD 'hunter2", "'hunter2"],
      ["select 'é😀'; ALTER ROLE app PASSWORD $q$hunter2", '$q$hunter2'],
      ['ALTER USER app WITH PASSWORD hunterP2 VALID UNTIL now', 'hunterP2'],
    ] as const) {
      const c = classify(sql);
      // What the parser said, before: the password near where it stopped.
      expect(c.error?.message, sql).toContain(`at or near "${near}"`);
      const reason = reasonFor(c);
      expect(reason, sql).toMatch(/^SQL does not parse \(.* at or near "\[redacted\]" at position \d+\); unparsable statements are denied$/);
      expect(reason, sql).not.toMatch(SECRET);
    }
    // What the statement's record shows is kept: no secret, or one elsewhere than the token.
    expect(reasonFor(classify('SELEC 1'))).toContain('syntax error at or near "SELEC"');
    expect(reasonFor(classify("ALTER USER app IDENTIFIED BY 'hunterP3'"))).toContain('unrecognized role option "identified"');
    expect(reasonFor(classify("ALTER ROLE app PASSWORD 'hunterP1' hunting"))).toContain('unrecognized role option "hunting"');
  });

  it('reads hostile text once: values never closed, places inside a value, no `=` after SET PASSWORD FOR', () => {
    const n = 20_000;
    const identified = 'identified by '.repeat(n);
    // Each IDENTIFIED BY takes the next word (the next IDENTIFIED), whose BY takes the one after.
    expect(redactStatementSecrets(identified)).toBe(`identified by ${'[redacted] by '.repeat(n - 1)}`);
    const opened = `ALTER ROLE a PASSWORD "${'PASSWORD x '.repeat(n)}`;
    expect(redactStatementSecrets(opened)).toBe('ALTER ROLE a PASSWORD "[redacted]');
    const noEquals = `${'SET PASSWORD FOR u '.repeat(n)}'x`;
    expect(redactStatementSecrets(noEquals)).toBe(noEquals);
    const roles = `ALTER ROLE a ${'PASSWORD x '.repeat(n)}'`;
    expect(redactStatementSecrets(roles)).toBe(`ALTER ROLE a ${'PASSWORD [redacted] '.repeat(n)}'`);
  });
});
