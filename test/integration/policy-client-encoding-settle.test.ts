/**
 * When policy may trust the server's report of client_encoding (policy-engine.ts encodingPending): a statement
 * that may change it (a SET, a transaction's end) is answered by a ParameterStatus before its ReadyForQuery,
 * or by none at all when the value ends as it was. The pending encoding used to be forgotten at any report,
 * and kept until one: a report answering an earlier SET let a text through while a later SET to LATIN1 was
 * still to run (the server read the denied column número), and `BEGIN; SET LOCAL client_encoding …; COMMIT`
 * (no report: the value ended as it was) left every non-ASCII text refused for the rest of the session.
 * Now it is forgotten only by a statement decided once the server has answered everything before it.
 * Also: a refused statement in a pipelined extended batch answers as the server's own error would.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { bytes } from '../harness/pg-bytes.js';
import { RawPgClient } from '../harness/raw-pg-client.js';
import { type Gate, numeroDeniedConfig, pgClient, startConfiguredGate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create table cards ("número" text, other text); insert into cards values ('NUMERO-SECRET', 'plain'); create table notes (t text);`);
  gate = await startConfiguredGate(server, numeroDeniedConfig(server, { classes: ['write'], functions: ['set_config'] }));
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

const LATIN1_NUMERO = Buffer.from('SELECT número FROM cards', 'latin1');
/** A Parse of `sql` as its bytes (not UTF-8). */
const parseBytes = (name: string, sql: Buffer): Buffer => bytes.msg('P', bytes.cstr(name), sql, [0], bytes.i16(0));

describe('a transaction\'s end that undoes a client_encoding', () => {
  for (const tx of ["BEGIN; SET LOCAL client_encoding = 'LATIN1'; COMMIT", "BEGIN; SET client_encoding = 'LATIN1'; ROLLBACK"]) {
    it(`${tx} in one string (no report: the value ended as it was): non-ASCII text is read again`, async () => {
      const c = await pgClient(gate);
      try {
        await c.query(tx);
        expect((await c.query("SELECT 'café' AS x")).rows).toEqual([{ x: 'café' }]);
        await expect(c.query('SELECT número FROM cards')).rejects.toMatchObject({ message: expect.stringContaining('columns.deny') });
      } finally { await c.end(); }
    });
  }

  it('LATIN1 and back to UTF8, then a transaction: non-ASCII text is read after its COMMIT', async () => {
    const c = await pgClient(gate);
    try {
      for (const sql of ["SET client_encoding = 'LATIN1'", "SET client_encoding = 'UTF8'", 'BEGIN', 'COMMIT']) await c.query(sql);
      expect((await c.query("SELECT 'café' AS x")).rows).toEqual([{ x: 'café' }]);
    } finally { await c.end(); }
  });

  it('pipelined behind the COMMIT (not answered yet): refused', async () => {
    const out = await RawPgClient.pipelined(gate.broker, [
      bytes.query("SET client_encoding = 'LATIN1'"), bytes.query('BEGIN'), bytes.query("SET LOCAL client_encoding = 'UTF8'"),
      bytes.query('COMMIT'), bytes.query(LATIN1_NUMERO),
    ], 5);
    expect(out).not.toContain('NUMERO-SECRET');
    expect(out).toContain('rule: client_encoding');
  });
});

describe('the window between a SET and its report', () => {
  it('a report answering an earlier SET does not admit a text while a later SET to LATIN1 still runs', async () => {
    // The SET to LATIN1 looks its conversion up in pg_conversion, which another session holds locked: it
    // runs only once the text behind it has been decided.
    const locker = new pg.Client({ host: server.host, port: server.port, user: server.superuser, password: server.password, database: server.database });
    await locker.connect();
    const c = await RawPgClient.login(gate.broker);
    const seen: string[] = [];
    const read = async (n: number) => {
      for (let i = 0; i < n; i++) for (const f of await c.untilReady()) seen.push(`${String.fromCharCode(f[0]!)}:${f.subarray(5).toString('latin1')}`);
    };
    try {
      c.sock.write(bytes.query("SET client_encoding = 'WIN1252'"));
      await read(1);
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE pg_catalog.pg_conversion IN ACCESS EXCLUSIVE MODE');
      c.sock.write(Buffer.concat([bytes.query("SET client_encoding = 'UTF8'"), bytes.query("SET client_encoding = 'LATIN1'")]));
      await read(1); // the first SET's answer, its report (UTF8) with it
      c.sock.write(bytes.query(LATIN1_NUMERO));
      // Time for pcigate to decide (and, wrongly, forward) the text before the lock goes.
      await new Promise((r) => setTimeout(r, 300));
      await locker.query('COMMIT');
      await read(2);
    } finally {
      c.sock.destroy();
      await locker.end();
    }
    const out = seen.join('\n');
    expect(out).toContain('S:client_encoding\u0000LATIN1');
    expect(out).not.toContain('NUMERO-SECRET');
    expect(out).toContain('rule: client_encoding');
  });

  it.each([
    ['an extended batch: a SET, then a non-ASCII text before the Sync, is refused', [], 1],
    ['an extended batch after one with the SET, sent before its ReadyForQuery: refused', [bytes.sync()], 2],
  ])('%s', async (_name, syncAfterSet, readies) => {
    const out = await RawPgClient.pipelined(gate.broker, [
      bytes.parse('', "SET client_encoding = 'LATIN1'"), bytes.bind('', '', []), bytes.execute(), ...syncAfterSet,
      parseBytes('', LATIN1_NUMERO), bytes.bind('', '', []), bytes.execute(), bytes.sync(),
    ], readies);
    expect(out).not.toContain('NUMERO-SECRET');
    expect(out).toContain('rule: client_encoding');
  });

  it('set_config(\'client_encoding\') in an extended batch (no SET policy tracks): the text behind it is refused', async () => {
    const out = await RawPgClient.pipelined(gate.broker, [
      bytes.parse('', "SELECT set_config('client_encoding', 'LATIN1', false)"), bytes.bind('', '', []), bytes.execute(),
      parseBytes('', LATIN1_NUMERO), bytes.bind('', '', []), bytes.execute(), bytes.sync(),
    ], 1);
    expect(out).not.toContain('NUMERO-SECRET');
    expect(out).toMatch(/E:.*rule: unseen_settings/);
    expect(out).toMatch(/C:SELECT 1[^]*E:/); // the set_config ran first
  });
});

