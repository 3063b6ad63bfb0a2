/**
 * `policy explain`: the decision for a simulated identity, with every statement's classification, in a
 * form for people writing policy (text) and for policy test suites (JSON with stable field names).
 *
 * Besides policy, the broker refuses (42501, rule `masking.stored_values`) a statement policy allows or holds
 * that would store values of a column masked for the identity where masking cannot follow them (pg-hooks.ts
 * storedPastMasking; a held one before its request is filed). Explain asks the same (ColumnRules.storedRule), but
 * connects to nothing: a whole row stored (`INSERT INTO t SELECT * FROM cards`) is judged by its tables' columns,
 * which only the database's catalog knows, so such a refusal is reported as depending on the catalog.
 */
import type { PcigateConfig } from '../config/schema.js';
import { ColumnRules, STORED_VALUES_RULE, storedValuesReason } from '../mask/column-rules.js';
import { classify } from './classify.js';
import { safeStatementText } from './approvals.js';
import type { Action } from './evaluate.js';
import { loadParser } from './pg-parser.js';
import { PolicyEngine } from './policy-engine.js';
import { nameSadColumns } from './redact-content.js';
import type { PolicySession } from './policy-engine.js';

/**
 * Stored values a statement would take past a masking rule (ColumnRules.storedRule). Without
 * `depends_on_catalog` the broker surely refuses it: the decision is `deny`, rule `masking.stored_values`.
 * With it the decision stays policy's: the broker refuses it only if the tables named (whose whole rows it
 * stores) have a column masked for the identity, or their columns cannot be read from the database.
 */
export interface MaskingNote {
  /** The masking rule the values would be taken past (`masking.rules[].name`, or `sad` for SAD columns). */
  rule: string;
  reason: string;
  depends_on_catalog?: string[];
}

export interface Explanation {
  connection: string;
  identity: { sub: string; groups: string[]; mfa: boolean };
  decision: Action;
  rule: string;
  reason: string;
  roles: string[];
  /** Only when policy allows or holds the text and it would store values past masking (see MaskingNote). */
  masking?: MaskingNote;
  statements: Array<{
    index: number; text: string; decision: Action; rule: string; reason: string; role: string | null;
    kind: string; classes: string[]; reads: string[]; writes: string[]; columns: string[]; functions: string[];
    write_without_where: boolean;
    /** The server secrets it reads (server-secrets.ts): the allow patterns that must name each exactly; absent when none. */
    secrets?: string[];
    /** The statement's own text checked as the whole text is (`masking`), when policy allows or holds it. */
    masking?: MaskingNote;
  }>;
}

/**
 * Whether `sql` would store values past a masking rule, asked with no catalog (a whole row may hold any column)
 * and with tables of no columns (a whole row holds none): only the first refusing means the catalog decides.
 */
function storedPastMasking(ps: PolicySession, rules: ColumnRules, sql: string): MaskingNote | undefined {
  const sure = rules.storedRule(ps.storedReach(sql, () => []));
  if (sure) return { rule: sure.name, reason: storedValuesReason(sure.name) };
  const blind = ps.storedReach(sql);
  const rule = rules.storedRule(blind);
  if (!rule || blind === 'unknown') return undefined;
  const tables = [...new Set(blind.flatMap(({ reach }) => (reach !== 'unknown' && reach.rowValues ? reach.tables : [])))];
  return {
    rule: rule.name, depends_on_catalog: tables,
    reason: `the statement stores whole rows of ${list(tables)}: the broker refuses it (${STORED_VALUES_RULE}, masking rule ${rule.name}) if one of their columns is masked for you, or if it cannot read their columns from the database (explain reads no catalog)`,
  };
}

