/**
 * The PostgreSQL JDBC driver (pgjdbc, Debian's libpostgresql-jdbc-java) through pcigate against a real
 * PostgreSQL: what Java services, the largest client population in payment companies, send. pgjdbc has its
 * own SCRAM, startup parameters and protocol habits: every statement extended, unnamed until the 5th execution
 * of a PreparedStatement and then a named server-side statement with binary results, executeBatch as many
 * Bind/Execute before one Sync (and a failing batch whose rest the server skips), a fetch size as Execute with
 * a row limit, CopyManager, Statement.cancel(). The client program is test/integration/clients/PgJdbcProbe.java,
 * run in Java's source-file mode; it prints what it saw, this file checks it against the server and the log.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/index.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, pgQueries, queryDetail, readLog, runProbe, startConfiguredGate, startGate, until } from './pg-proxy-setup.js';

const JAR = '/usr/share/java/postgresql.jar'; // Debian's libpostgresql-jdbc-java (.ci/run installs it)
const PROBE = fileURLToPath(new URL('./clients/PgJdbcProbe.java', import.meta.url));

let server: PostgresServer;
let gate: Gate;
let steps: Map<string, string>;
let stdout = '';

const detail = queryDetail;
const queries = (sqlPart: string) => pgQueries(gate.home, sqlPart);

beforeAll(async () => {
  server = await startPostgres();
  gate = await startGate(server, {
    hooksFor: () => ({
      onStatement: (s) => (/forbidden_jdbc/.test(s.sql) ? { action: 'deny', rule: 'test-deny', message: 'forbidden_jdbc is denied by policy' } : { action: 'allow' }),
    }),
  });
  server.psql("create table jdbc_items (id int primary key, name text); insert into jdbc_items select g, 'item ' || g from generate_series(1, 100) g; create table jdbc_batch (id int primary key, note text); create table jdbc_copy (id int, note text); create table forbidden_jdbc (x int);");
  ({ steps, stdout } = await runProbe('java', ['-cp', JAR, PROBE, gate.broker.host, String(gate.broker.port), gate.broker.database, gate.broker.user, gate.broker.secret]));
  // Every statement's record is written once its result is in; the last step's is among the last.
  await until(() => queries("select 'still open'").length === 1);
}, 180_000);
afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

describe('pgjdbc through pcigate', () => {
  it('logs in with SCRAM and runs a query', () => {
    expect(steps.get('connect'), stdout).toBe('value=jdbc 42');
  });

  it('a PreparedStatement run 7 times: right rows, recorded 7 times with its parameter, named server-side from the 5th', () => {
    expect(steps.get('prepared')).toBe(`names=${[1, 2, 3, 4, 5, 6, 7].map((i) => `item_${i}`).join(',')},`);
    const recs = queries('select name from jdbc_items where id = $1');
    expect(recs.map((r) => detail(r).params)).toEqual([['1'], ['2'], ['3'], ['4'], ['5'], ['6'], ['7']]);
    expect(recs.every((r) => detail(r).result === 'success' && detail(r).rows === 1)).toBe(true);
    const names = recs.map((r) => detail(r).statement);
    expect(names.slice(0, 4)).toEqual(['', '', '', '']);
    expect(names[4]).toMatch(/^S_\d+$/);
    expect(new Set(names.slice(4)).size).toBe(1);
  });

  it('the transcript names the columns of every execution: described by portal, and of the named statement run again undescribed', () => {
    const ns = queries('select name from jdbc_items where id = $1').map((r) => detail(r).n);
    const lines = readdirSync(path.join(gate.home, 'recordings')).filter((f) => f.endsWith('.pg.jsonl'))
      .flatMap((f) => readFileSync(path.join(gate.home, 'recordings', f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>));
    expect(ns).toHaveLength(7);
    // The first executions answer a Describe of their portal; from the 6th pgjdbc sends none: the relay shows
    // the hooks the statement's own description with the Bind's formats.
    expect(ns.filter((n) => !lines.some((l) => l.t === 'columns' && l.n === n)), JSON.stringify(ns)).toEqual([]);
  });

  it('executeBatch: 50 inserts pipelined before one Sync, each recorded with its own parameters', () => {
    expect(steps.get('batch')).toBe('statements=50 rows=50');
    const recs = queries('insert into jdbc_batch').filter((r) => !String((detail(r).params as string[])[1]).startsWith('second'));
    expect(recs).toHaveLength(50);
    expect(recs.map((r) => (detail(r).params as string[])[0])).toEqual(Array.from({ length: 50 }, (_, i) => String(i + 1)));
    expect(recs.every((r) => detail(r).result === 'success' && detail(r).rows === 1)).toBe(true);
  });

  it('a batch failing at its 3rd insert: the client gets 23505, the first two are rolled back with it, the rest recorded as skipped', () => {
    expect(steps.get('failing_batch')).toBe('error=23505');
    expect(steps.get('after_failing_batch')).toBe('count=50');
    const recs = queries('insert into jdbc_batch').filter((r) => String((detail(r).params as string[])[1]).startsWith('second'));
    expect(recs.map((r) => [(detail(r).params as string[])[0], detail(r).result, detail(r).sqlstate])).toEqual([
      ['101', 'success', null], ['102', 'success', null], ['1', 'failure', '23505'], ['103', 'skipped', '23505'], ['104', 'skipped', '23505'],
    ]);
  });

  it('a fetch size reads through a portal in pieces of 10 (PortalSuspended), every row arrives', () => {
    expect(steps.get('fetch_size')).toBe(`rows=95 sum=${(95 * 96) / 2}`);
    const pieces = queries('select id from jdbc_items where id <= 95');
    expect(pieces.map((r) => [detail(r).data_rows, detail(r).suspended ?? false])).toEqual([
      ...Array.from({ length: 9 }, () => [10, true]), [5, false],
    ]);
  });

  it('CopyManager: COPY FROM STDIN and COPY TO STDOUT', () => {
    expect(steps.get('copy')).toBe('in=200 out=200 last=200|copied_200');
    expect(server.psql('select count(*) from jdbc_copy').trim()).toBe('200');
    expect(detail(queries('copy jdbc_copy (id, note) from stdin')[0]!)).toMatchObject({ result: 'success', rows: 200 });
    expect(detail(queries('to stdout')[0]!)).toMatchObject({ result: 'success', rows: 200 });
  });

  it('a PAN sent as a binary int8 parameter (setLong) is masked in the record, and nowhere in the log in any form', () => {
    expect(steps.get('pan_param')).toBe('count=0');
    const [rec] = queries('where id = $1 or $2 = 0');
    expect(detail(rec!).params).toEqual(['************1111', '************1111']);
    const log = readLog(gate.home).map((r) => JSON.stringify(r)).join('\n');
    expect(log).not.toContain('4111111111111111');
    expect(log).not.toContain('000e9b08a568f1c7'); // its int8 bytes as hex
  });

  it('a denied statement: SQLState 42501, nothing forwarded, the connection goes on', () => {
    expect(steps.get('denied')).toMatch(/^error=42501 /);
    expect(steps.get('after_denied')).toBe('value=42');
    expect(queries('forbidden_jdbc').map((r) => [r.outcome, detail(r).rule])).toEqual([['denied', 'test-deny']]);
    expect(readLog(gate.home).some((r) => r.type === 'pg.intent' && detail(r).sql.includes('forbidden_jdbc'))).toBe(false);
  });

  it('Statement.cancel() reaches the server through the mapped key (57014); the connection stays usable', () => {
    expect(steps.get('cancel')).toBe('error=57014');
    expect(steps.get('after_cancel')).toBe('value=still_open');
    expect(readLog(gate.home).some((r) => r.type === 'pg.cancel' && r.outcome === 'success')).toBe(true);
    expect(detail(queries('select pg_sleep(30)')[0]!)).toMatchObject({ result: 'cancelled', sqlstate: '57014' });
  });
});

describe('pgjdbc with masking: card numbers stored as bigint, read in binary through named statements', () => {
  let masked: Gate;
  let out = '';
  beforeAll(async () => {
    server.psql("create table cards_bigint (id int primary key, card_no bigint, note text); insert into cards_bigint values (1, 4111111111111111, 'first card'), (2, 5555555555554444, 'second card');");
    const config = configSchema.parse({
      connections: { 'test-db': { kind: 'postgres', host: server.host, port: server.port, database: server.database, user: server.superuser, sslmode: 'disable' } },
      masking: {},
      policy: { roles: { eng: { subjects: ['tester'] } }, connections: { 'test-db': { roles: { eng: { classes: ['read', 'utility', 'transaction'] } } } } },
    });
    masked = await startConfiguredGate(server, config);
    out = (await runProbe('java', ['-cp', JAR, PROBE, masked.broker.host, String(masked.broker.port), masked.broker.database, masked.broker.user, masked.broker.secret, 'cards'])).stdout;
  }, 180_000);
  afterAll(async () => { await masked?.close(); });

  it('the application never receives a card number, in text or in binary, whatever the plan of the last RowDescription', () => {
    const lines = out.split('\n');
    expect(lines.filter((l) => l.startsWith('card=')).length).toBe(8);
    expect(lines.filter((l) => l.startsWith('row=')).length).toBe(16);
    expect(lines.map((l, i) => `${i}:${l}`).filter((l) => /4111111111111111|5555555555554444/.test(l))).toEqual([]);
    // The non-card values come through untouched.
    expect(lines.filter((l) => l.startsWith('note='))).toEqual(Array.from({ length: 8 }, (_, i) => `note=${i % 2 ? 'second' : 'first'}_card`));
    expect(lines.filter((l) => l.startsWith('row=')).map((l) => l.split('|')[0])).toEqual(Array.from({ length: 16 }, (_, i) => `row=${1 + (i % 2)}`));
  });

  it('nor does the audit log or a transcript', async () => {
    await until(() => readLog(masked.home).filter((r) => r.type === 'pg.query').length >= 24);
    const files = [
      ...readdirSync(path.join(masked.home, 'log')).map((f) => path.join(masked.home, 'log', f)),
      ...readdirSync(path.join(masked.home, 'recordings')).map((f) => path.join(masked.home, 'recordings', f)),
    ];
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      expect(text, f).not.toContain('4111111111111111');
      expect(text, f).not.toContain('5555555555554444');
    }
  });
});
