/**
 * A realistic BundleReport for the renderer tests (index.html, OSCAL): all four requirements, procedures in every
 * status, evidence refs assigned the way build.ts assigns them (EV-<procedures[0]>-NNN in bundle order), artifacts
 * with their real SHA-256, and record-derived text that carries markup, ampersands and quotes.
 */
import { createHash } from 'node:crypto';
import type { Artifact, ArtifactDraft, BundleReport, Manifest, ProcedureResult, Requirement } from '../../../src/evidence/types.js';

/** Text as it could come out of a log record (an actor's email, a SQL object name): every HTML special. */
export const HOSTILE = `"o'brien"<script>document.title='1'</script>@example.com & <b>co</b>`;

export const BUNDLE_ID = '3f0c9a5e-8b1d-4c2a-9e7f-1a2b3c4d5e6f';

type Draft = Omit<ArtifactDraft, 'bytes'> & { body: string };

const DRAFTS: Draft[] = [
  { path: 'verify-report.json', mediaType: 'application/json', method: 'TEST', procedures: ['10.3.2', '10.3.4'], description: 'pcigate verify over the whole log: chain, Merkle checkpoints, key epochs', body: '{"result":"warn","problems":[]}' },
  { path: 'config/effective-config.json', mediaType: 'application/json', method: 'EXAMINE', procedures: ['10.2.1', '3.4.1', '7.2.1', '8.2.8'], description: 'The effective configuration, secrets redacted', body: '{"audit":{"dir":"/var/lib/pcigate"}}' },
  { path: 'samples/pg.query.jsonl', mediaType: 'application/x-ndjson', method: 'EXAMINE', procedures: ['10.2.2', '10.2.1.1'], description: 'Sampled pg.query records, byte-identical to the log', body: '{"seq":12,"type":"pg.query"}\n' },
  { path: 'proofs/pg.query.json', mediaType: 'application/json', method: 'TEST', procedures: ['10.2.2'], description: 'RFC 6962 inclusion proofs of the pg.query samples', body: '{"checkpoint":{"size":40,"root":"ab"},"proofs":[]}' },
  { path: 'samples/policy.denied.jsonl', mediaType: 'application/x-ndjson', method: 'EXAMINE', procedures: ['10.2.2', '10.2.1.4'], description: `Sampled policy denials (actor ${HOSTILE})`, body: '{"seq":14,"type":"policy.denied"}\n' },
  { path: 'field-map.csv', mediaType: 'text/csv', method: 'EXAMINE', procedures: ['10.2.2'], description: 'Each 10.2.2 element mapped to the record field that carries it', body: 'element,field\nuser,actor.sub\n' },
  { path: 'stats/event-counts.csv', mediaType: 'text/csv', method: 'TEST', procedures: ['10.2.1'], description: 'Records per event type in the period', body: 'type,count\npg.query,31\n' },
  { path: 'gaps.csv', mediaType: 'text/csv', method: 'TEST', procedures: ['10.7.2', '10.2.1'], description: 'Logging gaps with start, end and cause', body: 'start,end,cause\n2026-11-20T10:00:00.000000Z,2026-11-20T10:04:00.000000Z,disk full\n' },
  { path: 'scan/pan-scan.csv', mediaType: 'text/csv', method: 'TEST', procedures: ['3.3.1', '3.5.1'], description: 'PAN and SAD scan over the log and recordings', body: 'file,pan,sad\nlog/000000000000.jsonl,0,0\n' },
  { path: 'access/access-model.csv', mediaType: 'text/csv', method: 'EXAMINE', procedures: ['7.2.1', '7.2.2'], description: 'Roles to connections to allowed statement classes', body: 'role,conn,classes\ndba,prod-db,all\n' },
  { path: 'access/approvals.csv', mediaType: 'text/csv', method: 'TEST', procedures: ['7.2.3'], description: 'Held statements with requester and approver', body: 'id,requester,approver\nA-1,ana,ana\n' },
  { path: 'identities/last-use.csv', mediaType: 'text/csv', method: 'TEST', procedures: ['8.2.6', '7.2.4'], description: 'Last use per identity', body: 'sub,last\nana,2026-11-20\n' },
  { path: 'identities/mfa.csv', mediaType: 'text/csv', method: 'TEST', procedures: ['8.4.2'], description: 'Sessions by amr', body: 'amr,sessions\nmfa,7\npwd,2\n' },
];

function proc(
  id: string, title: string, status: ProcedureResult['status'], result: string, evidence: string[],
  figures: ProcedureResult['figures'] = {},
): ProcedureResult {
  return {
    id, title, status, result, evidence, figures,
    asks: `Paraphrase of what ${id} asks.`,
    checked: `The records and settings pcigate read for ${id}.`,
    limits: 'Sessions that bypass pcigate are not in the log.',
  };
}

