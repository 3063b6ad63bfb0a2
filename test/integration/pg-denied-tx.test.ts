/**
 * A statement refused by policy inside a transaction block leaves the transaction failed, as a failed
 * statement would in Postgres (§55.2.3): psql and the `pg` driver (simple and extended protocol) against
 * the real proxy and a real PostgreSQL see 25P02 for what follows, COMMIT answers ROLLBACK and nothing of
 * the transaction is kept; ROLLBACK TO SAVEPOINT recovers; outside a transaction the session goes on.
 * A statement refused in a transaction that has already failed gets what the server answers there (25P02,
 * its message), recorded as a denial with its rule and SQLSTATE 25P02. A server error that arrives while
 * pcigate still decides the batch's Execute leaves the relay in step, and so does a Sync sent inside a COPY's data
 * that then fails, or a FunctionCall refused behind a batch the server failed in (below).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/index.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { bytes } from '../harness/pg-bytes.js';
import { RawPgClient } from '../harness/raw-pg-client.js';
import { type Gate, readLog, run, sessionOf, startConfiguredGate, until } from './pg-proxy-setup.js';

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

/** The answer to the Bind and Execute of the secrets read the server holds: refused by policy, none of its rows. */
async function deniedRead(c: RawPgClient): Promise<void> {
  const run = await c.untilReady();
  expect(kinds(run)).toBe('2EZ');
  expect(run[1]!.toString('latin1')).toContain('pcigate: denied by policy');
  expect(Buffer.concat(run).toString('latin1')).not.toContain('4242');
}

/** A session that holds the secrets read under the statement `name` (Parsed, not run). */
async function holdingSecrets(name: string): Promise<RawPgClient> {
  const c = await RawPgClient.login(gate.broker);
  c.sock.write(Buffer.concat([bytes.parse(name, 'select id from secrets'), bytes.sync()]));
  expect(kinds(await c.untilReady())).toBe('1Z');
  return c;
}

const ids = () => server.psql('select coalesce(string_agg(id::text, \',\' order by id), \'\') from items').trim();

describe('psql', () => {
  it('a refused statement fails the transaction: 25P02 after it, COMMIT rolls back', async () => {
    const r = await run('psql', ['-X', '-v', 'ON_ERROR_STOP=0', '-f', '-'], gate.env, {
      input: 'begin;\ninsert into items values (100);\nselect * from secrets;\nselect 1 as after_denial;\ncommit;\n',
    });
    expect(r.stderr).toContain('ERROR:  pcigate: denied by policy');
    expect(r.stderr).toContain('ERROR:  current transaction is aborted, commands ignored until end of transaction block');
    expect(r.stdout).not.toContain('after_denial');
    expect(r.stdout.trim().split('\n').at(-1)).toBe('ROLLBACK');
    expect(ids()).toBe('');
  });

  it('ROLLBACK TO SAVEPOINT recovers the transaction', async () => {
    const r = await run('psql', ['-X', '-v', 'ON_ERROR_STOP=0', '-f', '-'], gate.env, {
      input: 'begin;\ninsert into items values (101);\nsavepoint s;\nselect * from secrets;\nrollback to savepoint s;\ninsert into items values (102);\ncommit;\n',
    });
    expect(r.stderr).toContain('pcigate: denied by policy');
    expect(r.stderr).not.toContain('current transaction is aborted');
    expect(r.stdout.trim().split('\n').at(-1)).toBe('COMMIT');
    expect(ids()).toBe('101,102');
  });

  it('outside a transaction block the next statement runs', async () => {
    const r = await run('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=0', '-f', '-'], gate.env, {
      input: 'select * from secrets;\nselect 40 + 2;\n',
    });
    expect(r.stderr).toContain('pcigate: denied by policy');
    expect(r.stdout.trim()).toBe('42');
  });
});

