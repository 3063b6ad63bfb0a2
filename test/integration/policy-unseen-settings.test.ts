/**
 * Settings a statement can change without policy seeing the change, through the real proxy.
 *
 * A LANGUAGE sql function whose body sets search_path changes the caller's path after the call: with
 * `SELECT f()` allowed (functions.allow), `SELECT * FROM items` was judged in public, which the role may
 * read, while the server read vault.items. The server reports no search_path change to the client, so the
 * CREATE of such a body is refused (rule sql_text). A function's own SET search_path clause lasts for the
 * call only and stays allowed, but its body's names are judged in that path.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { bytes } from '../harness/pg-bytes.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { RawPgClient } from '../harness/raw-pg-client.js';
import { type Gate, gateConfig, pgClient, queryEach, startConfiguredGate } from './pg-proxy-setup.js';

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
const run = (sqls: string[]) => queryEach(gate, sqls);

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

/**
 * `"$user"` in the path is current_user, which SET ROLE changes: after `SET ROLE x`, `items` in the
 * server's default path (`"$user", public`) is x.items when schema x exists. Policy read `"$user"` as the
 * upstream user only, and judged `items` in public.
 */
describe('"$user" after SET ROLE', () => {
  let roleGate: Gate;
  beforeAll(async () => {
    server.psql(`create role x; create schema x authorization x; create table x.items (id int, name text);
      insert into x.items values (1, 'X-SECRET'); grant select on x.items to x; grant select on public.items to x;`);
    roleGate = await startConfiguredGate(server, gateConfig(server, {
      classes: ['read', 'dcl', 'utility', 'transaction'],
      // The upstream user's own schema too: policy adds it once SET ROLE may make "$user" resolve.
      role: { tables: { allow: ['public.*', `${server.superuser}.*`] }, functions: { allow: ['set_config'] } },
    }));
  }, 60_000);
  afterAll(async () => { await roleGate?.close(); });

  async function runOn(sqls: string[]): Promise<unknown[]> {
    const c = await pgClient(roleGate);
    const out: unknown[] = [];
    try {
      for (const sql of sqls) out.push(await c.query(sql).then((r) => (Array.isArray(r) ? r.map((x) => x.rows) : r.rows), (e: { code?: string; message: string }) => ({ code: e.code, message: e.message })));
    } finally { await c.end(); }
    return out;
  }

  for (const [what, sqls] of [
    ['the server\'s path, separate statements', ['SET ROLE x', 'SELECT name FROM items']],
    ['the server\'s path, one string', ['SET ROLE x; SELECT name FROM items']],
    ['a SET path, then SET ROLE', ['SET search_path = "$user", public', 'SET ROLE x', 'SELECT name FROM items']],
    ['SET ROLE, then a SET path in the same string', ['SET ROLE x', 'SET search_path = public; SET search_path = "$user"; SELECT name FROM items']],
    ['set_config of the role', ["SELECT set_config('role', 'x', false)", 'SELECT name FROM items']],
    ['SET SESSION AUTHORIZATION', ['SET SESSION AUTHORIZATION x', 'SELECT name FROM items']],
  ] as const) {
    it(`items is judged in x too (${what})`, async () => {
      const out = await runOn([...sqls]);
      expect(JSON.stringify(out)).not.toContain('X-SECRET');
      expect(out.at(-1)).toMatchObject({ code: '42501', message: expect.stringMatching(/table items is not in the allow list \(looked up in .*\bx\)$/) });
    });
  }

  it('RESET ROLE goes back to the upstream user, whose path policy already judges in', async () => {
    const out = await runOn(['SET ROLE x', 'RESET ROLE', "SELECT current_user = session_user AS back"]);
    expect(out.at(-1)).toEqual([{ back: true }]);
  });
});

