/**
 * A client that vanishes (its socket closed, no Terminate) while the server still owes it answers: pcigate
 * cancels what runs, reads the server's answers on (dropped), and records what the server did, not a guess.
 * Before, every statement still in flight was recorded `failure 08006`, whether the server had finished and
 * committed it, cancelled it or rolled it back; and statements of a batch never synced kept their `success`
 * although the connection's end rolled them back. Each test checks the log against the table the server kept.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../recorder/types.js';
import { bytes } from '../harness/pg-bytes.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { RawPgClient } from '../harness/raw-pg-client.js';
import { type Gate, STUBBORN_FUNCTION, queryDetail, readLog, sessionOf, slowIntents, startGate, until } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create table vt (id int primary key); ${STUBBORN_FUNCTION};`);
  gate = await startGate(server);
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});


const query = (mine: AuditRecord[], sql: string) => mine.find((r) => r.type === 'pg.query' && queryDetail(r).sql === sql)!;
const ids = () => server.psql('select coalesce(string_agg(id::text, \',\' order by id), \'\') from vt').trim();
const active = (like: string) => server.psql(`select count(*) from pg_stat_activity where query like '${like}' and state = 'active' and pid <> pg_backend_pid()`).trim();

describe('a client that vanishes mid-statement', () => {
  it('a running statement is cancelled and recorded as cancelled (57014), not as a lost connection', async () => {
    const sql = 'select pg_sleep(30) as vanish_sleep';
    const c = await RawPgClient.login(gate.broker);
    c.sock.write(bytes.query(sql));
    await until(() => active('%vanish_sleep%') === '1');
    c.sock.destroy();
    const mine = await sessionOf(gate.home, sql);
    await until(() => active('%vanish_sleep%') === '0');
    expect(queryDetail(query(mine, sql))).toMatchObject({ result: 'cancelled', sqlstate: '57014' });
    expect(mine.at(-1)).toMatchObject({ type: 'session.end', outcome: 'failure', detail: { reason: 'client disconnected mid-statement' } });
  }, 60_000);

  it('a large result the client stopped reading (pcigate paused the server for it) is cancelled and recorded as cancelled', async () => {
    // The last row sleeps: only the cancel ends it. Before it, far more rows than the sockets hold.
    const sql = "select g, repeat('x', 500) as vanish_big, case when g = 400000 then pg_sleep(60) end from generate_series(1, 400000) g";
    const c = await RawPgClient.login(gate.broker);
    c.sock.write(bytes.query(sql));
    await new Promise((r) => c.sock.once('data', r));
    c.sock.pause();
    await new Promise((r) => setTimeout(r, 1000)); // pcigate's writes to it back up: it pauses the server
    c.sock.destroy();
    const mine = await sessionOf(gate.home, sql);
    expect(queryDetail(query(mine, sql))).toMatchObject({ result: 'cancelled', sqlstate: '57014' });
  }, 60_000);

  it('a COPY FROM STDIN left unfinished fails, keeps nothing, and its record says the server\'s SQLSTATE', async () => {
    const sql = 'copy vt from stdin';
    const c = await RawPgClient.login(gate.broker);
    c.sock.write(bytes.query(sql));
    await c.until('G');
    c.sock.write(bytes.copyData('501\n502\n'));
    await new Promise((r) => setTimeout(r, 200));
    c.sock.destroy();
    const mine = await sessionOf(gate.home, sql);
    expect(ids()).not.toContain('501');
    // The server's answer to pcigate's CopyFail (57014, "COPY from stdin failed"), not a made-up 08006.
    expect(queryDetail(query(mine, sql))).toMatchObject({ result: 'cancelled', sqlstate: '57014' });
  }, 60_000);

  it('statements of a batch with no Sync: their records say success, and a pg.commit says the connection\'s end rolled them back', async () => {
    const a = 'insert into vt values (601)';
    const b = 'insert into vt values (602)';
    const c = await RawPgClient.login(gate.broker);
    c.sock.write(Buffer.concat([bytes.parse('', a), bytes.bind('', '', []), bytes.execute(), bytes.parse('', b), bytes.bind('', '', []), bytes.execute(), bytes.flush()]));
    await c.until('C');
    await c.until('C');
    c.sock.destroy();
    const mine = await sessionOf(gate.home, b);
    expect(ids()).not.toMatch(/60[12]/);
    const [qa, qb] = [query(mine, a), query(mine, b)];
    expect(queryDetail(qa)).toMatchObject({ result: 'success' });
    expect(queryDetail(qb)).toMatchObject({ result: 'success' });
    const commit = mine.find((r) => r.type === 'pg.commit')!;
    expect(commit).toMatchObject({ outcome: 'failure', detail: { statements: [queryDetail(qa).n, queryDetail(qb).n], sqlstate: '08006', rolled_back: true } });
    expect(commit.seq).toBeGreaterThan(qb.seq);
    expect(mine.at(-1)!.type).toBe('session.end');
  }, 60_000);

  it('a Terminate after a batch with no Sync: the same claim, with no SQLSTATE (nothing failed)', async () => {
    const a = 'insert into vt values (701)';
    const c = await RawPgClient.login(gate.broker);
    c.sock.write(Buffer.concat([bytes.parse('', a), bytes.bind('', '', []), bytes.execute(), bytes.flush()]));
    await c.until('C');
    c.sock.end(bytes.terminate());
    const mine = await sessionOf(gate.home, a);
    expect(ids()).not.toContain('701');
    expect(mine.find((r) => r.type === 'pg.commit')).toMatchObject({ outcome: 'failure', detail: { statements: [queryDetail(query(mine, a)).n], sqlstate: null, rolled_back: true } });
    expect(mine.at(-1)).toMatchObject({ type: 'session.end', outcome: 'success' });
  }, 60_000);

  it('a COMMIT sent with no Sync, then Terminate: the server commits it; the log says so and claims no rollback', async () => {
    const a = 'insert into vt values (901)';
    const c = await RawPgClient.login(gate.broker);
    c.sock.write(Buffer.concat([bytes.parse('', a), bytes.bind('', '', []), bytes.execute(), bytes.flush()]));
    await c.until('C');
    c.sock.write(Buffer.concat([bytes.parse('', 'commit'), bytes.bind('', '', []), bytes.execute(), bytes.terminate()]));
    const mine = await sessionOf(gate.home, a);
    expect(ids()).toContain('901');
    expect(mine.filter((r) => r.type === 'pg.query').map((r) => [queryDetail(r).sql, r.outcome, queryDetail(r).commands]))
      .toEqual([[a, 'success', ['INSERT 0 1']], ['commit', 'success', ['COMMIT']]]);
    expect(mine.some((r) => r.type === 'pg.commit')).toBe(false);
  }, 60_000);

  it('a statement that ignores the cancel past the drain limit: failure 08006, and no rollback claimed for what its Sync commits', async () => {
    const g = await startGate(server, { transcripts: false, vanishedDrainMs: 1000 });
    try {
      const a = 'insert into vt values (911)';
      const c = await RawPgClient.login(g.broker);
      c.sock.write(Buffer.concat([bytes.parse('', a), bytes.bind('', '', []), bytes.execute(), bytes.flush()]));
      await c.until('C');
      c.sock.write(Buffer.concat([bytes.parse('', 'select stubborn(3)'), bytes.bind('', '', []), bytes.execute(), bytes.sync()]));
      await until(() => active('select stubborn%') === '1');
      c.sock.destroy();
      await until(() => readLog(g.home).some((r) => r.type === 'session.end'));
      const log = readLog(g.home);
      expect(log.find((r) => r.type === 'pg.query' && queryDetail(r).sql === 'select stubborn(3)')).toMatchObject({ outcome: 'failure', detail: { sqlstate: '08006' } });
      expect(log.some((r) => r.type === 'pg.commit')).toBe(false);
      await until(() => ids().includes('911'), 15_000); // the server ran on, and its Sync committed the insert
    } finally { await g.close(); }
  }, 60_000);

  it('a broker shutdown: a COMMIT sent with no Sync is answered (Flush) and recorded as run; no internal error from sessions whose client closes on the FATAL', async () => {
    const g = await startGate(server, { transcripts: false });
    const sql = 'select pg_sleep(1) as shut_sleep';
    const busy = await RawPgClient.login(g.broker);
    busy.sock.write(bytes.query(sql));
    busy.sock.on('data', () => { busy.sock.destroy(); });
    const idle = await RawPgClient.login(g.broker);
    idle.sock.on('data', () => { idle.sock.destroy(); });
    const committing = await RawPgClient.login(g.broker);
    committing.sock.write(bytes.query('begin'));
    await committing.untilReady();
    committing.sock.write(bytes.query('insert into vt values (921)'));
    await committing.untilReady();
    committing.sock.write(Buffer.concat([bytes.parse('', 'commit'), bytes.bind('', '', []), bytes.execute()]));
    await until(() => active('%shut_sleep%') === '1');
    await new Promise((r) => setTimeout(r, 200)); // the COMMIT has run; its answer waits in the server for a Flush
    await g.close();
    const log = readLog(g.home);
    expect(log.filter((r) => r.type === 'pg.error')).toEqual([]);
    expect(log.filter((r) => r.type === 'session.end')).toHaveLength(3);
    expect(ids()).toContain('921');
    expect(log.find((r) => r.type === 'pg.query' && queryDetail(r).sql === 'commit')).toMatchObject({ outcome: 'success', detail: { commands: ['COMMIT'] } });
  }, 60_000);

  it('a statement whose setting would end a live session (standard_conforming_strings off) is recorded as the server ran it', async () => {
    // Reported just before its ReadyForQuery; a live session ends there (0A000), a vanished one reads on.
    server.psql(`create function scs_off() returns int language plpgsql as $$
      begin perform stubborn(1); perform set_config('standard_conforming_strings', 'off', false); return 1; end $$`);
    const sql = 'select scs_off() as scs_vanish';
    const c = await RawPgClient.login(gate.broker);
    c.sock.write(bytes.query(sql));
    await until(() => active('%scs_vanish%') === '1');
    c.sock.destroy();
    const mine = await sessionOf(gate.home, sql);
    expect(query(mine, sql)).toMatchObject({ outcome: 'success', detail: { result: 'success', rows: 1 } });
  }, 60_000);

  it('a read whose answer waits for its record: recorded as the server answered it (success, 1 row), not as lost', async () => {
    // A read is forwarded while its record is written, and its answer is held until that is durable; the client
    // goes meanwhile. The server has answered; what it answered is what the log says.
    const slow = slowIntents('vanish_gated');
    const g = await startGate(server, { transcripts: false, sinkWrap: slow.wrap });
    try {
      const sql = 'select 42 as vanish_gated';
      const c = await RawPgClient.login(g.broker);
      c.sock.write(bytes.query(sql));
      await new Promise((r) => setTimeout(r, 300));
      c.sock.destroy();
      await new Promise((r) => setTimeout(r, 200));
      slow.release(true);
      await until(() => readLog(g.home).some((r) => r.type === 'session.end'));
      const q = readLog(g.home).find((r) => r.type === 'pg.query')!;
      expect(q).toMatchObject({ outcome: 'success', detail: { sql, result: 'success', sqlstate: null, rows: 1 } });
    } finally { await g.close(); }
  }, 60_000);
});