describe('a statement Parsed under another client_encoding', () => {
  it('Parsed while LATIN1, Executed after SET client_encoding = UTF8: refused, the server read its text in LATIN1', async () => {
    const out = await RawPgClient.writes(gate.broker, [
      bytes.query("SET client_encoding = 'LATIN1'"),
      Buffer.concat([parseBytes('s1', LATIN1_NUMERO), bytes.sync()]),
      bytes.query("SET client_encoding = 'UTF8'"),
      Buffer.concat([bytes.bind('', 's1', []), bytes.execute(), bytes.sync()]),
    ]);
    expect(out).not.toContain('NUMERO-SECRET');
    expect(out).toContain('rule: client_encoding');
  });

  it('Parsed behind set_config(\'client_encoding\', \'LATIN1\') not yet answered, Executed after SET client_encoding = UTF8: refused', async () => {
    const out = await RawPgClient.writes(gate.broker, [
      Buffer.concat([
        bytes.parse('', "SELECT set_config('client_encoding', 'LATIN1', false)"), bytes.bind('', '', []), bytes.execute(),
        parseBytes('s1', LATIN1_NUMERO), bytes.sync(),
      ]),
      bytes.query("SET client_encoding = 'UTF8'"),
      Buffer.concat([bytes.bind('', 's1', []), bytes.execute(), bytes.sync()]),
    ]);
    expect(out).toContain('S:client_encoding\u0000LATIN1');
    expect(out).not.toContain('NUMERO-SECRET');
    expect(out).toContain('rule: unseen_settings');
  });

  it('Parsed and Executed under UTF8: read (the denied column by name)', async () => {
    const out = await RawPgClient.writes(gate.broker, [
      Buffer.concat([bytes.parse('s1', "SELECT 'café' AS x"), bytes.parse('s2', 'SELECT número FROM cards'), bytes.sync()]),
      Buffer.concat([bytes.bind('', 's1', []), bytes.execute(), bytes.sync()]),
      Buffer.concat([bytes.bind('', 's2', []), bytes.execute(), bytes.sync()]),
    ]);
    expect(out).toContain(Buffer.from('café').toString('latin1'));
    expect(out).toContain('columns.deny');
  });
});

describe('a refusal inside a pipelined extended batch', () => {
  it('the statements before it are answered, the rest of the batch is skipped and its transaction rolled back, as after a server error', async () => {
    const insert = (t: string) => [bytes.parse('', `INSERT INTO notes VALUES ('${t}')`), bytes.bind('', '', []), bytes.execute()];
    const out = await RawPgClient.pipelined(gate.broker, [
      ...insert('before'),
      bytes.parse('', 'DROP TABLE notes'), bytes.bind('', '', []), bytes.describe('P', ''), bytes.execute(),
      ...insert('after'), bytes.sync(),
      bytes.query('SELECT count(*) AS n FROM notes'),
    ], 2);
    const frames = out.split('\n').map((l) => l[0]);
    // 1 2 C (the first INSERT), 1 2 n (the refused DROP's Parse, Bind, Describe), E (pcigate's), Z; then the count.
    expect(frames.slice(0, 8).join('')).toBe('12C12nEZ');
    expect(out).toContain('may not run ddl statements');
    expect(out).not.toContain('INSERT 0 1\u0000\nE'); // nothing after the error but the ReadyForQuery
    expect(out.split('\n').filter((l) => l.startsWith('C:INSERT'))).toHaveLength(1);
    // The batch was one implicit transaction: the error rolled the first INSERT back too.
    expect(out.split('\n').find((l) => l.startsWith('D:'))?.endsWith('0')).toBe(true);
  });

  it('in a transaction block: the block fails (ReadyForQuery E), 25P02 until ROLLBACK, then the session goes on', async () => {
    const out = await RawPgClient.pipelined(gate.broker, [
      bytes.query('BEGIN'),
      bytes.parse('', 'DROP TABLE notes'), bytes.bind('', '', []), bytes.execute(),
      bytes.parse('', "INSERT INTO notes VALUES ('skipped')"), bytes.bind('', '', []), bytes.execute(), bytes.sync(),
      bytes.query('SELECT 1'), bytes.query('ROLLBACK'), bytes.query("SELECT count(*) FROM notes WHERE t = 'skipped'"),
    ], 5);
    const lines = out.split('\n');
    expect(lines.map((l) => l[0]).join('')).toBe('CZ12EZEZCZTDCZ');
    expect(lines[5]).toBe('Z:E');
    expect(lines[6]).toContain('C25P02');
    expect(lines.find((l) => l.startsWith('D:'))?.endsWith('0')).toBe(true);
  });
});
