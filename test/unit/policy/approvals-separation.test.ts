/**
 * Separation of duties across aliases (PCI DSS 7.2.3): a person's request cannot be approved or denied from
 * the OS account that filed it, whichever login that account holds (a second IdP account, an approver's
 * token left there); a CI job's request (its OS account is its runner's) can, by a person logged in there, but
 * not by that OS account itself as a local identity (the job would approve its own statement). Every refused attempt —
 * self-approval, an outsider, a workload — is recorded as `approval.refuse` (outcome denied), with the
 * approver's identity and OS account, and changes nothing.
 */
import { mkdtempSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApprovalStore } from '../../../src/policy/approvals.js';
import type { OsAccount } from '../../../src/policy/approvals.js';
import type { PolicyIdentity } from '../../../src/policy/evaluate.js';
import { fixedClock } from '../../harness/test-ctx.js';
import { memoryAudit } from '../../harness/memory-audit.js';

const alice: PolicyIdentity = { sub: 'u-alice', email: 'alice@example.com', groups: ['dev'], via: 'oidc' };
/** Alice's second, administrative IdP account: another subject and e-mail, in the approver group. */
const aliceAdmin: PolicyIdentity = { sub: 'u-alice-adm', email: 'adm-alice@example.com', groups: ['security'], via: 'oidc' };
const bob: PolicyIdentity = { sub: 'u-bob', email: 'bob@example.com', groups: ['security'], via: 'oidc' };
const ci: PolicyIdentity = { sub: 'repo:org/app:ref:refs/heads/main', groups: [], via: 'workload' };
const ALICE_OS: OsAccount = { name: 'alice', uid: 1001 };
const BOB_OS: OsAccount = { name: 'bob', uid: 1002 };

function setup() {
  const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-approvals-sod-'));
  const clock = fixedClock();
  const sink = memoryAudit();
  const storeAs = (account: OsAccount) => new ApprovalStore({ fs: fsp, clock, home, sink, account });
  const file = (requester: PolicyIdentity, account: OsAccount) => storeAs(account).request({
    connection: 'prod-db', requester, sql: 'DELETE FROM orders',
    settings: { groups: ['security'], subjects: [], minApprovals: 1, expiresMs: 60_000, windowMs: 0 },
  });
  return { sink, storeAs, file };
}

