/**
 * The session index folded from a real audit log (openAuditLog): rows per kind, counts, filters, and the
 * index kept in step with the log (fresh, updated when the log grew, rebuilt when it changed otherwise).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openAuditLog } from '../../../recorder/index.js';
import type { AuditEvent } from '../../../recorder/types.js';
import { filterSessions, parseFilters } from '../../../src/sessions/session-filter.js';
import { indexPath, loadSessionIndex } from '../../../src/sessions/session-index.js';
import { tempDir } from '../../harness/cli.js';
import { testCtx } from '../../harness/test-ctx.js';

const alice = { sub: 'alice', email: 'alice@example.com', via: 'oidc' as const };
const bob = { sub: 'bob', via: 'workload' as const };

async function writeLog(home: string, ctx: ReturnType<typeof testCtx>, events: Array<AuditEvent | number>): Promise<void> {
  const log = await openAuditLog(ctx, { home, createIfMissing: true, idleMs: 60_000 });
  try {
    for (const e of events) {
      if (typeof e === 'number') ctx.clock.advance(e);
      else await log.append(e);
    }
  } finally {
    await log.close();
  }
}

const pgTarget = { conn: 'prod-db', kind: 'postgres' as const, host: 'db:5432', db: 'shop', user: 'app' };
const sshTarget = { conn: 'prod-ssh', kind: 'ssh' as const, host: 'web:22', user: 'deploy' };

function sample(): Array<AuditEvent | number> {
  return [
    { type: 'session.start', session: 'p1', actor: alice, target: pgTarget, outcome: 'success' },
    { type: 'pg.intent', session: 'p1', actor: alice, target: pgTarget, outcome: 'pending', detail: { n: 1, sql: 'select 1' } },
    { type: 'pg.query', session: 'p1', actor: alice, target: pgTarget, outcome: 'success', detail: { n: 1 } },
    { type: 'pg.query', session: 'p1', actor: alice, target: pgTarget, outcome: 'denied', detail: { n: 2, sql: 'drop table x' } },
    { type: 'approval.approve', session: 'p1', actor: bob, target: { conn: 'prod-db' }, outcome: 'success', detail: { id: 'A-1' } },
    2_000,
    { type: 'session.end', session: 'p1', actor: alice, target: pgTarget, outcome: 'success', detail: { duration_ms: 2000, statements: 1, denied: 1 },
      blobs: [{ sha256: 'a'.repeat(64), kind: 'pg-transcript', bytes: 10, path: 'recordings/p1.pg.jsonl' }] },
    3_600_000,
    { type: 'session.start', session: 's1', actor: bob, target: sshTarget, outcome: 'success', detail: { kind: 'ssh' } },
    { type: 'ssh.exec', session: 's1', actor: bob, target: sshTarget, outcome: 'success', detail: { request: { kind: 'exec', command: 'uptime' } } },
    { type: 'ssh.exec', session: 's1', actor: bob, target: sshTarget, outcome: 'denied', detail: { request: { kind: 'exec', command: 'rm -rf /' } } },
    { type: 'session.end', session: 's1', actor: bob, target: sshTarget, outcome: 'failure', detail: { kind: 'ssh', duration_ms: 500, masked: { pan: 2, sad: 1 } } },
    { type: 'exec.start', session: 'e1', actor: bob, target: { conn: 'prod-db', kind: 'postgres' }, outcome: 'success', detail: { argv: './migrate.sh' } },
    { type: 'verify.run', actor: bob, target: { kind: 'log' }, outcome: 'success' },
  ];
}

describe('session index', () => {
  it('folds sessions of every kind with their counts', async () => {
    const home = tempDir();
    const ctx = testCtx();
    await writeLog(home, ctx, sample());
    const idx = await loadSessionIndex(ctx.fs, home);
    expect(idx.how).toBe('rebuilt');
    expect(idx.sessions.map((s) => [s.id, s.kind, s.outcome])).toEqual([['p1', 'postgres', 'success'], ['s1', 'ssh', 'failure'], ['e1', 'exec', 'open']]);
    const [p1, s1, e1] = idx.sessions;
    expect(p1).toMatchObject({ who: 'alice', email: 'alice@example.com', conn: 'prod-db', db: 'shop', statements: 1, denials: 1, approvals: 1, duration_ms: 2000 });
    expect(p1!.blobs).toEqual([expect.objectContaining({ kind: 'pg-transcript', path: 'recordings/p1.pg.jsonl', seq: p1!.end_seq, partial: false })]);
    expect(s1).toMatchObject({ who: 'bob', commands: 1, denials: 1, masked: 3, duration_ms: 500 });
    expect(e1).toMatchObject({ command: './migrate.sh', outcome: 'open' });
    expect(e1!.end).toBeUndefined();
  });

  it('filters by user, connection, kind and time window', async () => {
    const home = tempDir();
    const ctx = testCtx();
    await writeLog(home, ctx, sample());
    const { sessions } = await loadSessionIndex(ctx.fs, home);
    const now = ctx.clock.now();
    const ids = (o: Record<string, unknown>) => filterSessions(sessions, parseFilters(o, now)).map((s) => s.id);
    expect(ids({ user: 'alice@example.com' })).toEqual(['p1']);
    expect(ids({ user: 'alice' })).toEqual(['p1']);
    expect(ids({ user: 'bob' })).toEqual(['s1', 'e1']);
    expect(ids({ conn: 'prod-db' })).toEqual(['p1', 'e1']);
    expect(ids({ kind: 'ssh' })).toEqual(['s1']);
    expect(ids({ kind: 'exec', conn: 'prod-db' })).toEqual(['e1']);
    // p1 ended an hour before the others started.
    expect(ids({ since: '30m' })).toEqual(['s1', 'e1']);
    expect(ids({ until: '30m' })).toEqual(['p1']);
    expect(ids({ since: '2026-11-22T12:00:00Z', until: '2026-11-22T12:00:01Z' })).toEqual(['p1']);
    expect(ids({ since: '2026-11-23' })).toEqual(['e1']); // still open
    expect(() => parseFilters({ since: 'yesterday' }, now)).toThrow(/--since expects a time/);
    expect(() => parseFilters({ kind: 'ftp' }, now)).toThrow(/--kind/);
  });

  it('is fresh when the log did not change, updated when it grew, rebuilt when it changed otherwise', async () => {
    const home = tempDir();
    const ctx = testCtx();
    await writeLog(home, ctx, sample().slice(0, 7));
    expect((await loadSessionIndex(ctx.fs, home)).how).toBe('rebuilt');
    expect((await loadSessionIndex(ctx.fs, home)).how).toBe('fresh');

    await writeLog(home, ctx, sample().slice(7));
    const grown = await loadSessionIndex(ctx.fs, home);
    expect(grown.how).toBe('updated');
    expect(grown.sessions.map((s) => s.id)).toEqual(['p1', 's1', 'e1']);
    expect(grown.sessions[1]).toMatchObject({ commands: 1, denials: 1 });

    // An index that claims a different history than the log's is not trusted: rebuilt from the log.
    const saved = JSON.parse(readFileSync(indexPath(home), 'utf8')) as { last_leaf: string; files: Array<{ bytes: number }>; sessions: Array<{ id: string }> };
    saved.sessions[0]!.id = 'forged';
    saved.files.at(-1)!.bytes -= 10;
    writeFileSync(indexPath(home), JSON.stringify(saved));
    const rebuilt = await loadSessionIndex(ctx.fs, home);
    expect(rebuilt.how).toBe('rebuilt');
    expect(rebuilt.sessions.map((s) => s.id)).toEqual(['p1', 's1', 'e1']);

    // Garbage or a missing index: rebuilt.
    writeFileSync(indexPath(home), '{not json');
    expect((await loadSessionIndex(ctx.fs, home)).how).toBe('rebuilt');
  });
});
