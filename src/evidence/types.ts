/**
 * The evidence bundle's data model (issue 9; ../shared/PCI.md "A bundle layout that maps onto OSCAL").
 *
 * Flow: collect.ts loads an {@link EvidenceInput} once (the whole log, its verify report, checkpoints, key
 * certificates, the effective configuration); each requirement module (checks-3/7/8/10.ts) is a pure function
 * from that input to a {@link RequirementSection}: per testing procedure what was checked, the result with its
 * figures, and the artifacts (files) that evidence it. build.ts assigns every artifact a stable reference id
 * (`EV-<procedure>-NNN`), renders report.json, index.html, evidence-index.csv and (with --oscal) the OSCAL
 * assessment-results document from the sections, and bundle-write.ts writes the signed zip.
 *
 * A bundle never says "compliant": a procedure's status says whether pcigate found the evidence the testing
 * procedure asks for (`evidence`), found something an assessor must look at (`exception`), or cannot decide it
 * from the log and configuration at all (`manual`).
 */
import type { AuditRecord } from '../../recorder/types.js';
import type { SignedEpochCert } from '../../recorder/keys.js';
import type { VerifyReport } from '../../recorder/verify-types.js';
import type { PcigateConfig } from '../config/index.js';
import type { ScanError, ScanFinding } from '../mask/scan-files.js';
import type { ExportFile } from './exports.js';
import type { LogLines } from './log-lines.js';
import type { SampleSet } from './samples.js';
import type { LogScan } from './stored-scan.js';

/** The requirements a bundle can cover, in report order. */
export const REQUIREMENTS = ['3', '7', '8', '10'] as const;
export type Requirement = (typeof REQUIREMENTS)[number];

/** The standard every bundle states. */
export const STANDARD = 'PCI DSS v4.0.1';

/** An inclusive period of record timestamps, RFC 3339 UTC with microseconds (the log's `ts` format). */
export interface Period {
  since: string;
  until: string;
}

/**
 * One record of the log, parsed. Its line's place in its segment and its RFC 6962 leaf hash are line `index`
 * of {@link EvidenceInput.log} (not kept here: a Buffer per record kept the whole log in memory).
 */
export interface LoadedRecord {
  record: AuditRecord;
  index: number;
}

/** A signed checkpoint from checkpoints.jsonl, parsed (docs/log-format.md "Merkle tree and checkpoints"). */
export interface CheckpointEntry {
  /** The C2SP signed note, byte-identical to checkpoints.jsonl. */
  note: string;
  size: number;
  /** Lowercase hex root hash. */
  root: string;
  /** The note's `time` line (RFC 3339 µs). */
  time: string;
  epoch: number;
  /** True when its signature verified against its epoch key (verify's checks, repeated here per note). */
  valid: boolean;
}

/** The loaded configuration, or why there is none. Secrets are never resolved here. */
export interface ConfigEvidence {
  /** The parsed configuration, or undefined when none was found or it did not load. */
  config: PcigateConfig | undefined;
  /** Where it came from (a path), or 'defaults'. */
  source: string;
  /** The configuration as JSON with every secret value redacted (config/redact.ts). */
  redacted: unknown;
  /** Literal secrets found in the config file text (src/config/literal-secrets.ts), as `path` strings. */
  literalSecrets: string[];
  /** Secret references in use (e.g. `env:PGPASSWORD`), by config path. */
  secretRefs: Array<{ path: string; ref: string }>;
  /** A load error, when the file exists but does not load. */
  error?: string;
}

/** A recording as requirement 3's scan saw it: the `pcigate scan` findings, not its bytes. */
export interface RecordingScan {
  /** Relative to HOME/recordings, `/`-separated, as the bundle shows it (a PAN in it masked, exports.ts shownPath). */
  path: string;
  /** Its size when opened: the bytes scanned (of a gzip, the compressed bytes). */
  size: number;
  /** Named `recordings/<path>` (`!entry` inside an archive), values masked. */
  findings: ScanFinding[];
  /** Parts that could not be scanned (a damaged gzip, a decompression over the limit …). */
  errors: ScanError[];
}

/** Everything a requirement check reads; loaded once by collect.ts. Pure data. */
export interface EvidenceInput {
  home: string;
  origin: string;
  /** When the bundle is being built (RFC 3339 µs). */
  generatedAt: string;
  period: Period;
  /** The whole log in seq order (checks filter by `period` themselves: retention looks before it). */
  records: LoadedRecord[];
  /** Where each record's line is and its leaf, by LoadedRecord.index; reads back the lines samples need. */
  log: LogLines;
  /**
   * Requirement 3's scan of every record line for PAN/SAD, made as each segment was read (stored-scan.ts); absent
   * when collected without it (CollectOptions.scanLog false: a selection without requirement 3).
   */
  logScan?: LogScan;
  /** The sampled records per event type with their lines and inclusion proofs (samples.ts), chosen when collected. */
  samples: SampleSet;
  /** Indices into `records` of those whose ts is inside `period`. */
  inPeriod: LoadedRecord[];
  /** recorder/verify.ts over the whole log (no state), root key from the home or --root-key. */
  verify: VerifyReport;
  /** checkpoints.jsonl in file order. */
  checkpoints: CheckpointEntry[];
  /** The certified epoch keys (keys/epochs.jsonl) and the root public key (raw 32 bytes). */
  epochs: SignedEpochCert[];
  rootPub: Buffer;
  config: ConfigEvidence;
  /**
   * Files under HOME/recordings, each already scanned for PAN/SAD for requirement 3 when collected (streamed,
   * one at a time: a year of recordings is never held in memory), sorted by path.
   */
  recordings: RecordingScan[];
  /**
   * What is now at the path of every export the whole log announces (exports.ts: evidence bundles, replay
   * pages), by absolute path — hashed and scanned for PAN/SAD by requirement 3.
   */
  exportFiles: ReadonlyMap<string, ExportFile>;
  /** Most bytes one recording or export could expand to when scanned (`--max-expanded`; `Infinity`: no limit). */
  maxExpanded: number;
  /** How many sampled records per event type (--sample, default 3). */
  sample: number;
}

