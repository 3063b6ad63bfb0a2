/**
 * The 7.2.3 check of requirement 7 (checks-7.ts): approval requests, their approvers and uses, matched by
 * request id over the whole log so that a request filed before the period is still found. Pure.
 */
import type { AuditRecord } from '../../recorder/types.js';
import { count, detailOf, stringField } from './check-support.js';
import { csvFile } from './csv.js';
import type { ArtifactDraft, EvidenceInput, ProcedureResult } from './types.js';

const APPROVALS_CSV = 'req7/approvals.csv';
const TAMPER_CSV = 'req7/approval-tamper.csv';

interface ApprovalRow {
  id: string;
  kind: string;
  conn: string;
  requester?: AuditRecord;
  approvals: AuditRecord[];
  denial?: AuditRecord;
  expired?: AuditRecord;
  uses: AuditRecord[];
}

const samePerson = (a: AuditRecord['actor'], b: AuditRecord['actor']): boolean =>
  a !== undefined && b !== undefined && (a.sub === b.sub || (a.email !== undefined && b.email !== undefined && a.email.toLowerCase() === b.email.toLowerCase()));

/**
 * PCI DSS v4.0.1 7.2.3 (privileges approved by authorised personnel): separation of duties in the records
 * src/policy/approvals.ts writes — each `approval.approve` in the period by someone other than the person who
 * filed the `approval.request` it answers (same subject or same e-mail is the same person), never by a
 * workload identity, and each `approval.use` after the approval that made the request usable. Every
 * `approval.tamper` in the period (a request file put back behind the log, or renamed) is listed and makes the
 * procedure an exception: pcigate refused the file, but someone changed the approvals store outside pcigate,
 * and the assessor needs the entity's account of it (docs/evidence-bundle.md).
 */
