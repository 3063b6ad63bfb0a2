/**
 * Request files in `approvals/` handled outside pcigate by whoever can write that directory, each still carrying
 * a good seal: an old copy put back (forward-only transitions, checked against the audit log), a file renamed
 * to another id, and an approval key that others can read (whoever reads it can seal a forged request). A file
 * refused as put back or renamed is recorded as `approval.tamper`, once per file content in a process.
 */
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openAuditLog } from '../../../recorder/index.js';
import type { AuditRecord } from '../../../recorder/types.js';
import { ApprovalStore } from '../../../src/policy/approvals.js';
import type { NewRequest } from '../../../src/policy/approvals.js';
import type { PolicyIdentity } from '../../../src/policy/evaluate.js';
import { tempDir } from '../../harness/cli.js';
import { memoryAudit } from '../../harness/memory-audit.js';
import { testCtx } from '../../harness/test-ctx.js';

const requester: PolicyIdentity = { sub: 'u-req', groups: [], via: 'oidc' };
const ann: PolicyIdentity = { sub: 'u-ann', groups: ['security'], via: 'oidc' };
const bob: PolicyIdentity = { sub: 'u-bob', groups: ['security'], via: 'oidc' };
const SQL = 'DELETE FROM orders';
const SETTINGS: NewRequest['settings'] = { groups: ['security'], subjects: [], minApprovals: 1, expiresMs: 60 * 60_000, windowMs: 0 };

/** A store whose sink is the home's real audit log, as the broker's is. */
async function brokerStore() {
  const home = tempDir('pcigate-approvals-tamper-');
  const ctx = testCtx();
  const log = await openAuditLog(ctx, { home, createIfMissing: true });
  const store = new ApprovalStore({ fs: fsp, clock: ctx.clock, home, sink: log, drainOutbox: true });
  const file = (id: string) => path.join(home, 'approvals', `${id}.json`);
  const records = async (): Promise<AuditRecord[]> => {
    const dir = path.join(home, 'log');
    // (the segments: log/.lock is the owner's pid and host, no record)
    const text = (await Promise.all((await fsp.readdir(dir)).filter((n) => n.endsWith('.jsonl')).sort().map((n) => fsp.readFile(path.join(dir, n), 'utf8')))).join('');
    return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRecord);
  };
  return { home, store, log, file, records };
}

