/**
 * Approvals against a requester who wants a held statement to run without a real approval, through the
 * broker's real hooks (pgHooksFor, as `pcigate connect` uses them) against a real PostgreSQL 15 with the
 * node-postgres client:
 * - an approval of an extended-protocol statement binds its bind parameters: the approver sees them (PAN
 *   masked), and the same text with other values is held again instead of running on that approval;
 * - a process that can write the approvals directory (the requester's own account) and edits its pending
 *   request to `approved` while the statement waits: the broker finds the request's seal broken and
 *   refuses the statement; nothing runs;
 * - the same process saves the approved file of a one-run approval and puts it back after the run: its seal
 *   is good, but the audit log holds the approval.use; the statement is held again instead of running twice.
 */
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/cli/ctx.js';
import { ApprovalStore } from '../../src/policy/approvals.js';
import type { ApprovalRequest } from '../../src/policy/approvals.js';
import type { PolicyIdentity } from '../../src/policy/evaluate.js';
import { loadParser } from '../../src/policy/pg-parser.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { gateConfig, readLog, startConfiguredGate, until, type Gate } from './pg-proxy-setup.js';

const approver: PolicyIdentity = { sub: 'u-approver', email: 'ann@example.com', groups: ['security'], via: 'oidc', mfa: true };

let server: PostgresServer;
let gate: Gate;
let store: ApprovalStore;
/** The same policy with a 20 s wait: time for a hostile edit while a statement waits. */
let slow: Gate;

beforeAll(async () => {
  await loadParser();
  server = await startPostgres();
  server.psql("create table items (id int primary key, name text); insert into items select g, 'item ' || g from generate_series(1, 3) g;");
  gate = await startConfiguredGate(server, gateConfig(server, {
    classes: ['read', 'write', 'transaction', 'utility'],
    role: { require_approval: ['write_without_where'] },
    approvals: { groups: ['security'], wait: '1s' },
  }));
  store = new ApprovalStore({ fs: fsp, clock: systemClock(), home: gate.home, sink: gate.log });
  slow = await startConfiguredGate(server, gateConfig(server, {
    classes: ['read', 'write', 'transaction', 'utility'],
    role: { require_approval: ['write_without_where'] },
    approvals: { groups: ['security'], wait: '20s' },
  }));
}, 120_000);

afterAll(async () => {
  await slow?.close();
  await gate?.close();
  await server?.stop();
});

async function withClient<T>(fn: (c: pg.Client) => Promise<T>, g: Gate = gate): Promise<T> {
  const c = new pg.Client({ host: g.broker.host, port: g.broker.port, user: g.broker.user, password: g.broker.secret, database: g.broker.database });
  await c.connect();
  try { return await fn(c); } finally { await c.end(); }
}

const requests = async (): Promise<ApprovalRequest[]> => store.list();

describe('approval binding', () => {
  it('an extended-protocol approval binds its parameters: other values are held again, not run', async () => {
    const sql = 'UPDATE items SET name = $1';
    await withClient(async (c) => {
      // Held; nobody decides within the 1 s wait, so this run fails. The approval comes afterwards.
      // (the requester is told the request stays open, and what to do once it is approved)
      await expect(c.query(sql, ['approved 4111111111111111'])).rejects.toThrow(/no decision on approval request A-\w+ in time; the statement was not run\. The request stays open until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: once it is approved, run the same statement again/);
      const [req] = await requests();
      expect(req!.params).toHaveLength(1);
      expect(req!.params![0]).toMatch(/^approved .*1111$/);
      expect(JSON.stringify(req)).not.toContain('4111111111111111');
      await store.approve(req!.id, approver);

      // The same text with another value: not what was approved.
      await expect(c.query(sql, ['pwned'])).rejects.toThrow(/no decision on approval request/);
      expect(server.psql("select count(*) from items where name = 'pwned'").trim()).toBe('0');
      const second = (await requests()).find((r) => r.id !== req!.id)!;
      expect(second.params).toEqual(['pwned']);
      expect(second.hmac).not.toBe(req!.hmac);

      // Exactly what was approved runs on that approval, once.
      expect((await c.query(sql, ['approved 4111111111111111'])).rowCount).toBe(3);
      expect((await store.get(req!.id)).state).toBe('used');
    });
    const log = readLog(gate.home);
    const use = log.find((x) => x.type === 'approval.use');
    expect(use).toMatchObject({ detail: { params: [expect.stringMatching(/1111$/)] } });
    expect(JSON.stringify(log)).not.toContain('4111111111111111');
  }, 30_000);
});


describe('the approvals directory written by someone else', () => {
  it('a pending request edited to approved while its statement waits: refused, nothing runs', async () => {
    const dir = path.join(slow.home, 'approvals');
    await withClient(async (c) => {
      const running = c.query("UPDATE items SET name = 'forged'");
      // Its refusal can come while the forgery below is still being written: expected from the start.
      const refused = expect(running).rejects.toThrow(/could not be completed; the statement was not run/);
      let file = '';
      await until(async () => { file = (await fsp.readdir(dir).catch(() => [] as string[])).find((n) => /^A-[a-z2-7]{10}\.json$/.test(n)) ?? ''; return file !== ''; }, 15_000);
      const req = JSON.parse(await fsp.readFile(path.join(dir, file), 'utf8')) as ApprovalRequest;
      const now = Date.now();
      const forged = { ...req, state: 'approved', approved_ms: now, approvals: [{ sub: 'u-approver', email: 'ann@example.com', via: 'oidc', at_ms: now }] };
      await fsp.writeFile(path.join(dir, `${file}.tmp`), JSON.stringify(forged, null, 2));
      await fsp.rename(path.join(dir, `${file}.tmp`), path.join(dir, file));
      await refused;
      expect((await c.query("SELECT count(*)::int AS n FROM items WHERE name = 'forged'")).rows[0].n).toBe(0);
    }, slow);
    expect(readLog(slow.home).some((x) => x.type === 'approval.use')).toBe(false);
  }, 30_000);
});

describe('an old copy of a request file put back', () => {
  it('the approved file copied back after its one run: the statement is held again, not run a second time', async () => {
    const sql = "UPDATE items SET name = name || '+'";
    const dir = path.join(gate.home, 'approvals');
    let id = '';
    await withClient(async (c) => {
      await expect(c.query(sql)).rejects.toThrow(/no decision on approval request/);
      id = (await requests()).find((r) => r.state === 'pending' && r.sql === sql)!.id;
      await store.approve(id, approver);
      const approvedCopy = await fsp.readFile(path.join(dir, `${id}.json`));
      expect((await c.query(sql)).rowCount).toBe(3);
      expect((await store.get(id)).state).toBe('used');

      await fsp.writeFile(path.join(dir, `${id}.json`), approvedCopy);
      await expect(c.query(sql)).rejects.toThrow(/no decision on approval request/);
      expect(server.psql("select count(*) from items where name like '%++'").trim()).toBe('0');
      expect(server.psql("select count(*) from items where name like '%+'").trim()).toBe('3');
    });
    expect(readLog(gate.home).filter((x) => x.type === 'approval.use' && x.detail?.id === id)).toHaveLength(1);
  }, 30_000);
});
