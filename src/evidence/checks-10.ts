/**
 * Requirement 10 — log and monitor all access to system components and cardholder data (PCI DSS v4.0.1;
 * ../shared/PCI.md). Pure: every figure comes from the EvidenceInput. A procedure's status says whether the log
 * holds the evidence the testing procedure asks for (`evidence`), holds something an assessor must look at
 * (`exception`), or cannot decide it (`manual`) — never whether the entity is compliant.
 */
import { CATEGORY_IDS, cardholderTables, categoriesOf } from './categories.js';
import type { CategoryId } from './categories.js';
import { EFFECTIVE_CONFIG, EVENT_COUNTS, FIELD_MAP, GAPS, VERIFY_REPORT, checkpointIntervalMs, samplePaths } from './common-artifacts.js';
import { defaultConfig } from '../config/schema.js';
import { csvFile } from './csv.js';
import { missingElements } from './field-map.js';
import { findGaps, micros } from './gaps.js';
import type { GapRow } from './gaps.js';
import { integrityProcedures } from './checks-10-integrity.js';
import type { ArtifactDraft, EvidenceInput, LoadedRecord, ProcedureResult, RequirementCheck } from './types.js';

export const CATEGORIES_CSV = 'stats/event-categories.csv';

/** A silence longer than this while a session is open outlives PCI DSS 8.2.8's idle timeout ceiling. */
export const LONG_SILENCE_MS = 15 * 60_000;

const CATEGORY_TEXT: Record<CategoryId, { title: string; asks: string; what: string }> = {
  '10.2.1.1': {
    title: 'Individual user access to cardholder data is logged',
    asks: 'Every individual user access to cardholder data is captured in the audit logs.',
    what: 'pg.query records whose statement names a cardholder table',
  },
  '10.2.1.2': {
    title: 'Actions by anyone with administrative access are logged',
    asks: 'All actions taken by individuals with administrative access, including interactive use of application or system accounts, are captured.',
    what: 'pg.query records of DDL, DCL, COPY, procedural and maintenance statements; ssh.exec and ssh.request (shell, subsystem, forwarding); exec.start; key.rotate',
  },
  '10.2.1.3': {
    title: 'Access to audit logs is logged',
    asks: 'All access to the audit logs is captured.',
    what: 'verify.run, audit.access (sessions listings and replays) and evidence.export records',
  },
  '10.2.1.4': {
    title: 'Invalid logical access attempts are logged',
    asks: 'Invalid logical access attempts are captured.',
    what: 'auth.fail records, every record with outcome denied (policy denials), approval.tamper (a request file put back or renamed outside pcigate, refused), and statements that ended in SQLSTATE 28000, 28P01 or 42501',
  },
  '10.2.1.5': {
    title: 'Changes to identification and authentication credentials are logged',
    asks: 'Changes to identification and authentication credentials are captured, including new accounts, elevation of privileges and changes to administrative accounts.',
    what: 'pg.query records of CREATE/ALTER/DROP ROLE, USER or GROUP, GRANT and REVOKE; key.rotate; ssh.exec of account and credential commands (useradd, passwd, authorized_keys …)',
  },
  '10.2.1.6': {
    title: 'Initialisation, starting, stopping and pausing of audit logs are logged',
    asks: 'Initialisation of new audit logs and the starting, stopping or pausing of existing ones are captured.',
    what: 'log.start, log.stop, segment.open, log.recovered and log.gap records',
  },
  '10.2.1.7': {
    title: 'Creation and deletion of system-level objects is logged',
    asks: 'The creation and deletion of system-level objects is captured.',
    what: 'pg.query records of CREATE and DROP of tables, functions, extensions, triggers, schemas and other objects (not roles); ssh.exec of systemctl enable/disable, crontab, modprobe …',
  },
};

const BYPASS = 'Access that does not go through pcigate (direct database or SSH connections) is not in this log: examine the network controls that route access to the cardholder data environment through pcigate.';

