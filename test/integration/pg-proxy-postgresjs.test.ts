/**
 * postgres.js (the `postgres` package) through pcigate against a real PostgreSQL: a client with its own
 * SCRAM-SHA-256, its own protocol habits (every query extended and named-prepared by default, queries
 * pipelined on one connection, Describe before the first Execute of a statement, a type fetch at connect)
 * and its own cursor, COPY, LISTEN and cancel code. libpq (psql, pgbench) and `pg` are tested elsewhere;
 * this is the third independent implementation of the client side that the proxy must carry unchanged.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, pgQueries, queryDetail, readLog, startGate, until } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

const detail = queryDetail;
const queries = (sqlPart: string) => pgQueries(gate.home, sqlPart);

function connect(over: postgres.Options<Record<string, postgres.PostgresType>> = {}) {
  return postgres({
    host: gate.broker.host, port: gate.broker.port, username: gate.broker.user, password: gate.broker.secret,
    database: gate.broker.database, max: 1, onnotice: () => {}, ...over,
  });
}

beforeAll(async () => {
  server = await startPostgres();
  gate = await startGate(server, {
    hooksFor: () => ({
      onStatement: (s) => (/forbidden_js/.test(s.sql) ? { action: 'deny', rule: 'test-deny', message: 'forbidden_js is denied by policy' } : { action: 'allow' }),
    }),
  });
  server.psql("create table js_items (id int primary key, name text); insert into js_items select g, 'item ' || g from generate_series(1, 100) g; create table js_copy (id int, name text); create table forbidden_js (x int);");
});
afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

describe('postgres.js through pcigate', () => {
  it('authenticates with SCRAM and runs tagged-template queries as named prepared statements, each recorded with its parameters', async () => {
    const sql = connect();
    try {
      for (const id of [3, 4, 5]) {
        const rows = await sql`select name from js_items where id = ${id}`;
        expect(rows.map((r) => r.name)).toEqual([`item ${id}`]);
      }
    } finally { await sql.end(); }
    await until(() => queries('from js_items where id = $1').length === 3);
    const recs = queries('from js_items where id = $1');
    expect(recs.map((r) => detail(r).params)).toEqual([['3'], ['4'], ['5']]);
    expect(recs.every((r) => detail(r).protocol === 'extended' && detail(r).result === 'success' && detail(r).rows === 1)).toBe(true);
    // One server-side statement, prepared once and reused: every record names the same one.
    const names = new Set(recs.map((r) => detail(r).statement));
    expect(names.size).toBe(1);
    expect([...names][0]).not.toBe('');
  });

  it('pipelines many queries on one connection: every answer goes to its own query, every statement recorded once', async () => {
    const sql = connect();
    try {
      const ids = Array.from({ length: 40 }, (_, i) => i + 1);
      const got = await Promise.all(ids.map((id) => sql`select id * 10 as v, ${`tag-${id}`}::text as tag from js_items where id = ${id}`));
      expect(got.map((rows) => [rows[0]!.v, rows[0]!.tag])).toEqual(ids.map((id) => [id * 10, `tag-${id}`]));
    } finally { await sql.end(); }
    await until(() => queries('as tag from js_items').length === 40);
    const tags = queries('as tag from js_items').map((r) => (detail(r).params as string[])[0]);
    expect(new Set(tags).size).toBe(40);
  });

  it('reads with a cursor in batches (Execute with a row limit) and runs a transaction', async () => {
    const sql = connect();
    const batches: number[] = [];
    try {
      await sql`select id from js_items where id <= ${95} order by id`.cursor(10, (rows) => { batches.push(rows.length); });
      await sql.begin(async (tx) => {
        await tx`insert into js_copy values (${-1}, ${'in tx'})`;
        const [row] = await tx`select count(*)::int as n from js_copy where id = -1`;
        expect(row!.n).toBe(1);
      });
    } finally { await sql.end(); }
    expect(batches).toEqual([10, 10, 10, 10, 10, 10, 10, 10, 10, 5]);
    expect(server.psql('select name from js_copy where id = -1').trim()).toBe('in tx');
    await until(() => queries('where id <= $1 order by id').length === 10);
    const pieces = queries('where id <= $1 order by id').map((r) => [detail(r).data_rows, detail(r).suspended ?? false]);
    expect(pieces.slice(0, 9).every(([n, s]) => n === 10 && s === true)).toBe(true);
    expect(pieces[9]).toEqual([5, false]);
  });

  it('streams COPY FROM STDIN and COPY TO STDOUT', async () => {
    const sql = connect();
    try {
      const w = await sql`copy js_copy (id, name) from stdin`.writable();
      await new Promise<void>((resolve, reject) => {
        w.on('error', reject);
        w.on('finish', resolve);
        for (let i = 1; i <= 500; i++) w.write(`${i}\tcopied ${i}\n`);
        w.end();
      });
      expect(server.psql('select count(*) from js_copy where id > 0').trim()).toBe('500');
      const r = await sql`copy (select id, name from js_copy where id > 0 order by id) to stdout`.readable();
      let text = '';
      for await (const chunk of r) text += String(chunk);
      const lines = text.trim().split('\n');
      expect(lines.length).toBe(500);
      expect(lines[499]).toBe('500\tcopied 500');
    } finally { await sql.end(); }
    await until(() => queries('copy js_copy (id, name) from stdin').length === 1 && queries('to stdout').length === 1);
    expect(detail(queries('copy js_copy (id, name) from stdin')[0]!)).toMatchObject({ result: 'success', rows: 500 });
    expect(detail(queries('to stdout')[0]!)).toMatchObject({ result: 'success', rows: 500 });
  });

  it('delivers LISTEN/NOTIFY', async () => {
    const sql = connect({ max: 2 });
    try {
      const got = new Promise<string>((resolve, reject) => {
        sql.listen('js_chan', resolve).catch(reject);
      });
      // listen() resolves once LISTEN ran on its own connection; notify from the pool's other one.
      await until(async () => (await sql`select count(*)::int as n from pg_stat_activity where query = 'listen "js_chan"'`)[0]!.n === 1);
      await sql.notify('js_chan', 'hello from postgres.js');
      expect(await got).toBe('hello from postgres.js');
    } finally { await sql.end(); }
  });

  it('cancels a running query through the mapped key (57014); the connection stays usable', async () => {
    const sql = connect();
    try {
      const q = sql`select pg_sleep(30)`;
      const settled = q.then(() => null, (e: { code?: string }) => e);
      // Sleeping, not only 'active': the server shows the statement active from its Parse, and pcigate sends the
      // Parse and Bind ahead while the Execute's record is made durable; a cancel that reaches the server while it
      // waits for the Execute is ignored by it (ProcessInterrupts ignores a cancel during a command read).
      await until(() => server.psql("select count(*) from pg_stat_activity where query = 'select pg_sleep(30)' and wait_event = 'PgSleep'").trim() === '1');
      q.cancel();
      expect(await settled).toMatchObject({ code: '57014' });
      expect((await sql`select 1 as ok`)[0]!.ok).toBe(1);
    } finally { await sql.end(); }
    await until(() => readLog(gate.home).some((r) => r.type === 'pg.cancel' && r.outcome === 'success'));
    await until(() => queries('select pg_sleep(30)').length === 1);
    expect(detail(queries('select pg_sleep(30)')[0]!)).toMatchObject({ result: 'cancelled', sqlstate: '57014' });
  });

  it('refuses a denied statement with 42501 among pipelined ones; the others and the connection are unaffected', async () => {
    const sql = connect();
    try {
      const [a, denied, b] = await Promise.allSettled([
        sql`select ${1}::int as before_deny`,
        sql`select * from forbidden_js where x = ${1}`,
        sql`select ${2}::int as after_deny`,
      ]);
      expect(a).toMatchObject({ status: 'fulfilled', value: [{ before_deny: 1 }] });
      expect(denied).toMatchObject({ status: 'rejected', reason: { code: '42501' } });
      expect(b).toMatchObject({ status: 'fulfilled', value: [{ after_deny: 2 }] });
      expect((await sql`select 3 as still_open`)[0]!.still_open).toBe(3);
    } finally { await sql.end(); }
    await until(() => queries('from forbidden_js').length === 1);
    expect(queries('from forbidden_js')[0]!.outcome).toBe('denied');
    expect(readLog(gate.home).some((r) => r.type === 'pg.intent' && detail(r).sql.includes('forbidden_js'))).toBe(false);
  });

  it('runs a multi-statement simple query (.simple())', async () => {
    const sql = connect();
    try {
      const res = await sql`select 1 as one; select 2 as two`.simple();
      expect(res).toMatchObject([[{ one: 1 }], [{ two: 2 }]]);
    } finally { await sql.end(); }
    await until(() => queries('select 1 as one; select 2 as two').length === 1);
    expect(detail(queries('select 1 as one; select 2 as two')[0]!)).toMatchObject({ protocol: 'simple', result: 'success' });
  });
});
