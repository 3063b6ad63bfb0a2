/**
 * Protocol edges through pcigate against a real PostgreSQL: TLS to local clients, upstream TLS with
 * verify-full, upstream md5/cleartext/trust logins, NegotiateProtocolVersion, GSSENCRequest, a direct-TLS
 * first byte, FunctionCall, CopyFail, and the listener secret checked by a raw SCRAM exchange.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localTlsContext } from '../../src/broker/local-tls.js';
import { tempDir } from '../harness/cli.js';
import { bytes } from '../harness/pg-bytes.js';
import { PG_USERS, startPostgres, type PostgresServer } from '../harness/postgres.js';
import { RawPgClient } from '../harness/raw-pg-client.js';
import { testCtx } from '../harness/test-ctx.js';
import { readLog, run, startGate, targetOf, until, type Gate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  gate = await startGate(server);
});
afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

// ---- raw client: test/harness/raw-pg-client.ts; messages built by hand here ---------------------------

const i32 = (n: number) => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; };
const cstr = (s: string) => Buffer.from(`${s}\0`);
const msg = (code: string, body: Buffer = Buffer.alloc(0)) => Buffer.concat([Buffer.from(code), i32(body.length + 4), body]);

// ---- tests -----------------------------------------------------------------------------------------

describe('local side', () => {
  it('negotiates down a newer protocol minor and unknown _pq_ options with NegotiateProtocolVersion', async () => {
    const r = await RawPgClient.connect(gate.broker);
    r.startup({ user: 'x', database: gate.broker.database, '_pq_.future_thing': 'on' }, 2);
    const v = await r.frame();
    expect(String.fromCharCode(v[0]!)).toBe('v');
    expect(v.readInt32BE(5)).toBe(0);
    expect(v.readInt32BE(9)).toBe(1);
    expect(v.subarray(13).toString()).toBe('_pq_.future_thing\0');
    const after = await r.scram(gate.broker.secret);
    expect(after.some((f) => f[0] === 0x4b)).toBe(true); // BackendKeyData
    r.sock.end(msg('X'));
  });

  it("answers GSSENCRequest and SSLRequest with 'N' and then authenticates", async () => {
    const r = await RawPgClient.connect(gate.broker);
    r.sock.write(Buffer.concat([i32(8), i32(80877104)]));
    expect(await r.byte()).toBe(0x4e);
    r.sock.write(Buffer.concat([i32(8), i32(80877103)]));
    expect(await r.byte()).toBe(0x4e);
    r.startup({ user: 'x', database: gate.broker.database });
    const ready = await r.scram(gate.broker.secret);
    expect(ready.at(-1)![0]).toBe(0x5a);
    r.sock.end(msg('X'));
  });

  it('refuses a direct-TLS first byte with a clear FATAL', async () => {
    const r = await RawPgClient.connect(gate.broker);
    r.sock.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]));
    const e = await r.frame();
    expect(String.fromCharCode(e[0]!)).toBe('E');
    expect(e.toString()).toMatch(/direct TLS/);
    await until(() => r.closed);
  });

  it('runs FunctionCall and records it; CopyFail ends a COPY FROM STDIN with an error', async () => {
    const oid = Number(server.psql("select 'pg_backend_pid'::regproc::oid").trim());
    const r = await RawPgClient.connect(gate.broker);
    r.startup({ user: 'x', database: gate.broker.database });
    await r.scram(gate.broker.secret);
    r.sock.write(msg('F', Buffer.concat([i32(oid), Buffer.from([0, 0, 0, 0, 0, 0])])));
    const fc = await r.untilReady();
    expect(fc.map((f) => String.fromCharCode(f[0]!))).toEqual(['V', 'Z']);
    r.sock.write(msg('Q', cstr('create temp table cf (x int); copy cf from stdin')));
    const copyIn = await r.frame();
    while (copyIn[0] !== 0x47) Object.assign(copyIn, await r.frame());
    r.sock.write(Buffer.concat([msg('d', Buffer.from('1\n')), msg('f', cstr('client gave up'))]));
    const end = await r.untilReady();
    expect(end.some((f) => f[0] === 0x45 && f.toString().includes('client gave up'))).toBe(true);
    r.sock.end(msg('X'));
    await until(() => readLog(gate.home).some((x) => x.type === 'pg.query' && (x.detail as { protocol: string }).protocol === 'function'));
    const copy = await (async () => {
      await until(() => readLog(gate.home).some((x) => x.type === 'pg.query' && String((x.detail as { sql: string }).sql).includes('copy cf')));
      return readLog(gate.home).find((x) => x.type === 'pg.query' && String((x.detail as { sql: string }).sql).includes('copy cf'))!;
    })();
    // The server reports CopyFail as 57014 query_canceled.
    expect(copy.detail).toMatchObject({ result: 'cancelled', sqlstate: '57014' });
    expect(copy.outcome).toBe('failure');
  });

  // After an error in the extended protocol the server discards every message until Sync, a simple Query
  // too (postgres.c: ignore_till_sync): that Query never runs and gets no answer. It must be recorded as
  // skipped and must not take the Sync's ReadyForQuery, or every later result is attributed one late.
  for (const when of ['sent with the batch', 'sent after the error arrived'] as const) {
    it(`records a Query the server discards after an unsynced extended error as skipped (${when}); the session stays in step`, async () => {
      const tag = when === 'sent with the batch' ? 'qa' : 'qb';
      const r = await RawPgClient.login(gate.broker);
      const failing = Buffer.concat([msg('P', Buffer.concat([cstr(''), cstr(`select 1/count(*) as ${tag}_fails from pg_class where false`), Buffer.from([0, 0])])),
        msg('B', Buffer.concat([cstr(''), cstr(''), Buffer.from([0, 0, 0, 0, 0, 0])])), msg('E', Buffer.concat([cstr(''), i32(0)]))]);
      const discarded = msg('Q', cstr(`select 42 as ${tag}_discarded`));
      if (when === 'sent with the batch') {
        r.sock.write(Buffer.concat([failing, discarded, msg('S')]));
      } else {
        r.sock.write(Buffer.concat([failing, msg('H')]));
        expect((await r.error()).C).toBe('22012');
        r.sock.write(discarded);
        await new Promise((res) => setTimeout(res, 200)); // the server answers nothing to it
        r.sock.write(msg('S'));
      }
      const first = await r.untilReady();
      expect(first.map((f) => String.fromCharCode(f[0]!)).join('')).toBe(when === 'sent with the batch' ? '12EZ' : 'Z');
      r.sock.write(msg('Q', cstr(`select 7 as ${tag}_after`)));
      const after = await r.untilReady();
      expect(after.map((f) => String.fromCharCode(f[0]!)).join('')).toBe('TDCZ');
      expect(after[1]!.subarray(11).toString()).toBe('7');
      r.sock.end(msg('X'));
      const rec = (name: string) => readLog(gate.home).find((x) => x.type === 'pg.query' && String((x.detail as { sql: string }).sql).includes(name));
      await until(() => rec(`${tag}_after`) !== undefined);
      expect(rec(`${tag}_fails`)).toMatchObject({ outcome: 'failure', detail: { result: 'failure', sqlstate: '22012' } });
      expect(rec(`${tag}_discarded`)).toMatchObject({ outcome: 'failure', detail: { protocol: 'simple', result: 'skipped', sqlstate: '22012', rows: 0 } });
      expect(rec(`${tag}_after`)).toMatchObject({ outcome: 'success', detail: { result: 'success', rows: 1, data_rows: 1 } });
    });
  }

  it('serves TLS to a local client with --tls (psql sslmode=require) and refuses one without it', async () => {
    const home = tempDir('pcigate-tls-');
    const ctx = testCtx();
    const tlsGate = await startGate(server, { tls: await localTlsContext(ctx.fs, home) });
    try {
      const r = await run('psql', ['-X', '-c', '\\conninfo'], { ...tlsGate.env, PGSSLMODE: 'require' });
      expect(r.stdout).toMatch(/SSL connection/);
      // TLS is required, not offered: a client in clear (or one whose SSLRequest was stripped) is refused.
      const plain = await run('psql', ['-X', '-At', '-c', 'select 1'], { ...tlsGate.env, PGSSLMODE: 'disable' });
      expect(plain.code).not.toBe(0);
      expect(plain.stdout).toBe('');
      expect(plain.stderr).toMatch(/this listener requires TLS/);
    } finally { await tlsGate.close(); }
  });
});

describe('upstream side', () => {
  it('logs in upstream over TLS with verify-full against the CA', async () => {
    const g = await startGate(server, { target: targetOf(server, { sslmode: 'verify-full', ca: readFileSync(server.caFile!, 'utf8'), user: PG_USERS.tls, password: server.passwordOf(PG_USERS.tls) }) });
    try {
      const r = await run('psql', ['-X', '-At', '-c', 'select ssl from pg_stat_ssl where pid = pg_backend_pid()'], g.env);
      expect(r.stdout.trim()).toBe('t');
    } finally { await g.close(); }
  });

  it('refuses verify-full when the certificate does not match the host name', async () => {
    const g = await startGate(server, { target: targetOf(server, { host: 'localhost', sslmode: 'verify-full', ca: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' }) });
    try {
      const r = await run('psql', ['-X', '-At', '-c', 'select 1'], g.env);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/could not open the upstream session/);
    } finally { await g.close(); }
  });

  it.each([PG_USERS.md5, PG_USERS.password, PG_USERS.trust, PG_USERS.scram])('logs in upstream as %s', async (user) => {
    // A cleartext password goes upstream only inside TLS (the connector refuses it on plain TCP, below).
    const sslmode = user === PG_USERS.password ? 'require' : 'disable';
    const g = await startGate(server, { target: targetOf(server, { user, password: server.passwordOf(user), sslmode }) });
    try {
      const r = await run('psql', ['-X', '-At', '-c', 'select current_user'], g.env);
      expect(r.stdout.trim()).toBe(user);
    } finally { await g.close(); }
  });

  it("does not pass a client's startup options upstream; options that set search_path refuse the session rather than leave it in other tables", async () => {
    const g = await startGate(server);
    try {
      const r = await run('psql', ['-X', '-At', '-c', 'show search_path'], { ...g.env, PGOPTIONS: '-c search_path=evil' });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('pcigate: startup options are not passed to the server, and these set search_path');
      const other = await run('psql', ['-X', '-At', '-c', 'show work_mem'], { ...g.env, PGOPTIONS: '-c work_mem=7MB' });
      expect(other.code, other.stderr).toBe(0);
      expect(other.stdout.trim()).toBe('4MB');
    } finally { await g.close(); }
  });

  it('passes a search_path startup parameter (pgjdbc currentSchema, postgres.js): the client reads the tables it asked for', async () => {
    server.psql("create schema if not exists sp_app; create table if not exists sp_app.sp_items (v text); insert into sp_app.sp_items values ('from sp_app')");
    const g = await startGate(server);
    try {
      const c = await RawPgClient.connect(g.broker);
      c.startup({ user: g.broker.user, database: g.broker.database, search_path: 'sp_app' });
      await c.scram(g.broker.secret);
      c.sock.write(bytes.query('select v from sp_items'));
      const frames = (await c.untilReady()).map((f) => f.toString('latin1')).join('|');
      expect(frames).toContain('from sp_app');
      c.sock.destroy();
    } finally { await g.close(); }
  });

  it('never sends the broker-held password in cleartext over unencrypted TCP', async () => {
    const g = await startGate(server, { target: targetOf(server, { user: PG_USERS.password, password: server.passwordOf(PG_USERS.password) }) });
    try {
      const r = await run('psql', ['-X', '-At', '-c', 'select current_user'], g.env);
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe('');
    } finally { await g.close(); }
  });

  it("passes the server's own refusal to the client (wrong broker-held password)", async () => {
    const g = await startGate(server, { target: targetOf(server, { user: PG_USERS.md5, password: 'wrong' }) });
    try {
      const c = new pg.Client({ host: g.broker.host, port: g.broker.port, user: g.broker.user, password: g.broker.secret, database: g.broker.database });
      await expect(c.connect()).rejects.toMatchObject({ code: '28P01' });
    } finally { await g.close(); }
  });
});