describe('separation of duties', () => {
  it("a person's request is not approved from their own OS account under another alias, and the attempt is recorded", async () => {
    const { sink, storeAs, file } = setup();
    const r = await file(alice, ALICE_OS);
    expect(r.requester_os).toEqual(ALICE_OS);
    const fromAlicesAccount = storeAs(ALICE_OS);
    await expect(fromAlicesAccount.approve(r.id, aliceAdmin, 'lgtm')).rejects.toMatchObject({ code: 'ERR_APPROVAL_FORBIDDEN', message: expect.stringMatching(/same account/) });
    await expect(fromAlicesAccount.deny(r.id, aliceAdmin, 'no')).rejects.toMatchObject({ code: 'ERR_APPROVAL_FORBIDDEN' });
    expect((await fromAlicesAccount.get(r.id)).state).toBe('pending');
    const refused = sink.events.filter((e) => e.type === 'approval.refuse');
    expect(refused).toHaveLength(2);
    expect(refused[0]).toMatchObject({
      outcome: 'denied', actor: { sub: 'u-alice-adm', email: 'adm-alice@example.com', via: 'oidc' }, account: { kind: 'os', name: 'alice' },
      src: { client: 'pcigate approve' }, target: { conn: 'prod-db' }, detail: { id: r.id, verb: 'approve', refusal: expect.stringMatching(/separation of duties/) },
    });
    expect(refused[1]).toMatchObject({ detail: { verb: 'deny' } });
    // Bob, from his own account, may.
    const ok = await storeAs(BOB_OS).approve(r.id, bob);
    expect(ok.state).toBe('approved');
    expect(sink.events.at(-1)).toMatchObject({ type: 'approval.approve', account: { kind: 'os', name: 'bob' } });
  });

  it('min_approvals 2: two logins from one OS account count once, and the second is recorded as refused', async () => {
    const { sink, storeAs } = setup();
    const r = await storeAs(ALICE_OS).request({
      connection: 'prod-db', requester: alice, sql: 'DROP TABLE orders',
      settings: { groups: ['security'], subjects: [], minApprovals: 2, expiresMs: 60_000, windowMs: 0 },
    });
    const bobs = storeAs(BOB_OS);
    expect((await bobs.approve(r.id, bob)).state).toBe('pending');
    const bobAdmin: PolicyIdentity = { sub: 'u-bob-adm', email: 'adm-bob@example.com', groups: ['security'], via: 'oidc' };
    await expect(bobs.approve(r.id, bobAdmin)).rejects.toMatchObject({ code: 'ERR_APPROVAL_FORBIDDEN', message: expect.stringMatching(/already approved from this OS account/) });
    expect(sink.events.at(-1)).toMatchObject({ type: 'approval.refuse', actor: { sub: 'u-bob-adm' }, account: { name: 'bob' } });
    const carol: PolicyIdentity = { sub: 'u-carol', groups: ['security'], via: 'oidc' };
    expect((await storeAs({ name: 'carol', uid: 1003 }).approve(r.id, carol)).state).toBe('approved');
  });

  it("a CI job's request may be approved from the runner's OS account by a person", async () => {
    const { storeAs, file } = setup();
    const r = await file(ci, ALICE_OS);
    expect((await storeAs(ALICE_OS).approve(r.id, bob)).state).toBe('approved');
  });

  it("a CI job's request is not decided by its runner's OS account as a local identity, and the attempt is recorded", async () => {
    const { sink, storeAs, file } = setup();
    const r = await file(ci, ALICE_OS);
    const runnerLocal: PolicyIdentity = { sub: 'alice', groups: [], via: 'local' };
    const runners = storeAs(ALICE_OS);
    await expect(runners.approve(r.id, runnerLocal)).rejects.toMatchObject({ code: 'ERR_APPROVAL_FORBIDDEN', message: expect.stringMatching(/job would decide its own request/) });
    await expect(runners.deny(r.id, runnerLocal, 'no')).rejects.toMatchObject({ code: 'ERR_APPROVAL_FORBIDDEN' });
    expect(sink.events.filter((e) => e.type === 'approval.refuse').map((e) => [e.actor?.sub, e.actor?.via, e.account?.name, (e.detail as { verb: string }).verb]))
      .toEqual([['alice', 'local', 'alice', 'approve'], ['alice', 'local', 'alice', 'deny']]);
    expect((await runners.get(r.id)).state).toBe('pending');
    // Another OS account's local identity is another person.
    expect((await storeAs(BOB_OS).approve(r.id, { sub: 'bob', groups: ['security'], via: 'local' })).state).toBe('approved');
  });

  it("a CI job's request whose OS account is not known is not decided by a local identity (fail closed)", async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-approvals-sod-'));
    const anonymous = new ApprovalStore({ fs: fsp, clock: fixedClock(), home, sink: memoryAudit() });
    const r = await anonymous.request({
      connection: 'prod-db', requester: ci, sql: 'DELETE FROM orders',
      settings: { groups: ['security'], subjects: [], minApprovals: 1, expiresMs: 60_000, windowMs: 0 },
    });
    expect(r.requester_os).toBeUndefined();
    const bobs = new ApprovalStore({ fs: fsp, clock: fixedClock(), home, sink: memoryAudit(), account: BOB_OS });
    await expect(bobs.approve(r.id, { sub: 'bob', groups: ['security'], via: 'local' })).rejects.toThrow(/cannot tell apart/);
    expect((await bobs.approve(r.id, bob)).state).toBe('approved');
  });

  it('the requester, an outsider and a workload are refused, each attempt recorded', async () => {
    const { sink, storeAs, file } = setup();
    const r = await file(alice, ALICE_OS);
    const store = storeAs(BOB_OS);
    await expect(store.approve(r.id, { ...alice, groups: ['security'] })).rejects.toMatchObject({ code: 'ERR_APPROVAL_FORBIDDEN' });
    await expect(store.approve(r.id, { sub: 'u-eve', groups: ['dev'], via: 'oidc' })).rejects.toThrow(/not an approver/);
    await expect(store.approve(r.id, { ...bob, via: 'workload' })).rejects.toThrow(/workload/);
    expect(sink.events.filter((e) => e.type === 'approval.refuse').map((e) => e.actor?.sub)).toEqual(['u-alice', 'u-eve', 'u-bob']);
    expect(sink.events.some((e) => e.type === 'approval.approve')).toBe(false);
    expect((await store.get(r.id)).approvals).toEqual([]);
  });
});
