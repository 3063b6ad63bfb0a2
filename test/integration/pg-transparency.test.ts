/**
 * Focused regressions for divergences the differential protocol test (pg-differential.test.ts) found:
 * places where a raw client saw something through pcigate that PostgreSQL itself would not have sent. Each
 * runs the same bytes against the server directly and through a gate (a real PostgreSQL, raw sockets).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/index.js';
import { bytes } from '../harness/pg-bytes.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { RawPgClient } from '../harness/raw-pg-client.js';
import { type Gate, startConfiguredGate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql('create table open_t (id int); insert into open_t values (1), (2); create table secret_t (id int); create table copy_t (id int);');
  gate = await startConfiguredGate(server, configSchema.parse({
    connections: { 'test-db': { kind: 'postgres', host: server.host, port: server.port, database: server.database, user: server.superuser, sslmode: 'disable' } },
    policy: {
      roles: { eng: { subjects: ['tester'] } },
      connections: { 'test-db': { roles: { eng: { classes: ['read', 'write', 'copy_in', 'transaction', 'utility', 'function'], tables: { deny: ['secret_t'] } } } } },
    },
  }));
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

/** A logged-in raw client, straight to the server or through the gate. */
async function login(via: 'direct' | 'gate'): Promise<RawPgClient> {
  if (via === 'gate') return RawPgClient.login(gate.broker);
  const c = await RawPgClient.connect(server);
  c.startup({ user: server.superuser, database: server.database });
  await c.scram(server.password);
  return c;
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`not in ${ms} ms: ${what}`)), ms))]);
}

const letters = (frames: Buffer[]) => frames.map((f) => String.fromCharCode(f[0]!)).join('');

describe('Terminate', () => {
  // §55.2.10: the server closes the connection after Terminate, having sent what it owed. A client that
  // waits for that end (instead of closing first) waited for pcigate's idle timeout.
  it.each(['direct', 'gate'] as const)('closes the connection after the answers owed (%s)', async (via) => {
    const c = await login(via);
    c.sock.write(Buffer.concat([bytes.query('select 7 as seven'), bytes.terminate()]));
    const answer = await within(c.untilReady(), 5_000, 'the answer before Terminate');
    expect(letters(answer)).toBe('TDCZ');
    await within(new Promise<void>((r) => { if (c.closed) r(); else c.sock.once('close', () => r()); }), 3_000, 'the connection to close');
  });
});

describe('BackendKeyData', () => {
  // The process ID a client gets is its backend's: clients compare it with NotificationResponse's to tell
  // their own notifications apart, and with pg_backend_pid(). pcigate issued a random one (the secret key
  // stays pcigate's own, so the upstream key is never shown).
  it.each(['direct', 'gate'] as const)('names the backend the session runs on (%s)', async (via) => {
    const c = await RawPgClient.connect(via === 'gate' ? gate.broker : server);
    c.startup(via === 'gate' ? { user: gate.broker.user, database: gate.broker.database } : { user: server.superuser, database: server.database });
    const hello = await c.scram(via === 'gate' ? gate.broker.secret : server.password);
    const k = hello.find((f) => f[0] === 0x4b)!;
    const pid = k.readInt32BE(5);
    c.sock.write(bytes.query("listen kch; notify kch, 'hi'; select pg_backend_pid()::text"));
    const frames = await within(c.untilReady(), 5_000, 'the notification');
    const a = frames.find((f) => f[0] === 0x41)!;
    expect(a.readInt32BE(5)).toBe(pid);
    const d = frames.find((f) => f[0] === 0x44)!;
    expect(Number(d.subarray(11).toString())).toBe(pid);
    c.sock.end(bytes.terminate());
  });
});


describe('an Execute refused by policy', () => {
  // The server keeps the unnamed prepared statement through a failed Execute; pcigate failed the transaction
  // after a refused one with a simple Query, which drops it (postgres.c: exec_simple_query), so a client that
  // binds it again got 26000 through pcigate only.
  it.each([
    ['direct', 'select * from no_such_table'],
    ['gate', 'select * from secret_t'],
  ] as const)('leaves the unnamed statement to the client, and fails the transaction block (%s)', async (via, failing) => {
    const c = await login(via);
    c.sock.write(Buffer.concat([bytes.parse('', 'select id from open_t order by id'), bytes.sync()]));
    expect(letters(await within(c.untilReady(), 5_000, 'the Parse'))).toBe('1Z');
    c.sock.write(Buffer.concat([bytes.parse('named', failing), bytes.bind('p1', 'named', []), bytes.execute('p1'), bytes.sync()]));
    const refused = await within(c.untilReady(), 5_000, 'the refused batch');
    expect(letters(refused)).toBe(via === 'direct' ? 'EZ' : '12EZ');
    c.sock.write(Buffer.concat([bytes.bind('', '', []), bytes.execute(''), bytes.sync()]));
    expect(letters(await within(c.untilReady(), 5_000, 'the unnamed statement again'))).toBe('2DDCZ');
    // In a transaction block the refusal fails it, as the server's error does.
    c.sock.write(bytes.query('begin'));
    await within(c.untilReady(), 5_000, 'begin');
    c.sock.write(Buffer.concat([bytes.parse('', failing), bytes.bind('', '', []), bytes.execute(''), bytes.sync()]));
    const inBlock = await within(c.untilReady(), 5_000, 'the refused batch in a block');
    expect(inBlock.at(-1)!.subarray(5).toString()).toBe('E');
    c.sock.write(Buffer.concat([bytes.parse('', 'select 1'), bytes.bind('', '', []), bytes.execute(''), bytes.sync()]));
    const after = await within(c.untilReady(), 5_000, 'a statement after it');
    expect(after.find((f) => f[0] === 0x45)!.toString()).toContain('25P02');
    c.sock.end(bytes.terminate());
  });
});

describe('COPY FROM STDIN sent without waiting for CopyInResponse', () => {
  // §55.2.6 lets a client send its data and CopyDone/CopyFail right behind the COPY. pcigate took the Sync
  // sent after them for libpq's early Sync (ignored in copy mode) and dropped it from what it expected: the
  // server's ReadyForQuery then answered nothing pcigate knew of, every later batch was taken as skipped,
  // and the next result was masked without its description (the session ended with XX000).
  it.each(['direct', 'gate'] as const)('extended protocol, ended by CopyFail or CopyDone with a Sync behind: the session stays in step (%s)', async (via) => {
    const c = await login(via);
    for (const [end, answer] of [[bytes.copyFail('gave up'), '12GEZ'], [bytes.copyDone(), '12GCZ']] as const) {
      c.sock.write(Buffer.concat([bytes.parse('', 'copy copy_t (id) from stdin'), bytes.bind('', '', []), bytes.execute(''), bytes.copyData('5\n'), end, bytes.sync()]));
      expect(letters(await within(c.untilReady(), 5_000, 'the COPY'))).toBe(answer);
      // Its rows in binary, then in text: told apart only by the statement each row belongs to.
      c.sock.write(Buffer.concat([bytes.parse('', "select '{a}'::text[] as arr"), bytes.bind('', '', [], [], [1]), bytes.describe('P', ''), bytes.execute(''),
        bytes.bind('', '', [], [], [0]), bytes.execute(''), bytes.sync()]));
      expect(letters(await within(c.untilReady(), 5_000, 'the batch after it'))).toBe('12TDC2DCZ');
    }
    c.sock.end(bytes.terminate());
  });
});
