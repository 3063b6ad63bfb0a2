/**
 * `pg.commit` claims for explicit transaction blocks (src/pg/proxy/tx-block.ts), each checked against what the
 * server kept: statements of a block that ended rolled back (ROLLBACK, a COMMIT that failed or found the block
 * failed, pcigate's refusal, the connection's end) are named; a block that committed, and what a savepoint's
 * rollback or a block's COMMIT AND CHAIN leaves, are not. Real clients: psql, the pg driver, and raw protocol
 * bytes for a pipelined batch.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../recorder/types.js';
import { configSchema } from '../../src/config/index.js';
import { bytes } from '../harness/pg-bytes.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { RawPgClient } from '../harness/raw-pg-client.js';
import { type Gate, pgClient, queryDetail, run, sessionOf, startConfiguredGate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql('create table b (id int primary key); create table bd (id int unique deferrable initially deferred); create table secrets (id int); create table kept_t (id int); create sequence sq');
  gate = await startConfiguredGate(server, configSchema.parse({
    connections: { 'test-db': { kind: 'postgres', host: server.host, port: server.port, database: server.database, user: server.superuser, sslmode: 'disable' } },
    policy: {
      roles: { eng: { subjects: ['tester'] } },
      connections: { 'test-db': { roles: { eng: { classes: ['read', 'write', 'transaction', 'utility', 'ddl', 'dcl'], tables: { deny: ['secrets'] } } } } },
    },
  }));
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

const kept = (id: number) => server.psql(`select count(*) from b where id = ${id}`).trim() === '1';
const nOf = (mine: AuditRecord[], sql: string) => queryDetail(mine.find((r) => r.type === 'pg.query' && queryDetail(r).sql === sql)!).n;
const commits = (mine: AuditRecord[]) => mine.filter((r) => r.type === 'pg.commit').map((r) => r.detail);
const claim = (ns: Array<number | undefined>, sqlstate: string | null) => ({ statements: ns, sqlstate, rolled_back: true, block: true });

/** psql with each `-c` its own Query, as a user types them; stops at the first error unless told to go on. */
async function psql(sqls: string[], onErrorStop = true): Promise<void> {
  const r = await run('psql', ['-X', '-q', '-v', `ON_ERROR_STOP=${onErrorStop ? 1 : 0}`, ...sqls.flatMap((s) => ['-c', s])], gate.env);
  if (onErrorStop) expect(r.stderr).toBe('');
}