export function approvalProcedure(input: EvidenceInput): { procedure: ProcedureResult; artifacts: ArtifactDraft[] } {
  // Requests are looked up over the whole log: a request filed before the period can be approved in it.
  const byId = new Map<string, ApprovalRow>();
  const row = (r: AuditRecord) => {
    const id = stringField(detailOf(r), 'id') ?? `seq ${r.seq}`;
    let a = byId.get(id);
    if (!a) { a = { id, kind: stringField(detailOf(r), 'kind') ?? '', conn: r.target?.conn ?? '', approvals: [], uses: [] }; byId.set(id, a); }
    return a;
  };
  const since = input.period.since;
  const until = input.period.until;
  // Findings about a file, not a request's step: detail.id is the file's name, which a renamed file does not hold.
  const tamper: AuditRecord[] = [];
  for (const { record: r } of input.records) {
    if (!r.type.startsWith('approval.') || r.ts > until) continue;
    if (r.type === 'approval.tamper') { if (r.ts >= since) tamper.push(r); continue; }
    const a = row(r);
    if (r.type === 'approval.request') a.requester = r;
    else if (r.type === 'approval.approve') a.approvals.push(r);
    else if (r.type === 'approval.deny') a.denial = r;
    else if (r.type === 'approval.expire') a.expired = r;
    else if (r.type === 'approval.use') a.uses.push(r);
  }
  const touched = [...byId.values()].filter((a) => [a.requester, ...a.approvals, a.denial, a.expired, ...a.uses].some((r) => r !== undefined && r.ts >= since && r.ts <= until));
  touched.sort((x, y) => (x.requester?.seq ?? x.approvals[0]?.seq ?? 0) - (y.requester?.seq ?? y.approvals[0]?.seq ?? 0) || (x.id < y.id ? -1 : 1));
  const self: string[] = [];
  const workload: string[] = [];
  const unmatched: string[] = [];
  const unapprovedUse: string[] = [];
  const rows: string[][] = [];
  let approvalsInPeriod = 0;
  for (const a of touched) {
    const req = a.requester;
    if (!req && a.approvals.length > 0) unmatched.push(a.id);
    const inPeriod = a.approvals.filter((r) => r.ts >= since);
    approvalsInPeriod += inPeriod.length;
    const sod = a.approvals.filter((r) => samePerson(r.actor, req?.actor));
    if (sod.some((r) => r.ts >= since)) self.push(a.id);
    if (a.approvals.some((r) => r.ts >= since && r.actor?.via === 'workload')) workload.push(a.id);
    const approvedAt = a.approvals.find((r) => detailOf(r).state === 'approved');
    const badUse = a.uses.filter((u) => u.ts >= since && (!approvedAt || approvedAt.seq > u.seq));
    if (badUse.length > 0) unapprovedUse.push(a.id);
    const state = a.uses.length ? 'used' : a.denial ? 'denied' : a.expired ? 'expired' : approvedAt ? 'approved' : 'pending';
    const problems = [
      ...(sod.length ? ['approved by the requester'] : []),
      ...(a.approvals.some((r) => r.actor?.via === 'workload') ? ['approved by a workload identity'] : []),
      ...(!req && a.approvals.length ? ['request not in the log'] : []),
      ...(badUse.length ? ['used before it was approved'] : []),
    ];
    rows.push([
      a.id, a.kind, a.conn, req?.actor?.sub ?? '', req?.ts ?? '', (req ? stringField(detailOf(req), 'rule') : undefined) ?? '',
      a.approvals.map((r) => r.actor?.sub ?? '?').join(' '), approvedAt?.ts ?? '', a.denial?.actor?.sub ?? '', state, String(a.uses.length),
      problems.length ? 'no' : 'yes', problems.join('; '),
    ]);
  }
  const artifact: ArtifactDraft = {
    path: APPROVALS_CSV,
    bytes: csvFile(['id', 'kind', 'connection', 'requester', 'requested', 'rule', 'approvers', 'approved', 'denied_by', 'state', 'uses', 'separation_of_duties', 'problems'], rows),
    mediaType: 'text/csv',
    description: 'Approval requests active in the period with requester, approvers, decision and uses (approval.request/approve/deny/expire/use records)',
    procedures: ['7.2.3'],
    method: 'TEST',
  };
  const field = (r: AuditRecord, k: string) => { const v = detailOf(r)[k]; return typeof v === 'string' || typeof v === 'number' ? String(v) : ''; };
  const tamperArtifact: ArtifactDraft = {
    path: TAMPER_CSV,
    bytes: csvFile(['seq', 'ts', 'id', 'file', 'connection', 'finding', 'file_state', 'logged_state', 'logged_type', 'logged_seq', 'holds'], tamper.map((r) => [
      String(r.seq), r.ts, field(r, 'id'), field(r, 'file'), r.target?.conn ?? '', field(r, 'finding'),
      field(r, 'file_state'), field(r, 'logged_state'), field(r, 'logged_type'), field(r, 'logged_seq'), field(r, 'holds'),
    ])),
    mediaType: 'text/csv',
    description: 'Approval request files pcigate refused in the period as handled outside it (approval.tamper records): an old copy put back behind the audit log, or a file renamed',
    procedures: ['7.2.3'],
    method: 'TEST',
  };
  const tamperIds = [...new Set(tamper.map((r) => `${field(r, 'id') || `seq ${r.seq}`} (${field(r, 'finding') || 'finding not named'})`))];
  const violations = self.length + workload.length + unapprovedUse.length + tamper.length;
  const named = [
    ...(self.length ? [`approved by their own requester: ${self.join(', ')}`] : []),
    ...(workload.length ? [`approved by a workload identity: ${workload.join(', ')}`] : []),
    ...(unapprovedUse.length ? [`used without a prior approval: ${unapprovedUse.join(', ')}`] : []),
    ...(tamper.length ? [`${count(tamper.length, 'request file')} refused as handled outside pcigate (approval.tamper; refused, not used): ${tamperIds.join(', ')}`] : []),
  ];
  const status = violations > 0 ? 'exception' : touched.length === 0 ? 'manual' : 'evidence';
  return {
    artifacts: [artifact, tamperArtifact],
    procedure: {
      id: '7.2.3',
      title: 'Privileges are approved by authorised personnel',
      asks: 'Required privileges are approved by authorised personnel, and the approver is not the person who asks for them.',
      checked: 'Every approval.approve and approval.use record in the period against the approval.request it answers (matched by request id over the whole log): approver ≠ requester by subject or e-mail, no workload approver, no use before the approval; and no approval.tamper record (a request file put back or renamed outside pcigate) in the period.',
      status,
      result: touched.length === 0 && tamper.length === 0
        ? 'No approval requests in the period; nothing to test. The approval settings per connection are in the access model.'
        : `${count(touched.length, 'approval request')}, ${count(approvalsInPeriod, 'approval')} in the period; ${violations ? named.join('; ') : 'every approver differs from the requester and every use followed an approval'}${unmatched.length ? `; ${count(unmatched.length, 'approval')} whose request is not in the log (${unmatched.join(', ')})` : ''}.`,
      figures: { requests: touched.length, approvals: approvalsInPeriod, self_approvals: self.length, workload_approvals: workload.length, uses_without_approval: unapprovedUse.length, requests_not_in_log: unmatched.length, tamper_findings: tamper.length },
      evidence: [APPROVALS_CSV, TAMPER_CSV],
      limits: 'Covers per-statement and per-session approvals made in pcigate. Grants of the roles themselves (IdP group membership, changes to pcigate.yaml) are approved outside pcigate.',
    },
  };
}
