/**
 * index.html of an evidence bundle opened in headless Chromium from disk (issue 9: "index.html opened in headless
 * Chromium shows every sub-requirement checked"): every sub-requirement of the report is in the rendered DOM with
 * its status, laid out and visible with its status in words, record-derived markup stays text, and the page makes
 * no network request.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { STATUS_TEXT, renderIndexHtml } from '../../src/evidence/html.js';
import { tempDir } from '../harness/cli.js';
import { reportFixture } from '../unit/evidence/report-fixture.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
if (!CHROMIUM) process.stderr.write('skipping the evidence index.html test in a browser: chromium is not installed (apt-get install chromium)\n');

/** Temporary directories (pages, Chromium profiles) removed when the file's tests end. */
const made: string[] = [];
const temp = (prefix: string): string => {
  const d = tempDir(prefix);
  made.push(d);
  return d;
};
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** Loads `file` in headless Chromium; returns the DOM after layout and the URLs the page itself requested. */
function openInChromium(file: string, dir: string): { dom: string; pageRequests: string[] } {
  const netlog = path.join(dir, `net-${path.basename(file)}.json`);
  const r = spawnSync(CHROMIUM!, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run',
    `--user-data-dir=${temp('pcigate-chromium-profile-')}`, `--log-net-log=${netlog}`,
    '--virtual-time-budget=5000', '--run-all-compositor-stages-before-draw', '--dump-dom', `file://${file}`,
  ], { encoding: 'utf8', timeout: 90_000 });
  expect(r.status, r.stderr).toBe(0);
  // Chromium's log of its network stack: requests a page makes carry its origin as initiator ("null" for a
  // file: page); the browser's own background traffic has none. One event a line, parsed line by line.
  const events = readFileSync(netlog, 'utf8').split('\n').filter((l) => l.startsWith('{"params"'))
    .map((l) => JSON.parse(l.replace(/,\s*$/, '').replace(/\]\}\s*$/, '')) as { params?: { url?: string; initiator?: string } });
  const pageRequests = events.filter((e) => e.params?.url && e.params.initiator !== undefined && e.params.initiator !== 'not an origin').map((e) => e.params!.url!);
  return { dom: r.stdout, pageRequests };
}

const unescape = (s: string): string => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');

/**
 * What the page looks like to a reader: for each block, its id, data-status, laid-out height and its rendered
 * text (innerText follows CSS, so hidden text is not in it). The page itself has no script and a CSP that forbids
 * one; this copy adds one at the end and relaxes only script-src so the measurement can run.
 */
const MEASURE = `<script>(function(){var out=[];document.querySelectorAll('article').forEach(function(a){var r=a.getBoundingClientRect();var cs=getComputedStyle(a);out.push({id:a.id,status:a.getAttribute('data-status'),height:r.height,visible:cs.visibility==='visible'&&cs.display!=='none',text:a.innerText});});document.body.setAttribute('data-shown',encodeURIComponent(JSON.stringify(out)));})();</script>`;

describe.skipIf(!CHROMIUM)('evidence index.html in headless Chromium', () => {
  const report = reportFixture();
  const procedures = report.sections.flatMap((s) => s.procedures);

  function writeBundleDir(): { dir: string; file: string; page: string } {
    const dir = temp('pcigate-evidence-html-');
    const page = renderIndexHtml(report).toString('utf8');
    const file = path.join(dir, 'index.html');
    writeFileSync(file, page);
    // The artifacts the page links to, as they sit next to it in an unzipped bundle.
    for (const a of report.artifacts) {
      mkdirSync(path.dirname(path.join(dir, a.path)), { recursive: true });
      writeFileSync(path.join(dir, a.path), `${a.ref}\n`);
    }
    return { dir, file, page };
  }

  it('every sub-requirement is in the rendered DOM with its status, and the page fetches nothing', () => {
    const { dir, file } = writeBundleDir();
    const { dom, pageRequests } = openInChromium(file, dir);
    expect(dom).toContain(`<title>pcigate evidence — PCI DSS v4.0.1 — ${report.bundle_id}</title>`);
    const articles = [...dom.matchAll(/<article class="proc st-(\w+)" id="req-([\d.]+)" data-status="(\w+)"[^>]*>([\s\S]*?)<\/article>/g)]
      .map((m) => ({ cls: m[1]!, id: m[2]!, status: m[3]!, body: m[4]! }));
    expect(articles.map((a) => a.id)).toEqual(procedures.map((p) => p.id));
    for (const p of procedures) {
      const a = articles.find((x) => x.id === p.id)!;
      expect(a.status).toBe(p.status);
      expect(a.cls).toBe(p.status);
      expect(unescape(a.body)).toContain(`<p class="status st-${p.status}">${STATUS_TEXT[p.status]}</p>`);
      for (const ref of p.evidence_refs) {
        const art = report.artifacts.find((x) => x.ref === ref)!;
        expect(a.body).toContain(`<a href="${art.path}">${ref}</a>`);
        expect(existsSync(path.join(dir, art.path))).toBe(true);
      }
    }
    // Markup from records is text in the DOM, not elements.
    expect(dom).not.toMatch(/<script/i);
    expect(dom).not.toContain('<b>co</b>');
    expect(pageRequests).toEqual([]);
  }, 120_000);

  it('every sub-requirement is laid out and visible with its id, title and status in words', () => {
    const { dir, page } = writeBundleDir();
    const measured = path.join(dir, 'measured.html');
    writeFileSync(measured, page
      .replace("default-src &#39;none&#39;;", "default-src &#39;none&#39;; script-src &#39;unsafe-inline&#39;;")
      .replace('</body>', `${MEASURE}</body>`));
    const { dom } = openInChromium(measured, dir);
    const m = /data-shown="([^"]*)"/.exec(dom);
    expect(m, 'the measuring script ran').not.toBeNull();
    const shown = JSON.parse(decodeURIComponent(m![1]!)) as Array<{ id: string; status: string; height: number; visible: boolean; text: string }>;
    expect(shown.map((s) => s.id)).toEqual(procedures.map((p) => `req-${p.id}`));
    for (const p of procedures) {
      const s = shown.find((x) => x.id === `req-${p.id}`)!;
      expect(s.visible).toBe(true);
      expect(s.height).toBeGreaterThan(40);
      const lines = s.text.split('\n').map((l) => l.trim()).filter(Boolean);
      expect(lines[0]).toBe(`${p.id} ${p.title}`);
      expect(lines[1]).toBe(STATUS_TEXT[p.status]);
      expect(s.text).toContain(p.result);
      for (const ref of p.evidence_refs) expect(s.text).toContain(ref);
    }
  }, 120_000);
});
