/**
 * Session limits through the real proxy against a real PostgreSQL (PCI DSS 8.2.8): with a 2 s idle
 * timeout, an idle `pg` client and an idle psql get FATAL 57P05 naming the limit, and the log holds
 * `session.idle_timeout` {idle_ms, limit_ms} before `session.end` with reason idle_timeout; a statement
 * running longer than the timeout is not idleness (the countdown starts when it ends); a session kept
 * busy is ended at max_duration with FATAL 57P01 and `session.expired`. Idleness inside COPY FROM STDIN
 * (psql waiting for data to copy) and after extended-protocol messages with no Sync behind them (`pg`'s
 * own connection, and a raw client doing a COPY the way libpq's PQexecParams does) ends the session the
 * same way; the server's COPY and open transaction are rolled back and its backend exits.
 */
import { spawn } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../recorder/types.js';
import { pgHooksFor, type PgHooksOptions } from '../../src/broker/pg-hooks.js';
import { systemTimers } from '../../src/broker/session-limits.js';
import type { PgBrokerOptions } from '../../src/broker/pg-broker.js';
import { systemClock } from '../../src/cli/ctx.js';
import { configSchema } from '../../src/config/index.js';
import { bytes } from '../harness/pg-bytes.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { RawPgClient } from '../harness/raw-pg-client.js';
import { testCtx } from '../harness/test-ctx.js';
import { readLog, startGate, STUBBORN_FUNCTION, targetOf, until, type Gate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;
const hooks: { current?: NonNullable<PgBrokerOptions['hooksFor']> } = {};

function configWith(session: Record<string, string>, identity: Record<string, string> = {}) {
  return configSchema.parse({
    identity,
    connections: { 'test-db': { kind: 'postgres', host: server.host, port: server.port, database: server.database, user: server.superuser, sslmode: 'disable' } },
    policy: {
      roles: { eng: { subjects: ['tester'] } },
      connections: { 'test-db': { session, roles: { eng: { classes: ['read', 'write', 'copy_in', 'transaction', 'utility', 'function'] } } } },
    },
  });
}

async function useLimits(session: Record<string, string>, over: Partial<PgHooksOptions> = {}, identity: Record<string, string> = {}): Promise<void> {
  const ctx = testCtx({ clock: systemClock() as never });
  hooks.current = await pgHooksFor(ctx, { config: configWith(session, identity), name: 'test-db', target: targetOf(server), home: gate.home, sink: gate.log, ...over });
}

function client(): pg.Client {
  return new pg.Client({ host: gate.broker.host, port: gate.broker.port, user: gate.broker.user, password: gate.broker.secret, database: gate.broker.database });
}

/** The records of the session that ran `marker` (a statement text unique to the test). */
function sessionOf(marker: string): AuditRecord[] {
  const log = readLog(gate.home);
  const q = log.find((r) => r.type === 'pg.query' && String((r.detail as { sql?: string }).sql).includes(marker));
  if (!q) return [];
  return log.filter((r) => r.session === q.session);
}

const ended = (marker: string) => () => sessionOf(marker).some((r) => r.type === 'session.end');

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create table idle_rows (x int); ${STUBBORN_FUNCTION}`);
  gate = await startGate(server, { hooksFor: (info) => hooks.current!(info) });
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

/** psql through the gate, fed on stdin: what it printed so far, and its exit code once it ends. */
function interactivePsql() {
  const child = spawn('psql', ['-X', '-At'], { env: { ...gate.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  return { child, closed, out: () => Buffer.concat(out).toString(), err: () => Buffer.concat(err).toString() };
}

describe('idle timeout', () => {
  it('ends an idle pg session with FATAL 57P05 and records session.idle_timeout before session.end', async () => {
    await useLimits({ idle_timeout: '2s' });
    const c = client();
    const errors: Array<Error & { code?: string; severity?: string }> = [];
    c.on('error', (e) => errors.push(e));
    await c.connect();
    const t0 = Date.now();
    expect((await c.query("select 'idle-pg' as x")).rows).toEqual([{ x: 'idle-pg' }]);
    await until(() => errors.length > 0, 10_000);
    const waited = Date.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(1900);
    expect(errors[0]).toMatchObject({ code: '57P05', severity: 'FATAL' });
    expect(errors[0]!.message).toContain('2 s idle');
    expect(errors[0]!.message).toContain('PCI DSS 8.2.8');
    await c.end().catch(() => undefined);
    await until(ended('idle-pg'));
    const recs = sessionOf('idle-pg');
    const types = recs.map((r) => r.type);
    expect(types.slice(-2)).toEqual(['session.idle_timeout', 'session.end']);
    const idle = recs.find((r) => r.type === 'session.idle_timeout')!;
    expect(idle).toMatchObject({ outcome: 'success', actor: { sub: 'tester' }, account: { kind: 'postgres', name: server.superuser }, target: { conn: 'test-db', kind: 'postgres', db: server.database } });
    expect(idle.src?.ip).toBeDefined();
    const d = idle.detail as { idle_ms: number; limit_ms: number };
    expect(d.limit_ms).toBe(2000);
    // How soon after the limit the timer fires is timer latency, not this test's to bound; that it fires at
    // the limit exactly, counted from the last activity, is test/unit/broker/session-limits.test.ts's (fake timers).
    expect(d.idle_ms).toBeGreaterThanOrEqual(2000);
    expect(recs.at(-1)).toMatchObject({ type: 'session.end', outcome: 'failure', detail: { reason: 'idle_timeout' } });
    expect(gate.broker.active).toBe(0);
  });

  it('tells psql why its session ended', async () => {
    await useLimits({ idle_timeout: '1s' });
    const { child, out, err, closed } = interactivePsql();
    child.stdin.write("select 'idle-psql';\n");
    await until(() => out().includes('idle-psql'));
    await until(ended('idle-psql'), 10_000);
    child.stdin.end("select 'after-idle';\n");
    const code = await closed;
    const stderr = err();
    expect(stderr).toContain('FATAL:  pcigate: terminating the session after 1 s idle');
    expect(out()).not.toContain('after-idle');
    expect(code).not.toBe(0);
    expect(sessionOf('idle-psql').map((r) => r.type).slice(-2)).toEqual(['session.idle_timeout', 'session.end']);
  });

  it('does not count a running statement as idle: the countdown starts when it ends', async () => {
    await useLimits({ idle_timeout: '1s' });
    const c = client();
    const errors: Error[] = [];
    c.on('error', (e) => errors.push(e));
    await c.connect();
    const r = await c.query("select pg_sleep(2.5), 'busy-pg' as x");
    const finished = Date.now();
    expect(r.rows[0]).toMatchObject({ x: 'busy-pg' });
    // Pipelined extended-protocol statements keep it busy as well.
    await c.query('select $1::text as y', ['still here']);
    await until(() => errors.length > 0, 10_000);
    expect(Date.now() - finished).toBeGreaterThanOrEqual(900);
    await c.end().catch(() => undefined);
    await until(ended('busy-pg'));
    const recs = sessionOf('busy-pg');
    const q = recs.filter((x) => x.type === 'pg.query');
    expect(q.map((x) => x.outcome)).toEqual(['success', 'success']);
    expect(recs.map((x) => x.type).slice(-2)).toEqual(['session.idle_timeout', 'session.end']);
  });
});

describe('maximum duration', () => {
  it('ends a busy session at max_duration with FATAL 57P01 and records session.expired', async () => {
    await useLimits({ max_duration: '2s', idle_timeout: '15m' });
    const c = client();
    const errors: Array<Error & { code?: string }> = [];
    c.on('error', (e) => errors.push(e));
    await c.connect();
    const t0 = Date.now();
    await c.query("select 'expire-pg'");
    // Active all the time: only the deadline can end it.
    while (errors.length === 0 && Date.now() - t0 < 10_000) {
      await c.query('select 1').catch(() => undefined);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1800);
    expect(errors[0]).toMatchObject({ code: '57P01' });
    expect(errors[0]!.message).toContain('maximum duration of 2 s');
    await c.end().catch(() => undefined);
    await until(ended('expire-pg'));
    const recs = sessionOf('expire-pg');
    const exp = recs.find((r) => r.type === 'session.expired')!;
    expect(exp.detail).toMatchObject({ limit: 'max_duration', limit_ms: 2000 });
    expect((exp.detail as { duration_ms: number }).duration_ms).toBeGreaterThanOrEqual(2000);
    expect(recs.at(-1)).toMatchObject({ type: 'session.end', detail: { reason: 'max_duration' } });
    expect(recs.findIndex((r) => r.type === 'session.expired')).toBeLessThan(recs.length - 1);
  });
});

describe('identity.max_session', () => {
  it('ends a session whose token has expired once max_session has passed since it started', async () => {
    const real = systemTimers(systemClock());
    // The limit timers run 58 s ahead of the session's start (identity.max_session's minimum is 1 min),
    // so the token-expiry deadline arrives after about 2 s of real time.
    const ahead = { ...real, now: () => real.now() + 58_000 };
    const expiredAt = Date.now() - 1000;
    await useLimits({ idle_timeout: '15m' }, { timers: ahead, tokenExpiry: (actor) => (actor.sub === 'tester' ? expiredAt : undefined) }, { max_session: '1m' });
    const c = client();
    const errors: Array<Error & { code?: string }> = [];
    c.on('error', (e) => errors.push(e));
    await c.connect();
    await c.query("select 'token-pg'");
    await until(() => errors.length > 0, 10_000);
    expect(errors[0]).toMatchObject({ code: '57P01' });
    expect(errors[0]!.message).toContain('identity.max_session (1 min)');
    await c.end().catch(() => undefined);
    await until(ended('token-pg'));
    const recs = sessionOf('token-pg');
    const exp = recs.find((r) => r.type === 'session.expired')!;
    expect(exp.detail).toMatchObject({ limit: 'max_session', limit_ms: 60_000, token_expired_at: new Date(expiredAt).toISOString() });
    expect(recs.at(-1)).toMatchObject({ type: 'session.end', detail: { reason: 'max_session' } });
  });
});

/** The backend behind a session has exited (no leaked server process). */
const backendGone = (pid: number) => () => server.psql(`select count(*) from pg_stat_activity where pid = ${pid}`).trim() === '0';
const idleRows = () => server.psql('select count(*) from idle_rows').trim();

/**
 * Checks the end of an idle session: session.idle_timeout, then the records of what the end left the server
 * (`after`: a statement it cut, as the server ended it; a rollback claim) when there are any, then session.end
 * (reason idle_timeout); the chain gapless.
 */
function expectIdleEnd(marker: string, limitMs: number, after: object[] = []): void {
  const recs = sessionOf(marker);
  const tail = recs.slice(-2 - after.length);
  expect(tail[0]).toMatchObject({ type: 'session.idle_timeout' });
  expect(tail.slice(1, -1)).toMatchObject(after);
  const idle = recs.find((r) => r.type === 'session.idle_timeout')!;
  expect(idle).toMatchObject({ outcome: 'success', detail: { limit_ms: limitMs } });
  expect((idle.detail as { idle_ms: number }).idle_ms).toBeGreaterThanOrEqual(limitMs);
  expect(recs.at(-1)).toMatchObject({ type: 'session.end', outcome: 'failure', detail: { reason: 'idle_timeout' } });
  const log = readLog(gate.home);
  log.forEach((r, i) => expect(r.seq).toBe(i));
}

/** A COPY FROM STDIN the end failed: pcigate's CopyFail ends it, and the server's answer (57014) is recorded. */
const copyFailed = (sql: string) => ({ type: 'pg.query', outcome: 'failure', detail: { sql, result: 'cancelled', sqlstate: '57014' } });

/**
 * A raw session under a 1 s idle timeout that runs the Query `first`, then sends `sql` as Parse, Bind and Execute with
 * no Sync behind them and stays silent until the timeout's FATAL 57P05 comes; the client, for more.
 */
async function idleAfterUnsynced(first: string, sql: string): Promise<RawPgClient> {
  await useLimits({ idle_timeout: '1s' });
  const c = await RawPgClient.login(gate.broker);
  c.sock.write(bytes.query(first));
  await c.untilReady();
  c.sock.write(Buffer.concat([bytes.parse('', sql), bytes.bind('', '', []), bytes.execute()]));
  expect(await c.error()).toMatchObject({ S: 'FATAL', C: '57P05' });
  return c;
}

describe('idle timeout where the server waits for the client', () => {
  it('ends psql idle inside COPY FROM STDIN: FATAL 57P05, the COPY is not kept, the backend exits', async () => {
    await useLimits({ idle_timeout: '1s' });
    const { child, out, err, closed } = interactivePsql();
    child.stdin.write("select 'idle-copy', pg_backend_pid();\n");
    await until(() => /idle-copy\|\d+/.test(out()));
    const pid = Number(/idle-copy\|(\d+)/.exec(out())![1]);
    // psql sends the COPY, gets CopyInResponse and waits for lines on its stdin: none come for a while.
    child.stdin.write('copy idle_rows from stdin;\n1\n');
    await until(ended('idle-copy'), 10_000);
    expect(sessionOf('idle-copy').some((r) => r.type === 'pg.intent' && String((r.detail as { sql: string }).sql).includes('copy idle_rows'))).toBe(true);
    child.stdin.end('2\n\\.\n');
    expect(await closed).not.toBe(0);
    expect(err()).toContain('pcigate: terminating the session after 1 s idle');
    expectIdleEnd('idle-copy', 1000, [copyFailed('copy idle_rows from stdin;')]);
    await until(backendGone(pid), 10_000);
    expect(idleRows()).toBe('0');
  });

  it('ends a pg connection idle after Parse/Bind/Execute with no Sync: the transaction is rolled back, the backend exits', async () => {
    await useLimits({ idle_timeout: '1s' });
    const c = client();
    const errors: Array<Error & { code?: string; severity?: string }> = [];
    c.on('error', (e) => errors.push(e));
    await c.connect();
    const pid = (await c.query<{ pid: number }>("select 'idle-unsynced', pg_backend_pid() as pid")).rows[0]!.pid;
    // The driver's own messages, without the Sync it would add: the server runs the INSERT and waits.
    const conn = (c as unknown as { connection: { parse(q: object): void; bind(q: object): void; execute(q: object): void } }).connection;
    conn.parse({ text: 'insert into idle_rows values (7)', types: [] });
    conn.bind({ values: [] });
    conn.execute({});
    await until(() => errors.length > 0, 10_000);
    expect(errors[0]).toMatchObject({ code: '57P05', severity: 'FATAL' });
    await c.end().catch(() => undefined);
    await until(ended('idle-unsynced'));
    // The server ran the INSERT (its answer, held for a Sync, comes at pcigate's Flush); the end of the connection
    // rolled its implicit transaction back, which the log claims with the limit's SQLSTATE.
    const ins = sessionOf('idle-unsynced').find((r) => r.type === 'pg.query' && (r.detail as { sql: string }).sql === 'insert into idle_rows values (7)')!;
    expectIdleEnd('idle-unsynced', 1000, [
      { type: 'pg.query', outcome: 'success', detail: { sql: 'insert into idle_rows values (7)', result: 'success', rows: 1 } },
      { type: 'pg.commit', outcome: 'failure', detail: { statements: [(ins.detail as { n: number }).n], sqlstate: '57P05', rolled_back: true } },
    ]);
    await until(backendGone(pid), 10_000);
    expect(idleRows()).toBe('0');
  });

  it('a COMMIT sent with no Sync, then idle: the server committed, and the log says so (its answer is read after the FATAL)', async () => {
    // The server runs the COMMIT at its Execute; its answer waits in the server's buffer for a Sync or Flush.
    await idleAfterUnsynced("select 'idle-commit'; begin; insert into idle_rows values (9)", 'commit');
    await until(ended('idle-commit'));
    expectIdleEnd('idle-commit', 1000, [{ type: 'pg.query', outcome: 'success', detail: { sql: 'commit', result: 'success' } }]);
    expect(idleRows()).toBe('1');
    server.psql('truncate idle_rows');
  });

  it('nothing the client sends after its FATAL is read while the server still answers', async () => {
    // Sent with no Sync, so the session is idle while it runs; it ignores the cancel and runs on for 3 s.
    const c = await idleAfterUnsynced("select 'idle-after-fatal'", 'select stubborn(3)');
    c.sock.write(bytes.query("select 'sent-after-fatal'"));
    await until(ended('idle-after-fatal'), 15_000);
    const recs = sessionOf('idle-after-fatal');
    expect(recs.some((r) => JSON.stringify(r.detail).includes('sent-after-fatal'))).toBe(false);
    expect(recs.filter((r) => r.type === 'pg.query').map((r) => [(r.detail as { sql: string }).sql, r.outcome])).toEqual([
      ["select 'idle-after-fatal'", 'success'], ['select stubborn(3)', 'success'],
    ]);
    expect(recs.at(-1)).toMatchObject({ type: 'session.end', detail: { reason: 'idle_timeout', statements: 2 } });
  });

  it('a statement running at max_duration is cancelled, and recorded as the server ended it', async () => {
    await useLimits({ max_duration: '1s', idle_timeout: '15m' });
    const c = await RawPgClient.login(gate.broker);
    c.sock.write(bytes.query("select 'expire-sleep'"));
    await c.untilReady();
    c.sock.write(bytes.query('select pg_sleep(30)'));
    expect(await c.error()).toMatchObject({ S: 'FATAL', C: '57P01' });
    await until(ended('expire-sleep'), 15_000);
    const recs = sessionOf('expire-sleep');
    expect(recs.slice(-3)).toMatchObject([
      { type: 'session.expired' },
      { type: 'pg.query', outcome: 'failure', detail: { sql: 'select pg_sleep(30)', result: 'cancelled', sqlstate: '57014' } },
      { type: 'session.end', outcome: 'failure', detail: { reason: 'max_duration' } },
    ]);
  });

  it('COPY in the extended protocol with the Sync libpq sends right behind: idle inside it, and idle after it', async () => {
    await useLimits({ idle_timeout: '1s' });
    // Inside: the early Sync is ignored by the server while it waits for COPY data.
    const a = await RawPgClient.login(gate.broker);
    a.sock.write(bytes.query("select 'idle-xcopy'"));
    await a.untilReady();
    a.sock.write(Buffer.concat([bytes.parse('', 'copy idle_rows from stdin'), bytes.bind('', '', []), bytes.execute(), bytes.sync()]));
    await a.until('G');
    a.sock.write(bytes.copyData('5\n'));
    expect(await a.error()).toMatchObject({ S: 'FATAL', C: '57P05' });
    await until(ended('idle-xcopy'));
    expectIdleEnd('idle-xcopy', 1000, [copyFailed('copy idle_rows from stdin')]);
    // After: CopyDone and a second Sync finish it; the session answers as before, then idles out.
    const b = await RawPgClient.login(gate.broker);
    b.sock.write(Buffer.concat([bytes.parse('', "select 'xcopy-later'"), bytes.bind('', '', []), bytes.execute(), bytes.sync()]));
    await b.untilReady();
    b.sock.write(Buffer.concat([bytes.parse('', 'copy idle_rows from stdin'), bytes.bind('', '', []), bytes.execute(), bytes.sync()]));
    await b.until('G');
    b.sock.write(Buffer.concat([bytes.copyData('8\n'), bytes.copyDone(), bytes.sync()]));
    const done = await b.untilReady();
    expect(done.map((f) => String.fromCharCode(f[0]!)).join('')).toBe('CZ');
    expect(done.at(-1)![5]).toBe(0x49); // 'I': committed
    b.sock.write(bytes.query('select 40 + 2'));
    const rows = await b.untilReady();
    expect(rows.map((f) => String.fromCharCode(f[0]!)).join('')).toBe('TDCZ');
    // A session left busy after the COPY would never idle out: no error would come, and the test time out.
    expect(await b.error()).toMatchObject({ S: 'FATAL', C: '57P05' });
    await until(ended('xcopy-later'));
    expectIdleEnd('xcopy-later', 1000);
    const q = sessionOf('xcopy-later').filter((r) => r.type === 'pg.query');
    expect(q.map((r) => [(r.detail as { sql: string }).sql, r.outcome, (r.detail as { rows: number }).rows])).toEqual([
      ["select 'xcopy-later'", 'success', 1], ['copy idle_rows from stdin', 'success', 1], ['select 40 + 2', 'success', 1],
    ]);
    expect(idleRows()).toBe('1');
    server.psql('truncate idle_rows');
  });
});
