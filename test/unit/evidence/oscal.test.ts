/**
 * The OSCAL assessment-results document (src/evidence/oscal.ts): valid against NIST's OSCAL 1.0.6
 * assessment-results JSON Schema (read from ../shared/oscal/, never copied into the project), and mapped as
 * ../shared/PCI.md lays out: uuid = bundle id, one observation per procedure, findings only for the automatable
 * part and marked tool-generated, back-matter resources with each artifact's SHA-256 and evidence ref.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import type { ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { EvidenceReportInvalid } from '../../../src/errors.js';
import { controlId, renderOscal, uuidV5 } from '../../../src/evidence/oscal.js';
import { BUNDLE_ID, HOSTILE, manifestFixture, reportFixture } from './report-fixture.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SCHEMA = path.resolve(REPO, '../shared/oscal/oscal_assessment-results_schema.json');
const noSchema = !existsSync(SCHEMA);
if (noSchema) process.stderr.write(`skipping OSCAL schema validation: ${SCHEMA} is absent (NIST's OSCAL 1.0.6 assessment-results JSON Schema)\n`);

/** ajv 8 over NIST's draft-07 schema; unicode patterns (\p{L}) and formats (date-time, uri-reference) on. */
let compiled: ValidateFunction | undefined;
function validator(): ValidateFunction {
  if (compiled) return compiled;
  const ajv = new Ajv({ allErrors: true, strict: false });
  // ajv-formats is CommonJS; its callable is module.exports, whose `default` is itself.
  addFormatsModule.default(ajv);
  compiled = ajv.compile(JSON.parse(readFileSync(SCHEMA, 'utf8')) as object);
  return compiled;
}

interface Doc {
  'assessment-results': {
    uuid: string;
    metadata: Record<string, unknown> & { props: Array<{ name: string; value: string }> };
    'import-ap': { href: string };
    results: Array<{
      start: string; end: string;
      'reviewed-controls': { 'control-selections': Array<{ 'include-controls': Array<{ 'control-id': string }> }> };
      observations: Array<{ uuid: string; title: string; methods: string[]; collected: string; origins: Array<{ actors: Array<{ type: string; 'actor-uuid': string }> }>; props: Array<{ name: string; value: string }>; 'relevant-evidence'?: Array<{ href: string; description: string }> }>;
      findings: Array<{ uuid: string; title: string; remarks: string; props: Array<{ name: string; value: string }>; target: { type: string; 'target-id': string; status: { state: string } }; 'related-observations': Array<{ 'observation-uuid': string }>; 'related-risks'?: Array<{ 'risk-uuid': string }> }>;
      risks: Array<{ uuid: string; status: string; description: string }>;
      'local-definitions': { 'assessment-assets': { components: Array<{ uuid: string }> } };
    }>;
    'back-matter': { resources: Array<{ uuid: string; props?: Array<{ name: string; value: string }>; citation?: { text: string }; rlinks?: Array<{ href: string; hashes?: Array<{ algorithm: string; value: string }> }> }> };
  };
}

const render = (): Buffer => renderOscal(reportFixture(), manifestFixture(), { artifacts: reportFixture().artifacts });
const parse = (b: Buffer): Doc => JSON.parse(b.toString('utf8')) as Doc;

