/**
 * The server's own search_path (ALTER DATABASE/ROLE … SET search_path, postgresql.conf) is where PostgreSQL
 * resolves unqualified names when the client sets none: policy must resolve them there too. With
 * `vault, public` as the database's default and a role allowed `public.*` only, `SELECT * FROM items` reads
 * vault.items on the server; policy, resolving in the built-in default (public), allowed it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, gateConfig, pgClient, startConfiguredGate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create schema vault; create table vault.items (v text); insert into vault.items values ('VAULT-ROW');
    create table public.items (v text); insert into public.items values ('public row');
    alter database ${server.database} set search_path = vault, public;`);
  gate = await startConfiguredGate(server, gateConfig(server, { classes: ['read', 'utility', 'transaction'], role: { tables: { allow: ['public.*'] } } }));
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

describe("the server's default search_path", () => {
  it('an unqualified name is resolved in it: vault.items is not read under an allow list of public.*', async () => {
    const c = await pgClient(gate);
    try {
      expect((await c.query('show search_path')).rows).toEqual([{ search_path: 'vault, public' }]);
      await expect(c.query('select v from items')).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('tables.allow') });
      expect((await c.query('select v from public.items')).rows).toEqual([{ v: 'public row' }]);
    } finally { await c.end(); }
  });
});
