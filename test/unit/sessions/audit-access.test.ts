/**
 * Recording access to the audit log (PCI DSS 10.2.1.3) while a broker owns it: the record goes to the audit
 * outbox, keeps when it happened, and the next command that owns the log moves it into the hash chain.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openAuditLog } from '../../../recorder/index.js';
import type { AuditRecord } from '../../../recorder/types.js';
import { openAuditLogWaiting, recordAccessEvent, recordAuditAccess } from '../../../src/sessions/audit-access.js';
import { outboxDir } from '../../../src/policy/audit-outbox.js';
import { tempDir } from '../../harness/cli.js';
import { testCtx } from '../../harness/test-ctx.js';

function records(home: string): AuditRecord[] {
  const dir = path.join(home, 'log');
  return readdirSync(dir).filter((n) => n.endsWith('.jsonl')).sort()
    .flatMap((n) => readFileSync(path.join(dir, n), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRecord));
}

const LOCAL = { sub: 'tester', via: 'local' } as const;

describe('recordAccessEvent', () => {
  it('appends to the log when it is free', async () => {
    const home = tempDir();
    const ctx = testCtx();
    await (await openAuditLog(ctx, { home, createIfMissing: true })).close();
    const r = await recordAuditAccess(ctx, { home }, LOCAL, { command: 'sessions' });
    expect(r.via).toBe('log');
    const rec = records(home).find((x) => x.type === 'audit.access');
    expect(rec?.seq).toBe(r.seq);
    expect(rec?.detail).toEqual({ command: 'sessions' });
  });

  it('parks the record in the outbox while a broker holds the log, and the next owner chains it first', async () => {
    const home = tempDir();
    const ctx = testCtx();
    const broker = await openAuditLog(ctx, { home, createIfMissing: true });
    let parked;
    try {
      ctx.clock.advance(5_000);
      parked = await recordAccessEvent(ctx, { home }, { type: 'evidence.export', target: { kind: 'log' }, outcome: 'success', detail: { bundle_id: 'b1' } });
    } finally {
      await broker.close();
    }
    expect(parked).toEqual({ seq: null, via: 'outbox' });
    expect(readdirSync(outboxDir(home)).filter((n) => n.endsWith('.json'))).toHaveLength(1);
    expect(records(home).some((x) => x.type === 'evidence.export')).toBe(false);

    ctx.clock.advance(60_000);
    const next = await recordAuditAccess(ctx, { home }, LOCAL, { command: 'replay' });
    const all = records(home);
    const exp = all.find((x) => x.type === 'evidence.export');
    const acc = all.find((x) => x.type === 'audit.access');
    expect(exp).toBeDefined();
    expect(exp!.seq).toBeLessThan(acc!.seq);
    expect(acc!.seq).toBe(next.seq);
    // When it happened survives the detour: the outbox write time, a minute before it reached the log.
    expect(exp!.detail).toMatchObject({ bundle_id: 'b1', via_outbox: true });
    expect(typeof exp!.detail!.occurred).toBe('string');
    expect((exp!.detail!.occurred as string) < exp!.ts).toBe(true);
    expect(readdirSync(outboxDir(home)).filter((n) => n.endsWith('.json'))).toHaveLength(0);
  });
});

describe('openAuditLogWaiting (a job or listener starting while a short command holds the log)', () => {
  it('waits for the holder to let go, then owns the log', async () => {
    const home = tempDir();
    const ctx = testCtx();
    const shortCommand = await openAuditLog(ctx, { home, createIfMissing: true });
    // Without waiting, the job would fail at once.
    await expect(openAuditLog(ctx, { home })).rejects.toThrow(/in use by process/);
    const job = openAuditLogWaiting(ctx, { home });
    // The close below is what lets the job retry: an error of that retry must not wait for a handler.
    job.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 250));
    await shortCommand.close();
    const log = await job;
    const { seq } = await log.append({ type: 'verify.run', target: { kind: 'log' }, outcome: 'success', detail: {} });
    await log.close();
    expect(records(home).find((r) => r.seq === seq)?.type).toBe('verify.run');
  });

  it('gives up with the in-use error once the wait is over (a broker that stays)', async () => {
    const home = tempDir();
    const ctx = testCtx();
    const broker = await openAuditLog(ctx, { home, createIfMissing: true });
    try {
      const job = openAuditLogWaiting(ctx, { home }, 5_000);
      const outcome = job.then(() => 'opened', (e: Error) => e.message);
      await new Promise((r) => setTimeout(r, 150));
      ctx.clock.advance(5_001);
      expect(await outcome).toMatch(/in use by process \d+/);
    } finally {
      await broker.close();
    }
  });
});
