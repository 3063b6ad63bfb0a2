/**
 * psycopg 3 (Debian's python3-psycopg, over libpq) through pcigate with policy and masking as `pcigate
 * connect` wires them, against a real PostgreSQL: the Python side of payment companies. What psycopg adds to
 * what psql and pgbench already cover: binary cursors (every result column in binary, records and arrays
 * included), server-side prepared statements from the 5th execution, libpq pipeline mode (many statements
 * before one Sync; one failing aborts the rest), named server-side cursors, COPY through its own API. The client
 * program is test/integration/clients/psycopg_probe.py; it prints what it saw, this file checks it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/index.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, pgQueries, queryDetail, runProbe, startConfiguredGate, until } from './pg-proxy-setup.js';

const PYTHON = '/usr/bin/python3'; // Debian's, where python3-psycopg is installed (.ci/run installs it)
const PROBE = fileURLToPath(new URL('./clients/psycopg_probe.py', import.meta.url));
const PANS = ['4111111111111111', '5555555555554444'];

let server: PostgresServer;
let gate: Gate;
let steps: Map<string, string>;
let stdout = '';

const detail = queryDetail;
const queries = (sqlPart: string) => pgQueries(gate.home, sqlPart);

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create table py_cards (id int primary key, card_no bigint, note text);
    insert into py_cards values (1, ${PANS[0]}, 'first card'), (2, ${PANS[1]}, 'second card');
    create table py_log (id int primary key, msg text); create table py_copy (id int, msg text); create table forbidden_py (x int);`);
  const config = configSchema.parse({
    connections: { 'test-db': { kind: 'postgres', host: server.host, port: server.port, database: server.database, user: server.superuser, sslmode: 'disable' } },
    masking: {},
    policy: {
      roles: { eng: { subjects: ['tester'] } },
      connections: { 'test-db': { roles: { eng: { classes: ['read', 'write', 'copy_in', 'copy_out', 'transaction', 'utility'], tables: { deny: ['forbidden_py'] } } } } },
    },
  });
  gate = await startConfiguredGate(server, config);
  ({ steps, stdout } = await runProbe(PYTHON, [PROBE, gate.broker.host, String(gate.broker.port), gate.broker.database, gate.broker.user, gate.broker.secret]));
  await until(() => queries('select 6 * 7').length === 1);
}, 180_000);
afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

describe('psycopg 3 through pcigate', () => {
  it('connects through libpq with SCRAM', () => {
    expect(steps.get('connect'), stdout).toMatch(/^server=\d+ libpq=\d+$/);
  });

  it('a binary cursor: no card number in any column (bigint, numeric, float8, whole row, array), the rest intact', () => {
    const got = steps.get('binary_cursor')!;
    for (const pan of PANS) expect(got).not.toContain(pan);
    const rows = got.slice('rows='.length).split(';').map((r) => r.split('|'));
    expect(rows.map((r) => r[0])).toEqual(['1', '2']);
    // bigint, numeric and float8 of a PAN become NULL (None); the row and the array holding one too.
    expect(rows.map((r) => r.slice(1))).toEqual([['None', 'None', 'None', 'None', 'None'], ['None', 'None', 'None', 'None', 'None']]);
  });

  it('a query run 7 times (prepared server-side from the 5th) returns the right rows each time', () => {
    expect(steps.get('prepared')).toBe(`notes=${[1, 2, 3, 4, 5, 6, 7].map((i) => (i % 2 ? 'second_card' : 'first_card')).join(',')}`);
    expect(queries('select note from py_cards where id = $1')).toHaveLength(7);
  });

  it('pipeline mode: 20 inserts before one Sync, each recorded with its parameters', () => {
    expect(steps.get('pipeline_ok')).toBe('count=20');
    const recs = queries('insert into py_log').filter((r) => /^m\d+$/.test((detail(r).params as string[])[1]!));
    expect(recs.map((r) => (detail(r).params as string[])[0])).toEqual(Array.from({ length: 20 }, (_, i) => String(i + 1)));
  });

  it('a pipeline failing at its 3rd statement: 23505 to the client, the rest recorded as skipped, the session in step', () => {
    expect(steps.get('pipeline_error')).toBe('error=23505');
    expect(steps.get('after_pipeline_error')).toBe('count=20');
    const recs = queries('insert into py_log').filter((r) => !/^m\d+$/.test((detail(r).params as string[])[1]!));
    expect(recs.map((r) => [(detail(r).params as string[])[0], detail(r).result, detail(r).sqlstate])).toEqual([
      ['101', 'success', null], ['102', 'success', null], ['1', 'failure', '23505'], ['103', 'skipped', '23505'],
    ]);
  });

  it('a named server-side cursor and COPY both ways', () => {
    expect(steps.get('server_cursor')).toBe(`sum=${(30 * 31) / 2}`);
    expect(steps.get('copy')).toBe('in=100 out=100 last=100|row_100');
    expect(server.psql('select count(*) from py_copy').trim()).toBe('100');
  });

  it('a statement policy denies: 42501, and the connection goes on', () => {
    expect(steps.get('denied')).toMatch(/^error=42501 /);
    expect(steps.get('after_denied')).toBe('value=42');
    expect(queries('forbidden_py').map((r) => r.outcome)).toEqual(['denied']);
  });

  it('no card number in the audit log or the transcripts', () => {
    const dirs = ['log', 'recordings'].map((d) => path.join(gate.home, d));
    for (const d of dirs) {
      for (const f of readdirSync(d)) {
        const text = readFileSync(path.join(d, f), 'utf8');
        for (const pan of PANS) expect(text, f).not.toContain(pan);
      }
    }
  });
});
