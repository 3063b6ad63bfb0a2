/**
 * Policy decisions on bypass attempts (pure logic: classify + evaluate through PolicyEngine/PolicySession).
 * The same attempts run against a real server through the proxy in test/integration/policy-bypass.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { policySection } from '../../../src/config/sections/policy.js';
import type { PolicyIdentity } from '../../../src/policy/evaluate.js';
import { loadParser } from '../../../src/policy/pg-parser.js';
import { PolicyEngine } from '../../../src/policy/policy-engine.js';
import { searchPathSchemas } from '../../../src/policy/name-match.js';

beforeAll(async () => { await loadParser(); });

const policy = policySection.parse({
  roles: { eng: { subjects: ['eng'] }, dba: { subjects: ['dba'] } },
  connections: {
    db: {
      roles: {
        eng: {
          classes: ['read', 'write', 'transaction', 'utility'],
          tables: { allow: ['public.*'], deny: ['secrets'] },
          columns: { deny: ['cards.pan'] },
        },
        dba: { classes: ['read', 'write', 'ddl', 'dcl', 'transaction', 'utility'] },
      },
    },
  },
});
const eng: PolicyIdentity = { sub: 'eng', via: 'local' };
const dba: PolicyIdentity = { sub: 'dba', via: 'local' };
const engine = new PolicyEngine(policy, {});
const decide = (sql: string, who = eng) => engine.decide(who, 'db', sql);

describe('settings that change how the server reads SQL text', () => {
  it('standard_conforming_strings off and non-UTF8 client encodings are refused for every role', () => {
    for (const sql of ['SET standard_conforming_strings = off', 'SET standard_conforming_strings = false', "SET standard_conforming_strings TO 'n'",
      'SET SESSION standard_conforming_strings = 0', 'SET LOCAL standard_conforming_strings = off', "SET client_encoding = 'SJIS'",
      "SET NAMES 'GBK'", "SET client_encoding TO 'Shift_JIS'", "SET client_encoding = 'WIN950'", "SET NAMES 'big-5'", "SET client_encoding = 'uhc'",
      "SET client_encoding = 'JOHAB'", "SET client_encoding = 'GB18030'", "SET client_encoding = 'shift_jis_2004'", 'SELECT 1; SET standard_conforming_strings = off']) {
      for (const who of [eng, dba]) expect(decide(sql, who), sql).toMatchObject({ action: 'deny', rule: 'sql_text' });
    }
  });

  it('UTF8 by any of its names, encodings that keep ASCII bytes ASCII, on, DEFAULT and RESET pass', () => {
    for (const sql of ["SET client_encoding = 'UTF8'", "SET client_encoding = 'utf-8'", "SET NAMES 'Unicode'", 'SET client_encoding TO DEFAULT',
      "SET client_encoding = 'LATIN1'", "SET client_encoding = 'SQL_ASCII'", "SET client_encoding = 'EUC_JP'", "SET client_encoding = 'WIN1252'",
      'RESET client_encoding', 'SET standard_conforming_strings = on', 'SET standard_conforming_strings = true', "SET standard_conforming_strings = 'yes'",
      'SET standard_conforming_strings = 1', 'RESET standard_conforming_strings', 'RESET ALL', "SET application_name = 'x'", 'SET statement_timeout = 5000']) {
      expect(decide(sql), sql).toMatchObject({ action: 'allow' });
    }
  });
});

describe('cursors', () => {
  const session = () => engine.openSession(eng, 'db', 0);
  const run = (ps: ReturnType<typeof session>, sql: string, tx?: 'I' | 'T' | 'E') => ps.decide(sql, 0, tx).action;

  it('FETCH or MOVE of a cursor policy did not see declared is refused as unclassifiable', () => {
    const ps = session();
    for (const sql of ['FETCH ALL FROM p1', 'MOVE 1 IN p1', 'FETCH p1', 'SELECT 1; FETCH p1']) expect(ps.decide(sql, 0), sql).toMatchObject({ action: 'deny', reason: expect.stringContaining('did not see declared') });
  });

  it('FETCH is decided as the declared query, in the same string or later in the block', () => {
    const ps = session();
    expect(run(ps, 'BEGIN; DECLARE c CURSOR FOR SELECT id FROM items; FETCH 2 FROM c')).toBe('allow');
    expect(run(ps, 'FETCH c')).toBe('allow');
    expect(run(ps, 'DECLARE s CURSOR FOR SELECT * FROM secrets')).toBe('deny');
    expect(run(ps, 'FETCH s')).toBe('deny');
    expect(run(ps, 'CLOSE c')).toBe('allow');
    expect(run(ps, 'FETCH c')).toBe('deny');
  });

  it('a named portal the proxy reports (protocol Bind, Close P) is a cursor: FETCH is decided as what was bound into it', () => {
    const ps = session();
    run(ps, 'BEGIN; DECLARE c CURSOR FOR SELECT id FROM items');
    ps.portal('c', null);
    expect(run(ps, 'FETCH c')).toBe('deny');
    ps.portal('c', 'SELECT * FROM secrets WHERE id = $1');
    expect(ps.decide('FETCH ALL FROM c', 0)).toMatchObject({ action: 'deny', rule: 'policy.connections.db.roles.eng.tables.deny' });
    ps.portal('p', 'SELECT name FROM items WHERE id = $1');
    expect(run(ps, 'FETCH ALL FROM p')).toBe('allow');
    ps.portal('p', 'not sql');
    expect(run(ps, 'FETCH ALL FROM p')).toBe('deny');
    ps.portal('q', 'SELECT 1');
    run(ps, 'COMMIT');
    expect(run(ps, 'FETCH q')).toBe('deny');
  });

  it('a transaction end forgets its cursors (a rollback also WITH HOLD ones), and so does the end of a string outside a block', () => {
    const ps = session();
    run(ps, 'BEGIN');
    run(ps, 'DECLARE c CURSOR FOR SELECT 1');
    run(ps, 'DECLARE h CURSOR WITH HOLD FOR SELECT 1');
    run(ps, 'COMMIT');
    expect(run(ps, 'FETCH c')).toBe('deny');
    expect(run(ps, 'FETCH h')).toBe('allow');
    run(ps, 'BEGIN; DECLARE c CURSOR FOR SELECT 1');
    run(ps, 'SAVEPOINT a');
    run(ps, 'ROLLBACK TO SAVEPOINT a');
    expect(run(ps, 'FETCH c')).toBe('deny');
    expect(run(ps, 'FETCH h')).toBe('deny');
    run(ps, 'ROLLBACK');
    run(ps, 'DECLARE c CURSOR FOR SELECT 1; SELECT 2');
    expect(run(ps, 'FETCH c')).toBe('deny');
    // The proxy's word that the session is idle ends any block policy thought open.
    run(ps, 'BEGIN; DECLARE c CURSOR FOR SELECT 1');
    expect(run(ps, 'FETCH c', 'T')).toBe('allow');
    expect(run(ps, 'FETCH c', 'I')).toBe('deny');
  });
});

describe('denied columns under other names', () => {
  it('a column alias list on a denied column\'s table or on a join, USING (col) and NATURAL count', () => {
    for (const sql of ['SELECT b FROM cards AS t(a, b)', 'SELECT t.b FROM public.cards t(a, b)', 'SELECT x FROM (cards JOIN items USING (id)) AS j(x, y, z)',
      "SELECT c.id FROM cards c JOIN (SELECT '1' AS pan) p USING (pan)", "SELECT c.id FROM cards c NATURAL JOIN (SELECT '1' AS pan) p",
      'SELECT 1 FROM items i JOIN cards c USING (pan)']) {
      expect(decide(sql), sql).toMatchObject({ action: 'deny', rule: 'policy.connections.db.roles.eng.columns.deny' });
    }
  });

  it('aliases and joins on tables without a denied column pass', () => {
    for (const sql of ['SELECT a, b FROM items AS t(a, b)', 'SELECT id FROM cards JOIN items USING (id)', 'SELECT * FROM items NATURAL JOIN orders',
      'SELECT * FROM (VALUES (1, 2)) AS v(a, b)', 'SELECT a FROM generate_series(1, 3) AS g(a)']) {
      expect(decide(sql), sql).toMatchObject({ action: 'allow' });
    }
  });
});

describe('allow lists and pg_catalog', () => {
  it('an unqualified pg_… name must be allowed in pg_catalog as well as in the search_path', () => {
    const allowAll = new PolicyEngine(policySection.parse({ roles: { eng: { subjects: ['eng'] } }, connections: { db: { roles: { eng: {} } } } }), {});
    for (const sql of ['SELECT * FROM pg_authid', 'SELECT * FROM pg_user_mapping', 'SELECT * FROM pg_stat_user_tables']) {
      expect(decide(sql), sql).toMatchObject({ action: 'deny', rule: 'policy.connections.db.roles.eng.tables.allow' });
      // pg_authid and pg_user_mapping hold server secrets, which no wildcard grants (server-secrets.test.ts).
      expect(allowAll.decide(eng, 'db', sql).action, sql).toBe(sql.includes('pg_stat_user_tables') ? 'allow' : 'deny');
    }
    expect(decide('SELECT * FROM items').action).toBe('allow');
    expect(decide('SELECT * FROM public.pg_like_name').action).toBe('allow');
  });
});

describe('planner statistics', () => {
  it('pg_stats, pg_statistic and the extended ones are refused to a role with a table or column deny, held for approval tables', () => {
    const p = policySection.parse({
      roles: { a: { subjects: ['a'] }, b: { subjects: ['b'] }, c: { subjects: ['c'] }, d: { subjects: ['d'] } },
      connections: { db: { roles: { a: { tables: { deny: ['secrets'] } }, b: { columns: { deny: ['cvv'] } }, c: { approval_tables: ['cards'] }, d: {} } } },
    });
    const e = new PolicyEngine(p, {});
    const who = (sub: string): PolicyIdentity => ({ sub, via: 'local' });
    for (const sql of ['SELECT * FROM pg_stats', "SELECT most_common_vals FROM pg_catalog.pg_stats WHERE tablename = 'items'", 'SELECT * FROM pg_statistic',
      'SELECT * FROM pg_stats_ext', 'SELECT * FROM pg_stats_ext_exprs', 'SELECT * FROM pg_statistic_ext_data']) {
      expect(e.decide(who('a'), 'db', sql), sql).toMatchObject({ action: 'deny', rule: 'policy.connections.db.roles.a.tables.deny' });
      expect(e.decide(who('b'), 'db', sql), sql).toMatchObject({ action: 'deny', rule: 'policy.connections.db.roles.b.columns.deny' });
      expect(e.decide(who('c'), 'db', sql), sql).toMatchObject({ action: 'hold', rule: 'policy.connections.db.roles.c.approval_tables' });
      expect(e.decide(who('d'), 'db', sql).action, sql).toBe('allow');
    }
    expect(decide('SELECT * FROM pg_stats')).toMatchObject({ action: 'deny' });
    expect(e.decide(who('a'), 'db', 'SELECT relname, reltuples FROM pg_class').action).toBe('allow');
    expect(e.decide(who('a'), 'db', 'SELECT * FROM public.pg_stats').action).toBe('allow');
  });
});

describe('search_path', () => {
  const vaultOnly = new PolicyEngine(policySection.parse({
    roles: { eng: { subjects: ['eng'] } },
    connections: { db: { roles: { eng: { tables: { allow: ['vault.*'] } } } } },
  }), {});

  it('a SET search_path earlier in the string counts for the statements after it', () => {
    for (const sql of ['SET search_path = vault; SELECT * FROM items', 'SET LOCAL search_path TO vault, public; SELECT * FROM items', 'RESET ALL; SET search_path = vault; TABLE items']) {
      expect(decide(sql), sql).toMatchObject({ action: 'deny', rule: 'policy.connections.db.roles.eng.tables.allow' });
    }
    expect(decide('SET search_path = public; SELECT * FROM items').action).toBe('allow');
  });

  it('every path the session set stays possible: a SET the server undid cannot narrow what policy checks', () => {
    const ps = engine.openSession(eng, 'db', 0);
    expect(ps.decide('SET search_path = vault', 0).action).toBe('allow');
    expect(ps.decide('SET LOCAL search_path = public', 0).action).toBe('allow');
    expect(ps.decide('SELECT * FROM items', 0)).toMatchObject({ action: 'deny', reason: expect.stringContaining('every search_path the session set public, vault') });
    expect(ps.decide('SELECT * FROM public.items', 0).action).toBe('allow');
    // A role allowed only vault.* cannot read the default path's public.items by setting vault and undoing it.
    const vs = vaultOnly.openSession(eng, 'db', 0);
    expect(vs.decide('SET search_path = vault', 0).action).toBe('allow');
    expect(vs.decide('SELECT * FROM vault.items', 0).action).toBe('allow');
    expect(vs.decide('SELECT * FROM items', 0).action).toBe('deny');
    expect(vs.searchPath).toEqual(['vault']);
  });

  it('a schema whose name holds a comma is one schema, as the server reads the path', () => {
    // `"a,b"` was read as the two schemas a and b, both allowed: the server looked in the one schema "a,b".
    const ab = new PolicyEngine(policySection.parse({
      roles: { eng: { subjects: ['eng'] } },
      connections: { db: { roles: { eng: { tables: { allow: ['public.*', 'a.*', 'b.*'] } } } } },
    }), {});
    for (const set of ['SET search_path = "a,b"', "SET search_path = 'a,b'", 'SET search_path = "a,b", public']) {
      const ps = ab.openSession(eng, 'db', 0);
      expect(ps.decide(set, 0).action, set).toBe('allow');
      expect(ps.decide('SELECT * FROM t', 0).action, set).toBe('deny');
      expect(ps.resolveIn, set).toContain('a,b');
    }
    const ps = ab.openSession(eng, 'db', 0);
    expect(ps.decide('SET search_path = a, b', 0).action).toBe('allow');
    expect(ps.decide('SELECT * FROM t', 0).action).toBe('allow');
    expect(searchPathSchemas('"a,b",  Vault ,"Q""x",x1', 'me')).toEqual(['a,b', 'vault', 'Q"x', 'x1']);
    expect(searchPathSchemas('"$user", public', 'me')).toEqual(['me', 'public']);
    expect(searchPathSchemas(`"${'é'.repeat(40)}"`)).toEqual(['é'.repeat(31)]); // 63 bytes at most, whole characters
    // A value the server rejects (it keeps its path) is read by commas as before.
    expect(searchPathSchemas('"open, public')).toEqual(['"open', 'public']);
  });

  it('a session whose path changed between two statements is judged in the path it has now, arrays changed in place too', () => {
    // The engine keeps each session's cache context (policy-engine.ts contextKey): it must see every change.
    const view: { searchPath: string[]; resolveIn?: string[]; prepared: Map<string, never> } = { searchPath: ['vault'], prepared: new Map<string, never>() };
    const decideItems = () => vaultOnly.decide(eng, 'db', 'SELECT * FROM items', view).action;
    expect(decideItems()).toBe('allow');
    view.searchPath[0] = 'public';
    expect(decideItems()).toBe('deny');
    view.searchPath = ['vault'];
    expect(decideItems()).toBe('allow');
    view.resolveIn = ['vault'];
    expect(decideItems()).toBe('allow');
    view.resolveIn.push('public');
    expect(decideItems()).toBe('deny');
    view.resolveIn[1] = 'vault';
    expect(decideItems()).toBe('allow');
  });
});

describe("settings that switch off the server's own controls", () => {
  it('setting one is dcl; RESET, DEFAULT and ordinary settings are utility', () => {
    for (const sql of ['SET session_replication_role = replica', "SET log_statement = 'none'", 'SET LOCAL log_min_duration_statement = -1', "SET pgaudit.log = 'none'",
      'SET track_activities = off', 'SET zero_damaged_pages = on', "SET session_preload_libraries = 'x'", 'SET lo_compat_privileges = on']) {
      expect(decide(sql), sql).toMatchObject({ action: 'deny', reason: 'role may not run dcl statements' });
      expect(decide(sql, dba).action, sql).toBe('allow');
    }
    for (const sql of ['RESET session_replication_role', 'SET log_statement TO DEFAULT', "SET work_mem = '64MB'", 'SET client_min_messages = warning', "SET TIME ZONE 'UTC'"]) {
      expect(decide(sql).action, sql).toBe('allow');
    }
  });
});

describe('code the server runs later', () => {
  const builders = new PolicyEngine(policySection.parse({
    roles: { b: { subjects: ['b'] }, free: { subjects: ['free'] } },
    connections: { db: { roles: {
      b: { classes: ['read', 'write', 'ddl', 'function', 'transaction', 'utility'], tables: { deny: ['secrets'] } },
      free: { classes: ['read', 'write', 'ddl', 'function', 'transaction', 'utility'] },
    } } },
  }), {});
  const as = (sub: string, sql: string) => builders.decide({ sub, via: 'local' }, 'db', sql);

  it('a plpgsql (or plperl, pltcl …) body or a DO block may reach any table: refused to a role with denies, allowed without', () => {
    for (const sql of ['CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$', 'DO $$ BEGIN NULL; END $$',
      "CREATE PROCEDURE p() LANGUAGE plperl AS 'return'", "CREATE FUNCTION e() RETURNS int LANGUAGE sql AS 'EXECUTE q'"]) {
      expect(as('b', sql), sql).toMatchObject({ action: 'deny', rule: 'policy.connections.db.roles.b.tables.deny', reason: expect.stringContaining('code policy does not read') });
      expect(as('free', sql).action, sql).toBe('allow');
    }
  });

  it('code in C or an untrusted language, and ALTER SYSTEM, run as the server\'s OS user: dcl, refused to roles with ddl and function', () => {
    for (const sql of ["CREATE PROCEDURE p() LANGUAGE plpython3u AS 'pass'", "CREATE FUNCTION c() RETURNS int LANGUAGE c AS 'lib', 'sym'",
      "CREATE FUNCTION s(cstring) RETURNS int LANGUAGE C STRICT AS '/lib/x86_64-linux-gnu/libc.so.6', 'system'",
      "CREATE OR REPLACE FUNCTION i() RETURNS int LANGUAGE internal AS 'int4in'", "CREATE FUNCTION sh() RETURNS text LANGUAGE plsh AS '#!/bin/sh'",
      "DO LANGUAGE plperlu $$ system('id') $$", "DO LANGUAGE 'plpython3u' $$ import os $$",
      "ALTER SYSTEM SET archive_command = 'sh -c id'", 'ALTER SYSTEM RESET work_mem', "ALTER SYSTEM SET shared_preload_libraries = 'x'"]) {
      for (const who of ['b', 'free']) expect(as(who, sql), sql).toMatchObject({ action: 'deny', rule: `policy.connections.db.roles.${who}.classes`, reason: expect.stringContaining('dcl') });
    }
    // What decides which LANGUAGE names run as the OS user, and database-wide defaults of the server's own controls.
    for (const sql of ['CREATE LANGUAGE plv8 HANDLER plperlu_call_handler', 'ALTER LANGUAGE plperlu RENAME TO pltcl', 'CREATE EXTENSION plperlu',
      'CREATE EXTENSION IF NOT EXISTS plpython3u CASCADE', "CREATE FUNCTION q() RETURNS int LANGUAGE \"SQL\" AS 'select 1'",
      "ALTER DATABASE d SET log_statement = 'none'", 'ALTER DATABASE d SET session_replication_role = replica']) {
      for (const who of ['b', 'free']) expect(as(who, sql), sql).toMatchObject({ action: 'deny', rule: `policy.connections.db.roles.${who}.classes`, reason: expect.stringContaining('dcl') });
    }
    for (const sql of ['CREATE EXTENSION pgcrypto', "CREATE FUNCTION q() RETURNS int LANGUAGE SQL AS 'select 1'", 'ALTER TABLE t RENAME TO u']) expect(as('free', sql).action, sql).toBe('allow');
    // A DO block in a trusted language differing only in its LANGUAGE constant does not share the untrusted one's decision.
    expect(as('free', "DO LANGUAGE 'plpgsql' $$ BEGIN NULL; END $$").action).toBe('allow');
    expect(as('free', "DO LANGUAGE 'plpython3u' $$ BEGIN NULL; END $$").action).toBe('deny');
  });

  it('a LANGUAGE sql body is read as the statements it holds', () => {
    expect(as('b', "CREATE FUNCTION s() RETURNS SETOF secrets LANGUAGE sql AS 'SELECT * FROM secrets'")).toMatchObject({ action: 'deny', rule: 'policy.connections.db.roles.b.tables.deny' });
    expect(as('b', "CREATE OR REPLACE FUNCTION s() RETURNS int LANGUAGE sql AS $$ DELETE FROM secrets; SELECT 1 $$")).toMatchObject({ action: 'deny' });
    expect(decide("CREATE FUNCTION s() RETURNS int LANGUAGE sql AS 'SELECT count(*) FROM items'", dba).action).toBe('allow');
    expect(as('b', "CREATE FUNCTION s(i int) RETURNS text LANGUAGE sql AS 'SELECT name FROM items WHERE id = i'").action).toBe('allow');
    expect(as('b', 'CREATE FUNCTION s() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT count(*) FROM secrets; END')).toMatchObject({ action: 'deny' });
  });
});

describe('statements that touch denied names without naming them', () => {
  const ddl = new PolicyEngine(policySection.parse({
    roles: { m: { subjects: ['m'] } },
    connections: { db: { roles: { m: { classes: ['read', 'write', 'ddl', 'transaction', 'utility'], tables: { deny: ['public.secrets'] }, columns: { deny: ['cards.pan'] } } } } },
  }), {});
  const as = (sql: string) => ddl.decide({ sub: 'm', via: 'local' }, 'db', sql);

  it('renaming or altering a denied column touches it', () => {
    for (const sql of ['ALTER TABLE cards RENAME COLUMN pan TO x', 'ALTER TABLE cards RENAME pan TO x', 'ALTER TABLE cards ALTER COLUMN pan TYPE text', 'ALTER TABLE cards DROP COLUMN pan']) {
      expect(as(sql), sql).toMatchObject({ action: 'deny', rule: 'policy.connections.db.roles.m.columns.deny' });
    }
    expect(as('ALTER TABLE cards RENAME COLUMN last4 TO tail').action).toBe('allow');
    expect(as('ALTER TABLE items ADD CONSTRAINT pan CHECK (id > 0)').action).toBe('allow');
  });

  it('renaming or dropping a schema touches every table in it: public.secrets would become p2.secrets', () => {
    for (const sql of ['ALTER SCHEMA public RENAME TO p2', 'DROP SCHEMA public CASCADE']) {
      expect(as(sql), sql).toMatchObject({ action: 'deny', rule: 'policy.connections.db.roles.m.tables.deny' });
    }
    expect(as('ALTER SCHEMA reporting RENAME TO reports').action).toBe('allow');
    expect(as('DROP SCHEMA scratch').action).toBe('allow');
  });
});

describe('CREATE TABLE … AS EXECUTE', () => {
  it('is decided as the CREATE and the statement it executes; one policy never saw prepared is unclassifiable', () => {
    const ps = engine.openSession(dba, 'db', 0);
    expect(ps.decide('CREATE TABLE loot AS EXECUTE p', 0)).toMatchObject({ action: 'deny', reason: expect.stringContaining('unclassifiable') });
    expect(ps.decide('EXPLAIN ANALYZE CREATE TABLE loot AS EXECUTE p', 0)).toMatchObject({ action: 'deny', reason: expect.stringContaining('unclassifiable') });
    expect(ps.decide('PREPARE p AS SELECT id FROM items', 0).action).toBe('allow');
    expect(ps.decide('CREATE TABLE mine AS EXECUTE p', 0).action).toBe('allow');
    const e = engine.openSession(eng, 'db', 0);
    expect(e.decide('PREPARE p AS SELECT id FROM items', 0).action).toBe('allow');
    expect(e.decide('CREATE TABLE mine AS EXECUTE p', 0)).toMatchObject({ action: 'deny', reason: 'role may not run ddl statements' });
  });
});

describe('decisions shared between texts that differ in constants', () => {
  it("EXPLAIN (ANALYZE 'on') and a function's quoted body are decided by their own text, not a cached twin's", () => {
    const readers = new PolicyEngine(policySection.parse({
      roles: { r: { subjects: ['r'] }, b: { subjects: ['b'] } },
      connections: { db: { roles: { r: { classes: ['read', 'transaction', 'utility'] }, b: { classes: ['read', 'ddl', 'transaction', 'utility'], tables: { deny: ['secrets'] } } } } },
    }), {});
    const r: PolicyIdentity = { sub: 'r', via: 'local' };
    const b: PolicyIdentity = { sub: 'b', via: 'local' };
    expect(readers.decide(r, 'db', "EXPLAIN (ANALYZE 'off') DELETE FROM items WHERE id = 1").action).toBe('allow');
    expect(readers.decide(r, 'db', "EXPLAIN (ANALYZE 'on') DELETE FROM items WHERE id = 1").action).toBe('deny');
    expect(readers.decide(r, 'db', "EXPLAIN (ANALYZE 'off') DELETE FROM items WHERE id = 2").action).toBe('allow');
    expect(readers.decide(b, 'db', "CREATE OR REPLACE FUNCTION f() RETURNS SETOF text LANGUAGE sql AS 'SELECT name FROM items'").action).toBe('allow');
    expect(readers.decide(b, 'db', "CREATE OR REPLACE FUNCTION f() RETURNS SETOF text LANGUAGE sql AS 'SELECT s FROM secrets'").action).toBe('deny');
    expect(readers.decide(b, 'db', "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE 'sql' AS 'SELECT 1'").action).toBe('allow');
    expect(readers.decide(b, 'db', "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE 'plpgsql' AS 'SELECT 1'").action).toBe('deny');
  });
});

describe('set_config from inside a query', () => {
  const fnRole = new PolicyEngine(policySection.parse({
    roles: { f: { subjects: ['f'] } },
    connections: { db: { roles: { f: { classes: ['read', 'function', 'transaction', 'utility'], tables: { allow: ['public.*'] } } } } },
  }), {});
  const as = (sql: string) => fnRole.decide({ sub: 'f', via: 'local' }, 'db', sql);

  it('is judged as the SET it is', () => {
    expect(as("SELECT set_config('standard_conforming_strings', 'off', false)")).toMatchObject({ action: 'deny', rule: 'sql_text' });
    expect(as("SELECT pg_catalog.set_config('client_encoding', 'SJIS', false)")).toMatchObject({ action: 'deny', rule: 'sql_text' });
    expect(as("SELECT set_config('session_replication_role', 'replica', false)")).toMatchObject({ action: 'deny', reason: 'role may not run dcl statements' });
    expect(as("SELECT set_config('role', 'postgres', false)")).toMatchObject({ action: 'deny', reason: 'role may not run dcl statements' });
    expect(as("SELECT set_config('search_path', 'vault', false); SELECT * FROM items")).toMatchObject({ action: 'deny', rule: 'policy.connections.db.roles.f.tables.allow' });
    expect(as("SELECT set_config(name, 'x', false) FROM settings_to_apply")).toMatchObject({ action: 'deny', reason: expect.stringContaining('unclassifiable') });
    expect(as("SELECT set_config('search_path', current_user, false)")).toMatchObject({ action: 'deny', reason: expect.stringContaining('unclassifiable') });
    expect(as("SELECT set_config('application_name', 'report', false)").action).toBe('allow');
    // A cast other than to text may change the text (char(n) trims, varchar(n) cuts): the server would set
    // session_replication_role, search_path, client_encoding SJIS where policy read other text.
    for (const sql of ["SELECT set_config('session_replication_role   '::char(30), 'replica', false)", "SELECT set_config('search_pathxy'::varchar(11), 'vault', false)",
      "SELECT set_config('client_encoding', 'SJISX'::varchar(4), false)"]) {
      expect(as(sql), sql).toMatchObject({ action: 'deny', reason: expect.stringContaining('unclassifiable') });
    }
    expect(as("SELECT set_config('application_name', 'report'::text, false::bool)").action).toBe('allow');
    // pg_dump's form: the WHERE fixes the name of every row it sets (judged as SET restrict_nonsystem_relation_kind).
    const dumper = new PolicyEngine(policySection.parse({
      roles: { f: { subjects: ['f'] } }, connections: { db: { roles: { f: { classes: ['read', 'function', 'copy_out', 'transaction', 'utility'] } } } },
    }), {});
    expect(dumper.decide({ sub: 'f', via: 'local' }, 'db', "SELECT set_config(name, 'view, foreign-table', false) FROM pg_settings WHERE name = 'restrict_nonsystem_relation_kind'").action).toBe('allow');
    expect(as("SELECT set_config(name, 'vault', false) FROM pg_settings WHERE name = 'search_path'; SELECT * FROM items")).toMatchObject({ action: 'deny', rule: 'policy.connections.db.roles.f.tables.allow' });
    expect(as("SELECT set_config(name, 'off', false) FROM pg_settings WHERE name = 'standard_conforming_strings'")).toMatchObject({ action: 'deny', rule: 'sql_text' });
    for (const sql of ["SELECT set_config(name, 'x', false) FROM pg_settings WHERE name = 'a' OR true", "SELECT set_config(name, 'x', false) FROM pg_settings WHERE name <> 'a'",
      "SELECT set_config(s.name, 'x', false) FROM pg_settings s WHERE name = 'a'"]) {
      expect(as(sql), sql).toMatchObject({ action: 'deny', reason: expect.stringContaining('unclassifiable') });
    }
    expect(as("SELECT set_config('search_path', 'public', false); SELECT * FROM items").action).toBe('allow');
  });

  it('a set_config of search_path counts for the session as SET does', () => {
    const ps = fnRole.openSession({ sub: 'f', via: 'local' }, 'db', 0);
    expect(ps.decide("SELECT set_config('search_path', 'vault', true)", 0).action).toBe('allow');
    expect(ps.decide('SELECT * FROM items', 0).action).toBe('deny');
  });
});

describe('cursors over tables that need approval', () => {
  it('a DECLARE approved once is read by its FETCHes without an approval each (a bound portal is still decided)', () => {
    const e = new PolicyEngine(policySection.parse({
      roles: { a: { subjects: ['a'] } },
      connections: { db: { roles: { a: { approval_tables: ['cards'] } } } },
    }), {});
    const ps = e.openSession({ sub: 'a', via: 'local' }, 'db', 0);
    expect(ps.decide('BEGIN', 0).action).toBe('allow');
    const declare = 'DECLARE c CURSOR FOR SELECT last4 FROM cards';
    expect(ps.decide(declare, 0).action).toBe('hold');
    ps.applied(declare); // what the hook does once an approver approved it
    expect(ps.decide('FETCH FORWARD 100 FROM c', 0).action).toBe('allow');
    expect(ps.decide('FETCH FORWARD 100 FROM c', 0).action).toBe('allow');
    ps.portal('p', 'SELECT last4 FROM cards');
    expect(ps.decide('FETCH ALL FROM p', 0).action).toBe('hold');
  });
});

describe('what a refusal tells the person refused', () => {
  it('a catalog read outside the allow list names what allows it (psql\'s \\d reads pg_catalog)', () => {
    expect(decide('SELECT c.relname FROM pg_catalog.pg_class c')).toMatchObject({
      action: 'deny', reason: expect.stringContaining("catalog reads (psql's \\d) need pg_catalog.* in tables.allow"),
    });
    expect(decide('SELECT table_name FROM information_schema.tables').reason).toContain('need information_schema.* in tables.allow');
    expect(decide('SELECT * FROM other.items').reason).not.toContain('catalog');
  });

  it('a call to a function the role may not run is said as a call', () => {
    expect(decide('SELECT pg_sleep(1)')).toMatchObject({ action: 'deny', reason: 'role may not call pg_sleep (class function)' });
    expect(decide('SELECT pg_partition_ancestors(\'items\'::regclass)').action).toBe('allow');
  });
});
