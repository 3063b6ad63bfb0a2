import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { writeZip } from '../../../src/archive/zip.js';
import { ARCHIVE_LIMITS, archiveLimits, parseExpandedLimit } from '../../../src/mask/scan-archive.js';
import { scanPaths } from '../../../src/mask/scan-files.js';
import type { ScanOptions } from '../../../src/mask/scan-files.js';
import { testCtx } from '../../harness/test-ctx.js';

const PAN = '4111111111111111';
const AMEX = '378282246310005';
// Compressible filler, so the writer deflates the entries and the PANs are not in the zip's raw bytes.
const FILLER = 'card ************1111 masked\n'.repeat(40);

function dir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'pcigate-scan-archive-'));
}

async function scan(cwd: string, names: string[], opts: ScanOptions = {}) {
  const r = await scanPaths(testCtx({ cwd }), names, opts);
  expect(JSON.stringify(r)).not.toContain(PAN);
  expect(JSON.stringify(r)).not.toContain(AMEX);
  return {
    found: r.findings.map((f) => `${f.file}:${f.line}:${f.column}: ${f.kind} ${f.masked}`),
    errors: r.errors.map((e) => `${e.file}: ${e.message}`),
    files: r.files,
  };
}

describe('scanPaths inside archives', () => {
  it('scans each zip entry, named archive.zip!entry/path, with the line and column inside the entry', async () => {
    const d = dir();
    const zip = writeZip([
      { path: 'report.txt', bytes: Buffer.from(FILLER) },
      { path: 'leak/rows.csv', bytes: Buffer.from(`${FILLER}id,pan\n1,${PAN}\n`) },
      { path: 'leak/t.txt', bytes: Buffer.from(`${FILLER}x ;${AMEX}=2512101?\n`) },
    ]);
    expect(zip.includes(Buffer.from(PAN))).toBe(false); // deflated: a scan of the raw bytes would miss it
    // A zip under another name is opened too: archives are known by their magic bytes.
    writeFileSync(path.join(d, 'export.zip'), zip);
    writeFileSync(path.join(d, 'export.bin'), zip);
    const r = await scan(d, ['export.zip', 'export.bin']);
    expect(r.errors).toEqual([]);
    expect(r.found).toEqual([
      'export.zip!leak/rows.csv:42:3: pan ************1111',
      'export.zip!leak/t.txt:41:3: track_data ;***************=*******?',
      'export.zip!leak/t.txt:41:4: pan ***********0005',
      'export.bin!leak/rows.csv:42:3: pan ************1111',
      'export.bin!leak/t.txt:41:3: track_data ;***************=*******?',
      'export.bin!leak/t.txt:41:4: pan ***********0005',
    ]);
    expect(r.files).toBe(2);
  });

  it('reads a zip made by Info-ZIP zip, and reports its encrypted entry without losing the others', async () => {
    const d = dir();
    writeFileSync(path.join(d, 'plain.csv'), `${FILLER}1,${PAN}\n`);
    writeFileSync(path.join(d, 'secret.csv'), `${FILLER}2,${PAN}\n`);
    const a = spawnSync('zip', ['-q', 'mixed.zip', 'plain.csv'], { cwd: d, encoding: 'utf8' });
    expect(a.status, a.stderr).toBe(0);
    const b = spawnSync('zip', ['-q', '-P', 'pw', 'mixed.zip', 'secret.csv'], { cwd: d, encoding: 'utf8' });
    expect(b.status, b.stderr).toBe(0);
    const r = await scan(d, ['mixed.zip']);
    expect(r.found).toEqual(['mixed.zip!plain.csv:41:3: pan ************1111']);
    expect(r.errors).toEqual(['mixed.zip!secret.csv: it is encrypted: its content cannot be read: not scanned']);
  });

  it('opens an archive inside an archive one level deep, and reports one nested deeper without opening it', async () => {
    const d = dir();
    const innermost = writeZip([{ path: 'deep.csv', bytes: Buffer.from(`${FILLER}${PAN}\n`) }]);
    const inner = writeZip([
      { path: 'rows.csv', bytes: Buffer.from(`${FILLER}${PAN}\n`) },
      { path: 'deeper.zip', bytes: innermost },
      { path: 'deeper.csv.gz', bytes: gzipSync(`${FILLER}${PAN}\n`) },
    ]);
    writeFileSync(path.join(d, 'outer.zip'), writeZip([
      { path: 'a/inner.zip', bytes: inner },
      { path: 'dump.sql.gz', bytes: gzipSync(`${FILLER}${PAN}\n`) },
    ]));
    // A gzip holding a zip: the zip inside is the one level of nesting.
    writeFileSync(path.join(d, 'bundle.zip.gz'), gzipSync(inner));
    const r = await scan(d, ['outer.zip', 'bundle.zip.gz']);
    expect(r.found).toEqual([
      'outer.zip!a/inner.zip!rows.csv:41:1: pan ************1111',
      'outer.zip!dump.sql.gz:41:1: pan ************1111',
      'bundle.zip.gz!rows.csv:41:1: pan ************1111',
    ]);
    expect(r.errors).toEqual([
      'outer.zip!a/inner.zip!deeper.zip: a zip archive nested 2 levels deep: archives are opened one level inside another, no deeper; not scanned',
      'outer.zip!a/inner.zip!deeper.csv.gz: a gzip archive nested 2 levels deep: archives are opened one level inside another, no deeper; not scanned',
      'bundle.zip.gz!deeper.zip: a zip archive nested 2 levels deep: archives are opened one level inside another, no deeper; not scanned',
      'bundle.zip.gz!deeper.csv.gz: a gzip archive nested 2 levels deep: archives are opened one level inside another, no deeper; not scanned',
    ]);
  });

  it('decompression bombs: caps per entry and per file on disk, checked on the declared sizes before inflating', async () => {
    const d = dir();
    const limits = { maxEntryBytes: 10_000, maxExpandedBytes: 25_000 };
    const zeros = (n: number) => Buffer.alloc(n, 0x30);
    writeFileSync(path.join(d, 'entry.zip'), writeZip([
      { path: 'big.bin', bytes: zeros(20_000) },
      { path: 'ok.csv', bytes: Buffer.from(`${FILLER}${PAN}\n`) },
    ]));
    writeFileSync(path.join(d, 'total.zip'), writeZip([1, 2, 3].map((i) => ({ path: `part${i}.bin`, bytes: zeros(9_000) }))));
    writeFileSync(path.join(d, 'nested.zip'), writeZip([
      { path: 'a.gz', bytes: gzipSync(zeros(9_000)) },
      { path: 'b.gz', bytes: gzipSync(zeros(9_000)) },
      { path: 'c.gz', bytes: gzipSync(zeros(9_000)) },
    ]));
    writeFileSync(path.join(d, 'stream.gz'), gzipSync(`${PAN}\n${'0'.repeat(40_000)}\n${PAN}\n`));
    const r = await scan(d, ['entry.zip', 'total.zip', 'nested.zip', 'stream.gz'], { limits });
    const raise = 'pcigate scan --max-expanded SIZE raises the limit (e.g. 4G; 0 for none)';
    expect(r.errors).toEqual([
      'entry.zip!big.bin: expands to 20000 bytes (19.5 KiB), more than the 10000 bytes (9.8 KiB) one entry may (a quarter of the --max-expanded limit; a decompression bomb?): not scanned; pcigate scan --max-expanded 79K or more scans it',
      `total.zip: zip not opened: its entries would unpack to 27000 bytes (26.4 KiB), more than the 25000 bytes (24.4 KiB) left of the --max-expanded limit of 25000 bytes (24.4 KiB) for this file (a decompression bomb?); only its raw bytes were scanned; ${raise}`,
      // 25000 less the two gzip entries inflated before it (9000 each) and the three entries' own bytes.
      expect.stringMatching(/^nested\.zip!c\.gz: a gzip expanding to more than 6\d\d\d bytes \(\d\.\d KiB\), what is left of the --max-expanded limit of 25000 bytes \(24\.4 KiB\) for this file \(a decompression bomb\?\): not scanned; pcigate scan --max-expanded SIZE raises the limit \(e\.g\. 4G; 0 for none\)$/),
      `stream.gz: decompression stopped after 25000 bytes (24.4 KiB), the --max-expanded limit for one file (a decompression bomb?): those were scanned, the rest was not; ${raise}`,
    ]);
    // What was within the limits was scanned: the other entry, and the gzip's first 25000 bytes.
    expect(r.found).toEqual(['entry.zip!ok.csv:41:1: pan ************1111', 'stream.gz:1:1: pan ************1111']);
  });

  it('without limits (--max-expanded 0) archives held in memory are opened and scanned, bounded only by what a Buffer holds', async () => {
    const d = dir();
    writeFileSync(path.join(d, 'bundle.zip.gz'), gzipSync(writeZip([{ path: 'rows.csv', bytes: Buffer.from(`${FILLER}${PAN}\n`) }])));
    writeFileSync(path.join(d, 'outer.zip'), writeZip([{ path: 'd.gz', bytes: gzipSync(`${FILLER}${AMEX}\n`) }]));
    writeFileSync(path.join(d, 'dump.gz'), gzipSync(`${FILLER}${PAN}\n`));
    const r = await scan(d, ['bundle.zip.gz', 'outer.zip', 'dump.gz'], { limits: archiveLimits(Infinity) });
    expect(r.errors).toEqual([]);
    expect(r.found).toEqual([
      'bundle.zip.gz!rows.csv:41:1: pan ************1111',
      'outer.zip!d.gz:41:1: pan ***********0005',
      'dump.gz:41:1: pan ************1111',
    ]);
  });

  it('a damaged zip or gzip is a precise error, never a crash, and the rest is still scanned', async () => {
    const d = dir();
    const zip = writeZip([{ path: 'a.csv', bytes: Buffer.from(`pan ${AMEX}\n`) }, { path: 'b.txt', bytes: Buffer.from(FILLER) }]);
    writeFileSync(path.join(d, 'cut.zip'), zip.subarray(0, zip.length - 10));
    const gz = gzipSync(`${PAN}\n${FILLER}${FILLER}`);
    writeFileSync(path.join(d, 'cut.gz'), gz.subarray(0, gz.length - 20));
    writeFileSync(path.join(d, 'junk.gz'), Buffer.from([0x1f, 0x8b, 0x63, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]));
    writeFileSync(path.join(d, 'fine.txt'), `x ${PAN}\n`);
    const r = await scan(d, ['.']);
    expect(r.errors).toEqual([
      expect.stringMatching(/^cut\.gz: not a readable gzip: unexpected end of file \(after \d+ decompressed bytes, which were scanned\)$/),
      'cut.zip: zip not opened: not a zip file: no end-of-central-directory record (truncated or not a zip); only its raw bytes were scanned',
      'junk.gz: not a readable gzip: unknown compression method (after 0 decompressed bytes, which were scanned)',
    ]);
    // The stored (not deflated) entry shows in the truncated zip's raw bytes; the gzip's start was readable.
    expect(r.found).toEqual(['cut.gz:1:1: pan ************1111', 'cut.zip:1:37: pan ***********0005', 'fine.txt:1:3: pan ************1111']);
  });
});

