/**
 * Requirement 7 of PCI DSS v4.0.1 (restrict access by business need to know), as pcigate evidences it
 * (../shared/PCI.md "Requirement 7"):
 * - 7.2.1 / 7.2.2: the access-control model exported from the policy (access-model.ts);
 * - 7.2.3: approvals — every `approval.approve` by someone other than the requester, every `approval.use`
 *   after an approval, every approval.tamper listed (approvals-check.ts);
 * - 7.2.4: an access review (who used what, last use) for the periodic review and its sign-off;
 * - 7.2.5: the accounts pcigate uses on its targets, superusers and root flagged (service-accounts.ts);
 * - 7.2.6: every statement that ran through the Postgres proxy has a recorded policy decision (`pg.intent`
 *   before it ran, or `pg.query` with outcome `denied` and the rule).
 * Pure: a function of the EvidenceInput.
 */
import type { AuditRecord } from '../../recorder/types.js';
import type { PcigateConfig } from '../config/schema.js';
import { matchRoles } from '../policy/evaluate.js';
import { accessModelCsv, accessModelRows, rolesCsv } from './access-model.js';
import { approvalProcedure } from './approvals-check.js';
import { actorKey, cellList, configOf, count, day, detailOf, noConfigReason, stringField } from './check-support.js';
import { csvFile } from './csv.js';
import { serviceAccountProcedure } from './service-accounts.js';
import type { ArtifactDraft, EvidenceInput, ProcedureResult, RequirementCheck } from './types.js';

const MODEL_CSV = 'req7/access-model.csv';
const ROLES_CSV = 'req7/roles.csv';
const DECISIONS_CSV = 'req7/query-decisions.csv';
const REVIEW_CSV = 'req7/access-review.csv';

const BYPASS = 'Access that does not pass through pcigate (direct database or SSH connections) is invisible here; evidence that only pcigate reaches the cardholder data environment\'s ports (network rules, Postgres log_connections/pgaudit) closes that gap.';

/** 7.2.1 and 7.2.2 from the configuration. */
function modelProcedures(input: EvidenceInput, cfg: PcigateConfig): { procedures: ProcedureResult[]; artifacts: ArtifactDraft[] } {
  const rows = accessModelRows(cfg);
  const conns = Object.keys(cfg.connections).length;
  const grants = rows.filter((r) => r[1] === 'postgres' && !r[3]!.startsWith('('));
  const broad = grants.filter((r) => /\b(ddl|dcl)\b/.test(r[6]!)).map((r) => `${r[3]}@${r[0]}`);
  const undefinedRoles = [...new Set(grants.filter((r) => r[4]!.startsWith('(role not defined')).map((r) => r[3]!))];
  const noPolicy = rows.filter((r) => r[2] === '(none)').map((r) => r[0]!);
  const artifacts: ArtifactDraft[] = [
    { path: MODEL_CSV, bytes: accessModelCsv(cfg), mediaType: 'text/csv', description: 'Access-control model: per connection and role, the statement classes allowed, held for approval and denied, tables, columns, unmask and approvers; SSH permissions per connection', procedures: ['7.2.1', '7.2.2'], method: 'EXAMINE' },
    { path: ROLES_CSV, bytes: rolesCsv(cfg), mediaType: 'text/csv', description: 'Role definitions: identity groups and subjects holding each role and the connections it has grants on', procedures: ['7.2.2', '7.2.1'], method: 'EXAMINE' },
  ];
  const figures = { connections: conns, role_grants: grants.length, roles: Object.keys(cfg.policy.roles).length, connections_without_policy: noPolicy.length, grants_with_ddl_or_dcl: broad.length, roles_undefined: undefinedRoles.length };
  return {
    artifacts,
    procedures: [
      {
        id: '7.2.1',
        title: 'An access-control model is defined',
        asks: 'An access-control model covers all system components and access to cardholder data, granting access by need.',
        checked: `The policy and connections sections of ${input.config.source}, rendered by the rules pcigate's policy engine applies.`,
        status: conns > 0 ? 'evidence' : 'manual',
        result: conns > 0
          ? `${count(conns, 'connection')} with ${count(grants.length, 'role grant')}; ${noPolicy.length ? `no policy (everything denied): ${noPolicy.join(', ')}` : 'every Postgres connection has a policy entry'}; identities without a role grant are denied.`
          : 'No connections are configured: pcigate grants no access to anything.',
        figures,
        evidence: [MODEL_CSV, ROLES_CSV],
        limits: 'Covers the components reached through pcigate. Systems and accounts managed elsewhere need their own model.',
      },
      {
        id: '7.2.2',
        title: 'Access is assigned by job function with least privilege',
        asks: 'Access for users, including privileged users, is assigned by job classification and function with the least privileges needed.',
        checked: `Role membership (groups and subjects) and each role's grants in ${input.config.source}.`,
        status: 'evidence',
        result: `${count(Object.keys(cfg.policy.roles).length, 'role')} defined; ${broad.length ? `DDL or DCL allowed without approval for ${broad.join(', ')}` : 'no role may run DDL or DCL without an approval'}${undefinedRoles.length ? `; grants for undefined roles (nobody holds them): ${undefinedRoles.join(', ')}` : ''}.`,
        figures,
        evidence: [ROLES_CSV, MODEL_CSV],
        limits: 'Whether each role matches a job function, and who is in each IdP group, are for the assessor to examine with the entity\'s role descriptions and the IdP\'s group membership.',
      },
    ],
  };
}

