/**
 * The gate on a read's response: a read is forwarded while its pg.intent is written, and no byte of its
 * response reaches the client before that record is durable — also when the response is far larger than
 * what the relay holds before pausing the server (GATE_BUFFER_MAX), and when the record then fails.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { bytes } from '../harness/pg-bytes.js';
import { RawPgClient } from '../harness/raw-pg-client.js';
import { readLog, slowIntents, startGate, pgClient as connect, until } from './pg-proxy-setup.js';

let server: PostgresServer;
beforeAll(async () => { server = await startPostgres(); });
afterAll(async () => { await server?.stop(); });

const BIG = 'select g, md5(g::text) as h from generate_series(1, 100000) g'; // ~4.5 MB of DataRows

describe('a statement waiting for its record', () => {
  for (const protocol of ['simple', 'extended'] as const) {
    it(`is cancelled by a CancelRequest meanwhile (${protocol} protocol): 57014, never run, its pg.query says cancelled; the session goes on`, async () => {
      const slow = slowIntents('pg_sleep');
      const gate = await startGate(server, { transcripts: false, sinkWrap: slow.wrap });
      try {
        const c = await connect(gate);
        await c.query('create temp table ran (x int)');
        // Not a read: it waits for its pg.intent to be durable before it is forwarded (pure reads run meanwhile).
        const query = protocol === 'simple' ? new pg.Query('insert into ran select 1 from pg_sleep(0)') : new pg.Query('insert into ran select $1::int from pg_sleep(0)', [1]);
        const q = new Promise((resolve, reject) => { query.on('error', reject); query.on('end', resolve); });
        c.query(query);
        await new Promise((r) => setTimeout(r, 300));
        const cancel = new pg.Client({ host: gate.broker.host, port: gate.broker.port, user: gate.broker.user, password: gate.broker.secret, database: gate.broker.database });
        (cancel as unknown as { cancel(c: pg.Client, q: unknown): void }).cancel(c, query);
        // Forwarded, the cancel would reach an idle server, which ignores it, and the insert would run once durable.
        // The 57014 comes once the intent is durable, so that the statement's pg.query follows it at once.
        await new Promise((r) => setTimeout(r, 300));
        slow.release(true);
        await expect(q).rejects.toMatchObject({ code: '57014' });
        expect((await c.query('select count(*)::int as n from ran')).rows).toEqual([{ n: 0 }]);
        await c.end();
        await until(() => readLog(gate.home).some((r) => r.type === 'session.end'));
        const log = readLog(gate.home);
        const intent = log.find((r) => r.type === 'pg.intent' && String((r.detail as { sql: string }).sql).includes('pg_sleep'))!;
        const ended = log.find((r) => r.type === 'pg.query' && String((r.detail as { sql: string }).sql).includes('pg_sleep'))!;
        expect(ended.outcome).toBe('failure');
        expect(ended.detail).toMatchObject({ result: 'cancelled', sqlstate: '57014', intent_seq: intent.seq, rows: 0 });
        // Before what the client sent once it had its 57014.
        expect(ended.seq).toBeLessThan(log.find((r) => r.type === 'pg.intent' && String((r.detail as { sql: string }).sql).includes('count(*)'))!.seq);
        expect(log.find((r) => r.type === 'pg.cancel')).toMatchObject({ outcome: 'success', detail: { held: true } });
      } finally { await gate.close(); }
    });
  }
});

describe('a cancel while a statement waits for its record, behind a statement the server runs', () => {
  it('goes upstream too: the running read is cancelled there, the waiting insert here; nothing is inserted', async () => {
    const slow = slowIntents('insert into ran');
    const gate = await startGate(server, { transcripts: false, sinkWrap: slow.wrap });
    try {
      const c = await RawPgClient.connect(gate.broker);
      c.startup({ user: gate.broker.user, database: gate.broker.database });
      const key = (await c.scram(gate.broker.secret)).find((f) => f[0] === 0x4b)!;
      c.sock.write(bytes.query('create temp table ran (x int)'));
      await c.untilReady();
      // One batch: a read that runs for minutes (forwarded at once), then an insert waiting for its pg.intent.
      const started = performance.now();
      c.sock.write(Buffer.concat([
        bytes.parse('', 'select count(*) from generate_series(1, 2000000000)'), bytes.bind('', '', []), bytes.execute(),
        bytes.parse('', 'insert into ran select 1'), bytes.bind('', '', []), bytes.execute(), bytes.sync(),
      ]));
      // Once the server runs the read (a cancel that reaches a backend between messages, before its Execute, is dropped
      // by PostgreSQL, as it would be without pcigate: under CI load a fixed half second was not always enough).
      const running = "select count(*) from pg_stat_activity where state = 'active' and query like 'select count(*) from generate_series%'"
        + " and clock_timestamp() - query_start > interval '300 milliseconds'";
      await until(() => Number(server.psql(running).trim()) >= 1, 20_000);
      const cancel = await RawPgClient.connect(gate.broker);
      cancel.sock.write(bytes.cancelRequest(key.readInt32BE(5), key.subarray(9, 13)));
      await new Promise((r) => setTimeout(r, 300));
      slow.release(true);
      const frames = await c.untilReady();
      // Not sent upstream, the count would have run to its end (minutes) before the batch's answer.
      expect(performance.now() - started).toBeLessThan(20_000);
      const letters = frames.map((f) => String.fromCharCode(f[0]!)).join('');
      expect(letters).toMatch(/E/);
      expect(frames.find((f) => f[0] === 0x45)!.toString('latin1')).toContain('57014');
      c.sock.write(bytes.query('select count(*) from ran'));
      const rows = await c.untilReady();
      expect(rows.find((f) => f[0] === 0x44)!.toString('latin1')).toMatch(/\x00\x00\x00\x010$/);
      c.sock.end(bytes.terminate());
      await until(() => readLog(gate.home).some((r) => r.type === 'session.end'));
      const queries = readLog(gate.home).filter((r) => r.type === 'pg.query');
      expect(queries.find((r) => String((r.detail as { sql: string }).sql).startsWith('select count(*) from generate'))!.detail).toMatchObject({ result: 'cancelled', sqlstate: '57014' });
      expect(queries.find((r) => String((r.detail as { sql: string }).sql).startsWith('insert into ran'))!.detail).toMatchObject({ sqlstate: '57014' });
    } finally { await gate.close(); }
  }, 60_000);
});

describe('read gate', () => {
  it('holds a large response until its record is durable, then delivers all of it', async () => {
    const slow = slowIntents('generate_series');
    const gate = await startGate(server, { transcripts: false, sinkWrap: slow.wrap });
    try {
      const c = await connect(gate);
      let firstRowAt = 0;
      const q = new pg.Query(BIG);
      q.on('row', () => { firstRowAt ||= performance.now(); });
      const done = new Promise<void>((resolve, reject) => { q.on('end', () => resolve()); q.on('error', reject); });
      let rows = 0;
      q.on('row', () => { rows++; });
      c.query(q);
      await new Promise((r) => setTimeout(r, 700)); // the server has long sent it all
      expect(firstRowAt).toBe(0);
      slow.release(true);
      await done;
      expect(rows).toBe(100000);
      expect(firstRowAt).toBeGreaterThanOrEqual(slow.durableAt());
      // The session goes on normally afterwards.
      expect((await c.query('select 1 as x')).rows).toEqual([{ x: 1 }]);
      await c.end();
    } finally { await gate.close(); }
  });

  it('withholds all of a large response whose record fails, and ends the session', async () => {
    const slow = slowIntents('generate_series');
    const gate = await startGate(server, { transcripts: false, sinkWrap: slow.wrap });
    try {
      const c = await connect(gate);
      let rows = 0;
      const q = new pg.Query(BIG);
      q.on('row', () => { rows++; });
      const done = new Promise<unknown>((resolve) => { q.on('end', () => resolve(null)); q.on('error', (e) => resolve(e)); });
      c.query(q);
      await new Promise((r) => setTimeout(r, 500));
      slow.release(false);
      expect(await done).toMatchObject({ code: '58030' });
      expect(rows).toBe(0);
    } finally { await gate.close(); }
  });

  it('an extended read: its ParseComplete, BindComplete and RowDescription wait for its record too (no byte of its response before)', async () => {
    const slow = slowIntents('select 78');
    const gate = await startGate(server, { transcripts: false, sinkWrap: slow.wrap });
    try {
      const c = await RawPgClient.login(gate.broker);
      let got = 0;
      c.sock.on('data', (b: Buffer) => { got += b.length; });
      c.sock.write(Buffer.concat([bytes.parse('', 'select 78 as n'), bytes.bind('', '', []), bytes.describe('P', ''), bytes.execute(), bytes.sync()]));
      await new Promise((r) => setTimeout(r, 500)); // the server has answered by now
      expect(got).toBe(0);
      slow.release(true);
      const frames = await c.untilReady();
      expect(frames.map((f) => String.fromCharCode(f[0]!)).join('')).toBe('12TDCZ');
      c.sock.destroy();
    } finally { await gate.close(); }
  });

  it('a read sent with Terminate behind it: the server closes first, the answer still comes once its record is durable', async () => {
    const slow = slowIntents('select 77');
    const gate = await startGate(server, { transcripts: false, sinkWrap: slow.wrap });
    try {
      const c = await RawPgClient.login(gate.broker);
      c.sock.write(Buffer.concat([bytes.query('select 77 as n'), bytes.terminate()]));
      await new Promise((r) => setTimeout(r, 500)); // the server has answered and closed by now
      expect(c.closed).toBe(false);
      slow.release(true);
      const frames = await c.untilReady();
      expect(frames.map((f) => String.fromCharCode(f[0]!)).join('')).toBe('TDCZ');
      await new Promise<void>((r) => { if (c.closed) r(); else c.sock.once('close', () => r()); });
    } finally { await gate.close(); }
  });
});
