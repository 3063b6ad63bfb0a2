/**
 * An expression stored to run later in whoever uses it (a view, a column DEFAULT, a rule, a row policy, a
 * BEGIN ATOMIC function body) that sets search_path or the role changes that session's unqualified names
 * where policy cannot see it: the server reports neither setting. The quoted body of a LANGUAGE sql function
 * doing so was refused at its CREATE (classify.ts bodySetsCallerState); the others were judged as a SET run
 * at the CREATE, so under `tables.allow: [public.*]` a view's set_config sent a later `SELECT secret FROM
 * items` to vault.items. Now they are refused as the function body is (rule sql_text).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, gateConfig, pgClient, startConfiguredGate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create schema vault; create table vault.items (secret text); insert into vault.items values ('VAULT-SECRET');
    create table public.items (secret text); insert into public.items values ('public-row'); create table public.t (a text);`);
  gate = await startConfiguredGate(server, gateConfig(server, {
    classes: ['read', 'write', 'ddl', 'dcl', 'utility', 'transaction'],
    role: { tables: { allow: ['public.*'] }, functions: { allow: ['set_config'] } },
  }));
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

const SETS_PATH = "set_config('search_path', 'vault, public', false)";

describe('a stored expression that sets search_path for whoever runs it', () => {
  it('a view: its CREATE is refused, so a later unqualified name is not read in vault', async () => {
    const c = await pgClient(gate);
    try {
      await expect(c.query(`CREATE VIEW public.v AS SELECT ${SETS_PATH} AS x`)).rejects.toMatchObject({ message: expect.stringContaining('rule sql_text') });
      // Another session (or this one later) reads the view, then an unqualified name: had the view been
      // made, the caller's path would now be vault first.
      const other = await pgClient(gate);
      try {
        await other.query('SELECT * FROM public.v').catch(() => undefined);
        const rows = (await other.query('SELECT secret FROM items')).rows as Array<{ secret: string }>;
        expect(rows.map((r) => r.secret)).toEqual(['public-row']);
      } finally { await other.end(); }
    } finally { await c.end(); }
  });

  for (const ddl of [
    `CREATE FUNCTION public.f() RETURNS text LANGUAGE sql BEGIN ATOMIC SELECT ${SETS_PATH}; END`,
    `ALTER TABLE public.t ALTER COLUMN a SET DEFAULT ${SETS_PATH}`,
    `CREATE RULE r AS ON INSERT TO public.t DO ALSO SELECT ${SETS_PATH}`,
    "CREATE VIEW public.w AS SELECT set_config('role', 'postgres', false) AS x",
  ]) {
    it(`refused: ${ddl.slice(0, 60)}…`, async () => {
      const c = await pgClient(gate);
      try {
        await expect(c.query(ddl)).rejects.toMatchObject({ message: expect.stringContaining('rule sql_text') });
      } finally { await c.end(); }
    });
  }

  it('set_config run now (a SELECT) is still judged as the SET, and a view without one is made', async () => {
    const c = await pgClient(gate);
    try {
      await c.query('CREATE VIEW public.plain AS SELECT 1 AS x');
      await c.query(`SELECT ${SETS_PATH}`);
      // The session may now resolve in vault: an unqualified name there is not allowed.
      await expect(c.query('SELECT secret FROM items')).rejects.toMatchObject({ message: expect.stringContaining('tables') });
    } finally { await c.end(); }
  });
});
