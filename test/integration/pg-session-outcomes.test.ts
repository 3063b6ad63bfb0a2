/**
 * How a session ends, in `session.end` (docs/log-format.md): a client that vanishes (its socket closed or
 * reset, no Terminate) while one of its statements is held for approval has not ended the session as it
 * chose. Its `session.end` said outcome success, reason `client disconnected`, as for a client that closed
 * between statements; it is `failure`, `client disconnected mid-statement`, as when a statement is running.
 * A client that sent more behind its held statement before going was not seen going (its socket was paused while
 * the statement was decided): an approval given later ran the statement. So it did for one that ended the session
 * with a Terminate before closing (pg's end() on a query timeout): the client never sees it run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { bytes } from '../harness/pg-bytes.js';
import { RawPgClient } from '../harness/raw-pg-client.js';
import { APPROVER, type Gate, STUBBORN_FUNCTION, gateConfig, heldGate, pgClient, readLog, startConfiguredGate, until } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql("create table cards (id int, last4 text); insert into cards values (1, '1111');");
  gate = await startConfiguredGate(server, gateConfig(server, { classes: ['read', 'utility', 'transaction'], role: { approval_tables: ['cards'] } }));
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

describe('session.end when the client vanishes', () => {
  it('while a statement waits for an approval: failure, client disconnected mid-statement', async () => {
    const c = await pgClient(gate);
    const notices: string[] = [];
    c.on('notice', (n) => notices.push(n.message ?? ''));
    const held = c.query('select last4 from cards').catch(() => undefined);
    await until(() => notices.some((n) => n.includes('held for approval')));
    (c as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    await held;
    const session = await sessionEnded('select last4 from cards');
    const end = readLog(gate.home).find((r) => r.type === 'session.end' && r.session === session)!;
    expect(end.outcome).toBe('failure');
    expect((end.detail as { reason?: string }).reason).toBe('client disconnected mid-statement');
    // The held statement itself: refused, the client gone (rule session_end, 08006), before session.end.
    const q = readLog(gate.home).find((r) => r.type === 'pg.query' && r.session === session && (r.detail as { rule?: string }).rule === 'session_end');
    expect(q).toMatchObject({ outcome: 'denied' });
  });

  it('held behind a statement the server still runs: refused as the client goes, so an approval given later runs nothing', async () => {
    server.psql(STUBBORN_FUNCTION);
    // The server runs the first (it ignores the cancel for 2 s) while the second waits for an approver.
    const r = await approvedAfterGoing('hcards', { ahead: bytes.query('select stubborn(2)'), role: { classes: ['read', 'write', 'transaction', 'utility', 'function'] }, go: (c) => { c.sock.destroy(); } });
    expect(r.mine).toEqual([['pg.query', 'denied', 'session_end']]);
    expect(r.rows).toBe('1');
  }, 60_000);

  it('held, then the client sends more and vanishes: its going is seen, so an approval given later runs nothing', async () => {
    // Bytes behind the held statement, then the end of the connection: a socket paused while the statement is
    // decided would keep them unread, and its end unseen, until the approval.
    const r = await approvedAfterGoing('vcards', { go: async (c) => { await new Promise<void>((done) => c.sock.write(bytes.query('select 1'), () => done())); c.sock.destroy(); } });
    expect(r.mine).toEqual([['pg.query', 'denied', 'session_end']]);
    expect(r.log.some((x) => (x.detail as { sql?: string } | undefined)?.sql === 'select 1')).toBe(false);
    expect(r.log.find((x) => x.type === 'session.end')).toMatchObject({ outcome: 'failure', detail: { reason: 'client disconnected mid-statement' } });
    expect(r.rows).toBe('1');
  }, 60_000);

  it('held, then the client ends the session (Terminate) and closes: refused, so an approval given later runs nothing', async () => {
    // As pg's end() does on a query timeout: Terminate and close, the query still unanswered.
    const r = await approvedAfterGoing('tcards', { go: (c) => { c.sock.end(bytes.terminate()); } });
    expect(r.mine).toEqual([['pg.query', 'denied', 'session_end']]);
    expect(r.rows).toBe('1');
  }, 60_000);

  it('between statements: success, client disconnected', async () => {
    const c = await pgClient(gate);
    expect((await c.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    (c as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    const session = await sessionEnded('select 1 as one');
    const end = readLog(gate.home).find((r) => r.type === 'session.end' && r.session === session)!;
    expect(end.outcome).toBe('success');
    expect((end.detail as { reason?: string }).reason).toBe('client disconnected');
  });
});

/**
 * `delete from <table>` (a table of one row, made here) held for an approval on a gate of its own, `ahead` sent
 * before it; `go` ends the client's side. Approved once the proxy has refused it for the client's going (not after a
 * fixed wait: under load the proxy may see the close later, and the approval would then come first and rightly run
 * it). Its records as [type, outcome, rule], the gate's log once session.end is in it, and the table's row count.
 */
async function approvedAfterGoing(table: string, o: { ahead?: Buffer; role?: Record<string, unknown>; go: (c: RawPgClient) => void | Promise<void> }): Promise<{ mine: unknown[][]; log: ReturnType<typeof readLog>; rows: string }> {
  server.psql(`create table ${table} (id int); insert into ${table} values (1);`);
  const sql = `delete from ${table}`;
  const { gate: g, store } = await heldGate(server, o.role ? { role: o.role } : {});
  try {
    const c = await RawPgClient.login(g.broker);
    c.sock.write(Buffer.concat([o.ahead ?? Buffer.alloc(0), bytes.query(sql)]));
    let id = '';
    await until(async () => { id = (await store.list()).find((r) => r.sql === sql && r.state === 'pending')?.id ?? ''; return id !== ''; });
    await o.go(c);
    const refused = (r: { type: string; detail?: unknown }) => r.type === 'pg.query' && (r.detail as { sql?: string }).sql === sql && (r.detail as { rule?: string }).rule === 'session_end';
    await until(() => readLog(g.home).some(refused));
    await store.approve(id, APPROVER).catch(() => undefined);
    await until(() => readLog(g.home).some((r) => r.type === 'session.end'));
    const log = readLog(g.home);
    const mine = log.filter((r) => (r.type === 'pg.intent' || r.type === 'pg.query') && (r.detail as { sql?: string }).sql === sql);
    return { mine: mine.map((r) => [r.type, r.outcome, (r.detail as { rule?: string }).rule]), log, rows: server.psql(`select count(*) from ${table}`).trim() };
  } finally { await g.close(); }
}

/** The session that ran (or was sent) `sql`, once its session.end is in the log. */
async function sessionEnded(sql: string): Promise<string> {
  let session: string | undefined;
  await until(() => {
    const log = readLog(gate.home);
    session = log.find((r) => (r.type === 'pg.query' || r.type === 'pg.intent') && (r.detail as { sql?: string }).sql === sql
      && log.some((e) => e.type === 'session.end' && e.session === r.session))?.session;
    return session !== undefined;
  });
  return session!;
}
