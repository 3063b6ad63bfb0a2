/**
 * Builds an evidence bundle (issue 9; ../shared/PCI.md "A bundle layout that maps onto OSCAL") from a loaded
 * {@link EvidenceInput}: runs the selected requirement checks, merges their artifacts with the ones every
 * bundle carries, gives each artifact its stable reference id, renders report.json, index.html,
 * evidence-index.csv and (optionally) the OSCAL assessment-results document, and signs the manifest.
 *
 * Reference ids are `EV-<procedure>-NNN`, numbered per procedure in bundle order (common artifacts first, then
 * requirements in REQUIREMENTS order, each in the order its check produced them), so the same log, period,
 * selection and pcigate version give the same ids — an assessor's citation keeps pointing at the same file.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { writeZip } from '../archive/zip.js';
import { checks3 } from './checks-3.js';
import { checks7 } from './checks-7.js';
import { checks8 } from './checks-8.js';
import { checks10 } from './checks-10.js';
import { commonArtifacts } from './common-artifacts.js';
import { renderIndexHtml } from './html.js';
import { evidenceIndexCsv, manifestBytes, sha256sums, signManifest } from './manifest.js';
import { renderOscal } from './oscal.js';
import { REQUIREMENTS, STANDARD } from './types.js';
import type {
  Artifact, ArtifactDraft, BundleReport, EvidenceInput, Manifest, ProcedureResult, Requirement, RequirementCheck,
  RequirementSection,
} from './types.js';

const CHECKS: Record<Requirement, RequirementCheck> = { 3: checks3, 7: checks7, 8: checks8, 10: checks10 };

/** What to build: requirements (with optional sub-requirement filters such as `10.2.2`). */
export interface Selection {
  requirements: Requirement[];
  /** Procedure id prefixes to keep (`10.2.2` keeps 10.2.2 and 10.2.2.x); empty keeps all. */
  filters: string[];
}

export interface BuildOptions {
  selection: Selection;
  oscal: boolean;
  version: string;
  /** The current epoch signing key (recorder/keys.ts loadKeys). */
  key: { epoch: number; privateKey: KeyObject; publicRaw: Buffer };
  /** A fixed bundle id (tests); a random UUID otherwise. */
  bundleId?: string;
  /** Called before each step, for the progress display. */
  progress?: (step: string) => void;
}

export interface BuiltBundle {
  zip: Buffer;
  manifest: Manifest;
  manifestSha256: string;
  report: BundleReport;
  files: Array<{ path: string; bytes: Buffer }>;
}

/**
 * Parses `--req` values: `3`, `7`, `8`, `10`, `all`, or a sub-requirement such as `10.2.2` or `8.6.2`
 * (its requirement is included, its procedures filtered). Returns undefined for a value it does not know.
 */
export function parseSelection(values: string[]): Selection | undefined {
  if (values.length === 0) return undefined;
  if (values.includes('all')) return { requirements: [...REQUIREMENTS], filters: [] };
  const reqs = new Set<string>();
  for (const v of values) {
    const m = /^(\d+)(?:\.\d+)*$/.exec(v);
    if (!m || !(REQUIREMENTS as readonly string[]).includes(m[1]!)) return undefined;
    reqs.add(m[1]!);
  }
  // `--req 10 --req 8.6.2`: all of 10, and 8.6.2 only. Whole requirements stay in the filter list as prefixes.
  const filters = values.some((v) => v.includes('.')) ? [...new Set(values)] : [];
  return { requirements: REQUIREMENTS.filter((r) => reqs.has(r)), filters };
}

