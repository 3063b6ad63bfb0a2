/**
 * Locks a read-only role could take. PostgreSQL asks UPDATE (or DELETE, TRUNCATE) privilege for LOCK in any mode
 * above ACCESS SHARE and for SELECT … FOR UPDATE / SHARE, since they hold writers (or everyone) off until the
 * transaction ends, and the owner's for VACUUM FULL, which rewrites a table under an ACCESS EXCLUSIVE lock; policy
 * read them as what a `read` and `utility` grant allows, so a role allowed only to read public could stop the
 * application's writes to any of its tables. Through the real proxy.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, gateConfig, pgClient, startConfiguredGate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql("create table public.accounts (id int, balance int); insert into public.accounts values (1, 100);");
  gate = await startConfiguredGate(server, gateConfig(server, { classes: ['read', 'utility', 'transaction'], role: { tables: { allow: ['public.*'] } } }));
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

/** The lock modes held on public.accounts, by anyone. */
const locks = () => server.psql("select string_agg(mode, ',' order by mode) from pg_locks where relation = 'public.accounts'::regclass").trim();

it('LOCK above ACCESS SHARE and SELECT … FOR UPDATE / SHARE need the write class', async () => {
  const c = await pgClient(gate);
  try {
    await c.query('begin');
    for (const sql of ['lock table public.accounts in access exclusive mode', 'lock public.accounts', 'lock table public.accounts in row share mode',
      'select * from public.accounts for update', 'select id from public.accounts for key share skip locked', 'select * from (select * from public.accounts for share) a']) {
      await expect(c.query(sql), sql).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('may not run write') });
      expect(locks(), sql).toBe('');
      await c.query('rollback');
      await c.query('begin');
    }
    // What a SELECT takes itself, and pg_dump's LOCK, still pass.
    await c.query('lock table public.accounts in access share mode');
    expect((await c.query('select balance from public.accounts')).rows).toEqual([{ balance: 100 }]);
    expect(locks()).toBe('AccessShareLock');
    await c.query('commit');
  } finally {
    await c.end();
  }
});

it('VACUUM FULL, which rewrites a table under ACCESS EXCLUSIVE, needs the write class too', async () => {
  const filenode = () => server.psql("select pg_relation_filenode('public.accounts')").trim();
  const before = filenode();
  const c = await pgClient(gate);
  try {
    for (const sql of ['vacuum full public.accounts', 'vacuum (full, analyze) public.accounts', 'vacuum full']) {
      await expect(c.query(sql), sql).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('may not run write') });
    }
    expect(filenode()).toBe(before); // not rewritten
    await c.query('vacuum (analyze) public.accounts');
  } finally {
    await c.end();
  }
});
