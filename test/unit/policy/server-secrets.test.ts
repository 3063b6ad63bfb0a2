/**
 * Server secrets (server-secrets.ts, secret-grants.ts): superuser-only catalogs and settings are granted only by
 * an allow pattern naming them exactly, never by a wildcard. Pure logic through PolicyEngine; the same through
 * the real proxy in test/integration/policy-server-secrets.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { policySection } from '../../../src/config/sections/policy.js';
import type { PolicyIdentity } from '../../../src/policy/evaluate.js';
import { explainPolicy, formatExplanation } from '../../../src/policy/explain.js';
import { loadParser } from '../../../src/policy/pg-parser.js';
import { PolicyEngine } from '../../../src/policy/policy-engine.js';
import { parseConfigText } from '../../../src/config/parse-config.js';

beforeAll(async () => { await loadParser(); });

const engine = new PolicyEngine(policySection.parse({
  roles: { reader: { subjects: ['reader'] }, all: { subjects: ['all'] }, sec: { subjects: ['sec'] }, ops: { subjects: ['ops', 'both'] }, ro: { subjects: ['both'] }, fn: { subjects: ['fn'] } },
  connections: {
    db: {
      roles: {
        reader: { classes: ['read', 'transaction', 'utility'], tables: { allow: ['public.*', 'pg_catalog.*'] } },
        all: { classes: ['read', 'write', 'ddl', 'dcl', 'transaction', 'utility'] }, // tables.allow defaults to ['*']
        sec: { classes: ['read', 'utility'], tables: { allow: ['public.*', 'pg_catalog.*', 'pg_catalog.pg_authid', 'pg_settings', 'public.pg_stat_statements'] } },
        // ops names the settings but may not write; ro may write but names nothing.
        ops: { classes: ['read', 'utility'], tables: { allow: ['*', 'pg_catalog.pg_settings'] } },
        ro: { classes: ['read', 'write', 'utility'] },
        fn: { classes: ['read', 'function', 'utility'] },
      },
    },
  },
}), {});
/** psql's \dconfig <pattern>, but for the pattern. */
const DCONFIG = 'SELECT s.name AS "Parameter", pg_catalog.current_setting(s.name) AS "Value" FROM pg_catalog.pg_settings s WHERE pg_catalog.lower(s.name) OPERATOR(pg_catalog.~) ';
const who = (sub: string): PolicyIdentity => ({ sub, via: 'local' });
const decide = (sql: string, sub = 'reader') => engine.decide(who(sub), 'db', sql);

