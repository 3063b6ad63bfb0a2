/**
 * An approval nobody used does not stay usable for ever: a one-run approval is usable until its request's
 * expiry (at least a minute after it was given), a window until the window closes; then the request is
 * expired and that is recorded (`approval.expire`, detail.was `approved`).
 */
import { mkdtempSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApprovalStore } from '../../../src/policy/approvals.js';
import type { NewRequest } from '../../../src/policy/approvals.js';
import type { PolicyIdentity } from '../../../src/policy/evaluate.js';
import { fixedClock } from '../../harness/test-ctx.js';
import { memoryAudit } from '../../harness/memory-audit.js';

const requester: PolicyIdentity = { sub: 'u-req', groups: [], via: 'oidc' };
const approver: PolicyIdentity = { sub: 'u-a1', groups: ['security'], via: 'oidc' };
const SQL = 'DELETE FROM orders';

function setup(settings: Partial<NewRequest['settings']> = {}) {
  const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-approvals-expiry-'));
  const clock = fixedClock();
  const sink = memoryAudit();
  const store = new ApprovalStore({ fs: fsp, clock, home, sink });
  const req = () => store.request({
    connection: 'prod-db', requester, sql: SQL,
    settings: { groups: ['security'], subjects: [], minApprovals: 1, expiresMs: 60 * 60_000, windowMs: 0, ...settings },
  });
  return { clock, sink, store, req };
}

describe('approved but unused approvals expire', () => {
  it('a one-run approval not used before its request expires is expired, not usable days later', async () => {
    const { store, req, clock, sink } = setup();
    const r = await req();
    clock.advance(5 * 60_000);
    await store.approve(r.id, approver);
    // The requester's wait had ended; the approval is still good within the hour…
    clock.advance(30 * 60_000);
    expect((await store.findUsable(requester, 'prod-db', SQL))?.id).toBe(r.id);
    // …but not three days later.
    clock.advance(3 * 24 * 3_600_000);
    expect(await store.findUsable(requester, 'prod-db', SQL)).toBeUndefined();
    await expect(store.consume(r.id, requester, 'prod-db', SQL)).rejects.toThrow(/expired/);
    expect((await store.get(r.id)).state).toBe('expired');
    const expiry = sink.events.filter((e) => e.type === 'approval.expire');
    expect(expiry).toHaveLength(1);
    expect(expiry[0]).toMatchObject({ outcome: 'failure', actor: { via: 'system' }, detail: { id: r.id, was: 'approved', uses: 0 } });
  });

  it('an approval given just before the request expires can still be used for a minute', async () => {
    const { store, req, clock } = setup({ expiresMs: 60_000 });
    const r = await req();
    clock.advance(59_000);
    await store.approve(r.id, approver);
    clock.advance(30_000);
    expect((await store.consume(r.id, requester, 'prod-db', SQL)).state).toBe('used');
  });

  it('a window closes into expired', async () => {
    const { store, req, clock, sink } = setup({ windowMs: 10 * 60_000 });
    const r = await req();
    await store.approve(r.id, approver);
    await store.consume(r.id, requester, 'prod-db', SQL);
    clock.advance(11 * 60_000);
    expect(await store.findUsable(requester, 'prod-db', SQL)).toBeUndefined();
    expect((await store.list()).find((x) => x.id === r.id)?.state).toBe('expired');
    expect(sink.events.at(-1)).toMatchObject({ type: 'approval.expire', detail: { was: 'approved', uses: 1 } });
  });
});