describe('pg driver (extended protocol)', () => {
  it('a refused Execute fails the transaction; ROLLBACK ends it and the session goes on', async () => {
    const c = new pg.Client({ host: gate.broker.host, port: gate.broker.port, user: gate.broker.user, password: gate.broker.secret, database: gate.broker.database });
    await c.connect();
    try {
      await c.query('begin');
      await c.query('insert into items values ($1)', [200]);
      await expect(c.query('select * from secrets where id = $1', [1])).rejects.toMatchObject({ code: '42501' });
      await expect(c.query('select $1::int as x', [1])).rejects.toMatchObject({ code: '25P02' });
      await expect(c.query('insert into items values ($1)', [201])).rejects.toMatchObject({ code: '25P02' });
      expect((await c.query('commit')).command).toBe('ROLLBACK');
      expect((await c.query('select $1::int as x', [7])).rows).toEqual([{ x: 7 }]);
    } finally {
      await c.end();
    }
    expect(ids()).toBe('101,102');
  });

  it('the abort pcigate sends is not recorded as a statement of the client', () => {
    const log = readLog(gate.home);
    expect(log.filter((r) => r.type === 'pg.intent' || r.type === 'pg.query').some((r) => JSON.stringify(r.detail).includes('pcigate$'))).toBe(false);
    expect(log.filter((r) => r.type === 'pg.query' && r.outcome === 'denied')).toHaveLength(4);
  });
});

describe('a refused statement in a transaction that has already failed', () => {
  const FAILED = 'current transaction is aborted, commands ignored until end of transaction block';
  /** The denial record of the statement whose text contains `marker`. */
  const denial = (marker: string) => readLog(gate.home).filter((r) => r.type === 'pg.query' && String((r.detail as { sql: string }).sql).includes(marker));

  it('psql gets 25P02, what the server answers any statement there; the log has the denial with its rule', async () => {
    const r = await run('psql', ['-X', '-v', 'ON_ERROR_STOP=0', '-v', 'VERBOSITY=verbose', '-f', '-'], gate.env, {
      input: 'begin;\ninsert into items values (300);\nselect 1/0;\nselect * from secrets failed_psql;\nrollback;\n',
    });
    expect(r.stderr).toContain('ERROR:  22012: division by zero');
    expect(r.stderr).toContain(`ERROR:  25P02: ${FAILED}`);
    expect(r.stderr).not.toContain('pcigate');
    expect(r.stdout.trim().split('\n').at(-1)).toBe('ROLLBACK');
    const recs = denial('failed_psql');
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({ outcome: 'denied', detail: { protocol: 'simple', sqlstate: '25P02', rule: 'policy.connections.test-db.roles.eng.tables.deny' } });
    expect(readLog(gate.home).some((x) => x.type === 'pg.intent' && String((x.detail as { sql: string }).sql).includes('failed_psql'))).toBe(false);
    expect(ids()).toBe('101,102');
  });

  it('the pg driver gets 25P02 in the simple and the extended protocol; outside the failed transaction 42501 again', async () => {
    const c = new pg.Client({ host: gate.broker.host, port: gate.broker.port, user: gate.broker.user, password: gate.broker.secret, database: gate.broker.database });
    await c.connect();
    try {
      await c.query('begin');
      await expect(c.query('select 1/0')).rejects.toMatchObject({ code: '22012' });
      const simple = await c.query('select * from secrets failed_simple').then(() => null, (e: unknown) => e);
      expect(simple).toMatchObject({ code: '25P02', message: FAILED, severity: 'ERROR' });
      expect((simple as { detail?: string }).detail).toBeUndefined();
      const extended = await c.query('select * from secrets failed_ext where id = $1', [1]).then(() => null, (e: unknown) => e);
      expect(extended).toMatchObject({ code: '25P02', message: FAILED });
      expect((await c.query('rollback')).command).toBe('ROLLBACK');
      await expect(c.query('select * from secrets after_rollback')).rejects.toMatchObject({ code: '42501' });
      expect((await c.query('select $1::int as x', [7])).rows).toEqual([{ x: 7 }]);
    } finally {
      await c.end();
    }
    const rule = 'policy.connections.test-db.roles.eng.tables.deny';
    expect(denial('failed_simple')).toMatchObject([{ outcome: 'denied', detail: { protocol: 'simple', sqlstate: '25P02', rule } }]);
    expect(denial('failed_ext')).toMatchObject([{ outcome: 'denied', detail: { protocol: 'extended', sqlstate: '25P02', rule } }]);
    expect(denial('after_rollback')).toMatchObject([{ outcome: 'denied', detail: { sqlstate: '42501', rule } }]);
  });
});