function countBy<T>(items: T[], key: (t: T) => string): Map<string, number> {
  const m = new Map<string, number>();
  for (const i of items) m.set(key(i), (m.get(key(i)) ?? 0) + 1);
  return m;
}

function list(m: Map<string, number>): string {
  return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, n]) => `${k} ${n}`).join(', ');
}

/** The sample files that exist for these event types (only types that were sampled and proven). */
function sampleEvidence(input: EvidenceInput, types: Iterable<string>): string[] {
  const sampled = new Set(input.samples.samples.map((s) => s.type));
  return [...new Set(types)].filter((t) => sampled.has(t)).sort().flatMap((t) => [samplePaths(t).sample, samplePaths(t).proof]);
}

/**
 * How long the records of the period waited to be sealed: for each record, the time from its `ts` to the `time`
 * line of the first valid signed checkpoint whose size covers it (checkpoint mirrors aside). Records no
 * checkpoint covers yet are verify's `unsealed` finding, not counted here. `late` counts waits above audit.max_unsealed_age.
 */
export function sealLatency(input: EvidenceInput): { maxUs: number; late: number } {
  const maxAgeUs = (input.config.config?.audit ?? defaultConfig().audit).max_unsealed_age * 1000;
  const cps = input.checkpoints.filter((c) => c.valid).sort((a, b) => a.size - b.size);
  let maxUs = 0;
  let late = 0;
  let i = 0;
  for (const { record } of input.inPeriod) {
    // A checkpoint mirror repeats a note that is itself signed; the last one of a closed log is sealed only by
    // the next process (docs/log-format.md "Writer details"), so it is not a late record.
    if (record.type === 'checkpoint') continue;
    while (i < cps.length && cps[i]!.size <= record.seq) i++;
    const c = cps[i];
    if (!c) break;
    const wait = micros(record.ts, c.time);
    if (wait > maxUs) maxUs = wait;
    if (wait > maxAgeUs) late++;
  }
  return { maxUs, late };
}