describe('superuser-only catalogs', () => {
  it('are refused under pg_catalog.* and *, with the rule and the exact pattern that would grant them', () => {
    for (const [sql, rel] of [
      ['SELECT * FROM pg_authid', 'pg_catalog.pg_authid'], ['SELECT rolpassword FROM pg_catalog.pg_authid', 'pg_catalog.pg_authid'],
      ['SELECT passwd FROM pg_shadow', 'pg_catalog.pg_shadow'], ['SELECT umoptions FROM pg_user_mappings', 'pg_catalog.pg_user_mappings'],
      ['SELECT * FROM pg_user_mapping', 'pg_catalog.pg_user_mapping'], ['SELECT subconninfo FROM pg_subscription', 'pg_catalog.pg_subscription'],
      ['SELECT * FROM pg_hba_file_rules', 'pg_catalog.pg_hba_file_rules'], ['SELECT * FROM pg_file_settings', 'pg_catalog.pg_file_settings'],
      ['SELECT data FROM pg_largeobject', 'pg_catalog.pg_largeobject'], ['SELECT pid, query FROM pg_stat_activity', 'pg_catalog.pg_stat_activity'],
      ['SELECT option_value FROM information_schema.user_mapping_options', 'information_schema.user_mapping_options'],
      ['SELECT umoptions FROM information_schema._pg_user_mappings', 'information_schema._pg_user_mappings'],
      ['SELECT 1 WHERE EXISTS (SELECT FROM pg_authid WHERE rolpassword LIKE \'SCRAM%\')', 'pg_catalog.pg_authid'],
      ['WITH a AS (SELECT * FROM pg_catalog.pg_authid) SELECT * FROM a', 'pg_catalog.pg_authid'],
    ]) {
      // reader's allow list has no information_schema: refused there by the allow list itself.
      for (const sub of rel!.startsWith('pg_catalog.') ? ['reader', 'all'] : ['all']) {
        expect(decide(sql!, sub), `${sub}: ${sql}`).toMatchObject({
          action: 'deny', rule: `policy.connections.db.roles.${sub}.tables.allow`, reason: expect.stringContaining(`naming ${rel} exactly`),
        });
      }
    }
    expect(decide('SELECT * FROM pg_authid', 'all').reason).toContain('pg_catalog.pg_authid holds role password hashes');
  });

  it('pg_stat_statements, in any schema, is one: every role\'s statements, utility statements as written', () => {
    for (const [sql, rel] of [['SELECT query FROM pg_stat_statements', 'pg_stat_statements'], ['SELECT query FROM public.pg_stat_statements', 'public.pg_stat_statements'],
      ['SELECT s.query FROM ext.pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid', 'ext.pg_stat_statements']]) {
      expect(decide(sql!, 'all'), sql).toMatchObject({ action: 'deny', reason: expect.stringContaining(`naming ${rel} exactly`) });
    }
    expect(decide('SELECT query FROM public.pg_stat_statements', 'reader').reason).toContain('ALTER ROLE');
    expect(decide('SELECT calls FROM pg_stat_statements_info', 'all').action).toBe('allow');
    expect(decide('SELECT query FROM public.pg_stat_statements', 'sec').action).toBe('allow');
    // Their functions, called directly by a role that may call functions, are the same reads.
    for (const [sql, rel] of [['SELECT query FROM pg_stat_statements(true)', 'pg_stat_statements'], ['SELECT query FROM public.pg_stat_statements(true)', 'public.pg_stat_statements'],
      ['SELECT query FROM pg_stat_get_activity(NULL)', 'pg_catalog.pg_stat_activity'], ['SELECT query FROM pg_catalog.pg_stat_get_activity(NULL)', 'pg_catalog.pg_stat_activity']]) {
      expect(decide(sql!, 'fn'), sql).toMatchObject({ action: 'deny', reason: expect.stringContaining(`naming ${rel} exactly`) });
    }
    expect(decide("SELECT lower('x'), pg_sleep(0)", 'fn').action).toBe('allow');
  });

  it('are allowed where an allow pattern names them exactly, qualified or not; other catalogs stay with the wildcard', () => {
    expect(decide('SELECT rolname, rolpassword FROM pg_authid', 'sec').action).toBe('allow');
    expect(decide('SELECT * FROM pg_shadow', 'sec').action).toBe('deny');
    for (const sql of ['SELECT * FROM pg_class', 'SELECT * FROM pg_roles', 'SELECT count(*) FROM pg_catalog.pg_user', 'SELECT * FROM pg_stat_user_tables']) {
      expect(decide(sql), sql).toMatchObject({ action: 'allow' });
    }
    // A table of the same name in another schema is no catalog.
    expect(decide('SELECT * FROM public.pg_authid').action).toBe('allow');
  });

  it('pg_subscription and pg_user_mappings are secrets only where a read may reach subconninfo or umoptions (psql\'s \\dRs, \\deu)', () => {
    for (const sql of ['SELECT subname, pg_catalog.pg_get_userbyid(subowner), subenabled, subpublications FROM pg_catalog.pg_subscription ORDER BY 1',
      'SELECT um.srvname, um.usename FROM pg_catalog.pg_user_mappings um ORDER BY 1, 2', 'SELECT count(*) FROM pg_subscription']) {
      expect(decide(sql), sql).toMatchObject({ action: 'allow' });
    }
    for (const sql of ["SELECT subname FROM pg_subscription WHERE subconninfo ~ 'password'", 'SELECT s FROM pg_subscription s', 'SELECT row_to_json(s) FROM pg_subscription s',
      'SELECT * FROM pg_subscription', 'SELECT b FROM pg_subscription AS s(a, b)',
      'SELECT srvname FROM pg_user_mappings ORDER BY umoptions', 'SELECT m FROM pg_user_mappings m', 'SELECT x FROM (SELECT umoptions AS x FROM pg_user_mappings) q']) {
      expect(decide(sql, 'all'), sql).toMatchObject({ action: 'deny', reason: expect.stringMatching(/naming pg_catalog\.pg_(subscription|user_mappings) exactly/) });
    }
  });

  it('count in every statement of a string, a PREPARE, EXPLAIN ANALYZE, a view and a SQL function body', () => {
    expect(decide('SELECT 1; SELECT * FROM pg_authid')).toMatchObject({ action: 'deny', reason: expect.stringMatching(/^statement 2 of 2: /) });
    expect(decide('PREPARE p AS SELECT * FROM pg_authid')).toMatchObject({ action: 'deny', rule: 'policy.connections.db.roles.reader.tables.allow' });
    expect(decide('EXPLAIN ANALYZE SELECT * FROM pg_authid').action).toBe('deny');
    for (const sql of ['CREATE VIEW v AS SELECT * FROM pg_authid', "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS 'SELECT rolpassword FROM pg_authid'",
      "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$ SELECT current_setting('primary_conninfo') $$",
      "CREATE FUNCTION f() RETURNS text LANGUAGE sql BEGIN ATOMIC SELECT current_setting('primary_conninfo'); END"]) {
      expect(decide(sql, 'all'), sql).toMatchObject({ action: 'deny', rule: 'policy.connections.db.roles.all.tables.allow' });
    }
  });

  it('an EXECUTE of a statement prepared with a secret is judged with it', () => {
    const s = engine.openSession(who('sec'), 'db', 0);
    expect(s.decide('PREPARE p AS SELECT rolpassword FROM pg_authid', 0).action).toBe('allow');
    s.applied('PREPARE p AS SELECT rolpassword FROM pg_authid');
    expect(s.decide('EXECUTE p', 0).action).toBe('allow');
    const r = engine.openSession(who('reader'), 'db', 0);
    r.applied('PREPARE p AS SELECT rolpassword FROM pg_authid');
    expect(r.decide('EXECUTE p', 0)).toMatchObject({ action: 'deny', reason: expect.stringContaining('pg_catalog.pg_authid') });
  });
});

