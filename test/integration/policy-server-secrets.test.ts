/**
 * Server secrets through the real proxy: pcigate connects upstream as a superuser, so a role granted only `read`
 * on `public.*` and `pg_catalog.*` read role password hashes from pg_authid and the replication password in
 * primary_conninfo, which PostgreSQL keeps from every other role. Both are refused with policy's SQLSTATE unless
 * an allow pattern names them exactly (server-secrets.ts); other catalogs and settings stay readable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, gateConfig, queryEach, run, startConfiguredGate } from './pg-proxy-setup.js';

const REPLICATION_PASSWORD = 'repl-secret-771';
const FDW_PASSWORD = 'fdw-secret-4410';
const LIBRARY_PATH = '$libdir:/srv/lib-secret-2207';

let server: PostgresServer;
let reader: Gate;
let granted: Gate;
let builder: Gate;

beforeAll(async () => {
  // primary_conninfo is only used in standby mode: a primary keeps it as set.
  server = await startPostgres({ tls: false, config: { primary_conninfo: `'host=127.0.0.1 user=rep password=${REPLICATION_PASSWORD}'`, dynamic_library_path: `'${LIBRARY_PATH}'` } });
  server.psql(`create role app_owner login password 'owner-pw-3319'; create extension postgres_fdw;
    create server remote foreign data wrapper postgres_fdw options (host '127.0.0.1');
    create user mapping for public server remote options (user 'rep', password '${FDW_PASSWORD}')`);
  reader = await startConfiguredGate(server, gateConfig(server, {
    classes: ['read', 'transaction', 'utility'], role: { tables: { allow: ['public.*', 'pg_catalog.*', 'information_schema.*'] } },
  }));
  builder = await startConfiguredGate(server, gateConfig(server, { classes: ['read', 'ddl', 'dcl', 'utility'] }));
  granted = await startConfiguredGate(server, gateConfig(server, {
    classes: ['read', 'transaction', 'utility'], role: { tables: { allow: ['public.*', 'pg_catalog.*', 'pg_catalog.pg_authid', 'pg_catalog.pg_settings'] } },
  }));
}, 120_000);

afterAll(async () => {
  await reader?.close();
  await granted?.close();
  await builder?.close();
  await server?.stop();
});

describe('a read-only role whose allow patterns cover pg_catalog.*', () => {
  it('is refused pg_authid and superuser-only settings with policy\'s SQLSTATE; other catalogs and settings stay readable', async () => {
    const [authid, conninfo, current, all, mappings, options, workMem, roles, servers] = await queryEach(reader, [
      'SELECT rolname, rolpassword FROM pg_authid',
      'SHOW primary_conninfo',
      "SELECT current_setting('primary_conninfo') AS c",
      'SELECT name, setting FROM pg_settings',
      'SELECT umoptions FROM pg_user_mappings',
      'SELECT option_value FROM information_schema.user_mapping_options',
      'SHOW work_mem',
      "SELECT rolname FROM pg_roles WHERE rolname = 'app_owner'",
      'SELECT srvname FROM pg_foreign_server',
    ]);
    const refused = [authid, conninfo, current, all, mappings, options];
    for (const r of refused) expect(r).toMatchObject({ code: '42501', message: expect.stringContaining('exactly') });
    expect(authid).toMatchObject({ message: expect.stringContaining('pg_catalog.pg_authid') });
    expect(conninfo).toMatchObject({ message: expect.stringContaining('pg_catalog.pg_settings') });
    expect(JSON.stringify(refused)).not.toMatch(/SCRAM-SHA-256|repl-secret|fdw-secret/);
    expect(workMem).toEqual([{ work_mem: '4MB' }]);
    expect(roles).toEqual([{ rolname: 'app_owner' }]);
    expect(servers).toEqual([{ srvname: 'remote' }]);
  });

  it('runs psql\'s \\dRs and \\deu, which read no connection string or mapping option; \\deu+ is refused', async () => {
    const listed = await run('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-c', '\\dRs', '-c', '\\deu'], reader.env);
    expect(listed.stderr, listed.stderr).toBe('');
    expect(listed.stdout).toMatch(/remote\s*\|\s*public/);
    const options = await run('psql', ['-X', '-c', '\\deu+'], reader.env);
    expect(options.stderr).toContain('denied by policy'); // pg_options_to_table needs the function class too
    expect(options.stdout + options.stderr).not.toContain(FDW_PASSWORD);
  });

  it('reads them once its allow list names pg_catalog.pg_authid and pg_catalog.pg_settings exactly', async () => {
    expect(await queryEach(reader, ['SHOW primary_conninfo'])).toMatchObject([{ code: '42501' }]);
    const [authid, conninfo] = await queryEach(granted, [
      "SELECT rolpassword LIKE 'SCRAM-SHA-256$%' AS hashed FROM pg_authid WHERE rolname = 'app_owner'",
      'SHOW primary_conninfo',
    ]);
    expect(authid).toEqual([{ hashed: true }]);
    expect(JSON.stringify(conninfo)).toContain(REPLICATION_PASSWORD);
  });

  it('is refused pg_stat_activity, where PostgreSQL shows it no other role\'s statement but the upstream user sees them all', async () => {
    // Another client's idle session, its last statement a password in clear.
    const admin = new pg.Client({ host: server.host, port: server.port, user: server.superuser, password: server.password, database: server.database });
    await admin.connect();
    try {
      await admin.query("ALTER ROLE app_owner PASSWORD 'activity-pw-6021'");
      const [activity, granted] = await queryEach(reader, [
        "SELECT query FROM pg_stat_activity WHERE query LIKE 'ALTER ROLE%'",
        'SELECT count(*) FROM pg_catalog.pg_stat_activity',
      ]);
      for (const r of [activity, granted]) expect(r).toMatchObject({ code: '42501', message: expect.stringContaining('naming pg_catalog.pg_stat_activity exactly') });
      expect(JSON.stringify(activity)).not.toContain('activity-pw-6021');
    } finally { await admin.end(); }
  });
});

describe('a role that may create functions and set role settings', () => {
  it('is refused SET … FROM CURRENT of a superuser-only setting, which copies its value into catalogs anyone reads', async () => {
    const results = await queryEach(builder, [
      "CREATE FUNCTION lib_path() RETURNS int LANGUAGE sql SET dynamic_library_path FROM CURRENT AS 'select 1'",
      'ALTER ROLE app_owner SET dynamic_library_path FROM CURRENT',
      "SELECT proconfig FROM pg_proc WHERE proname = 'lib_path'",
      'SELECT setconfig FROM pg_db_role_setting',
    ]);
    for (const r of results.slice(0, 2)) expect(r).toMatchObject({ code: '42501', message: expect.stringContaining('dynamic_library_path FROM CURRENT') });
    expect(JSON.stringify(results)).not.toContain('lib-secret');
  });
});
