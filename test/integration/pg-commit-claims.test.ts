/**
 * `pg.commit` rollback claims checked against what the server kept, where an adversarial hunt found the log (and once
 * the server's data) wrong: a batch answered by a Flush, whose implicit transaction stays open, then something that
 * joins it — pcigate's own session lookup for a COPY (its Sync committed the client's batch), a refused Query
 * (pcigate's abort undoes it), a Query the server ends with a FATAL — and a Sync behind a simple-Query COPY FROM
 * STDIN (the server ignores it; pcigate waited for its answer and fell out of step). Each test fails without its fix.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../recorder/types.js';
import { configSchema } from '../../src/config/index.js';
import { bytes } from '../harness/pg-bytes.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { RawPgClient } from '../harness/raw-pg-client.js';
import { type Gate, queryDetail, sessionOf, startConfiguredGate, until } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql('create table h (id int primary key); create table hc (id int); create table secrets (id int)');
  gate = await startConfiguredGate(server, configSchema.parse({
    connections: { 'test-db': { kind: 'postgres', host: server.host, port: server.port, database: server.database, user: server.superuser, sslmode: 'disable' } },
    policy: {
      roles: { eng: { subjects: ['tester'] } },
      connections: { 'test-db': { roles: { eng: { classes: ['read', 'write', 'transaction', 'utility', 'copy_out', 'copy_in', 'function'], tables: { deny: ['secrets'] } } } } },
    },
  }));
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

const x = (sql: string) => [bytes.parse('', sql), bytes.bind('', '', []), bytes.execute()];
const ids = () => server.psql('select coalesce(string_agg(id::text, \',\' order by id), \'\') from h').trim().split(',');


const nOf = (mine: AuditRecord[], sql: string) => queryDetail(mine.find((r) => r.type === 'pg.query' && queryDetail(r).sql === sql)!).n;
const commits = (mine: AuditRecord[]) => mine.filter((r) => r.type === 'pg.commit').map((r) => r.detail);

/** Logs in and sends `x(insert)` + Flush, waiting for its CommandComplete: the batch's transaction stays open. */
async function openBatch(insert: string): Promise<RawPgClient> {
  const c = await RawPgClient.login(gate.broker);
  c.sock.write(Buffer.concat([...x(insert), bytes.flush()]));
  await c.until('C');
  return c;
}

describe('a batch answered by a Flush, then something that joins its transaction', () => {
  it('a COPY … TO STDOUT that fails: pcigate\'s column lookup does not commit the batch; the failure undoes it, and the log says so', async () => {
    const ins = 'insert into h values (101)';
    const c = await openBatch(ins);
    c.sock.write(bytes.query('copy (select 1/0) to stdout'));
    await c.untilReady();
    c.sock.destroy();
    const mine = await sessionOf(gate.home, ins);
    expect(ids()).not.toContain('101');
    expect(commits(mine)).toEqual([{ statements: [nOf(mine, ins)], sqlstate: '22012', rolled_back: true }]);
  });

  it('a Query pcigate refuses: its abort undoes the batch; a pg.commit says so with the refusal\'s SQLSTATE', async () => {
    const ins = 'insert into h values (301)';
    const c = await openBatch(ins);
    c.sock.write(bytes.query('select id from secrets'));
    await c.untilReady();
    c.sock.destroy();
    const mine = await sessionOf(gate.home, ins);
    expect(ids()).not.toContain('301');
    expect(commits(mine)).toEqual([{ statements: [nOf(mine, ins)], sqlstate: '42501', rolled_back: true }]);
  });

  it('a Query the server ends with a FATAL (pg_terminate_backend): the batch it joined is claimed rolled back', async () => {
    const ins = 'insert into h values (501)';
    const c = await openBatch(ins);
    c.sock.write(bytes.query('select pg_sleep(30) as claim_fatal'));
    await until(() => server.psql("select count(*) from pg_stat_activity where query like '%claim_fatal%' and state = 'active' and pid <> pg_backend_pid()").trim() === '1');
    server.psql("select pg_terminate_backend(pid) from pg_stat_activity where query like '%claim_fatal%' and pid <> pg_backend_pid()");
    const mine = await sessionOf(gate.home, ins);
    c.sock.destroy();
    expect(ids()).not.toContain('501');
    expect(commits(mine)).toEqual([{ statements: [nOf(mine, ins)], sqlstate: '57P01', rolled_back: true }]);
  });
});

describe('a Sync the server ignores in a COPY FROM STDIN (behind its Execute), the batch answered by a Flush after it', () => {
  it('leaves the batch open: pcigate\'s column lookup for a COPY … TO STDOUT that joins it does not commit it', async () => {
    const ins = 'insert into h values (4242)';
    const c = await RawPgClient.login(gate.broker);
    try {
      c.sock.write(Buffer.concat([...x(ins), ...x('copy hc from stdin'), bytes.sync()]));
      await c.until('G');
      c.sock.write(Buffer.concat([bytes.copyData('4242\n'), bytes.copyDone(), bytes.flush()]));
      await c.until('C');
      c.sock.write(bytes.query('copy (select 1/0) to stdout'));
      await c.untilReady();
    } finally { c.sock.destroy(); }
    const mine = await sessionOf(gate.home, ins);
    // Directly, the failing COPY joins the batch's transaction and undoes both: so through pcigate.
    expect(ids()).not.toContain('4242');
    expect(server.psql('select count(*) from hc where id = 4242').trim()).toBe('0');
    expect(commits(mine)).toEqual([{ statements: [nOf(mine, ins), nOf(mine, 'copy hc from stdin')], sqlstate: '22012', rolled_back: true }]);
  });
});

describe('a Sync sent behind a simple-Query COPY FROM STDIN', () => {
  it('is ignored by the server, and pcigate stays in step: later batches are recorded as they ran', async () => {
    const a = 'insert into h values (1001)';
    const b = 'insert into h values (1002)';
    const c = await RawPgClient.login(gate.broker);
    try {
      c.sock.write(Buffer.concat([bytes.query('copy hc from stdin'), bytes.sync(), bytes.copyData('7\n'), bytes.copyDone()]));
      await c.untilReady();
      c.sock.write(Buffer.concat([...x(a), bytes.sync()]));
      expect((await c.untilReady()).map((f) => String.fromCharCode(f[0]!)).join('')).toBe('12CZ');
      c.sock.write(Buffer.concat([...x(b), ...x(b), bytes.sync()]));
      expect((await c.untilReady()).map((f) => String.fromCharCode(f[0]!)).join('')).toBe('12C12EZ');
    } finally { c.sock.destroy(); }
    const mine = await sessionOf(gate.home, a);
    expect(ids()).toContain('1001');
    expect(ids()).not.toContain('1002');
    const bs = mine.filter((r) => r.type === 'pg.query' && queryDetail(r).sql === b);
    expect(bs.map((r) => [r.outcome, queryDetail(r).sqlstate])).toEqual([['success', null], ['failure', '23505']]);
    expect(commits(mine)).toEqual([{ statements: [queryDetail(bs[0]!).n], sqlstate: '23505', rolled_back: true }]);
    expect(mine.at(-1)).toMatchObject({ type: 'session.end', detail: { reason: 'client disconnected' } });
  });
});
