/**
 * Functions called as fields. PostgreSQL reads `(expr).name` as the field `name` of a composite value, and
 * otherwise as the call `name(expr)` (attribute notation, parse_func.c ParseFuncOrColumn), as it reads `x.name`
 * where x is a function in FROM (its whole row is the function's result). The parse tree holds no FuncCall there,
 * so policy judged `SELECT ('PG_VERSION').pg_read_file` a plain read: a role allowed only `read` read the server's
 * files, advanced sequences and called any function of one argument (dblink_exec, a user's purge function …).
 * Now the broker asks the catalog which of such names are functions, and policy judges those as calls.
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, gateConfig, pgClient, startConfiguredGate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;
/** A gate whose role may also run DDL (create functions), still without the function class. */
let ddlGate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create sequence public.s;
    create type public.address as (city text, zip text);
    create table public.people (id int, home public.address); insert into public.people values (1, ('Paris', '75001'));
    create schema vault; create table vault.cards (pan text); insert into vault.cards values ('4111111111111111');
    create function public.wipe_cards(text) returns bigint language sql as 'with d as (delete from vault.cards returning 1) select count(*) from d';
    create type public.reading as ("time" text, money text);
    create table public.events (id int, "timestamp" text, payload public.reading); insert into public.events values (1, 'noon', ('9:00', '12.50'));`);
  // A role that may only read public (the realistic read-only grant): no function class, vault denied.
  gate = await startConfiguredGate(server, gateConfig(server, { classes: ['read', 'utility', 'transaction'], role: { tables: { allow: ['public.*'], deny: ['vault.*'] } } }));
  ddlGate = await startConfiguredGate(server, gateConfig(server, { classes: ['read', 'ddl', 'utility', 'transaction'], role: { tables: { allow: ['public.*'], deny: ['vault.*'] } } }));
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await ddlGate?.close();
  await server?.stop();
});

const refusedAsCall = (fn: string) => ({ code: '42501', message: expect.stringContaining(`may not call ${fn} (class function)`) });

async function withClient<T>(fn: (c: pg.Client) => Promise<T>, through: Gate = gate): Promise<T> {
  const c = await pgClient(through);
  try { return await fn(c); } finally { await c.end(); }
}

describe('a function called as a field', () => {
  it('(expr).name is refused as the call name(expr): the server read no file and advanced no sequence', async () => {
    await withClient(async (c) => {
      // pg_read_file reads the server's files (PG_VERSION, relative to its data directory).
      await expect(c.query("select ('PG_VERSION').pg_read_file")).rejects.toMatchObject(refusedAsCall('pg_read_file'));
      await expect(c.query("select ('public.s'::regclass).nextval")).rejects.toMatchObject(refusedAsCall('nextval'));
      await expect(c.query("select (('public.s'::regclass)).\"nextval\"")).rejects.toMatchObject(refusedAsCall('nextval'));
      // Its argument from a table's column, or a bind parameter (extended protocol).
      await expect(c.query('select (p.id::regclass).nextval from public.people p')).rejects.toMatchObject(refusedAsCall('nextval'));
      await expect(c.query('select ($1::text).pg_read_file', ['PG_VERSION'])).rejects.toMatchObject(refusedAsCall('pg_read_file'));
      // A user's function of one argument, which deletes from a denied table.
      await expect(c.query("select ('x').wipe_cards")).rejects.toMatchObject(refusedAsCall('wipe_cards'));
    });
    expect(server.psql('select is_called from public.s').trim()).toBe('f');
    expect(server.psql('select count(*) from vault.cards').trim()).toBe('1');
  });

  it('x.name of a function in FROM is refused as the call name(x)', async () => {
    await withClient(async (c) => {
      await expect(c.query("select x.nextval from lower('public.s') x")).rejects.toMatchObject(refusedAsCall('nextval'));
      await expect(c.query("select lower.nextval from lower('public.s')")).rejects.toMatchObject(refusedAsCall('nextval'));
      await expect(c.query("select u.pg_read_file from unnest(array['PG_VERSION']) u")).rejects.toMatchObject(refusedAsCall('pg_read_file'));
    });
    expect(server.psql('select is_called from public.s').trim()).toBe('f');
  });

  it('through PREPARE and EXECUTE, and a cursor', async () => {
    await withClient(async (c) => {
      await expect(c.query("prepare p as select ('public.s'::regclass).nextval")).rejects.toMatchObject(refusedAsCall('nextval'));
      await expect(c.query('execute p')).rejects.toMatchObject({ code: '42501' });
      await c.query('begin');
      await expect(c.query("declare k cursor for select ('PG_VERSION').pg_read_file")).rejects.toMatchObject(refusedAsCall('pg_read_file'));
      await c.query('rollback');
    });
    expect(server.psql('select is_called from public.s').trim()).toBe('f');
  });

  it('fields that name no function still read as fields', async () => {
    await withClient(async (c) => {
      expect((await c.query('select (p.home).city from public.people p')).rows).toEqual([{ city: 'Paris' }]);
      // pgjdbc's getPrimaryKeys and getIndexInfo read _pg_expandarray's fields this way.
      expect((await c.query('select (k.keys).x, (information_schema._pg_expandarray(array[7])).n from (select information_schema._pg_expandarray(array[7]) as keys) k')).rows)
        .toEqual([{ x: 7, n: 1 }]);
      expect((await c.query(`select e.key, e.value from jsonb_each('{"a": 1}') e`)).rows).toEqual([{ key: 'a', value: 1 }]);
      // name(text) and the like, pg_catalog's immutable conversions, are casts by another spelling.
      expect((await c.query("select ('abc'::text).name")).rows).toEqual([{ name: 'abc' }]);
    });
  });

  it('fields named like pg_catalog\'s stable casts, and columns a function in FROM is given, read as such', async () => {
    await withClient(async (c) => {
      // timestamp(timestamptz), time(timestamptz) and money(numeric) are stable casts: a field of the name is read.
      expect((await c.query('select (e).timestamp from public.events e')).rows).toEqual([{ timestamp: 'noon' }]);
      expect((await c.query('select (e.payload).time, (x).money from public.events e, (select (payload).* from public.events) x')).rows)
        .toEqual([{ time: '9:00', money: '12.50' }]);
      // A column the alias names is read before any function of the name.
      expect((await c.query('select r.timestamp from unnest(array[now()]) as r("timestamp")')).rows).toHaveLength(1);
      expect((await c.query('select r.nextval from unnest(array[1]) as r(nextval)')).rows).toEqual([{ nextval: 1 }]);
      // pg_dump 15's shape.
      expect((await c.query("select src.tbloid from unnest('{1259}'::pg_catalog.oid[]) as src(tbloid)")).rows).toEqual([{ tbloid: 1259 }]);
    });
    // A column of another name, or of another FROM item of the same name, does not make the call a column.
    await withClient(async (c) => {
      await expect(c.query("select r.nextval from unnest(array['public.s']) as r(x)")).rejects.toMatchObject(refusedAsCall('nextval'));
      await expect(c.query("select (select r.nextval from lower('public.s') r) from unnest(array[1]) as r(nextval)"))
        .rejects.toMatchObject(refusedAsCall('nextval'));
    });
    expect(server.psql('select is_called from public.s').trim()).toBe('f');
  });

  it('a function created through the listener counts at once, though the listener keeps its answers a minute', async () => {
    await withClient(async (c) => {
      // Not a function yet: a field of text, which has none (42809; the answer "not a function" is kept).
      await expect(c.query("select ('x').fresh_fn")).rejects.toMatchObject({ code: '42809' });
      await c.query("create function public.fresh_fn(text) returns text language sql as 'select $1'");
      await expect(c.query("select ('x').fresh_fn")).rejects.toMatchObject(refusedAsCall('fresh_fn'));
      // In a transaction: what was asked before its COMMIT is not kept past it.
      await expect(c.query("select ('x').fresh_tx")).rejects.toMatchObject({ code: '42809' });
      await c.query('begin');
      await c.query("create function public.fresh_tx(text) returns text language sql as 'select $1'");
      await c.query('commit');
      await expect(c.query("select ('x').fresh_tx")).rejects.toMatchObject(refusedAsCall('fresh_tx'));
    }, ddlGate);
  });

  it('after DDL in its open transaction or earlier in its string, a field counts as a call (a side connection sees no function created there)', async () => {
    await withClient(async (c) => {
      await c.query('begin');
      await c.query("create function public.unseen_tx(text) returns text language sql as 'select $1'");
      await expect(c.query("select ('x').unseen_tx")).rejects.toMatchObject(refusedAsCall('unseen_tx'));
      await c.query('rollback');
      await expect(c.query("create function public.unseen_str(text) returns text language sql as 'select $1'; select ('x').unseen_str"))
        .rejects.toMatchObject(refusedAsCall('unseen_str'));
      // Outside it, a field is read as before.
      expect((await c.query('select (p.home).city from public.people p')).rows).toEqual([{ city: 'Paris' }]);
    }, ddlGate);
  });
});
