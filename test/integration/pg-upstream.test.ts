/**
 * connectUpstream against a real PostgreSQL 15 (test/harness/postgres.ts) in every authentication method and
 * sslmode the harness sets up; the returned socket must carry on with queries.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCode } from '../../src/errors.js';
import { PgUpstreamError } from '../../src/errors.js';
import { BackendCode, decodeDataRow, decodeNotice, encodeQuery, renderBinaryValue, TERMINATE, TypeOid } from '../../src/pg/protocol/index.js';
import type { Frame } from '../../src/pg/protocol/index.js';
import { connectUpstream, sendUpstreamCancel } from '../../src/pg/protocol/upstream.js';
import type { UpstreamConnection, UpstreamTarget } from '../../src/pg/protocol/upstream.js';
import { PG_USERS, startPostgres } from '../harness/postgres.js';
import type { PostgresServer } from '../harness/postgres.js';

let pg: PostgresServer;
let ca: string;
beforeAll(async () => {
  pg = await startPostgres();
  ca = readFileSync(pg.caFile!, 'utf8');
});
afterAll(async () => { await pg?.stop(); });

const target = (over: Partial<UpstreamTarget>): UpstreamTarget => ({
  host: '127.0.0.1', port: pg.port, database: pg.database, user: pg.superuser, password: pg.password, sslmode: 'verify-full', ca, ...over,
});

/** Run one simple query on an established connection; returns the first column of each row and the final frames. */
async function query(conn: UpstreamConnection, sql: string): Promise<{ rows: (string | null)[]; error?: string }> {
  conn.socket.write(encodeQuery(sql));
  const rows: (string | null)[] = [];
  let error: string | undefined;
  return new Promise((resolve, reject) => {
    const drain = (): boolean => {
      let f: Frame | undefined;
      while ((f = conn.framer.next())) {
        if (f.code === BackendCode.DataRow) rows.push(decodeDataRow(f.payload).values[0]?.toString('utf8') ?? null);
        if (f.code === BackendCode.ErrorResponse) error = decodeNotice(f.payload).code;
        if (f.code === BackendCode.ReadyForQuery) {
          conn.socket.off('data', onData);
          conn.socket.pause();
          resolve(error === undefined ? { rows } : { rows, error });
          return true;
        }
      }
      return false;
    };
    const onData = (c: Buffer) => { conn.framer.push(c); drain(); };
    if (drain()) return;
    conn.socket.on('data', onData);
    conn.socket.once('error', reject);
    conn.socket.resume();
  });
}

function close(conn: UpstreamConnection): void {
  conn.socket.end(TERMINATE);
}

