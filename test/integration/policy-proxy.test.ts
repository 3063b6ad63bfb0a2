/**
 * Policy through the real proxy against a real PostgreSQL: allowed, denied and held statements in the
 * simple and the extended protocol with the `pg` driver and psql, the session usable after each; held
 * statements approved by a second identity (in-process, and with the `pcigate approve` CLI while the broker
 * owns the audit log), denied, and not covered twice.
 */
import { writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/cli/ctx.js';
import { policySection } from '../../src/config/sections/policy.js';
import { ApprovalStore } from '../../src/policy/approvals.js';
import type { ApprovalRequest } from '../../src/policy/approvals.js';
import type { PolicyIdentity } from '../../src/policy/evaluate.js';
import { loadParser } from '../../src/policy/pg-parser.js';
import { policyHooksFor } from '../../src/policy/pg-policy-hooks.js';
import { PolicyEngine } from '../../src/policy/policy-engine.js';
import { runCli, tempDir } from '../harness/cli.js';
import { bytes } from '../harness/pg-bytes.js';
import { RawPgClient } from '../harness/raw-pg-client.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { readLog, run, startGate, until, type Gate } from './pg-proxy-setup.js';

const OS_USER = os.userInfo().username;
const approver: PolicyIdentity = { sub: 'u-approver', email: 'ann@example.com', groups: ['security'], via: 'oidc', mfa: true };

let server: PostgresServer;
let gate: Gate;
let store: ApprovalStore;

const policy = policySection.parse({
  roles: { eng: { subjects: ['tester'] } },
  connections: {
    'test-db': {
      approvals: { groups: ['security'], subjects: [OS_USER], wait: '20s' },
      roles: {
        eng: {
          classes: ['read', 'write', 'transaction', 'utility'],
          tables: { deny: ['secrets'] },
          columns: { deny: ['cards.pan'] },
          require_approval: ['write_without_where', 'ddl'],
        },
      },
    },
  },
});

function client(): pg.Client {
  return new pg.Client({ host: gate.broker.host, port: gate.broker.port, user: gate.broker.user, password: gate.broker.secret, database: gate.broker.database });
}

async function withClient<T>(fn: (c: pg.Client, notices: string[]) => Promise<T>): Promise<T> {
  const c = client();
  const notices: string[] = [];
  c.on('notice', (n) => notices.push(n.message ?? ''));
  await c.connect();
  try { return await fn(c, notices); } finally { await c.end(); }
}

async function pendingRequest(): Promise<ApprovalRequest> {
  let found: ApprovalRequest | undefined;
  await until(async () => { found = (await store.list()).find((r) => r.state === 'pending'); return found !== undefined; }, 15_000);
  return found!;
}

beforeAll(async () => {
  await loadParser();
  server = await startPostgres();
  server.psql("create table items (id int primary key, name text); insert into items select g, 'item ' || g from generate_series(1, 10) g;");
  server.psql("create table cards (id int, pan text, last4 text); insert into cards values (1, '4111111111111111', '1111');");
  server.psql('create table secrets (id int);');
  const engine = new PolicyEngine(policy, {});
  const clock = systemClock();
  const hooks = { current: undefined as ReturnType<typeof policyHooksFor> | undefined };
  gate = await startGate(server, { hooksFor: (info) => hooks.current!(info) });
  store = new ApprovalStore({ fs: fsp, clock, home: gate.home, sink: gate.log, drainOutbox: true });
  hooks.current = policyHooksFor({ engine, store, connection: 'test-db', clock, dbUser: gate.broker.user });
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

describe('policy through the proxy', () => {
  it('simple protocol: allowed, denied with 42501 naming the rule, session usable after', async () => {
    await withClient(async (c) => {
      expect((await c.query('SELECT count(*)::int AS n FROM items')).rows[0].n).toBe(10);
      const err = await c.query('SELECT * FROM secrets').catch((e: unknown) => e as pg.DatabaseError);
      expect(err).toMatchObject({ code: '42501' });
      expect(String((err as Error).message)).toContain('policy.connections.test-db.roles.eng.tables.deny');
      const pan = await c.query('SELECT pan FROM cards').catch((e: unknown) => e as pg.DatabaseError);
      expect(pan).toMatchObject({ code: '42501' });
      expect((await c.query('SELECT last4 FROM cards')).rows).toEqual([{ last4: '1111' }]);
      // Inside a transaction the denied statement never reached the server; the transaction goes on.
      await c.query('BEGIN');
      await expect(c.query('SELECT * FROM secrets')).rejects.toMatchObject({ code: '42501' });
      await c.query('ROLLBACK');
      expect((await c.query('SELECT 2 AS x')).rows).toEqual([{ x: 2 }]);
    });
  });

  it('bypass attempts are denied and nothing runs', async () => {
    await withClient(async (c) => {
      for (const sql of ['SELECT 1; GRANT SELECT ON items TO PUBLIC', '-- harmless\nGRANT SELECT ON items TO PUBLIC',
        'WITH d AS (DELETE FROM secrets RETURNING *) SELECT * FROM d', 'SELECT U&"\\0070an" FROM cards', 'SELECT c FROM cards c',
        'DO $$ BEGIN DELETE FROM items; END $$', 'SEL/**/ECT 1', 'COPY (SELECT pan FROM cards) TO STDOUT',
        'EXPLAIN ANALYZE DELETE FROM secrets', 'SELECT pan INTO loot FROM cards', "SELECT set_config('search_path', 'evil', false)",
        'PREPARE x AS DELETE FROM secrets', 'EXECUTE never_prepared', 'sElEcT * fRoM "secrets"']) {
        await expect(c.query(sql), sql).rejects.toMatchObject({ code: '42501' });
      }
      await c.query('SET search_path = evil, public');
      await expect(c.query('SELECT * FROM secrets')).rejects.toMatchObject({ code: '42501' });
      expect((await c.query('SELECT count(*)::int AS n FROM items')).rows[0].n).toBe(10);
    });
    expect(server.psql('select count(*) from items').trim()).toBe('10');
    expect(server.psql("select count(*) from pg_class where relname = 'loot'").trim()).toBe('0');
    expect((await store.list()).filter((r) => r.state === 'pending')).toEqual([]);
  });

  it('an empty query is answered as the server answers it (EmptyQueryResponse), not refused: pools ping with it', async () => {
    await withClient(async (c) => {
      // libpq, pgjdbc's isValid() and pools send '' to check a connection; PostgreSQL answers EmptyQueryResponse.
      for (const sql of ['', ' ', '-- nothing', ';']) expect((await c.query(sql)).rows, JSON.stringify(sql)).toEqual([]);
      const ext = await c.query({ text: '', values: [] });
      expect(ext.command).toBe(null);
      expect((await c.query('SELECT 3 AS x')).rows).toEqual([{ x: 3 }]);
    });
  });

  it('SQL FETCH of a portal the protocol bound is judged as the statement bound into it, whatever the name held before', async () => {
    server.psql('insert into secrets values (987654)');
    const session = (messages: Buffer[]) => RawPgClient.session(gate.broker, messages);
    const errors = (frames: string[]) => frames.filter((f) => f.startsWith('E:'));
    // A cursor policy allowed, closed by the protocol and bound again over a denied read, then FETCHed in SQL.
    const swapped = await session([bytes.query('BEGIN'), bytes.query('DECLARE c CURSOR FOR SELECT id FROM items'),
      Buffer.concat([bytes.close('P', 'c'), bytes.parse('', 'SELECT * FROM secrets'), bytes.bind('c', '', []), bytes.sync()]),
      bytes.query('FETCH ALL FROM c'), bytes.query('ROLLBACK')]);
    expect(errors(swapped)).toEqual([expect.stringContaining('tables.deny')]);
    // The same without the Close: the Bind fails on the server (42P03), which aborts the transaction.
    const kept = await session([bytes.query('BEGIN'), bytes.query('DECLARE c CURSOR FOR SELECT id FROM items ORDER BY id LIMIT 1'),
      Buffer.concat([bytes.parse('', 'SELECT * FROM secrets'), bytes.bind('c', '', []), bytes.sync()]),
      bytes.query('FETCH ALL FROM c'), bytes.query('ROLLBACK')]);
    expect(errors(kept)).toEqual([expect.stringContaining('42P03'), expect.stringContaining('25P02')]);
    // Closed by the protocol: nothing is under the name any more (the server answers 34000; policy refuses).
    const closed = await session([bytes.query('BEGIN'), bytes.query('DECLARE c CURSOR FOR SELECT id FROM items'),
      Buffer.concat([bytes.close('P', 'c'), bytes.sync()]), bytes.query('FETCH ALL FROM c'), bytes.query('ROLLBACK')]);
    expect(errors(closed)).toEqual([expect.stringContaining('did not see declared')]);
    // An allowed statement bound into a named portal reads through SQL FETCH as it does directly.
    const allowed = await session([bytes.query('BEGIN'), Buffer.concat([bytes.parse('', 'SELECT name FROM items WHERE id = 2'), bytes.bind('p2', '', []), bytes.sync()]),
      bytes.query('FETCH ALL FROM p2'), bytes.query('ROLLBACK')]);
    expect(errors(allowed)).toEqual([]);
    expect(allowed).toContainEqual(expect.stringContaining('item 2'));
    for (const f of [swapped, kept, closed, allowed]) expect(f.join('\n')).not.toContain('987654');
  });

  it('extended protocol: denied then usable', async () => {
    await withClient(async (c) => {
      await expect(c.query('SELECT id FROM secrets WHERE id = $1', [1])).rejects.toMatchObject({ code: '42501' });
      expect((await c.query('SELECT name FROM items WHERE id = $1', [3])).rows).toEqual([{ name: 'item 3' }]);
      await expect(c.query({ name: 'p-deny', text: 'SELECT pan FROM cards WHERE id = $1', values: [1] })).rejects.toMatchObject({ code: '42501' });
      expect((await c.query({ name: 'p-ok', text: 'SELECT last4 FROM cards WHERE id = $1', values: [1] })).rows).toEqual([{ last4: '1111' }]);
    });
  });

  it('held (simple protocol): a notice names the request; approval by a second identity runs it once', async () => {
    await withClient(async (c, notices) => {
      const running = c.query("UPDATE items SET name = name || '!'");
      const req = await pendingRequest();
      expect(req.requester.sub).toBe('tester');
      expect(req.rule).toMatch(/require_approval\.write_without_where$/);
      await expect(store.approve(req.id, { sub: 'tester', groups: ['security'], via: 'oidc' })).rejects.toMatchObject({ code: 'ERR_APPROVAL_FORBIDDEN' });
      await store.approve(req.id, approver);
      const res = await running;
      expect(res.rowCount).toBe(10);
      expect(notices.join('\n')).toContain(`pcigate approve ${req.id}`);
      expect((await store.get(req.id)).state).toBe('used');
      // The same statement again is a new request: the approval was for one run.
      const again = c.query("UPDATE items SET name = name || '!'");
      const req2 = await pendingRequest();
      expect(req2.id).not.toBe(req.id);
      // Expected before the deny: its refusal can reach the client while deny() is still awaited.
      const refused = expect(again).rejects.toThrow(/denied by ann@example.com: once is enough/);
      await store.deny(req2.id, approver, 'once is enough');
      await refused;
      expect((await c.query('SELECT name FROM items WHERE id = 1')).rows).toEqual([{ name: 'item 1!' }]);
    });
  });

  it('held (extended protocol): approved with the pcigate approve CLI while the broker owns the log', async () => {
    const dir = tempDir('pcigate-policy-cli-');
    const config = path.join(dir, 'pcigate.yaml');
    writeFileSync(config, 'identity: { allow_local: true }\n');
    await withClient(async (c) => {
      const running = c.query({ name: 'mk', text: 'CREATE TABLE made_here (a int)', values: [] });
      const req = await pendingRequest();
      const r = await runCli(['approve', req.id, '--reason', 'ticket 9', '--home', gate.home, '--config', config]);
      expect(r.stderr).toContain('outbox');
      expect(r.code).toBe(0);
      await running;
      expect((await c.query('SELECT count(*)::int AS n FROM made_here')).rows[0].n).toBe(0);
      await until(() => readLog(gate.home).some((x) => x.type === 'approval.approve' && (x.detail as { id?: string }).id === req.id));
    });
  });

  it('psql: denied statement exits non-zero, the next one runs', async () => {
    const r = await run('psql', ['-X', '-v', 'ON_ERROR_STOP=0', '-At', '-c', 'SELECT * FROM secrets', '-c', 'SELECT 40 + 2'], gate.env);
    expect(r.stderr).toContain('denied by policy rule');
    expect(r.stdout.trim()).toBe('42');
  });

  it('every request, approval, denial and use is in the audit log', async () => {
    const types = readLog(gate.home).map((x) => x.type);
    for (const t of ['approval.request', 'approval.approve', 'approval.deny', 'approval.use']) expect(types).toContain(t);
  });
});