describe('superuser-only settings', () => {
  it('SHOW, SHOW ALL and current_setting of one are refused without pg_catalog.pg_settings named exactly', () => {
    for (const sql of ['SHOW primary_conninfo', 'SHOW "Primary_Conninfo"', 'SHOW ssl_passphrase_command', 'SHOW data_directory', 'SHOW ALL', 'SHOW ssl_tls13_ciphers',
      "SELECT current_setting('primary_conninfo')", "SELECT pg_catalog.current_setting('HBA_FILE', true)", "SELECT current_setting('data_directory'::text)",
      "SELECT current_setting('data_' || 'directory')", 'SELECT current_setting(name) FROM (VALUES (1)) v(name)', 'SELECT current_setting(setting_name => \'x\')',
      'SELECT * FROM pg_settings', "SELECT setting FROM pg_settings WHERE name = 'primary_conninfo'", "SELECT setting FROM pg_settings WHERE name LIKE 'primary%'",
      "SELECT setting FROM pg_settings WHERE name IN ('work_mem', 'hba_file')", "SELECT (SELECT setting FROM pg_settings LIMIT 1) FROM pg_settings WHERE name = 'work_mem'",
      // psql's \dconfig: without a pattern (non-default settings: data_directory, hba_file …), or one that matches a secret
      "SELECT s.name, pg_catalog.current_setting(s.name) FROM pg_catalog.pg_settings s WHERE s.source <> 'default' AND s.setting IS DISTINCT FROM s.boot_val",
      `${DCONFIG}'^(ssl.*)$' COLLATE pg_catalog.default`, `${DCONFIG}'^(.*_file)$'`, `${DCONFIG}'^(?:work_mem)$'`, `${DCONFIG}'^(WORK_MEM|hba_file)$'`,
      "SELECT current_setting(x.name) FROM pg_settings s, pg_settings x WHERE s.name = 'work_mem'",
      "SELECT current_setting(t.name) FROM pg_settings s WHERE s.name = 'work_mem'",
      // an alias's column list renames pg_settings' columns: here `name` is vartype, `n` the setting's name
      "SELECT n, setting FROM pg_settings s(n, setting, a, b, c, d, e, name) WHERE name = 'string'", "SELECT * FROM pg_settings AS s(n, name) WHERE s.name ~ 'password'",
      "SELECT (SELECT current_setting(name) FROM (VALUES ('hba_file')) v(name)) FROM pg_settings WHERE name = 'work_mem'"]) {
      for (const sub of ['reader', 'all']) {
        expect(decide(sql, sub), `${sub}: ${sql}`).toMatchObject({
          action: 'deny', rule: `policy.connections.db.roles.${sub}.tables.allow`, reason: expect.stringContaining('naming pg_catalog.pg_settings exactly'),
        });
      }
    }
    expect(decide('SHOW primary_conninfo').reason).toBe('SHOW primary_conninfo reads settings PostgreSQL shows superusers only: only an allow pattern naming pg_catalog.pg_settings exactly grants that, no wildcard does');
  });

  it('SET … FROM CURRENT of one is refused: it copies the value into pg_proc.proconfig or pg_db_role_setting, which anyone reads', () => {
    for (const sql of ["CREATE FUNCTION f() RETURNS int LANGUAGE sql SET dynamic_library_path FROM CURRENT AS 'select 1'",
      'ALTER ROLE CURRENT_USER SET "Session_Preload_Libraries" FROM CURRENT', 'ALTER DATABASE postgres SET dynamic_library_path FROM CURRENT',
      'ALTER FUNCTION f() SET dynamic_library_path FROM CURRENT', 'SET dynamic_library_path FROM CURRENT']) {
      expect(decide(sql, 'all'), sql).toMatchObject({ action: 'deny', reason: expect.stringContaining('FROM CURRENT reads settings PostgreSQL shows superusers only') });
    }
  });

  it('a name cast to anything but text is no constant: char(n) trims it, varchar(n) cuts it, so the server reads another name', () => {
    for (const sql of ["SELECT current_setting('primary_conninfo   '::char(20))", "SELECT current_setting('hba_file.x'::varchar(8))",
      "SELECT current_setting(CAST('hba_file ' AS bpchar))", "SELECT setting FROM pg_settings WHERE name = 'hba_file  '::char(10)",
      "SELECT setting FROM pg_settings WHERE name IN ('work_mem', 'hba_filex'::pg_catalog.varchar(8))", `${DCONFIG}'.^'::varchar(1)`]) {
      expect(decide(sql, 'all'), sql).toMatchObject({ action: 'deny', reason: expect.stringContaining('naming pg_catalog.pg_settings exactly') });
    }
  });

  it('a name under a collation other than PostgreSQL\'s bytewise ones is no constant: a nondeterministic one makes other names equal', () => {
    for (const sql of ["SELECT setting FROM pg_settings WHERE name = 'primaryconninfo' COLLATE loose", "SELECT setting FROM pg_settings WHERE name IN ('hba file' COLLATE public.loose)",
      "SELECT current_setting('hbafile' COLLATE loose)"]) {
      expect(decide(sql, 'all'), sql).toMatchObject({ action: 'deny', reason: expect.stringContaining('naming pg_catalog.pg_settings exactly') });
    }
  });

  it('other settings stay readable, and pg_settings filtered to named ones that are not superuser-only (pg_dump\'s form)', () => {
    for (const sql of ['SHOW work_mem', 'SHOW search_path', "SELECT current_setting('work_mem')", "SELECT current_setting('server_version_num')::int",
      "SELECT setting FROM pg_settings WHERE name = 'work_mem'", "SELECT name, setting FROM pg_catalog.pg_settings WHERE name IN ('work_mem', 'TimeZone')",
      "SELECT current_setting('app.tenant')", `${DCONFIG}'^(work_mem)$' COLLATE pg_catalog.default`, `${DCONFIG}'^(work_.*|shared_buffers)$'`,
      "SELECT current_setting(name) FROM pg_settings WHERE name = 'work_mem'"]) {
      expect(decide(sql), sql).toMatchObject({ action: 'allow' });
    }
    // Constants decide: a text differing only in them must not share the cached decision.
    expect(decide("SELECT current_setting('primary_conninfo')").action).toBe('deny');
    expect(decide("SELECT setting FROM pg_settings WHERE name = 'hba_file'").action).toBe('deny');
    expect(decide(`${DCONFIG}'^(hba_file)$' COLLATE pg_catalog.default`).action).toBe('deny');
  });

  it('are allowed to a role naming pg_settings exactly (unqualified too)', () => {
    for (const sql of ['SHOW primary_conninfo', 'SHOW ALL', 'SELECT * FROM pg_settings', 'SELECT current_setting(name) FROM pg_settings']) {
      expect(decide(sql, 'reader'), sql).toMatchObject({ action: 'deny' });
      expect(decide(sql, 'sec'), sql).toMatchObject({ action: 'allow' });
      expect(decide(sql, 'ops'), sql).toMatchObject({ action: 'allow' });
    }
  });

  it('with several roles, only those naming the secret are asked: the statement must pass one of them whole', () => {
    expect(decide('SHOW primary_conninfo', 'both')).toMatchObject({ action: 'allow', statements: [{ role: 'ops' }] });
    // ro may write but names no setting; ops names it but may not write.
    expect(decide("UPDATE pg_settings SET setting = 'x' WHERE name LIKE 'ssl%'", 'both'))
      .toMatchObject({ action: 'deny', rule: 'policy.connections.db.roles.ops.classes', reason: 'role may not run write statements' });
    expect(decide("UPDATE pg_settings SET setting = '4MB' WHERE name = 'work_mem'", 'both')).toMatchObject({ action: 'allow', statements: [{ role: 'ro' }] });
  });
});

