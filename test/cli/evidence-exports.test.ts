/**
 * `pcigate evidence` scans pcigate's own exports for 3.3.1/3.5.1, end to end through the built bin, on the data
 * home of real proxied sessions (test/harness/evidence-home.ts): an earlier bundle and a `replay --html` page
 * are announced in the log with their path and SHA-256, found and scanned by the next bundle; then a leaked
 * copy — the page at its recorded path with a full PAN and track data planted in it — is an exception under
 * 3.3.1 and 3.5.1 naming the file, its changed hash is reported, the bundle moved away is stated as missing,
 * and the planted PAN appears nowhere in the new bundle.
 */
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readZip } from '../../src/archive/zip.js';
import type { BundleReport } from '../../src/evidence/types.js';
import { tempDir } from '../harness/cli.js';
import { buildEvidenceHome, readHomeLog, TEST_PANS } from '../harness/evidence-home.js';
import type { EvidenceHome } from '../harness/evidence-home.js';

/** A Visa test PAN not seeded in the fixture's database: it can only come from the planted copy. */
const PLANTED = '4012888888881881';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let h: EvidenceHome;
let work: string;
let first: string;
let page: string;

interface Bundle { files: Map<string, Buffer>; report: BundleReport; exports: string[][] }

async function bundle(name: string): Promise<Bundle> {
  const out = path.join(work, `${name}.zip`);
  const r = await h.cli(['evidence', '--req', '3', '--out', out, '--json']);
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
  const files = new Map(readZip(readFileSync(out)).map((e) => [e.path, e.bytes]));
  const rows = files.get('req3/exports.csv')!.toString('utf8').split('\r\n').filter(Boolean).map((l) => l.split(','));
  return { files, report: JSON.parse(files.get('report.json')!.toString('utf8')) as BundleReport, exports: rows };
}
const proc = (b: Bundle, id: string) => b.report.sections.flatMap((s) => s.procedures).find((p) => p.id === id)!;
/** exports.csv row for a path: [status, pan_findings, sad_findings]. */
const exportRow = (b: Bundle, p: string) => {
  const head = b.exports[0]!;
  const row = b.exports.find((r) => r[head.indexOf('path')] === p);
  if (!row) throw new Error(`no export row for ${p}: ${b.exports.map((r) => r.join(',')).join('\n')}`);
  return ['status', 'pan_findings', 'sad_findings', 'recorded_sha256', 'sha256_now'].map((c) => row[head.indexOf(c)]);
};

beforeAll(async () => {
  h = await buildEvidenceHome();
  work = tempDir('pcigate-evidence-exports-');
  first = path.join(work, 'first.zip');
  const r = await h.cli(['evidence', '--req', '3', '--out', first]);
  expect(r.code, r.stderr).toBe(0);
  const recorded = readHomeLog(h.home).find((x) => (x.blobs ?? []).some((b) => /asciicast|pg-transcript/.test(b.kind)));
  expect(recorded, 'the fixture has a session with a recording').toBeTruthy();
  page = path.join(work, 'session.html');
  const rp = await h.cli(['replay', recorded!.session!, '--html', page]);
  expect(rp.code, rp.stderr).toBe(0);
}, 300_000);
afterAll(async () => {
  await h?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('evidence scans the exports the log announces', () => {
  let clean: Bundle;

  it('the export records carry the absolute path and SHA-256 of the files written', () => {
    const log = readHomeLog(h.home);
    expect(log.find((x) => x.type === 'evidence.export')!.detail).toMatchObject({ file: 'first.zip', path: first, sha256: sha256(readFileSync(first)) });
    expect(log.filter((x) => x.type === 'audit.access').at(-1)!.detail).toMatchObject({ command: 'replay', html: true, path: page, sha256: sha256(readFileSync(page)) });
  });

  it('finds the earlier bundle and the replay page, scans them (zip entries inside) and finds them unchanged and clean', async () => {
    clean = await bundle('second');
    for (const id of ['3.3.1', '3.5.1']) {
      const p = proc(clean, id);
      expect(p.status, `${id}: ${p.result}`).toBe('evidence');
      expect(p.figures).toMatchObject({ exports_recorded: 2, exports_scanned: 2, exports_changed: 0, exports_missing: 0, export_findings: 0 });
      expect(p.result).toContain('Exports: 2 recorded exports: 2 scanned.');
    }
    expect(exportRow(clean, first).slice(0, 3)).toEqual(['unchanged', '0', '0']);
    expect(exportRow(clean, page).slice(0, 3)).toEqual(['unchanged', '0', '0']);
  });

  it('a leaked copy at the page\'s path is an exception naming the file, the changed hash and the moved bundle are stated, the PAN is nowhere in the bundle', async () => {
    const original = readFileSync(page, 'utf8');
    const end = original.lastIndexOf('</body>');
    writeFileSync(page, `${original.slice(0, end)}<p>card ${PLANTED}</p><p>;${PLANTED}=25121010000000000000?</p>${original.slice(end)}`);
    renameSync(first, path.join(work, 'moved-off.zip'));
    const b = await bundle('third');
    const p351 = proc(b, '3.5.1');
    const p331 = proc(b, '3.3.1');
    expect(p351.status).toBe('exception');
    expect(p331.status).toBe('exception');
    expect(p351.result).toContain(`${page}:`);
    expect(p331.result).toContain(`${page}:`);
    expect(p351.result).toContain(`changed since exported: ${page}`);
    expect(p351.result).toContain('1 no longer at the recorded path (moved off the machine or deleted; not scanned)');
    expect(p351.figures).toMatchObject({ exports_recorded: 3, exports_scanned: 2, exports_changed: 1, exports_missing: 1, export_findings: 3 });
    const [status, pans, sad, recordedSha, nowSha] = exportRow(b, page);
    expect([status, pans, sad]).toEqual(['changed', '2', '1']);
    expect(nowSha).toBe(sha256(readFileSync(page)));
    expect(recordedSha).toBe(exportRow(clean, page)[3]);
    expect(exportRow(b, first).slice(0, 3)).toEqual(['missing', '0', '0']);
    expect(exportRow(b, path.join(work, 'second.zip')).slice(0, 3)).toEqual(['unchanged', '0', '0']);
    const scan = b.files.get('req3/pan-sad-scan.csv')!.toString('utf8');
    expect(scan).toContain(`export,${page},`);
    expect(scan).toContain('************1881');
    // index.html shows the per-export result under both procedures, and lists req3/exports.csv as evidence.
    const index = b.files.get('index.html')!.toString('utf8');
    expect(index).toContain(`changed since exported: ${page}`);
    expect(index).toContain('req3/exports.csv');
    for (const [name, bytes] of b.files) {
      const text = bytes.toString('utf8').replace(/[ -]/g, '');
      for (const pan of [PLANTED, ...TEST_PANS]) expect(text.includes(pan), `${pan} in ${name}`).toBe(false);
    }
  });
});