describe('a server error that arrives while pcigate is still deciding the Execute of its batch', () => {
  it('the Sync that follows is answered once, the Execute is recorded as failed (its own Parse failed), the next statement is in step', async () => {
    const c = new pg.Client({ host: gate.broker.host, port: gate.broker.port, user: gate.broker.user, password: gate.broker.secret, database: gate.broker.database });
    await c.connect();
    try {
      // Parse fails at once (no such table) while the write's intent is being made durable.
      for (let i = 0; i < 3; i++) {
        await expect(c.query('insert into no_such_table_skip values ($1)', [i])).rejects.toMatchObject({ code: '42P01' });
        expect((await c.query('select $1::int as x', [i])).rows).toEqual([{ x: i }]);
      }
    } finally {
      await c.end();
    }
    const recs = readLog(gate.home).filter((r) => r.type === 'pg.query' && String((r.detail as { sql: string }).sql).includes('no_such_table_skip'));
    expect(recs).toHaveLength(3);
    for (const r of recs) expect(r).toMatchObject({ outcome: 'failure', detail: { result: 'failure', sqlstate: '42P01' } });
  });
});

describe('a Terminate sent right behind statements (the client does not wait for their answers)', () => {
  /** Every frame until the connection closes, as its type letter (an error with its message's start). */
  async function untilClosed(c: RawPgClient): Promise<string[]> {
    const out: string[] = [];
    try {
      for (;;) {
        const f = await c.frame();
        out.push(f[0] === 0x45 ? `E ${/M([^\0]*)/.exec(f.toString('utf8'))![1]!.slice(0, 25)}` : String.fromCharCode(f[0]!));
      }
    } catch {
      return out;
    }
  }

  it('a refused statement: the client gets its one error and ReadyForQuery, not pcigate\'s abort', async () => {
    const c = await RawPgClient.login(gate.broker);
    c.sock.write(Buffer.concat([bytes.query('select * from secrets'), bytes.terminate()]));
    expect(await untilClosed(c)).toEqual(['E pcigate: denied by policy', 'Z']);
  });

  it('a write still runs on the server, and its record says so (not a failure)', async () => {
    const c = await RawPgClient.login(gate.broker);
    c.sock.write(Buffer.concat([bytes.query('insert into items values (7300), (7301)'), bytes.terminate()]));
    c.sock.end(); // and closes at once: the server finishes what it was sent all the same
    await untilClosed(c);
    await until(() => readLog(gate.home).some((r) => r.type === 'pg.query' && (r.detail as { sql: string }).sql.startsWith('insert into items values (7300)')));
    expect(ids()).toContain('7300,7301');
    const rec = readLog(gate.home).find((r) => r.type === 'pg.query' && (r.detail as { sql: string }).sql.startsWith('insert into items values (7300)'))!;
    expect(rec).toMatchObject({ outcome: 'success', detail: { result: 'success', rows: 2 } });
    await until(() => readLog(gate.home).some((r) => r.type === 'session.end' && r.session === rec.session));
    expect(readLog(gate.home).find((r) => r.type === 'session.end' && r.session === rec.session)).toMatchObject({ outcome: 'success', detail: { reason: 'client terminated' } });
  });
});

describe('a statement refused in an extended batch', () => {
  it('rolls back what the batch had done (pcigate\'s abort fails its implicit transaction): a pg.commit failure names it, with the refusal\'s SQLSTATE', async () => {
    const ins = 'insert into items values (7400)';
    const c = await RawPgClient.login(gate.broker);
    try {
      c.sock.write(Buffer.concat([bytes.parse('', ins), bytes.bind('', '', []), bytes.execute(),
        bytes.parse('', 'select id from secrets where id > 7400'), bytes.bind('', '', []), bytes.execute(), bytes.sync()]));
      expect(kinds(await c.untilReady())).toBe('12C12EZ');
    } finally { c.sock.destroy(); }
    expect(ids()).not.toContain('7400');
    const mine = await sessionOf(gate.home, ins);
    const q = mine.find((r) => r.type === 'pg.query' && (r.detail as { sql: string }).sql === ins)!;
    expect(q).toMatchObject({ outcome: 'success' });
    expect(mine.filter((r) => r.type === 'pg.query').map((r) => r.outcome).sort()).toEqual(['denied', 'success']);
    const commit = mine.find((r) => r.type === 'pg.commit');
    expect(commit).toMatchObject({ outcome: 'failure', detail: { statements: [(q.detail as { n: number }).n], sqlstate: '42501', rolled_back: true } });
    expect(commit!.seq).toBeGreaterThan(q.seq);
  });
});

