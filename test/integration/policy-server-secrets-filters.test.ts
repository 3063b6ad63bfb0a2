/**
 * Setting names policy reads from a statement's constants (current_setting('<name>'), a pg_settings read filtered
 * by name: settings-filter.ts), tried against the real server through the proxy: the server, not policy, decides
 * which setting a name is, so a constant policy reads one way and PostgreSQL another hands the upstream user's view
 * of superuser-only settings (primary_conninfo's replication password) to a role without the pg_settings grant.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, gateConfig, queryEach, startConfiguredGate } from './pg-proxy-setup.js';

const REPLICATION_PASSWORD = 'repl-secret-5120';

let server: PostgresServer;
let reader: Gate;
let ddl: Gate;

beforeAll(async () => {
  server = await startPostgres({ tls: false, config: { primary_conninfo: `'host=127.0.0.1 user=rep password=${REPLICATION_PASSWORD}'` } });
  ddl = await startConfiguredGate(server, gateConfig(server, { classes: ['read', 'ddl'] }));
  reader = await startConfiguredGate(server, gateConfig(server, { classes: ['read'], role: { tables: { allow: ['public.*', 'pg_catalog.*'] } } }));
}, 120_000);

/** Each result is policy's refusal for want of the pg_settings grant, and none holds the password. */
function expectRefused(results: unknown[]): void {
  for (const r of results) expect(r).toMatchObject({ code: '42501', message: expect.stringContaining('pg_catalog.pg_settings') });
  expect(JSON.stringify(results)).not.toContain(REPLICATION_PASSWORD);
}

afterAll(async () => {
  await reader?.close();
  await ddl?.close();
  await server?.stop();
});

describe('a setting name written as a constant', () => {
  it('cast to a type that changes its text is refused: the server reads the name the cast makes', async () => {
    const results = await queryEach(reader, [
      "SELECT current_setting('primary_conninfo   '::char(20)) AS setting",
      "SELECT current_setting('primary_conninfo.x'::varchar(16)) AS setting",
      "SELECT setting FROM pg_settings WHERE name = 'primary_conninfo   '::char(20)",
      "SELECT setting FROM pg_settings WHERE name IN ('primary_conninfo.x'::varchar(16))",
      "SELECT setting FROM pg_settings WHERE name ~ '.^'::varchar(1)",
    ]);
    expectRefused(results);
  });
});

describe('a pg_settings filter by name', () => {
  it('under a nondeterministic collation is refused: it lets through names policy does not read as equal', async () => {
    const results = await queryEach(ddl, [
      "CREATE COLLATION loose (provider = icu, locale = 'und-u-ka-shifted-ks-level1', deterministic = false)",
      "SELECT setting FROM pg_settings WHERE name = 'Primary Conninfo' COLLATE loose",
      "SELECT setting FROM pg_settings WHERE name IN ('primaryconninfo' COLLATE loose)",
      "SELECT current_setting(name) AS setting FROM pg_settings WHERE name = 'PRIMARY-CONNINFO' COLLATE public.loose",
    ]);
    expect(results[0]).toEqual([]);
    expectRefused(results.slice(1));
  });
});

describe('a pg_settings read filtered by name', () => {
  it('with its columns renamed by an alias list is refused: the name filtered is then another column', async () => {
    const results = await queryEach(reader, [
      "SELECT s.* FROM pg_settings s(setting_name, a, b, c, d, e, f, name) WHERE name = 'string'",
      "SELECT setting_name, name FROM pg_settings AS s(setting_name, name) WHERE name ~ 'password'",
    ]);
    expectRefused(results);
  });
});
