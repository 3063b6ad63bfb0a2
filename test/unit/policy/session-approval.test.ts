import { mkdtempSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { policySection } from '../../../src/config/sections/policy.js';
import { ApprovalStore } from '../../../src/policy/approvals.js';
import { requireSessionApproval } from '../../../src/policy/pg-policy-hooks.js';
import { PolicyEngine } from '../../../src/policy/policy-engine.js';
import { memoryAudit } from '../../harness/memory-audit.js';
import { fixedClock } from '../../harness/test-ctx.js';

const policy = policySection.parse({
  connections: {
    gated: { session: { require_approval: true }, approvals: { groups: ['security'], wait: '5s' } },
    open: {},
  },
});
const rita = { sub: 'rita', groups: ['eng'], via: 'oidc' };
const ann = { sub: 'ann', groups: ['security'], via: 'oidc' };

function setup() {
  const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-sess-'));
  const audit = memoryAudit();
  const store = new ApprovalStore({ fs: fsp, clock: fixedClock(), home, sink: audit });
  return { store, audit, engine: new PolicyEngine(policy) };
}

describe('requireSessionApproval', () => {
  it('does nothing where the policy does not ask for it', async () => {
    const { store, engine, audit } = setup();
    await requireSessionApproval({ engine, store, connection: 'open', identity: rita });
    expect(audit.events).toEqual([]);
  });

  it('waits for an approval by someone else, then uses it', async () => {
    const { store, engine, audit } = setup();
    const lines: string[] = [];
    const waiting = requireSessionApproval({ engine, store, connection: 'gated', identity: rita, reason: 'INC-1', notify: (l) => lines.push(l) });
    let id = '';
    while (!id) { id = (await store.list())[0]?.id ?? ''; await new Promise((r) => setTimeout(r, 10)); }
    await store.approve(id, ann);
    await waiting;
    expect(lines[0]).toContain(`pcigate approve ${id}`);
    expect((await store.get(id))).toMatchObject({ kind: 'session', state: 'used', sql: 'CONNECT gated', reason: 'INC-1' });
    expect(audit.events.map((e) => e.type)).toEqual(['approval.request', 'approval.approve', 'approval.use']);
  });

  it('a denial refuses the session with exit 5', async () => {
    const { store, engine } = setup();
    const waiting = requireSessionApproval({ engine, store, connection: 'gated', identity: rita }).then(() => undefined, (e: unknown) => e);
    let id = '';
    while (!id) { id = (await store.list())[0]?.id ?? ''; await new Promise((r) => setTimeout(r, 10)); }
    await store.deny(id, ann, 'not today');
    expect(await waiting).toMatchObject({ code: 'ERR_POLICY_DENIED', exit: 5, message: expect.stringContaining('not today') });
  });
});
