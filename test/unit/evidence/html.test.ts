/**
 * index.html of an evidence bundle (src/evidence/html.ts): every sub-requirement as a block with its id and
 * status, the header and offline-verification text, the artifact table, escaping of record-derived text, and a
 * page that needs nothing outside itself.
 */
import { describe, expect, it } from 'vitest';
import { EvidenceReportInvalid } from '../../../src/errors.js';
import { STATUS_TEXT, artifactHref, renderIndexHtml } from '../../../src/evidence/html.js';
import { HOSTILE, reportFixture } from './report-fixture.js';

const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/** The markup of the block with id `req-<id>` (blocks do not nest). */
function block(page: string, id: string): string {
  const start = page.indexOf(`<article class="proc st-`, page.indexOf(`id="req-${id}"`) - 60);
  expect(start, `block req-${id}`).toBeGreaterThanOrEqual(0);
  return page.slice(start, page.indexOf('</article>', start));
}

describe('renderIndexHtml', () => {
  const report = reportFixture();
  const page = renderIndexHtml(report).toString('utf8');
  const procedures = report.sections.flatMap((s) => s.procedures);

  it('has a block per sub-requirement with its id, data-status and the status in words', () => {
    expect(procedures.length).toBe(20);
    expect(new Set(procedures.map((p) => p.status))).toEqual(new Set(['evidence', 'exception', 'manual']));
    for (const p of procedures) {
      const b = block(page, p.id);
      expect(b).toContain(`id="req-${p.id}" data-status="${p.status}"`);
      expect(b).toContain(`<p class="status st-${p.status}">${escape(STATUS_TEXT[p.status])}</p>`);
      expect(b).toContain(escape(p.asks));
      expect(b).toContain(escape(p.checked));
      expect(b).toContain(escape(p.result));
      expect(b).toContain(escape(p.limits));
      for (const [k, v] of Object.entries(p.figures)) expect(b).toContain(`<th scope="row" class="mono">${escape(k)}</th><td class="mono">${escape(v === null ? '—' : String(v))}</td>`);
    }
    expect(page.match(/<article /g)).toHaveLength(procedures.length);
    for (const r of report.requirements) expect(page).toContain(`<section id="req-${r}" aria-labelledby="req-${r}-h"><h2 id="req-${r}-h">Requirement ${r} — `);
  });

  it('links each evidence id to its artifact path inside the bundle', () => {
    const byRef = new Map(report.artifacts.map((a) => [a.ref, a]));
    for (const p of procedures) {
      const b = block(page, p.id);
      for (const ref of p.evidence_refs) expect(b).toContain(`<a href="${byRef.get(ref)!.path}">${ref}</a>`);
      if (p.evidence_refs.length === 0) expect(b).toContain('No artifact');
    }
    expect(artifactHref('samples/a b#c.jsonl')).toBe('samples/a%20b%23c.jsonl');
  });

  it('lists every artifact with ref, path, description, procedures, method and SHA-256', () => {
    const table = page.slice(page.indexOf('<section id="artifacts"'));
    for (const a of report.artifacts) {
      const row = table.slice(table.indexOf(`<tr id="${a.ref}">`), table.indexOf('</tr>', table.indexOf(`<tr id="${a.ref}">`)));
      expect(row).toContain(`<th scope="row" class="mono">${a.ref}</th>`);
      expect(row).toContain(`<a href="${a.path}">${a.path}</a>`);
      expect(row).toContain(escape(a.description));
      expect(row).toContain(`<td>${a.procedures.join(', ')}</td><td>${a.method}</td><td class="sha">${a.sha256}</td>`);
    }
    expect(table).toContain('<th scope="col">SHA-256</th>');
  });

  it('states the standard, bundle, period, origin, generation, tool, verify result, and that it is no compliance determination', () => {
    for (const s of [report.standard, report.bundle_id, report.period.since, report.period.until, report.origin, report.generated, `pcigate ${report.tool.version}`, '40 (seq 3–42)']) {
      expect(page.slice(0, page.indexOf('</header>'))).toContain(s);
    }
    expect(page).toContain('<dd class="v-warn" id="verify-result" data-verify="warn">intact with 1 warning(s)');
    expect(page).toContain('testing procedures, not a compliance determination.');
    expect(page).toContain('<pre><code>pcigate evidence verify FILE.zip --root-key root.pub</code></pre>');
    expect(page).toContain('sha256sum -c SHA256SUMS');
    const failed = renderIndexHtml({ ...report, verify: { result: 'fail', problems: 3 } }).toString('utf8');
    expect(failed).toContain('<dd class="v-failed" id="verify-result" data-verify="fail">FAILED: 3 problem(s)');
  });

  it('escapes record-derived text everywhere it appears', () => {
    expect(page).not.toContain(HOSTILE);
    expect(page).not.toMatch(/<script/i);
    expect(page).not.toContain('<b>co</b>');
    // In a result, a figure value and an artifact description.
    expect(page.split(escape(HOSTILE)).length - 1).toBeGreaterThanOrEqual(4);
  });

  it('is one accessible page that needs nothing outside itself', () => {
    expect(page.startsWith('<!DOCTYPE html>\n<html lang="en">')).toBe(true);
    expect(page).toContain(`<meta http-equiv="Content-Security-Policy" content="${escape("default-src 'none'; style-src 'unsafe-inline'; img-src data:")}">`);
    expect(page).not.toMatch(/\s(src|srcset)=/i);
    expect(page).not.toMatch(/<link|@import|url\(/i);
    expect(page).not.toMatch(/https?:\/\//);
    expect(page).toContain('<h1>');
    expect(page.match(/<th scope="col">/g)!.length).toBeGreaterThan(6);
  });

  it('never says compliant or pass', () => {
    expect(page).not.toMatch(/\bcompliant\b/i);
    expect(page).not.toMatch(/\bpass(ed|es)?\b/i);
    const passed = renderIndexHtml({ ...report, verify: { result: 'pass', problems: 0 } }).toString('utf8');
    expect(passed).toContain('data-verify="pass">intact: hash chain');
    expect(passed.replace('data-verify="pass"', '')).not.toMatch(/\bpass(ed|es)?\b/i);
  });

  it('is deterministic', () => {
    expect(renderIndexHtml(reportFixture()).equals(renderIndexHtml(reportFixture()))).toBe(true);
  });

  it('refuses a procedure that cites a reference id no artifact carries', () => {
    const bad = reportFixture();
    bad.sections[0]!.procedures[0]!.evidence_refs.push('EV-9.9.9-001');
    expect(() => renderIndexHtml(bad)).toThrow(EvidenceReportInvalid);
    expect(() => renderIndexHtml(bad)).toThrow(/3\.3\.1 cites EV-9\.9\.9-001/);
  });
});
