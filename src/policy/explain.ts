/**
 * `policy explain`: the decision for a simulated identity, with every statement's classification, in a
 * form for people writing policy (text) and for policy test suites (JSON with stable field names).
 */
import type { PcigateConfig } from '../config/schema.js';
import { classify } from './classify.js';
import { safeStatementText } from './approvals.js';
import type { Action } from './evaluate.js';
import { loadParser } from './pg-parser.js';
import { PolicyEngine } from './policy-engine.js';

export interface Explanation {
  connection: string;
  identity: { sub: string; groups: string[]; mfa: boolean };
  decision: Action;
  rule: string;
  reason: string;
  roles: string[];
  statements: Array<{
    index: number; text: string; decision: Action; rule: string; reason: string; role: string | null;
    kind: string; classes: string[]; reads: string[]; writes: string[]; columns: string[]; functions: string[];
    write_without_where: boolean;
  }>;
}

/** Decides `sql` on `connection` for an identity with `groups` / `subject`, as a fresh session would. */
export async function explainPolicy(config: PcigateConfig, connection: string, sql: string, who: { groups: string[]; subject?: string | undefined; mfa: boolean }): Promise<Explanation> {
  await loadParser();
  const engine = new PolicyEngine(config.policy, config.connections);
  const sub = who.subject ?? `explain:${who.groups.join('+')}`;
  const identity = { sub, ...(who.subject?.includes('@') ? { email: who.subject } : {}), groups: who.groups, mfa: who.mfa, via: 'oidc' };
  const d = engine.decide(identity, connection, sql);
  const c = classify(sql);
  return {
    connection,
    identity: { sub, groups: who.groups, mfa: who.mfa },
    decision: d.action,
    rule: d.rule,
    reason: d.reason,
    roles: d.roles,
    statements: c.statements.map((st, i) => {
      const v = d.statements[i];
      return {
        index: i + 1, text: safeStatementText(st.text), decision: v?.action ?? d.action, rule: v?.rule ?? d.rule,
        reason: v?.reason ?? d.reason, role: v?.role ?? null, kind: st.kind, classes: st.classes, reads: st.reads,
        writes: st.writes, columns: st.columns, functions: st.functions, write_without_where: st.writeWithoutWhere,
      };
    }),
  };
}

const list = (xs: readonly string[]) => (xs.length ? xs.join(', ') : '-');

/** Human form: the decision first, then one block per statement. */
export function formatExplanation(ex: Explanation): string {
  const lines = [
    `decision: ${ex.decision}`,
    `rule:     ${ex.rule}`,
    `reason:   ${ex.reason}`,
    `roles:    ${list(ex.roles)}`,
  ];
  for (const s of ex.statements) {
    const text = s.text.replace(/\s+/g, ' ');
    lines.push('', `[${s.index}] ${s.decision.toUpperCase()}  ${text.length > 100 ? `${text.slice(0, 97)}...` : text}`);
    lines.push(`    rule:      ${s.rule}${s.role ? ` (role ${s.role})` : ''}`, `    reason:    ${s.reason}`);
    lines.push(`    classes:   ${list(s.classes)}${s.write_without_where ? ' (write without WHERE)' : ''}`);
    lines.push(`    reads:     ${list(s.reads)}`, `    writes:    ${list(s.writes)}`);
    lines.push(`    columns:   ${list(s.columns)}`, `    functions: ${list(s.functions)}`);
  }
  return lines.join('\n');
}
