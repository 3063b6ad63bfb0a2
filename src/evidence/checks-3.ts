/**
 * Requirement 3 of PCI DSS v4.0.1 (protect stored account data), as far as a session broker can evidence
 * it (../shared/PCI.md "Requirement 3"):
 * - 3.3.1 / 3.5.1: no sensitive authentication data and no full PAN in what pcigate stores — the
 *   `pcigate scan` detector over every log line, every recording and every recorded export still in place
 *   (stored-scan.ts);
 * - 3.4.1: the display masking configured (at most BIN + last four), the roles that may unmask, and the
 *   masked-value counts the log records;
 * - 3.4.2: who may copy data out through pcigate (COPY TO STDOUT, sftp, scp, port forwarding) and the
 *   attempts the log shows.
 * Pure: a function of the EvidenceInput. Findings name file, seq, line and column and carry the value
 * masked to its last four digits at most — never a PAN.
 */
import type { AuditRecord } from '../../recorder/types.js';
import type { PcigateConfig } from '../config/schema.js';
import { SAD_COLUMN_NAMES } from '../mask/column-rules.js';
import { configOf, count, detailOf, noConfigReason, objectField, stringField } from './check-support.js';
import { copyAttempt, copyControlRows } from './copy-controls.js';
import { csvFile } from './csv.js';
import { storedDataProcedures } from './stored-scan.js';
import type { ArtifactDraft, EvidenceInput, ProcedureResult, RequirementCheck } from './types.js';

const MASKING_CSV = 'req3/masking-config.csv';
const MASKED_CSV = 'req3/masked-counts.csv';
const COPY_CSV = 'req3/copy-controls.csv';
const COPY_LOG_CSV = 'req3/copy-attempts.csv';

/** What each mask format leaves readable, and whether that is within BIN + last four (3.4.1). */
const SHOWS: Record<string, { shows: string; within: boolean }> = {
  last4: { shows: 'last 4 digits', within: true },
  first6last4: { shows: 'BIN (first 6) and last 4 digits', within: true },
  full: { shows: 'no digits', within: true },
  hmac: { shows: 'a keyed HMAC-SHA256 token, no digits', within: true },
  null: { shows: 'nothing (SQL NULL)', within: true },
  clear: { shows: 'the full PAN', within: false },
};

