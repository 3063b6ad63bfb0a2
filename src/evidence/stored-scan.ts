/**
 * PCI DSS v4.0.1 3.3.1 (no SAD kept after authorization) and 3.5.1 (PAN unreadable wherever stored), as far as
 * pcigate stores data: the `pcigate scan` detector (src/mask/scan-files.ts) over every log line, every
 * recording, and every export the log announces that is still at its recorded path (exports.ts: evidence
 * bundles with their zip entries scanned inside, `replay --html` pages). Recordings and exports are scanned
 * from disk, streamed, when collected (collect.ts), and so is the log, one segment at a time as collect.ts
 * reads it (LogScanner). Each export is also compared with the SHA-256 recorded when it was written. The
 * procedures are pure: a function of the EvidenceInput. Findings name file, seq, line
 * and column and carry the value masked to its last four digits at most — never a PAN.
 */
import type { PcigateConfig } from '../config/schema.js';
import { formatBytes } from '../mask/scan-archive.js';
import { scanBytes } from '../mask/scan-files.js';
import type { ScanFinding } from '../mask/scan-files.js';
import { isClockReading } from './clock-readings.js';
import { count } from './check-support.js';
import { csvFile } from './csv.js';
import { describeExport, exportResults, recordedExports, shownPath } from './exports.js';
import type { ExportResult } from './exports.js';
import type { LogLines } from './log-lines.js';
import type { ArtifactDraft, EvidenceInput, ProcedureResult } from './types.js';

const SCAN_CSV = 'req3/pan-sad-scan.csv';
const EXPORTS_CSV = 'req3/exports.csv';

interface Finding extends ScanFinding {
  source: 'log' | 'recording' | 'export';
  seq: number | null;
}

interface ScanError {
  source: 'recording' | 'export';
  file: string;
  seq: number | null;
  message: string;
}

/** Log lines are scanned in batches of about this many bytes (one line per record, never split). */
const BATCH_BYTES = 8 << 20;

/** What the log scan leaves: its findings, each naming its record's seq, and the bytes scanned. */
export interface LogScan {
  findings: Array<ScanFinding & { seq: number }>;
  bytes: number;
}

/**
 * Scans the log's record lines for PAN/SAD one segment at a time, as collect.ts reads each segment (the lines
 * are not kept: a segment's bytes are dropped once it is scanned). Findings name the record's seq, line 1 and
 * the column within the record's own line: the log has one record a line.
 */
export class LogScanner {
  readonly result: LogScan = { findings: [], bytes: 0 };

  constructor(private readonly anyLuhn: boolean) {}

  /**
   * The record lines `first` … `end − 1` of `lines`, all in the segment whose bytes are `bytes`, in file order;
   * `seqs(i)` is the seq of line i's record.
   */
  segment(bytes: Buffer, lines: LogLines, first: number, end: number, seqs: (i: number) => number): void {
    for (let from = first; from < end;) {
      let to = from;
      let size = 0;
      let contiguous = true;
      while (to < end && (to === from || size < BATCH_BYTES)) {
        if (to > from && lines.offset(to) !== lines.offset(to - 1) + lines.bytes(to - 1) + 1) contiguous = false;
        size += lines.bytes(to++) + 1;
      }
      // Lines joined with \n, so line k of a batch is line from + k − 1 (canonical JSON escapes newlines): the
      // segment's own bytes when the lines follow each other there (a log without unreadable lines), else a copy.
      const start = lines.offset(from);
      let batch = bytes.subarray(start, start + size);
      if (!contiguous) {
        const parts: Buffer[] = [];
        for (let k = from; k < to; k++) parts.push(bytes.subarray(lines.offset(k), lines.offset(k) + lines.bytes(k)), NL);
        batch = Buffer.concat(parts);
      }
      this.result.bytes += batch.length;
      // A reading of pcigate's clock (an approval's expires_ms) is no card number, also under any_luhn.
      for (const f of scanBytes(batch, 'log', { anyLuhn: this.anyLuhn, notAccountData: isClockReading })) {
        this.result.findings.push({ ...f, line: 1, seq: seqs(from + f.line - 1) });
      }
      from = to;
    }
  }
}

const NL = Buffer.from('\n');

