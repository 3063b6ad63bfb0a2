/**
 * Masking follows a value to the client, not into another table or a view: `INSERT INTO notes SELECT cvv FROM
 * cards` and then `SELECT body FROM notes` returned the CVV, since notes.body has no rule (a qualified rule or
 * a SAD name names the source column only). Through the broker's own hooks against a real PostgreSQL, a
 * statement that would store values made from a column masked for the role is refused (42501, rule
 * `masking.stored_values`, recorded as denied) and nothing is stored; writes that keep such values in a column
 * masked in full, or store values of unruled columns (a whole row of a table without ruled columns too), run.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, gateConfig, readLog, run, startConfiguredGate, until } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;
const CVV = '739';
const ACCOUNT = 'AC-0001-7788';
const CODE = 'K9Z-ALPHA';
const REF = 'REF-5566';

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create table cards (id int primary key, cvv text, account_no text, secret_code text, note text);
    insert into cards values (1, '${CVV}', '${ACCOUNT}', '${CODE}', 'plain note'), (2, '123', 'AC-2', 'CODE-2', 'second');
    create table notes (id int primary key, body text); insert into notes values (1, 'hello');
    create schema s_other; grant all on schema s_other to public; create table t_parent (id int, secret_code text);
    create table t_part (id int, cvv text, account_no text, secret_code text, note text) partition by range (id);
    create table refs (id int, ref_code text); insert into refs values (1, '${REF}');`);
  gate = await startConfiguredGate(server, gateConfig(server, {
    classes: ['read', 'write', 'ddl', 'transaction', 'utility'],
    rules: [
      { name: 'account', columns: ['account_no'], format: 'full' },
      { name: 'code', columns: ['public.cards.secret_code'], format: 'last4' },
      { name: 'ref', columns: ['public.refs.ref_code'], format: 'full' },
    ],
  }));
}, 120_000);

afterAll(async () => {
  await gate?.close().catch(() => undefined);
  await server?.stop();
});

async function client(): Promise<pg.Client> {
  const c = new pg.Client({ host: gate.broker.host, port: gate.broker.port, user: gate.broker.user, password: gate.broker.secret, database: gate.broker.database });
  await c.connect();
  return c;
}

async function attempt(sql: string, values?: unknown[]): Promise<{ code?: string; message: string } | null> {
  const c = await client();
  try {
    await c.query(sql, values);
    return null;
  } catch (e) {
    return e as { code?: string; message: string };
  } finally { await c.end(); }
}

/**
 * Everything the database holds outside cards, as text: where a copied value would land; and what cards is
 * called, its columns, parents and triggers: a name a rule no longer matches.
 */
const elsewhere = () => server.psql(`select coalesce(string_agg(n::text, ' ' order by id), '') from notes n;
  select string_agg(relname, ' ') from pg_class where relname ~ '^(t|v)_' and relkind in ('r', 'v', 'm');
  select string_agg(attname, ' ' order by attrelid, attnum) from pg_attribute where attrelid in ('public.cards'::regclass, 'public.notes'::regclass) and attnum > 0;
  select count(*) from pg_inherits; select count(*) from pg_trigger where not tgisinternal`);

