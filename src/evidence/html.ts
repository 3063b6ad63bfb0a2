/**
 * `index.html` of an evidence bundle (issue 9 item 1): the report for people. One self-contained page (inline
 * CSS, no script, a CSP that forbids every fetch) that opens from the unzipped bundle: a header that states the
 * standard, the bundle, the period and the log's verify result, and says plainly that this is evidence for
 * testing procedures, not a compliance determination; how to verify the bundle offline; per requirement a
 * section and per sub-requirement a block (`id="req-10.2.1.4"`, `data-status`) with what it asks, what pcigate
 * checked, the result, its figures, the evidence ids linking to the artifacts inside the bundle, and the limits;
 * then the artifact table an assessor cites from (ROC Section 6). Every inserted string is escaped: results and
 * figures carry text from log records (actor emails, object names) that may hold `<`, `&` or quotes.
 */
import { escapeHtml } from '../replay/html-page.js';
import { EvidenceReportInvalid } from '../errors.js';
import type { Artifact, BundleReport, ProcedureStatus } from './types.js';

/** How each status reads on the page; never "compliant" or "pass" (the QSA makes the determination). */
export const STATUS_TEXT = {
  evidence: 'Evidence found',
  exception: 'Exception — examine',
  manual: 'Manual — not automatable',
} as const satisfies Record<ProcedureStatus, string>;

type Procedure = BundleReport['sections'][number]['procedures'][number];

const CSS = `
body{font:14px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{padding:16px 24px;background:#fff;border-bottom:1px solid #d9dde4}
h1{font-size:20px;margin:0 0 8px}h2{font-size:17px;margin:24px 0 8px}h3{font-size:15px;margin:0 0 6px}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:8px 0 0}
dl.meta dt{color:#5a6272}dl.meta dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}
.notice{margin:8px 0;padding:8px 12px;border-radius:4px;background:#eef3fb;border:1px solid #b7c8e6}
.v-intact{color:#135c2a}.v-warn{color:#7a4b00}.v-failed{color:#8a1010;font-weight:700}
main{padding:8px 24px 24px;max-width:1100px}
pre{background:#fff;border:1px solid #d9dde4;border-radius:4px;padding:6px 10px;overflow-x:auto}
code,.mono{font-family:ui-monospace,monospace}
.proc{background:#fff;border:1px solid #d9dde4;border-left:6px solid #8a93a3;border-radius:4px;padding:10px 14px;margin:0 0 12px}
.proc.st-evidence{border-left-color:#2e7d32}.proc.st-exception{border-left-color:#c62828}.proc.st-manual{border-left-color:#8a93a3}
.status{display:inline-block;font-weight:600;padding:1px 8px;border-radius:3px;margin:0 0 6px}
.status.st-evidence{background:#e3f5e8;color:#135c2a}.status.st-exception{background:#fde2e1;color:#8a1010}.status.st-manual{background:#eceef2;color:#3b4252}
td.st-evidence{color:#135c2a;font-weight:600}td.st-exception{color:#8a1010;font-weight:600}td.st-manual{color:#3b4252}
dl.facts{display:grid;grid-template-columns:12em 1fr;gap:4px 12px;margin:6px 0}dl.facts dt{color:#5a6272}dl.facts dd{margin:0}
ul.refs{margin:0;padding:0;list-style:none}
table{border-collapse:collapse;margin:6px 0;font-size:13px}caption{text-align:left;color:#5a6272;padding-bottom:2px}
td,th{border:1px solid #d9dde4;padding:3px 8px;text-align:left;vertical-align:top}thead th{background:#eef0f4}
td.sha{font-family:ui-monospace,monospace;font-size:11px;word-break:break-all}
footer{padding:12px 24px;color:#5a6272;font-size:12px}
@media print{body{background:#fff}.proc{break-inside:avoid}}
`;

