/**
 * The server's search_path, continued (policy-server-search-path.test.ts has the role's or database's
 * default). PostgreSQL skips a schema of the path that does not exist and looks again at every statement:
 * under the default `"$user", public`, `t` is public.t until a schema named as the user appears, and
 * alice.t from then on, in every session. Policy learnt the path once a minute on a side connection, so a
 * session's own CREATE SCHEMA went unseen: an allow list of `public.*` let `SELECT v FROM t` read alice.t.
 * And the listener waited for that side query when starting (a silent database held `pcigate connect`),
 * then, when it failed, judged sessions in the built-in default instead of the server's path.
 */
import net from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pgHooksFor } from '../../src/broker/pg-hooks.js';
import { systemClock } from '../../src/cli/ctx.js';
import { freePort, startPostgres, type PostgresServer } from '../harness/postgres.js';
import { testCtx } from '../harness/test-ctx.js';
import { type Gate, gateConfig, pgClient, startConfiguredGate, startGate, targetOf, until } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create table public.t (v text); insert into public.t values ('public row');`);
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

// A gate of its own per test: what the listener learnt of the path stays for its life.
beforeEach(async () => {
  gate = await startConfiguredGate(server, gateConfig(server, { classes: ['read', 'write', 'ddl', 'utility', 'transaction'], role: { tables: { allow: ['public.*'] } } }));
});
afterEach(async () => {
  await gate?.close();
  server.psql(`drop schema if exists "${server.superuser}" cascade`);
});

describe('a schema of the server\'s search_path that appears mid-session', () => {
  it('CREATE SCHEMA named as the user: unqualified names may resolve there from then on, in every session', async () => {
    const before = await pgClient(gate);
    const creator = await pgClient(gate);
    try {
      // The user's schema does not exist: `t` is public.t, allowed.
      expect((await before.query('select v from t')).rows).toEqual([{ v: 'public row' }]);
      await creator.query(`create schema "${server.superuser}"`);
      // Filled by anyone (a table there is not the session's to create under public.*).
      server.psql(`create table "${server.superuser}".t (v text); insert into "${server.superuser}".t values ('USER SCHEMA ROW');`);
      for (const c of [creator, before, await pgClient(gate)]) {
        try {
          await expect(c.query('select v from t')).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('tables.allow') });
          expect((await c.query('select v from public.t')).rows).toEqual([{ v: 'public row' }]);
        } finally { if (c !== creator && c !== before) await c.end(); }
      }
    } finally {
      await before.end();
      await creator.end();
    }
  });

  it('also later in the CREATE SCHEMA\'s own query string', async () => {
    const c = await pgClient(gate);
    try {
      await expect(c.query(`create schema "${server.superuser}"; select v from t`)).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('tables.allow') });
    } finally {
      await c.end();
    }
  });
});

describe('the listener and a database that does not answer', () => {
  it('starts without waiting for it, and judges no session before it knows the server\'s path', async () => {
    server.psql('create database other');
    server.psql('alter database other set search_path = vault, public');
    server.psql(`create schema vault; create table vault.items (v text); insert into vault.items values ('VAULT-ROW');
      create table public.items (v text); insert into public.items values ('public row');`, 'other');
    // A database that accepts connections and says nothing (down behind a load balancer, say), then answers.
    let up = false;
    const held = new Set<net.Socket>();
    const relay = net.createServer((sock) => {
      if (!up) { held.add(sock); sock.on('error', () => {}); return; }
      const to = net.connect(server.port, server.host);
      sock.pipe(to).pipe(sock);
      sock.on('error', () => to.destroy());
      to.on('error', () => sock.destroy());
    });
    const port = await freePort();
    await new Promise<void>((r) => relay.listen(port, '127.0.0.1', () => r()));
    const target = targetOf(server, { host: '127.0.0.1', port, database: 'other' });
    const ref: { hooks?: Awaited<ReturnType<typeof pgHooksFor>> } = {};
    const g: Gate = await startGate(server, { target, hooksFor: (info) => ref.hooks!(info) });
    try {
      const config = gateConfig(server, { classes: ['read', 'utility', 'transaction'], role: { tables: { allow: ['public.*'] } } });
      config.connections['test-db'] = { ...config.connections['test-db']!, database: 'other', port } as never;
      // Before, this waited for the side query, which never ends while the database is silent.
      ref.hooks = await pgHooksFor(testCtx({ clock: systemClock() as never }), { config, name: 'test-db', target, home: g.home, sink: g.log });
      up = true;
      for (const s of held) s.destroy();
      const c = await pgClient(g);
      try {
        let last: { code?: string; message?: string } = {};
        // Until the side query answers, statements are refused with a clear error, never judged in public.
        await until(async () => {
          last = await c.query('select v from items').then(() => ({ code: 'ran' }), (e: { code?: string; message?: string }) => e);
          return last.code !== '58000';
        });
        expect(last).toMatchObject({ code: '42501', message: expect.stringContaining('tables.allow') });
        expect((await c.query('select v from public.items')).rows).toEqual([{ v: 'public row' }]);
      } finally { await c.end(); }
    } finally {
      await g.close();
      for (const s of held) s.destroy();
      relay.close();
    }
  });
});

describe('a schema whose name holds a comma', () => {
  it('SET search_path = "a,b" is the one schema the server reads, not the schemas a and b', async () => {
    // Policy split the value at the comma: with a.* and b.* allowed, `select v from t` ran on "a,b".t.
    server.psql(`create schema "a,b"; create table "a,b".t (v text); insert into "a,b".t values ('COMMA SCHEMA ROW'); create schema a; create schema b;`);
    const g = await startConfiguredGate(server, gateConfig(server, { classes: ['read', 'utility'], role: { tables: { allow: ['public.*', 'a.*', 'b.*'] } } }));
    const c = await pgClient(g);
    try {
      for (const set of ['set search_path = "a,b"', "set search_path = 'a,b'"]) {
        await c.query(set);
        await expect(c.query('select v from t')).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('tables.allow') });
      }
      // The list of the two schemas a and b is what a.* and b.* allow (t is public.t there: a and b are empty).
      const d = await pgClient(g);
      try {
        await d.query('set search_path = a, b, public');
        expect((await d.query('select v from t')).rows).toEqual([{ v: 'public row' }]);
      } finally { await d.end(); }
    } finally {
      await c.end();
      await g.close();
      server.psql('drop schema "a,b" cascade; drop schema a; drop schema b;');
    }
  });
});
