/**
 * The `pg` driver through pcigate against a real PostgreSQL: simple and parameterized queries, named
 * prepared statements, portals with row limits (PortalSuspended), pipelined extended queries, binary
 * parameters, LISTEN/NOTIFY, cancel, upstream killed mid-query, client killed mid-result, deny hooks,
 * 50 concurrent sessions with every statement recorded exactly once.
 */
import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../recorder/types.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { readLog, startGate, until, type Gate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

function client(g: Gate = gate, over: Partial<pg.ClientConfig> = {}): pg.Client {
  return new pg.Client({ host: g.broker.host, port: g.broker.port, user: g.broker.user, password: g.broker.secret, database: g.broker.database, ...over });
}

async function withClient<T>(fn: (c: pg.Client) => Promise<T>, g: Gate = gate): Promise<T> {
  const c = client(g);
  await c.connect();
  try { return await fn(c); } finally { await c.end(); }
}

const queries = (home: string, session?: string): AuditRecord[] =>
  readLog(home).filter((r) => r.type === 'pg.query' && (!session || r.session === session));

beforeAll(async () => {
  server = await startPostgres();
  gate = await startGate(server, {
    hooksFor: () => ({
      onStatement: (s) => (/forbidden_table/.test(s.sql) ? { action: 'deny', rule: 'test-deny', message: 'access to forbidden_table is denied by policy' } : { action: 'allow' }),
    }),
  });
  server.psql('create table items (id int primary key, name text, data bytea); insert into items select g, \'item \' || g, null from generate_series(1, 100) g;');
});
afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

describe('pg driver through pcigate', () => {
  it('runs simple and parameterized queries, recording SQL and bind parameters', async () => {
    await withClient(async (c) => {
      expect((await c.query('select 1 as x')).rows).toEqual([{ x: 1 }]);
      const r = await c.query('select name from items where id = $1 and name like $2', [7, 'item%']);
      expect(r.rows).toEqual([{ name: 'item 7' }]);
      const b = await c.query('select length($1::bytea) as n', [Buffer.from([0, 1, 2, 3])]);
      expect(b.rows[0].n).toBe(4);
    });
    await until(() => queries(gate.home).some((q) => String((q.detail as { sql: string }).sql).startsWith('select length')));
    const qs = queries(gate.home);
    const param = qs.find((q) => String((q.detail as { sql: string }).sql).includes('where id = $1'))!;
    expect(param.detail).toMatchObject({ protocol: 'extended', params: ['7', 'item%'], rows: 1, result: 'success' });
  });

  it('reuses a named prepared statement', async () => {
    await withClient(async (c) => {
      for (let i = 1; i <= 3; i++) {
        const r = await c.query({ name: 'by-id', text: 'select name from items where id = $1', values: [i] });
        expect(r.rows[0].name).toBe(`item ${i}`);
      }
    });
    await until(() => queries(gate.home).filter((q) => (q.detail as { statement?: string }).statement === 'by-id').length === 3);
    const named = queries(gate.home).filter((q) => (q.detail as { statement?: string }).statement === 'by-id');
    expect(named.map((q) => (q.detail as { params: string[] }).params)).toEqual([['1'], ['2'], ['3']]);
    expect(named.every((q) => (q.detail as { sql: string }).sql === 'select name from items where id = $1')).toBe(true);
  });

  it('reads a portal in row-limited pieces (PortalSuspended)', async () => {
    // pg's Cursor is a separate package; the same protocol is driven by hand here:
    // Parse/Bind/Execute(max 10) + Flush, again, then Sync.
    const sock = await rawSession(gate);
    try {
      const parse = msg('P', Buffer.concat([cstr(''), cstr('select id from items order by id'), i16(0)]));
      const bind = msg('B', Buffer.concat([cstr('p1'), cstr(''), i16(0), i16(0), i16(0)]));
      const exec = msg('E', Buffer.concat([cstr('p1'), i32(10)]));
      sock.write(Buffer.concat([msg('Q', cstr('begin')), parse, bind, exec, msg('H'), exec, msg('S'), msg('Q', cstr('commit'))]));
      const got = await readUntil(sock, (codes) => codes.filter((c) => c === 'Z').length === 3);
      expect(got.filter((c) => c === 'D').length).toBe(20);
      expect(got.filter((c) => c === 's').length).toBe(2);
    } finally { sock.end(); }
    await until(() => queries(gate.home).filter((q) => (q.detail as { portal?: string }).portal === 'p1').length === 2);
    const portal = queries(gate.home).filter((q) => (q.detail as { portal?: string }).portal === 'p1');
    expect(portal.map((q) => (q.detail as { suspended: boolean; data_rows: number }).suspended)).toEqual([true, true]);
    expect(portal.map((q) => (q.detail as { data_rows: number }).data_rows)).toEqual([10, 10]);
  });

  it('pipelines many extended queries before one Sync, each recorded with its own parameters', async () => {
    const sock = await rawSession(gate);
    const parts: Buffer[] = [msg('P', Buffer.concat([cstr('pipe'), cstr('select name from items where id = $1'), i16(0)]))];
    for (let i = 1; i <= 20; i++) {
      parts.push(msg('B', Buffer.concat([cstr(''), cstr('pipe'), i16(0), i16(1), i32(Buffer.byteLength(String(i))), Buffer.from(String(i)), i16(0)])));
      parts.push(msg('D', Buffer.concat([Buffer.from('P'), cstr('')])));
      parts.push(msg('E', Buffer.concat([cstr(''), i32(0)])));
    }
    parts.push(msg('S'));
    try {
      sock.write(Buffer.concat(parts));
      const got = await readUntil(sock, (codes) => codes.includes('Z'));
      expect(got.filter((c) => c === 'C').length).toBe(20);
    } finally { sock.end(); }
    await until(() => queries(gate.home).filter((q) => (q.detail as { statement?: string }).statement === 'pipe').length === 20);
    const piped = queries(gate.home).filter((q) => (q.detail as { statement?: string }).statement === 'pipe');
    expect(piped.map((q) => (q.detail as { params: string[] }).params[0])).toEqual(Array.from({ length: 20 }, (_, i) => String(i + 1)));
  });

  it('denies a statement with 42501 and keeps the session usable (simple and extended)', async () => {
    server.psql('create table if not exists forbidden_table (x int)');
    await withClient(async (c) => {
      await expect(c.query('select * from forbidden_table')).rejects.toMatchObject({ code: '42501' });
      expect((await c.query('select 2 as y')).rows).toEqual([{ y: 2 }]);
      await expect(c.query('select * from forbidden_table where x = $1', [1])).rejects.toMatchObject({ code: '42501' });
      expect((await c.query('select $1::int as z', [3])).rows).toEqual([{ z: 3 }]);
    });
    await until(() => readLog(gate.home).filter((r) => r.type === 'pg.query' && r.outcome === 'denied').length >= 2);
    const denied = readLog(gate.home).filter((r) => r.type === 'pg.query' && r.outcome === 'denied');
    expect(denied[0]!.detail).toMatchObject({ rule: 'test-deny', sqlstate: '42501' });
    expect(readLog(gate.home).some((r) => r.type === 'pg.intent' && String((r.detail as { sql: string }).sql).includes('forbidden_table'))).toBe(false);
  });

  it('delivers LISTEN/NOTIFY', async () => {
    const listener = client();
    await listener.connect();
    try {
      await listener.query('listen chan');
      const got = new Promise<pg.Notification>((resolve) => listener.on('notification', resolve));
      await withClient((c) => c.query("notify chan, 'hello'"));
      expect((await got).payload).toBe('hello');
    } finally { await listener.end(); }
  });

  it('cancels a running query through the mapped key (57014) and records the cancel', async () => {
    const c = client();
    await c.connect();
    try {
      // pg's cancel() needs the Query object itself (the promise form cannot be cancelled).
      const query = new pg.Query('select pg_sleep(30)');
      const q = new Promise((resolve, reject) => { query.on('error', reject); query.on('end', resolve); });
      c.query(query);
      await until(() => server.psql("select count(*) from pg_stat_activity where query = 'select pg_sleep(30)' and state = 'active'").trim() === '1');
      // pg sends a CancelRequest with the BackendKeyData it was given: the backend's process ID (as the server
      // gives it: clients match it against notifications) with pcigate's secret key, not the server's.
      const pidSeen = (c as unknown as { processID: number }).processID;
      expect(server.psql(`select query from pg_stat_activity where pid = ${pidSeen}`).trim()).toBe('select pg_sleep(30)');
      const cancel = new pg.Client({ host: gate.broker.host, port: gate.broker.port, user: gate.broker.user, password: gate.broker.secret, database: gate.broker.database });
      (cancel as unknown as { cancel(c: pg.Client, q: unknown): void }).cancel(c, query);
      await expect(q).rejects.toMatchObject({ code: '57014' });
      expect((await c.query('select 1 as ok')).rows).toEqual([{ ok: 1 }]);
    } finally { await c.end(); }
    await until(() => readLog(gate.home).some((r) => r.type === 'pg.cancel' && r.outcome === 'success'));
    await until(() => queries(gate.home).some((q) => (q.detail as { sql: string }).sql === 'select pg_sleep(30)'));
    const slept = queries(gate.home).find((q) => (q.detail as { sql: string }).sql === 'select pg_sleep(30)')!;
    expect(slept.detail).toMatchObject({ result: 'cancelled', sqlstate: '57014' });
  });

  it('reports an upstream killed mid-query to the client, records session.end, and keeps serving', async () => {
    const c = client();
    c.on('error', () => { /* the terminated connection also emits an error event */ });
    await c.connect();
    const sessionsBefore = readLog(gate.home).filter((r) => r.type === 'session.end').length;
    const q = c.query('select pg_sleep(30)');
    await until(() => server.psql("select count(*) from pg_stat_activity where query = 'select pg_sleep(30)' and state = 'active'").trim() === '1');
    server.psql("select pg_terminate_backend(pid) from pg_stat_activity where query = 'select pg_sleep(30)'");
    await expect(q).rejects.toMatchObject({ code: '57P01' });
    await until(() => readLog(gate.home).filter((r) => r.type === 'session.end').length > sessionsBefore);
    await until(() => readLog(gate.home).some((r) => r.type === 'session.end' && (r.detail as { reason: string }).reason === 'upstream closed the connection'));
    const end = readLog(gate.home).find((r) => r.type === 'session.end' && (r.detail as { reason: string }).reason === 'upstream closed the connection')!;
    expect(end.outcome).toBe('failure');
    expect(await withClient(async (d) => (await d.query('select 5 as five')).rows)).toEqual([{ five: 5 }]);
  });

  it('cancels the upstream query when the client vanishes mid-result', async () => {
    const sock = await rawSession(gate);
    // Rows stream first (a set-returning function in the target list is not materialised), then the last
    // row sleeps: only a cancel stops that sleep, since the server writes nothing while it sleeps.
    sock.write(msg('Q', cstr('select g, repeat(\'x\', 200), case when g = 20000 then pg_sleep(60) end from (select generate_series(1, 20000) as g) s')));
    await new Promise((r) => sock.once('data', r));
    sock.destroy();
    await until(() => server.psql("select count(*) from pg_stat_activity where query like 'select g, repeat%' and state = 'active'").trim() === '0', 15_000);
  });

  it('serves 50 concurrent sessions and records every statement exactly once', async () => {
    await Promise.all(Array.from({ length: 50 }, (_, i) => withClient(async (c) => {
      for (let j = 0; j < 4; j++) {
        const r = await c.query('select $1::int * 1000 + $2::int as v', [i, j]);
        expect(r.rows[0].v).toBe(i * 1000 + j);
      }
    })));
    // Counted by their own text: a record of an earlier test's session may still come (a vanished client's drain).
    const vals = () => queries(gate.home)
      .filter((q) => (q.detail as { sql: string }).sql === 'select $1::int * 1000 + $2::int as v')
      .map((q) => (q.detail as { params: string[] }).params.join(':'));
    await until(() => vals().length >= 200);
    await new Promise((r) => setTimeout(r, 200));
    expect(vals().length).toBe(200);
    expect(new Set(vals()).size).toBe(200);
  });
});

// ---- raw protocol helpers (the parts pg hides) -----------------------------------------------------

function cstr(s: string): Buffer { return Buffer.concat([Buffer.from(s), Buffer.from([0])]); }
function i16(n: number): Buffer { const b = Buffer.alloc(2); b.writeInt16BE(n); return b; }
function i32(n: number): Buffer { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; }
function msg(code: string, body: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([Buffer.from(code), i32(body.length + 4), body]);
}

/** A logged-in raw socket (pg does the SCRAM exchange; its socket is then borrowed). */
async function rawSession(g: Gate): Promise<net.Socket> {
  const c = client(g);
  c.on('error', () => { /* the borrowed socket is closed by the test */ });
  await c.connect();
  const conn = (c as unknown as { connection: { stream: net.Socket } }).connection;
  const sock = conn.stream;
  sock.removeAllListeners('data');
  sock.removeAllListeners('end');
  sock.removeAllListeners('error');
  sock.on('error', () => {});
  return sock;
}

/** Reads backend message codes until `done` says so. */
function readUntil(sock: net.Socket, done: (codes: string[]) => boolean): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const codes: string[] = [];
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 5 && buf.length >= 1 + buf.readInt32BE(1)) {
        codes.push(String.fromCharCode(buf[0]!));
        buf = buf.subarray(1 + buf.readInt32BE(1));
      }
      if (done(codes)) { sock.off('data', onData); resolve(codes); }
    };
    sock.on('data', onData);
    setTimeout(() => reject(new Error(`timeout; got ${codes.join('')}`)), 15_000);
  });
}
