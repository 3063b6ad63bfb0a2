/**
 * Rendering of approval requests for the approvals commands: stable JSON fields, a plain table row, and the
 * full statement an approver is shown. The statement text comes from the requester: what the approver sees
 * must be what runs, so text for a terminal is made safe to show (see {@link displayStatement}).
 */
import { printable } from '../cli/printable.js';
import { formatDuration } from '../config/duration.js';
import type { ApprovalRequest } from './approvals.js';

export const APPROVAL_HEADERS = ['ID', 'STATE', 'CONNECTION', 'REQUESTER', 'APPROVALS', 'EXPIRES', 'STATEMENT'];

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/** The JSON form (`--json`): stable field names, times as RFC 3339. */
export function approvalJson(r: ApprovalRequest): Record<string, unknown> {
  return {
    id: r.id, kind: r.kind, state: r.state, connection: r.connection, requester: r.requester,
    sql: r.sql, params: r.params ?? null, search_path: r.search_path ?? null, hmac: r.hmac, reason: r.reason ?? null, rule: r.rule ?? null,
    created: iso(r.created_ms), expires: iso(r.expires_ms), approved: iso(r.approved_ms),
    min_approvals: r.min_approvals, approvals: r.approvals.map((a) => ({ ...a, at: iso(a.at_ms) })),
    denial: r.denial ? { ...r.denial, at: iso(r.denial.at_ms) } : null,
    window_ms: r.window_ms, uses: r.uses,
  };
}

/** Unsafe characters (but newline and tab) as `\uXXXX`: src/cli/printable.ts says which and why. */
const escape = (s: string) => printable(s, { keepLines: true });

/** Runs of this many blanks or more are shown as a count: 500 spaces must not push `; DROP …` out of sight. */
const BLANK_RUN = 8;

/**
 * What a terminal shows as blank: space, tab, and the other characters that print as nothing (no-break space,
 * the Unicode spaces U+2000…U+200A and their narrow and mathematical kin, ideographic space, ogham space mark,
 * the Braille blank and the Hangul fillers). The invisible format characters are escaped before (printable.ts).
 */
const BLANK = ' \\t\\u00a0\\u1680\\u2000-\\u200a\\u202f\\u205f\\u2800\\u3000\\u115f\\u1160\\u3164\\uffa0';

/**
 * A statement (or parameter) as an approver's terminal shows it in full: unsafe characters as `\uXXXX`,
 * long runs of blanks (spaces, tabs, no-break and other Unicode spaces) as `⟨N blanks⟩`, more than two blank lines in a row as `⟨N blank lines⟩`.
 * Nothing else changes, so what is shown reads as what runs.
 */
export function displayStatement(text: string): string {
  return escape(text)
    .replace(new RegExp(`[${BLANK}]{${BLANK_RUN},}`, 'g'), (m) => ` ⟨${m.length} blanks⟩ `)
    .replace(new RegExp(`\\n(?:[${BLANK}]*\\n){3,}`, 'g'), (m) => `\n⟨${m.split('\n').length - 2} blank lines⟩\n`);
}

/** Table cell width of the statement; a longer one shows its head and tail and how much is between. */
const CELL = 60;

/**
 * One table row; the statement on one line (whitespace collapsed, unsafe characters escaped). When it is
 * longer than the cell, its start and end are shown with the number of characters left out between them
 * (`select 1 /* xxx…[+480 chars]…drop table cards`), never a bare prefix that reads as the whole statement.
 */
export function approvalRow(r: ApprovalRequest, now: number): string[] {
  const params = r.params?.length ? ` [params: ${r.params.map((p) => (p === null ? 'NULL' : JSON.stringify(p))).join(', ')}]` : '';
  const sql = escape(`${r.sql.replace(/\s+/g, ' ').trim()}${params.replace(/\s+/g, ' ')}`);
  const left = r.expires_ms - now;
  return [
    escape(r.id), r.state, escape(r.connection), escape(r.requester.email ?? r.requester.sub), `${r.approvals.length}/${r.min_approvals}`,
    r.state === 'pending' ? (left > 0 ? `in ${formatDuration(Math.ceil(left / 1000) * 1000)}` : 'now') : '-',
    cut(sql),
  ];
}

function cut(s: string): string {
  if (s.length <= CELL) return s;
  const head = 36;
  const tail = 16;
  return `${s.slice(0, head)}…[+${s.length - head - tail} chars]…${s.slice(-tail)}`;
}

/** The lines `pcigate approve` and `pcigate deny` show about the request they act on, statement in full. */
export function approvalDetail(r: ApprovalRequest): string {
  const lines = [
    `request:    ${r.id} (${r.kind}) on ${escape(r.connection)} by ${escape(r.requester.email ?? r.requester.sub)}${r.rule ? `, rule ${escape(r.rule)}` : ''}`,
    // (the requester's reason, labelled so: an approver giving their own --reason saw it as if it were theirs)
    ...(r.reason ? [`requester's reason: ${displayStatement(r.reason)}`] : []),
    ...(r.search_path !== undefined ? [`search_path: ${displayStatement(r.search_path)}`] : []),
    'statement:',
    ...displayStatement(r.sql).split('\n').map((l) => `  ${l}`),
    ...(r.params?.length ? ['parameters:', ...r.params.map((p, i) => `  $${i + 1} = ${p === null ? 'NULL' : displayStatement(JSON.stringify(p))}`)] : []),
  ];
  return lines.join('\n');
}