describe('renderOscal', () => {
  const report = reportFixture();
  const bytes = render();
  const doc = parse(bytes)['assessment-results'];
  const result = doc.results[0]!;
  const procedures = report.sections.flatMap((s) => s.procedures);

  it.skipIf(noSchema)('validates against the OSCAL 1.0.6 assessment-results JSON Schema', () => {
    const validate = validator();
    const ok = validate(JSON.parse(bytes.toString('utf8')));
    if (!ok) process.stderr.write(`ajv errors:\n${JSON.stringify(validate.errors, null, 2)}\n`);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
    // Also with a failed verify, an empty period and no procedures at all.
    const empty = { ...reportFixture(), sections: [], artifacts: [], log: { records: 0, first_seq: null, last_seq: null }, verify: { result: 'fail' as const, problems: 2 } };
    const ok2 = validate(JSON.parse(renderOscal(empty, { bundle_id: BUNDLE_ID, checkpoints: [] }, { artifacts: [] }).toString('utf8')));
    if (!ok2) process.stderr.write(`ajv errors (empty):\n${JSON.stringify(validate.errors, null, 2)}\n`);
    expect(ok2).toBe(true);
  });

  it.skipIf(noSchema)('the validator is really applied: a broken document fails', () => {
    const validate = validator();
    const noUuid = parse(render());
    delete (noUuid['assessment-results'] as Partial<Doc['assessment-results']>).uuid;
    expect(validate(noUuid)).toBe(false);
    expect(validate.errors!.some((e) => e.params && (e.params as { missingProperty?: string }).missingProperty === 'uuid')).toBe(true);

    const badUuid = parse(render());
    badUuid['assessment-results'].results[0]!.observations[0]!.uuid = 'not-a-uuid';
    expect(validate(badUuid)).toBe(false);

    const badState = parse(render());
    badState['assessment-results'].results[0]!.findings[0]!.target.status.state = 'compliant';
    expect(validate(badState)).toBe(false);

    const badDate = parse(render());
    badDate['assessment-results'].results[0]!.observations[0]!.collected = '2026-11-22 06:30';
    expect(validate(badDate)).toBe(false);
  });

  it('maps the bundle: uuid, metadata, period, import-ap, reviewed controls', () => {
    expect(doc.uuid).toBe(BUNDLE_ID);
    expect(doc.metadata['oscal-version']).toBe('1.0.6');
    expect(doc.metadata['last-modified']).toBe(report.generated);
    expect(doc.metadata.version).toBe(report.tool.version);
    expect(doc.metadata.props).toContainEqual(expect.objectContaining({ name: 'tool', value: 'pcigate' }));
    expect(result.start).toBe(report.period.since);
    expect(result.end).toBe(report.period.until);
    const resources = new Map(doc['back-matter'].resources.map((r) => [r.uuid, r]));
    expect(doc['import-ap'].href).toMatch(/^#/);
    expect(resources.has(doc['import-ap'].href.slice(1))).toBe(true);
    expect(result['reviewed-controls']['control-selections'][0]!['include-controls'].map((c) => c['control-id']))
      .toEqual(procedures.map((p) => `pcidss-4.0.1_${p.id}`));
  });

  it('has one observation per procedure, by the tool, citing its artifacts as back-matter resources', () => {
    const resources = new Map(doc['back-matter'].resources.map((r) => [r.uuid, r]));
    const byRef = new Map(report.artifacts.map((a) => [a.ref, a]));
    const tool = result['local-definitions']['assessment-assets'].components[0]!.uuid;
    expect(result.observations).toHaveLength(procedures.length);
    procedures.forEach((p, i) => {
      const o = result.observations[i]!;
      expect(o.title.startsWith(`${p.id} `)).toBe(true);
      expect(o.collected).toBe(report.generated);
      expect(o.origins[0]!.actors[0]).toEqual({ type: 'tool', 'actor-uuid': tool });
      expect(o.props).toContainEqual(expect.objectContaining({ name: 'pcigate-status', value: p.status }));
      const cited = p.evidence_refs.map((r) => byRef.get(r)!);
      expect(o.methods).toEqual((['TEST', 'EXAMINE'] as const).filter((m) => cited.some((a) => a.method === m)).concat(cited.length === 0 ? ['EXAMINE'] : []));
      expect((o['relevant-evidence'] ?? []).map((e) => {
        const r = resources.get(e.href.slice(1))!;
        return r.props!.find((x) => x.name === 'evidence-ref')!.value;
      })).toEqual(p.evidence_refs);
    });
  });

  it('makes findings only for the automatable part, satisfied/not-satisfied (with an open risk), marked tool-generated', () => {
    const automatable = procedures.filter((p) => p.status !== 'manual');
    expect(automatable.length).toBeLessThan(procedures.length);
    expect(result.findings.map((f) => f.target['target-id'])).toEqual(automatable.map((p) => `pcidss-4.0.1_${p.id}_obj`));
    automatable.forEach((p, i) => {
      const f = result.findings[i]!;
      expect(f.target.type).toBe('objective-id');
      expect(f.target.status.state).toBe(p.status === 'evidence' ? 'satisfied' : 'not-satisfied');
      expect(f.props).toContainEqual(expect.objectContaining({ name: 'generated-by', value: 'tool' }));
      expect(f.remarks).toMatch(/Tool-generated.*not a QSA determination/);
      expect(f['related-observations'][0]!['observation-uuid']).toBe(result.observations[procedures.indexOf(p)]!.uuid);
      const risk = result.risks.find((r) => r.uuid === f['related-risks']?.[0]?.['risk-uuid']);
      if (p.status === 'exception') expect(risk).toMatchObject({ status: 'open', description: p.result });
      else expect(f['related-risks']).toBeUndefined();
    });
    expect(result.risks).toHaveLength(procedures.filter((p) => p.status === 'exception').length);
  });

  it('has a back-matter resource per artifact with its path, SHA-256 and evidence ref, and the signed checkpoints', () => {
    for (const a of report.artifacts) {
      const r = doc['back-matter'].resources.find((x) => x.props?.some((p) => p.name === 'evidence-ref' && p.value === a.ref));
      expect(r, a.ref).toBeDefined();
      expect(r!.rlinks).toEqual([expect.objectContaining({ href: a.path, hashes: [{ algorithm: 'SHA-256', value: a.sha256 }] })]);
    }
    for (const c of manifestFixture().checkpoints) {
      expect(doc['back-matter'].resources.some((r) => r.citation?.text === c.note)).toBe(true);
    }
    const uuids = [doc.uuid, ...doc['back-matter'].resources.map((r) => r.uuid), ...result.observations.map((o) => o.uuid), ...result.findings.map((f) => f.uuid), ...result.risks.map((r) => r.uuid)];
    expect(new Set(uuids).size).toBe(uuids.length);
  });

  it('names controls with OSCAL tokens', () => {
    expect(controlId('10.2.1.4')).toBe('pcidss-4.0.1_10.2.1.4');
    expect(controlId('3.3.1 a/b')).toBe('pcidss-4.0.1_3.3.1-a-b');
  });

  it('is deterministic, with uuids derived from the bundle id (RFC 4122 version 5)', () => {
    expect(render().equals(bytes)).toBe(true);
    // The RFC 4122 namespace example, as Python's uuid.uuid5(NAMESPACE_DNS, 'www.example.com') computes it.
    expect(uuidV5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com')).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
    expect(result.observations[0]!.uuid).toBe(uuidV5(BUNDLE_ID, `observation:${procedures[0]!.id}`));
    const other = '0b6e1c0e-5f6a-4d8e-8a3b-2c1d0e9f8a7b';
    const doc2 = parse(renderOscal({ ...reportFixture(), bundle_id: other }, { ...manifestFixture(), bundle_id: other }, { artifacts: report.artifacts }))['assessment-results'];
    expect(doc2.uuid).toBe(other);
    expect(doc2.results[0]!.observations[0]!.uuid).not.toBe(result.observations[0]!.uuid);
  });

  it('keeps record-derived text as data and never says compliant or pass', () => {
    const text = bytes.toString('utf8');
    expect(text).toContain(JSON.stringify(HOSTILE).slice(1, -1));
    expect(text).not.toMatch(/\bcompliant\b/i);
    expect(text).not.toMatch(/\bpass(ed|es)?\b/i);
  });

  it('refuses a bundle id that is not a UUID, a manifest of another bundle, and a dangling evidence ref', () => {
    expect(() => renderOscal({ ...reportFixture(), bundle_id: 'bundle-1' }, { ...manifestFixture(), bundle_id: 'bundle-1' }, { artifacts: [] })).toThrow(EvidenceReportInvalid);
    expect(() => renderOscal(reportFixture(), { ...manifestFixture(), bundle_id: '0b6e1c0e-5f6a-4d8e-8a3b-2c1d0e9f8a7b' }, { artifacts: [] })).toThrow(/manifest is for bundle/);
    const bad = reportFixture();
    bad.sections[3]!.procedures[0]!.evidence_refs.push('EV-9.9.9-001');
    expect(() => renderOscal(bad, manifestFixture(), { artifacts: bad.artifacts })).toThrow(/cites EV-9\.9\.9-001/);
  });
});
