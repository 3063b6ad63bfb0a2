/**
 * `"$user"` in a function's own SET search_path clause is current_user at the call: after SET ROLE vault,
 * `g()` read vault.items. Policy had judged the body's `items` in a schema literally named `$user`, which the
 * deny pattern `vault.*` did not name (unit: test/unit/policy/function-user-path.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, gateConfig, pgClient, startConfiguredGate } from './pg-proxy-setup.js';

let server: PostgresServer;
let userGate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create role vault; create schema vault authorization vault; create table vault.items (id int, name text);
    insert into vault.items values (1, 'VAULT-SECRET'); grant select on vault.items to vault; grant vault to current_user;
    create table public.items (id int, name text); insert into public.items values (1, 'public-row');
    grant select on public.items to vault; grant usage on schema public to vault;`);
  userGate = await startConfiguredGate(server, gateConfig(server, {
    classes: ['read', 'ddl', 'dcl', 'function', 'utility', 'transaction'],
    role: { tables: { allow: ['*'], deny: ['vault.*'] }, functions: { allow: ['g', 'public.g'] } },
  }));
}, 120_000);

afterAll(async () => {
  await userGate?.close();
  await server?.stop();
});

describe('"$user" in a function\'s SET search_path clause', () => {
  it('the body\'s names may be in any schema: CREATE is refused, so SET ROLE vault; SELECT g() reads nothing of vault', async () => {
    const c = await pgClient(userGate);
    const out: unknown[] = [];
    try {
      for (const sql of [
        'CREATE FUNCTION g() RETURNS text LANGUAGE sql SET search_path = "$user", public AS $$ SELECT name FROM items $$',
        'SET ROLE vault',
        'SELECT g() AS name',
      ]) out.push(await c.query(sql).then((r) => r.rows, (e: { code?: string; message: string }) => ({ code: e.code, message: e.message })));
    } finally { await c.end(); server.psql('drop function if exists g()'); }
    expect(JSON.stringify(out)).not.toContain('VAULT-SECRET');
    expect(out[0]).toMatchObject({ code: '42501', message: expect.stringContaining('$user.items matches deny pattern vault.*') });
  });
});
