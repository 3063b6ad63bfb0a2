/**
 * A statement policy would hold for approval, sent in a transaction that has already failed: the server
 * would answer it 25P02 whatever an approver decided, so pcigate files no approval request and answers the
 * server's own 25P02 at once (psql, and the `pg` driver in the simple and the extended protocol, against
 * the real proxy and a real PostgreSQL). It is recorded as `pg.query` denied, sqlstate 25P02, rule
 * `hold_skipped_failed_transaction: <the hold's rule>`; no `approval.request`, nothing in
 * `pcigate approvals`. The transaction stays failed: ROLLBACK, ROLLBACK TO SAVEPOINT and COMMIT (which
 * answers ROLLBACK) work as usual. The same statement outside a failed transaction, or behind a
 * transaction exit in the same text, is held and files a request as before.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApprovalRequest, ApprovalStore } from '../../src/policy/approvals.js';
import { runCli, tempDir } from '../harness/cli.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { APPROVER, type Gate, heldGate, pgClient, readLog, run, until } from './pg-proxy-setup.js';

const FAILED = 'current transaction is aborted, commands ignored until end of transaction block';
const HOLD_RULE = 'policy.connections.test-db.roles.eng.require_approval.write_without_where';
const TABLE_RULE = 'policy.connections.test-db.roles.eng.approval_tables';

let server: PostgresServer;
let gate: Gate;
let store: ApprovalStore;

beforeAll(async () => {
  server = await startPostgres();
  server.psql("create table items (id int primary key, name text); create table cards (id int, last4 text); insert into cards values (1, '1111');");
  ({ gate, store } = await heldGate(server, { role: { approval_tables: ['cards'] } }));
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

const sqlOf = (r: { detail?: unknown }) => String((r.detail as { sql?: string } | undefined)?.sql ?? '');
/** The pg.query / pg.intent records of the statement whose text contains `marker`. */
const recordsOf = (marker: string) => readLog(gate.home).filter((r) => (r.type === 'pg.query' || r.type === 'pg.intent') && sqlOf(r).includes(marker));
const requestsFor = async (marker: string) => (await store.list()).filter((r) => r.sql.includes(marker));
const approvalRecordsFor = (marker: string) => readLog(gate.home).filter((r) => r.type.startsWith('approval.') && sqlOf(r).includes(marker));
const ids = () => server.psql('select coalesce(string_agg(id::text, \',\' order by id), \'\') from items').trim();

async function pendingFor(marker: string): Promise<ApprovalRequest> {
  let found: ApprovalRequest | undefined;
  await until(async () => { found = (await requestsFor(marker)).find((r) => r.state === 'pending'); return found !== undefined; }, 15_000);
  return found!;
}

/** The one pg.query of `marker`: refused as a skipped hold, 25P02, with no intent (nothing forwarded). */
function expectSkippedHold(marker: string, protocol: 'simple' | 'extended', rule = HOLD_RULE): void {
  expect(recordsOf(marker)).toMatchObject([{ type: 'pg.query', outcome: 'denied', detail: { protocol, sqlstate: '25P02', rule: `hold_skipped_failed_transaction: ${rule}` } }]);
}