/** A link target for an artifact inside the unzipped bundle: each path segment percent-encoded (RFC 3986 §3.3). */
export function artifactHref(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

const h = escapeHtml;

function verifyText(v: BundleReport['verify']): { cls: string; text: string } {
  if (v.result === 'pass') return { cls: 'v-intact', text: 'intact: hash chain, signed checkpoints and key epochs verified, no problems (verify-report.json)' };
  if (v.result === 'warn') return { cls: 'v-warn', text: `intact with ${v.problems} warning(s) to examine (verify-report.json)` };
  return { cls: 'v-failed', text: `FAILED: ${v.problems} problem(s) — the log may have been altered; examine verify-report.json` };
}

function figureValue(v: string | number | boolean | null): string {
  if (v === null) return '—';
  return String(v);
}

function headerHtml(r: BundleReport): string {
  const v = verifyText(r.verify);
  const seqs = r.log.first_seq === null ? 'none' : `seq ${r.log.first_seq}–${r.log.last_seq}`;
  const rows: Array<[string, string]> = [
    ['Standard', r.standard],
    ['Requirements', r.requirements.join(', ')],
    ['Bundle id', r.bundle_id],
    ['Period', `${r.period.since} – ${r.period.until}`],
    ['Log origin', r.origin],
    ['Records in period', `${r.log.records} (${seqs})`],
    ['Generated', r.generated],
    ['Tool', `${r.tool.name} ${r.tool.version}`],
  ];
  const dl = rows.map(([k, val]) => `<dt>${h(k)}</dt><dd>${h(val)}</dd>`).join('');
  return `<header><h1>Evidence bundle — ${h(r.standard)}</h1>`
    + `<p class="notice" id="notice"><strong>This bundle is evidence for ${h(r.standard)} testing procedures, not a compliance determination.</strong> `
    + 'For each sub-requirement it says what pcigate checked in its audit log and configuration and what it found. '
    + 'The assessor (QSA) examines the evidence and makes the finding in the Report on Compliance.</p>'
    + `<dl class="meta">${dl}<dt>Log verification</dt><dd class="${v.cls}" id="verify-result" data-verify="${h(r.verify.result)}">${h(v.text)}</dd></dl></header>`;
}

function verifyOfflineHtml(): string {
  return '<section id="verify-offline" aria-labelledby="verify-offline-h"><h2 id="verify-offline-h">How to verify this bundle offline</h2>'
    + '<p>Every file is listed with its SHA-256 in <code>manifest.json</code>, which is signed (<code>manifest.sig</code>) by the log\'s current epoch key; '
    + 'the epoch key is certified by the root key. Obtain <code>root.pub</code> from the log\'s owner, not from the bundle, then run:</p>'
    + '<pre><code>pcigate evidence verify FILE.zip --root-key root.pub</code></pre>'
    + '<p>It checks the signature, the key chain, every file hash and the inclusion proof of every sampled record against the signed checkpoints, without network or data home, and exits with status 3 naming the file on any failure. Without pcigate, the file hashes alone:</p>'
    + '<pre><code>unzip FILE.zip -d bundle &amp;&amp; cd bundle &amp;&amp; sha256sum -c SHA256SUMS</code></pre></section>';
}

function refsHtml(p: Procedure, byRef: Map<string, Artifact>): string {
  if (p.evidence_refs.length === 0) return 'No artifact: this procedure rests on documents, observation or interviews outside pcigate.';
  const items = p.evidence_refs.map((ref) => {
    const a = byRef.get(ref);
    if (!a) throw new EvidenceReportInvalid(`evidence: procedure ${p.id} cites ${ref}, which is not among the bundle's artifacts`);
    return `<li><a href="${h(artifactHref(a.path))}">${h(ref)}</a> <span class="mono">${h(a.path)}</span> — ${h(a.description)}</li>`;
  });
  return `<ul class="refs">${items.join('')}</ul>`;
}

function figuresHtml(p: Procedure): string {
  const entries = Object.entries(p.figures);
  if (entries.length === 0) return '';
  const rows = entries.map(([k, v]) => `<tr><th scope="row" class="mono">${h(k)}</th><td class="mono">${h(figureValue(v))}</td></tr>`).join('');
  return `<table class="figures"><caption>Figures for ${h(p.id)}</caption><thead><tr><th scope="col">Figure</th><th scope="col">Value</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function procedureHtml(p: Procedure, byRef: Map<string, Artifact>): string {
  const id = `req-${p.id}`;
  return `<article class="proc st-${h(p.status)}" id="${h(id)}" data-status="${h(p.status)}" aria-labelledby="${h(id)}-h">`
    + `<h3 id="${h(id)}-h">${h(p.id)} ${h(p.title)}</h3>`
    + `<p class="status st-${h(p.status)}">${h(STATUS_TEXT[p.status])}</p>`
    + '<dl class="facts">'
    + `<dt>What it asks</dt><dd>${h(p.asks)}</dd>`
    + `<dt>What pcigate checked</dt><dd>${h(p.checked)}</dd>`
    + `<dt>Result</dt><dd class="result">${h(p.result)}</dd>`
    + `<dt>Evidence</dt><dd>${refsHtml(p, byRef)}</dd>`
    + `<dt>Limits</dt><dd>${h(p.limits)}</dd>`
    + `</dl>${figuresHtml(p)}</article>`;
}

function summaryHtml(r: BundleReport): string {
  const all = r.sections.flatMap((s) => s.procedures);
  const count = (st: ProcedureStatus): number => all.filter((p) => p.status === st).length;
  const rows = r.sections.flatMap((s) => s.procedures.map((p) =>
    `<tr><td><a href="#req-${h(p.id)}">${h(p.id)}</a></td><td>${h(p.title)}</td><td class="st-${h(p.status)}">${h(STATUS_TEXT[p.status])}</td></tr>`)).join('');
  return '<nav aria-labelledby="summary-h"><h2 id="summary-h">Sub-requirements checked</h2>'
    + `<p>${all.length} sub-requirement(s): ${count('evidence')} with evidence found, ${count('exception')} exception(s) to examine, ${count('manual')} manual.</p>`
    + `<table><thead><tr><th scope="col">Requirement</th><th scope="col">Title</th><th scope="col">Result</th></tr></thead><tbody>${rows}</tbody></table></nav>`;
}

function artifactsHtml(artifacts: Artifact[]): string {
  const rows = artifacts.map((a) => `<tr id="${h(a.ref)}"><th scope="row" class="mono">${h(a.ref)}</th>`
    + `<td class="mono"><a href="${h(artifactHref(a.path))}">${h(a.path)}</a></td><td>${h(a.description)}</td>`
    + `<td>${h(a.procedures.join(', '))}</td><td>${h(a.method)}</td><td class="sha">${h(a.sha256)}</td></tr>`).join('');
  return '<section id="artifacts" aria-labelledby="artifacts-h"><h2 id="artifacts-h">Artifacts</h2>'
    + '<p>Cite an artifact by its reference id. Its SHA-256 is also in <code>manifest.json</code>, <code>SHA256SUMS</code> and <code>evidence-index.csv</code>.</p>'
    + '<table><thead><tr><th scope="col">Ref</th><th scope="col">Path</th><th scope="col">Description</th><th scope="col">Procedures</th><th scope="col">Method</th><th scope="col">SHA-256</th></tr></thead>'
    + `<tbody>${rows}</tbody></table></section>`;
}

/**
 * Renders index.html for a bundle (issue 9; ../shared/PCI.md "A bundle layout that maps onto OSCAL"). Pure and
 * deterministic: the same report gives the same bytes. Throws EvidenceReportInvalid when a procedure cites a
 * reference id that is not among `report.artifacts` (the page would otherwise point at nothing).
 */
export function renderIndexHtml(report: BundleReport): Buffer {
  const byRef = new Map(report.artifacts.map((a) => [a.ref, a]));
  const sections = report.sections.map((s) =>
    `<section id="req-${h(s.requirement)}" aria-labelledby="req-${h(s.requirement)}-h"><h2 id="req-${h(s.requirement)}-h">Requirement ${h(s.requirement)} — ${h(s.title)}</h2>`
    + `${s.procedures.map((p) => procedureHtml(p, byRef)).join('')}</section>`).join('');
  // No script at all; the CSP also forbids every fetch, so the page cannot phone home when opened from disk.
  const csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";
  const title = `pcigate evidence — ${report.standard} — ${report.bundle_id}`;
  const page = '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
    + `<meta http-equiv="Content-Security-Policy" content="${h(csp)}"><meta name="viewport" content="width=device-width,initial-scale=1">`
    + `<title>${h(title)}</title><style>${CSS}</style></head><body>${headerHtml(report)}<main>`
    + `${summaryHtml(report)}${verifyOfflineHtml()}${sections}${artifactsHtml(report.artifacts)}</main>`
    + `<footer>Generated by ${h(report.tool.name)} ${h(report.tool.version)} at ${h(report.generated)}. Evidence for testing procedures; not a compliance determination.</footer></body></html>\n`;
  return Buffer.from(page, 'utf8');
}