describe('--max-expanded values', () => {
  it('parses sizes as pcigate scan takes them: K/M/G/T binary, KB/MB/GB decimal, 0 or unlimited for none', () => {
    expect(parseExpandedLimit('512M')).toBe(512 * 2 ** 20);
    expect(parseExpandedLimit('4G')).toBe(4 * 2 ** 30);
    expect(parseExpandedLimit('4g')).toBe(4 * 2 ** 30);
    expect(parseExpandedLimit('1.5G')).toBe(1.5 * 2 ** 30);
    expect(parseExpandedLimit('2T')).toBe(2 * 2 ** 40);
    expect(parseExpandedLimit('64MiB')).toBe(64 * 2 ** 20);
    expect(parseExpandedLimit('4GB')).toBe(4e9);
    expect(parseExpandedLimit('1048576')).toBe(2 ** 20);
    expect(parseExpandedLimit(' 8 G ')).toBe(8 * 2 ** 30);
    expect(parseExpandedLimit('0')).toBe(Infinity);
    expect(parseExpandedLimit('unlimited')).toBe(Infinity);
    expect(parseExpandedLimit('Unlimited')).toBe(Infinity);
    for (const bad of ['', '-1', '1x', 'G', '1.5.5G', '0.1', '4 GiBs', 'none']) expect(parseExpandedLimit(bad), bad).toBeUndefined();
  });

  it('a zip entry takes a quarter of the per-file limit; the defaults are 1 GiB per file, 256 MiB per entry', () => {
    expect(ARCHIVE_LIMITS).toEqual({ maxArchiveBytes: 512 * 2 ** 20, maxEntryBytes: 256 * 2 ** 20, maxExpandedBytes: 2 ** 30 });
    expect(archiveLimits(4 * 2 ** 30)).toEqual({ maxArchiveBytes: 512 * 2 ** 20, maxEntryBytes: 2 ** 30, maxExpandedBytes: 4 * 2 ** 30 });
    expect(archiveLimits(Infinity)).toEqual({ maxArchiveBytes: 512 * 2 ** 20, maxEntryBytes: Infinity, maxExpandedBytes: Infinity });
  });
});
