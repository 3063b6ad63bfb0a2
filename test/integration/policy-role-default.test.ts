/**
 * `ALTER ROLE me SET role = 'vault'` (or ALTER DATABASE … SET role) makes every later session of the upstream
 * user start as vault, and `"$user"` in the server's default path (`"$user", public`) then names schema vault:
 * `SELECT name FROM items` read vault.items. Policy took it as any role-membership change (the absent schemas
 * the path names may resolve) and judged items in public and the user's own schema, which the allow list
 * covered. Now it is as an ALTER ROLE … RESET search_path: the path new sessions resolve in is asked again
 * before the next statement is judged (ServerPath.stale).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, gateConfig, queryEach, startConfiguredGate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create table items (id int, name text); insert into items values (1, 'public-row');
    create role vault; create schema vault authorization vault; create table vault.items (id int, name text);
    insert into vault.items values (1, 'VAULT-SECRET'); grant select on vault.items to vault; grant select on public.items to vault;
    grant vault to current_user;`);
  gate = await startConfiguredGate(server, gateConfig(server, {
    classes: ['read', 'dcl', 'utility', 'transaction'],
    role: { tables: { allow: ['public.*', `${server.superuser}.*`] } },
  }));
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

const run = (sqls: string[]) => queryEach(gate, sqls);

describe('ALTER ROLE … SET role: the next session starts as that role', () => {
  it('its "$user" schema is judged too, so items there is not read', async () => {
    try {
      expect(await run([`ALTER ROLE "${server.superuser}" SET role = 'vault'`])).toEqual([[]]);
      const [read] = await run(['SELECT name FROM items']);
      expect(JSON.stringify(read)).not.toContain('VAULT-SECRET');
      expect(read).toMatchObject({ code: '42501', message: expect.stringMatching(/table items is not in the allow list \(looked up in .*\bvault\b/) });
    } finally {
      // The harness's psql is not a superuser; the session is, once back from vault.
      await run(['RESET ROLE', `ALTER ROLE "${server.superuser}" RESET role`]);
    }
  });
});