/** 3.4.1: configured display formats, unmask grants, masked counts. */
function maskingProcedure(input: EvidenceInput, cfg: PcigateConfig): { procedure: ProcedureResult; artifacts: ArtifactDraft[] } {
  const m = cfg.masking;
  const rows: string[][] = [];
  const formatRow = (scope: string, name: string, columns: string, format: string) => {
    const s = SHOWS[format] ?? { shows: `unknown format ${format} (ignored by the masker: the configured format applies)`, within: true };
    rows.push([scope, name, columns, format, s.shows, s.within ? 'yes' : 'no']);
    return s.within;
  };
  let beyond = 0;
  if (!formatRow('PANs found by content', 'pan', '*', m.format)) beyond++;
  for (const r of m.rules) if (!formatRow('column rule', r.name ?? r.columns[0]!, r.columns.join(' '), r.format)) beyond++;
  rows.push(['sensitive authentication data columns', 'sad', [...SAD_COLUMN_NAMES, ...m.sad_columns].join(' '), 'full', 'no digits (always, also under an unmask grant)', 'yes']);
  const unmask: string[] = [];
  const clear: string[] = [];
  for (const key of Object.keys(cfg.policy.connections).sort()) {
    const roles = cfg.policy.connections[key]!.roles;
    for (const role of Object.keys(roles).sort()) {
      const u = roles[role]!.unmask;
      if (u === 'none') continue;
      unmask.push(`${role}@${key}`);
      if (u === 'clear') clear.push(`${role}@${key}`);
      formatRow('unmask grant (policy)', `${role} on ${key}`, '*', u);
    }
  }
  const masking: ArtifactDraft = {
    path: MASKING_CSV,
    bytes: csvFile(['scope', 'name', 'columns', 'format', 'shows', 'within_bin_and_last4'], rows),
    mediaType: 'text/csv',
    description: 'Display masking of PAN: the configured formats (content, column rules, SAD columns) and the unmask grants per role and connection',
    procedures: ['3.4.1'],
    method: 'EXAMINE',
  };

  // Masked counts: a session's session.end total where it has one, else the sum of its pg.query counts;
  // `pcigate exec -- CMD` adds what it masked on the command's terminal output (exec.end).
  interface Entry { session: string; conn: string; kind: string; actor: string; source: string; end?: Record<string, number>; queries: Record<string, number> }
  const bySession = new Map<string, Entry>();
  const add = (into: Record<string, number>, from: Record<string, unknown>) => {
    for (const [k, v] of Object.entries(from)) if (typeof v === 'number' && v > 0) into[k] = (into[k] ?? 0) + v;
  };
  for (const { record: r } of input.inPeriod) {
    if (r.type !== 'session.end' && r.type !== 'pg.query' && r.type !== 'exec.end') continue;
    const masked = objectField(detailOf(r), 'masked');
    const session = r.session ?? `seq ${r.seq}`;
    const key = r.type === 'exec.end' ? `${session}\u0000exec` : session;
    let s = bySession.get(key);
    if (!s) {
      s = { session, conn: r.target?.conn ?? '', kind: r.type === 'exec.end' ? 'exec' : r.target?.kind ?? '', actor: r.actor?.sub ?? '', source: r.type === 'exec.end' ? 'exec.end' : 'session.end', queries: {} };
      bySession.set(key, s);
    }
    if (r.type === 'pg.query') add(s.queries, masked);
    else if (Object.keys(masked).length > 0) add((s.end ??= {}), masked);
  }
  const totals: Record<string, number> = {};
  const countRows: string[][] = [];
  for (const [, s] of [...bySession].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const counts = s.end ?? s.queries;
    for (const rule of Object.keys(counts).sort()) {
      countRows.push([s.session, s.conn, s.kind, s.actor, rule, String(counts[rule]), s.end ? s.source : 'pg.query']);
      totals[rule] = (totals[rule] ?? 0) + counts[rule]!;
    }
  }
  const maskedSessions = new Set(countRows.map((r) => r[0])).size;
  const total = Object.values(totals).reduce((a, b) => a + b, 0);
  const counts: ArtifactDraft = {
    path: MASKED_CSV,
    bytes: csvFile(['session', 'connection', 'kind', 'actor', 'rule', 'masked', 'source'], countRows),
    mediaType: 'text/csv',
    description: 'Values masked by pcigate per session and masking rule in the period (from session.end, pg.query and exec.end records)',
    procedures: ['3.4.1'],
    method: 'TEST',
  };
  const byRule = Object.keys(totals).sort().map((k) => `${k} ${totals[k]}`).join(', ');
  return {
    artifacts: [masking, counts],
    procedure: {
      id: '3.4.1',
      title: 'PAN is masked when displayed',
      asks: 'PAN is masked when displayed so that only people with a documented business need see more than the BIN and last four digits.',
      checked: `The masking section of ${input.config.source} (content format, ${count(m.rules.length, 'column rule')}, SAD columns), the policy's unmask grants per role, and the masked counts in session.end, pg.query and exec.end records of the period.`,
      status: beyond > 0 ? 'exception' : 'evidence',
      result: `Display format ${m.format} (${SHOWS[m.format]?.shows ?? m.format}); ${beyond > 0 ? `${count(beyond, 'configured format')} reveal more than BIN and last four` : 'no configured format reveals more than BIN and last four'}; `
        + `${unmask.length ? `unmask grants: ${unmask.join(', ')}${clear.length ? ` (full PAN: ${clear.join(', ')} — their business need must be documented)` : ''}` : 'no role may unmask'}; `
        + `${total} values masked in ${count(maskedSessions, 'session')} in the period${byRule ? ` (${byRule})` : ''}.`,
      figures: { display_format: m.format, column_rules: m.rules.length, formats_beyond_bin_last4: beyond, unmask_grants: unmask.length, full_pan_grants: clear.length, masked_total: total, masked_sessions: maskedSessions },
      evidence: [MASKING_CSV, MASKED_CSV],
      limits: 'Covers what is displayed through pcigate. Applications and reports that read the database directly mask (or not) on their own. The business justification for each unmask grant is a document the entity keeps.',
    },
  };
}

