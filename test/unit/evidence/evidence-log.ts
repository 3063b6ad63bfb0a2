/**
 * A data home with a real audit log written by recorder/openAuditLog (hash chain, signed checkpoints, key
 * epochs): a Postgres session with reads of a cardholder table, a policy denial, DDL, a role change and a
 * permission error; an SSH session; an invalid access attempt; a verify run; a real log.gap made by failing the
 * recorder's segment writes (test/unit/recorder/log-helpers.ts probeFs); a clean restart; and records after the
 * last checkpoint. The clock is fixed, so every timestamp is known.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { openAuditLog } from '../../../recorder/index.js';
import type { AuditEvent } from '../../../recorder/types.js';
import { testCtx } from '../../harness/test-ctx.js';
import { probeFs, readLog, tmpHome } from '../recorder/log-helpers.js';

export const ACTOR = { sub: 'alice@example.com', idp: 'https://idp.example.com', via: 'oidc' as const, amr: ['pwd', 'otp'] };
export const SRC = { ip: '127.0.0.1', port: 50000, client: 'psql' };
export const TARGET = { conn: 'prod-db', kind: 'postgres' as const, host: 'db:5432', db: 'payments', user: 'app' };

const q = (session: string, sql: string, command: string, kind: string, outcome: AuditEvent['outcome'], extra: Record<string, unknown> = {}): AuditEvent => ({
  type: 'pg.query', session, actor: ACTOR, src: SRC, target: TARGET, outcome, detail: { n: 1, protocol: 'simple', sql, command, kind, ...extra },
});

export interface EvidenceHome {
  home: string;
  ctx: ReturnType<typeof testCtx>;
  /** Seq of the log.gap record. */
  gapSeq: number;
  /** Size of the newest checkpoint (records at or after it are unprovable). */
  lastCheckpointSize: number;
  /** The log is left open (its last record unsealed, as on a running broker): close it after the test. */
  close(): Promise<void>;
}

/** Builds the home; `withGap: false` leaves out the write failure. */
export async function evidenceHome(opts: { withGap?: boolean } = {}): Promise<EvidenceHome> {
  const home = tmpHome();
  const probe = probeFs();
  const ctx = testCtx({ fs: probe.fs });
  const tick = (ms = 1000) => ctx.clock.advance(ms);
  const options = { home, checkpointIntervalMs: 1e9, checkpointRecords: 1e9, idleMs: 1e9 };
  const log = await openAuditLog(ctx, { ...options, createIfMissing: { origin: 'test/evidence' } });
  tick();
  await log.append({ type: 'session.start', session: 's1', actor: ACTOR, src: SRC, target: TARGET, outcome: 'success', detail: { kind: 'postgres' } });
  for (let i = 0; i < 5; i++) {
    tick();
    await log.append({ ...q('s1', `SELECT number FROM cards WHERE id = ${i}`, 'select', 'read', 'pending'), type: 'pg.intent' });
    await log.append(q('s1', `SELECT number FROM cards WHERE id = ${i}`, 'select', 'read', 'success', { sqlstate: null, rows: 1 }));
  }
  tick();
  await log.append(q('s1', 'SELECT 1', 'select', 'read', 'success', { sqlstate: null }));
  await log.append(q('s1', 'DELETE FROM public.cards', 'delete', 'write', 'denied', { rule: 'deny write', sqlstate: '42501' }));
  await log.append(q('s1', 'CREATE TABLE audit_tmp (id int)', 'create', 'ddl', 'success', { sqlstate: null }));
  await log.append(q('s1', 'DROP TABLE audit_tmp', 'drop', 'ddl', 'success', { sqlstate: null }));
  await log.append(q('s1', "ALTER ROLE app PASSWORD '[redacted]'", 'alter', 'ddl', 'success', { sqlstate: null }));
  await log.append(q('s1', 'GRANT SELECT ON cards TO reporting', 'grant', 'dcl', 'success', { sqlstate: null }));
  await log.append(q('s1', 'SELECT * FROM pg_authid', 'select', 'read', 'failure', { sqlstate: '42501' }));
  await log.checkpoint();
  tick();
  await log.append({ type: 'auth.fail', src: { ip: '127.0.0.1', port: 50001, client: 'psql' }, target: TARGET, outcome: 'failure', account: { kind: 'pcigate', name: 'mallory' }, detail: { reason: 'wrong listener secret', sqlstate: '28P01' } });
  await log.append({ type: 'session.end', session: 's1', actor: ACTOR, src: SRC, target: TARGET, outcome: 'success', detail: { statements: 12 } });
  tick();
  const sshTarget = { conn: 'prod-ssh', kind: 'ssh' as const, host: 'app:22', user: 'deploy' };
  const sshSrc = { ip: '127.0.0.1', port: 50002, client: 'ssh' };
  await log.append({ type: 'session.start', session: 's2', actor: ACTOR, src: sshSrc, target: sshTarget, outcome: 'success', detail: { kind: 'ssh' } });
  await log.append({ type: 'ssh.exec', session: 's2', actor: ACTOR, src: sshSrc, target: sshTarget, outcome: 'success', detail: { request: { kind: 'exec', command: 'useradd bob' }, decision: 'allow' } });
  if (opts.withGap !== false) {
    // The disk fails for two batches 20 s apart: both are refused (fail closed), then a log.gap is written.
    probe.failWrites = 2;
    tick(10_000);
    await log.append({ type: 'ssh.exec', session: 's2', actor: ACTOR, src: sshSrc, target: sshTarget, outcome: 'success', detail: { request: { kind: 'exec', command: 'ls' } } }).catch(() => undefined);
    tick(20_000);
    await log.append({ type: 'ssh.exec', session: 's2', actor: ACTOR, src: sshSrc, target: sshTarget, outcome: 'success', detail: { request: { kind: 'exec', command: 'ls' } } }).catch(() => undefined);
    tick();
  }
  await log.append({ type: 'session.end', session: 's2', actor: ACTOR, src: sshSrc, target: sshTarget, outcome: 'success', detail: { exit: 0 } });
  await log.append({ type: 'verify.run', actor: { sub: 'tester', via: 'local' }, account: { kind: 'os', name: 'tester' }, target: { kind: 'log' }, outcome: 'success', detail: { result: 'pass' } });
  await log.close();
  // pcigate is down for an hour, then a new process starts.
  tick(3_600_000);
  const again = await openAuditLog(ctx, options);
  tick();
  await again.append({ type: 'audit.access', actor: { sub: 'tester', via: 'local' }, account: { kind: 'os', name: 'tester' }, target: { kind: 'log' }, outcome: 'success', detail: { what: 'sessions' } });
  const cp = await again.checkpoint();
  tick();
  // After the newest checkpoint: cannot be proven.
  await again.append({ type: 'audit.access', actor: { sub: 'tester', via: 'local' }, account: { kind: 'os', name: 'tester' }, target: { kind: 'log' }, outcome: 'success', detail: { what: 'replay' } });
  mkdirSync(path.join(home, 'recordings'), { recursive: true });
  writeFileSync(path.join(home, 'recordings', 's1.jsonl'), '{"t":"query"}\n');
  const gapSeq = readLog(home).find((r) => r.rec.type === 'log.gap')?.rec.seq ?? -1;
  return { home, ctx: testCtx({ clock: ctx.clock }), gapSeq, lastCheckpointSize: cp!.size, close: () => again.close() };
}
