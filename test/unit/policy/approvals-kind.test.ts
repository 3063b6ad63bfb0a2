/**
 * An approval binds the kind of request as well as its text. A session approval is the request `CONNECT <name>`
 * (requireSessionApproval), and the HMAC binds only that text: a held SSH command spelled `CONNECT <name>`,
 * filed and shown to the approver as a statement ("request A-… (statement)"), once approved and not used by its
 * own wait, opened a session on a connection whose sessions need an approval each, without anyone approving one.
 */
import { mkdtempSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { holdSshCommand } from '../../../src/broker/ssh-approval.js';
import { policySection } from '../../../src/config/sections/policy.js';
import { ApprovalStore } from '../../../src/policy/approvals.js';
import type { PolicyIdentity } from '../../../src/policy/evaluate.js';
import { requireSessionApproval } from '../../../src/policy/pg-policy-hooks.js';
import { PolicyEngine } from '../../../src/policy/policy-engine.js';
import { memoryAudit } from '../../harness/memory-audit.js';
import { fixedClock } from '../../harness/test-ctx.js';

const policy = policySection.parse({
  connections: { gated: { session: { require_approval: true }, approvals: { groups: ['security'], wait: '1s' } } },
});
const rita: PolicyIdentity = { sub: 'rita', groups: ['eng'], via: 'oidc' };
const ann: PolicyIdentity = { sub: 'ann', groups: ['security'], via: 'oidc' };
const settings = { groups: ['security'], subjects: [], minApprovals: 1, expiresMs: 600_000, windowMs: 0 };

const engine = new PolicyEngine(policy);
const tempHome = () => mkdtempSync(path.join(os.tmpdir(), 'pcigate-approval-kind-'));

describe('the kind of an approval', () => {
  it('an approved command spelled CONNECT <name> does not open a session: the session asks for its own approval', async () => {
    const audit = memoryAudit();
    const store = new ApprovalStore({ fs: fsp, clock: fixedClock(), home: tempHome(), sink: audit });
    // The command, held in a session approved earlier; its wait ended (the channel closed) before the approval came.
    const held = await holdSshCommand({
      approvals: { store, settings: engine.approvalSettings('gated') }, connection: 'gated', identity: rita, session: 's-1',
      command: 'CONNECT gated', rule: 'ssh.exec.hold', why: 'held by policy', signal: AbortSignal.abort(),
    });
    expect(held).toMatchObject({ action: 'deny', state: 'aborted' });
    const command = await store.get(held.approval);
    expect(command.kind).toBe('statement');
    await store.approve(command.id, ann);

    const stop = new AbortController();
    const session = requireSessionApproval({ engine, store, connection: 'gated', identity: rita, signal: stop.signal, notify: () => stop.abort() })
      .then(() => 'connected', (e: { code?: string }) => e.code);
    expect(await session).toBe('ERR_POLICY_DENIED');
    expect((await store.get(command.id))).toMatchObject({ state: 'approved', uses: 0 });
    const asked = (await store.list()).filter((r) => r.kind === 'session');
    expect(asked).toHaveLength(1);
    expect(audit.events.some((e) => e.type === 'approval.use')).toBe(false);
    // Nor can the statement request be spent as one directly.
    await expect(store.consume(command.id, rita, 'gated', 'CONNECT gated')).rejects.toMatchObject({ code: 'ERR_APPROVAL_CONFLICT', message: expect.stringMatching(/approved a statement, not a session/) });
  });

  it('a session approval still opens its session, and a statement approval still runs its statement', async () => {
    const store = new ApprovalStore({ fs: fsp, clock: fixedClock(), home: tempHome(), sink: memoryAudit() });
    const s = await store.request({ kind: 'session', connection: 'gated', requester: rita, sql: 'CONNECT gated', settings });
    await store.approve(s.id, ann);
    expect(await requireSessionApproval({ engine, store, connection: 'gated', identity: rita })).toBe(s.id);
    const d = await store.request({ connection: 'gated', requester: rita, sql: 'DELETE FROM orders', settings });
    await store.approve(d.id, ann);
    expect((await store.findUsable(rita, 'gated', 'DELETE FROM orders'))?.id).toBe(d.id);
    expect((await store.consume(d.id, rita, 'gated', 'DELETE FROM orders')).state).toBe('used');
  });
});