describe('an old copy of a request file put back', () => {
  it('does not re-arm a one-run approval that was used: the audit log holds its approval.use, and approval.tamper once', async () => {
    const { home, store, log, file, records } = await brokerStore();
    try {
      const r = await store.request({ connection: 'prod-db', requester, sql: SQL, settings: SETTINGS });
      await store.approve(r.id, ann);
      const approvedCopy = await fsp.readFile(file(r.id));
      expect((await store.consume(r.id, requester, 'prod-db', SQL)).state).toBe('used');

      await fsp.writeFile(file(r.id), approvedCopy);
      // Its seal is good (pcigate wrote it), and it says approved with no use…
      expect((await store.get(r.id)).state).toBe('approved');
      // …but the log is further along: it is not offered, and it cannot be used.
      expect(await store.findUsable(requester, 'prod-db', SQL)).toBeUndefined();
      await expect(store.consume(r.id, requester, 'prod-db', SQL)).rejects.toMatchObject({ code: 'ERR_APPROVAL_CONFLICT', message: expect.stringMatching(/used in the audit log \(approval\.use, seq \d+\)/) });
      const all = await records();
      expect(all.filter((x) => x.type === 'approval.use')).toHaveLength(1);
      // The finding is in the log, once, however often the file is met (findUsable, consume, another store).
      const use = all.find((x) => x.type === 'approval.use')!;
      const tamper = all.filter((x) => x.type === 'approval.tamper');
      expect(tamper).toHaveLength(1);
      expect(tamper[0]).toMatchObject({
        outcome: 'failure', actor: { sub: 'pcigate', via: 'system' }, target: { conn: 'prod-db' },
        detail: { id: r.id, finding: 'behind_log', file: `approvals/${r.id}.json`, file_state: 'approved', logged_state: 'used', logged_type: 'approval.use', logged_seq: use.seq },
      });
      expect(tamper[0]!.detail).not.toHaveProperty('state');
      const again = new ApprovalStore({ fs: fsp, clock: testCtx().clock, home, sink: log, drainOutbox: true });
      expect(await again.findUsable(requester, 'prod-db', SQL)).toBeUndefined();
      await expect(store.consume(r.id, requester, 'prod-db', SQL)).rejects.toMatchObject({ code: 'ERR_APPROVAL_CONFLICT' });
      expect((await records()).filter((x) => x.type === 'approval.tamper')).toHaveLength(1);
    } finally {
      await log.close();
    }
  });

  it('does not undo a denial: the pending copy cannot be approved', async () => {
    const { store, log, file, records } = await brokerStore();
    try {
      const r = await store.request({ connection: 'prod-db', requester, sql: SQL, settings: SETTINGS });
      const pendingCopy = await fsp.readFile(file(r.id));
      await store.deny(r.id, ann, 'not in the freeze');

      await fsp.writeFile(file(r.id), pendingCopy);
      await expect(store.approve(r.id, bob)).rejects.toMatchObject({ code: 'ERR_APPROVAL_CONFLICT', message: expect.stringMatching(/denied in the audit log/) });
      await expect(store.approve(r.id, bob)).rejects.toMatchObject({ code: 'ERR_APPROVAL_CONFLICT' });
      const all = await records();
      expect(all.some((x) => x.type === 'approval.approve')).toBe(false);
      expect(all.filter((x) => x.type === 'approval.tamper').map((x) => x.detail)).toEqual([
        { id: r.id, finding: 'behind_log', file: `approvals/${r.id}.json`, file_state: 'pending', logged_state: 'denied', logged_type: 'approval.deny', logged_seq: all.find((x) => x.type === 'approval.deny')!.seq },
      ]);
    } finally {
      await log.close();
    }
  });
});

describe('a request file renamed to another id', () => {
  it('is refused with the id it holds, so an approval cannot be copied into a second usable one; approval.tamper once per content', async () => {
    const home = tempDir('pcigate-approvals-tamper-');
    const sink = memoryAudit();
    const store = new ApprovalStore({ fs: fsp, clock: testCtx().clock, home, sink });
    const r = await store.request({ connection: 'prod-db', requester, sql: SQL, settings: SETTINGS });
    await store.approve(r.id, ann);
    const other = r.id === 'A-aaaaaaaaaa' ? 'A-bbbbbbbbbb' : 'A-aaaaaaaaaa';
    await fsp.copyFile(path.join(home, 'approvals', `${r.id}.json`), path.join(home, 'approvals', `${other}.json`));

    await expect(store.get(other)).rejects.toMatchObject({ code: 'ERR_APPROVAL_CONFLICT', message: `approval request file ${other}.json holds request ${r.id}, not ${other}: it was renamed or copied outside pcigate; it cannot be decided or used` });
    await expect(store.consume(other, requester, 'prod-db', SQL)).rejects.toMatchObject({ code: 'ERR_APPROVAL_CONFLICT' });
    expect((await store.list()).map((x) => x.id)).toEqual([r.id]);
    expect((await store.consume(r.id, requester, 'prod-db', SQL)).state).toBe('used');
    // Recorded once (get, consume and list all met it), naming the file and the id it holds, nothing of its content.
    const tamper = sink.events.filter((e) => e.type === 'approval.tamper');
    expect(tamper).toEqual([{ type: 'approval.tamper', actor: { sub: 'pcigate', via: 'system' }, outcome: 'failure', detail: { id: other, finding: 'name_mismatch', file: `approvals/${other}.json`, holds: r.id } }]);
    // Changed again (another content): another finding, recorded once more; the id it holds is not one.
    await fsp.writeFile(path.join(home, 'approvals', `${other}.json`), JSON.stringify({ id: '4111 1111 1111 1111', state: 'approved' }));
    await expect(store.get(other)).rejects.toMatchObject({ code: 'ERR_APPROVAL_CONFLICT' });
    await expect(store.get(other)).rejects.toMatchObject({ code: 'ERR_APPROVAL_CONFLICT' });
    expect(sink.events.filter((e) => e.type === 'approval.tamper').map((e) => e.detail)).toEqual([
      { id: other, finding: 'name_mismatch', file: `approvals/${other}.json`, holds: r.id },
      { id: other, finding: 'name_mismatch', file: `approvals/${other}.json` },
    ]);
  });
});

