/**
 * PostgreSQL's planner statistics hold values ANALYZE sampled from every column: through pcigate, `select
 * histogram_bounds from pg_stats where tablename = 'cards'` listed the CVVs and account numbers every rule masks
 * in cards itself. Their value columns (pg_stats, pg_stats_ext, pg_stats_ext_exprs, pg_statistic) are masked in
 * full as rule `statistics`, under an alias, computed and as whole rows too; the rest of pg_stats is left alone
 * (real PostgreSQL, the broker's own hooks).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, gateConfig, startConfiguredGate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create table cards (id int, cvv text, account_no text);
    insert into cards select i, lpad((i % 8)::text || '39', 3, '0'), 'AC-0001-77' || (i % 5) from generate_series(1, 200) i;
    analyze cards;`);
  gate = await startConfiguredGate(server, gateConfig(server, { classes: ['read'], rules: [{ name: 'account', columns: ['account_no'], format: 'full' }] }));
}, 120_000);

afterAll(async () => {
  await gate?.close().catch(() => undefined);
  await server?.stop();
});

async function rows(text: string): Promise<unknown[][]> {
  const c = new pg.Client({ host: gate.broker.host, port: gate.broker.port, user: gate.broker.user, password: gate.broker.secret, database: gate.broker.database });
  await c.connect();
  try {
    return (await c.query({ text, rowMode: 'array' })).rows as unknown[][];
  } finally { await c.end(); }
}

const leaks = (x: unknown) => ['739', '039', 'AC-0001'].filter((v) => JSON.stringify(x).includes(v));

describe('planner statistics', () => {
  it('the server has sampled the values (the premise)', () => {
    expect(server.psql("select most_common_vals::text from pg_stats where tablename = 'cards' and attname = 'cvv'")).toContain('739');
  });

  it.each([
    ['most common values and histogram bounds', "select attname, most_common_vals, histogram_bounds from pg_stats where tablename = 'cards'"],
    ['under an alias', "select most_common_vals as m from pg_catalog.pg_stats where tablename = 'cards'"],
    ['computed', "select most_common_vals::text || '' from pg_stats where tablename = 'cards'"],
    ['as a whole row', "select s::text from pg_stats s where tablename = 'cards'"],
  ])('%s are masked', async (_, sql) => {
    const r = await rows(sql);
    expect(r.length).toBeGreaterThan(0);
    expect(leaks(r)).toEqual([]);
  });

  it('the rest of pg_stats is left alone', async () => {
    expect(await rows("select attname, null_frac from pg_stats where tablename = 'cards' order by attname")).toEqual([['account_no', 0], ['cvv', 0], ['id', 0]]);
  });
});