/** Decides `sql` on `connection` for an identity with `groups` / `subject`, as a fresh session would. */
export async function explainPolicy(config: PcigateConfig, connection: string, sql: string, who: { groups: string[]; subject?: string | undefined; mfa: boolean }): Promise<Explanation> {
  await loadParser();
  nameSadColumns(config.masking.sad_columns);
  const engine = new PolicyEngine(config.policy, config.connections);
  const sub = who.subject ?? `explain:${who.groups.join('+')}`;
  const identity = { sub, ...(who.subject?.includes('@') ? { email: who.subject } : {}), groups: who.groups, mfa: who.mfa, via: 'oidc' };
  const d = engine.decide(identity, connection, sql);
  const c = classify(sql);
  const rules = new ColumnRules(config.masking, engine.unmaskGrants(identity, connection));
  // Fresh sessions, as policy's decision is a fresh session's (storedReach and applied read no clock). Each
  // statement is checked on its own text after the ones before it were applied: an EXECUTE finds a PREPARE there.
  const session = () => engine.openSession(identity, connection, 0);
  const masking = d.action === 'deny' ? undefined : storedPastMasking(session(), rules, sql);
  const each = session();
  const statements = c.statements.map((st, i) => {
    const v = d.statements[i];
    const action = v?.action ?? d.action;
    const m = action === 'deny' ? undefined : storedPastMasking(each, rules, st.text);
    each.applied(st.text);
    const refused = m !== undefined && m.depends_on_catalog === undefined;
    return {
      index: i + 1, text: safeStatementText(st.text), decision: refused ? 'deny' as const : action,
      rule: refused ? STORED_VALUES_RULE : v?.rule ?? d.rule, reason: refused ? m.reason : v?.reason ?? d.reason,
      role: v?.role ?? null, kind: st.kind, classes: st.classes, reads: st.reads, writes: st.writes, columns: st.columns,
      functions: st.functions, write_without_where: st.writeWithoutWhere,
      ...(st.secrets ? { secrets: [...new Set(st.secrets.map((x) => x.relation))] } : {}), ...(m ? { masking: m } : {}),
    };
  });
  const refused = masking !== undefined && masking.depends_on_catalog === undefined;
  // Named as policy names the statement that decided (evaluate.ts): the first one refused on its own.
  const first = statements.find((s) => s.rule === STORED_VALUES_RULE);
  const n = refused && first && statements.length > 1 ? `statement ${first.index} of ${statements.length}: ` : '';
  return {
    connection,
    identity: { sub, groups: who.groups, mfa: who.mfa },
    decision: refused ? 'deny' : d.action,
    rule: refused ? STORED_VALUES_RULE : d.rule,
    reason: refused ? `${n}${masking.reason}` : d.reason,
    roles: d.roles,
    ...(masking ? { masking } : {}),
    statements,
  };
}

const list = (xs: readonly string[]) => (xs.length ? xs.join(', ') : '-');

/** One line on stored values: the masking rule when refused, the whole reason when the catalog decides. */
const maskingLine = (m: MaskingNote) => (m.depends_on_catalog ? m.reason : `stored values refused by masking rule ${m.rule}`);

/** Human form: the decision first, then one block per statement. */
export function formatExplanation(ex: Explanation): string {
  const lines = [
    `decision: ${ex.decision}`,
    `rule:     ${ex.rule}`,
    `reason:   ${ex.reason}`,
    `roles:    ${list(ex.roles)}`,
    ...(ex.masking ? [`masking:  ${maskingLine(ex.masking)}`] : []),
  ];
  for (const s of ex.statements) {
    const text = s.text.replace(/\s+/g, ' ');
    lines.push('', `[${s.index}] ${s.decision.toUpperCase()}  ${text.length > 100 ? `${text.slice(0, 97)}...` : text}`);
    lines.push(`    rule:      ${s.rule}${s.role ? ` (role ${s.role})` : ''}`, `    reason:    ${s.reason}`);
    lines.push(`    classes:   ${list(s.classes)}${s.write_without_where ? ' (write without WHERE)' : ''}`);
    lines.push(`    reads:     ${list(s.reads)}`, `    writes:    ${list(s.writes)}`);
    lines.push(`    columns:   ${list(s.columns)}`, `    functions: ${list(s.functions)}`);
    if (s.secrets) lines.push(`    secrets:   ${list(s.secrets)} (granted by an allow pattern naming each exactly)`);
    if (s.masking) lines.push(`    masking:   ${maskingLine(s.masking)}`);
  }
  return lines.join('\n');
}