/** 3.4.2: copy paths per connection and who may use them; attempts in the log. */
function copyProcedure(input: EvidenceInput, cfg: PcigateConfig): { procedure: ProcedureResult; artifacts: ArtifactDraft[] } {
  const controls = copyControlRows(cfg);
  const open = controls.filter((c) => c.unrestricted);
  const authorised = controls.filter((c) => c.decision !== 'denied' && !c.unrestricted);
  const attempts: Array<{ r: AuditRecord; channel: string }> = [];
  for (const { record: r } of input.inPeriod) {
    const channel = copyAttempt(r);
    if (channel) attempts.push({ r, channel });
  }
  const denied = attempts.filter((a) => a.r.outcome === 'denied');
  const done = attempts.filter((a) => a.r.outcome === 'success');
  const controlsCsv: ArtifactDraft = {
    path: COPY_CSV,
    bytes: csvFile(['connection', 'kind', 'who', 'channel', 'decision', 'rule', 'open_to_every_identity'], controls.map((c) => [c.connection, c.kind, c.who, c.channel, c.decision, c.rule, c.unrestricted ? 'yes' : 'no'])),
    mediaType: 'text/csv',
    description: 'Copy and relocation paths through pcigate (COPY TO STDOUT, sftp, scp/rsync downloads, port forwarding) per connection and role, as the policy decides them',
    procedures: ['3.4.2'],
    method: 'EXAMINE',
  };
  const attemptsCsv: ArtifactDraft = {
    path: COPY_LOG_CSV,
    bytes: csvFile(['ts', 'seq', 'session', 'actor', 'connection', 'channel', 'outcome', 'rule'], attempts.map(({ r, channel }) => [
      r.ts, String(r.seq), r.session ?? '', r.actor?.sub ?? '', r.target?.conn ?? '', channel, r.outcome ?? '', stringField(detailOf(r), 'rule') ?? '',
    ])),
    mediaType: 'text/csv',
    description: 'Attempts to copy data out through pcigate in the period (allowed and denied), and to store masked values elsewhere in the database (refused: masking.stored_values), from pg.query, ssh.request and ssh.exec records',
    procedures: ['3.4.2'],
    method: 'TEST',
  };
  const openText = open.map((c) => `${c.channel} on ${c.connection}`).join(', ');
  return {
    artifacts: [controlsCsv, attemptsCsv],
    procedure: {
      id: '3.4.2',
      title: 'Remote access cannot copy PAN without authorization',
      asks: 'When personnel use remote-access technologies, technical controls prevent copying or relocating PAN unless a person is explicitly authorised.',
      checked: `The copy paths of ${count(Object.keys(cfg.connections).length, 'connection')} under the policy in ${input.config.source} (decided by pcigate's own rules), and copy attempts in pg.query, ssh.request and ssh.exec records of the period.`,
      status: open.length > 0 ? 'exception' : 'evidence',
      result: `${open.length > 0 ? `Open to every identity on the connection: ${openText}. ` : 'No copy path is open to every identity. '}`
        + `${count(authorised.length, 'role grant')} allowing or holding a copy path for named roles; in the period ${count(denied.length, 'copy attempt')} denied, ${done.length} allowed.`,
      figures: { copy_paths: controls.length, open_to_everyone: open.length, role_grants: authorised.length, attempts_denied: denied.length, attempts_allowed: done.length },
      evidence: [COPY_CSV, COPY_LOG_CSV],
      limits: 'Results a user is allowed to read can still be copied from the screen or the client (they are masked as 3.4.1 shows); an allowed shell command that prints a file is also a copy path. The documented authorisation of each role is the entity\'s. Access that bypasses pcigate is not seen.',
    },
  };
}

const manual = (id: string, title: string, asks: string, why: string): ProcedureResult => ({
  id, title, asks, checked: 'Nothing: the configuration is needed for this procedure.', status: 'manual', result: `Not checked: ${why}.`, figures: {}, evidence: [], limits: 'Examine the configuration by hand.',
});

/** Requirement 3 checks (PCI DSS v4.0.1 3.3.1, 3.4.1, 3.4.2, 3.5.1). */
export const checks3: RequirementCheck = (input) => {
  const cfg = configOf(input.config);
  const scan = storedDataProcedures(input, cfg);
  const procedures: ProcedureResult[] = [scan.procedures[0]];
  const artifacts: ArtifactDraft[] = [...scan.artifacts];
  if (cfg) {
    const mask = maskingProcedure(input, cfg);
    const copy = copyProcedure(input, cfg);
    procedures.push(mask.procedure, copy.procedure);
    artifacts.push(...mask.artifacts, ...copy.artifacts);
  } else {
    const why = noConfigReason(input.config);
    procedures.push(
      manual('3.4.1', 'PAN is masked when displayed', 'PAN is masked when displayed so that only people with a documented business need see more than the BIN and last four digits.', why),
      manual('3.4.2', 'Remote access cannot copy PAN without authorization', 'When personnel use remote-access technologies, technical controls prevent copying or relocating PAN unless a person is explicitly authorised.', why),
    );
  }
  procedures.push(scan.procedures[1]);
  return { requirement: '3', title: 'Protect stored account data', procedures, artifacts };
};
