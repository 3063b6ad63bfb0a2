/**
 * psycopg 3 as a Python service uses it, through pcigate with a realistic policy (read, write, transaction
 * and utility classes; one table denied; no COPY; writes without a WHERE held for an approval) and masking on,
 * against a real PostgreSQL: pipeline mode with a refusal under one Sync and under one Sync per statement,
 * executemany with returning, named (scrollable, WITH HOLD) server-side cursors, prepare=True in text and
 * binary, a refused COPY, conn.cancel() of a statement waiting for its approval, and a notification carrying
 * a card number. The client program is test/integration/clients/psycopg_app_probe.py; this file checks
 * what it saw against the server and the audit log. pg-proxy-psycopg.test.ts covers the protocol habits.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, gateConfig, pgQueries, queryDetail, readLog, runProbe, startConfiguredGate, until } from './pg-proxy-setup.js';

const PYTHON = '/usr/bin/python3'; // Debian's, where python3-psycopg is installed (.ci/run installs it)
const PROBE = fileURLToPath(new URL('./clients/psycopg_app_probe.py', import.meta.url));
const PANS = ['4111111111111111', '5555555555554444'];

let server: PostgresServer;
let gate: Gate;
let steps: Map<string, string>;
let stdout = '';

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create table py_log (id serial primary key, msg text); create table py_secrets (x int); insert into py_secrets values (7);
    create table py_cards (id int primary key, card_no text); insert into py_cards values (1, '${PANS[0]}'), (2, '${PANS[1]}');
    create table py_items (id int primary key); insert into py_items select generate_series(1, 60);`);
  gate = await startConfiguredGate(server, gateConfig(server, {
    classes: ['read', 'write', 'transaction', 'utility'], approvals: { wait: '60s' },
    role: { tables: { deny: ['public.py_secrets'] }, require_approval: ['write_without_where'] },
  }));
  ({ steps, stdout } = await runProbe(PYTHON, [PROBE, gate.broker.host, String(gate.broker.port), gate.broker.database, gate.broker.user, gate.broker.secret]));
}, 180_000);
afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

describe('psycopg 3 through pcigate with a realistic policy', () => {
  it('a refusal in a pipeline under one Sync fails the implicit transaction, as a server error would: nothing written', () => {
    expect(steps.get('pipeline_refused'), stdout).toBe('error=42501 rows=0 status=IDLE');
  });

  it('with a Sync per statement only the refused one fails', () => {
    expect(steps.get('pipeline_synced')).toBe('errors=42501 rows=2');
    expect(server.psql("select string_agg(msg, ',' order by id) from py_log where msg like 'synced%'").trim()).toBe('synced 1,synced 2');
  });

  it('executemany with returning gives every row back', () => {
    expect(steps.get('executemany_returning')).toBe(`returned=${[0, 1, 2, 3, 4].map((i) => `many_${i}`).join(',')}`);
  });

  it('named server-side cursors: masked rows fetched 3 at a time, scrolling, WITH HOLD past the commit', () => {
    expect(steps.get('server_cursor')).toBe('rows=8 first=************1111 last=************4444 scroll=31,22 held=[23, 24]');
  });

  it('prepare=True in text and binary: card numbers masked every time', () => {
    expect(steps.get('prepared')).toBe('cards=************1111,************4444,************1111,************4444');
  });

  it('a COPY the role may not run: 42501, the connection goes on', () => {
    expect(steps.get('copy_refused')).toBe('error=42501 after=usable');
  });

  it('conn.cancel() of a write waiting for its approval: 57014 at once, nothing deleted, the connection usable', () => {
    expect(steps.get('cancel_held')).toMatch(/^error=57014 seconds=[1-4] noticed=True after=usable$/);
    expect(Number(server.psql('select count(*) from py_log').trim())).toBeGreaterThan(0);
  });

  it('a notification payload holding a card number arrives masked', () => {
    expect(steps.get('notifies')).toBe('payload=card_************1111');
  });

  it('the log: each refusal, the cancelled hold, and no card number in the log or the transcripts', async () => {
    await until(() => pgQueries(gate.home, 'notify py_channel').length === 1);
    expect(pgQueries(gate.home, 'py_secrets').map((r) => [r.outcome, queryDetail(r).sqlstate])).toEqual([['denied', '42501'], ['denied', '42501']]);
    expect(pgQueries(gate.home, 'delete from py_log').map((r) => [r.outcome, queryDetail(r).rule, queryDetail(r).sqlstate])).toEqual([['denied', 'cancel', '57014']]);
    expect(readLog(gate.home).some((r) => r.type === 'pg.cancel' && (r.detail as { held?: boolean }).held === true)).toBe(true);
    for (const d of ['log', 'recordings']) {
      for (const f of readdirSync(path.join(gate.home, d))) {
        const text = readFileSync(path.join(gate.home, d, f), 'utf8');
        for (const pan of PANS) expect(text, f).not.toContain(pan);
      }
    }
  });
});
