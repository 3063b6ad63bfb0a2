/** Rendering of approval requests for the approvals commands: stable JSON fields and a plain table row. */
import { formatDuration } from '../config/duration.js';
import type { ApprovalRequest } from './approvals.js';

export const APPROVAL_HEADERS = ['ID', 'STATE', 'CONNECTION', 'REQUESTER', 'APPROVALS', 'EXPIRES', 'STATEMENT'];

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/** The JSON form (`--json`): stable field names, times as RFC 3339. */
export function approvalJson(r: ApprovalRequest): Record<string, unknown> {
  return {
    id: r.id, kind: r.kind, state: r.state, connection: r.connection, requester: r.requester,
    sql: r.sql, params: r.params ?? null, hmac: r.hmac, reason: r.reason ?? null, rule: r.rule ?? null,
    created: iso(r.created_ms), expires: iso(r.expires_ms), approved: iso(r.approved_ms),
    min_approvals: r.min_approvals, approvals: r.approvals.map((a) => ({ ...a, at: iso(a.at_ms) })),
    denial: r.denial ? { ...r.denial, at: iso(r.denial.at_ms) } : null,
    window_ms: r.window_ms, uses: r.uses,
  };
}

/** One table row; the statement is shown on one line, shortened. */
export function approvalRow(r: ApprovalRequest, now: number): string[] {
  const sql = r.sql.replace(/\s+/g, ' ').trim();
  const left = r.expires_ms - now;
  return [
    r.id, r.state, r.connection, r.requester.email ?? r.requester.sub, `${r.approvals.length}/${r.min_approvals}`,
    r.state === 'pending' ? (left > 0 ? `in ${formatDuration(Math.ceil(left / 1000) * 1000)}` : 'now') : '-',
    sql.length > 60 ? `${sql.slice(0, 57)}...` : sql,
  ];
}
