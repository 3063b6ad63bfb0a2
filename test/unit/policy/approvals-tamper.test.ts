/**
 * Request files in `approvals/` handled outside pcigate by whoever can write that directory, each still carrying
 * a good seal: a file renamed to another id; and an approval key that others can read (whoever reads it can seal
 * a forged request).
 */
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApprovalStore } from '../../../src/policy/approvals.js';
import type { NewRequest } from '../../../src/policy/approvals.js';
import type { PolicyIdentity } from '../../../src/policy/evaluate.js';
import { tempDir } from '../../harness/cli.js';
import { memoryAudit } from '../../harness/memory-audit.js';
import { testCtx } from '../../harness/test-ctx.js';

const requester: PolicyIdentity = { sub: 'u-req', groups: [], via: 'oidc' };
const ann: PolicyIdentity = { sub: 'u-ann', groups: ['security'], via: 'oidc' };
const SQL = 'DELETE FROM orders';
const SETTINGS: NewRequest['settings'] = { groups: ['security'], subjects: [], minApprovals: 1, expiresMs: 60 * 60_000, windowMs: 0 };

describe('a request file renamed to another id', () => {
  it('is refused with the id it holds, so an approval cannot be copied into a second usable one', async () => {
    const home = tempDir('pcigate-approvals-tamper-');
    const store = new ApprovalStore({ fs: fsp, clock: testCtx().clock, home, sink: memoryAudit() });
    const r = await store.request({ connection: 'prod-db', requester, sql: SQL, settings: SETTINGS });
    await store.approve(r.id, ann);
    const other = r.id === 'A-aaaaaaaaaa' ? 'A-bbbbbbbbbb' : 'A-aaaaaaaaaa';
    await fsp.copyFile(path.join(home, 'approvals', `${r.id}.json`), path.join(home, 'approvals', `${other}.json`));

    await expect(store.get(other)).rejects.toMatchObject({ code: 'ERR_APPROVAL_CONFLICT', message: `approval request file ${other}.json holds request ${r.id}, not ${other}: it was renamed or copied outside pcigate; it cannot be decided or used` });
    await expect(store.consume(other, requester, 'prod-db', SQL)).rejects.toMatchObject({ code: 'ERR_APPROVAL_CONFLICT' });
    expect((await store.list()).map((x) => x.id)).toEqual([r.id]);
    expect((await store.consume(r.id, requester, 'prod-db', SQL)).state).toBe('used');
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
