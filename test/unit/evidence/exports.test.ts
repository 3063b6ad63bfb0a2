/**
 * exports.ts (pure): which records announce an export, how each compares with what is at its path now (fed
 * through a lookup function), and the zip-aware scan — findings inside a bundle's deflated entries, masked.
 * export-files.ts reads real files (a zip, a gzip page, a directory, nothing) into the states it looks up.
 */
import { closeSync, constants, mkdtempSync, mkdirSync, openSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../../recorder/types.js';
import { readExportFiles } from '../../../src/evidence/export-files.js';
import { describeExport, exportFields, exportResults, recordedExports } from '../../../src/evidence/exports.js';
import { scanArchiveBytes } from '../../../src/mask/scan-archive.js';
import type { ExportFile } from '../../../src/evidence/exports.js';
import type { LoadedRecord } from '../../../src/evidence/types.js';
import type { ScanFinding } from '../../../src/mask/scan-files.js';
import { writeZip } from '../../../src/archive/zip.js';
import { testCtx } from '../../harness/test-ctx.js';

const PAN = '4111111111111111';
const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);

let seq = 0;
const rec = (type: string, detail: Record<string, unknown>, outcome: AuditRecord['outcome'] = 'success'): LoadedRecord => {
  const record = { v: 1, seq: ++seq, ts: `2026-01-01T00:00:${String(seq).padStart(2, '0')}.000000Z`, origin: 't', type, outcome, actor: { sub: 'carol', via: 'local' }, detail, prev: '' } as unknown as AuditRecord;
  return { record, index: seq };
};
const present = (sha256: string, findings: ScanFinding[] = []): ExportFile => ({ state: 'present', sha256, size: 10, findings, errors: [] });

