/**
 * The in-session COPY plan (SessionControl.exchange): pcigate's own Parse/Describe/Sync or Parse/Bind/Execute/Sync
 * sent right before a simple-Query `COPY … TO STDOUT`, against a real PostgreSQL, at the edges of the protocol:
 * a client whose extended-protocol messages are still unsynced or failed, and names the session's open
 * transaction changed.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/index.js';
import { bytes } from '../harness/pg-bytes.js';
import { RawPgClient } from '../harness/raw-pg-client.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, run, startConfiguredGate, until } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create table wallet (id int, cvv text, account_no text, note text);
    insert into wallet values (1, '987', 'AC-000000004321', 'hello');`);
  const config = configSchema.parse({
    connections: { 'test-db': { kind: 'postgres', host: server.host, port: server.port, database: server.database, user: server.superuser, sslmode: 'disable' } },
    masking: { rules: [{ name: 'account', columns: ['public.wallet.account_no'], format: 'last4' }] },
    policy: { roles: { eng: { subjects: ['tester'] } }, connections: { 'test-db': { roles: { eng: { classes: ['read', 'write', 'ddl', 'copy_out', 'utility', 'transaction', 'function'] } } } } },
  });
  gate = await startConfiguredGate(server, config);
}, 120_000);

afterAll(async () => {
  await gate?.close().catch(() => undefined);
  await server?.stop();
});

/** Resolves with `p`, or rejects after `ms` (a hung session shows as a failure, not as a test timeout). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer in ${ms} ms: ${what}`)), ms))]);
}

const text = (frames: Buffer[]) => Buffer.concat(frames).toString('latin1');

describe('COPY … TO STDOUT planned in the session (SessionControl.exchange)', () => {
  // A simple Query does not end an extended-protocol batch: after an error in it the server ignores every
  // message, Queries too, up to the client's Sync. pcigate's own Sync there would end the client's batch, and
  // its messages would go unanswered while the relay waits for them.
  it('a COPY behind a simple Query that follows an unsynced failing Parse: no ReadyForQuery of pcigate\'s, the session stays in step', async () => {
    const c = await RawPgClient.login(gate.broker);
    try {
      c.sock.write(Buffer.concat([bytes.parse('', 'select * from no_such_table'), bytes.query('select 1'), bytes.query('copy wallet to stdout'), bytes.sync()]));
      const first = await within(c.untilReady(), 5_000, 'the batch');
      expect(text(first)).toContain('no_such_table');
      expect(text(first)).not.toContain('987');
      c.sock.write(bytes.query('select 42 as answer'));
      const next = text(await within(c.untilReady(), 5_000, 'the query after the batch'));
      expect(next).toContain('42');
      expect(next).not.toContain('987');
      c.sock.write(bytes.query('copy wallet to stdout'));
      const copy = text(await within(c.untilReady(), 5_000, 'a COPY after that'));
      expect(copy).toContain('1\t***\t');
      expect(copy).not.toContain('987');
    } finally {
      c.sock.end(bytes.terminate());
    }
  });

  // The server is already skipping to the client's Sync (its error arrived) when pcigate refuses a simple
  // Query: the server would ignore that Query, and it ignores pcigate's abort behind the refusal too, so no
  // ReadyForQuery answers it. Expecting one put every later answer one statement off.
  it('a COPY refused while the server skips an errored batch to its Sync: the session stays in step', async () => {
    const c = await RawPgClient.login(gate.broker);
    try {
      c.sock.write(Buffer.concat([bytes.parse('', 'select * from no_such_table'), bytes.flush()]));
      expect((await within(c.error(), 5_000, 'the Parse error')).M).toMatch(/no_such_table/);
      c.sock.write(Buffer.concat([bytes.query("copy wallet to stdout (encoding 'SJIS')"), bytes.sync()]));
      const refused = text(await within(c.untilReady(), 5_000, 'the Sync'));
      expect(refused).toMatch(/ENCODING/);
      c.sock.write(bytes.query('select 42 as answer'));
      expect(text(await within(c.untilReady(), 5_000, 'the query after the batch'))).toContain('42');
      c.sock.write(bytes.query('copy wallet to stdout'));
      const copy = text(await within(c.untilReady(), 5_000, 'a COPY after that'));
      expect(copy).toContain('1\t***\t');
      expect(copy).not.toContain('987');
    } finally {
      c.sock.end(bytes.terminate());
    }
  });

  // Everywhere else (a SELECT, the query form) a table column is named by its table OID and attribute number
  // through the shared column catalog: an uncommitted RENAME does not move a rule off its column.
  it('table form after an uncommitted RENAME of a ruled and a SAD column: masked as a SELECT of them is', async () => {
    const r = await run('psql', ['-X', '-v', 'ON_ERROR_STOP=1'], gate.env, {
      input: 'begin;\nalter table wallet rename column cvv to c;\nalter table wallet rename column account_no to a;\n'
        + 'select id, c, a from wallet;\ncopy (select id, c, a from wallet) to stdout;\ncopy wallet (id, c, a) to stdout;\ncopy wallet to stdout;\nrollback;\n',
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toContain('987');
    expect(r.stdout).not.toContain('AC-000000004321');
    expect(r.stdout.match(/^1\t\*\*\*\t\*\*-\*{8}4321$/gm)).toHaveLength(2);
    expect(r.stdout).toContain('1\t***\t**-********4321\thello');
  });
});
