/**
 * A state transition holds the request's lock while its record is made durable. A holder whose record took
 * longer than STALE_LOCK_MS (a slow disk, a log writer busy with a large batch) had its lock broken by a
 * waiter as if it were a crashed process's: both transitions then ran on the same state, and a one-run
 * approval was used twice. A live holder keeps its lock fresh; only a lock nobody refreshes is broken.
 */
import { mkdtempSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AuditEvent, AuditSink } from '../../../recorder/types.js';
import { ApprovalStore } from '../../../src/policy/approvals.js';
import { STALE_LOCK_MS } from '../../../src/policy/file-lock.js';
import type { PolicyIdentity } from '../../../src/policy/evaluate.js';
import { fixedClock } from '../../harness/test-ctx.js';

const requester: PolicyIdentity = { sub: 'u-req', groups: [], via: 'oidc' };
const approver: PolicyIdentity = { sub: 'u-a1', groups: ['security'], via: 'oidc' };
const SQL = 'DELETE FROM orders';

/** A sink whose approval.use records take `slowMs` to be durable the first time. */
function sink(slowMs: number): AuditSink & { events: AuditEvent[] } {
  const events: AuditEvent[] = [];
  let slowed = false;
  return {
    events,
    append: async (e) => {
      if (e.type === 'approval.use' && !slowed) { slowed = true; await new Promise((r) => setTimeout(r, slowMs)); }
      events.push(e);
      return { seq: events.length - 1, leaf: '' };
    },
    commitBlob: async () => { throw new Error('unused'); },
  };
}

describe('the approval lock of a live holder', () => {
  it('is not broken while its record is slow: a one-run approval is used once', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-approvals-lock-'));
    const clock = fixedClock();
    const shared = sink(STALE_LOCK_MS + 2_500);
    const a = new ApprovalStore({ fs: fsp, clock, home, sink: shared });
    const b = new ApprovalStore({ fs: fsp, clock, home, sink: shared });
    const req = await a.request({ connection: 'prod-db', requester, sql: SQL, rule: 'r', settings: { groups: ['security'], subjects: [], minApprovals: 1, expiresMs: 600_000, windowMs: 0 } });
    await a.approve(req.id, approver);
    const first = a.consume(req.id, requester, 'prod-db', SQL);
    await new Promise((r) => setTimeout(r, 50));
    const second = b.consume(req.id, requester, 'prod-db', SQL);
    const results = await Promise.allSettled([first, second]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(shared.events.filter((e) => e.type === 'approval.use')).toHaveLength(1);
    expect((await a.get(req.id)).state).toBe('used');
  }, 30_000);
});