describe('storing values of masked columns elsewhere', () => {
  it.each([
    ['INSERT … SELECT of a SAD column', 'insert into notes (id, body) select id + 10, cvv from cards'],
    ['INSERT … SELECT of a computed ruled column', "insert into notes select id + 10, account_no || '' from cards"],
    ['a scalar subquery in VALUES', 'insert into notes values (10, (select cvv from cards where id = 1))'],
    ['UPDATE … SET from a subquery', 'update notes set body = (select account_no from cards where id = 1)'],
    ['CREATE TABLE AS under another name', 'create table t_copy as select account_no as x from cards'],
    ['SELECT INTO of a qualified rule\'s column', 'select secret_code as s into t_into from cards'],
    ['a view that renames the column', 'create view v_cards as select id, account_no as a from cards'],
    ['a materialized view', 'create materialized view t_mat as select cvv as x from cards'],
    ['a whole row (SELECT *)', 'create table t_all as select * from cards'],
    ['a subquery\'s star', 'insert into notes select * from (select id + 10, cvv from cards) s'],
    ['a data-modifying WITH', 'with d as (insert into notes select id + 10, cvv from cards returning 1) select count(*) from d'],
    ['MERGE', 'merge into notes n using cards c on n.id = c.id when matched then update set body = c.account_no'],
    ['ON CONFLICT DO UPDATE', "insert into notes values (1, 'x') on conflict (id) do update set body = (select cvv from cards where id = 1)"],
    ['a last4 target (a computation picks the digits it keeps)', 'update cards set secret_code = reverse(secret_code)'],
    ['a generated column', "alter table cards add column y text generated always as (cvv || '') stored"],
    ['ALTER COLUMN … TYPE … USING', 'alter table cards alter column note type text using account_no'],
    // The values stay where they are, under a name no rule matches any more: `SELECT x FROM cards` returned them.
    ['RENAME COLUMN of a SAD column', 'alter table cards rename column cvv to x'],
    ['RENAME COLUMN of a ruled column', 'alter table cards rename column account_no to acct'],
    ['RENAME TO of a table a qualified rule names', 'alter table cards rename to t_renamed'],
    ['SET SCHEMA', 'alter table cards set schema s_other'],
    ['INHERIT (the parent\'s scans return its rows)', 'alter table cards inherit t_parent'],
    ['ATTACH PARTITION', 'alter table t_part attach partition cards for values from (0) to (100)'],
    // An updatable view's column is its base column: `insert into v_through (id, cvv) select id, cvv from cards`
    // took the exemption of a SAD-named target and stored the CVV in notes.body.
    ['a view that gives an unruled column a SAD name', 'create view v_through as select id, body as cvv from notes'],
    ['a view that names a star\'s columns so', 'create view v_through (id, cvv) as select * from notes'],
    ['a RENAME COLUMN to a SAD name (of a view: its base column keeps its name)', 'alter table notes rename column body to cvv'],
    ['a trigger whose function stores the row', "create trigger t_tg before update on cards for each row execute function tsvector_update_trigger(note, 'pg_catalog.simple', cvv)"],
  ])('%s is refused and stores nothing', async (_, sql) => {
    const before = elsewhere();
    const cardsBefore = server.psql('select * from cards order by id');
    const e = await attempt(sql);
    expect(e).toMatchObject({ code: '42501', message: expect.stringContaining('masking rule') });
    expect(e!.message).not.toContain(CVV);
    expect(elsewhere()).toBe(before);
    expect(server.psql('select * from cards order by id')).toBe(cardsBefore);
  });

  it('through the extended protocol, a prepared statement and CREATE TABLE AS EXECUTE too', async () => {
    expect(await attempt('insert into notes select $1::int, cvv from cards where id = 1', [20])).toMatchObject({ code: '42501' });
    const r = await run('psql', ['-X', '-At', '-c', 'prepare q as select cvv from cards', '-c', 'create table t_exec as execute q'], gate.env);
    expect(r.stderr).toContain('masking rule');
    expect(await attempt('prepare w as insert into notes select id + 10, cvv from cards')).toMatchObject({ code: '42501' });
    expect(server.psql("select count(*) from pg_class where relname = 't_exec'").trim()).toBe('0');
    expect(server.psql('select count(*) from notes').trim()).toBe('1');
  });

  it('a target a qualified rule names hides values only in the schema written: unqualified, a temp table may take them', async () => {
    const c = await client();
    try {
      await c.query('create temp table refs (ref_code text)');
      await expect(c.query('insert into refs (ref_code) select ref_code from public.refs')).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('masking rule ref') });
      expect((await c.query({ text: 'select * from refs', rowMode: 'array' })).rows).toEqual([]);
      await c.query('insert into public.refs (ref_code) select ref_code from public.refs');
      expect((await c.query({ text: 'select ref_code from public.refs', rowMode: 'array' })).rows).toEqual([['***-****'], ['***-****']]);
    } finally { await c.end(); }
  });

  it('a whole row stored after a table\'s definition changed in the transaction or the string is refused: the catalog does not show the new column', async () => {
    server.psql('create table t_src (id int, body text); create table t_dst (a int, b text, c text)');
    const c = await client();
    try {
      // One string: ADD COLUMN cvv, a SAD-named target, then the whole row into t_dst (its c held the CVV).
      await expect(c.query('alter table t_src add column cvv text; insert into t_src (id, cvv) select id, cvv from cards; insert into t_dst select * from t_src'))
        .rejects.toMatchObject({ code: '42501', message: expect.stringContaining('masking rule sad') });
      await c.query('begin');
      await c.query('alter table t_src add column cvv text');
      await c.query('insert into t_src (id, cvv) select id, cvv from cards');
      await expect(c.query('insert into t_dst select * from t_src')).rejects.toMatchObject({ code: '42501' });
      await c.query('rollback');
      // A transaction that only wrote rows: the catalog's columns are the table's.
      await c.query('begin');
      await c.query("insert into t_src values (5, 'plain')");
      await c.query('insert into t_dst select * from t_src');
      await c.query('commit');
    } finally { await c.end(); }
    expect(server.psql('select * from t_dst').trim()).toBe('5|plain|');
  });

  it('is recorded as denied with its rule', async () => {
    await attempt('insert into notes (id, body) select 30, cvv from cards where id = 1');
    // (a statement that names a SAD column keeps none of its literals in the record)
    const recorded = "insert into notes (id, body) select '[redacted]', cvv from cards where id = '[redacted]'";
    await until(() => readLog(gate.home).some((r) => r.type === 'pg.query' && (r.detail as { sql?: string }).sql === recorded));
    const rec = readLog(gate.home).find((r) => r.type === 'pg.query' && (r.detail as { sql?: string }).sql === recorded)!;
    expect(rec).toMatchObject({ outcome: 'denied', detail: { rule: 'masking.stored_values', sqlstate: '42501' } });
  });

  it('writes that keep masked values masked, or store unruled values, run', async () => {
    const c = await client();
    try {
      // Into a column masked in full (a SAD name, a full rule): read back, it is masked as before.
      await c.query("update cards set cvv = null where id = 2");
      await c.query('update cards set account_no = upper(account_no) where id = 2');
      await c.query("insert into notes select id + 100, note || '!' from cards");
      await c.query('insert into notes select id + 200, body from notes where id < 200');
      await c.query('create table t_notes as select * from notes');
      await c.query('update notes set id = id + 1000 where id = 1');
      // A new table's column named as a SAD column, or by a full rule's name: masked wherever it is read.
      await c.query('create temp table t_sad as select cvv, account_no, id from cards');
      expect((await c.query({ text: 'select * from t_sad order by id', rowMode: 'array' })).rows).toEqual([['***', '**-****-****', 1], [null, '**-*', 2]]);
      // The same target unnamed (its columns by position): not known from the text, refused.
      await expect(c.query('insert into t_sad select cvv, account_no, id from cards')).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('INSERT INTO t (col)') });
      await c.query('insert into t_sad (cvv, account_no, id) select cvv, account_no, id + 10 from cards');
      expect((await c.query({ text: 'select id, body from notes order by id', rowMode: 'array' })).rows)
        .toEqual([[101, 'plain note!'], [102, 'second!'], [201, 'hello'], [301, 'plain note!'], [302, 'second!'], [1001, 'hello']]);
      expect((await c.query({ text: 'select cvv, account_no from cards where id = 2', rowMode: 'array' })).rows).toEqual([[null, '**-*']]);
      // Renames that keep every rule matching, and of tables without ruled columns; a trigger on such a table.
      await c.query('alter table t_sad rename column cvv to card_cvv');
      await c.query('create table t_plain (id int, b text)');
      await c.query('alter table t_plain rename column b to body');
      await c.query('alter table t_plain rename to t_plain2');
      await c.query('alter table t_plain2 set schema s_other');
      await c.query('create trigger t_tg before update on s_other.t_plain2 for each row execute function suppress_redundant_updates_trigger()');
      // A trigger naming a column the table does not have yet: cvv added and stored afterwards, tsv would hold it.
      await c.query('create table t_tsv (id int, tsv tsvector)');
      await expect(c.query("create trigger t_tg before insert on t_tsv for each row execute function tsvector_update_trigger(tsv, 'pg_catalog.simple', cvv)"))
        .rejects.toMatchObject({ code: '42501', message: expect.stringContaining('masking rule sad') });
      await c.query('create view v_plain as select n.id, n.body as text from notes n');
      await c.query('create view v_cards (card_id, cvv) as select id, cvv from cards');
    } finally { await c.end(); }
    expect(server.psql("select account_no from cards where id = 2").trim()).toBe('AC-2');
    expect(server.psql('select count(*) from t_notes').trim()).toBe('6');
  });
});

describe('relations renamed or moved keep SAD names and name rules', () => {
  it('a table without columns a qualified rule names is renamed and moved, and stays masked', async () => {
    server.psql(`create table wallet (id int, cvv text, account_no text); insert into wallet values (1, '${CVV}', '${ACCOUNT}'); create schema archive;`);
    expect(await attempt('alter table wallet rename to wallet_old')).toBeNull();
    expect(await attempt('alter table wallet_old set schema archive')).toBeNull();
    const c = await client();
    try {
      expect((await c.query({ text: 'select cvv, account_no from archive.wallet_old', rowMode: 'array' })).rows).toEqual([['***', '**-****-****']]);
    } finally { await c.end(); }
    // cards has a column the qualified rule public.cards.secret_code names: under another name it would not match.
    expect(await attempt('alter table cards rename to cards_old')).toMatchObject({ code: '42501' });
  });
});
