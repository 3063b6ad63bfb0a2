/**
 * Everything `pcigate replay ID` shows, gathered before anything is shown (issue 8 item 2): the session
 * (from the index), its log records, and each committed recording re-hashed against the record that
 * committed it.
 */
import type { Fs } from '../cli/ctx.js';
import { SessionNotFound } from '../errors.js';
import type { AuditRecord } from '../../recorder/types.js';
import { loadSessionIndex } from '../sessions/session-index.js';
import { applyRecord } from '../sessions/session-summary.js';
import type { SessionSummary } from '../sessions/session-summary.js';
import { findSession, sessionRecords } from './find-session.js';
import { checkRecording, describeCheck } from './recording-check.js';
import type { RecordingCheck } from './recording-check.js';

export interface PreparedReplay {
  session: SessionSummary;
  records: AuditRecord[];
  /** One per recording, in the order they were committed. */
  checks: RecordingCheck[];
  verified: boolean;
}

const PLAYABLE = new Set(['asciicast', 'asciicast.partial', 'pg-transcript']);

export async function prepareReplay(fs: Fs, home: string, id: string): Promise<PreparedReplay> {
  const { sessions } = await loadSessionIndex(fs, home);
  const indexed = findSession(sessions, id);
  const records = await sessionRecords(fs, home, indexed);
  // The index is a cache without integrity of its own: what is proven and shown is folded again from the
  // log records themselves, so a doctored index cannot vouch for a doctored recording.
  const fromLog = new Map<string, SessionSummary>();
  for (const r of records) applyRecord(fromLog, r);
  const session = fromLog.get(indexed.id);
  if (!session) throw new SessionNotFound(`session ${indexed.id} is in the index but not in the audit log; run \`pcigate sessions\` to rebuild the index`);
  const blobs = session.blobs.filter((b) => PLAYABLE.has(b.kind));
  if (blobs.length === 0) throw new SessionNotFound(`session ${session.id} has no recording committed in the audit log${session.outcome === 'open' ? ' yet (it has not ended)' : ''}`);
  const checks: RecordingCheck[] = [];
  for (const b of blobs) checks.push(await checkRecording(fs, home, b));
  return { session, records, checks, verified: checks.every((c) => c.status === 'verified') };
}

/** The header rows shown above a replay, in the terminal and on the HTML page. */
export function replayFields(p: PreparedReplay): Array<[string, string]> {
  const s = p.session;
  const f: Array<[string, string]> = [
    ['session', s.id],
    ['who', s.email && s.email !== s.who ? `${s.who} (${s.email})` : s.who],
    ['target', [s.kind, s.conn, s.host, s.db ? `db ${s.db}` : undefined, s.user ? `as ${s.user}` : undefined].filter(Boolean).join(' ')],
  ];
  if (s.command) f.push(['command', s.command]);
  f.push(['start', s.start], ['end', s.end ?? '(still open)'], ['outcome', s.outcome]);
  const end = p.records.find((r) => (r.type === 'session.end' || r.type === 'exec.end') && r.detail?.interrupted === true);
  if (end) {
    f.push(['interrupted', 'its process stopped before ending it: the recording holds what was written until then (the log\'s records list every statement)']);
  }
  for (const c of p.checks) {
    f.push(['recording', `${c.path} (${c.kind})`], ['log record', String(c.seq)], ['sha256', c.expected.sha256], ['verification', describeCheck(c)]);
  }
  return f;
}