describe('policy explain', () => {
  const config = parseConfigText([
    'connections:',
    '  prod-db: { kind: postgres, host: 127.0.0.1, database: app, user: app, sslmode: disable }',
    'policy:',
    '  roles: { support: { groups: [support] } }',
    '  connections:',
    '    prod-db:',
    '      roles:',
    '        support: { classes: [read, utility], tables: { allow: ["public.*", "pg_catalog.*"] } }',
    '',
  ].join('\n'), '/nonexistent/pcigate.yaml');

  it('agrees: both rules are static', async () => {
    for (const [sql, secret] of [['SELECT rolpassword FROM pg_authid', 'pg_catalog.pg_authid'], ['SHOW primary_conninfo', 'pg_catalog.pg_settings']]) {
      const ex = await explainPolicy(config, 'prod-db', sql!, { groups: ['support'], mfa: true });
      expect(ex, sql).toMatchObject({ decision: 'deny', rule: 'policy.connections.prod-db.roles.support.tables.allow', statements: [{ decision: 'deny', secrets: [secret] }] });
      expect(formatExplanation(ex)).toContain(`secrets:   ${secret} (granted by an allow pattern naming each exactly)`);
    }
    expect((await explainPolicy(config, 'prod-db', 'SHOW work_mem', { groups: ['support'], mfa: true })).decision).toBe('allow');
  });
});