/** Cardholder tables named in the configuration (masking rules by table, approval tables), as lower-case last parts. */
function cardholderTables(cfg: PcigateConfig): string[] {
  const out = new Set<string>();
  for (const r of cfg.masking.rules) {
    for (const c of r.columns) {
      const parts = c.split('.');
      if (parts.length >= 2) out.add(parts[parts.length - 2]!.toLowerCase());
    }
  }
  for (const cp of Object.values(cfg.policy.connections)) {
    for (const g of Object.values(cp.roles)) for (const t of g.approval_tables) out.add(t.split('.').pop()!.toLowerCase());
  }
  return [...out].filter((t) => !/[*?]/.test(t)).sort();
}

/** 7.2.6: a decision recorded for every statement that ran. */
function decisionProcedure(input: EvidenceInput, cfg: PcigateConfig | undefined): { procedure: ProcedureResult; artifact: ArtifactDraft } {
  const chd = cfg ? cardholderTables(cfg) : [];
  const chdRe = chd.length ? new RegExp(`\\b(${chd.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})\\b`, 'i') : undefined;
  interface Row { statements: number; allowed: number; denied: number; undecided: number; chd: number; chdUndecided: number }
  const perConn = new Map<string, Row>();
  const undecided: number[] = [];
  const inPeriod = new Set(input.inPeriod.map((r) => r.record.seq));
  // One pass in seq order: intents by seq, and the latest intent per (session, statement number) for records
  // written before pg.query carried intent_seq.
  const bySeq = new Map<number, AuditRecord>();
  const latest = new Map<string, AuditRecord>();
  for (const { record: r } of input.records) {
    if (r.type === 'pg.intent') {
      bySeq.set(r.seq, r);
      latest.set(`${r.session ?? ''}\u0000${String(detailOf(r).n)}`, r);
      continue;
    }
    if (r.type !== 'pg.query' || !inPeriod.has(r.seq)) continue;
    const d = detailOf(r);
    const conn = r.target?.conn ?? '';
    let row = perConn.get(conn);
    if (!row) { row = { statements: 0, allowed: 0, denied: 0, undecided: 0, chd: 0, chdUndecided: 0 }; perConn.set(conn, row); }
    row.statements++;
    const isChd = chdRe?.test(stringField(d, 'sql') ?? '') === true;
    if (isChd) row.chd++;
    if (r.outcome === 'denied') {
      if (stringField(d, 'rule')) { row.denied++; continue; }
    } else {
      const intent = 'intent_seq' in d
        ? (typeof d.intent_seq === 'number' ? bySeq.get(d.intent_seq) : undefined)
        : latest.get(`${r.session ?? ''}\u0000${String(d.n)}`);
      if (intent && intent.session === r.session && intent.seq < r.seq) { row.allowed++; continue; }
    }
    row.undecided++;
    if (isChd) row.chdUndecided++;
    undecided.push(r.seq);
  }
  // Held statements: approval requests on the Postgres connections seen (SSH commands are held the same way).
  const held = input.inPeriod.filter((r) => r.record.type === 'approval.request' && detailOf(r.record).kind !== 'session' && perConn.has(r.record.target?.conn ?? '')).length;
  const total = [...perConn.values()].reduce((a, r) => ({ statements: a.statements + r.statements, allowed: a.allowed + r.allowed, denied: a.denied + r.denied, chd: a.chd + r.chd }), { statements: 0, allowed: 0, denied: 0, chd: 0 });
  const artifact: ArtifactDraft = {
    path: DECISIONS_CSV,
    bytes: csvFile(['connection', 'statements', 'ran_after_recorded_allow', 'denied_with_rule', 'without_recorded_decision', 'naming_cardholder_tables', 'cardholder_without_decision'],
      [...perConn].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([c, r]) => [c, r.statements, r.allowed, r.denied, r.undecided, r.chd, r.chdUndecided].map(String))),
    mediaType: 'text/csv',
    description: `Policy decisions recorded for Postgres statements in the period, per connection${chd.length ? ` (cardholder tables from the configuration: ${chd.join(', ')})` : ''}`,
    procedures: ['7.2.6'],
    method: 'TEST',
  };
  const shown = undecided.slice(0, 10).join(', ') + (undecided.length > 10 ? ', …' : '');
  return {
    artifact,
    procedure: {
      id: '7.2.6',
      title: 'Queries of cardholder data go through programmatic, role-based access',
      asks: 'All user access to query repositories of stored cardholder data goes through programmatic methods with role-based allowed actions; only responsible administrators query them directly.',
      checked: 'Every pg.query record of the period: a statement that ran must follow its pg.intent (written only after policy allowed it, matched by intent_seq), a refused one must carry the policy rule that denied it.'
        + (chd.length ? ` Statements naming the cardholder tables of the configuration (${chd.join(', ')}) are counted separately.` : ''),
      status: undecided.length > 0 ? 'exception' : total.statements === 0 ? 'manual' : 'evidence',
      result: total.statements === 0
        ? 'No Postgres statements in the period; nothing to test.'
        : `${count(total.statements, 'statement')} on ${count(perConn.size, 'connection')} (${total.chd} naming cardholder tables): ${total.allowed} ran after a recorded allow, ${total.denied} denied by a named rule, ${held} held for approval; ${undecided.length ? `${count(undecided.length, 'statement')} without a recorded decision (seq ${shown})` : 'none without a recorded decision'}.`,
      figures: { statements: total.statements, allowed: total.allowed, denied: total.denied, held_for_approval: held, without_decision: undecided.length, cardholder_statements: total.chd },
      evidence: [DECISIONS_CSV, MODEL_CSV],
      limits: `${BYPASS} Cardholder tables are recognised by name in the recorded SQL (views and functions over them are not).`,
    },
  };
}