/** PCI DSS 10.2.1: logging enabled and active over the whole period. */
function loggingActive(input: EvidenceInput, gaps: GapRow[]): ProcedureResult {
  const recs = input.inPeriod;
  const interval = checkpointIntervalMs(input);
  const logGaps = gaps.filter((g) => g.kind === 'gap');
  const silences = gaps.filter((g) => g.kind === 'silence');
  // A silence the idle timeout itself ended is the timeout working, however long the configured limit.
  const long = silences.filter((g) => !g.idle && micros(g.start, g.end) > LONG_SILENCE_MS * 1000);
  const notRunning = gaps.filter((g) => g.kind === 'not running');
  const crashes = notRunning.filter((g) => !g.cause.startsWith('pcigate was stopped'));
  const starts = recs.filter((r) => r.record.type === 'log.start').length;
  const stops = recs.filter((r) => r.record.type === 'log.stop').length;
  const unsealed = input.verify.problems.filter((p) => p.kind === 'unsealed').length;
  const seal = sealLatency(input);
  const maxAgeMs = (input.config.config?.audit ?? defaultConfig().audit).max_unsealed_age;
  const validCps = input.checkpoints.filter((c) => c.valid && c.time >= input.period.since && c.time <= input.period.until).length;
  const downUs = notRunning.reduce((s, g) => s + micros(g.start, g.end), 0);

  const reasons: string[] = [];
  if (recs.length === 0) reasons.push('the period holds no record');
  if (logGaps.length > 0) {
    const spans = logGaps.map((g) => `${g.start} … ${g.end}: ${g.cause}`).join('; ');
    reasons.push(`${logGaps.length} logging failure(s), ${logGaps.reduce((s, g) => s + (g.lost ?? 0), 0)} record(s) refused (log.gap ${spans}; see 10.7)`);
  }
  if (crashes.length > 0) reasons.push(`${crashes.length} stop(s) without log.stop (crash or kill)`);
  if (long.length > 0) reasons.push(`${long.length} silence(s) longer than 15 minutes while sessions were open`);
  if (unsealed > 0) reasons.push(`${unsealed} record(s) not sealed by a signed checkpoint in time`);
  if (seal.late > 0) reasons.push(`${seal.late} record(s) sealed by a signed checkpoint only after more than ${maxAgeMs / 1000} s (audit.max_unsealed_age), the longest ${(seal.maxUs / 1e6).toFixed(0)} s`);
  if (input.verify.result === 'fail') reasons.push('the log fails verification (see 10.3.2)');
  if (input.config.error !== undefined) reasons.push('the configuration did not load');

  const summary = `${recs.length} records from ${recs[0]?.record.ts ?? '—'} to ${recs[recs.length - 1]?.record.ts ?? '—'}; ${starts} log.start / ${stops} log.stop; ` +
    `${validCps} valid signed checkpoints in the period, every sealed record sealed within ${(seal.maxUs / 1e6).toFixed(3)} s; ${logGaps.length} logging gap(s); ${silences.length} silence(s) longer than ${interval / 1000} s while sessions were open; ` +
    `pcigate not running ${notRunning.length} time(s), ${(downUs / 1e6).toFixed(0)} s in all.`;
  return {
    id: '10.2.1',
    title: 'Audit logs are enabled and active',
    asks: 'Audit logs are enabled and active for all system components and cardholder data, throughout the period.',
    checked: `The records of the period: log.start/log.stop pairs, log.gap records, silences longer than the checkpoint interval (${interval / 1000} s) while a session was open, records verify reports as unsealed, how long each record waited for the first valid signed checkpoint covering it (at most audit.max_unsealed_age, ${maxAgeMs / 1000} s), and the effective configuration.`,
    status: reasons.length > 0 ? 'exception' : 'evidence',
    result: reasons.length > 0 ? `${reasons.join('; ')}. ${summary}` : summary,
    figures: {
      records: recs.length, log_starts: starts, log_stops: stops, checkpoints_in_period: validCps, gaps: logGaps.length,
      silences: silences.length, long_silences: long.length, not_running: notRunning.length, not_running_seconds: Math.round(downUs / 1e6),
      unclean_stops: crashes.length, unsealed, max_seal_latency_s: Math.round(seal.maxUs / 1000) / 1000, sealed_late: seal.late, config_loaded: input.config.config !== undefined,
    },
    evidence: [EFFECTIVE_CONFIG, EVENT_COUNTS, GAPS, VERIFY_REPORT],
    limits: `Intervals when pcigate was not running are listed in gaps.csv apart from gaps: no session could be brokered then, but a direct connection could have been made. An idle session writes nothing, so a silence is not by itself a loss. ${BYPASS}`,
  };
}

