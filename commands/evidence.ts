/** `pcigate evidence`: a signed, offline-verifiable evidence bundle per PCI DSS requirement (issue 9). */
import path from 'node:path';
import type { CommandSpec } from '../src/cli/command.js';
import type { Ctx } from '../src/cli/ctx.js';
import { EXIT } from '../src/cli/exit-codes.js';
import type { Output } from '../src/cli/output.js';
import { placeOutput, refuseExisting, stagingName } from '../src/cli/output-file.js';
import { VERSION } from '../src/cli/version.js';
import { resolveAuditHome } from '../src/config/resolve-home.js';
import { AuditWriteError, UsageError } from '../src/errors.js';
import { buildBundle, parseSelection } from '../src/evidence/build.js';
import type { BuiltBundle } from '../src/evidence/build.js';
import { collectEvidence, loadConfigEvidence } from '../src/evidence/collect.js';
import { exportFields } from '../src/evidence/exports.js';
import { expandedLimitOption } from '../src/mask/scan-archive.js';
import { accessActor, recordAccessEvent } from '../src/sessions/audit-access.js';
import type { AccessRecorded } from '../src/sessions/audit-access.js';
import { auditLogOptionsFromConfig } from '../recorder/index.js';
import type { AuditEvent } from '../recorder/index.js';
import type { Actor } from '../recorder/types.js';
import { loadKeys } from '../recorder/keys.js';

const STATUS_TEXT = { evidence: 'evidence found', exception: 'EXCEPTION — examine', manual: 'manual — not automatable' } as const;

export const spec: CommandSpec = {
  description: [
    'Builds a zip an assessor can cite and verify offline: manifest.json (canonical JSON, every artifact with a',
    'stable reference id such as EV-10.2.2-003, its SHA-256, the testing procedure it serves and the method),',
    'manifest.sig (Ed25519 by the current epoch key, key chain to the root), SHA256SUMS, index.html, report.json,',
    'the verify report, sampled records with inclusion proofs to signed checkpoints, the effective configuration',
    'with secrets redacted, the 10.2.2 field map, statistics, gaps and evidence-index.csv. Each result is',
    '"evidence for requirement X, testing procedure Y" — never a compliance determination. Building a bundle is',
    'itself recorded in the audit log (evidence.export, PCI DSS 10.2.1.3); if that record cannot be written, no',
    'bundle is written either. --req takes 3, 7, 8, 10, all, or a sub-requirement such as 10.2.2 or 8.6.2.',
  ].join(' '),
  options: [
    { flags: '--req <requirement...>', description: 'requirement(s): 3, 7, 8, 10, all, or a sub-requirement like 10.2.2 (repeatable)' },
    { flags: '--out <file>', description: 'the zip to write (required); an existing file is not replaced without --force' },
    { flags: '--force', description: 'replace the --out file if it exists' },
    { flags: '--since <time>', description: 'start of the period: RFC 3339, YYYY-MM-DD, or a duration back from now (90d); default: the first record' },
    { flags: '--until <time>', description: 'end of the period (same forms); default: now' },
    { flags: '--sample <n>', description: 'sampled records per event type, each with an inclusion proof (default 3)' },
    { flags: '--oscal', description: 'also write oscal/assessment-results.json (OSCAL 1.0.6)' },
    { flags: '--root-key <file>', description: 'the root public key to verify the log against (default: keys/root.pub of the home)' },
    {
      flags: '--max-expanded <size>',
      description: 'requirement 3: most bytes one recording or export may expand to when scanned, archives inside included, e.g. 4G (default 1G; 0 or unlimited: no limit), as pcigate scan --max-expanded',
    },
  ],
  examples: [
    ['requirement 10 for the last quarter', 'pcigate evidence --req 10 --since 90d --out req10.zip'],
    ['everything, with an OSCAL document', 'pcigate evidence --req all --oscal --out evidence.zip'],
    ['check a bundle you were given', 'pcigate evidence verify evidence.zip --root-key root.pub'],
  ],
  async run(ctx, { opts, global, out }) {
    const reqValues = Array.isArray(opts.req) ? (opts.req as string[]) : [];
    if (reqValues.length === 0) throw new UsageError('--req is required: 3, 7, 8, 10, all, or a sub-requirement such as 10.2.2');
    const selection = parseSelection(reqValues.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean));
    if (!selection) {
      throw new UsageError(`--req ${reqValues.join(' ')}: pcigate has evidence for requirements 3, 7, 8 and 10 (or all, or a sub-requirement such as 10.2.2)`);
    }
    if (typeof opts.out !== 'string' || opts.out === '') throw new UsageError('--out FILE.zip is required');
    const outFile = path.resolve(ctx.cwd, opts.out);
    const sample = parseSample(opts.sample);
    const maxExpanded = expandedLimitOption(opts.maxExpanded);
    const progress = (s: string) => { if (!out.json) out.say(`… ${s}`); };
    const force = opts.force === true;
    await refuseExisting(ctx, outFile, force);

    const { home, audit, identity } = await resolveAuditHome(ctx, global, out.warn);
    progress(`reading the configuration and the audit log in ${home}`);
    const config = await loadConfigEvidence(ctx, { ...(global.config ? { config: global.config } : {}), home });
    if (config.error) out.warn(`warning: the configuration did not load (${config.error}); configuration checks will say so`);
    const input = await collectEvidence(ctx, {
      home, config,
      ...(typeof opts.since === 'string' ? { since: opts.since } : {}),
      ...(typeof opts.until === 'string' ? { until: opts.until } : {}),
      ...(sample !== undefined ? { sample } : {}),
      ...(typeof opts.rootKey === 'string' ? { rootKeyFile: path.resolve(ctx.cwd, opts.rootKey) } : {}),
      ...(maxExpanded !== undefined ? { maxExpanded } : {}),
      // The log's PAN/SAD scan serves requirement 3 only.
      scanLog: selection.requirements.includes('3'),
    });
    progress(`${input.inPeriod.length} records in the period ${input.period.since} … ${input.period.until}; log verify: ${input.verify.result}`);
    const keys = await loadKeys(ctx, home);
    const bundle = buildBundle(input, {
      selection, oscal: opts.oscal === true, version: VERSION, progress,
      key: { epoch: keys.epoch, privateKey: keys.privateKey, publicRaw: keys.publicRaw },
    });

    // Fail closed (PCI DSS 10.2.1.3): the bundle reaches its destination only once its export is recorded.
    const actor = await accessActor(ctx, { identity }, home, out.warn);
    const tmp = stagingName(outFile);
    let recorded: AccessRecorded;
    try {
      await ctx.fs.writeFile(tmp, bundle.zip, { mode: 0o600 }).catch((e: unknown) => {
        const err = e as NodeJS.ErrnoException;
        throw Object.assign(new Error(`the bundle could not be written to ${outFile}: ${err.message}`, { cause: e }), { code: err.code });
      });
      recorded = await recordAccessEvent(ctx, auditLogOptionsFromConfig(home, audit), exportEvent(ctx, actor, bundle, outFile)).catch((e: unknown) => {
        throw new AuditWriteError(`the bundle was not written: its export could not be recorded in the audit log (${(e as Error).message})`, { cause: e });
      });
      await placeOutput(ctx, tmp, outFile, force);
    } catch (e) {
      await ctx.fs.rm(tmp, { force: true });
      throw e;
    }

    const procs = bundle.report.sections.flatMap((s) => s.procedures);
    const counts = { evidence: 0, exception: 0, manual: 0 };
    for (const p of procs) counts[p.status]++;
    if (out.json) {
      out.printJson({
        out: outFile, bundle_id: bundle.manifest.bundle_id, manifest_sha256: bundle.manifestSha256,
        requirements: selection.requirements, period: input.period, records: input.inPeriod.length,
        verify: input.verify.result, files: bundle.files.length, artifacts: bundle.manifest.artifacts.length,
        procedures: procs.map((p) => ({ id: p.id, status: p.status, result: p.result, evidence: p.evidence_refs })),
        counts, recorded,
      });
    } else {
      printSummary(out, bundle, outFile, counts, recorded);
    }
    return EXIT.ok;
  },
};

