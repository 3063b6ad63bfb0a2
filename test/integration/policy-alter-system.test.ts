/**
 * `ALTER SYSTEM SET standard_conforming_strings = off`, then `SELECT pg_reload_conf()`: a backend applies a
 * reloaded configuration after it has read its next command and before it parses it (postgres.c), and reports
 * the change (ParameterStatus, on which the relay ends the session) only before that command's ReadyForQuery.
 * Connected directly to PostgreSQL 15, the next `SELECT 'a\''` after such a reload returns a' (read with
 * backslash escapes) even sent on its own, so `SELECT 'a\'' ; DELETE FROM kept; -- '` (one string literal to
 * policy) would delete. Through pcigate in this harness the session's setting did not follow the reload, so
 * the test asserts the refusal itself, and that nothing was deleted: ALTER SYSTEM SET of a setting that makes
 * the server read text otherwise is refused, as the SET is (rule sql_text).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, gateConfig, pgClient, startConfiguredGate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql('create table kept (id int); insert into kept values (1), (2);');
  gate = await startConfiguredGate(server, gateConfig(server, {
    classes: ['read', 'ddl', 'utility', 'transaction'],
    role: { tables: { allow: ['*'], deny: ['kept'] } },
  }));
}, 120_000);

afterAll(async () => {
  // The harness's psql is not a superuser; the gate's upstream user is.
  const c = await pgClient(gate).catch(() => undefined);
  if (c) {
    await c.query('ALTER SYSTEM RESET standard_conforming_strings').catch(() => {});
    await c.query('SELECT pg_reload_conf()').catch(() => {});
    await c.end().catch(() => {});
  }
  await gate?.close();
  await server?.stop();
});

describe('ALTER SYSTEM SET standard_conforming_strings = off', () => {
  it('is refused, so a reload cannot make the next statement read otherwise', async () => {
    const c = await pgClient(gate);
    c.on('error', () => {});
    const q = (sql: string) => c.query(sql).then((r) => r.rows, (e: { code?: string; message: string }) => ({ code: e.code, message: e.message }));
    let altered: unknown;
    try {
      altered = await q('ALTER SYSTEM SET standard_conforming_strings = off');
      await q('SELECT pg_reload_conf()');
      // The postmaster's SIGHUP reaches the idle backend meanwhile; it applies it after reading the next command.
      await new Promise((r) => setTimeout(r, 500));
      await q("SELECT 'a\\'' ; DELETE FROM kept; -- '");
    } finally { await c.end().catch(() => {}); }
    expect(server.psql('select count(*) from kept').trim()).toBe('2');
    expect(altered).toMatchObject({ code: '42501', message: expect.stringContaining('rule sql_text') });
  });
});
