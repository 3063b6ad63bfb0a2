/**
 * A held statement the proxy stops waiting for (the client cancelled it, or the session ended): the hold's
 * abort() ends its wait, and an approval that arrives after that is not spent (no consume, no approval.use)
 * on a statement that will never run, nor applied to the policy session.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { policySection } from '../../../src/config/sections/policy.js';
import type { Statement, StatementDecision } from '../../../src/pg/proxy/hooks.js';
import type { ApprovalRequest, ApprovalStore } from '../../../src/policy/approvals.js';
import { loadParser } from '../../../src/policy/pg-parser.js';
import { decideStatement } from '../../../src/policy/pg-policy-hooks.js';
import { PolicyEngine } from '../../../src/policy/policy-engine.js';

beforeAll(async () => { await loadParser(); });

const engine = new PolicyEngine(policySection.parse({
  roles: { eng: { subjects: ['tester'] } },
  connections: { db: { roles: { eng: { classes: ['read', 'write', 'transaction', 'utility'], require_approval: ['write_without_where'] } } } },
}), {});
const clock = { now: () => 1_700_000_000_000, micros: () => 1_700_000_000_000_000n };
const stmt: Statement = { n: 1, protocol: 'simple', sql: 'delete from items', params: [] };

/** A store whose request is approved as soon as the wait is aborted (the worst moment), recording its calls. */
function racingStore(calls: string[]): ApprovalStore {
  return {
    findUsable: async () => undefined,
    request: async () => ({ id: 'A-1' }),
    consume: async () => { calls.push('consume'); },
    waitForDecision: (_id: string, _ms: number, signal?: AbortSignal) => new Promise<Partial<ApprovalRequest>>((resolve) => {
      signal?.addEventListener('abort', () => resolve({ id: 'A-1', state: 'approved' }), { once: true });
    }),
  } as unknown as ApprovalStore;
}

describe('an abandoned hold', () => {
  it('is refused, and the approval that arrives as it is abandoned is not consumed', async () => {
    const calls: string[] = [];
    const d = await decideStatement({ engine, store: racingStore(calls), connection: 'db', clock }, engine.openSession({ sub: 'tester', via: 'local' }, 'db', clock.now()), 's-1', stmt);
    expect(d).toMatchObject({ action: 'hold', abort: expect.any(Function) });
    const hold = d as Extract<StatementDecision, { action: 'hold' }>;
    hold.abort!();
    expect(await hold.until).toMatchObject({ action: 'deny', message: expect.stringContaining('abandoned') });
    expect(calls).toEqual([]);
  });
});
