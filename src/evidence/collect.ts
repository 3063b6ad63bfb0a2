/**
 * Loads everything an evidence bundle is built from (issue 9), once, into a pure {@link EvidenceInput}: the log's
 * records parsed, with where each line is and its RFC 6962 leaf hash (docs/log-format.md "Records"; log-lines.ts),
 * each segment scanned for PAN/SAD as it is read and then dropped, the sampled records' lines read back from the
 * log (samples.ts), `verify` over the whole log,
 * the signed checkpoints (C2SP signed notes) each checked against its epoch key, the key epoch chain, the
 * recordings (scanned for PAN/SAD as they are read, one at a time, and kept as their findings only), what is now
 * at the path of every export the log announces (hashed and scanned for PAN/SAD, exports.ts), and the
 * configuration with every secret redacted. Requirement checks then read only this.
 */
import path from 'node:path';
import { parseDocument } from 'yaml';
import type { Ctx, Fs } from '../cli/ctx.js';
import { listSecretRefs } from '../config/check-secrets.js';
import { configCandidates, loadConfigOrDefaults } from '../config/load-config.js';
import { findLiteralSecrets } from '../config/literal-secrets.js';
import { redact } from '../config/redact.js';
import { defaultConfig } from '../config/schema.js';
import { VerificationError } from '../errors.js';
import { maskText } from '../mask/pan-masker.js';
import { ARCHIVE_LIMITS, archiveLimits } from '../mask/scan-archive.js';
import { scanHandle } from '../mask/scan-files.js';
import type { ScanOptions } from '../mask/scan-files.js';
import { canonicalize } from '../../recorder/canonical-json.js';
import { MerkleAccumulator } from '../../recorder/merkle.js';
import { deepFreeze } from '../../recorder/record-line.js';
import { useRecordingFile } from '../../recorder/recording-file.js';
import { formatTs } from '../../recorder/timestamp.js';
import type { AuditRecord } from '../../recorder/types.js';
import { verifyLog } from '../../recorder/verify.js';
import { loadVerifyInput } from '../../recorder/verify-load.js';
import { recordsEnd } from '../../recorder/segment-scan.js';
import { segmentBytes } from '../../recorder/verify-scan.js';
import type { VerifyInput, VerifyReport } from '../../recorder/verify-types.js';
import { configOf } from './check-support.js';
import { isClockReading } from './clock-readings.js';
import { readExportFiles } from './export-files.js';
import { recordedExports, shownPath } from './exports.js';
import { readCertifiedEpochs, readCheckpoints } from './home-checkpoints.js';
import { LogLines } from './log-lines.js';
import { resolvePeriod } from './period.js';
import { sampleRecords } from './samples.js';
import { LogScanner } from './stored-scan.js';
import type { ConfigEvidence, EvidenceInput, LoadedRecord, RecordingScan } from './types.js';

/** Sampled records per event type when --sample is not given. */
export const DEFAULT_SAMPLE = 3;

export interface CollectOptions {
  home: string;
  config: ConfigEvidence;
  since?: string;
  until?: string;
  sample?: number;
  /** The auditor's own copy of the root public key (`--root-key`). */
  rootKeyFile?: string;
  /**
   * Most bytes one recording or export may expand to when scanned for requirement 3 (`--max-expanded`; `Infinity`:
   * no limit), default `pcigate scan`'s 1 GiB.
   */
  maxExpanded?: number;
  /**
   * Scan every log line for PAN/SAD as the log is read (requirement 3's 3.3.1/3.5.1; default true). A bundle
   * without requirement 3 skips it: about a quarter of the time spent reading the log.
   */
  scanLog?: boolean;
}

/**
 * Reads HOME into an EvidenceInput. `generatedAt` is the clock's now; the period defaults to the first record
 * … now. Throws UsageError for a bad or empty period and VerificationError (exit 3) when there is no log or no
 * root key: a bundle without either could not vouch for anything.
 */
