/**
 * EvidenceInputs for the requirement 3/7/8 checks, built the way `pcigate evidence` builds them: a real audit
 * log written by recorder/openAuditLog in a temporary home (hash chain, checkpoints, keys), recordings as files
 * under HOME/recordings, a pcigate.yaml loaded by loadConfigEvidence, all read back by collectEvidence. The
 * clock is fixed and advances one second per record, so every timestamp is known.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openAuditLog } from '../../../recorder/index.js';
import type { Actor, AuditEvent } from '../../../recorder/types.js';
import { collectEvidence, loadConfigEvidence } from '../../../src/evidence/collect.js';
import type { ConfigEvidence, EvidenceInput } from '../../../src/evidence/types.js';
import { testCtx } from '../../harness/test-ctx.js';

export const DAY = 86_400_000;

/** A step: a record to append (one second after the previous), or a jump of the clock. */
export type Step = AuditEvent | { tick: number };

export const ALICE: Actor = { sub: 'alice-1', email: 'alice@example.com', idp: 'https://idp.example.com', groups: ['support'], amr: ['pwd', 'otp'], via: 'oidc' };
export const BOB: Actor = { sub: 'bob-2', email: 'bob@example.com', idp: 'https://idp.example.com', groups: ['dba'], amr: ['pwd'], via: 'oidc' };
export const SAM: Actor = { sub: 'sam-3', email: 'sam@example.com', idp: 'https://idp.example.com', groups: ['security'], amr: ['hwk'], via: 'oidc' };
export const CI: Actor = { sub: 'repo:org/payments:ref:refs/heads/main', idp: 'https://token.actions.githubusercontent.com', via: 'workload' };
export const LOCAL: Actor = { sub: 'carol', via: 'local' };

export const DB = { conn: 'prod-db', kind: 'postgres' as const, host: 'db.internal:5432', db: 'payments', user: 'app' };
export const SSH = { conn: 'prod-ssh', kind: 'ssh' as const, host: 'app.internal:22', user: 'deploy' };
const SRC = { ip: '127.0.0.1', port: 50000, client: 'psql' };

/** The configuration most tests use: a Postgres and an SSH connection, three roles, masking rules. */
export const CONFIG = `
connections:
  prod-db:
    kind: postgres
    host: db.internal
    database: payments
    user: app
    password: env:PGPASSWORD
    approvers: [security]
  prod-ssh:
    kind: ssh
    host: app.internal
    user: deploy
    private_key: env:SSH_KEY
    host_key: SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8
    allow:
      shell: true
      exec: { allow: ["systemctl status *"], hold: ["systemctl restart *"], deny: ["rm *"] }
masking:
  format: last4
  rules:
    - name: card-number
      columns: [public.cards.number]
      format: first6last4
policy:
  roles:
    support: { groups: [support] }
    dba: { groups: [dba] }
  connections:
    prod-db:
      require_mfa: true
      session: { idle_timeout: 10m }
      roles:
        support: { classes: [read, transaction, utility], approval_tables: [public.cards] }
        dba: { classes: [read, write, ddl, copy_out], require_approval: [dcl] }
`;

/** session.start for `actor` on `target` with the broker's account. */
export function start(session: string, actor: Actor | undefined, target: typeof DB | typeof SSH = DB): AuditEvent {
  return {
    type: 'session.start', session, ...(actor ? { actor } : {}), src: SRC, target, outcome: 'success',
    account: { kind: target.kind, name: target.user }, detail: { kind: target.kind },
  };
}

export function end(session: string, actor: Actor, target: typeof DB | typeof SSH = DB, detail: Record<string, unknown> = {}): AuditEvent {
  return { type: 'session.end', session, actor, src: SRC, target, account: { kind: target.kind, name: target.user }, outcome: 'success', detail };
}

/** pg.intent (the allow) for statement n. */
export function intent(session: string, actor: Actor, n: number, sql: string): AuditEvent {
  return { type: 'pg.intent', session, actor, src: SRC, target: DB, outcome: 'pending', detail: { n, protocol: 'simple', sql, command: sql.split(' ')[0]!.toLowerCase(), kind: 'read' } };
}

/** pg.query as the recorder writes it after a statement ran (`intentSeq` null: no decision recorded). */
export function query(session: string, actor: Actor, n: number, sql: string, intentSeq: number | null, extra: Record<string, unknown> = {}): AuditEvent {
  return {
    type: 'pg.query', session, actor, src: SRC, target: DB, outcome: 'success',
    detail: { n, protocol: 'simple', sql, command: sql.split(' ')[0]!.toLowerCase(), kind: 'read', intent_seq: intentSeq, result: 'success', sqlstate: null, rows: 1, ...extra },
  };
}

export function denied(session: string, actor: Actor, n: number, sql: string, rule: string): AuditEvent {
  return { type: 'pg.query', session, actor, src: SRC, target: DB, outcome: 'denied', detail: { n, protocol: 'simple', sql, command: sql.split(' ')[0]!.toLowerCase(), kind: 'read', rule, sqlstate: '42501' } };
}

/**
 * The seq of step `i` (counting records only) in a log buildInput wrote: the log opens with segment.open,
 * log.start and the mirror of the checkpoint a new log is signed with at open.
 */
export const stepSeq = (i: number): number => 3 + i;

export interface Built {
  input: EvidenceInput;
  home: string;
  /** seq of each appended step record, in order. */
  seqs: number[];
}

/**
 * Writes `steps` into a fresh home's log, the recordings, and the config (YAML text, or a ConfigEvidence as
 * is), then collects the EvidenceInput `afterMs` after the last record (generation time).
 */
export async function buildInput(o: { steps: Step[]; config?: string | ConfigEvidence; recordings?: Record<string, string | Buffer>; afterMs?: number }): Promise<Built> {
  const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-e3-'));
  const ctx = testCtx();
  const log = await openAuditLog(ctx, { home, createIfMissing: { origin: 'test/e3' }, checkpointIntervalMs: 1e9, checkpointRecords: 1e9, idleMs: 1e9 });
  const seqs: number[] = [];
  for (const s of o.steps) {
    if ('tick' in s) { ctx.clock.advance(s.tick); continue; }
    ctx.clock.advance(1000);
    seqs.push((await log.append(s)).seq);
  }
  await log.close();
  mkdirSync(path.join(home, 'recordings'), { recursive: true });
  for (const [name, bytes] of Object.entries(o.recordings ?? {})) writeFileSync(path.join(home, 'recordings', name), bytes);
  let config: ConfigEvidence;
  if (typeof o.config === 'object') config = o.config;
  else {
    const file = path.join(home, 'pcigate.yaml');
    writeFileSync(file, o.config ?? CONFIG);
    config = await loadConfigEvidence(ctx, { config: file });
  }
  ctx.clock.advance(o.afterMs ?? 1000);
  const input = await collectEvidence(ctx, { home, config });
  return { input, home, seqs };
}

/** The rows of an RFC 4180 CSV without quoted line breaks (header first). */
export function csvRows(bytes: Buffer): string[][] {
  return bytes.toString('utf8').split('\r\n').filter((l) => l.length > 0).map((l) => {
    const cells: string[] = [];
    let cur = '';
    let q = false;
    for (let i = 0; i < l.length; i++) {
      const c = l[i]!;
      if (q) {
        if (c === '"' && l[i + 1] === '"') { cur += '"'; i++; } else if (c === '"') q = false; else cur += c;
      } else if (c === '"') q = true;
      else if (c === ',') { cells.push(cur); cur = ''; } else cur += c;
    }
    cells.push(cur);
    return cells;
  });
}
