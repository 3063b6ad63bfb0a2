/**
 * The relay counts every Sync the server answers (relay.ts): a Sync the client sent inside the data of a COPY FROM
 * STDIN that then failed on a bad row (the server read it after the failure and answers it), and a refused
 * FunctionCall behind a batch the server already failed in (pcigate's abort must not end the server's skip to the
 * client's Sync). Miscounted, the relay took statements that ran for skipped ones, judged a redefined prepared
 * statement by its old text (a denied read ran), and hung clients. Where it cannot tell which Syncs the server
 * answers, the session ends with a FATAL that says so. Raw protocol against a real PostgreSQL through the gate.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/index.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { bytes } from '../harness/pg-bytes.js';
import { RawPgClient } from '../harness/raw-pg-client.js';
import { type Gate, readLog, startConfiguredGate, until } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql('create table items (id int primary key); create table secrets (id int); insert into secrets values (4242);');
  const config = configSchema.parse({
    connections: { 'test-db': { kind: 'postgres', host: server.host, port: server.port, database: server.database, user: server.superuser, sslmode: 'disable' } },
    policy: {
      roles: { eng: { subjects: ['tester'] } },
      // No `function` class: a FunctionCall is refused.
      connections: { 'test-db': { roles: { eng: { classes: ['read', 'write', 'copy_in', 'transaction', 'utility'], tables: { deny: ['secrets'] } } } } },
    },
  });
  gate = await startConfiguredGate(server, config);
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

const kinds = (fs: Buffer[]) => fs.map((f) => String.fromCharCode(f[0]!)).join('');
const ids = () => server.psql('select coalesce(string_agg(id::text, \',\' order by id), \'\') from items').trim();
const result = (r: { detail?: unknown }) => (r.detail as { result?: string }).result;
const queryRecords = (sql: string) => readLog(gate.home).filter((r) => r.type === 'pg.query' && (r.detail as { sql?: string }).sql === sql);

/** A session in COPY FROM STDIN of items, started by Parse/Bind/Execute/Sync (as libpq does it). */
async function copying(): Promise<RawPgClient> {
  const c = await RawPgClient.login(gate.broker);
  c.sock.write(Buffer.concat([bytes.parse('', 'copy items from stdin'), bytes.bind('', '', []), bytes.execute(), bytes.sync()]));
  expect(kinds(await c.until('G'))).toBe('12G');
  return c;
}

describe('a Sync sent inside the data of a COPY that fails', () => {
  it('is answered; what the client sends next runs and is recorded as run, and a statement redefined then is judged by its new text', async () => {
    const s = await RawPgClient.login(gate.broker);
    s.sock.write(Buffer.concat([bytes.parse('s1', 'select 1 as harmless'), bytes.sync()]));
    expect(kinds(await s.untilReady())).toBe('1Z');
    s.sock.write(Buffer.concat([bytes.parse('', 'copy items from stdin'), bytes.bind('', '', []), bytes.execute(), bytes.sync()]));
    expect(kinds(await s.until('G'))).toBe('12G');
    // A bad row and a Sync behind it, in one write: the server fails on the row and answers the Sync.
    s.sock.write(Buffer.concat([bytes.copyData('not a number\n'), bytes.sync()]));
    const bad = await s.untilReady();
    expect(kinds(bad)).toBe('EZ');
    expect(bad[0]!.toString('latin1')).toContain('22P02');
    // That Sync ended the server's skip: this runs.
    s.sock.write(bytes.query('insert into items values (300)'));
    expect(kinds(await s.untilReady())).toBe('CZ');
    expect(ids()).toBe('300');
    // s1 redefined as a read of a denied table, then executed: refused (it ran as the old text's before).
    s.sock.write(Buffer.concat([bytes.close('S', 's1'), bytes.parse('s1', 'select id from secrets'), bytes.sync()]));
    expect(kinds(await s.untilReady())).toBe('31Z');
    s.sock.write(Buffer.concat([bytes.bind('', 's1', []), bytes.execute(), bytes.sync()]));
    const denied = await s.untilReady();
    expect(kinds(denied)).toBe('2EZ');
    expect(Buffer.concat(denied).toString('latin1')).toContain('pcigate: denied by policy');
    expect(Buffer.concat(denied).toString('latin1')).not.toContain('4242');
    // The session goes on in step: a simple query gets its own answer.
    s.sock.write(bytes.query('select 41 + 1 as answer'));
    const answer = await s.untilReady();
    expect(kinds(answer)).toBe('TDCZ');
    expect(answer[1]!.toString('latin1')).toContain('42');
    s.sock.end(bytes.terminate());

    await until(() => queryRecords('insert into items values (300)').length === 1 && queryRecords('select id from secrets').length === 1);
    expect(result(queryRecords('insert into items values (300)')[0]!)).toBe('success');
    const refused = queryRecords('select id from secrets')[0]!;
    expect(refused.outcome).toBe('denied');
  });

  it('ends the session with a FATAL that says so when which of several Syncs the server answers cannot be told', async () => {
    const c = await copying();
    // A Sync between a row and a CopyFail: the COPY fails at the row or at the CopyFail, and only the server knows.
    c.sock.write(Buffer.concat([bytes.copyData('6\n'), bytes.sync(), bytes.copyFail('changed my mind'), bytes.sync()]));
    const fatal = await c.error();
    expect(fatal.S).toBe('FATAL');
    expect(fatal.C).toBe('08P01');
    expect(fatal.M).toContain('COPY failed after the client sent Sync inside its data');
    await until(() => readLog(gate.home).some((r) => r.type === 'session.end' && (r.detail as { reason?: string }).reason === 'lost track of the server'));
    // The listener serves the next session.
    const next = await RawPgClient.login(gate.broker);
    next.sock.write(bytes.query('select 1'));
    expect(kinds(await next.untilReady())).toBe('TDCZ');
    next.sock.end(bytes.terminate());
  });
});

describe('a FunctionCall refused behind a batch the server failed in', () => {
  it('leaves the server skipping to the client\'s Sync: the batch\'s later statements do not run', async () => {
    server.psql('truncate items');
    const c = await RawPgClient.login(gate.broker);
    c.sock.write(Buffer.concat([
      // Fails as it runs, after pcigate has refused the FunctionCall behind it.
      bytes.parse('', 'select count(1/(n - 3000000)) from generate_series(1, 3000000) n'), bytes.bind('', '', []), bytes.execute(),
      bytes.functionCall(2943, []), // txid_current(): class function, refused
      bytes.parse('', 'insert into items values (400)'), bytes.bind('', '', []), bytes.execute(),
      bytes.sync(),
    ]));
    const answered = await c.untilReady();
    expect(kinds(answered), answered.map((f) => f.toString('latin1')).join(' | ')).toBe('12EEZ');
    expect(answered[2]!.toString('latin1')).toContain('22012');
    expect(answered[3]!.toString('latin1')).toContain('pcigate: denied by policy');
    c.sock.write(bytes.query('select 2'));
    expect(kinds(await c.untilReady())).toBe('TDCZ');
    c.sock.end(bytes.terminate());
    expect(ids()).toBe('');
    await until(() => queryRecords('insert into items values (400)').length === 1);
    // Recorded as the server had it: skipped, with the error that made it skip (a record's outcome says failure).
    expect(result(queryRecords('insert into items values (400)')[0]!)).toBe('skipped');
  });
});