export async function collectEvidence(ctx: Ctx, opts: CollectOptions): Promise<EvidenceInput> {
  const nowMicros = ctx.clock.micros();
  const audit = opts.config.config?.audit ?? defaultConfig().audit;
  const vin = await loadVerifyInput(ctx.fs, opts.home, {
    nowMicros: Number(nowMicros),
    maxUnsealedMicros: audit.max_unsealed_age * 1000,
    ...(opts.rootKeyFile !== undefined ? { rootKeyFile: opts.rootKeyFile } : {}),
  });
  if (!vin.rootKey) {
    throw new VerificationError(`no root public key: ${path.join(opts.home, 'keys', 'root.pub')} is missing and --root-key was not given`, {
      hint: 'pass your copy of the root public key with --root-key FILE',
    });
  }
  const verify = await verifyLog(vin);
  // Requirement 3's detector (checks-3.ts reads the same configuration): the log is scanned as it is read here,
  // recordings and exports below, within limits that `pcigate evidence --max-expanded` raises (so a message about
  // one names it).
  const anyLuhn = configOf(opts.config)?.masking.networks === 'any_luhn';
  const logScan = opts.scanLog === false ? undefined : new LogScanner(anyLuhn);
  const { records, log } = await parseRecords(vin.segments, logScan);
  sameAsVerified(log, verify);
  const origin = vin.origin ?? records[0]?.record.origin ?? verify.origin ?? '';
  const rootPub = Buffer.from(vin.rootKey.raw);
  const epochs = await readCertifiedEpochs(vin.epochs, origin, rootPub);
  const checkpoints = await readCheckpoints(vin.checkpoints, origin, epochs);

  const period = resolvePeriod({ since: opts.since, until: opts.until }, nowMicros, records[0]?.record.ts);
  const inPeriod = records.filter((r) => r.record.ts >= period.since && r.record.ts <= period.until);
  const sample = opts.sample ?? DEFAULT_SAMPLE;
  const maxExpanded = opts.maxExpanded ?? ARCHIVE_LIMITS.maxExpandedBytes;
  // Recordings and exports: a sample of an earlier bundle holds record lines, pcigate's clock readings too.
  const scan: ScanOptions = { anyLuhn, limits: archiveLimits(maxExpanded, 'pcigate evidence'), notAccountData: isClockReading };
  return {
    home: opts.home,
    origin,
    generatedAt: formatTs(nowMicros),
    period,
    records,
    log,
    ...(logScan ? { logScan: logScan.result } : {}),
    // Chosen now, while the log can be read: its lines are not kept (the checks are pure and synchronous).
    samples: await sampleRecords({ records, inPeriod, checkpoints, sample, log, anyLuhn }),
    inPeriod,
    verify,
    checkpoints,
    epochs,
    rootPub,
    config: opts.config,
    recordings: await scanRecordings(ctx.fs, path.join(opts.home, 'recordings'), scan),
    exportFiles: await readExportFiles(ctx, exportPaths(records), scan),
    maxExpanded,
    sample,
  };
}

/**
 * One object for equal actors, sources and targets across records, frozen all the way down: evidence reads
 * records and never changes them, and a change to a shared part would show in every record that has it, so
 * one is refused (a TypeError) instead. Bounded: forgets what it holds past 65,536 distinct parts.
 */
class SharedParts {
  private readonly seen = new Map<string, unknown>();

  share(record: AuditRecord): void {
    const r = record as unknown as Record<string, unknown>;
    for (const k of SHARED_MEMBERS) {
      const v = r[k];
      if (typeof v !== 'object' || v === null) continue;
      // Canonical JSON as the key: it refuses what JSON.stringify would write as another value (a 1e999 in a
      // tampered line parses to Infinity, which JSON.stringify writes as null): such a part is not shared.
      let key: string;
      try { key = canonicalize(v); } catch { continue; }
      const hit = this.seen.get(key);
      if (hit !== undefined) { r[k] = hit; continue; }
      if (this.seen.size >= 65_536) this.seen.clear();
      this.seen.set(key, deepFreeze(v));
    }
  }
}

const SHARED_MEMBERS = ['actor', 'src', 'target', 'account'] as const;

/**
 * Every complete line of every segment, in file order, parsed, with where it is and its leaf hash (RFC 6962
 * §2.1: SHA-256(0x00 ‖ line)) in `log`. Lines that are not JSON records, and a last line without its newline,
 * are left out: verify names them. One segment is read at a time and its bytes dropped once its lines are
 * parsed and handed to `scanner` (the log's PAN/SAD scan): memory holds the parsed records, not the log. A
 * session repeats its actor, source and target in every record: equal ones are kept once (SharedParts), which
 * takes a quarter off the memory the records hold (810 → 593 bytes per pg record, measured).
 */
export async function parseRecords(segments: VerifyInput['segments'], scanner?: LogScanner): Promise<{ records: LoadedRecord[]; log: LogLines }> {
  const sorted = [...segments].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const log = new LogLines(sorted);
  const out: LoadedRecord[] = [];
  const shared = new SharedParts();
  for (let g = 0; g < sorted.length; g++) {
    const bytes = await segmentBytes(sorted[g]!);
    const whole = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    // The newest segment's records end at its first empty line or line with a NUL, as verify reads it (bytes a
    // crash left in the room the writer reserves are no records: recorder/segment-scan.ts recordsEnd).
    const buf = g === sorted.length - 1 ? whole.subarray(0, recordsEnd(whole)) : whole;
    const first = out.length;
    let from = 0;
    for (let nl = buf.indexOf(10, from); nl >= 0; nl = buf.indexOf(10, from)) {
      const at = from;
      const line = buf.subarray(from, nl);
      from = nl + 1;
      if (line.length === 0) continue;
      let record: AuditRecord;
      try {
        record = JSON.parse(line.toString('utf8')) as AuditRecord;
      } catch {
        continue;
      }
      if (typeof record !== 'object' || record === null || typeof record.seq !== 'number' || typeof record.ts !== 'string' || typeof record.type !== 'string') continue;
      shared.share(record);
      out.push({ record, index: log.add(g, at, line) });
    }
    scanner?.segment(buf, log, first, out.length, (i) => out[i]!.record.seq);
  }
  return { records: out, log };
}

