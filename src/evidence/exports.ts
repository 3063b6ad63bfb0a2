/**
 * The files pcigate writes out of its data home — exports — as the log announces them, and what became of
 * them (PCI DSS 3.3.1 / 3.5.1: no SAD and no full PAN in stored artifacts, wherever pcigate put them).
 *
 * Two commands write a file outside the data home with account data in it: `pcigate evidence --out FILE.zip`
 * (record `evidence.export`) and `pcigate replay ID --html FILE` (record `audit.access`, `command: replay`,
 * `html: true`). Both records carry the file's absolute `path` and `sha256` (docs/log-format.md). Other
 * commands write only to stdout (`sessions`, `exec`, `scan`) or write no account data (`verify --state`: a
 * checkpoint size and root; `keys init --root-key-out`: a key).
 *
 * Pure: records in, results out; the file system is read by export-files.ts into {@link ExportFile}s.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { maskText } from '../mask/pan-masker.js';
import type { ScanFinding } from '../mask/scan-files.js';
import { detailOf, stringField } from './check-support.js';
import type { LoadedRecord } from './types.js';

/** An export the log announces. */
export interface RecordedExport {
  seq: number;
  ts: string;
  record: 'evidence.export' | 'audit.access';
  what: 'evidence bundle' | 'replay page';
  actor: string;
  /** Absolute path; null when the record does not carry one (written before exports recorded their path). */
  path: string | null;
  /** Lowercase hex SHA-256 of the file as written, or null. */
  sha256: string | null;
}

/** What is at an export's path now. */
export type ExportFile =
  | { state: 'missing' }
  | { state: 'unreadable'; message: string }
  | { state: 'present'; sha256: string; size: number; findings: ScanFinding[]; errors: Array<{ file: string; message: string }> };

/**
 * unchanged / changed: the file is there, with the hash recorded or another; missing: nothing at the path;
 * unreadable: something there that could not be read; overwritten: a later recorded export wrote the same
 * path; no path: the record does not say where the file went.
 */
export type ExportStatus = 'unchanged' | 'changed' | 'missing' | 'unreadable' | 'overwritten' | 'no path';

export interface ExportResult {
  export: RecordedExport;
  status: ExportStatus;
  /** The file's hash and size now, when it is there. */
  sha256: string | null;
  size: number | null;
  /** Findings in the file (values masked; file names masked too). */
  findings: ScanFinding[];
  /** Parts of the file that could not be scanned: the scan is then not a proof of absence. */
  errors: Array<{ file: string; message: string }>;
}

/** The detail fields that announce an export: its absolute path and SHA-256 (lowercase hex). */
export function exportFields(absPath: string, bytes: Uint8Array): { path: string; sha256: string } {
  return { path: absPath, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** Every export announced in `records`, in log order. */
export function recordedExports(records: readonly LoadedRecord[]): RecordedExport[] {
  const out: RecordedExport[] = [];
  for (const { record: r } of records) {
    const d = detailOf(r);
    let what: RecordedExport['what'];
    if (r.type === 'evidence.export') what = 'evidence bundle';
    // `shown: false`: --strict refused a changed recording, and no page was written.
    else if (r.type === 'audit.access' && d.command === 'replay' && d.html === true && d.shown !== false) what = 'replay page';
    else continue;
    if (r.outcome !== undefined && r.outcome !== 'success') continue;
    const p = stringField(d, 'path');
    const sha = stringField(d, 'sha256');
    out.push({
      seq: r.seq, ts: r.ts, record: r.type, what, actor: r.actor?.sub ?? '',
      path: p !== undefined && path.isAbsolute(p) ? p : null,
      sha256: sha !== undefined && /^[0-9a-f]{64}$/.test(sha) ? sha : null,
    });
  }
  return out;
}

/**
 * Each recorded export against what is at its path now (`lookup`, from export-files.ts). When several
 * exports wrote the same path, the file is the latest one's: only that one is compared and scanned.
 */
export function exportResults(exports: readonly RecordedExport[], lookup: (path: string) => ExportFile | undefined): ExportResult[] {
  const latest = new Map<string, number>();
  for (const e of exports) if (e.path !== null) latest.set(e.path, e.seq);
  return exports.map((e): ExportResult => {
    const none = { export: e, sha256: null, size: null, findings: [], errors: [] };
    if (e.path === null) return { ...none, status: 'no path' };
    if (latest.get(e.path) !== e.seq) return { ...none, status: 'overwritten' };
    const f = lookup(e.path) ?? { state: 'missing' };
    if (f.state === 'missing') return { ...none, status: 'missing' };
    if (f.state === 'unreadable') return { ...none, status: 'unreadable', errors: [{ file: shownPath(e.path), message: maskText(f.message) }] };
    return { export: e, status: f.sha256 === e.sha256 ? 'unchanged' : 'changed', sha256: f.sha256, size: f.size, findings: f.findings, errors: f.errors };
  });
}

/** What an export result says in a sentence. */
export function describeExport(r: ExportResult): string {
  const where = r.export.path === null ? `${r.export.what} of seq ${r.export.seq}` : `${r.export.what} ${shownPath(r.export.path)} (seq ${r.export.seq})`;
  switch (r.status) {
    case 'no path': return `${where}: the record does not carry the file's path, so it cannot be found`;
    case 'overwritten': return `${where}: overwritten by a later recorded export to the same path`;
    case 'missing': return `${where}: no longer at that path (moved off the machine or deleted)`;
    case 'unreadable': return `${where}: could not be read (${r.errors.map((e) => e.message).join('; ')})`;
    case 'changed': return `${where}: changed since it was exported (SHA-256 ${r.sha256} ≠ recorded ${r.export.sha256 ?? 'none'})`;
    default: return `${where}: unchanged`;
  }
}

/** A path as the bundle shows it: with any PAN in it masked (a file name can hold one, too). */
export function shownPath(p: string): string {
  return maskText(p);
}
