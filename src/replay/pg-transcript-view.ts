/**
 * The replay of a Postgres session (issue 8 item 2): the session's transcript (src/broker/pg-transcript.ts:
 * `query`, `denied`, `columns`, `row`, `result`, `cancel`, `rollback`, `end` lines, values already masked) joined with
 * its log records for the times (`pg.intent` / denied `pg.query` carry `detail.n`), as one list of
 * statements: time, statement, decision, outcome, rows and the masked sample rows.
 */
import type { AuditRecord } from '../../recorder/types.js';
import { table } from '../cli/output.js';
import { VerificationError } from '../errors.js';

export interface StatementView {
  n: number;
  time: string | null;
  sql: string;
  decision: 'allowed' | 'denied';
  rule?: string;
  result?: string;
  sqlstate?: string | null;
  rows?: number | null;
  duration_ms?: number;
  columns?: string[];
  sample: (string | null)[][];
  cancelled?: boolean;
}

type Line = Record<string, unknown> & { t?: string; n?: number };

export function parseTranscript(text: string, name = 'transcript'): Line[] {
  return text.split('\n').filter(Boolean).map((l, i) => {
    try {
      return JSON.parse(l) as Line;
    } catch (e) {
      throw new VerificationError(`${name}: line ${i + 1} is not JSON`, { cause: e });
    }
  });
}

/** Statements in the order they were sent. */
export function statementViews(lines: Line[], records: AuditRecord[]): StatementView[] {
  const times = new Map<number, string>();
  for (const r of records) {
    const n = (r.detail as { n?: unknown } | undefined)?.n;
    if (typeof n !== 'number') continue;
    if (r.type === 'pg.intent' || (r.type === 'pg.query' && r.outcome === 'denied')) if (!times.has(n)) times.set(n, r.ts);
  }
  const byN = new Map<number, StatementView>();
  const out: StatementView[] = [];
  let last: StatementView | undefined;
  for (const l of lines) {
    const n = typeof l.n === 'number' ? l.n : undefined;
    if ((l.t === 'query' || l.t === 'denied') && n !== undefined) {
      const v: StatementView = { n, time: times.get(n) ?? null, sql: String(l.sql ?? ''), decision: l.t === 'query' ? 'allowed' : 'denied', sample: [] };
      if (typeof l.rule === 'string') v.rule = l.rule;
      byN.set(n, v);
      out.push(v);
      last = v;
      continue;
    }
    const v = n !== undefined ? byN.get(n) : undefined;
    if (l.t === 'columns' && v) v.columns = (l.names as string[] | undefined) ?? [];
    else if (l.t === 'row' && v) v.sample.push((l.values as (string | null)[] | undefined) ?? []);
    else if (l.t === 'result' && v) {
      v.result = String(l.result ?? '');
      v.sqlstate = (l.sqlstate as string | null | undefined) ?? null;
      v.rows = (l.rows as number | null | undefined) ?? null;
      if (typeof l.duration_ms === 'number') v.duration_ms = l.duration_ms;
    } else if (l.t === 'cancel' && last) last.cancelled = true;
    else if (l.t === 'rollback' && Array.isArray(l.statements)) {
      // Its transaction (implicit, or a block: `block`) was rolled back afterwards (pg.commit): it ran, and did not last.
      for (const k of l.statements as unknown[]) {
        const w = typeof k === 'number' ? byN.get(k) : undefined;
        if (w) { w.result = 'rolled back'; w.sqlstate = (l.sqlstate as string | null | undefined) ?? null; }
      }
    }
  }
  return out;
}

function clock(ts: string | null): string {
  return ts ? ts.slice(11, 26) : '?';
}

/** The transcript as terminal text. */
export function renderStatements(views: StatementView[]): string {
  const out: string[] = [];
  const pad = ' '.repeat(18);
  for (const v of views) {
    const sqlLines = v.sql.split('\n').map(oneLine);
    out.push(`${clock(v.time)}  #${v.n}  ${v.decision}${v.rule ? ` (${oneLine(v.rule)})` : ''}  ${sqlLines[0]}`);
    for (const l of sqlLines.slice(1)) out.push(`${pad}${l}`);
    if (v.result !== undefined) {
      const parts = [oneLine(v.result + (v.sqlstate ? ` ${v.sqlstate}` : ''))];
      if (v.rows !== null && v.rows !== undefined) parts.push(`${v.rows} row${v.rows === 1 ? '' : 's'}`);
      if (v.duration_ms !== undefined) parts.push(`${v.duration_ms} ms`);
      if (v.cancelled) parts.push('cancel requested');
      out.push(`${pad}→ ${parts.join(', ')}`);
    }
    if (v.sample.length > 0) {
      const width = Math.max(v.columns?.length ?? 0, ...v.sample.map((r) => r.length));
      // Column names are the server's (or a client's alias): escaped like the values.
      const headers = Array.from({ length: width }, (_, i) => oneLine(String(v.columns?.[i] ?? `col${i + 1}`)));
      const rows = v.sample.map((r) => headers.map((_, i) => (r[i] === null || r[i] === undefined ? 'NULL' : oneLine(r[i]!))));
      for (const l of table(headers, rows).split('\n')) out.push(`${pad}${l}`);
      if (v.rows && v.rows > v.sample.length) out.push(`${pad}(${v.sample.length} of ${v.rows} rows sampled)`);
    }
  }
  return out.join('\n');
}

/** Control characters in a value would drive the viewer's terminal: shown escaped instead. */
export function oneLine(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}
