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
    server.psql(`create table hcards (id int); insert into hcards values (1); ${STUBBORN_FUNCTION};`);
    const { gate: g, store } = await heldGate(server, { role: { classes: ['read', 'write', 'transaction', 'utility', 'function'] } });
    try {
      const c = await RawPgClient.login(g.broker);
      // The server runs the first (it ignores the cancel for 2 s) while the second waits for an approver.
      c.sock.write(Buffer.concat([bytes.query('select stubborn(2)'), bytes.query('delete from hcards')]));
      let id = '';
      await until(async () => { id = (await store.list()).find((r) => r.sql === 'delete from hcards' && r.state === 'pending')?.id ?? ''; return id !== ''; });
      c.sock.destroy();
      // Approved once the proxy has refused it for the client's going (not after a fixed wait: under load the
      // proxy may see the close later, and the approval would then come first and rightly run it).
      const refused = (r: { type: string; detail?: unknown }) => r.type === 'pg.query' && (r.detail as { sql?: string; rule?: string }).sql === 'delete from hcards' && (r.detail as { rule?: string }).rule === 'session_end';
      await until(() => readLog(g.home).some(refused));
      await store.approve(id, APPROVER).catch(() => undefined);
      await until(() => readLog(g.home).some((r) => r.type === 'session.end'));
      const mine = readLog(g.home).filter((r) => (r.type === 'pg.intent' || r.type === 'pg.query') && (r.detail as { sql?: string }).sql === 'delete from hcards');
      expect(mine.map((r) => [r.type, r.outcome, (r.detail as { rule?: string }).rule])).toEqual([['pg.query', 'denied', 'session_end']]);
      expect(server.psql('select count(*) from hcards').trim()).toBe('1');
    } finally { await g.close(); }
  }, 60_000);

  it('held, then the client sends more and vanishes: its going is seen, so an approval given later runs nothing', async () => {
    server.psql('create table vcards (id int); insert into vcards values (1);');
    const { gate: g, store } = await heldGate(server);
    try {
      const c = await RawPgClient.login(g.broker);
      c.sock.write(bytes.query('delete from vcards'));
      let id = '';
      await until(async () => { id = (await store.list()).find((r) => r.sql === 'delete from vcards' && r.state === 'pending')?.id ?? ''; return id !== ''; });
      // Bytes behind the held statement, then the end of the connection: a socket paused while the statement is
      // decided would keep them unread, and its end unseen, until the approval.
      await new Promise<void>((r) => c.sock.write(bytes.query('select 1'), () => r()));
      c.sock.destroy();
      const refused = (r: { type: string; detail?: unknown }) => r.type === 'pg.query' && (r.detail as { sql?: string }).sql === 'delete from vcards' && (r.detail as { rule?: string }).rule === 'session_end';
      await until(() => readLog(g.home).some(refused));
      await store.approve(id, APPROVER).catch(() => undefined);
      await until(() => readLog(g.home).some((r) => r.type === 'session.end'));
      const log = readLog(g.home);
      const mine = log.filter((r) => (r.type === 'pg.intent' || r.type === 'pg.query') && /vcards|select 1/.test((r.detail as { sql?: string }).sql ?? ''));
      expect(mine.map((r) => [r.type, r.outcome, (r.detail as { rule?: string }).rule])).toEqual([['pg.query', 'denied', 'session_end']]);
      expect(log.find((r) => r.type === 'session.end')).toMatchObject({ outcome: 'failure', detail: { reason: 'client disconnected mid-statement' } });
      expect(server.psql('select count(*) from vcards').trim()).toBe('1');
    } finally { await g.close(); }
  }, 60_000);

  it('held, then the client ends the session (Terminate) and closes: refused, so an approval given later runs nothing', async () => {
    server.psql('create table tcards (id int); insert into tcards values (1);');
    const { gate: g, store } = await heldGate(server);
    try {
      const c = await RawPgClient.login(g.broker);
      c.sock.write(bytes.query('delete from tcards'));
      let id = '';
      await until(async () => { id = (await store.list()).find((r) => r.sql === 'delete from tcards' && r.state === 'pending')?.id ?? ''; return id !== ''; });
      // As pg's end() does on a query timeout: Terminate and close, the query still unanswered.
      c.sock.end(bytes.terminate());
      const refused = (r: { type: string; detail?: unknown }) => r.type === 'pg.query' && (r.detail as { sql?: string }).sql === 'delete from tcards' && (r.detail as { rule?: string }).rule === 'session_end';
      await until(() => readLog(g.home).some(refused));
      await store.approve(id, APPROVER).catch(() => undefined);
      await until(() => readLog(g.home).some((r) => r.type === 'session.end'));
      const mine = readLog(g.home).filter((r) => (r.type === 'pg.intent' || r.type === 'pg.query') && (r.detail as { sql?: string }).sql === 'delete from tcards');
      expect(mine.map((r) => [r.type, r.outcome, (r.detail as { rule?: string }).rule])).toEqual([['pg.query', 'denied', 'session_end']]);
      expect(server.psql('select count(*) from tcards').trim()).toBe('1');
    } finally { await g.close(); }
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
