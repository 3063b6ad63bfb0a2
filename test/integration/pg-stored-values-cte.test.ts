/**
 * masking.stored_values, with a CTE named like the written table. The target of an UPDATE, INSERT … ON CONFLICT
 * or MERGE is always that table (analyze.c setTargetTable), and its SET reads that table's row; the stored-values
 * walk took the name for the CTE and saw no table, so a column rule naming the table's column did not apply:
 * `WITH cards AS (SELECT 1) UPDATE cards SET note = secret_code` copied the value into an unruled column, which
 * then came back in clear. Nor did a rule apply where a CTE's own query (or one before a later CTE of the name)
 * reads the table: the walk took every name of a WITH for a CTE in all of it. Through the broker's own hooks
 * against a real PostgreSQL.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, gateConfig, pgClient, startConfiguredGate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;
const CODE = 'K9Z-ALPHA-SECRET';

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create table cards (id int primary key, secret_code text, note text); insert into cards values (1, '${CODE}', 'plain note');
    create table items (id int, name text); insert into items values (1, 'item 1');`);
  gate = await startConfiguredGate(server, gateConfig(server, {
    classes: ['read', 'write', 'transaction', 'utility'],
    rules: [{ name: 'code', columns: ['public.cards.secret_code'], format: 'full' }],
  }));
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

it('a value of a ruled column stays refused from being stored when a CTE has its table\'s name', async () => {
  const c = await pgClient(gate);
  try {
    for (const sql of [
      'WITH cards AS (SELECT 1) UPDATE cards SET note = secret_code WHERE id = 1',
      "WITH cards AS (SELECT 1) INSERT INTO cards VALUES (1, 'x', 'y') ON CONFLICT (id) DO UPDATE SET note = cards.secret_code",
      'WITH cards AS (SELECT 1) MERGE INTO cards c USING items i ON c.id = i.id WHEN MATCHED THEN UPDATE SET note = c.secret_code',
    ]) await expect(c.query(sql), sql).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('code') });
  } finally {
    await c.end();
  }
  expect(server.psql('select note from cards').trim()).toBe('plain note');
});

it('a CTE\'s own query, and one before a later CTE of the name, read the table: its values are judged as the table\'s', async () => {
  // Non-recursive: inside `cards AS (…)` the name is the table cards, as it is in a CTE before the one named so.
  // The walk put every name of the WITH in scope for all of it, and stored the secret into notes.
  server.psql("create table if not exists notes (id int primary key, body text); delete from notes; insert into notes values (1, 'hello');");
  const c = await pgClient(gate);
  try {
    for (const sql of [
      'WITH cards AS (SELECT secret_code AS x FROM cards) UPDATE notes SET body = (SELECT x FROM cards) WHERE id = 1',
      'WITH cards AS (SELECT secret_code AS x FROM cards) INSERT INTO notes SELECT 2, x FROM cards',
      'WITH u AS (UPDATE notes SET body = (SELECT secret_code FROM cards WHERE id = 1) WHERE id = 1 RETURNING 1), cards AS (SELECT 1) SELECT * FROM u',
    ]) await expect(c.query(sql), sql).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('code') });
    expect(server.psql('select body from notes').trim()).toBe('hello');
    // Where the name is the CTE (RECURSIVE: its own query too), its columns are the CTE's, stored as they are.
    await c.query('WITH RECURSIVE cards AS (SELECT 1 AS id, 2 AS secret_code) UPDATE notes SET body = (SELECT secret_code FROM cards) WHERE id = 1');
    await c.query('WITH x AS (SELECT id, note FROM cards) INSERT INTO notes SELECT id + 10, note FROM x');
    expect(server.psql('select body from notes order by id').trim()).toBe('2\nplain note');
  } finally {
    await c.end();
  }
});