/** 7.2.4: who used what, last use. */
function reviewProcedure(input: EvidenceInput, cfg: PcigateConfig | undefined): { procedure: ProcedureResult; artifact: ArtifactDraft } {
  interface Use { actor: NonNullable<AuditRecord['actor']>; conns: Set<string>; sessions: number; statements: number; commands: number; denials: number; first: string; last: string }
  const uses = new Map<string, Use>();
  for (const { record: r } of input.inPeriod) {
    const a = r.actor;
    if (!a || a.via === 'system') continue;
    const key = actorKey(a);
    let u = uses.get(key);
    if (!u) { u = { actor: a, conns: new Set(), sessions: 0, statements: 0, commands: 0, denials: 0, first: r.ts, last: r.ts }; uses.set(key, u); }
    u.actor = { ...u.actor, ...a };
    u.last = r.ts;
    if (r.target?.conn) u.conns.add(r.target.conn);
    if (r.type === 'session.start' && r.outcome === 'success') u.sessions++;
    if (r.type === 'pg.intent') u.statements++;
    if (r.type === 'ssh.exec' && r.outcome === 'success') u.commands++;
    if (r.outcome === 'denied') u.denials++;
  }
  const rows = [...uses.values()].sort((x, y) => (x.actor.sub < y.actor.sub ? -1 : x.actor.sub > y.actor.sub ? 1 : 0)).map((u) => [
    u.actor.sub, u.actor.email ?? '', u.actor.idp ?? '', u.actor.via, cellList(u.actor.groups ?? []),
    cfg ? cellList(matchRoles(cfg.policy, { sub: u.actor.sub, ...(u.actor.email ? { email: u.actor.email } : {}), groups: u.actor.groups ?? [], via: u.actor.via })) : '',
    cellList(u.conns), String(u.sessions), String(u.statements), String(u.commands), String(u.denials), u.first, u.last,
  ]);
  const artifact: ArtifactDraft = {
    path: REVIEW_CSV,
    bytes: csvFile(['sub', 'email', 'idp', 'via', 'groups', 'roles', 'connections', 'sessions', 'statements', 'commands', 'denials', 'first_use', 'last_use'], rows),
    mediaType: 'text/csv',
    description: 'Access review: per identity in the period, its roles, the connections used, sessions, statements, commands, denials, first and last use',
    procedures: ['7.2.4'],
    method: 'EXAMINE',
  };
  const sessions = [...uses.values()].reduce((n, u) => n + u.sessions, 0);
  return {
    artifact,
    procedure: {
      id: '7.2.4',
      title: 'User accounts and privileges are reviewed',
      asks: 'All user accounts and their privileges are reviewed at least every six months, and inappropriate access is addressed and the review acknowledged by management.',
      checked: 'Every record of the period with an actor (system actions left out), grouped by identity; roles from the current policy.',
      status: 'manual',
      result: `Access review for ${count(uses.size, 'identity', 'identities')} with ${count(sessions, 'session')} from ${day(input.period.since)} to ${day(input.period.until)}; the review itself, its decisions and management's acknowledgement are the entity's.`,
      figures: { identities: uses.size, sessions },
      evidence: [REVIEW_CSV, ROLES_CSV],
      limits: `${BYPASS} Identities that hold a role but did not use pcigate in the period appear only in the role definitions.`,
    },
  };
}