describe('a block that ends rolled back: its statements are named, after their own records', () => {
  it('ROLLBACK (psql)', async () => {
    const ins = 'insert into b values (1)';
    await psql(['begin', ins, 'update b set id = id where id = 1', 'rollback']);
    const mine = await sessionOf(gate.home, ins);
    expect(kept(1)).toBe(false);
    expect(commits(mine)).toEqual([claim([nOf(mine, ins), nOf(mine, 'update b set id = id where id = 1')], null)]);
    const order = mine.map((r) => r.type);
    expect(order.lastIndexOf('pg.query')).toBeLessThan(order.indexOf('pg.commit'));
  });

  it('a COMMIT the server fails (a deferred unique constraint): the SQLSTATE is the COMMIT\'s', async () => {
    const a = 'insert into bd values (7)';
    const b2 = 'insert into bd values (7) returning id';
    await psql(['begin', a, b2, 'commit'], false);
    const mine = await sessionOf(gate.home, a);
    expect(server.psql('select count(*) from bd').trim()).toBe('0');
    const commit = mine.find((r) => r.type === 'pg.query' && queryDetail(r).sql === 'commit')!;
    expect([commit.outcome, queryDetail(commit).sqlstate]).toEqual(['failure', '23505']);
    expect(commits(mine)).toEqual([claim([nOf(mine, a), nOf(mine, b2)], '23505')]);
  });

  it('an error in the block, then COMMIT (the server answers ROLLBACK): the SQLSTATE is the error\'s', async () => {
    const ins = 'insert into b values (2)';
    await psql(['begin', ins, 'select 1/0', 'commit'], false);
    const mine = await sessionOf(gate.home, ins);
    expect(kept(2)).toBe(false);
    expect(commits(mine)).toEqual([claim([nOf(mine, ins)], '22012')]);
  });

  it('a statement pcigate refuses in the block (its abort fails the block): the refusal\'s SQLSTATE', async () => {
    const ins = 'insert into b values (3)';
    await psql(['begin', ins, 'select * from secrets', 'commit'], false);
    const mine = await sessionOf(gate.home, ins);
    expect(kept(3)).toBe(false);
    expect(commits(mine)).toEqual([claim([nOf(mine, ins)], '42501')]);
  });

  it('the client vanishes with the block open (pg driver): 08006', async () => {
    const ins = 'insert into b values (4)';
    const c = await pgClient(gate);
    await c.query('begin');
    await c.query(ins);
    (c as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    c.on('error', () => {});
    const mine = await sessionOf(gate.home, ins);
    expect(kept(4)).toBe(false);
    expect(commits(mine)).toEqual([claim([nOf(mine, ins)], '08006')]);
  });

  it('the client ends the session with the block open (Terminate): no SQLSTATE, nothing failed', async () => {
    const ins = 'insert into b values (5)';
    const c = await pgClient(gate);
    await c.query('begin');
    await c.query(ins);
    await c.end();
    const mine = await sessionOf(gate.home, ins);
    expect(kept(5)).toBe(false);
    expect(commits(mine)).toEqual([claim([nOf(mine, ins)], null)]);
  });
});

describe('schema and privilege changes in a block', () => {
  it('are named when it rolls back (CREATE, ALTER, DROP, TRUNCATE, GRANT), as the server undoes them', async () => {
    const ddl = ['create table made_t (id int)', 'alter table b add column note text', 'drop table kept_t', 'truncate b', 'grant select on b to public', 'alter sequence sq restart with 500'];
    await psql(['begin', ...ddl, 'rollback']);
    const mine = await sessionOf(gate.home, ddl[0]!);
    expect(server.psql("select to_regclass('made_t') is null, to_regclass('kept_t') is not null, (select count(*) from information_schema.columns where table_name = 'b' and column_name = 'note'), nextval('sq')").trim()).toBe('t|t|0|1');
    expect(commits(mine)).toEqual([claim(ddl.map((sql) => nOf(mine, sql)), null)]);
  });
});

describe('what lasted is never named', () => {
  it('a block that commits, then one that rolls back: only the second is named', async () => {
    const a = 'insert into b values (10)';
    const b2 = 'insert into b values (9)';
    await psql(['begin', a, 'commit', 'begin', b2, 'rollback']);
    const mine = await sessionOf(gate.home, a);
    expect([kept(10), kept(9)]).toEqual([true, false]);
    expect(commits(mine)).toEqual([claim([nOf(mine, b2)], null)]);
  });

  it('ROLLBACK TO SAVEPOINT, then COMMIT: nothing of that block is named (what was before the savepoint lasted)', async () => {
    const a = 'insert into b values (11)';
    const b2 = 'insert into b values (12)';
    const later = 'insert into b values (17)';
    await psql(['begin', a, 'savepoint s', b2, 'rollback to savepoint s', 'commit', 'begin', later, 'abort']);
    const mine = await sessionOf(gate.home, a);
    expect([kept(11), kept(12), kept(17)]).toEqual([true, false, false]);
    expect(commits(mine)).toEqual([claim([nOf(mine, later)], null)]);
  });

  it('COMMIT AND CHAIN, then ROLLBACK: only the chained block\'s statement is named', async () => {
    const a = 'insert into b values (13)';
    const b2 = 'insert into b values (14)';
    await psql(['begin', a, 'commit and chain', b2, 'rollback']);
    const mine = await sessionOf(gate.home, a);
    expect([kept(13), kept(14)]).toEqual([true, false]);
    expect(commits(mine)).toEqual([claim([nOf(mine, b2)], null)]);
  });

  it('after a savepoint, a ROLLBACK in a pipelined batch: the INSERT behind it ran outside the block, and lasted', async () => {
    const a = 'insert into b values (15)';
    const c2 = 'insert into b values (16)';
    const x = (sql: string) => [bytes.parse('', sql), bytes.bind('', '', []), bytes.execute()];
    const c = await RawPgClient.login(gate.broker);
    try {
      for (const sql of ['begin', 'savepoint s', a]) { c.sock.write(bytes.query(sql)); await c.untilReady(); }
      // ROLLBACK and ROLLBACK TO SAVEPOINT have the same tag: only the ReadyForQuery after tells them apart.
      c.sock.write(Buffer.concat([...x('rollback'), ...x(c2), bytes.sync()]));
      await c.untilReady();
    } finally { c.sock.destroy(); }
    const mine = await sessionOf(gate.home, a);
    expect([kept(15), kept(16)]).toEqual([false, true]);
    expect(commits(mine)).toEqual([claim([nOf(mine, a)], null)]);
  });
});

describe('found by review', () => {
  it('one Query ending the block, then a second, empty one (rollback; begin; rollback): the first block is still named', async () => {
    const ins = 'insert into b values (20)';
    await psql(['begin', ins, 'rollback; begin; rollback']);
    const mine = await sessionOf(gate.home, ins);
    expect(kept(20)).toBe(false);
    expect(commits(mine)).toEqual([claim([nOf(mine, ins)], null)]);
  });

  it('an error rolled back to a savepoint, then a COMMIT the server fails: the COMMIT\'s SQLSTATE, not the recovered error\'s', async () => {
    const a = 'insert into bd values (21)';
    const b2 = 'insert into bd values (21) returning 1';
    await psql(['begin', a, 'savepoint s', 'select 1/0', 'rollback to savepoint s', b2, 'commit'], false);
    const mine = await sessionOf(gate.home, a);
    expect(server.psql('select count(*) from bd where id = 21').trim()).toBe('0');
    expect(commits(mine)).toEqual([claim([nOf(mine, a), nOf(mine, b2)], '23505')]);
  });
});
