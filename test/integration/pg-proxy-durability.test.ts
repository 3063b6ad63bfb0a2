/**
 * audit.durability `os` through the proxy (docs/log-format.md "Failure semantics"): pgbench (writes, which
 * wait for their pg.intent, and reads, forwarded while it is written) and psql through pcigate, with
 * appends resolving at write(2) and fdatasync in the background. Every statement is recorded exactly
 * once (one pg.intent, one pg.query pointing at it), and the closed log verifies with its checkpoints.
 */
import * as fsp from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyLog } from '../../recorder/verify.js';
import { loadVerifyInput } from '../../recorder/verify-load.js';
import type { AuditRecord } from '../../recorder/types.js';
import { bytes } from '../harness/pg-bytes.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { RawPgClient } from '../harness/raw-pg-client.js';
import { probeFs, type FsProbe } from '../unit/recorder/log-helpers.js';
import { pgClient, readLog, run, startGate, until, type Gate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;
let probe: FsProbe;

beforeAll(async () => {
  server = await startPostgres();
  probe = probeFs();
  gate = await startGate(server, { transcripts: false, auditFs: probe.fs, audit: { durability: 'os', syncIntervalMs: 20, checkpointRecords: 200 } });
  const init = await run('pgbench', ['-i', '-s', '1', '-q'], gate.env, { timeoutMs: 60_000 });
  expect(init.code).toBe(0);
}, 120_000);
afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

const settled = () => until(() => {
  const log = readLog(gate.home);
  return log.filter((r) => r.type === 'session.start').length === log.filter((r) => r.type === 'session.end').length;
}, 20_000);

type Detail = { n: number; sql: string; intent_seq?: number | null };

/** Each statement of the sessions started after `from`: exactly one pg.intent and one pg.query that names it. */
function statementsOnce(log: AuditRecord[], sessions: Set<string>): Array<{ intent: AuditRecord; query: AuditRecord }> {
  const intents = new Map<string, AuditRecord>();
  const queries = new Map<string, AuditRecord>();
  for (const r of log) {
    if (!r.session || !sessions.has(r.session)) continue;
    const key = `${r.session}#${(r.detail as Detail).n}`;
    if (r.type === 'pg.intent') { expect(intents.has(key), `second pg.intent for ${key}`).toBe(false); intents.set(key, r); }
    if (r.type === 'pg.query') { expect(queries.has(key), `second pg.query for ${key}`).toBe(false); queries.set(key, r); }
  }
  expect([...queries.keys()].sort()).toEqual([...intents.keys()].sort());
  return [...intents.entries()].map(([k, intent]) => {
    const query = queries.get(k)!;
    expect((query.detail as Detail).intent_seq).toBe(intent.seq);
    expect((query.detail as Detail).sql).toBe((intent.detail as Detail).sql);
    expect(intent.seq).toBeLessThan(query.seq);
    return { intent, query };
  });
}

describe('pcigate with audit.durability os', () => {
  for (const [name, args, perTx] of [
    ['default (writes)', ['-c', '4', '-t', '50'], 7],
    ['-S -M prepared (reads)', ['-S', '-M', 'prepared', '-c', '4', '-t', '100'], 1],
  ] as const) {
    it(`pgbench ${name}: every statement recorded once`, async () => {
      await settled();
      const known = new Set(readLog(gate.home).filter((r) => r.type === 'session.start').map((r) => r.session!));
      const r = await run('pgbench', ['-n', ...args], gate.env, { timeoutMs: 120_000 });
      expect(r.stderr).not.toMatch(/error|abort/i);
      expect(r.code).toBe(0);
      await settled();
      const log = readLog(gate.home);
      const sessions = new Set(log.filter((x) => x.type === 'session.start' && !known.has(x.session!)).map((x) => x.session!));
      expect(sessions.size).toBe(5); // pgbench's 4 clients and its set-up connection
      const stmts = statementsOnce(log, sessions);
      const bench = stmts.filter(({ intent }) => !/pg_catalog|count\(\*\)/.test((intent.detail as Detail).sql));
      const tx = Number(/actually processed: (\d+)/.exec(r.stdout)![1]);
      expect(bench).toHaveLength(tx * perTx);
      expect(bench.every(({ query }) => query.outcome === 'success')).toBe(true);
      // os mode was in force: writes that no fdatasync followed before the next one (fsync mode alternates).
      expect(probe.ops.some((op, i) => op === 'write' && probe.ops[i + 1] === 'write')).toBe(true);
    }, 120_000);
  }

  it('a read refused at Parse or Bind (answered before its intent is durable): its pg.query still names its intent', async () => {
    await settled();
    const c = await pgClient(gate);
    try {
      await expect(c.query('select * from no_such_table where id = $1', [1])).rejects.toMatchObject({ code: '42P01' });
      await expect(c.query('select $1::int', ['x'])).rejects.toMatchObject({ code: '22P02' });
      expect((await c.query('select $1::int as v', [7])).rows).toEqual([{ v: 7 }]);
    } finally { await c.end(); }
    await settled();
    const log = readLog(gate.home);
    const last = log.filter((x) => x.type === 'session.start').at(-1)!.session!;
    const stmts = statementsOnce(log, new Set([last]));
    expect(stmts.map(({ query }) => [(query.detail as Detail).sql, (query.detail as { sqlstate: string | null }).sqlstate])).toEqual([
      ['select * from no_such_table where id = $1', '42P01'], ['select $1::int', '22P02'], ['select $1::int as v', null],
    ]);
  }, 60_000);

  it('an extended batch whose implicit transaction is rolled back (its commit at Sync fails, or a later statement fails): a pg.commit failure names its statements', async () => {
    server.psql(`create table cparent (id int primary key); insert into cparent values (1);
      create table cchild (id int, pid int references cparent deferrable initially deferred); create table cuniq (id int primary key);`);
    await settled();
    const x = (sql: string) => [bytes.parse('', sql), bytes.bind('', '', []), bytes.execute()];
    const c = await RawPgClient.login(gate.broker);
    try {
      // 1. INSERT 0 1, then the Sync's commit fails (23503): rolled back. 2. A later duplicate fails: the first is rolled back.
      // 3. A COMMIT inside the batch: what it committed stays; only what followed is rolled back at the Sync.
      for (const batch of [
        [...x('insert into cchild values (1, 42)')],
        [...x('insert into cuniq values (10)'), ...x('insert into cuniq values (10)')],
        [...x('begin'), ...x('insert into cchild values (2, 1)'), ...x('commit'), ...x('insert into cchild values (3, 999)')],
        // No claim where it could be false: a DO that commits what came before it; a savepoint rolled back to in a block.
        [...x('insert into cuniq values (20)'), ...x('do $$ begin commit; end $$'), ...x('insert into cuniq values (20)')],
        [...x('begin'), ...x('savepoint a'), ...x('rollback to a'), ...x('insert into cuniq values (30)'), ...x('savepoint b'), ...x('insert into cuniq values (30)')],
        [...x('rollback to b'), ...x('commit')],
      ]) {
        c.sock.write(Buffer.concat([...batch, bytes.sync()]));
        await c.untilReady();
      }
    } finally { c.sock.destroy(); }
    await settled();
    expect(server.psql('select id from cchild order by id').trim()).toBe('2');
    expect(server.psql('select id from cuniq order by id').trim().split('\n')).toEqual(['20', '30']);
    const log = readLog(gate.home);
    const last = log.filter((r) => r.type === 'session.start').at(-1)!.session!;
    const mine = log.filter((r) => r.session === last);
    const nOf = (sql: string) => (mine.find((r) => r.type === 'pg.query' && (r.detail as Detail).sql === sql)!.detail as Detail).n;
    const commits = mine.filter((r) => r.type === 'pg.commit');
    expect(commits.map((r) => [r.outcome, r.detail])).toEqual([
      ['failure', { statements: [nOf('insert into cchild values (1, 42)')], sqlstate: '23503', rolled_back: true }],
      ['failure', { statements: [nOf('insert into cuniq values (10)')], sqlstate: '23505', rolled_back: true }],
    ]);
    // Each after the records of the statements it names.
    for (const r of commits) for (const n of (r.detail as { statements: number[] }).statements) {
      expect(mine.find((q) => q.type === 'pg.query' && (q.detail as Detail).n === n)!.seq).toBeLessThan(r.seq);
    }
  }, 60_000);

  it('a simple Query whose implicit transaction an error ends (a later statement of it, or its commit) names itself in a pg.commit failure; not where unsure', async () => {
    server.psql(`create table qparent (id int primary key); insert into qparent values (1);
      create table qchild (id int, pid int references qparent deferrable initially deferred); create table quniq (id int primary key);`);
    await settled();
    const c = await RawPgClient.login(gate.broker);
    const claimed = [
      'insert into quniq values (10); insert into quniq values (10)', // 23505 at the second: the first is undone
      'insert into qchild values (1, 42); select 1', // the commit at the Query's end fails (23503)
    ];
    const unsure = [
      'insert into quniq values (20); commit; insert into quniq values (20)', // the COMMIT kept the first
      'insert into qchild values (2, 42)', // one statement: its commit fails before its CommandComplete
    ];
    try {
      for (const sql of [...claimed, ...unsure]) {
        c.sock.write(bytes.query(sql));
        await c.untilReady();
      }
      // A Query sent behind an unsynced batch joins its implicit transaction: its error undoes the batch's insert too.
      c.sock.write(Buffer.concat([bytes.parse('', 'insert into quniq values (40)'), bytes.bind('', '', []), bytes.execute(),
        bytes.query('insert into quniq values (41); insert into quniq values (41)')]));
      await c.untilReady();
    } finally { c.sock.destroy(); }
    await settled();
    expect(server.psql('select id from quniq order by id').trim()).toBe('20');
    expect(server.psql('select count(*) from qchild').trim()).toBe('0');
    const log = readLog(gate.home);
    const last = log.filter((r) => r.type === 'session.start').at(-1)!.session!;
    const mine = log.filter((r) => r.session === last);
    const q = (sql: string) => mine.find((r) => r.type === 'pg.query' && (r.detail as Detail).sql === sql)!;
    expect(q(unsure[1]!).detail).toMatchObject({ result: 'failure', sqlstate: '23503', commands: [] });
    const commits = mine.filter((r) => r.type === 'pg.commit');
    expect(commits.map((r) => [r.outcome, r.detail])).toEqual([
      ['failure', { statements: [(q(claimed[0]!).detail as Detail).n], sqlstate: '23505', rolled_back: true }],
      ['failure', { statements: [(q(claimed[1]!).detail as Detail).n], sqlstate: '23503', rolled_back: true }],
      ['failure', { statements: [(q('insert into quniq values (40)').detail as Detail).n, (q('insert into quniq values (41); insert into quniq values (41)').detail as Detail).n], sqlstate: '23505', rolled_back: true }],
    ]);
    for (const [i, sql] of claimed.entries()) {
      expect(q(sql).detail).toMatchObject({ result: 'failure', commands: ['INSERT 0 1'] });
      expect(q(sql).seq).toBeLessThan(commits[i]!.seq);
    }
  }, 60_000);

  it('psql: a write and a read, recorded once each; the closed log verifies', async () => {
    await settled();
    const r = await run('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-At', '-c', 'create table dur_t(x int)', '-c', 'insert into dur_t values (41), (1)', '-c', 'select sum(x) from dur_t'], gate.env);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n').at(-1)).toBe('42');
    await settled();
    const log = readLog(gate.home);
    const last = log.filter((x) => x.type === 'session.start').at(-1)!.session!;
    const stmts = statementsOnce(log, new Set([last]));
    expect(stmts.map(({ intent }) => (intent.detail as Detail).sql)).toEqual(['create table dur_t(x int)', 'insert into dur_t values (41), (1)', 'select sum(x) from dur_t']);
    await gate.close();
    const report = await verifyLog(await loadVerifyInput(fsp, gate.home, { nowMicros: Date.now() * 1000, maxUnsealedMicros: 3600e6 }));
    expect(report.problems).toEqual([]);
    expect(report.result).toBe('pass');
  }, 60_000);
});
