/**
 * One row of `pcigate sessions`, folded from the audit records of a session (docs/log-format.md; issue 8):
 * `session.start`/`session.end` (Postgres and SSH), `exec.start`/`exec.end` (`pcigate exec -- CMD`),
 * `pg.intent`/`pg.query`, `ssh.exec`/`ssh.request`, `approval.*`, `recording.commit`. Every field comes from
 * the log; nothing is read from a recording.
 */
import type { AuditRecord, BlobRef } from '../../recorder/types.js';

export type SessionKind = 'postgres' | 'ssh' | 'exec';
export type SessionOutcome = 'open' | 'success' | 'failure' | 'denied';

/** A recording committed into the log: the blob and the seq of the record that committed it. */
export interface CommittedBlob extends BlobRef {
  seq: number;
  /** True for a running recording's periodic commitment (`recording.commit`, `asciicast.partial`). */
  partial: boolean;
}

export interface SessionSummary {
  id: string;
  kind: SessionKind;
  who: string;
  email?: string;
  conn?: string;
  host?: string;
  db?: string;
  user?: string;
  /** For `exec`: the masked command line. */
  command?: string;
  start: string;
  start_seq: number;
  end?: string;
  end_seq?: number;
  last_seq: number;
  duration_ms?: number;
  statements: number;
  commands: number;
  denials: number;
  approvals: number;
  masked: number;
  outcome: SessionOutcome;
  blobs: CommittedBlob[];
}

const START = new Set(['session.start', 'exec.start']);
const END = new Set(['session.end', 'exec.end']);

/** Sum of a `masked` detail: `{pan: 2, …}` counts per kind, or a number. */
function maskedCount(v: unknown): number {
  if (typeof v === 'number') return v;
  if (!v || typeof v !== 'object') return 0;
  let n = 0;
  for (const x of Object.values(v as Record<string, unknown>)) if (typeof x === 'number') n += x;
  return n;
}

/** A record's `ts` (RFC 3339, µs) as µs since the epoch. */
export function micros(ts: string): number {
  return Date.parse(ts) * 1000 + Number(/\.\d{3}(\d{3})Z$/.exec(ts)?.[1] ?? 0);
}

/** Folds one record into `sessions` (keyed by session id). Records without a session are ignored. */
export function applyRecord(sessions: Map<string, SessionSummary>, r: AuditRecord): void {
  const id = r.session;
  if (!id) return;
  let s = sessions.get(id);
  const d = (r.detail ?? {}) as Record<string, unknown>;
  if (!s) {
    if (!START.has(r.type) && !END.has(r.type) && r.type !== 'pg.intent' && r.type !== 'pg.query' && r.type !== 'ssh.exec' && r.type !== 'ssh.request') return;
    s = {
      id, kind: r.type.startsWith('exec.') ? 'exec' : r.target?.kind === 'ssh' ? 'ssh' : 'postgres',
      who: r.actor?.sub ?? '?', start: r.ts, start_seq: r.seq, last_seq: r.seq,
      statements: 0, commands: 0, denials: 0, approvals: 0, masked: 0, outcome: 'open', blobs: [],
    };
    if (r.actor?.email) s.email = r.actor.email;
    if (r.target?.conn) s.conn = r.target.conn;
    if (r.target?.host) s.host = r.target.host;
    if (r.target?.db) s.db = r.target.db;
    if (r.target?.user) s.user = r.target.user;
    sessions.set(id, s);
  }
  s.last_seq = r.seq;
  switch (r.type) {
    case 'session.start':
    case 'exec.start':
      if (typeof d.argv === 'string') s.command = d.argv;
      if (r.outcome === 'failure') { s.outcome = 'failure'; s.end = r.ts; s.end_seq = r.seq; s.duration_ms = 0; }
      if (r.outcome === 'denied') { s.outcome = 'denied'; s.end = r.ts; s.end_seq = r.seq; s.duration_ms = 0; }
      break;
    case 'pg.intent':
      s.statements++;
      break;
    case 'pg.query':
      if (r.outcome === 'denied') s.denials++;
      break;
    case 'ssh.exec':
      if (r.outcome === 'denied') s.denials++;
      else s.commands++;
      break;
    case 'ssh.request':
      if (r.outcome === 'denied') s.denials++;
      break;
    case 'approval.approve':
      s.approvals++;
      break;
    case 'session.end':
    case 'exec.end':
      s.end = r.ts;
      s.end_seq = r.seq;
      s.duration_ms = typeof d.duration_ms === 'number' ? d.duration_ms : (micros(r.ts) - micros(s.start)) / 1000;
      s.outcome = r.outcome === 'success' ? 'success' : r.outcome === 'denied' ? 'denied' : 'failure';
      // The broker's own counts are authoritative at the end (they include statements whose intent failed).
      if (typeof d.statements === 'number') s.statements = d.statements;
      if (typeof d.denied === 'number') s.denials = Math.max(s.denials, d.denied);
      s.masked += maskedCount(d.masked);
      break;
    default:
      break;
  }
  for (const b of r.blobs ?? []) {
    const partial = r.type === 'recording.commit' || b.kind.endsWith('.partial');
    // A final commitment of a recording supersedes its periodic (partial) ones.
    if (!partial) s.blobs = s.blobs.filter((x) => x.path !== b.path);
    s.blobs.push({ ...b, seq: r.seq, partial });
  }
}