/** The log's findings (scanned when collected) and the recordings' findings. */
function scanStored(input: EvidenceInput): { findings: Finding[]; errors: ScanError[]; bytes: number } {
  if (!input.logScan) throw new Error('evidence: requirement 3 needs the log scan, and the input was collected without it (scanLog: false)');
  const findings: Finding[] = input.logScan.findings.map((f): Finding => ({ ...f, source: 'log' }));
  let bytes = input.logScan.bytes;
  const errors: ScanError[] = [];
  // Recordings were scanned when collected (collect.ts, streamed): their findings, not their bytes, are here.
  for (const rec of [...input.recordings].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    bytes += rec.size;
    findings.push(...rec.findings.map((f): Finding => ({ ...f, source: 'recording', seq: null })));
    errors.push(...rec.errors.map((e): ScanError => ({ ...e, source: 'recording', seq: null })));
  }
  return { findings, errors, bytes };
}

/** exports.csv: one row per recorded export. */
function exportsArtifact(results: ExportResult[]): ArtifactDraft {
  const n = (r: ExportResult, pan: boolean) => String(r.findings.filter((f) => (f.kind === 'pan') === pan).length);
  return {
    path: EXPORTS_CSV,
    bytes: csvFile(['seq', 'ts', 'record', 'export', 'actor', 'path', 'recorded_sha256', 'status', 'sha256_now', 'size', 'pan_findings', 'sad_findings', 'note'], results.map((r) => [
      String(r.export.seq), r.export.ts, r.export.record, r.export.what, r.export.actor, r.export.path === null ? '' : shownPath(r.export.path),
      r.export.sha256 ?? '', r.status, r.sha256 ?? '', r.size === null ? '' : String(r.size), n(r, true), n(r, false), describeExport(r),
    ])),
    mediaType: 'text/csv',
    description: `Exports the audit log announces (${results.length}: evidence bundles, replay pages): where each was written, whether it is still there, its SHA-256 as recorded and now, and the PAN/SAD findings in it; values and file names shown masked`,
    procedures: ['3.5.1', '3.3.1'],
    method: 'TEST',
  };
}

/** "2 recorded exports: 1 scanned (…), 1 no longer at its path, …" for result sentences. */
function exportsSummary(results: ExportResult[]): string {
  if (results.length === 0) return 'no export recorded in the log';
  const of = (s: ExportResult['status']) => results.filter((r) => r.status === s);
  const scanned = results.filter((r) => r.status === 'unchanged' || r.status === 'changed');
  const changed = of('changed');
  const parts = [`${scanned.length} scanned${changed.length ? ` (changed since exported: ${changed.slice(0, 5).map((r) => `${shownPath(r.export.path!)} seq ${r.export.seq}`).join(', ')}${changed.length > 5 ? ', …' : ''})` : ''}`];
  if (of('missing').length) parts.push(`${of('missing').length} no longer at the recorded path (moved off the machine or deleted; not scanned)`);
  if (of('overwritten').length) parts.push(`${of('overwritten').length} overwritten by a later export`);
  if (of('no path').length) parts.push(`${of('no path').length} recorded without a path`);
  if (of('unreadable').length) parts.push(`${of('unreadable').length} unreadable`);
  return `${count(results.length, 'recorded export')}: ${parts.join(', ')}`;
}

