/**
 * Filters of `pcigate sessions` (issue 8 item 1): --since/--until (an RFC 3339 date or time, or an age such
 * as `90m`, `12h`, `7d` before now), --user (actor subject or email), --conn, --kind.
 */
import { UsageError } from '../errors.js';
import type { SessionKind, SessionSummary } from './session-summary.js';

export interface SessionFilters {
  since?: number;
  until?: number;
  user?: string;
  conn?: string;
  kind?: SessionKind;
}

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** A point in time in ms since the epoch: `2026-11-22`, `2026-11-22T10:00:00Z`, or an age like `2h`. */
export function parseTime(flag: string, v: string, nowMs: number): number {
  const age = /^(\d+)([smhdw])$/.exec(v);
  if (age) return nowMs - Number(age[1]) * UNITS[age[2]!]!;
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(v)) {
    // A date or time without a zone is UTC: audit timestamps are UTC, and an auditor's query should not
    // depend on the machine's time zone.
    const withZone = /T|\s/.test(v) && !/(Z|[+-]\d{2}:?\d{2})$/.test(v) ? `${v.replace(' ', 'T')}Z` : v;
    const t = Date.parse(withZone.length === 10 ? `${withZone}T00:00:00Z` : withZone);
    if (!Number.isNaN(t)) return t;
  }
  throw new UsageError(`${flag} expects a time (2026-11-22, 2026-11-22T10:00:00Z) or an age (90m, 12h, 7d), got ${JSON.stringify(v)}`);
}

export function parseFilters(opts: Record<string, unknown>, nowMs: number): SessionFilters {
  const f: SessionFilters = {};
  if (typeof opts.since === 'string') f.since = parseTime('--since', opts.since, nowMs);
  if (typeof opts.until === 'string') f.until = parseTime('--until', opts.until, nowMs);
  if (typeof opts.user === 'string') f.user = opts.user;
  if (typeof opts.conn === 'string') f.conn = opts.conn;
  if (typeof opts.kind === 'string') {
    if (opts.kind !== 'postgres' && opts.kind !== 'ssh' && opts.kind !== 'exec') throw new UsageError(`--kind expects postgres, ssh or exec, got ${JSON.stringify(opts.kind)}`);
    f.kind = opts.kind;
  }
  return f;
}

/**
 * Keeps the sessions that match every filter. --since/--until select sessions that overlap the window
 * (a session still open, or one that started before --since but ended after it, is included).
 */
export function filterSessions(sessions: SessionSummary[], f: SessionFilters): SessionSummary[] {
  return sessions.filter((s) => {
    const start = Date.parse(s.start);
    const end = s.end ? Date.parse(s.end) : Infinity;
    if (f.since !== undefined && end < f.since) return false;
    if (f.until !== undefined && start > f.until) return false;
    if (f.user !== undefined && s.who !== f.user && s.email !== f.user) return false;
    if (f.conn !== undefined && s.conn !== f.conn) return false;
    if (f.kind !== undefined && s.kind !== f.kind) return false;
    return true;
  });
}

/** The filters as given, for the `audit.access` record (times as RFC 3339). */
export function describeFilters(f: SessionFilters): Record<string, string> {
  const out: Record<string, string> = {};
  if (f.since !== undefined) out.since = new Date(f.since).toISOString();
  if (f.until !== undefined) out.until = new Date(f.until).toISOString();
  if (f.user !== undefined) out.user = f.user;
  if (f.conn !== undefined) out.conn = f.conn;
  if (f.kind !== undefined) out.kind = f.kind;
  return out;
}