/** A file a check contributes to the bundle, before it gets its reference id. */
export interface ArtifactDraft {
  /** Path inside the bundle, `/`-separated, e.g. `samples/pg.query.jsonl`. Unique within a bundle. */
  path: string;
  bytes: Buffer;
  mediaType: string;
  description: string;
  /** Testing procedures it serves, most specific first (the first one names its reference id). */
  procedures: string[];
  /** TEST: the output of an automated check. EXAMINE: a document or records for the assessor to examine. */
  method: 'TEST' | 'EXAMINE';
}

/** An artifact in the manifest: the draft without its bytes, plus its id, hash and size. */
export interface Artifact extends Omit<ArtifactDraft, 'bytes'> {
  /** Stable reference id, e.g. `EV-10.2.2-003`: procedure of `procedures[0]`, numbered in bundle order. */
  ref: string;
  sha256: string;
  size: number;
}

export type ProcedureStatus = 'evidence' | 'exception' | 'manual';

/** The result for one sub-requirement / testing procedure. */
export interface ProcedureResult {
  /** The PCI DSS v4.0.1 requirement number, e.g. `10.2.1.4`. */
  id: string;
  /** A short title, e.g. "Invalid logical access attempts are logged". */
  title: string;
  /** What the requirement asks, in a paraphrase (never the standard's text). */
  asks: string;
  /** What pcigate checked, concretely (which records, which settings). */
  checked: string;
  status: ProcedureStatus;
  /** The result in one or two sentences with the figures, e.g. "14 invalid attempts in 3 sessions …". */
  result: string;
  /** The same figures, machine-readable (counts, booleans, timestamps). */
  figures: Record<string, string | number | boolean | null>;
  /** Paths of the artifacts that evidence this procedure (build.ts turns them into reference ids). */
  evidence: string[];
  /** What this check cannot show (e.g. sessions that bypass pcigate). */
  limits: string;
}

/** What one requirement module returns. */
export interface RequirementSection {
  requirement: Requirement;
  /** e.g. "Log and monitor all access to system components and cardholder data". */
  title: string;
  procedures: ProcedureResult[];
  artifacts: ArtifactDraft[];
}

/** A requirement module: pure, deterministic (same input → same bytes, same order). */
export type RequirementCheck = (input: EvidenceInput) => RequirementSection;

/**
 * `proofs/<event type>.json`, next to `samples/<event type>.jsonl` (the sampled record lines, byte-identical to
 * the log, one per line). Each proof is an RFC 6962 §2.1.1 audit path from the record's leaf to the root of
 * `checkpoint`, one of the signed checkpoints listed in the manifest. `evidence verify` recomputes each leaf
 * from the sample line and checks the path; the checkpoint's signature is checked against its epoch key.
 */
export interface ProofFile {
  checkpoint: { size: number; root: string };
  proofs: Array<{ seq: number; leaf: string; path: string[] }>;
}

/** `manifest.json` (RFC 8785 canonical JSON). Everything an offline verifier needs besides the files. */
export interface Manifest {
  bundle_id: string;
  tool: { name: 'pcigate'; version: string };
  standard: typeof STANDARD;
  requirements: Requirement[];
  period: Period;
  generated: string;
  origin: string;
  /** The records of the period: count and seq range (null when the period is empty). */
  log: { records: number; first_seq: number | null; last_seq: number | null };
  /** The signed checkpoints covering the period (each a C2SP signed note), oldest first. */
  checkpoints: Array<{ size: number; root: string; time: string; epoch: number; note: string }>;
  /** The key chain: the root public key (base64 raw 32 bytes) and the epoch certificates 0…current. */
  keys: { root: string; epochs: SignedEpochCert[] };
  /** Every file of the bundle except manifest.json, manifest.sig and SHA256SUMS. */
  artifacts: Artifact[];
}

/** `manifest.sig`: an Ed25519 signature over the exact bytes of manifest.json by the current epoch key. */
export interface ManifestSignature {
  alg: 'Ed25519';
  epoch: number;
  /** The epoch key's public key, base64 raw 32 bytes; it must equal the certified key of `epoch`. */
  key: string;
  sig: string;
}

/** `report.json`: the sections with artifact paths resolved to reference ids. */
export interface BundleReport {
  bundle_id: string;
  tool: { name: 'pcigate'; version: string };
  standard: typeof STANDARD;
  generated: string;
  period: Period;
  origin: string;
  requirements: Requirement[];
  log: Manifest['log'];
  verify: { result: VerifyReport['result']; problems: number };
  sections: Array<{
    requirement: Requirement;
    title: string;
    procedures: Array<ProcedureResult & { evidence_refs: string[] }>;
  }>;
  /** The evidence artifacts (not report.json, index.html, evidence-index.csv or OSCAL themselves). */
  artifacts: Artifact[];
}
