/**
 * pcigate in front of PgBouncer in transaction pooling mode (the usual production set-up): psql, pgbench and
 * node pg through the gate, with masking and COPY, while PgBouncer hands each transaction whichever server
 * connection is free.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPgBouncer, type Bouncer } from '../../bench/pg/pgbouncer.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import pgDriver from 'pg';
import { gateConfig, pgClient, pgQueries, readLog, run, startConfiguredGate, until, type Gate } from './pg-proxy-setup.js';

let pg: PostgresServer;
let bouncer: Bouncer;
let gate: Gate;

beforeAll(async () => {
  pg = await startPostgres({ tls: false });
  pg.psql(`create table cards (id int primary key, pan text, cvv text, note text);
    insert into cards values (1, '4111111111111111', '123', 'visa'), (2, '5555 5555 5555 4444', '456', 'mc');`);
  const b = await startPgBouncer({ host: pg.host, port: pg.port, database: pg.database, user: pg.superuser, password: pg.password }, { poolMode: 'transaction' });
  if (!b) throw new Error('pgbouncer is not installed (.ci/run installs it)');
  bouncer = b;
  const viaBouncer = { ...pg, port: bouncer.port };
  gate = await startConfiguredGate(viaBouncer, gateConfig(viaBouncer, { classes: ['read', 'write', 'copy_out', 'copy_in', 'ddl', 'function', 'transaction', 'utility'] }));
}, 60_000);

afterAll(async () => {
  await gate?.close();
  await bouncer?.stop();
  await pg?.stop();
});

describe('pcigate → PgBouncer (transaction mode) → PostgreSQL', () => {
  it('psql: masked SELECT, \\copy out, a transaction block', async () => {
    const r = await run('psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', 'select pan, cvv from cards order by id', '-c', '\\copy (select pan from cards order by id) to stdout',
      '-c', 'begin', '-c', "update cards set note = 'x' where id = 1", '-c', 'select note from cards where id = 1', '-c', 'rollback'], gate.env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([
      '************1111|***', '**** **** **** 4444|***',
      '************1111', '**** **** **** 4444',
      'BEGIN', 'UPDATE 1', 'x', 'ROLLBACK',
    ]);
    expect(pg.psql('select note from cards where id = 1').trim()).toBe('visa');
  });

  it('pgbench -M extended and -M simple', async () => {
    for (const mode of ['simple', 'extended']) {
      const i = await run('pgbench', ['-i', '-q', '-s', '1'], gate.env, { timeoutMs: 60_000 });
      expect(i.code, i.stderr).toBe(0);
      const r = await run('pgbench', ['-n', '-c', '4', '-j', '2', '-t', '50', '-M', mode], gate.env, { timeoutMs: 60_000 });
      expect(r.code, r.stderr + r.stdout).toBe(0);
    }
  }, 120_000);

  it('node pg: parameterized queries queued on one connection', async () => {
    const c = await pgClient(gate);
    try {
      const rows = await Promise.all([1, 2, 1, 2].map((id) => c.query('select pan, note from cards where id = $1', [id])));
      expect(rows.map((r) => r.rows[0].note)).toEqual(['visa', 'mc', 'visa', 'mc']);
      expect(JSON.stringify(rows.map((r) => r.rows))).not.toMatch(/4111111111111111/);
    } finally {
      await c.end();
    }
    expect(pgQueries(gate.home, 'where id = $1').length).toBeGreaterThanOrEqual(4);
  });

  it('a cancel reaches the query through the gate and PgBouncer (57014)', async () => {
    const c = await pgClient(gate);
    try {
      const query = new pgDriver.Query('select pg_sleep(30)');
      const q = new Promise((resolve, reject) => { query.on('error', reject); query.on('end', resolve); });
      c.query(query);
      await until(() => pg.psql("select count(*) from pg_stat_activity where query = 'select pg_sleep(30)' and state = 'active'").trim() === '1');
      const canceller = new pgDriver.Client({ host: gate.broker.host, port: gate.broker.port, user: gate.broker.user, password: gate.broker.secret, database: gate.broker.database });
      (canceller as unknown as { cancel(c: pgDriver.Client, q: unknown): void }).cancel(c, query);
      await expect(q).rejects.toMatchObject({ code: '57014' });
      expect((await c.query('select 1 as ok')).rows).toEqual([{ ok: 1 }]);
    } finally {
      await c.end();
    }
    await until(() => readLog(gate.home).some((r) => r.type === 'pg.cancel' && r.outcome === 'success'));
  });
});