/**
 * Throws VerificationError unless the records parsed are the ones verify vouched for: the RFC 6962 root of their
 * leaves is the root verify computed (its state, which it gives unless it failed). The segments are read twice,
 * each up to the size verify first saw, so a broker appending meanwhile changes nothing; a record changed in place
 * between the two reads would otherwise put bytes verify never checked into the bundle under its verdict.
 */
function sameAsVerified(log: LogLines, verify: VerifyReport): void {
  const state = verify.state;
  if (!state) return; // verify failed: its report, in the bundle, says what is wrong
  const acc = new MerkleAccumulator();
  for (let i = 0; i < state.size && i < log.length; i++) acc.append(log.at(i)!);
  if (acc.size !== state.size || acc.root().toString('hex') !== state.root) {
    throw new VerificationError(`the audit log changed while the evidence was being built: its first ${state.size} records read again are not the ones verify checked`, {
      hint: 'the log was modified, replaced or cut during the run: run `pcigate verify`, then build the bundle again',
    });
  }
}

/** The paths of every export the log announces: the files are stored data now, whenever they were written. */
function exportPaths(records: LoadedRecord[]): string[] {
  return recordedExports(records).flatMap((e) => (e.path === null ? [] : [e.path]));
}

/**
 * Every file under HOME/recordings, `/`-separated paths relative to it, sorted, each scanned as `pcigate scan`
 * scans a file (src/mask/scan-files.ts: streamed in chunks, gzip decompressed on the way) and kept as its
 * findings only; none when the directory does not exist. One recording is open at a time. Paths are kept, and
 * named in findings, errors and what is thrown, as the bundle shows an export's (shownPath: a PAN in a file
 * name masked — a session named after a card number, say).
 */
async function scanRecordings(fs: Fs, dir: string, opts: ScanOptions): Promise<RecordingScan[]> {
  const out: RecordingScan[] = [];
  const walk = async (rel: string): Promise<void> => {
    let entries;
    try {
      entries = await fs.readdir(path.join(dir, rel), { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new VerificationError(`cannot read the recordings in ${shownPath(path.join(dir, rel))} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { cause: e });
    }
    for (const e of entries) {
      const child = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) await walk(child);
      else if (e.isFile()) {
        // Opened as verify opens recordings (recorder/recording-file.ts): a regular file under recordings/, without
        // waiting for a writer, read up to its size at open; one swapped for a FIFO or a link since readdir is not
        // read, and not listed.
        const r = await useRecordingFile(fs, path.dirname(dir), path.join(path.basename(dir), child), async (fh, size) => {
          const { findings, errors } = await scanHandle(fh, `recordings/${shownPath(child)}`, { ...opts, upTo: size });
          return { path: shownPath(child), size, findings, errors: errors.map((e) => ({ ...e, message: maskText(e.message) })) };
        });
        if (r.status === 'read') out.push(r.value);
        else if (r.status === 'missing') throw new VerificationError(`cannot read the recording ${shownPath(path.join(dir, child))}: it ${r.detail}`);
      }
    }
  };
  await walk('');
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * The configuration as evidence (PCI DSS 10.2.1 "examine audit log configurations", 8.6.2): loaded like every
 * other command loads it, with secret references redacted, the references listed, and literal secrets in the file
 * text found by path (never by value). A configuration that does not load is not fatal: `error` says why, and
 * the checks that need it report that instead of a result.
 */
export async function loadConfigEvidence(ctx: Ctx, global: { config?: string; home?: string }): Promise<ConfigEvidence> {
  const file = await firstExisting(ctx, global.config);
  const literalSecrets: string[] = [];
  if (file !== undefined) {
    try {
      const doc = parseDocument(await ctx.fs.readFile(file, 'utf8'), { uniqueKeys: false });
      for (const hit of findLiteralSecrets(doc)) literalSecrets.push(dotted(hit.path));
    } catch {
      // unreadable or not YAML: loading below reports the reason
    }
  }
  try {
    const loaded = await loadConfigOrDefaults(ctx, { path: global.config });
    return {
      config: loaded.config,
      source: loaded.path ?? 'defaults',
      redacted: redact(loaded.config),
      literalSecrets,
      secretRefs: listSecretRefs(loaded.config).map(({ path: p, ref }) => ({ path: p, ref: ref.redacted() })),
    };
  } catch (e) {
    return {
      config: undefined,
      source: file ?? 'defaults',
      redacted: null,
      literalSecrets,
      secretRefs: [],
      error: (e as Error).message,
    };
  }
}

async function firstExisting(ctx: Ctx, flag: string | undefined): Promise<string | undefined> {
  for (const c of configCandidates(ctx, flag)) {
    try {
      if ((await ctx.fs.stat(c.path)).isFile()) return c.path;
    } catch {
      // not there: the next candidate
    }
  }
  return undefined;
}

/** `connections.prod-db.password`, `policy.roles[0]` — the form config check and listSecretRefs use. */
function dotted(p: Array<string | number>): string {
  return p.reduce<string>((s, k) => (typeof k === 'number' ? `${s}[${k}]` : s ? `${s}.${k}` : k), '');
}
