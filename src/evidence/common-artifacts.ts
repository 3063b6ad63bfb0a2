/**
 * The artifacts every evidence bundle carries, whatever requirements it covers (issue 9 "Deliver" 1;
 * ../shared/PCI.md "A bundle layout"): the verify report of the whole log, the effective configuration with
 * secrets redacted, sampled records per event type with RFC 6962 inclusion proofs, the PCI DSS 10.2.2 field map,
 * event counts and the gaps. Requirement checks cite these by path; build.ts merges their procedures.
 */
import { defaultConfig } from '../config/schema.js';
import { csvFile } from './csv.js';
import { fieldMapCsv } from './field-map.js';
import { findGaps, gapsCsv } from './gaps.js';
import { samplesJsonl } from './samples.js';
import type { ArtifactDraft, EvidenceInput, LoadedRecord } from './types.js';

export const VERIFY_REPORT = 'verify-report.json';
export const EFFECTIVE_CONFIG = 'config/effective-config.json';
export const FIELD_MAP = 'field-map.csv';
export const EVENT_COUNTS = 'stats/event-counts.csv';
export const GAPS = 'gaps.csv';

/** `samples/<type>.jsonl` and `proofs/<type>.json` of a sampled event type (samples.ts samples only plain names). */
export function samplePaths(type: string): { sample: string; proof: string } {
  return { sample: `samples/${type}.jsonl`, proof: `proofs/${type}.json` };
}

/** audit.checkpoint.interval of the configuration (its default when none loaded), in ms. */
export function checkpointIntervalMs(input: Pick<EvidenceInput, 'config'>): number {
  return (input.config.config?.audit ?? defaultConfig().audit).checkpoint.interval;
}

/** verify's result in the bundle's words (a bundle reports findings; it never says a log "passes"). */
export function verifyWords(result: EvidenceInput['verify']['result']): string {
  return result === 'fail' ? 'verification FAILED' : result === 'warn' ? 'intact, with warnings' : 'intact, no problem found';
}

/** verify's result as a figure: `intact`, `warnings` or `failed` (the same words, machine-readable). */
export function verifyCode(result: EvidenceInput['verify']['result']): 'intact' | 'warnings' | 'failed' {
  return result === 'fail' ? 'failed' : result === 'warn' ? 'warnings' : 'intact';
}

const json = (v: unknown): Buffer => Buffer.from(`${JSON.stringify(v, null, 2)}\n`, 'utf8');

/** The common artifacts, in a fixed order (same input → same bytes, same order). */
export function commonArtifacts(input: EvidenceInput): ArtifactDraft[] {
  const { state: _state, ...verify } = input.verify;
  const out: ArtifactDraft[] = [
    {
      path: VERIFY_REPORT,
      bytes: json(verify),
      mediaType: 'application/json',
      description: `pcigate verify over the whole log (hash chain, RFC 6962 roots of signed checkpoints, epoch key chain, recording hashes): ${verifyWords(input.verify.result)}, ${input.verify.problemsTotal} problem(s) listed`,
      procedures: ['10.3.2', '10.3.4'],
      method: 'TEST',
    },
    {
      path: EFFECTIVE_CONFIG,
      bytes: json({
        source: input.config.source,
        loaded: input.config.config !== undefined,
        ...(input.config.error !== undefined ? { error: input.config.error } : {}),
        literal_secrets: input.config.literalSecrets,
        secret_refs: input.config.secretRefs,
        effective: input.config.redacted,
      }),
      mediaType: 'application/json',
      description: 'The effective pcigate configuration (defaults applied) with every secret reference redacted, the secret references in use and any literal secrets found by path',
      procedures: ['10.2.1'],
      method: 'EXAMINE',
    },
    {
      path: FIELD_MAP,
      bytes: fieldMapCsv([...new Set(input.inPeriod.map((r) => r.record.type))]),
      mediaType: 'text/csv',
      description: 'PCI DSS 10.2.2 field map: each required element to the audit record field(s), per event type, with the reason where an element is legitimately absent',
      procedures: ['10.2.2'],
      method: 'EXAMINE',
    },
    {
      path: EVENT_COUNTS,
      bytes: eventCountsCsv(input.inPeriod),
      mediaType: 'text/csv',
      description: 'Records in the period per event type and outcome, with the first and last timestamp',
      procedures: ['10.2.1'],
      method: 'TEST',
    },
    {
      path: GAPS,
      bytes: gapsCsv(findGaps(input, checkpointIntervalMs(input))),
      mediaType: 'text/csv',
      description: 'Failures of audit logging (log.gap: start, end, cause, records lost), silences while sessions were open, and intervals when pcigate was not running',
      procedures: ['10.7', '10.2.1'],
      method: 'TEST',
    },
  ];
  const set = input.samples;
  for (const s of set.samples) {
    const p = samplePaths(s.type);
    const n = s.records.length;
    out.push({
      path: p.sample,
      bytes: samplesJsonl(s),
      mediaType: 'application/x-ndjson',
      description: `${n} sampled ${s.type} record(s) of the period, byte-identical to the log (seq ${s.records.map((r) => r.record.seq).join(', ')})`,
      procedures: ['10.2.2'],
      method: 'EXAMINE',
    });
    out.push({
      path: p.proof,
      bytes: json(s.proofs),
      mediaType: 'application/json',
      description: `RFC 6962 inclusion proofs of the sampled ${s.type} records to the signed checkpoint of size ${s.proofs.checkpoint.size}`,
      procedures: ['10.2.2', '10.3.2'],
      method: 'TEST',
    });
  }
  return out;
}

/** stats/event-counts.csv: type, outcome, count, first ts, last ts — sorted by type then outcome. */
export function eventCountsCsv(records: LoadedRecord[]): Buffer {
  const rows = new Map<string, { type: string; outcome: string; count: number; first: string; last: string }>();
  for (const { record: r } of records) {
    const outcome = r.outcome ?? '';
    const key = `${r.type}\u0000${outcome}`;
    const row = rows.get(key);
    if (!row) rows.set(key, { type: r.type, outcome, count: 1, first: r.ts, last: r.ts });
    else {
      row.count++;
      if (r.ts < row.first) row.first = r.ts;
      if (r.ts > row.last) row.last = r.ts;
    }
  }
  const sorted = [...rows.values()].sort((a, b) => (a.type === b.type ? (a.outcome < b.outcome ? -1 : 1) : a.type < b.type ? -1 : 1));
  return csvFile(['type', 'outcome', 'count', 'first_ts', 'last_ts'], sorted.map((r) => [r.type, r.outcome, String(r.count), r.first, r.last]));
}
