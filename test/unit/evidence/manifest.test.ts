/**
 * The bundle's index files (src/evidence/manifest.ts): manifest.json is canonical JSON without a newline,
 * manifest.sig verifies with the epoch key it names, SHA256SUMS is what `sha256sum -c` reads, and
 * evidence-index.csv is RFC 4180 that Python's csv module reads back field for field.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalize } from '../../../recorder/canonical-json.js';
import { ed25519Verify, generateEd25519 } from '../../../recorder/ed25519.js';
import { EVIDENCE_INDEX_COLUMNS, evidenceIndexCsv, manifestBytes, sha256sums, signManifest } from '../../../src/evidence/manifest.js';
import type { Artifact, Manifest } from '../../../src/evidence/types.js';
import { STANDARD } from '../../../src/evidence/types.js';

let tmp: string;
beforeAll(async () => { tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'pcigate-manifest-')); });
afterAll(async () => { await fsp.rm(tmp, { recursive: true, force: true }); });

const ARTIFACTS: Artifact[] = [
  { ref: 'EV-10.2.2-001', path: 'samples/pg.query.jsonl', sha256: 'a'.repeat(64), size: 10, mediaType: 'application/x-ndjson', description: 'Sampled pg.query records, "byte-identical", one a line', procedures: ['10.2.2', '10.2.1.1'], method: 'EXAMINE' },
  { ref: 'EV-3.4.1-001', path: 'config/effective-config.json', sha256: 'b'.repeat(64), size: 20, mediaType: 'application/json', description: 'Masking rules, roles\nthat may unmask', procedures: ['3.4.1', '7.2.2', '10.2.1'], method: 'EXAMINE' },
  { ref: 'EV-BUNDLE-001', path: 'report.json', sha256: 'c'.repeat(64), size: 30, mediaType: 'application/json', description: 'The results', procedures: [], method: 'TEST' },
];

const MANIFEST: Manifest = {
  bundle_id: 'b', tool: { name: 'pcigate', version: '1.0.0' }, standard: STANDARD, requirements: ['10', '3'],
  period: { since: '2026-11-01T00:00:00.000000Z', until: '2026-11-22T00:00:00.000000Z' }, generated: '2026-11-22T08:00:00.000000Z',
  origin: 'o', log: { records: 0, first_seq: null, last_seq: null }, checkpoints: [], keys: { root: 'r', epochs: [] }, artifacts: ARTIFACTS,
};

describe('manifest.json and manifest.sig', () => {
  it('manifestBytes is RFC 8785 canonical JSON, UTF-8, no trailing newline', () => {
    const b = manifestBytes({ ...MANIFEST, bundle_id: 'ünïcode ✓' });
    expect(b.toString('utf8')).toBe(canonicalize({ ...MANIFEST, bundle_id: 'ünïcode ✓' }));
    expect(b.toString('utf8').startsWith('{"artifacts":[')).toBe(true);
    expect(b[b.length - 1]).toBe('}'.charCodeAt(0));
  });

  it('signManifest signs the exact bytes with the epoch key and names it', () => {
    const k = generateEd25519();
    const bytes = manifestBytes(MANIFEST);
    const sig = signManifest(bytes, { epoch: 3, privateKey: k.privateKey, publicRaw: k.publicRaw });
    expect(sig).toMatchObject({ alg: 'Ed25519', epoch: 3, key: k.publicRaw.toString('base64') });
    expect(ed25519Verify(k.publicRaw, bytes, Buffer.from(sig.sig, 'base64'))).toBe(true);
    expect(ed25519Verify(k.publicRaw, Buffer.concat([bytes, Buffer.from('\n')]), Buffer.from(sig.sig, 'base64'))).toBe(false);
  });

  it('signManifest refuses a private key that does not match the public key it would name', () => {
    const a = generateEd25519();
    const b = generateEd25519();
    expect(() => signManifest(Buffer.from('{}'), { epoch: 0, privateKey: a.privateKey, publicRaw: b.publicRaw })).toThrow(/does not match/);
  });
});

describe('SHA256SUMS', () => {
  const files = [
    { path: 'samples/z.jsonl', bytes: Buffer.from('z\n') },
    { path: 'SHA256SUMS.txt', bytes: Buffer.from('not the sums') },
    { path: 'a b/with space.csv', bytes: Buffer.from('a,b\r\n') },
    { path: 'Index.html', bytes: Buffer.from('<p>') },
    { path: 'é.json', bytes: Buffer.from('{}') },
  ];

  it('lines `<hex>  <path>` sorted by UTF-8 bytes', () => {
    const text = sha256sums(files).toString('utf8');
    const lines = text.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => l.slice(66))).toEqual(['Index.html', 'SHA256SUMS.txt', 'a b/with space.csv', 'samples/z.jsonl', 'é.json']);
    expect(lines[0]).toBe(`${createHash('sha256').update('<p>').digest('hex')}  Index.html`);
    expect(sha256sums([...files].reverse()).equals(sha256sums(files))).toBe(true);
  });

  it('sha256sum -c accepts it, and rejects a changed file', async () => {
    const dir = path.join(tmp, 'sums');
    for (const f of files) {
      await fsp.mkdir(path.dirname(path.join(dir, f.path)), { recursive: true });
      await fsp.writeFile(path.join(dir, f.path), f.bytes);
    }
    await fsp.writeFile(path.join(dir, 'SHA256SUMS'), sha256sums(files));
    const ok = spawnSync('sha256sum', ['-c', '--strict', 'SHA256SUMS'], { cwd: dir, encoding: 'utf8' });
    expect(ok.status, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout.match(/: OK$/gm)).toHaveLength(files.length);
    await fsp.writeFile(path.join(dir, 'Index.html'), '<p>!');
    const bad = spawnSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: dir, encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain('Index.html: FAILED');
  });

  it('refuses names sha256sum would have to escape', () => {
    expect(() => sha256sums([{ path: 'a\nb', bytes: Buffer.alloc(0) }])).toThrow(/newline or backslash/);
    expect(() => sha256sums([{ path: 'a\\b', bytes: Buffer.alloc(0) }])).toThrow(/newline or backslash/);
  });
});

describe('evidence-index.csv', () => {
  it('a header row and one RFC 4180 row per artifact, as Python csv reads it', async () => {
    const csv = evidenceIndexCsv(ARTIFACTS, '2026-11-22T08:00:00.000000Z');
    expect(csv.toString().startsWith('ref,description,sha256,date,requirements,testing_procedures,method,path\r\n')).toBe(true);
    const file = path.join(tmp, 'index.csv');
    await fsp.writeFile(file, csv);
    const py = spawnSync('python3', ['-c', 'import csv, json, sys\nprint(json.dumps(list(csv.reader(open(sys.argv[1], newline="", encoding="utf-8"), strict=True))))', file], { encoding: 'utf8' });
    expect(py.status, py.stderr).toBe(0);
    const rows = JSON.parse(py.stdout) as string[][];
    expect(rows[0]).toEqual([...EVIDENCE_INDEX_COLUMNS]);
    expect(rows.slice(1)).toEqual([
      ['EV-10.2.2-001', 'Sampled pg.query records, "byte-identical", one a line', 'a'.repeat(64), '2026-11-22', '10', '10.2.2; 10.2.1.1', 'EXAMINE', 'samples/pg.query.jsonl'],
      ['EV-3.4.1-001', 'Masking rules, roles\nthat may unmask', 'b'.repeat(64), '2026-11-22', '3; 7; 10', '3.4.1; 7.2.2; 10.2.1', 'EXAMINE', 'config/effective-config.json'],
      ['EV-BUNDLE-001', 'The results', 'c'.repeat(64), '2026-11-22', '', '', 'TEST', 'report.json'],
    ]);
  });
});