/** PCI DSS 10.2.1.1–10.2.1.7: events present per category. */
function categoryProcedures(input: EvidenceInput): { procedures: ProcedureResult[]; artifact: ArtifactDraft } {
  const chd = cardholderTables(input.config.config);
  const byCat = new Map<CategoryId, LoadedRecord[]>(CATEGORY_IDS.map((c) => [c, []]));
  for (const r of input.inPeriod) for (const c of categoriesOf(r.record, chd)) byCat.get(c)!.push(r);

  const rows: string[][] = [];
  const procedures = CATEGORY_IDS.map((id): ProcedureResult => {
    const recs = byCat.get(id)!;
    const types = countBy(recs, (r) => r.record.type);
    const outcomes = countBy(recs, (r) => r.record.outcome ?? 'none');
    for (const [k, n] of countBy(recs, (r) => `${r.record.type}\u0000${r.record.outcome ?? ''}`)) {
      const [type, outcome] = k.split('\u0000') as [string, string];
      rows.push([id, type, outcome, String(n)]);
    }
    const actors = new Set(recs.map((r) => r.record.actor?.sub).filter((s): s is string => typeof s === 'string'));
    const sessions = new Set(recs.map((r) => r.record.session).filter((s): s is string => typeof s === 'string'));
    const t = CATEGORY_TEXT[id];
    const chdNote = id === '10.2.1.1'
      ? (chd.patterns.length + chd.columns.length > 0
        ? ` Cardholder data from the configuration (masking rules, policy approval_tables and column denials): tables ${chd.patterns.join(', ') || 'none'}; columns ${chd.columns.join(', ') || 'none'}.`
        : ' The configuration names no cardholder table or column (masking rules, policy approval_tables or column denials), so every query is counted.')
      : '';
    return {
      id,
      title: t.title,
      asks: t.asks,
      checked: `Records of the period of these kinds: ${t.what}.${chdNote}`,
      status: recs.length > 0 ? 'evidence' : 'manual',
      result: recs.length > 0
        ? `${recs.length} record(s) (${list(types)}) by ${actors.size} identit${actors.size === 1 ? 'y' : 'ies'} in ${sessions.size} session(s); outcomes: ${list(outcomes)}.`
        : `No such event in the period. Whether such events would be logged cannot be shown from an empty category: examine the configuration and a test event (e.g. perform one through pcigate and find its record).`,
      figures: {
        records: recs.length, identities: actors.size, sessions: sessions.size,
        first: recs[0]?.record.ts ?? null, last: recs[recs.length - 1]?.record.ts ?? null,
        ...Object.fromEntries([...types].map(([k, n]) => [`type:${k}`, n])),
      },
      evidence: [CATEGORIES_CSV, EVENT_COUNTS, ...sampleEvidence(input, types.keys())],
      limits: id === '10.2.1.1' && chd.patterns.length + chd.columns.length > 0
        ? `Statements are matched to cardholder data by the table and column names in their SQL text; a view or function that reads a cardholder table under another name is not recognised. ${BYPASS}`
        : BYPASS,
    };
  });
  return {
    procedures,
    artifact: {
      path: CATEGORIES_CSV,
      bytes: csvFile(['procedure', 'type', 'outcome', 'count'], rows),
      mediaType: 'text/csv',
      description: 'Records of the period per PCI DSS 10.2.1.1–10.2.1.7 event category, event type and outcome',
      procedures: ['10.2.1', ...CATEGORY_IDS],
      method: 'TEST',
    },
  };
}