describe('recordedExports', () => {
  it('takes evidence.export and replay --html records, with an absolute path and a hex SHA-256 only', () => {
    seq = 0;
    const records = [
      rec('evidence.export', { bundle_id: 'b1', file: 'old.zip' }), // before paths were recorded
      rec('audit.access', { command: 'replay', shown: true, recordings: [] }), // played on the terminal: no file
      rec('audit.access', { command: 'sessions' }),
      rec('audit.access', { command: 'replay', html: true, shown: false }), // --strict refused: no page written
      rec('audit.access', { command: 'replay', html: true, path: '/x/page.html', sha256: SHA_A }),
      rec('evidence.export', { file: 'e.zip', path: '/x/e.zip', sha256: SHA_B }),
      rec('evidence.export', { file: 'r.zip', path: 'relative/r.zip', sha256: 'not-hex' }),
      rec('evidence.export', { file: 'f.zip', path: '/x/f.zip', sha256: SHA_A }, 'failure'),
    ];
    expect(recordedExports(records).map((e) => [e.seq, e.record, e.what, e.path, e.sha256])).toEqual([
      [1, 'evidence.export', 'evidence bundle', null, null],
      [5, 'audit.access', 'replay page', '/x/page.html', SHA_A],
      [6, 'evidence.export', 'evidence bundle', '/x/e.zip', SHA_B],
      [7, 'evidence.export', 'evidence bundle', null, null],
    ]);
  });

  it('exportFields gives the absolute path and the SHA-256 of the bytes written', () => {
    expect(exportFields('/x/e.zip', Buffer.from('abc'))).toEqual({ path: '/x/e.zip', sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad' });
  });
});

describe('exportResults', () => {
  it('compares each export with its file: unchanged, changed, missing, unreadable, overwritten, no path', () => {
    seq = 0;
    const exports = recordedExports([
      rec('evidence.export', { path: '/x/same.zip', sha256: SHA_A }),
      rec('evidence.export', { path: '/x/edited.zip', sha256: SHA_A }),
      rec('audit.access', { command: 'replay', html: true, path: '/x/gone.html', sha256: SHA_A }),
      rec('evidence.export', { path: '/x/locked.zip', sha256: SHA_A }),
      rec('evidence.export', { path: '/x/again.zip', sha256: SHA_A }),
      rec('evidence.export', { path: '/x/again.zip', sha256: SHA_B }),
      rec('evidence.export', { file: 'old.zip' }),
    ]);
    const finding = { file: '/x/edited.zip!a.csv', line: 2, column: 1, kind: 'pan' as const, network: 'visa', masked: '************1111' };
    const files: Record<string, ExportFile> = {
      '/x/same.zip': present(SHA_A),
      '/x/edited.zip': present(SHA_B, [finding]),
      '/x/locked.zip': { state: 'unreadable', message: 'EACCES: permission denied' },
      '/x/again.zip': present(SHA_B),
    };
    const looked: string[] = [];
    const results = exportResults(exports, (p) => { looked.push(p); return files[p]; });
    expect(results.map((r) => r.status)).toEqual(['unchanged', 'changed', 'missing', 'unreadable', 'overwritten', 'unchanged', 'no path']);
    expect(looked).not.toContain(undefined);
    expect(looked.filter((p) => p === '/x/again.zip')).toHaveLength(1); // only the latest export to a path is compared
    expect(results[1]!.findings).toEqual([finding]);
    expect(results[1]!.sha256).toBe(SHA_B);
    expect(results[3]!.errors).toEqual([{ file: '/x/locked.zip', message: 'EACCES: permission denied' }]);
    expect(describeExport(results[1]!)).toContain(`changed since it was exported (SHA-256 ${SHA_B} ≠ recorded ${SHA_A})`);
    expect(describeExport(results[2]!)).toContain('no longer at that path (moved off the machine or deleted)');
    expect(describeExport(results[4]!)).toContain('overwritten by a later recorded export');
  });

  it('masks a PAN in a path it shows', () => {
    seq = 0;
    const [r] = exportResults(recordedExports([rec('evidence.export', { path: `/x/${PAN}.zip`, sha256: SHA_A })]), () => ({ state: 'unreadable', message: `EACCES: open '/x/${PAN}.zip'` }));
    expect(JSON.stringify(r)).toContain('/x/************1111.zip');
    expect(describeExport(r!)).not.toContain(PAN);
    expect(r!.errors[0]!.message).not.toContain(PAN);
  });
});

describe('scanArchiveBytes (shared with pcigate scan)', () => {
  it('finds a PAN and track data inside deflated entries and a gzip entry, naming zip!entry, values masked', () => {
    const filler = 'card ************1111 masked\n'.repeat(50); // compressible, so the entries are deflated
    const zip = writeZip([
      { path: 'report.json', bytes: Buffer.from(filler) },
      { path: 'leak/rows.csv', bytes: Buffer.from(`${filler}id,pan\n1,${PAN}\n`) },
      { path: 'leak/track.txt.gz', bytes: gzipSync(`${filler};${PAN}=25121010000000000000?\n`) },
    ]);
    expect(zip.includes(Buffer.from(PAN))).toBe(false); // the raw zip hides them: a plain scan would miss them
    const { findings, errors } = scanArchiveBytes(zip, '/x/e.zip', {});
    expect(errors).toEqual([]);
    expect(findings.map((f) => [f.file, f.line, f.kind])).toEqual([
      ['/x/e.zip!leak/rows.csv', 52, 'pan'],
      ['/x/e.zip!leak/track.txt.gz', 51, 'track_data'],
      ['/x/e.zip!leak/track.txt.gz', 51, 'pan'],
    ]);
    expect(JSON.stringify(findings)).not.toContain(PAN);
  });

  it('reports a damaged entry and a file that is not a zip, still scanning what it can', () => {
    // An Amex test PAN: deflate does not shrink this entry, so it is stored and readable in the raw bytes.
    const zip = writeZip([{ path: 'a.txt', bytes: Buffer.from('pan 378282246310005\n') }, { path: 'b.txt', bytes: Buffer.from('x'.repeat(200)) }]);
    expect(zip.includes(Buffer.from('378282246310005'))).toBe(true);
    const crcBroken = Buffer.from(zip);
    // a.txt's CRC-32 changed in its local header (offset 14) and its central directory entry (offset 16) alike.
    const central = zip.indexOf(Buffer.from('PK\u0001\u0002', 'latin1'));
    crcBroken.writeUInt32LE((zip.readUInt32LE(14) ^ 1) >>> 0, 14);
    crcBroken.writeUInt32LE((zip.readUInt32LE(central + 16) ^ 1) >>> 0, central + 16);
    const one = scanArchiveBytes(crcBroken, '/x/e.zip', {});
    expect(one.errors.map((e) => [e.file, e.message])).toEqual([['/x/e.zip!a.txt', expect.stringMatching(/^CRC-32 mismatch .*: not scanned$/)]]);
    const truncated = scanArchiveBytes(zip.subarray(0, zip.length - 10), '/x/t.zip', {});
    expect(truncated.errors[0]!.message).toMatch(/^zip not opened: not a zip file: no end-of-central-directory record .*; only its raw bytes were scanned$/);
    expect(truncated.findings.map((f) => [f.file, f.kind, f.masked])).toEqual([['/x/t.zip', 'pan', '***********0005']]);
  });
});

describe('readExportFiles (real files)', () => {
  it('hashes and scans a zip by its entries, a gzip page in chunks; missing and a directory are states', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-exports-'));
    const zipBytes = writeZip([{ path: 'x.csv', bytes: Buffer.from(`${'row\n'.repeat(100)}${PAN}\n`) }]);
    writeFileSync(path.join(dir, 'e.zip'), zipBytes);
    const page = `<html>${'<p>masked ************1111</p>\n'.repeat(2000)}<p>cvv: 123</p></html>`;
    writeFileSync(path.join(dir, 'p.html.gz'), gzipSync(page));
    mkdirSync(path.join(dir, 'adir'));
    const ctx = testCtx();
    const files = await readExportFiles(ctx, [path.join(dir, 'e.zip'), path.join(dir, 'p.html.gz'), path.join(dir, 'gone.html'), path.join(dir, 'adir'), path.join(dir, 'e.zip')], {});
    expect(files.size).toBe(4);
    const zip = files.get(path.join(dir, 'e.zip'))!;
    expect(zip).toMatchObject({ state: 'present', sha256: exportFields('', zipBytes).sha256, size: zipBytes.length, errors: [] });
    expect(zip.state === 'present' && zip.findings.map((f) => [f.file, f.line, f.kind])).toEqual([[`${path.join(dir, 'e.zip')}!x.csv`, 101, 'pan']]);
    const gz = files.get(path.join(dir, 'p.html.gz'))!;
    expect(gz.state === 'present' && gz.findings.map((f) => [f.file, f.line, f.kind, f.masked])).toEqual([[path.join(dir, 'p.html.gz'), 2001, 'sad_value', 'cvv: ***']]);
    expect(files.get(path.join(dir, 'gone.html'))).toEqual({ state: 'missing' });
    expect(files.get(path.join(dir, 'adir'))).toEqual({ state: 'unreadable', message: 'not a regular file' });
  });

  it('checks what it opened: a FIFO put at the path after a stat saw a regular file is refused, not waited on', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-exports-'));
    const fifo = path.join(dir, 'e.zip');
    execFileSync('mkfifo', [fifo]);
    const ctx = testCtx();
    // The swap between a check by path and the read: a stat of the path still says "regular file".
    const fs = { ...ctx.fs, stat: async () => ({ isFile: () => true, size: 0 }) } as unknown as typeof ctx.fs;
    try {
      const files = await Promise.race([
        readExportFiles({ ...ctx, fs }, [fifo], {}),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('waited on the FIFO')), 2000)),
      ]);
      expect(files.get(fifo)).toEqual({ state: 'unreadable', message: 'not a regular file' });
    } finally {
      // A reader left blocked on the FIFO (without the fix) is let go, so the worker can end.
      try { closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK)); } catch { /* no reader waiting */ }
    }
  });

  it('a file no longer regular when the scan opens the path again is an error, not a clean scan', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-exports-'));
    const file = path.join(dir, 'e.html');
    writeFileSync(file, `<p>${PAN}</p>`);
    const ctx = testCtx();
    // Swapped after it was opened and hashed: the scan's lstat of the path sees a FIFO and skips it.
    const fs = { ...ctx.fs, lstat: async () => ({ isDirectory: () => false, isFile: () => false }) } as unknown as typeof ctx.fs;
    const f = (await readExportFiles({ ...ctx, fs }, [file], {})).get(file)!;
    expect(f).toMatchObject({ state: 'present', findings: [], errors: [{ message: 'no longer a regular file when scanned: not scanned' }] });
  });

  it('scans the file a symlinked export path leads to, named by the recorded path', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-exports-'));
    writeFileSync(path.join(dir, 'real.zip'), writeZip([{ path: 'x.csv', bytes: Buffer.from(`${'row\n'.repeat(100)}${PAN}\n`) }]));
    symlinkSync(path.join(dir, 'real.zip'), path.join(dir, 'link.zip'));
    const files = await readExportFiles(testCtx(), [path.join(dir, 'link.zip')], {});
    const f = files.get(path.join(dir, 'link.zip'))!;
    expect(f.state === 'present' && f.findings.map((x) => [x.file, x.line, x.kind])).toEqual([[`${path.join(dir, 'link.zip')}!x.csv`, 101, 'pan']]);
  });
});