/** 3.3.1 and 3.5.1, with the scan artifacts. */
export function storedDataProcedures(input: EvidenceInput, cfg: PcigateConfig | undefined): { procedures: [ProcedureResult, ProcedureResult]; artifacts: ArtifactDraft[] } {
  const anyLuhn = cfg?.masking.networks === 'any_luhn';
  const { findings, errors, bytes } = scanStored(input);
  const exports = exportResults(recordedExports(input.records), (p) => input.exportFiles.get(p));
  for (const r of exports) {
    findings.push(...r.findings.map((f): Finding => ({ ...f, source: 'export', seq: r.export.seq })));
    errors.push(...r.errors.map((e): ScanError => ({ ...e, source: 'export', seq: r.export.seq })));
  }
  const rows = findings.map((f) => [f.source, f.file, f.seq === null ? '' : String(f.seq), String(f.line), String(f.column), f.kind, f.network ?? '', f.masked]);
  for (const e of errors) rows.push([e.source, e.file, e.seq === null ? '' : String(e.seq), '', '', 'unreadable', '', e.message]);
  const scanCsv: ArtifactDraft = {
    path: SCAN_CSV,
    bytes: csvFile(['source', 'file', 'seq', 'line', 'column', 'kind', 'network', 'masked_value'], rows),
    mediaType: 'text/csv',
    description: `Scan of the audit log (${input.records.length} records), ${input.recordings.length} session recordings and the recorded exports still in place for full PAN and sensitive authentication data; values shown masked`,
    procedures: ['3.5.1', '3.3.1'],
    method: 'TEST',
  };
  const pans = findings.filter((f) => f.kind === 'pan');
  const sad = findings.filter((f) => f.kind !== 'pan');
  const where = (fs: Finding[]) => fs.slice(0, 5).map((f) => (f.source === 'log' ? `log seq ${f.seq}` : `${f.file}:${f.line}:${f.column}`)).join(', ') + (fs.length > 5 ? ', …' : '');
  const scannedExports = exports.filter((r) => r.status === 'unchanged' || r.status === 'changed');
  const exportBytes = scannedExports.reduce((n, r) => n + (r.size ?? 0), 0);
  const detector = anyLuhn ? 'any Luhn-valid 13–19 digit number' : 'card numbers of the major networks (Luhn-valid, issuer ranges)';
  const scanned = `${input.records.length} log records and ${count(input.recordings.length, 'recording')} (${bytes} bytes), `
    + `${count(scannedExports.length, 'export')} still at ${scannedExports.length === 1 ? 'its recorded path' : 'their recorded paths'} (${exportBytes} bytes; zip entries scanned inside), ${detector}`;
  const unreadable = errors.length ? `; ${count(errors.length, 'file')} could not be scanned (${errors.slice(0, 5).map((e) => e.file).join(', ')}${errors.length > 5 ? ', …' : ''})` : '';
  const exportsText = `. Exports: ${exportsSummary(exports)}`;
  const whole = 'The whole log is scanned, not only the period, and every export it announces: all of it is stored. '
    + `Zip and gzip files among recordings and exports are looked into, each up to ${Number.isFinite(input.maxExpanded) ? `${formatBytes(input.maxExpanded)} expanded` : 'any size expanded'} (pcigate evidence --max-expanded); what was over that is listed as not scanned.`;
  const limits = 'Covers what pcigate stores in its data home (log and recordings) and the exports the log announces (evidence bundles, `replay --html` pages) that are still at their recorded path. '
    + 'An export no longer there was moved off the machine or deleted: it is listed as missing and not scanned wherever it is now. Copies of exports, exports recorded without their path (older pcigate), '
    + 'databases, backups and files on the SSH hosts themselves are not scanned: run `pcigate scan` over them (it looks inside zip and gzip files). A PAN outside the detected formats (e.g. digits split by other characters) is not found.';
  const figures = {
    records_scanned: input.records.length, recordings_scanned: input.recordings.length, bytes_scanned: bytes,
    exports_recorded: exports.length, exports_scanned: scannedExports.length, exports_changed: exports.filter((r) => r.status === 'changed').length,
    exports_missing: exports.filter((r) => r.status === 'missing').length, exports_overwritten: exports.filter((r) => r.status === 'overwritten').length,
    exports_without_path: exports.filter((r) => r.status === 'no path').length, export_bytes_scanned: exportBytes,
    pan_findings: pans.length, sad_findings: sad.length, export_findings: findings.filter((f) => f.source === 'export').length, unreadable: errors.length,
    max_expanded_bytes: Number.isFinite(input.maxExpanded) ? input.maxExpanded : null,
  };
  const evidence = [SCAN_CSV, EXPORTS_CSV];
  return {
    artifacts: [scanCsv, exportsArtifact(exports)],
    procedures: [
      {
        id: '3.3.1',
        title: 'Sensitive authentication data is not kept after authorization',
        asks: 'Track data, card verification codes and PINs/PIN blocks are not stored after authorization, including in logs and recordings.',
        checked: `The pcigate scan detector for track 1/2 data and labelled CVV/CVC/PIN values over ${scanned}. ${whole}`,
        status: sad.length > 0 || errors.length > 0 ? 'exception' : 'evidence',
        result: (sad.length > 0
          ? `${count(sad.length, 'possible SAD value')} found in stored data (${where(sad)})${unreadable}`
          : `No track data or labelled CVV/PIN values found in ${scanned}${unreadable}`) + `${exportsText}.`,
        figures,
        evidence,
        limits,
      },
      {
        id: '3.5.1',
        title: 'PAN is unreadable wherever it is stored',
        asks: 'Wherever PAN is stored it is rendered unreadable (truncation, keyed hash, tokens or strong cryptography), including in audit logs.',
        checked: `The pcigate scan detector for full PANs over ${scanned}. ${whole}`,
        status: pans.length > 0 || errors.length > 0 ? 'exception' : 'evidence',
        result: (pans.length > 0
          ? `${count(pans.length, 'full PAN')} found in stored data (${where(pans)}); the findings list them masked${unreadable}`
          : `No full PAN found in ${scanned}${unreadable}`) + `${exportsText}.`,
        figures,
        evidence,
        limits,
      },
    ],
  };
}
