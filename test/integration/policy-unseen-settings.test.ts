/**
 * Settings a statement can change without policy seeing the change, through the real proxy.
 *
 * A LANGUAGE sql function whose body sets search_path changes the caller's path after the call: with
 * `SELECT f()` allowed (functions.allow), `SELECT * FROM items` was judged in public, which the role may
 * read, while the server read vault.items. The server reports no search_path change to the client, so the
 * CREATE of such a body is refused (rule sql_text). A function's own SET search_path clause lasts for the
 * call only and stays allowed, but its body's names are judged in that path.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, gateConfig, pgClient, startConfiguredGate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create table items (id int, name text); insert into items values (1, 'public-row');
    create schema vault; create table vault.items (id int, name text); insert into vault.items values (1, 'VAULT-SECRET');`);
  gate = await startConfiguredGate(server, gateConfig(server, {
    classes: ['read', 'write', 'ddl', 'utility', 'transaction'],
    role: { tables: { allow: ['public.*'] }, functions: { allow: ['f', 'public.f', 'g', 'public.g', 'set_config'] } },
  }));
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

/** Runs `sqls` in order on one client; returns each result's rows, or the error's code and message. */
async function run(sqls: string[]): Promise<unknown[]> {
  const c = await pgClient(gate);
  const out: unknown[] = [];
  try {
    for (const sql of sqls) out.push(await c.query(sql).then((r) => r.rows, (e: { code?: string; message: string }) => ({ code: e.code, message: e.message })));
  } finally { await c.end(); }
  return out;
}

describe('a function body that sets search_path', () => {
  for (const [what, body] of [
    ['SET', 'SET search_path = vault'],
    ['set_config', "SELECT set_config('search_path', 'vault', false)"],
  ]) {
    it(`(${what}) is refused when created, so the caller's items stay public.items`, async () => {
      const [created, , read] = await run([
        `CREATE OR REPLACE FUNCTION f() RETURNS void LANGUAGE sql AS $$ ${body}; SELECT $$`,
        'SELECT f()',
        'SELECT name FROM items',
      ]);
      expect(JSON.stringify(read)).not.toContain('VAULT-SECRET');
      expect(created).toMatchObject({ code: '42501', message: expect.stringContaining('rule sql_text') });
      server.psql('drop function if exists f()');
    });
  }

  it('a function\'s own SET search_path clause is not the caller\'s: allowed, and its body is judged in it', async () => {
    const [ownPublic, call, after, ownVault] = await run([
      'CREATE FUNCTION g() RETURNS text LANGUAGE sql SET search_path = public AS $$ SELECT name FROM items $$',
      'SELECT g() AS name',
      "SELECT current_setting('search_path') AS path",
      'CREATE OR REPLACE FUNCTION g() RETURNS text LANGUAGE sql SET search_path = vault AS $$ SELECT name FROM items $$',
    ]);
    expect(ownPublic).toEqual([]);
    expect(call).toEqual([{ name: 'public-row' }]);
    expect(after).toEqual([{ path: '"$user", public' }]);
    expect(ownVault).toMatchObject({ code: '42501', message: expect.stringContaining('vault.items') });
    expect(await run(['SELECT g() AS name'])).toEqual([[{ name: 'public-row' }]]);
    server.psql('drop function g()');
  });
});