describe('a statement policy would hold, in a transaction that has already failed', () => {
  it('psql gets the server\'s 25P02 at once, no request is filed, ROLLBACK ends the transaction', async () => {
    // A held statement would wait for an approver (approvals.wait 60 s) and psql be SIGKILLed at 20 s (code
    // null), before the lines after it ran; a request would be on file.
    const r = await run('psql', ['-X', '-v', 'ON_ERROR_STOP=0', '-v', 'VERBOSITY=verbose', '-f', '-'], gate.env, {
      input: "begin;\ninsert into items values (1);\nselect 1/0;\nupdate items set name = 'held_psql';\nrollback;\nselect 'after' || 'wards';\n",
      timeoutMs: 20_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('ERROR:  22012: division by zero');
    expect(r.stderr).toContain(`ERROR:  25P02: ${FAILED}`);
    expect(r.stderr).not.toContain('pcigate');
    expect(r.stdout).toContain('ROLLBACK');
    expect(r.stdout).toContain('afterwards');
    expectSkippedHold('held_psql', 'simple');
    expect(await requestsFor('held_psql')).toEqual([]);
    expect(approvalRecordsFor('held_psql')).toEqual([]);
    expect(ids()).toBe('');
  }, 30_000);

  it('the pg driver gets 25P02 in the simple and the extended protocol, no notice; the transaction stays failed until it ends', async () => {
    const c = await pgClient(gate);
    const notices: string[] = [];
    c.on('notice', (n) => notices.push(n.message ?? ''));
    try {
      // ROLLBACK TO SAVEPOINT recovers after the refusal, as after any statement there.
      await c.query('begin');
      await c.query('insert into items values ($1)', [2]);
      await c.query('savepoint s');
      await expect(c.query('select 1/0')).rejects.toMatchObject({ code: '22012' });
      const simple = await c.query("update items set name = 'held_simple'").then(() => null, (e: unknown) => e);
      expect(simple).toMatchObject({ code: '25P02', message: FAILED, severity: 'ERROR' });
      expect((simple as { detail?: string }).detail).toBeUndefined();
      const extended = await c.query('select last4 from cards held_ext where id = $1', [1]).then(() => null, (e: unknown) => e);
      expect(extended).toMatchObject({ code: '25P02', message: FAILED });
      // Still failed: an ordinary statement gets the server's own 25P02.
      await expect(c.query('select $1::int as x', [1])).rejects.toMatchObject({ code: '25P02' });
      expect((await c.query('rollback to savepoint s')).command).toBe('ROLLBACK');
      await c.query('insert into items values ($1)', [3]);
      expect((await c.query('commit')).command).toBe('COMMIT');

      // COMMIT of a failed transaction answers ROLLBACK, as the server does.
      await c.query('begin');
      await c.query('insert into items values ($1)', [4]);
      await expect(c.query('select 1/0')).rejects.toMatchObject({ code: '22012' });
      await expect(c.query("update items set name = 'held_commit'")).rejects.toMatchObject({ code: '25P02', message: FAILED });
      expect((await c.query('commit')).command).toBe('ROLLBACK');
      expect((await c.query('select $1::int as x', [7])).rows).toEqual([{ x: 7 }]);
    } finally {
      await c.end();
    }
    expect(notices).toEqual([]);
    expectSkippedHold('held_simple', 'simple');
    expectSkippedHold('held_ext', 'extended', TABLE_RULE);
    expectSkippedHold('held_commit', 'simple');
    for (const m of ['held_simple', 'held_ext', 'held_commit']) {
      expect(await requestsFor(m)).toEqual([]);
      expect(approvalRecordsFor(m)).toEqual([]);
    }
    expect(ids()).toBe('2,3');
  }, 30_000);

  it('outside a failed transaction, and behind a ROLLBACK in the same text, the statement is held and files a request', async () => {
    const c = await pgClient(gate);
    const notices: string[] = [];
    c.on('notice', (n) => notices.push(n.message ?? ''));
    try {
      // Idle session.
      const outside = c.query("update items set name = 'held_outside'").then(() => null, (e: unknown) => e);
      const req = await pendingFor('held_outside');
      expect(req.rule).toBe(HOLD_RULE);
      await store.deny(req.id, APPROVER, 'not now');
      expect(await outside).toMatchObject({ code: '42501', message: expect.stringContaining('denied by ann@example.com: not now') });
      expect(notices.join('\n')).toContain(`pcigate approve ${req.id}`);

      // A failed transaction, but the text begins with a transaction exit, which the server runs there.
      await c.query('begin');
      await expect(c.query('select 1/0')).rejects.toMatchObject({ code: '22012' });
      const behindExit = c.query("rollback; update items set name = 'held_behind_rollback'").then(() => null, (e: unknown) => e);
      const req2 = await pendingFor('held_behind_rollback');
      await store.deny(req2.id, APPROVER, 'not now either');
      expect(await behindExit).toMatchObject({ message: expect.stringContaining('denied by ann@example.com: not now either') });
      await c.query('rollback');
      expect((await c.query('select $1::int as x', [8])).rows).toEqual([{ x: 8 }]);
    } finally {
      await c.end();
    }
    expect(recordsOf('held_outside')).toMatchObject([{ type: 'pg.query', outcome: 'denied', detail: { sqlstate: '42501', rule: HOLD_RULE } }]);
    expect(approvalRecordsFor('held_outside').map((r) => r.type)).toEqual(['approval.request', 'approval.deny']);
  }, 40_000);

  it('pcigate approvals lists only the requests filed outside the failed transactions', async () => {
    const dir = tempDir('pcigate-held-failed-');
    const config = path.join(dir, 'pcigate.yaml');
    writeFileSync(config, 'identity: { allow_local: true }\n');
    const r = await runCli(['approvals', '--all', '--json', '--home', gate.home, '--config', config]);
    expect(r.code).toBe(0);
    const listed = (JSON.parse(r.stdout) as { sql: string; state: string }[]).map((x) => x.sql).sort();
    expect(listed).toEqual(["rollback; update items set name = 'held_behind_rollback'", "update items set name = 'held_outside'"]);
    expect(readLog(gate.home).filter((x) => x.type === 'approval.request')).toHaveLength(2);
  });
});
