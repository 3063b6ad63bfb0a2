/**
 * `approval.tamper` records, as the approvals store writes them, carry every PCI DSS 10.2.2 element their type
 * must (field-map.ts ABSENT): the 10.2.2 check would otherwise count each as a record lacking its origin.
 */
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../../recorder/types.js';
import { missingElements } from '../../../src/evidence/field-map.js';
import { ApprovalStore } from '../../../src/policy/approvals.js';
import { tempDir } from '../../harness/cli.js';
import { memoryAudit } from '../../harness/memory-audit.js';
import { testCtx } from '../../harness/test-ctx.js';

describe('10.2.2 field map: approval.tamper', () => {
  it('a renamed request file: no element missing that the type must carry', async () => {
    const home = tempDir('pcigate-field-map-tamper-');
    const sink = memoryAudit();
    const store = new ApprovalStore({ fs: fsp, clock: testCtx().clock, home, sink });
    const r = await store.request({
      connection: 'prod-db', requester: { sub: 'u-req', groups: [], via: 'oidc' }, sql: 'DELETE FROM orders',
      settings: { groups: ['security'], subjects: [], minApprovals: 1, expiresMs: 60_000, windowMs: 0 },
    });
    const other = r.id === 'A-aaaaaaaaaa' ? 'A-bbbbbbbbbb' : 'A-aaaaaaaaaa';
    await fsp.copyFile(path.join(home, 'approvals', `${r.id}.json`), path.join(home, 'approvals', `${other}.json`));
    await expect(store.get(other)).rejects.toMatchObject({ code: 'ERR_APPROVAL_CONFLICT' });
    const event = sink.events.find((e) => e.type === 'approval.tamper');
    expect(event).toBeDefined();
    const record: AuditRecord = { v: 1, origin: 'o', seq: 1, ts: '2026-11-22T12:00:00.000000Z', prev: '', ...event! };
    expect(missingElements(record)).toEqual([]);
  });
});
