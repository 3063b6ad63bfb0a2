/**
 * An approval binds the search_path its statement's unqualified names resolve in (src/policy/approvals.ts
 * statementHmac, pg-policy-hooks.ts holdStatement): with an approval window, the approved text re-run in a
 * session whose search_path puts another schema first — where `items` is another table — is held anew, not run
 * on the old approval. The approver is shown the path. Real proxy, real PostgreSQL, the `pg` driver.
 */
import * as fsp from 'node:fs/promises';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/cli/ctx.js';
import { policySection } from '../../src/config/sections/policy.js';
import { approvalDetail } from '../../src/policy/approval-render.js';
import { ApprovalStore, type ApprovalRequest } from '../../src/policy/approvals.js';
import type { PolicyIdentity } from '../../src/policy/evaluate.js';
import { loadParser } from '../../src/policy/pg-parser.js';
import { policyHooksFor } from '../../src/policy/pg-policy-hooks.js';
import { PolicyEngine } from '../../src/policy/policy-engine.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { pgClient, readLog, startGate, until, type Gate } from './pg-proxy-setup.js';

const approver: PolicyIdentity = { sub: 'u-approver', email: 'ann@example.com', groups: ['security'], via: 'oidc', mfa: true };
const UPDATE = "UPDATE items SET name = name || '!'";

let server: PostgresServer;
let gate: Gate;
let store: ApprovalStore;

const policy = policySection.parse({
  roles: { eng: { subjects: ['tester'] } },
  connections: {
    'test-db': {
      approvals: { groups: ['security'], wait: '20s', window: '10m' },
      roles: { eng: { classes: ['read', 'write', 'transaction', 'utility'], require_approval: ['write_without_where'] } },
    },
  },
});

beforeAll(async () => {
  await loadParser();
  server = await startPostgres();
  server.psql("create table items (id int, name text); insert into items values (1, 'public item')");
  server.psql("create schema scratch; create table scratch.items (id int, name text); insert into scratch.items values (1, 'scratch item')");
  const clock = systemClock();
  const hooks = { current: undefined as ReturnType<typeof policyHooksFor> | undefined };
  gate = await startGate(server, { hooksFor: (info) => hooks.current!(info) });
  store = new ApprovalStore({ fs: fsp, clock, home: gate.home, sink: gate.log, drainOutbox: true });
  hooks.current = policyHooksFor({ engine: new PolicyEngine(policy, {}), store, connection: 'test-db', clock, dbUser: gate.broker.user });
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

async function withClient<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = await pgClient(gate);
  try { return await fn(c); } finally { await c.end(); }
}

async function pending(): Promise<ApprovalRequest> {
  let found: ApprovalRequest | undefined;
  await until(async () => { found = (await store.list()).find((r) => r.state === 'pending'); return found !== undefined; }, 15_000);
  return found!;
}

const names = () => server.psql("select (select name from public.items) || ' / ' || (select name from scratch.items)").trim();

describe('an approval binds the search_path', () => {
  it('a re-run in the window under the same path runs on the approval; under another path it is held anew', async () => {
    // Held, shown with its path, approved for a 10-minute window.
    const first = await withClient(async (c) => {
      const running = c.query(UPDATE);
      const req = await pending();
      expect(req.search_path).toMatch(/\bpublic\b/);
      expect(req.search_path).not.toMatch(/scratch/);
      expect(approvalDetail(req)).toContain(`search_path: ${req.search_path}`);
      await store.approve(req.id, approver);
      expect((await running).rowCount).toBe(1);
      return req;
    });
    expect(names()).toBe('public item! / scratch item');

    // A new session, same path: the window's approval covers it (no new request).
    await withClient(async (c) => { expect((await c.query(UPDATE)).rowCount).toBe(1); });
    expect(names()).toBe('public item!! / scratch item');
    expect((await store.list()).map((r) => r.id)).toEqual([first.id]);

    // Another path, where `items` is scratch.items: the same text is another statement, held for its own approval.
    await withClient(async (c) => {
      await c.query('SET search_path = scratch, public');
      const running = c.query(UPDATE);
      const req = await pending();
      expect(req.id).not.toBe(first.id);
      expect(req.search_path).toMatch(/^scratch, /);
      expect(names()).toBe('public item!! / scratch item');
      // The expectation holds the query's rejection from now on: the refusal can arrive while deny() is awaited.
      const refused = expect(running).rejects.toThrow(/not that table/);
      await store.deny(req.id, approver, 'not that table');
      await refused;
    });
    expect(names()).toBe('public item!! / scratch item');
    const requests = readLog(gate.home).filter((r) => r.type === 'approval.request').map((r) => (r.detail as { search_path?: string }).search_path);
    expect(requests).toEqual([first.search_path, expect.stringMatching(/^scratch, /)]);
  });

  it('a path pcigate cannot know for certain binds otherwise: SET LOCAL does not pass for the SET an approval saw', async () => {
    // Approved under a plain SET (the path is surely the server's): scratch.items.
    const approved = await withClient(async (c) => {
      await c.query('SET search_path = scratch, public');
      const running = c.query(UPDATE);
      const req = await pending();
      expect(req.search_path).toBe('scratch, public');
      await store.approve(req.id, approver);
      await running;
      return req;
    });
    const before = names();
    // A SET LOCAL (gone at COMMIT: the server is back on public) reads the same to policy's last-SET path: not the
    // same binding, so the window's approval of scratch is not used on public.items; held, shown as uncertain.
    await withClient(async (c) => {
      await c.query('BEGIN; SET LOCAL search_path = scratch, public; COMMIT');
      const running = c.query(UPDATE);
      const req = await pending();
      expect(req.id).not.toBe(approved.id);
      expect(req.search_path).toMatch(/^not known for certain .*names may resolve in: .*public.*scratch/);
      const refused = expect(running).rejects.toThrow(/which table/);
      await store.deny(req.id, approver, 'which table?');
      await refused;
    });
    expect(names()).toBe(before);
  });
});
