/**
 * Masked-value counts in the audit log (PCI DSS 3.4.1 evidence): PANs, SAD columns and ruled columns
 * selected through the real proxy (simple and extended protocol, real PostgreSQL) are counted per rule in
 * each `pg.query` detail.masked, the session total lands in `session.end` detail.masked, and
 * `pcigate sessions` shows that total in its MASKED column.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../recorder/types.js';
import { runCli } from '../harness/cli.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, gateConfig, readLog, run, startConfiguredGate, until } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;
const PANS = ['4111111111111111', '5555555555554444', '378282246310005'];

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create table cards (id int, pan text, cvv text, account_no text, note text);
    insert into cards values (1, '${PANS[0]}', '123', 'AC-0001-7788', 'visa'), (2, '${PANS[1]}', '456', 'AC-0002-9911', 'mc'), (3, '${PANS[2]}', '7890', 'AC-0003-1234', 'amex');`);
  const config = gateConfig(server, { classes: ['read'], rules: [{ name: 'account', columns: ['account_no'], format: 'last4' }] });
  gate = await startConfiguredGate(server, config);
}, 120_000);

afterAll(async () => {
  await gate?.close().catch(() => undefined);
  await server?.stop();
});

const queries = (session: string | undefined) => readLog(gate.home).filter((r) => r.type === 'pg.query' && r.session === session);
const masked = (r: AuditRecord | undefined) => (r?.detail as { masked?: Record<string, number> } | undefined)?.masked;

describe('masked counts', () => {
  let session: string | undefined;

  it('counts per statement and rule, simple and extended protocol', async () => {
    const c = new pg.Client({ host: gate.broker.host, port: gate.broker.port, user: gate.broker.user, password: gate.broker.secret, database: gate.broker.database });
    await c.connect();
    const all = await c.query({ text: 'select id, pan, note from cards order by id', rowMode: 'array' });
    expect(JSON.stringify(all.rows)).not.toContain(PANS[0]);
    await c.query('select cvv, account_no from cards where id = $1', [2]);
    await c.query('select note from cards');
    // A cvv under an alias is still the cvv (its source column, looked up in pg_catalog, is SAD).
    const aliased = await c.query('select cvv as x, note as y from cards where id = 1');
    expect(aliased.rows).toEqual([{ x: '***', y: 'visa' }]);
    await c.end();
    await until(() => readLog(gate.home).some((r) => r.type === 'session.end'));
    session = readLog(gate.home).find((r) => r.type === 'session.end')!.session;
    const q = queries(session);
    expect(q.map((r) => masked(r))).toEqual([{ pan: 3 }, { sad: 1, account: 1 }, {}, { sad: 1 }]);
  });

  it('puts the session total in session.end', () => {
    const end = readLog(gate.home).find((r) => r.type === 'session.end' && r.session === session)!;
    expect(masked(end)).toEqual({ pan: 3, sad: 2, account: 1 });
  });

  it('counts what psql selects the same way', async () => {
    const r = await run('psql', ['-X', '-At', '-c', 'select pan from cards where id < 3'], gate.env);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain(PANS[0]);
    await until(() => readLog(gate.home).filter((x) => x.type === 'session.end').length === 2);
    const end = readLog(gate.home).filter((x) => x.type === 'session.end')[1]!;
    expect(masked(queries(end.session)[0])).toEqual({ pan: 2 });
    expect(masked(end)).toEqual({ pan: 2 });
  });

  it('pcigate sessions shows the totals in MASKED', async () => {
    await gate.close();
    const out = await runCli(['sessions', '--json'], { env: { PCIGATE_HOME: gate.home } });
    expect(out.code).toBe(0);
    const rows = (JSON.parse(out.stdout) as { sessions: Array<{ kind: string; masked: number }> }).sessions;
    expect(rows.map((s) => [s.kind, s.masked])).toEqual([['postgres', 6], ['postgres', 2]]);
    const table = await runCli(['sessions', '--kind', 'postgres'], { env: { PCIGATE_HOME: gate.home } });
    const header = table.stdout.split('\n')[0]!;
    expect(header).toContain('MASKED');
    const col = header.indexOf('MASKED');
    const firstRow = table.stdout.split('\n')[1]!;
    expect(firstRow.slice(col).trim().split(/\s+/)[0]).toBe('6');
  });
});