describe('connectUpstream', () => {
  it('SCRAM-SHA-256 over TLS verify-full: startup messages returned, socket usable', async () => {
    const conn = await connectUpstream(target({ params: { application_name: 'pcigate-test' } }));
    expect(conn.tls).toBe(true);
    expect(conn.authMethod).toBe('scram-sha-256');
    expect(conn.startup.at(-1)!.code).toBe(BackendCode.ReadyForQuery);
    expect(conn.parameters.server_version).toBe(pg.psql('show server_version').trim());
    expect(conn.parameters.application_name).toBe('pcigate-test');
    expect(conn.backendKey?.pid).toBeGreaterThan(0);
    expect(conn.backendKey?.key.length).toBe(4);
    const r = await query(conn, "select ssl::text from pg_stat_ssl where pid = pg_backend_pid()");
    expect(r.rows).toEqual(['true']);
    expect((await query(conn, 'select current_user')).rows).toEqual([pg.superuser]);
    close(conn);
  });

  it('verify-ca, require and prefer use TLS; disable does not', async () => {
    for (const sslmode of ['verify-ca', 'require', 'prefer'] as const) {
      const conn = await connectUpstream(target({ sslmode }));
      expect(conn.tls).toBe(true);
      close(conn);
    }
    const plain = await connectUpstream(target({ sslmode: 'disable', ca: undefined }));
    expect(plain.tls).toBe(false);
    expect((await query(plain, "select ssl::text from pg_stat_ssl where pid = pg_backend_pid()")).rows).toEqual(['false']);
    close(plain);
  });

  it('verify-full refuses a certificate it cannot chain to a trusted CA', async () => {
    await expect(connectUpstream(target({ ca: undefined }))).rejects.toThrow(/TLS \(sslmode=verify-full\)/);
    await expect(connectUpstream(target({ sslmode: 'verify-ca', ca: undefined }))).rejects.toBeInstanceOf(PgUpstreamError);
  });

  it('md5, cleartext (over TLS) and trust users', async () => {
    const md5 = await connectUpstream(target({ user: PG_USERS.md5, password: pg.passwordOf(PG_USERS.md5) }));
    expect(md5.authMethod).toBe('md5');
    expect((await query(md5, 'select current_user')).rows).toEqual([PG_USERS.md5]);
    close(md5);
    const clear = await connectUpstream(target({ user: PG_USERS.password, password: pg.passwordOf(PG_USERS.password) }));
    expect(clear.authMethod).toBe('password');
    close(clear);
    const trust = await connectUpstream(target({ user: PG_USERS.trust, password: undefined }));
    expect(trust.authMethod).toBe('trust');
    expect((await query(trust, 'select current_user')).rows).toEqual([PG_USERS.trust]);
    close(trust);
    const scram = await connectUpstream(target({ user: PG_USERS.scram, password: pg.passwordOf(PG_USERS.scram), sslmode: 'disable' }));
    expect(scram.authMethod).toBe('scram-sha-256');
    close(scram);
  });

  it('refuses to send a cleartext password unencrypted, and honours requireAuth', async () => {
    await expect(connectUpstream(target({ user: PG_USERS.password, password: pg.passwordOf(PG_USERS.password), sslmode: 'disable' })))
      .rejects.toThrow(/cleartext password over an unencrypted connection/);
    await expect(connectUpstream(target({ user: PG_USERS.trust, password: undefined, requireAuth: ['scram-sha-256'] })))
      .rejects.toThrow(/trust authentication, which is not allowed/);
    await expect(connectUpstream(target({ user: PG_USERS.md5, password: pg.passwordOf(PG_USERS.md5), requireAuth: ['scram-sha-256'] })))
      .rejects.toThrow(/md5 authentication, which is not allowed/);
  });

  it('connects over the Unix socket', async () => {
    const conn = await connectUpstream(target({ host: pg.socketDir }));
    expect(conn.tls).toBe(false);
    expect((await query(conn, 'select 6 * 7')).rows).toEqual(['42']);
    close(conn);
  });

  it('reports the server\'s error for a wrong password, a missing password and a rejected pg_hba line', async () => {
    let err: unknown;
    try { await connectUpstream(target({ password: 'wrong' })); } catch (e) { err = e; }
    expect(hasCode(err, 'ERR_PG_UPSTREAM')).toBe(true);
    expect((err as PgUpstreamError).fields?.code).toBe('28P01');
    expect((err as PgUpstreamError).message).not.toContain('wrong');
    await expect(connectUpstream(target({ password: undefined }))).rejects.toThrow(/has no password/);
    err = undefined;
    try { await connectUpstream(target({ user: PG_USERS.tls, password: pg.passwordOf(PG_USERS.tls), sslmode: 'disable' })); } catch (e) { err = e; }
    expect((err as PgUpstreamError).fields?.code).toBe('28000');
    err = undefined;
    try { await connectUpstream(target({ database: 'no_such_db' })); } catch (e) { err = e; }
    expect((err as PgUpstreamError).fields?.code).toBe('3D000');
  });

  it('fails cleanly when nothing listens', async () => {
    await expect(connectUpstream(target({ port: 1 }))).rejects.toThrow(/ECONNREFUSED/);
  });

  it('cancels a running query with the backend key', async () => {
    const conn = await connectUpstream(target({}));
    const running = query(conn, 'select pg_sleep(20)');
    // Cancel only once the query runs: a cancel arriving earlier is ignored by the server.
    const pid = conn.backendKey!.pid;
    for (let i = 0; i < 200 && pg.psql(`select count(*) from pg_stat_activity where pid = ${pid} and state = 'active'`).trim() !== '1'; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await sendUpstreamCancel(target({}), conn.backendKey!);
    const r = await running;
    expect(r.error).toBe('57014');
    close(conn);
  });

  it('renders the binary send format of real server values', async () => {
    const conn = await connectUpstream(target({}));
    const cases: [number, string, string][] = [
      [TypeOid.int4, 'int4send(-42)', '-42'],
      [TypeOid.int8, 'int8send(9007199254740993)', '9007199254740993'],
      [TypeOid.float8, 'float8send(1.25)', '1.25'],
      [TypeOid.bool, 'boolsend(true)', 't'],
      [TypeOid.uuid, "uuid_send('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')", 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'],
      [TypeOid.jsonb, `jsonb_send('{"a":1}')`, '{"a": 1}'],
      [TypeOid.date, "date_send('1999-12-31')", '1999-12-31'],
      [TypeOid.timestamptz, "timestamptz_send('2026-11-22 12:00:00.123456+00')", '2026-11-22 12:00:00.123456+00'],
      [TypeOid.timestamp, "timestamp_send('1999-12-31 23:59:59.999999')", '1999-12-31 23:59:59.999999'],
      [TypeOid.float4, 'float4send(0.1)', '0.1'],
      [TypeOid.numeric, "numeric_send('-1234567.0089')", '-1234567.0089'],
      [TypeOid.numeric, "numeric_send('0.00001')", '0.00001'],
      [TypeOid.numeric, "numeric_send('120000.50')", '120000.50'],
      [TypeOid.numeric, "numeric_send('4111111111111111')", '4111111111111111'],
      [TypeOid.numeric, "numeric_send('NaN')", 'NaN'],
      [TypeOid.numeric, "numeric_send('0')", '0'],
    ];
    await query(conn, "set timezone = 'UTC'");
    for (const [oid, expr, text] of cases) {
      const r = await query(conn, `select encode(${expr}, 'hex')`);
      expect(renderBinaryValue(oid, Buffer.from(r.rows[0]!, 'hex'))).toBe(text);
    }
    close(conn);
  });
});
