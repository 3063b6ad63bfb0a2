/**
 * A U&"…" identifier's UESCAPE character through the real proxy. Policy shares one decision between texts that
 * differ only in their constants (literal-key.ts), and read the string after UESCAPE as such a constant: it is
 * the escape character that decides the identifier. `SELECT * FROM U&"s!0065crets" UESCAPE '#'` names a table
 * s!0065crets (allowed under public.*, and missing), `… UESCAPE '!'` the denied table secrets, which then ran
 * on the first one's cached allow.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, gateConfig, pgClient, startConfiguredGate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql("create table public.secrets (s text); insert into public.secrets values ('TOP-SECRET-ROW');");
  gate = await startConfiguredGate(server, gateConfig(server, { classes: ['read', 'utility', 'transaction'], role: { tables: { allow: ['public.*'], deny: ['public.secrets'] } } }));
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

it('texts that differ only in a UESCAPE character are decided apart', async () => {
  const c = await pgClient(gate);
  try {
    // Allowed by policy; the server has no such table.
    await expect(c.query(`SELECT * FROM U&"s!0065crets" UESCAPE '#'`)).rejects.toMatchObject({ code: '42P01' });
    await expect(c.query(`SELECT * FROM U&"s!0065crets" UESCAPE '!'`)).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('public.secrets') });
    await expect(c.query('SELECT * FROM secrets')).rejects.toMatchObject({ code: '42501' });
  } finally {
    await c.end();
  }
});