describe('a Terminate sent behind a refused Execute, before any Sync', () => {
  it('ends the session as the client chose: the batch\'s insert is answered, rolled back by the end, and claimed with no SQLSTATE', async () => {
    const ins = 'insert into items values (7500)';
    const c = await RawPgClient.login(gate.broker);
    c.sock.write(Buffer.concat([bytes.parse('', ins), bytes.bind('', '', []), bytes.execute(),
      bytes.parse('', 'select id from secrets where id > 7500'), bytes.bind('', '', []), bytes.execute(), bytes.terminate()]));
    const mine = await sessionOf(gate.home, ins);
    c.sock.destroy();
    expect(ids()).not.toContain('7500');
    const q = mine.find((r) => r.type === 'pg.query' && (r.detail as { sql: string }).sql === ins)!;
    expect(q).toMatchObject({ outcome: 'success' });
    expect(mine.find((r) => r.type === 'pg.commit')).toMatchObject({ detail: { statements: [(q.detail as { n: number }).n], sqlstate: null, rolled_back: true } });
    expect(mine.at(-1)).toMatchObject({ type: 'session.end', outcome: 'success', detail: { reason: 'client terminated' } });
  });
});

describe('a named statement Parsed again (the server refuses with 42P05 and keeps the first)', () => {
  it('is judged, run and recorded as the statement the server holds: a denied table stays denied', async () => {
    const c = await RawPgClient.login(gate.broker);
    c.sock.write(Buffer.concat([bytes.parse('held', 'select id from secrets'), bytes.sync()]));
    expect((await c.untilReady()).map((f) => String.fromCharCode(f[0]!)).join('')).toBe('1Z');
    c.sock.write(Buffer.concat([bytes.parse('held', 'select 1'), bytes.sync()]));
    const again = await c.untilReady();
    expect(again.map((f) => String.fromCharCode(f[0]!)).join('')).toBe('EZ');
    expect(again[0]!.toString('latin1')).toContain('42P05');
    c.sock.write(Buffer.concat([bytes.bind('', 'held', []), bytes.execute(), bytes.sync()]));
    const run = await c.untilReady();
    expect(run.map((f) => String.fromCharCode(f[0]!)).join('')).toBe('2EZ');
    expect(run[1]!.toString('latin1')).toContain('pcigate: denied by policy');
    c.sock.end(bytes.terminate());
    await until(() => readLog(gate.home).some((r) => r.type === 'pg.query' && (r.detail as { sql: string }).sql === 'select id from secrets'));
    const rec = readLog(gate.home).filter((r) => r.type === 'pg.query' && (r.detail as { sql: string }).sql === 'select id from secrets').at(-1)!;
    expect(rec).toMatchObject({ outcome: 'denied' });
  });

  it('pipelined with the Bind and Execute behind it in one write: judged once the server has answered the Parse', async () => {
    const c = await RawPgClient.login(gate.broker);
    c.sock.write(Buffer.concat([bytes.parse('piped', 'select id from secrets'), bytes.sync()]));
    await c.untilReady();
    c.sock.write(Buffer.concat([bytes.parse('piped', 'select 1'), bytes.sync(), bytes.bind('', 'piped', []), bytes.execute(), bytes.sync()]));
    const first = await c.untilReady();
    expect(first.map((f) => String.fromCharCode(f[0]!)).join('')).toBe('EZ');
    const run = await c.untilReady();
    expect(run.map((f) => String.fromCharCode(f[0]!)).join('')).toBe('2EZ');
    expect(run[1]!.toString('latin1')).toContain('pcigate: denied by policy');
    // The other way round: SQL DEALLOCATE dropped it, so the server takes the new Parse; judged as that.
    c.sock.write(Buffer.concat([bytes.query('deallocate piped')]));
    await c.untilReady();
    c.sock.write(Buffer.concat([bytes.parse('piped', 'select 41 + 1'), bytes.sync(), bytes.bind('', 'piped', []), bytes.execute(), bytes.sync()]));
    expect((await c.untilReady()).map((f) => String.fromCharCode(f[0]!)).join('')).toBe('1Z');
    const ok = await c.untilReady();
    expect(ok.map((f) => String.fromCharCode(f[0]!)).join('')).toBe('2DCZ');
    c.sock.end(bytes.terminate());
  });

  it('one prepared by SQL PREPARE, Parsed again in the protocol: refused, not judged as the refused Parse\'s text', async () => {
    server.psql('insert into items values (9900) on conflict do nothing');
    const c = await RawPgClient.login(gate.broker);
    c.sock.write(bytes.query('prepare bysql as delete from items'));
    expect((await c.untilReady()).map((f) => String.fromCharCode(f[0]!)).join('')).toBe('CZ');
    c.sock.write(Buffer.concat([bytes.parse('bysql', 'select 1'), bytes.sync(), bytes.bind('', 'bysql', []), bytes.execute(), bytes.sync()]));
    expect((await c.untilReady()).map((f) => String.fromCharCode(f[0]!)).join('')).toBe('EZ');
    const run = await c.untilReady();
    expect(run.map((f) => String.fromCharCode(f[0]!)).join('')).toBe('2EZ');
    expect(run[1]!.toString('latin1')).toContain('pcigate: denied by policy');
    c.sock.end(bytes.terminate());
    expect(ids()).toContain('9900');
  });

  it('a Close of it the server skips (an error earlier in the batch) leaves it in place too', async () => {
    const c = await RawPgClient.login(gate.broker);
    c.sock.write(Buffer.concat([bytes.parse('kept', 'select id from secrets'), bytes.sync()]));
    await c.untilReady();
    // The failing Parse makes the server skip the Close and the new Parse behind it, to the Sync.
    c.sock.write(Buffer.concat([bytes.parse('', 'select from no_such_table_x'), bytes.close('S', 'kept'), bytes.parse('kept', 'select 2'), bytes.sync()]));
    expect((await c.untilReady()).map((f) => String.fromCharCode(f[0]!)).join('')).toBe('EZ');
    c.sock.write(Buffer.concat([bytes.bind('', 'kept', []), bytes.execute(), bytes.sync()]));
    const run = await c.untilReady();
    expect(run.map((f) => String.fromCharCode(f[0]!)).join('')).toBe('2EZ');
    expect(run[1]!.toString('latin1')).toContain('pcigate: denied by policy');
    c.sock.end(bytes.terminate());
  });

  it('Parsed again twice in pipelined batches, both refused: an Execute behind them is judged as the held statement', async () => {
    const c = await holdingSecrets('chain');
    // Undoing the first refused Parse, the mirror once skipped it (the name had been Parsed again behind it),
    // and the second, refused too, restored the first one's text: the Execute ran the secrets read as `select 1`.
    c.sock.write(Buffer.concat([
      bytes.parse('chain', 'select 1'), bytes.sync(),
      bytes.parse('chain', 'select 2'), bytes.sync(),
      bytes.bind('', 'chain', []), bytes.execute(), bytes.sync(),
    ]));
    for (let i = 0; i < 2; i++) {
      const refused = await c.untilReady();
      expect(kinds(refused)).toBe('EZ');
      expect(refused[0]!.toString('latin1')).toContain('42P05');
    }
    await deniedRead(c);
    c.sock.end(bytes.terminate());
  });

  it('a Close of it the server skips, then a Parse of the name that fails analysis: still the held statement', async () => {
    const c = await holdingSecrets('closed');
    // The Close is skipped (the Parse before it fails), so the server still holds the secrets read when the
    // next Parse fails analysis (42P01): the name is not one the server lacks, whose refused text would be let
    // through for the server to answer 26000.
    c.sock.write(Buffer.concat([
      bytes.parse('', 'select from no_such_table_cl'), bytes.close('S', 'closed'), bytes.sync(),
      bytes.parse('closed', 'select * from no_such_table_cl'), bytes.sync(),
      bytes.bind('', 'closed', []), bytes.execute(), bytes.sync(),
    ]));
    expect(kinds(await c.untilReady())).toBe('EZ');
    const failed = await c.untilReady();
    expect(kinds(failed)).toBe('EZ');
    expect(failed[0]!.toString('latin1')).toContain('42P01');
    await deniedRead(c);
    c.sock.end(bytes.terminate());
  });
});


