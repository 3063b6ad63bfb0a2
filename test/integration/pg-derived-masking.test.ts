/**
 * Column rules hold for values a statement computes from a ruled column (real PostgreSQL, the broker's own
 * hooks, pg and psql). RowDescription names a source table column only for a plain column reference; for
 * `cvv || ''`, `reverse(cvv)`, `max(account_no)`, `row_to_json(k)`, `k::text` its table OID is 0, so the rule
 * was not applied and the CVV and account number came back whole. Now such columns take the rule of the
 * ruled columns their statement names (a whole row used as a value: every column, masked in full), through
 * the simple and extended protocol, a cursor, and COPY. Computed columns of statements that name no ruled
 * column are left alone. A name rule also matches the column's source name (`account_no AS x`).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../recorder/types.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, gateConfig, readLog, run, startConfiguredGate, until } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;
const CVV = '739';
const ACCOUNT = 'AC-0001-7788';
const CODE = 'K9Z-ALPHA';
const LONG = '9876543210123';

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create table cards (id int, cvv text, account_no text, secret_code text, note text);
    insert into cards values (1, '${CVV}', '${ACCOUNT}', '${CODE}', 'plain note');
    create table notes (id int, body text); insert into notes values (1, 'hello');
    create table codes (id int, code text); insert into codes values (1, '${LONG}');`);
  gate = await startConfiguredGate(server, gateConfig(server, {
    classes: ['read', 'write', 'ddl', 'transaction', 'utility', 'copy_out'],
    rules: [
      { name: 'account', columns: ['account_no'], format: 'full' },
      { name: 'code', columns: ['public.cards.secret_code'], format: 'last4' },
      { name: 'long', columns: ['public.codes.code'], format: 'last4' },
    ],
  }));
}, 120_000);

afterAll(async () => {
  await gate?.close().catch(() => undefined);
  await server?.stop();
});

async function rows(text: string, values?: unknown[], name?: string): Promise<unknown[][]> {
  const c = new pg.Client({ host: gate.broker.host, port: gate.broker.port, user: gate.broker.user, password: gate.broker.secret, database: gate.broker.database });
  await c.connect();
  try {
    return (await c.query({ text, rowMode: 'array', ...(values ? { values } : {}), ...(name ? { name } : {}) })).rows as unknown[][];
  } finally { await c.end(); }
}

const leaks = (x: unknown) => [CVV, ACCOUNT, '7788', 'ALPHA', CODE.split('').reverse().join('')].filter((s) => JSON.stringify(x).toUpperCase().includes(s.toUpperCase()));

describe('computed columns of ruled columns', () => {
  it.each([
    ['concatenation', `select cvv || '' from cards`],
    ['a function of it', 'select reverse(cvv), upper(account_no) from cards'],
    ['an aggregate', "select max(cvv), string_agg(account_no, ',') from cards"],
    ['a cast and arithmetic', 'select cvv::int + 0 from cards'],
    ['an array', 'select array[cvv, account_no] from cards'],
    ['a qualified rule\'s column', 'select lower(secret_code) from cards'],
    ['a subquery\'s computed column', `select x from (select account_no || '' as x from cards) s`],
    ['a whole row as text', 'select k::text from cards k'],
    ['a whole row as JSON', 'select row_to_json(k)::text, to_jsonb(k) - \'cvv\' from cards k'],
    ['a renamed star in a subquery', 'select b || \'\' from (select * from cards) s(a, b)'],
    ['a scalar subquery', 'select (select cvv from cards limit 1) || \'\''],
    ['RETURNING', 'update cards set note = note where id = 1 returning cvv || \'\', upper(account_no)'],
  ])('%s is masked (simple and extended protocol)', async (_, sql) => {
    const simple = await rows(sql);
    const extended = await rows(sql, []);
    expect(simple.length).toBeGreaterThan(0);
    expect(leaks(simple)).toEqual([]);
    expect(leaks(extended)).toEqual([]);
  });

  it('a name rule holds under an alias (the source column\'s name)', async () => {
    expect(await rows('select account_no as x, note as y from cards')).toEqual([['**-****-****', 'plain note']]);
  });

  it('a named prepared statement executed twice is masked both times', async () => {
    const c = new pg.Client({ host: gate.broker.host, port: gate.broker.port, user: gate.broker.user, password: gate.broker.secret, database: gate.broker.database });
    await c.connect();
    try {
      for (let i = 0; i < 2; i++) {
        const r = await c.query({ name: 'p', text: 'select cvv || $1 as x from cards where id = 1', values: [''], rowMode: 'array' });
        expect(r.rows).toEqual([['***']]);
      }
    } finally { await c.end(); }
  });

  it('a cursor\'s computed rows are masked when fetched (psql FETCH_COUNT too)', async () => {
    const r = await run('psql', ['-X', '-At', '-c', "begin; declare c cursor for select cvv || '', upper(note) from cards; fetch all from c; commit"], gate.env);
    expect(r.stdout).toContain('***|PLAIN NOTE');
    expect(leaks(r.stdout)).toEqual([]);
    const fc = await run('psql', ['-X', '-At', '-v', 'FETCH_COUNT=1', '-c', "select account_no || '' from cards"], gate.env);
    expect(fc.stderr).toBe('');
    expect(leaks(fc.stdout)).toEqual([]);
  });

  it('COPY of a computed column is masked', async () => {
    const r = await run('psql', ['-X', '-At', '-c', "copy (select id, cvv || '', upper(account_no) from cards) to stdout"], gate.env);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('1\t***\t**-****-****');
  });

  it('computed columns of statements that name no ruled column are left alone', async () => {
    expect(await rows("select id, upper(note), count(*) over (), note || '!' from cards")).toEqual([[1, 'PLAIN NOTE', '1', 'plain note!']]);
    const r = await run('psql', ['-X', '-At', '-c', "copy (select id, body || '!' from notes) to stdout"], gate.env);
    expect(r.stdout.trim()).toBe('1\thello!');
  });

  it('a whole row is masked by the columns its table has', async () => {
    // notes has no ruled column: its row comes back whole. Which columns a row carries is in the catalog (asked
    // on a side connection), not in the text.
    expect(await rows('select row_to_json(n)::text from notes n')).toEqual([['{"id":1,"body":"hello"}']]);
    expect(leaks(await rows('select row_to_json(k)::text from cards k'))).toEqual([]);
  });

  it('a whole row of a table the catalog cannot see yet (made in the open transaction) is masked in full', async () => {
    const r = await run('psql', ['-X', '-At', '-c', "begin; create table fresh (id int, body text); insert into fresh values (1, 'visible?'); select row_to_json(f)::text from fresh f; rollback"], gate.env);
    expect(r.stderr).toBe('');
    expect(r.stdout).not.toContain('visible?');
    expect(r.stdout).toContain('*'.repeat('{"id":1,"body":"visible?"}'.length));
  });

  it('a whole row of a table changed in its string or open transaction is masked by what it holds then', async () => {
    // The side connection's columns were looked up before the change (and kept): the cvv added was not among them.
    for (const t of ['grown_a', 'grown_b', 'grown_c']) server.psql(`create table ${t} (id int); insert into ${t} values (1);`);
    const json = (t: string) => `select row_to_json(g)::text from ${t} g`;
    for (const t of ['grown_a', 'grown_b', 'grown_c']) expect(await rows(json(t))).toEqual([['{"id":1}']]);
    const add = (t: string) => `alter table ${t} add column cvv text default '${CVV}'`;
    const same = await run('psql', ['-X', '-At', '-c', `${add('grown_a')}; ${json('grown_a')}`], gate.env);
    expect(same.stderr).toBe('');
    expect(leaks(same.stdout)).toEqual([]);
    const open = await run('psql', ['-X', '-At', '-c', 'begin', '-c', add('grown_b'), '-c', json('grown_b'), '-c', 'rollback'], gate.env);
    expect(open.stderr).toBe('');
    expect(leaks(open.stdout)).toEqual([]);
    const before = await run('psql', ['-X', '-At', '-c', add('grown_c')], gate.env);
    expect(before.stderr).toBe('');
    expect(leaks(await rows(json('grown_c')))).toEqual([]);
  });

  it('a whole row fetched from a WITH HOLD cursor is masked in full (its rows were made before a column was dropped)', async () => {
    server.psql(`create table held_t (id int, cvv text); insert into held_t values (1, '${CVV}');`);
    const r = await run('psql', ['-X', '-At', '-c', 'begin', '-c', 'declare hc cursor with hold for select row_to_json(t)::text from held_t t', '-c', 'commit', '-c', 'alter table held_t drop column cvv', '-c', 'fetch all hc'], gate.env);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('ALTER TABLE');
    expect(leaks(r.stdout)).toEqual([]);
  });

  it('each computed column is masked by what it is made of', async () => {
    expect(await rows("select id, cvv || '', now() is not null, upper(note), length(account_no)::text from cards")).toEqual([[1, '***', true, 'PLAIN NOTE', '**']]);
  });

  it('a data error quoting a ruled column\'s value has the value masked; other errors keep theirs', async () => {
    const err = async (sql: string, values?: unknown[]) => rows(sql, values).then(() => undefined, (e: Error & { detail?: string }) => `${e.message} ${e.detail ?? ''}`);
    for (const values of [undefined, []]) {
      const date = await err('select cvv::date from cards', values);
      expect(date).toContain('withheld (SQLSTATE 22007)');
      expect(leaks(date)).toEqual([]);
      expect(leaks(await err('select account_no::int from cards', values))).toEqual([]);
      expect(await err('select note::int from cards', values)).toContain('"plain note"');
    }
  });

  it('an error raised while running does not give a ruled column\'s value away, whatever its class or quoting; one about the text is kept', async () => {
    const err = async (sql: string, values?: unknown[]) => rows(sql, values).then(() => 'no error', (e: Error & { detail?: string; code?: string }) => `${e.code} ${e.message} ${e.detail ?? ''}`);
    for (const values of [undefined, []]) {
      for (const sql of [
        'select cvv::regclass from cards', // 42P01 relation "739" does not exist
        'select account_no::regnamespace from cards', // 3F000 schema "ac-0001-7788" does not exist
        "select ('t' || cvv)::regtype from cards", // 42704 type "t739" does not exist
        'select make_date(cvv::int, 13, 1) from cards', // 22008 date field value out of range: 739-13-01
        'select chr(cvv::int * 1000000) from cards', // 54000 requested character too large for encoding: 739000000
      ]) {
        const e = await err(sql, values);
        expect(e).toContain('withheld (SQLSTATE');
        expect(leaks(e), sql).toEqual([]);
      }
      expect(await err('select idd, cvv from cards', values)).toContain('column "idd" does not exist');
    }
  });

  it('a computed column beside a (row).* that expands to no column or two is masked by what it is made of', async () => {
    // The text's three output items are [(e).*, cvv || '', (p).*]; the server's three columns are [cvv || '', p.a, p.b].
    for (const sql of [
      "select (e).*, cvv || '', (p).* from (select) e, (select 1 a, 2 b) p, cards",
      "select (e).*, (select account_no from cards limit 1) || '' as x, (p).* from (select) e, (select 1 a, 2 b) p",
    ]) {
      const got = await rows(sql);
      expect(got.length).toBe(1);
      expect(leaks(got), sql).toEqual([]);
    }
  });

  it('a computed column of a last4 column is masked in full (the computation would choose the digits kept)', async () => {
    expect(await rows('select code from codes')).toEqual([['*********0123']]);
    const parts = await rows("select '000000' || substr(code, 1, 4), '000000' || substr(code, 5, 4), '000000' || substr(code, 9, 4) from codes");
    expect(parts).toEqual([['**********', '**********', '**********']]);
  });

  it('EXPLAIN of a statement naming a ruled column shows its plan (a plan holds no table value)', async () => {
    for (const sql of ["explain select cvv || '' from cards", "explain (analyze, verbose, costs off, timing off) select cvv || '', upper(account_no) from cards"]) {
      const plan = (await rows(sql)).flat().join('\n');
      expect(plan).toMatch(/Seq Scan on (public\.)?cards/);
      expect(plan).not.toContain('**');
    }
  });

  it('counts the masked computed values in the statement record', async () => {
    const sql = `select cvv || '', account_no || '' from cards`;
    await rows(sql);
    // (a statement that names a SAD column keeps none of its literals in the record)
    const mine = (r: AuditRecord) => r.type === 'pg.query' && (r.detail as { sql?: string }).sql === "select cvv || '[redacted]', account_no || '[redacted]' from cards";
    await until(() => readLog(gate.home).some(mine));
    const rec = readLog(gate.home).find(mine)!;
    expect((rec.detail as { masked?: Record<string, number> }).masked).toEqual({ sad: 1, account: 1 });
  });
});
