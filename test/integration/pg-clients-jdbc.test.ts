/**
 * pgjdbc as a Java service uses it, through pcigate with a realistic policy (a role with the read, write,
 * transaction and utility classes, one table denied, writes without a WHERE held for an approval) and
 * masking on, against a real PostgreSQL: HikariCP's Connection.isValid, savepoints rolled back after a server
 * error and after a refusal, a refusal failing the transaction, setFetchSize portals with autocommit off (two
 * open at once), card numbers past the prepare threshold, and a query timeout that fires while a statement
 * waits for its approval. Run in the default extended mode and with preferQueryMode=simple. The client
 * program is test/integration/clients/PgJdbcAppProbe.java; this file checks what it saw against the server
 * and the audit log. pg-proxy-jdbc.test.ts covers the protocol habits with permissive hooks.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, gateConfig, pgClient, pgQueries, queryDetail, readLog, runProbe, startConfiguredGate, until } from './pg-proxy-setup.js';

const JAR = '/usr/share/java/postgresql.jar'; // Debian's libpostgresql-jdbc-java (.ci/run installs it)
const PROBE = fileURLToPath(new URL('./clients/PgJdbcAppProbe.java', import.meta.url));
const PANS = ['4111111111111111', '5555555555554444'];

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create table app_items (id int primary key, name text); insert into app_items select g, 'item ' || g from generate_series(1, 60) g;
    create table app_log (id serial primary key, tag text, msg text); create table app_secrets (x int); insert into app_secrets values (7);
    create table app_cards (id int primary key, card_no text, card_num bigint, note text);
    insert into app_cards values (1, '${PANS[0]}', ${PANS[0]}, 'first'), (2, '${PANS[1]}', ${PANS[1]}, 'second');`);
  gate = await startConfiguredGate(server, gateConfig(server, {
    classes: ['read', 'write', 'transaction', 'utility'], approvals: { wait: '60s' },
    role: { tables: { deny: ['public.app_secrets'] }, require_approval: ['write_without_where'] },
  }));
}, 120_000);
afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

describe.each([
  { tag: 'extended', props: [] as string[] },
  { tag: 'simple', props: ['preferQueryMode=simple'] },
])('pgjdbc ($tag) through pcigate with a realistic policy', ({ tag, props }) => {
  let steps: Map<string, string>;
  let stdout = '';
  beforeAll(async () => {
    ({ steps, stdout } = await runProbe('java', ['-cp', JAR, PROBE, gate.broker.host, String(gate.broker.port), gate.broker.database, gate.broker.user, gate.broker.secret, tag, ...props]));
  }, 180_000);

  it('DatabaseMetaData and ResultSetMetaData (database tools, ORMs) answer as they do directly', () => {
    expect(steps.get('metadata'), stdout).toBe('table:app_items;col:id:int4;col:name:text;pk:id;idx:id;rsmd:app_items:0:false;');
  });

  it('Connection.isValid (HikariCP) answers true', () => {
    expect(steps.get('is_valid'), stdout).toBe('valid=true');
  });

  it('savepoints: rolled back after 23505 and after a refusal (42501), the transaction commits what is left', () => {
    expect(steps.get('savepoints')).toBe('dup=23505 denied=42501');
    expect(server.psql(`select string_agg(msg, ',' order by id) from app_log where tag = '${tag}'`).trim()).toBe('before,between,after');
  });

  it('a refusal fails the transaction (25P02 next), rollback leaves the connection usable and nothing written', () => {
    expect(steps.get('denied_in_tx')).toBe('first=42501 next=25P02 after=usable');
    expect(server.psql(`select count(*) from app_log where tag = '${tag}' and msg = 'rolled back'`).trim()).toBe('0');
  });

  it('setFetchSize with autocommit off: every row of every portal, two portals open at once', () => {
    // 6 runs of id > 0, 10, …, 50 (60 + 50 + … + 10 rows), then 60 pairs of (up, down).
    const runs = [0, 1, 2, 3, 4, 5].map((k) => Array.from({ length: 60 - k * 10 }, (_, i) => k * 10 + 1 + i));
    const pairs = Array.from({ length: 60 }, (_, i) => (i + 1) * 1000 + (60 - i));
    const sum = runs.flat().reduce((x, y) => x + y, 0) + pairs.reduce((x, y) => x + y, 0);
    expect(steps.get('fetch_size')).toBe(`rows=${runs.flat().length + 60} sum=${sum}`);
  });

  it('card numbers are masked in text, a bigint one withheld (NULL), in every execution', () => {
    const got = steps.get('cards')!;
    for (const pan of PANS) expect(got).not.toContain(pan);
    expect(got).toBe(`values=${Array.from({ length: 6 }, (_, i) => (i % 2 ? '************4444|null|second;' : '************1111|null|first;')).join('')}`);
  });

  it('a query timeout cancels a statement waiting for its approval: 57014 at once, nothing deleted, the connection usable', () => {
    expect(steps.get('held_timeout')).toMatch(/^error=57014 seconds=[2-5]$/);
    expect(steps.get('after_held')).toBe('value=still_open');
    expect(Number(server.psql('select count(*) from app_log').trim())).toBeGreaterThan(0);
  });
});

describe('a client that vanishes while its statement waits for an approval', () => {
  it('the statement is refused and recorded before session.end, which counts it', async () => {
    const c = await pgClient(gate);
    const held = new Promise<void>((resolve) => c.on('notice', () => resolve()));
    void c.query('delete from app_cards').catch(() => {});
    await held;
    // The process is gone (a crash, a pool evicting it): no Terminate, the socket just closes.
    (c as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    await until(() => readLog(gate.home).some((r) => r.type === 'session.end' && r.detail?.reason === 'client disconnected mid-statement'));
    const session = pgQueries(gate.home, 'delete from app_cards')[0]?.session;
    const records = readLog(gate.home).filter((r) => r.session !== undefined && r.session === session);
    expect(records.map((r) => [r.type, r.outcome, r.type === 'pg.query' ? queryDetail(r).sqlstate : null])).toEqual([
      ['session.start', 'success', null], ['approval.request', 'pending', null], ['pg.query', 'denied', '08006'], ['session.end', 'failure', null],
    ]);
    expect(records[3]!.detail?.denied).toBe(1);
    expect(server.psql('select count(*) from app_cards').trim()).toBe('2');
  });
});

describe('the audit log', () => {
  it('records each refusal and the cancelled held statement, and no card number', async () => {
    await until(() => pgQueries(gate.home, "select 'still open'").length === 2);
    const held = pgQueries(gate.home, 'delete from app_log');
    expect(held.map((r) => [r.outcome, queryDetail(r).sqlstate])).toEqual([['denied', '57014'], ['denied', '57014']]);
    expect(readLog(gate.home).filter((r) => r.type === 'pg.intent' && queryDetail(r).sql.includes('delete from app_log'))).toEqual([]);
    expect(pgQueries(gate.home, 'app_secrets').map((r) => r.outcome)).toEqual(['denied', 'denied', 'denied', 'denied']);
    const log = readLog(gate.home).map((r) => JSON.stringify(r)).join('\n');
    for (const pan of PANS) expect(log).not.toContain(pan);
  });
});