describe('a Parse of the unnamed statement the server skips (an error earlier in its batch)', () => {
  it('a Bind of it behind the Sync binds what the server held before: judged as that once the server has answered', async () => {
    const c = await holdingSecrets('');
    // The unnamed Parse is skipped, so the Bind in the next batch binds the secrets read: the Execute was
    // judged, at once, as `select 1`.
    c.sock.write(Buffer.concat([
      bytes.parse('x', 'select from no_such_table_un'), bytes.parse('', 'select 1'), bytes.sync(),
      bytes.bind('', '', []), bytes.execute(), bytes.sync(),
    ]));
    expect(kinds(await c.untilReady())).toBe('EZ');
    await deniedRead(c);
    // Not skipped, it is judged as its own text.
    c.sock.write(Buffer.concat([bytes.parse('', 'select 40 + 2'), bytes.sync(), bytes.bind('', '', []), bytes.execute(), bytes.sync()]));
    expect(kinds(await c.untilReady())).toBe('1Z');
    const ok = await c.untilReady();
    expect(kinds(ok)).toBe('2DCZ');
    expect(ok[1]!.toString('latin1')).toContain('42');
    c.sock.end(bytes.terminate());
  });
});

describe('a named Parse that fails analysis, over a name prepared by SQL PREPARE', () => {
  it('an Execute of the name is refused: the server runs the SQL-prepared statement, not the text that failed', async () => {
    server.psql('insert into items values (9901) on conflict do nothing');
    const kinds = (fs: Buffer[]) => fs.map((f) => String.fromCharCode(f[0]!)).join('');
    const c = await RawPgClient.login(gate.broker);
    c.sock.write(bytes.query('prepare bysql2 as delete from items where id = 9901'));
    expect(kinds(await c.untilReady())).toBe('CZ');
    // The server analyses the text before it finds the name taken: 42P01, not 42P05, and it keeps the DELETE.
    c.sock.write(Buffer.concat([bytes.parse('bysql2', 'select * from no_such_table_fa'), bytes.sync()]));
    const failed = await c.untilReady();
    expect(kinds(failed)).toBe('EZ');
    expect(failed[0]!.toString('latin1')).toContain('42P01');
    c.sock.write(Buffer.concat([bytes.bind('', 'bysql2', []), bytes.execute(), bytes.sync()]));
    const run = await c.untilReady();
    expect(kinds(run)).toBe('2EZ');
    expect(run[1]!.toString('latin1')).toContain('unknown_statement');
    c.sock.end(bytes.terminate());
    expect(ids()).toContain('9901');
    await until(() => readLog(gate.home).some((r) => r.type === 'pg.query' && r.outcome === 'denied' && (r.detail as { rule?: string }).rule === 'unknown_statement'));
  });
});