/**
 * A DO block, or a call of a function whose body policy cannot read, can set what makes the server read
 * text otherwise (standard_conforming_strings off). The server reports it (ParameterStatus) only before its
 * next ReadyForQuery, and the proxy ends the session on it; but a statement the client pipelined behind,
 * in the same write, was decided and forwarded before that arrived: the server read it with backslash
 * escapes, policy without, and `SELECT 'a\'' ; DELETE FROM items; -- '` (one string literal to policy)
 * deleted rows for a role that may not write.
 */
describe('a statement pipelined behind a DO block or an opaque function call', () => {
  let doGate: Gate;
  const DO = "DO $$ BEGIN PERFORM set_config('standard_conforming_strings', 'off', false); END $$";
  const HIDDEN = "SELECT 'a\\'' ; DELETE FROM items; -- '";
  beforeAll(async () => {
    server.psql(`create table kept (id int); insert into kept values (1), (2);
      create function sneaky() returns void language plpgsql as $$ begin perform set_config('standard_conforming_strings', 'off', false); end $$;`);
    doGate = await startConfiguredGate(server, gateConfig(server, {
      classes: ['read', 'function', 'utility', 'transaction'],
      role: { tables: { allow: ['*'] } },
    }));
  }, 60_000);
  afterAll(async () => { await doGate?.close(); });
  beforeEach(() => { server.psql('truncate kept; insert into kept values (1), (2)'); });

  /** Sends `frames` in one write; reads until the session ends or `readies` ReadyForQuery came. */
  const pipelined = (frames: Buffer[], readies: number) => RawPgClient.pipelined(doGate.broker, frames, readies);
  const hidden = (sql: string) => sql.replace('items', 'kept');
  // One statement (a Parse takes no more): a WITH whose DELETE is inside a string literal to policy.
  const HIDDEN_ONE = "WITH d AS (SELECT 'a\\'' ), e AS (DELETE FROM kept RETURNING 1) SELECT 1 FROM e -- ') SELECT 1 FROM d";
  const count = () => server.psql('select count(*) from kept').trim();

  it('simple protocol: DO, then the hidden DELETE in the same write', async () => {
    await pipelined([bytes.query(DO), bytes.query(hidden(HIDDEN))], 2);
    expect(count()).toBe('2');
  });

  it('simple protocol: a call of a plpgsql function, then the hidden DELETE', async () => {
    await pipelined([bytes.query('SELECT sneaky()'), bytes.query(hidden(HIDDEN))], 2);
    expect(count()).toBe('2');
  });

  it('extended protocol: DO and the hidden DELETE in one batch', async () => {
    const out = await pipelined([
      bytes.parse('', DO), bytes.bind('', '', []), bytes.execute(),
      bytes.parse('', HIDDEN_ONE), bytes.bind('', '', []), bytes.execute(), bytes.sync(),
    ], 1);
    expect(count()).toBe('2');
    expect(out).toContain('rule: unseen_settings');
  });

  it('extended protocol: DO, Sync, then the hidden DELETE in the same write', async () => {
    await pipelined([
      bytes.parse('', DO), bytes.bind('', '', []), bytes.execute(), bytes.sync(),
      bytes.parse('', HIDDEN_ONE), bytes.bind('', '', []), bytes.execute(), bytes.sync(),
    ], 2);
    expect(count()).toBe('2');
  });

  it('extended protocol: a call of a plpgsql function, Sync, then the hidden DELETE in the same write', async () => {
    await pipelined([
      bytes.parse('', 'SELECT sneaky()'), bytes.bind('', '', []), bytes.execute(), bytes.sync(),
      bytes.parse('', HIDDEN_ONE), bytes.bind('', '', []), bytes.execute(), bytes.sync(),
    ], 2);
    expect(count()).toBe('2');
  });

  it('a DO block that changes nothing: the statement behind it runs after it', async () => {
    const out = await pipelined([bytes.query('DO $$ BEGIN PERFORM 1; END $$'), bytes.query('SELECT count(*) AS n FROM kept')], 2);
    expect(out).toMatch(/C:DO[\s\S]*Z:I[\s\S]*D:[\s\S]*C:SELECT 1[\s\S]*Z:I/);
  });
});