const SECTIONS: Array<{ requirement: Requirement; title: string; procedures: ProcedureResult[] }> = [
  {
    requirement: '3', title: 'Protect stored account data',
    procedures: [
      proc('3.3.1', 'No sensitive authentication data is kept after authorization', 'evidence', 'No track data, CVV or PIN block in 3 log segments and 4 recordings.', ['scan/pan-scan.csv'], { files: 7, sad: 0 }),
      proc('3.4.1', 'PAN is masked when displayed', 'evidence', 'Masking keeps at most the BIN and last four; 1 role may unmask.', ['config/effective-config.json'], { unmask_roles: 1, masked_values: 42 }),
      proc('3.5.1', 'PAN is unreadable wherever it is stored', 'exception', 'One export holds a full PAN: examine it.', ['scan/pan-scan.csv'], { full_pan: 1 }),
    ],
  },
  {
    requirement: '7', title: 'Restrict access to system components and cardholder data by business need to know',
    procedures: [
      proc('7.2.1', 'An access-control model is defined', 'evidence', 'The policy maps 3 roles to 2 connections.', ['access/access-model.csv', 'config/effective-config.json'], { roles: 3 }),
      proc('7.2.2', 'Access is assigned by job function', 'evidence', '3 roles with distinct allowed classes.', ['access/access-model.csv']),
      proc('7.2.3', 'Privileges are approved by authorised personnel', 'exception', `1 approval where the approver is the requester (${HOSTILE}).`, ['access/approvals.csv'], { approvals: 4, self_approved: 1 }),
      proc('7.2.4', 'Accounts and privileges are reviewed every six months', 'manual', 'pcigate lists who used what; the review and its sign-off are the entity\'s.', ['identities/last-use.csv']),
    ],
  },
  {
    requirement: '8', title: 'Identify users and authenticate access to system components',
    procedures: [
      proc('8.2.1', 'Every user has a unique ID', 'evidence', 'All 9 sessions carry an IdP identity.', ['samples/pg.query.jsonl'], { sessions: 9, anonymous: 0 }),
      proc('8.2.6', 'Inactive accounts are disabled within 90 days', 'evidence', 'No identity idle more than 90 days.', ['identities/last-use.csv'], { idle_over_90: 0 }),
      proc('8.2.8', 'Idle sessions re-authenticate after 15 minutes', 'exception', 'The idle timeout is 30 minutes.', ['config/effective-config.json'], { idle_timeout_minutes: 30 }),
      proc('8.4.2', 'MFA for all access into the CDE', 'exception', '7 of 9 sessions (77.8%) carry an MFA claim.', ['identities/mfa.csv'], { sessions: 9, mfa: 7, share: 0.778 }),
      proc('8.5.1', 'MFA cannot be bypassed', 'manual', 'The IdP\'s MFA configuration is outside pcigate.', []),
    ],
  },
  {
    requirement: '10', title: 'Log and monitor all access to system components and cardholder data',
    procedures: [
      proc('10.2.1', 'Audit logs are enabled and active', 'exception', 'Logging was active except for one gap of 4 minutes (disk full).', ['config/effective-config.json', 'stats/event-counts.csv', 'gaps.csv'], { gaps: 1, checkpoints: 12 }),
      proc('10.2.1.1', 'Individual user access to cardholder data is logged', 'evidence', '31 queries on cardholder tables, each with its actor.', ['samples/pg.query.jsonl'], { records: 31 }),
      proc('10.2.1.4', 'Invalid logical access attempts are logged', 'evidence', `2 policy denials, e.g. by ${HOSTILE}.`, ['samples/policy.denied.jsonl'], { denied: 2, first_actor: HOSTILE, last: null, complete: true }),
      proc('10.2.2', 'Each record carries the required details', 'evidence', 'All 40 records carry the six elements.', ['field-map.csv', 'samples/pg.query.jsonl', 'proofs/pg.query.json', 'samples/policy.denied.jsonl'], { records: 40, missing_any: 0 }),
      proc('10.3.2', 'Log files are protected against modification', 'evidence', 'The chain and 12 signed checkpoints verify.', ['verify-report.json']),
      proc('10.3.4', 'Changes to logs raise alerts', 'evidence', 'verify found no modification.', ['verify-report.json']),
      proc('10.4.1', 'Logs are reviewed at least daily', 'manual', 'Daily review is a process pcigate cannot observe.', []),
      proc('10.7.2', 'Failures of critical security controls are detected', 'exception', 'One logging failure: 2026-11-20 10:00 to 10:04, disk full.', ['gaps.csv'], { gaps: 1 }),
    ],
  },
];

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

/** The fixture's artifacts with their reference ids (numbered per first procedure, in bundle order). */
export function fixtureArtifacts(): Artifact[] {
  const counters = new Map<string, number>();
  return DRAFTS.map(({ body, ...d }) => {
    const key = d.procedures[0]!;
    const n = (counters.get(key) ?? 0) + 1;
    counters.set(key, n);
    return { ...d, ref: `EV-${key}-${String(n).padStart(3, '0')}`, sha256: sha(body), size: Buffer.byteLength(body) };
  });
}

export function reportFixture(): BundleReport {
  const artifacts = fixtureArtifacts();
  const byPath = new Map(artifacts.map((a) => [a.path, a.ref]));
  return {
    bundle_id: BUNDLE_ID,
    tool: { name: 'pcigate', version: '0.1.0' },
    standard: 'PCI DSS v4.0.1',
    generated: '2026-11-22T06:30:00.123456Z',
    period: { since: '2026-11-01T00:00:00.000000Z', until: '2026-11-21T23:59:59.999999Z' },
    origin: 'pcigate.example.com/prod',
    requirements: ['3', '7', '8', '10'],
    log: { records: 40, first_seq: 3, last_seq: 42 },
    verify: { result: 'warn', problems: 1 },
    sections: SECTIONS.map((s) => ({
      ...s,
      procedures: s.procedures.map((p) => ({ ...p, evidence_refs: p.evidence.map((e) => byPath.get(e)!) })),
    })),
    artifacts,
  };
}

export function manifestFixture(): Pick<Manifest, 'bundle_id' | 'checkpoints'> {
  return {
    bundle_id: BUNDLE_ID,
    checkpoints: [
      { size: 20, root: 'a'.repeat(64), time: '2026-11-10T00:00:00.000000Z', epoch: 0, note: 'pcigate.example.com/prod\n20\nqqo=\n\n— pcigate sig\n' },
      { size: 43, root: 'b'.repeat(64), time: '2026-11-22T00:00:00.000000Z', epoch: 1, note: 'pcigate.example.com/prod\n43\nu7s=\n\n— pcigate sig\n' },
    ],
  };
}
