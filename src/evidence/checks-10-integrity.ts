/**
 * Requirement 10's integrity, retention and time procedures (PCI DSS v4.0.1 10.3.2, 10.3.4, 10.5.1, 10.6),
 * from the verify report, the signed checkpoints (C2SP signed notes), the epoch key chain and the record
 * timestamps. Pure, like every RequirementCheck.
 */
import { parseTs } from '../../recorder/timestamp.js';
import { VERIFY_REPORT, verifyCode, verifyWords } from './common-artifacts.js';
import { micros } from './gaps.js';
import type { EvidenceInput, ProcedureResult } from './types.js';

const DAY_US = 86_400_000_000;


function byKind(input: EvidenceInput): Map<string, number> {
  const m = new Map<string, number>();
  for (const p of input.verify.problems) m.set(p.kind, (m.get(p.kind) ?? 0) + 1);
  return m;
}

function kinds(m: Map<string, number>): string {
  return [...m.entries()].map(([k, n]) => `${k} ${n}`).join(', ');
}

/** 10.3.2: log files protected against modification (hash chain, signed checkpoints, key epochs). */
function protection(input: EvidenceInput): ProcedureResult {
  const v = input.verify;
  const valid = input.checkpoints.filter((c) => c.valid).length;
  const invalid = input.checkpoints.length - valid;
  const rotations = input.inPeriod.filter((r) => r.record.type === 'key.rotate').length;
  const fails = v.problems.filter((p) => p.severity === 'fail').length;
  const exception = v.result === 'fail' || valid === 0 || invalid > 0;
  const why = [
    v.result === 'fail' ? `verify fails with ${v.problemsTotal} problem(s) (${kinds(byKind(input))})` : '',
    valid === 0 ? 'no valid signed checkpoint' : '',
    invalid > 0 ? `${invalid} checkpoint(s) whose signature does not verify with their epoch key` : '',
  ].filter(Boolean);
  return {
    id: '10.3.2',
    title: 'Audit log files are protected from modification',
    asks: 'Audit log files are protected to prevent modification by individuals.',
    checked: 'pcigate verify over the whole log with the root public key' +
      ` (${v.rootKeySource === 'user' ? 'supplied by the assessor with --root-key' : 'from the data home'}): the hash chain of every record, the RFC 6962 root of every` +
      ' signed checkpoint (Ed25519, C2SP signed note), the epoch key certificates back to the root key, and the hashes of committed recordings.',
    status: exception ? 'exception' : 'evidence',
    result: `${exception ? `${why.join('; ')}. ` : ''}The log is ${verifyWords(v.result)}: ${v.records} records in ${v.segments} segment(s); ${valid} valid signed checkpoint(s), ${input.epochs.length} certified key epoch(s), ${rotations} key rotation(s) in the period${fails === 0 && v.problemsTotal > 0 ? `; warnings: ${kinds(byKind(input))}` : ''}.`,
    figures: {
      verify_result: verifyCode(v.result), problems: v.problemsTotal, failures: fails, records: v.records, checkpoints_valid: valid, checkpoints_invalid: invalid,
      epochs: input.epochs.length, key_rotations_in_period: rotations, root_key_source: v.rootKeySource,
      newest_checkpoint_size: v.newestCheckpoint?.size ?? null, newest_checkpoint_time: v.newestCheckpoint?.time ?? null,
    },
    evidence: [VERIFY_REPORT],
    limits: 'The chain and signatures make any modification detectable, not impossible: file permissions (10.3.1), backups to a central store (10.3.3) and the removal of the whole log (detectable only against an earlier verify --state or an anchored checkpoint) are for the assessor to examine on the host. An auditor should verify with their own copy of the root key (--root-key).',
  };
}

/** 10.3.4: change detection on the logs — verify is the mechanism; were its runs recorded? */
function changeDetection(input: EvidenceInput): ProcedureResult {
  const runs = input.inPeriod.filter((r) => r.record.type === 'verify.run');
  const failed = runs.filter((r) => r.record.outcome === 'failure').length;
  const last = runs[runs.length - 1]?.record.ts ?? null;
  const status = input.verify.result === 'fail' ? 'exception' : runs.length === 0 ? 'manual' : 'evidence';
  return {
    id: '10.3.4',
    title: 'Change detection on audit logs',
    asks: 'File-integrity monitoring or change-detection mechanisms are used on audit logs so that existing log data cannot be changed without generating alerts.',
    checked: 'verify.run records of the period (every `pcigate verify` run is recorded with its result) and pcigate verify over the whole log now.',
    status,
    result: `${runs.length} verify run(s) recorded in the period${runs.length > 0 ? `, the last at ${last}; ${failed} reported a failure` : ''}. Verified now, the log is ${verifyWords(input.verify.result)}.` +
      (status === 'manual' ? ' No run of the change-detection mechanism is recorded in the period: examine how the logs are monitored (e.g. a scheduled `pcigate verify --state … --strict` whose failure alerts).' : ''),
    figures: { verify_runs: runs.length, verify_runs_failed: failed, last_verify_run: last, verify_result: verifyCode(input.verify.result) },
    evidence: [VERIFY_REPORT],
    limits: 'Whether a failed verification raises an alert, and that the alert is acted on, is configured outside pcigate (scheduler, alerting): examine it, ideally by tampering with a copy of a log in a test environment.',
  };
}