function parseSample(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 1000) {
    throw new UsageError(`--sample expects a number of records per event type from 1 to 1000, got ${JSON.stringify(v)}`);
  }
  return Number(v);
}

function exportEvent(ctx: Ctx, actor: Actor, bundle: BuiltBundle, outFile: string): AuditEvent {
  return {
    type: 'evidence.export',
    actor,
    account: { kind: 'os', name: ctx.user.name },
    target: { kind: 'log' },
    outcome: 'success',
    detail: {
      bundle_id: bundle.manifest.bundle_id, file: path.basename(outFile), ...exportFields(outFile, bundle.zip), manifest_sha256: bundle.manifestSha256,
      requirements: bundle.manifest.requirements, period: bundle.manifest.period, records: bundle.manifest.log.records,
      artifacts: bundle.manifest.artifacts.length,
    },
  };
}

function printSummary(out: Output, bundle: BuiltBundle, outFile: string, counts: Record<'evidence' | 'exception' | 'manual', number>, recorded: { seq: number | null; via: string }): void {
  const lines: string[] = [];
  for (const s of bundle.report.sections) {
    lines.push(out.paint('bold', `Requirement ${s.requirement} — ${s.title}`));
    for (const p of s.procedures) {
      const status = STATUS_TEXT[p.status];
      const painted = p.status === 'exception' ? out.paint('red', status) : p.status === 'manual' ? out.paint('yellow', status) : out.paint('green', status);
      const refs = p.evidence_refs.length > 4 ? `${p.evidence_refs.slice(0, 4).join(', ')} +${p.evidence_refs.length - 4} more` : p.evidence_refs.join(', ');
      lines.push(`  ${p.id.padEnd(10)} ${painted}  ${p.result}${refs ? `  [${refs}]` : ''}`);
    }
  }
  lines.push('');
  lines.push(`${counts.evidence} procedures with evidence, ${counts.exception} with exceptions, ${counts.manual} manual`);
  lines.push(`wrote ${outFile}: bundle ${bundle.manifest.bundle_id}, ${bundle.files.length} files, ${bundle.manifest.artifacts.length} artifacts, manifest sha256 ${bundle.manifestSha256}`);
  lines.push(`recorded as evidence.export ${recorded.via === 'log' ? `(seq ${recorded.seq})` : '(in the audit outbox: a running broker owns the log)'}`);
  lines.push(`verify it offline: pcigate evidence verify ${path.basename(outFile)} --root-key root.pub`);
  out.data(lines.join('\n'));
}
