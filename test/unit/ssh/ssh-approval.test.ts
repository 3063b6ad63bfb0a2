/**
 * holdSshCommand with a real approvals store in a temporary data home: the request binds the exact
 * command, a granted window lets that command (and only that one) run again without asking, and a wait
 * ended by the session reports `aborted` rather than a timeout.
 */
import * as fsp from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { holdSshCommand } from '../../../src/broker/ssh-approval.js';
import type { SshApprovals } from '../../../src/broker/ssh-approval.js';
import { systemClock } from '../../../src/cli/ctx.js';
import { ApprovalStore } from '../../../src/policy/approvals.js';
import type { PolicyIdentity } from '../../../src/policy/evaluate.js';
import { tempDir } from '../../harness/cli.js';
import { memoryAudit } from '../../harness/memory-audit.js';

const ci: PolicyIdentity = { sub: 'repo:org/app', groups: [], via: 'workload', mfa: false };
const ann: PolicyIdentity = { sub: 'u-ann', groups: ['security'], via: 'oidc', mfa: true };

function setup(windowMs: number) {
  const audit = memoryAudit();
  const store = new ApprovalStore({ fs: fsp, clock: systemClock(), home: tempDir('pcigate-ssh-approval-'), sink: audit });
  const approvals: SshApprovals = { store, settings: { groups: ['security'], subjects: [], minApprovals: 1, expiresMs: 60_000, windowMs, waitMs: 10_000 } };
  const notices: string[] = [];
  const hold = (command: string, signal?: AbortSignal) => holdSshCommand({
    approvals, connection: 'prod-ssh', identity: ci, session: 's-1', command, rule: 'ssh.exec.hold[0]', why: "command matches hold pattern 'systemctl *'",
    notice: (l) => notices.push(l), ...(signal ? { signal } : {}),
  });
  /** Approves the next request as soon as it is filed. */
  const approveNext = async () => {
    for (;;) {
      const pending = (await store.list()).find((r) => r.state === 'pending');
      if (pending) return store.approve(pending.id, ann);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { store, audit, notices, hold, approveNext };
}

describe('holdSshCommand', () => {
  it('binds the exact command; a window lets that command run again without a new request', async () => {
    const { store, notices, hold, approveNext } = setup(60_000);
    const [first, approved] = await Promise.all([hold('systemctl restart app'), approveNext()]);
    expect(first).toEqual({ action: 'allow', approval: approved.id });
    expect(approved.hmac).toBe(await store.binding('systemctl restart app'));
    expect(notices[0]).toContain(`waiting for approval ${approved.id}`);
    expect(notices[0]).toContain(`pcigate approve ${approved.id}`);
    // Same command within the window: no new request, the same approval used again.
    expect(await hold('systemctl restart app')).toEqual({ action: 'allow', approval: approved.id });
    expect((await store.list()).length).toBe(1);
    expect((await store.get(approved.id)).uses).toBe(2);
    // Another command is not covered: a new request, which waits.
    const stop = new AbortController();
    const other = hold('systemctl stop app', stop.signal);
    await new Promise((r) => setTimeout(r, 300));
    expect((await store.list()).length).toBe(2);
    stop.abort();
    expect(await other).toMatchObject({ action: 'deny', state: 'aborted' });
  });

  it('without a window an approval is used once', async () => {
    const { store, hold, approveNext } = setup(0);
    const [first] = await Promise.all([hold('systemctl restart app'), approveNext()]);
    expect(first.action).toBe('allow');
    const stop = new AbortController();
    const again = hold('systemctl restart app', stop.signal);
    await new Promise((r) => setTimeout(r, 300));
    expect((await store.list()).filter((r) => r.state === 'pending')).toHaveLength(1);
    stop.abort();
    expect(await again).toMatchObject({ action: 'deny', state: 'aborted' });
  });
});