const manual = (id: string, title: string, asks: string, why: string): ProcedureResult => ({
  id, title, asks, checked: 'Nothing: the configuration is needed for this procedure.', status: 'manual', result: `Not checked: ${why}.`, figures: {}, evidence: [], limits: 'Examine the policy by hand.',
});

/** Requirement 7 checks (PCI DSS v4.0.1 7.2.1, 7.2.2, 7.2.3, 7.2.4, 7.2.5, 7.2.6). */
export const checks7: RequirementCheck = (input) => {
  const cfg = configOf(input.config);
  const procedures: ProcedureResult[] = [];
  const artifacts: ArtifactDraft[] = [];
  if (cfg) {
    const m = modelProcedures(input, cfg);
    procedures.push(...m.procedures);
    artifacts.push(...m.artifacts);
  } else {
    const why = noConfigReason(input.config);
    procedures.push(
      manual('7.2.1', 'An access-control model is defined', 'An access-control model covers all system components and access to cardholder data, granting access by need.', why),
      manual('7.2.2', 'Access is assigned by job function with least privilege', 'Access for users, including privileged users, is assigned by job classification and function with the least privileges needed.', why),
    );
  }
  const approvals = approvalProcedure(input);
  const review = reviewProcedure(input, cfg);
  const accounts = serviceAccountProcedure(input);
  const decisions = decisionProcedure(input, cfg);
  procedures.push(approvals.procedure, review.procedure, accounts.procedure, decisions.procedure);
  artifacts.push(...approvals.artifacts, review.artifact, accounts.artifact, decisions.artifact);
  if (!cfg) decisions.procedure.evidence = decisions.procedure.evidence.filter((p) => p !== MODEL_CSV);
  return { requirement: '7', title: 'Restrict access to system components and cardholder data by business need to know', procedures, artifacts };
};