/** 10.5.1: 12 months of history, the last 3 months immediately available. */
function retention(input: EvidenceInput): ProcedureResult {
  const first = input.records[0]?.record.ts ?? null;
  const newest = input.records[input.records.length - 1]?.record.ts ?? null;
  const days = first === null ? 0 : micros(first, input.generatedAt) / DAY_US;
  const missing = input.verify.problems.filter((p) => p.kind === 'missing' || p.kind === 'truncated').length;
  const has12 = days >= 365;
  const has3 = days >= 90 && missing === 0;
  const status = has12 && has3 && input.verify.result !== 'fail' ? 'evidence' : 'exception';
  return {
    id: '10.5.1',
    title: 'Audit log history is retained',
    asks: 'Audit log history is kept for at least 12 months, with at least the most recent three months immediately available for analysis.',
    checked: 'The oldest and newest record of the log against the bundle time, and verify\'s missing and truncated findings (a deleted stretch of log shows there).',
    status,
    result: first === null
      ? 'The log holds no record.'
      : `The log reaches back to ${first} (${Math.floor(days)} days before ${input.generatedAt}); ${has12 ? 'it covers' : 'it does not cover'} 12 months, and the last 3 months are ${has3 ? 'present and readable here' : days < 90 ? 'not all covered' : 'incomplete (missing records)'}.`,
    figures: { oldest_record: first, newest_record: newest, days_of_history: Math.floor(days), covers_12_months: has12, covers_3_months: has3, missing_records: missing },
    evidence: [VERIFY_REPORT],
    limits: 'A log younger than 12 months (a new deployment) cannot show 12 months. Retention of archived segments elsewhere (backups, object storage) is for the assessor to examine; this bundle read the log in this data home only.',
  };
}

/** 10.6: consistent time — record timestamps monotonic, checkpoint time lines consistent with the records. */
function time(input: EvidenceInput): ProcedureResult {
  let regressions = 0;
  let prev: string | undefined;
  for (const { record } of input.inPeriod) {
    if (prev !== undefined && record.ts < prev) regressions++;
    prev = record.ts;
  }
  // Each valid checkpoint's time line vs the last record it covers (must not precede it) and vs its mirror
  // record in the log (must not follow it): both come from the same clock, in that order.
  let maxSkewUs = 0;
  let backwards = 0;
  let compared = 0;
  const mirrors = new Map<number, string>();
  for (const { record } of input.records) {
    const s = record.type === 'checkpoint' ? (record.detail as { size?: unknown } | undefined)?.size : undefined;
    if (typeof s === 'number' && !mirrors.has(s)) mirrors.set(s, record.ts);
  }
  for (const c of input.checkpoints) {
    if (!c.valid || c.size === 0 || parseTs(c.time) === undefined || c.time < input.period.since || c.time > input.period.until) continue;
    const last = input.records[c.size - 1];
    if (!last || last.record.seq !== c.size - 1) continue;
    compared++;
    const lag = micros(last.record.ts, c.time);
    const mirror = mirrors.get(c.size);
    const mirrorLag = mirror === undefined ? 0 : micros(c.time, mirror);
    if (lag < 0 || mirrorLag < 0) backwards++;
    maxSkewUs = Math.max(maxSkewUs, Math.abs(lag), Math.abs(mirrorLag));
  }
  const exception = regressions > 0 || backwards > 0;
  return {
    id: '10.6',
    title: 'Time is consistent across the audit trail',
    asks: 'Time-synchronisation mechanisms keep time settings consistent; time data is protected and changes to it are logged.',
    checked: 'Record timestamps of the period in seq order (never earlier than the record before), and each signed checkpoint of the period: its time line against the last record it covers and against its mirror record in the log.',
    status: exception ? 'exception' : 'evidence',
    result: `${regressions} timestamp regression(s) in ${input.inPeriod.length} records; ${compared} checkpoint(s) compared, ${backwards} earlier than the records around them; largest skew ${(maxSkewUs / 1000).toFixed(3)} ms.`,
    figures: { records: input.inPeriod.length, regressions, checkpoints_compared: compared, checkpoints_backwards: backwards, max_skew_ms: Math.round(maxSkewUs) / 1000 },
    evidence: [VERIFY_REPORT],
    limits: 'Consistency of pcigate\'s own timestamps does not show that the host clock is synchronised to the designated time servers (10.6.1, 10.6.2) or that changes to time settings are logged (10.6.3): examine the host NTP/chrony configuration and its logs.',
  };
}

/** 10.3.2, 10.3.4, 10.5.1 and 10.6, in that order. */
export function integrityProcedures(input: EvidenceInput): ProcedureResult[] {
  return [protection(input), changeDetection(input), retention(input), time(input)];
}
