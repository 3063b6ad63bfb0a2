/**
 * The in-session COPY plan (SessionControl.exchange): pcigate's own Parse/Describe/Sync or Parse/Bind/Execute/Sync
 * sent right before a simple-Query `COPY … TO STDOUT`, against a real PostgreSQL, at the edges of the protocol:
 * a client whose extended-protocol messages are still unsynced or failed; a question that waits on a lock the
 * COPY would wait on too, while the client cancels, the server terminates the backend, or pcigate ends the
 * session; and names the session's open transaction changed.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/index.js';
import { bytes } from '../harness/pg-bytes.js';
import { RawPgClient } from '../harness/raw-pg-client.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, gateConfig, run, startConfiguredGate, until } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create table wallet (id int, cvv text, account_no text, note text);
    insert into wallet values (1, '987', 'AC-000000004321', 'hello');`);
  const config = gateConfig(server, { classes: ['read', 'write', 'ddl', 'copy_out', 'utility', 'transaction', 'function'], rules: [{ name: 'account', columns: ['public.wallet.account_no'], format: 'last4' }] });
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

/** The session answers in step after what a test did: a query gets its own answer, a COPY its masked rows. */
async function expectInStep(c: RawPgClient): Promise<void> {
  c.sock.write(bytes.query('select 42 as answer'));
  const next = text(await within(c.untilReady(), 5_000, 'the query after the batch'));
  expect(next).toContain('42');
  expect(next).not.toContain('987');
  c.sock.write(bytes.query('copy wallet to stdout'));
  const copy = text(await within(c.untilReady(), 5_000, 'a COPY after that'));
  expect(copy).toContain('1\t***\t');
  expect(copy).not.toContain('987');
}

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
      await expectInStep(c);
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
      await expectInStep(c);
    } finally {
      c.sock.end(bytes.terminate());
    }
  });

  // The server warns while it parses (a backslash in a literal with standard_conforming_strings off): the COPY
  // itself warns again when it runs, with the position in its own text; pcigate's Parse of its query must not
  // add a second warning pointing elsewhere.
  it('a notice the COPY\'s query raises while parsed reaches the client once, from the COPY', async () => {
    // The scanner truncates an identifier longer than 63 bytes with a NOTICE: raised when pcigate's in-session
    // question parses the query, and again when the COPY runs. (standard_conforming_strings off, whose warning
    // this test used, is refused by policy now: 64db5f3.)
    const long = 'n'.repeat(70);
    const r = await run('psql', ['-X', '-v', 'ON_ERROR_STOP=1'], gate.env, { input: `copy (select 1 as ${long}) to stdout;\n` });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('1\n');
    expect(r.stderr.match(/NOTICE: {2}identifier "n+" will be truncated/g)).toHaveLength(1);
  });

  describe('while pcigate\'s question waits on a lock the COPY would wait on too', () => {
    /** A COPY whose in-session Parse waits on another connection's lock on wallet; that connection and the waiting backend's pid. */
    async function waitingCopy(c: RawPgClient): Promise<{ holder: pg.Client; pid: number }> {
      const holder = new pg.Client({ connectionString: server.url });
      await holder.connect();
      await holder.query('begin; lock table wallet in access exclusive mode');
      c.sock.write(bytes.query('copy (select * from wallet) to stdout'));
      let pid = 0;
      await until(() => {
        pid = Number(server.psql("select pid from pg_stat_activity where wait_event_type = 'Lock'").trim() || 0);
        return pid !== 0;
      });
      return { holder, pid };
    }

    it('cancelled: the COPY gets the server\'s 57014, and the session goes on', async () => {
      const c = await RawPgClient.connect(gate.broker);
      c.startup({ user: gate.broker.user, database: gate.broker.database });
      const key = (await c.scram(gate.broker.secret)).find((f) => f[0] === 0x4b)!;
      const { holder } = await waitingCopy(c);
      try {
        const cancel = await RawPgClient.connect(gate.broker);
        cancel.sock.end(bytes.cancelRequest(key.readInt32BE(5), key.subarray(9)));
        const got = await within(c.untilReady(), 5_000, 'the cancelled COPY');
        expect(text(got)).toContain('57014');
        await holder.query('rollback');
        c.sock.write(bytes.query('copy wallet to stdout'));
        const copy = text(await within(c.untilReady(), 5_000, 'a COPY after that'));
        expect(copy).toContain('1\t***\t');
        expect(copy).not.toContain('987');
      } finally {
        await holder.end();
        c.sock.end(bytes.terminate());
      }
    });

    it('its backend terminated: the client gets the server\'s FATAL (57P01), as for any statement', async () => {
      const c = await RawPgClient.login(gate.broker);
      const { holder, pid } = await waitingCopy(c);
      try {
        await holder.query('select pg_terminate_backend($1)', [pid]);
        const got = await within(c.error(), 5_000, 'the FATAL');
        expect(got).toMatchObject({ S: 'FATAL', C: '57P01' });
      } finally {
        await holder.query('rollback');
        await holder.end();
        c.sock.destroy();
      }
    });

    // A COPY running when pcigate ends the session is cancelled, not left to run for a client that is gone.
    it('the session ended by pcigate (max_duration): the waiting backend is cancelled, not left waiting on the lock', async () => {
      const limited = await startConfiguredGate(server, configSchema.parse({
        connections: { 'test-db': { kind: 'postgres', host: server.host, port: server.port, database: server.database, user: server.superuser, sslmode: 'disable' } },
        policy: { roles: { eng: { subjects: ['tester'] } }, connections: { 'test-db': { session: { max_duration: '2s' }, roles: { eng: { classes: ['read', 'copy_out'] } } } } },
      }));
      const c = await RawPgClient.login(limited.broker);
      const { holder, pid } = await waitingCopy(c);
      try {
        expect(await within(c.error(), 10_000, 'the FATAL')).toMatchObject({ S: 'FATAL', C: '57P01' });
        // Asked on a connection of its own: pg_stat_activity holds still within the holder's transaction.
        await until(() => server.psql(`select count(*) from pg_stat_activity where pid = ${pid}`).trim() === '0', 5_000);
      } finally {
        await holder.query('rollback');
        await holder.end();
        c.sock.destroy();
        await limited.close().catch(() => undefined);
      }
    });
  });

  // Everywhere else (a SELECT, the query form) a table column is named by its table OID and attribute number
  // through the shared column catalog. This test renamed a ruled and a SAD column in an open transaction to show
  // that; committed, the rename took the values past their rules (`SELECT c FROM wallet` returned the CVV), so a
  // role with masked results may no longer rename them (masking.stored_values), and COPY masks them as before.
  it('a RENAME of a ruled or a SAD column is refused; the table form stays masked', async () => {
    const r = await run('psql', ['-X'], gate.env, {
      input: 'alter table wallet rename column cvv to c;\nalter table wallet rename column account_no to a;\ncopy wallet to stdout;\n',
    });
    expect(r.stderr).toContain('masking rule sad');
    expect(r.stderr).toContain('masking rule account');
    expect(r.stdout).not.toContain('987');
    expect(r.stdout).toContain('1\t***\t**-********4321\thello');
    expect(server.psql("select string_agg(attname, ' ' order by attnum) from pg_attribute where attrelid = 'wallet'::regclass and attnum > 0").trim()).toBe('id cvv account_no note');
  });
});
