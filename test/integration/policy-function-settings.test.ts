/**
 * A SQL function whose body sets standard_conforming_strings off changes it for the rest of the caller's
 * session. The relay ends a session on the ParameterStatus that reports such a value, but a statement the
 * client pipelined behind the call, in the same write, was decided and forwarded before that arrived: the
 * server read it with backslash escapes, policy without, and `SELECT 'a\'' ; INSERT … FROM secrets; -- '`
 * (one string literal to policy) copied a denied table. Policy reads LANGUAGE sql bodies; one that sets a
 * setting making the server misread text is refused when created, as the SET itself is (rule sql_text).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytes } from '../harness/pg-bytes.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { RawPgClient } from '../harness/raw-pg-client.js';
import { type Gate, gateConfig, pgClient, startConfiguredGate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql("create table items (id int, name text); create table secrets (s text); insert into secrets values ('TOPSECRET');");
  gate = await startConfiguredGate(server, gateConfig(server, {
    classes: ['read', 'write', 'ddl', 'utility', 'transaction'],
    role: { tables: { allow: ['public.*'], deny: ['secrets'] }, functions: { allow: ['f', 'public.f'] } },
  }));
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

describe('a function body that turns standard_conforming_strings off', () => {
  it('is refused when created, so no statement pipelined behind its call is read otherwise by the server', async () => {
    const c = await pgClient(gate);
    try {
      await expect(c.query('CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ SET standard_conforming_strings = off $$'))
        .rejects.toMatchObject({ code: '42501', message: expect.stringContaining('rule sql_text') });
    } finally { await c.end(); }
    // What it would have allowed: the call and the hidden INSERT in one write.
    const raw = await RawPgClient.login(gate.broker);
    try {
      raw.sock.write(Buffer.concat([bytes.query('SELECT f()'), bytes.query("SELECT 'a\\'' ; INSERT INTO items SELECT 999, s FROM secrets; -- '")]));
      await raw.untilReady().catch(() => []);
      await raw.untilReady().catch(() => []);
    } finally { raw.sock.destroy(); }
    expect(server.psql('select count(*) from items').trim()).toBe('0');
  });
});
