/**
 * Finds the session `pcigate replay ID` names (a full id or a unique prefix, as `sessions` prints it) and
 * reads that session's records from the log, touching only the segments its seq range spans.
 */
import type { Fs } from '../cli/ctx.js';
import { SessionNotFound } from '../errors.js';
import type { AuditRecord } from '../../recorder/types.js';
import { listSegments, readRecords } from '../sessions/log-reader.js';
import type { SessionSummary } from '../sessions/session-summary.js';

export function findSession(sessions: SessionSummary[], id: string): SessionSummary {
  const exact = sessions.find((s) => s.id === id);
  if (exact) return exact;
  const hits = id.length >= 4 ? sessions.filter((s) => s.id.startsWith(id)) : [];
  if (hits.length === 1) return hits[0]!;
  if (hits.length > 1) throw new SessionNotFound(`${JSON.stringify(id)} matches ${hits.length} sessions; give more of the id`);
  throw new SessionNotFound(`no session ${JSON.stringify(id)} in the audit log (see \`pcigate sessions\`)`);
}

/** Every record of `s` (by session id) between its first and last seq, in seq order. */
export async function sessionRecords(fs: Fs, home: string, s: SessionSummary): Promise<AuditRecord[]> {
  const segments = await listSegments(fs, home);
  const first = s.start_seq;
  const last = Math.max(s.last_seq, s.end_seq ?? 0);
  // A segment is named by its first seq: keep those that can hold a record in [first, last].
  const keep = segments.filter((seg, i) => {
    const lo = Number(seg.file.slice(0, 12));
    const next = segments[i + 1];
    const hi = next ? Number(next.file.slice(0, 12)) - 1 : Infinity;
    return hi >= first && lo <= last;
  });
  const out: AuditRecord[] = [];
  await readRecords(fs, home, keep, undefined, (r) => {
    if (r.session === s.id && r.seq >= first && r.seq <= last) out.push(r);
  });
  return out;
}