describe('a request file changed outside pcigate', () => {
  it('is refused as its seal no longer matches, and recorded as approval.tamper once per content, with nothing of the content', async () => {
    const home = tempDir('pcigate-approvals-tamper-');
    const sink = memoryAudit();
    const store = new ApprovalStore({ fs: fsp, clock: testCtx().clock, home, sink });
    const r = await store.request({ connection: 'prod-db', requester, sql: SQL, settings: SETTINGS });
    const file = path.join(home, 'approvals', `${r.id}.json`);
    const edit = async (change: (x: Record<string, unknown>) => void) => {
      const x = JSON.parse(await fsp.readFile(file, 'utf8')) as Record<string, unknown>;
      change(x);
      await fsp.writeFile(file, JSON.stringify(x));
    };
    // Set to approved by hand, with a PAN put where a reason would be.
    await edit((x) => { x.state = 'approved'; x.reason = '4111 1111 1111 1111'; });
    await expect(store.get(r.id)).rejects.toMatchObject({ code: 'ERR_APPROVAL_CONFLICT', message: expect.stringMatching(/was changed outside pcigate \(its seal does not match/) });
    await expect(store.consume(r.id, requester, 'prod-db', SQL)).rejects.toMatchObject({ code: 'ERR_APPROVAL_CONFLICT' });
    expect(await store.findUsable(requester, 'prod-db', SQL)).toBeUndefined();
    const tamper = () => sink.events.filter((e) => e.type === 'approval.tamper');
    expect(tamper()).toEqual([{ type: 'approval.tamper', actor: { sub: 'pcigate', via: 'system' }, outcome: 'failure', detail: { id: r.id, finding: 'seal_mismatch', file: `approvals/${r.id}.json` } }]);
    expect(JSON.stringify(sink.events)).not.toContain('4111');
    // Changed again: a new finding.
    await edit((x) => { x.state = 'pending'; });
    await expect(store.get(r.id)).rejects.toMatchObject({ code: 'ERR_APPROVAL_CONFLICT' });
    expect(tamper()).toHaveLength(2);
  });
});

describe('the approval key', () => {
  it('is refused when group or others may read or write it', async () => {
    const home = tempDir('pcigate-approvals-tamper-');
    const open = () => new ApprovalStore({ fs: fsp, clock: testCtx().clock, home, sink: memoryAudit() });
    const r = await open().request({ connection: 'prod-db', requester, sql: SQL, settings: SETTINGS });
    const key = path.join(home, 'approvals', '.key');
    expect((await fsp.stat(key)).mode & 0o777).toBe(0o600);
    for (const mode of [0o640, 0o604, 0o620]) {
      await fsp.chmod(key, mode);
      await expect(open().get(r.id)).rejects.toMatchObject({ code: 'ERR_POLICY', message: expect.stringContaining(`readable or writable by group or others (mode 0${mode.toString(8)})`) });
      await expect(open().request({ connection: 'prod-db', requester, sql: SQL, settings: SETTINGS })).rejects.toMatchObject({ code: 'ERR_POLICY' });
    }
    await fsp.chmod(key, 0o600);
    expect((await open().get(r.id)).state).toBe('pending');
  });
});
