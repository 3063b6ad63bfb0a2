/**
 * Where the log does not speak for the period (PCI DSS 10.2.1 "logging active", 10.7.2/10.7.3 failures of
 * audit logging with start, end and cause), from the records alone:
 * - `gap`: a `log.gap` record — appends that failed between two timestamps (docs/log-format.md "Failure
 *   semantics"), with the errno cause and how many records were lost;
 * - `silence`: no record at all for longer than the checkpoint interval while a session was open (the writer
 *   checkpoints at least that often while records arrive; an idle session also writes nothing, so a silence is
 *   for an assessor to weigh, not proof of a loss);
 * - `not running`: from `log.stop` (or, after a crash, the last record) to the next `log.start` — no broker
 *   owned the log, so no session could be brokered; reported apart from gaps because nothing was lost.
 */
import { parseTs } from '../../recorder/timestamp.js';
import { csvFile } from './csv.js';
import type { EvidenceInput, LoadedRecord } from './types.js';

export const GAP_KINDS = ['gap', 'silence', 'not running'] as const;
export type GapKind = (typeof GAP_KINDS)[number];

export interface GapRow {
  kind: GapKind;
  start: string;
  end: string;
  cause: string;
  /** Records lost (log.gap only). */
  lost: number | null;
  /** The record that reports or ends the interval (log.gap, the next record, log.start). */
  seq: number | null;
  /** A silence ended by `session.idle_timeout`/`session.expired`: the session was idle, and the limit ended it. */
  idle: boolean;
}

/** Microseconds between two record timestamps (0 when either does not parse). */
export function micros(from: string, to: string): number {
  const a = parseTs(from);
  const b = parseTs(to);
  return a === undefined || b === undefined ? 0 : Number(b - a);
}

function overlaps(g: { start: string; end: string }, p: EvidenceInput['period']): boolean {
  return g.end >= p.since && g.start <= p.until;
}

/**
 * The gaps, silences and not-running intervals that touch the period, in log order. `silenceMs` is the
 * checkpoint interval (audit.checkpoint.interval).
 */
export function findGaps(input: Pick<EvidenceInput, 'records' | 'period'>, silenceMs: number): GapRow[] {
  const out: GapRow[] = [];
  const open = new Set<string>();
  let prev: LoadedRecord | undefined;
  let stop: LoadedRecord | undefined;
  let started = false;
  for (const cur of input.records) {
    const r = cur.record;
    if (r.type === 'log.gap') {
      const d = (r.detail ?? {}) as { start?: unknown; end?: unknown; cause?: unknown; lost?: unknown };
      const g: GapRow = {
        kind: 'gap',
        start: typeof d.start === 'string' ? d.start : r.ts,
        end: typeof d.end === 'string' ? d.end : r.ts,
        cause: typeof d.cause === 'string' ? d.cause : 'unknown',
        lost: typeof d.lost === 'number' ? d.lost : null,
        seq: r.seq,
        idle: false,
      };
      if (overlaps(g, input.period)) out.push(g);
    }
    if (r.type === 'log.start' && prev && started) {
      const from = stop ?? prev;
      const g: GapRow = {
        kind: 'not running',
        start: from.record.ts,
        end: r.ts,
        cause: stop ? 'pcigate was stopped (log.stop … log.start)' : `pcigate ended without log.stop after seq ${prev.record.seq} (crash or kill)`,
        lost: null,
        seq: r.seq,
        idle: false,
      };
      if (overlaps(g, input.period)) out.push(g);
    } else if (prev && open.size > 0 && micros(prev.record.ts, r.ts) > silenceMs * 1000) {
      const idle = r.type === 'session.idle_timeout' || r.type === 'session.expired';
      const g: GapRow = {
        kind: 'silence',
        start: prev.record.ts,
        end: r.ts,
        cause: idle
          ? `no record while ${open.size} session(s) were open, ended by ${r.type} (the session was idle until its limit)`
          : `no record for longer than the checkpoint interval while ${open.size} session(s) were open`,
        lost: null,
        seq: r.seq,
        idle,
      };
      if (overlaps(g, input.period)) out.push(g);
    }
    // A new process owns no session of the one before it.
    if (r.type === 'log.start') { stop = undefined; started = true; open.clear(); }
    if (r.type === 'log.stop') stop = cur;
    if (r.session !== undefined) {
      if (r.type === 'session.start' && r.outcome !== 'failure') open.add(r.session);
      if (r.type === 'session.end') open.delete(r.session);
    }
    // segment.open and log.recovered are written in the same batch as log.start: the previous record
    // before a restart is the last one of the old process.
    if (r.type !== 'segment.open' && r.type !== 'log.recovered') prev = cur;
  }
  return out;
}

/** gaps.csv: kind, start, end, duration in seconds, cause, records lost, seq (RFC 4180). */
export function gapsCsv(rows: GapRow[]): Buffer {
  return csvFile(
    ['kind', 'start', 'end', 'duration_s', 'cause', 'lost', 'seq'],
    rows.map((g) => [g.kind, g.start, g.end, (micros(g.start, g.end) / 1e6).toFixed(3), g.cause, g.lost === null ? '' : String(g.lost), g.seq === null ? '' : String(g.seq)]),
  );
}
