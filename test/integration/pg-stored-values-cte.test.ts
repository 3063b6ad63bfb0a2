/**
 * masking.stored_values, with a CTE named like the written table. The target of an UPDATE, INSERT … ON CONFLICT
 * or MERGE is always that table (analyze.c setTargetTable), and its SET reads that table's row; the stored-values
 * walk took the name for the CTE and saw no table, so a column rule naming the table's column did not apply:
 * `WITH cards AS (SELECT 1) UPDATE cards SET note = secret_code` copied the value into an unruled column, which
 * then came back in clear. Through the broker's own hooks against a real PostgreSQL.
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