describe('a refused FunctionCall', () => {
  it("leaves the client's unnamed statement as the server would (a FunctionCall does not drop it; a simple Query does) and fails its transaction", async () => {
    server.psql('create or replace function bump_fc() returns int language sql as $$select 1$$');
    const oid = Number(server.psql("select 'bump_fc'::regproc::oid").trim());
    const kinds = (fs: Buffer[]) => fs.map((f) => String.fromCharCode(f[0]!)).join('');
    const c = await RawPgClient.login(gate.broker);
    // Transaction control through named statements: a simple Query would drop the unnamed statement itself.
    c.sock.write(Buffer.concat([bytes.parse('b', 'begin'), bytes.parse('r', 'rollback'), bytes.parse('', 'select 7 as seven'), bytes.sync()]));
    expect(kinds(await c.untilReady())).toBe('111Z');
    for (const inBlock of [false, true]) {
      if (inBlock) { c.sock.write(Buffer.concat([bytes.bind('', 'b', []), bytes.execute(), bytes.sync()])); expect(kinds(await c.untilReady())).toBe('2CZ'); }
      c.sock.write(bytes.functionCall(oid, []));
      const refused = await c.untilReady();
      expect(kinds(refused)).toBe('EZ');
      expect(refused[0]!.toString('latin1')).toContain('pcigate: denied by policy');
      expect(refused[1]![5]).toBe(inBlock ? 0x45 : 0x49); // 'E': the refusal failed the transaction, as the call failing would
      if (inBlock) { c.sock.write(Buffer.concat([bytes.bind('', 'r', []), bytes.execute(), bytes.sync()])); expect(kinds(await c.untilReady())).toBe('2CZ'); }
      c.sock.write(Buffer.concat([bytes.bind('', '', []), bytes.execute(), bytes.sync()]));
      const again = await c.untilReady();
      expect(kinds(again), again.map((f) => f.toString('latin1')).join(' | ')).toBe('2DCZ');
    }
    c.sock.end(bytes.terminate());
  });
});

