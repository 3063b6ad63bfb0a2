/**
 * A CTE named like the table an INSERT, UPDATE, DELETE or MERGE writes. PostgreSQL's target is always a table
 * (analyze.c setTargetTable), never a CTE: `WITH secrets AS (SELECT 1) DELETE FROM secrets …` deletes from the
 * table secrets. Policy's walk treated the target as the CTE and saw no table at all, so a role allowed to write
 * public except secrets (and the column cards.pan) wrote and read them. Through the real proxy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, gateConfig, pgClient, startConfiguredGate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create table public.secrets (id int, s text); insert into public.secrets values (1, 'TOP-SECRET-ROW');
    create table public.cards (id int, pan text); insert into public.cards values (1, 'PAN-SECRET-1');
    create table public.items (id int, name text); insert into public.items values (1, 'item 1');`);
  gate = await startConfiguredGate(server, gateConfig(server, {
    classes: ['read', 'write', 'utility', 'transaction'],
    role: { tables: { allow: ['public.*'], deny: ['public.secrets'] }, columns: { deny: ['cards.pan'] } },
  }));
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

describe('the target of a write, hidden behind a CTE of its name', () => {
  it('is judged as the table it is: denied tables and columns stay denied', async () => {
    const c = await pgClient(gate);
    try {
      for (const sql of [
        'WITH secrets AS (SELECT 1) DELETE FROM secrets WHERE id > 0 RETURNING s',
        "WITH secrets AS (SELECT 1) UPDATE secrets SET s = 'x' WHERE id > 0 RETURNING s",
        "WITH secrets AS (SELECT 1) INSERT INTO secrets VALUES (2, 'planted')",
        'WITH secrets AS (SELECT 1) MERGE INTO secrets t USING items i ON t.id = i.id WHEN MATCHED THEN DELETE',
        'SELECT * FROM (WITH secrets AS (SELECT 1), d AS (DELETE FROM secrets WHERE id > 0 RETURNING s) SELECT * FROM d) q',
      ]) await expect(c.query(sql), sql).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('public.secrets') });
      await expect(c.query('WITH cards AS (SELECT 1) UPDATE cards SET id = id WHERE id > 0 RETURNING pan')).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('cards.pan') });
      // A CTE still hides a table where the server reads the CTE, and other writes pass.
      expect((await c.query('WITH secrets AS (SELECT 1 AS id) UPDATE items SET name = name FROM secrets WHERE items.id = secrets.id RETURNING items.name')).rows).toEqual([{ name: 'item 1' }]);
    } finally {
      await c.end();
    }
    expect(server.psql('select id, s from public.secrets').trim()).toBe('1|TOP-SECRET-ROW');
  });
});