function keeps(filters: string[], id: string): boolean {
  return filters.length === 0 || filters.some((f) => id === f || id.startsWith(`${f}.`));
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Runs the checks and writes the bundle in memory (the caller writes the zip to disk). */
export function buildBundle(input: EvidenceInput, opts: BuildOptions): BuiltBundle {
  const step = opts.progress ?? (() => {});
  const bundleId = opts.bundleId ?? randomUUID();

  const sections: RequirementSection[] = [];
  for (const r of opts.selection.requirements) {
    step(`checking requirement ${r}`);
    const s = CHECKS[r](input);
    sections.push({ ...s, procedures: s.procedures.filter((p) => keeps(opts.selection.filters, p.id)) });
  }
  step('collecting artifacts');
  const drafts = mergeDrafts([...commonArtifacts(input), ...sections.flatMap((s) => s.artifacts)]);
  // A procedure's artifacts also serve that procedure: list it on them, so evidence-index.csv is complete.
  for (const p of sections.flatMap((s) => s.procedures)) {
    for (const path of p.evidence) {
      const d = drafts.get(path);
      if (!d) throw new Error(`evidence: procedure ${p.id} cites ${path}, which no check produced`);
      if (!d.procedures.includes(p.id)) d.procedures.push(p.id);
    }
  }
  const artifacts = assignRefs([...drafts.values()]);
  const byPath = new Map(artifacts.map((a) => [a.path, a]));

  const period = input.period;
  const log = logRange(input);
  const report: BundleReport = {
    bundle_id: bundleId,
    tool: { name: 'pcigate', version: opts.version },
    standard: STANDARD,
    generated: input.generatedAt,
    period,
    origin: input.origin,
    requirements: opts.selection.requirements,
    log,
    verify: { result: input.verify.result, problems: input.verify.problemsTotal },
    sections: sections.map((s) => ({
      requirement: s.requirement,
      title: s.title,
      procedures: s.procedures.map((p: ProcedureResult) => ({ ...p, evidence_refs: p.evidence.map((e) => byPath.get(e)!.ref) })),
    })),
    artifacts,
  };
  const checkpoints = coveringCheckpoints(input);

  step('rendering report.json, index.html and evidence-index.csv');
  const derived: ArtifactDraft[] = [
    doc('report.json', Buffer.from(`${JSON.stringify(report, null, 2)}\n`), 'application/json', 'The results of every check, per requirement and testing procedure, with their figures and evidence reference ids (machine-readable)'),
    doc('index.html', renderIndexHtml(report), 'text/html', 'The report for people: per sub-requirement what it asks, what pcigate checked, the result, the evidence ids and the limits'),
    doc('evidence-index.csv', evidenceIndexCsv(artifacts, input.generatedAt), 'text/csv', 'Evidence reference ids, descriptions, SHA-256 and dates, shaped for the ROC evidence tables'),
  ];
  if (opts.oscal) {
    step('rendering the OSCAL assessment-results document');
    derived.push(doc('oscal/assessment-results.json', renderOscal(report, { bundle_id: bundleId, checkpoints }, { artifacts }), 'application/json', 'OSCAL 1.0.6 assessment-results: observations per testing procedure, tool-generated findings for the automatable part, back-matter resources with the SHA-256 of each artifact'));
  }
  const derivedArtifacts = derived.map((d, i) => ({ ...stripBytes(d), ref: `EV-BUNDLE-${String(i + 1).padStart(3, '0')}`, sha256: sha256(d.bytes), size: d.bytes.length }));

  const manifest: Manifest = {
    bundle_id: bundleId,
    tool: report.tool,
    standard: STANDARD,
    requirements: report.requirements,
    period,
    generated: input.generatedAt,
    origin: input.origin,
    log,
    checkpoints,
    keys: { root: input.rootPub.toString('base64'), epochs: input.epochs },
    artifacts: [...artifacts, ...derivedArtifacts],
  };
  step('signing the manifest');
  const mBytes = manifestBytes(manifest);
  const sig = signManifest(mBytes, opts.key);
  const contents = [
    ...[...drafts.values()].map((d) => ({ path: d.path, bytes: d.bytes })),
    ...derived.map((d) => ({ path: d.path, bytes: d.bytes })),
    { path: 'manifest.json', bytes: mBytes },
    { path: 'manifest.sig', bytes: Buffer.from(`${JSON.stringify(sig, null, 2)}\n`) },
  ];
  const files = [...contents, { path: 'SHA256SUMS', bytes: sha256sums(contents) }];
  step('writing the zip');
  return { zip: writeZip(files), manifest, manifestSha256: sha256(mBytes), report, files };
}

/** Drafts by path; a path produced twice must carry the same bytes (its procedures are merged). */
function mergeDrafts(list: ArtifactDraft[]): Map<string, ArtifactDraft> {
  const out = new Map<string, ArtifactDraft>();
  for (const d of list) {
    const seen = out.get(d.path);
    if (!seen) { out.set(d.path, { ...d, procedures: [...d.procedures] }); continue; }
    if (!seen.bytes.equals(d.bytes)) throw new Error(`evidence: two checks produced different contents for ${d.path}`);
    for (const p of d.procedures) if (!seen.procedures.includes(p)) seen.procedures.push(p);
  }
  return out;
}

function assignRefs(drafts: ArtifactDraft[]): Artifact[] {
  const counters = new Map<string, number>();
  return drafts.map((d) => {
    const key = d.procedures[0] ?? 'GENERAL';
    const n = (counters.get(key) ?? 0) + 1;
    counters.set(key, n);
    return { ...stripBytes(d), ref: `EV-${key}-${String(n).padStart(3, '0')}`, sha256: sha256(d.bytes), size: d.bytes.length };
  });
}

function stripBytes(d: ArtifactDraft): Omit<ArtifactDraft, 'bytes'> {
  const { bytes: _bytes, ...rest } = d;
  return rest;
}

function doc(path: string, bytes: Buffer, mediaType: string, description: string): ArtifactDraft {
  return { path, bytes, mediaType, description, procedures: [], method: 'TEST' };
}

function logRange(input: EvidenceInput): Manifest['log'] {
  const first = input.inPeriod[0];
  const last = input.inPeriod[input.inPeriod.length - 1];
  return { records: input.inPeriod.length, first_seq: first?.record.seq ?? null, last_seq: last?.record.seq ?? null };
}

/**
 * The valid signed checkpoints that cover the period: every one made during it, plus the first one at or
 * after its last record (which seals the period's end) and the last one before it (which fixes its start).
 */
export function coveringCheckpoints(input: EvidenceInput): Manifest['checkpoints'] {
  const valid = input.checkpoints.filter((c) => c.valid);
  const lastSeq = input.inPeriod[input.inPeriod.length - 1]?.record.seq;
  const firstSeq = input.inPeriod[0]?.record.seq;
  const keep = new Set<number>();
  valid.forEach((c, i) => {
    if (c.time >= input.period.since && c.time <= input.period.until) keep.add(i);
  });
  if (lastSeq !== undefined) {
    const sealing = valid.findIndex((c) => c.size > lastSeq);
    if (sealing >= 0) keep.add(sealing);
  }
  if (firstSeq !== undefined) {
    let before = -1;
    valid.forEach((c, i) => { if (c.size <= firstSeq) before = i; });
    if (before >= 0) keep.add(before);
  }
  // The newest valid checkpoint is what the sample proofs are built against: always include it.
  if (valid.length > 0) keep.add(valid.length - 1);
  return [...keep].sort((a, b) => a - b).map((i) => {
    const c = valid[i]!;
    return { size: c.size, root: c.root, time: c.time, epoch: c.epoch, note: c.note };
  });
}