/** PCI DSS 10.2.2: every record carries the six elements (except where the field map says why not). */
function recordContent(input: EvidenceInput): ProcedureResult {
  const missing = new Map<string, number>();
  const elements = new Map<string, number>();
  let bad = 0;
  for (const { record } of input.inPeriod) {
    const m = missingElements(record);
    if (m.length === 0) continue;
    bad++;
    missing.set(record.type, (missing.get(record.type) ?? 0) + 1);
    for (const e of m) elements.set(e, (elements.get(e) ?? 0) + 1);
  }
  const set = input.samples;
  const types = new Set(input.inPeriod.map((r) => r.record.type));
  const unprovable = [...set.unprovable.values()].reduce((a, b) => a + b, 0);
  const withheld = [...set.withheld.values()].reduce((a, b) => a + b, 0);
  const sampledTypes = set.samples.map((s) => s.type);
  const notSampled = [...types].filter((t) => !sampledTypes.includes(t)).sort();
  const result = bad === 0
    ? `All ${input.inPeriod.length} records of the period carry user identification, event type, date and time, outcome, origin and affected resource (or the field map says why an element is absent for their type).`
    : `${bad} of ${input.inPeriod.length} records lack an element their type must carry: ${list(missing)} (missing ${list(elements)}).`;
  return {
    id: '10.2.2',
    title: 'Audit log entries record the required details',
    asks: 'Each audit log entry records user identification, type of event, date and time, success or failure, origination of the event, and the identity or name of the affected data, system component, resource or service.',
    checked: `Every record of the period against the field map (field-map.csv); ${sampledTypes.length} event type(s) sampled, up to ${input.sample} records each, with RFC 6962 inclusion proofs to the newest signed checkpoint${set.checkpoint ? ` (size ${set.checkpoint.size})` : ''}.`,
    status: bad === 0 && input.inPeriod.length > 0 ? 'evidence' : 'exception',
    result: `${input.inPeriod.length === 0 ? 'The period holds no record. ' : ''}${result}${unprovable > 0 ? ` ${unprovable} record(s) of the period come after the newest valid signed checkpoint (or do not match it) and were not sampled.` : ''}${withheld > 0 ? ` ${withheld} record(s) that would have been sampled hold what looks like a card number or sensitive authentication data and were left out of the bundle (a sample is the log line byte for byte; see 3.3.1/3.5.1 and req3/pan-sad-scan.csv).` : ''}`,
    figures: {
      records: input.inPeriod.length, records_missing_elements: bad, event_types: types.size, types_sampled: sampledTypes.length,
      unprovable_records: unprovable, withheld_records: withheld, missing_by_type: list(missing) || null, missing_by_element: list(elements) || null,
    },
    evidence: [FIELD_MAP, ...sampleEvidence(input, types)],
    limits: `${set.problem ? `${set.problem}. ` : ''}${notSampled.length > 0 ? `Not sampled (no record of the type is covered by a valid signed checkpoint): ${notSampled.join(', ')}. ` : ''}The field map and samples show what is recorded; interviewing personnel about the log configuration remains the assessor's.`,
  };
}

/** PCI DSS 10.7.2/10.7.3: failures of the audit logging mechanism, with start, end and cause. */
function loggingFailures(gaps: GapRow[]): ProcedureResult {
  const logGaps = gaps.filter((g) => g.kind === 'gap');
  const notRunning = gaps.filter((g) => g.kind === 'not running');
  const lost = logGaps.reduce((s, g) => s + (g.lost ?? 0), 0);
  return {
    id: '10.7',
    title: 'Failures of the audit logging mechanism are detected, reported and responded to',
    asks: 'Failures of critical security control systems, including audit logging, are detected, alerted and addressed promptly; the response records the start and end of the failure, its cause and remediation.',
    checked: 'log.gap records (the recorder writes one when appending works again after a failure: the timestamps of the first and last failed batch, the errno cause, the records lost), and the intervals when pcigate was not running.',
    status: logGaps.length > 0 ? 'exception' : 'evidence',
    result: logGaps.length > 0
      ? `${logGaps.length} failure(s) of audit logging in the period, ${lost} record(s) refused: ${logGaps.map((g) => `${g.start} … ${g.end} (${g.cause})`).join('; ')}. pcigate fails closed: statements whose record could not be written were not executed.`
      : `No failure of audit logging recorded in the period. pcigate was not running ${notRunning.length} time(s) (listed in gaps.csv).`,
    figures: { gaps: logGaps.length, records_lost: lost, not_running: notRunning.length, first_gap: logGaps[0]?.start ?? null, last_gap: logGaps[logGaps.length - 1]?.end ?? null },
    evidence: [GAPS],
    limits: 'Whether the failure was alerted on and how it was remediated (root cause, risk assessment, prevention) is in the entity\'s incident records: examine them and interview personnel.',
  };
}

/** Requirement 10: the procedures above plus integrity, retention and time (checks-10-integrity.ts). */
export const checks10: RequirementCheck = (input) => {
  const gaps = findGaps(input, checkpointIntervalMs(input));
  const cats = categoryProcedures(input);
  return {
    requirement: '10',
    title: 'Log and monitor all access to system components and cardholder data',
    procedures: [
      loggingActive(input, gaps),
      ...cats.procedures,
      recordContent(input),
      ...integrityProcedures(input),
      loggingFailures(gaps),
    ],
    artifacts: [cats.artifact],
  };
};