// The relay counts every Sync the server answers (relay.ts): a Sync the client sent inside the data of a COPY FROM STDIN
// that then failed on a bad row (the server read it after the failure and answers it), and a refused FunctionCall
// behind a batch the server already failed in (pcigate's abort must not end the server's skip to the client's Sync).
// Miscounted, the relay took statements that ran for skipped ones, judged a redefined prepared statement by its old
// text (a denied read ran), and hung clients. Where it cannot tell which Syncs the server answers, the session ends
// with a FATAL that says so.
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
    const secretReads = queryRecords('select id from secrets').length;
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
    expect(ids().split(',')).toContain('300');
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

    await until(() => queryRecords('insert into items values (300)').length === 1 && queryRecords('select id from secrets').length > secretReads);
    expect(result(queryRecords('insert into items values (300)')[0]!)).toBe('success');
    expect(queryRecords('select id from secrets').slice(secretReads).map((r) => r.outcome)).toEqual(['denied']);
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
    expect(ids().split(',')).not.toContain('400');
    await until(() => queryRecords('insert into items values (400)').length === 1);
    // Recorded as the server had it: skipped, with the error that made it skip (a record's outcome says failure).
    expect(result(queryRecords('insert into items values (400)')[0]!)).toBe('skipped');
  });
});

describe('COPY bookkeeping the Sync counting relies on', () => {
  it('a Query of two COPYs with all their data sent ahead, then a Sync: both answered, in step', async () => {
    const c = await RawPgClient.login(gate.broker);
    c.sock.write(Buffer.concat([bytes.query('copy items from stdin; copy items from stdin'), bytes.copyData('501\n'), bytes.copyDone(), bytes.copyData('502\n'), bytes.copyDone(), bytes.sync()]));
    expect(kinds(await c.untilReady())).toBe('GCGCZ');
    // The Sync, read after the Query: answered too (the second COPY's early CopyDone ended that COPY, not the first's).
    expect(kinds(await c.untilReady())).toBe('Z');
    c.sock.write(bytes.query('select 1'));
    expect(kinds(await c.untilReady())).toBe('TDCZ');
    c.sock.end(bytes.terminate());
    expect(ids().split(',')).toEqual(expect.arrayContaining(['501', '502']));
  });

  it('a FunctionCall refused behind a COPY\'s Execute is not held for the COPY\'s answer: the server ends the session, as for any message in copy data', async () => {
    const c = await RawPgClient.login(gate.broker);
    c.sock.write(Buffer.concat([bytes.parse('', 'copy items from stdin'), bytes.bind('', '', []), bytes.execute(), bytes.functionCall(2943, [])]));
    const closed = new Promise<void>((resolve) => c.sock.once('close', () => resolve()));
    await closed; // before: the client was paused waiting for an answer only its own copy data could bring
    await until(() => readLog(gate.home).some((r) => r.type === 'pg.query' && (r.detail as { sql?: string }).sql === 'function 2943' && r.outcome === 'denied'));
  });

  it('a COPY ended by the server\'s FATAL after a Sync in its data is the server\'s end, not pcigate losing track', async () => {
    const ends = () => readLog(gate.home).filter((r) => r.type === 'session.end');
    const before = ends().length;
    const c = await RawPgClient.login(gate.broker);
    c.sock.write(Buffer.concat([bytes.parse('', 'copy items from stdin'), bytes.bind('', '', []), bytes.execute(), bytes.sync()]));
    expect(kinds(await c.until('G'))).toBe('12G');
    c.sock.write(Buffer.concat([bytes.copyData('601\n'), bytes.sync(), bytes.copyData('602\n')]));
    let pid = '';
    await until(() => (pid = server.psql("select pid from pg_stat_activity where query = 'copy items from stdin'").trim()) !== '');
    server.psql(`select pg_terminate_backend(${pid})`);
    const fatal = await c.error();
    expect(fatal.C).toBe('57P01');
    await until(() => ends().length > before);
    expect((ends().at(-1)!.detail as { reason?: string }).reason).not.toBe('lost track of the server');
  });
});
