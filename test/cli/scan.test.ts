import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { writeZip } from '../../src/archive/zip.js';
import { runCli, tempDir } from '../harness/cli.js';

describe('pcigate scan', () => {
  it('exits 1 with masked findings, 0 when clean, JSON with --json', async () => {
    const dir = tempDir('pcigate-scan-cli-');
    writeFileSync(path.join(dir, 'export.csv'), 'id,pan\n1,4111111111111111\n');
    writeFileSync(path.join(dir, 'clean.txt'), 'nothing here 2026-11-22\n');
    const dirty = await runCli(['scan', dir]);
    expect(dirty.code).toBe(1);
    expect(dirty.stdout).toContain(`${path.join(dir, 'export.csv')}:2:3: pan (visa) ************1111`);
    expect(dirty.stdout + dirty.stderr).not.toContain('4111111111111111');
    const clean = await runCli(['scan', path.join(dir, 'clean.txt')]);
    expect(clean.code).toBe(0);
    expect(clean.stdout).toBe('');
    const json = await runCli(['scan', '--json', dir]);
    expect(json.code).toBe(1);
    const doc = JSON.parse(json.stdout) as { clean: boolean; findings: Array<{ line: number; column: number; kind: string; masked: string }> };
    expect(doc.clean).toBe(false);
    expect(doc.findings).toEqual([expect.objectContaining({ line: 2, column: 3, kind: 'pan', masked: '************1111' })]);
  });

  it('looks inside zip entries and gzip files; a damaged archive or a decompression bomb is an error and exit 1, not a crash', async () => {
    const dir = tempDir('pcigate-scan-cli-');
    const filler = 'masked ************1111\n'.repeat(40);
    writeFileSync(path.join(dir, 'bundle.zip'), writeZip([
      { path: 'clean.txt', bytes: Buffer.from(filler) },
      { path: 'req3/rows.csv', bytes: Buffer.from(`${filler}id,pan\n1,4111111111111111\n`) },
    ]));
    writeFileSync(path.join(dir, 'dump.sql.gz'), gzipSync(`${filler}INSERT INTO c VALUES ('5555555555554444');\n`));
    const found = await runCli(['scan', dir]);
    expect(found.code).toBe(1);
    expect(found.stdout.split('\n').filter(Boolean)).toEqual([
      `${path.join(dir, 'bundle.zip')}!req3/rows.csv:42:3: pan (visa) ************1111`,
      `${path.join(dir, 'dump.sql.gz')}:41:24: pan (mastercard) ************4444`,
    ]);
    expect(found.stderr).toContain('2 findings in 2 files');
    expect(found.stdout + found.stderr).not.toMatch(/4111111111111111|5555555555554444/);

    const cleanZip = path.join(dir, 'clean.zip');
    writeFileSync(cleanZip, writeZip([{ path: 'a.txt', bytes: Buffer.from(filler) }]));
    const clean = await runCli(['scan', cleanZip]);
    expect(clean.code).toBe(0);

    // 300 MiB of zeros deflate to ~300 KB: the entry's declared size is over the 256 MiB limit, refused unread.
    const bomb = path.join(dir, 'bomb.zip');
    writeFileSync(bomb, writeZip([{ path: 'zeros.bin', bytes: Buffer.alloc(300 << 20) }, { path: 'b.txt', bytes: Buffer.from('4111111111111111') }]));
    const cut = path.join(dir, 'cut.zip');
    const z = writeZip([{ path: 'a.txt', bytes: Buffer.from(filler) }]);
    writeFileSync(cut, z.subarray(0, z.length - 5));
    const bad = await runCli(['scan', '--json', bomb, cut]);
    expect(bad.code).toBe(1);
    const doc = JSON.parse(bad.stdout) as { clean: boolean; findings: Array<{ file: string }>; errors: Array<{ file: string; message: string }> };
    expect(doc.findings.map((f) => f.file)).toEqual([`${bomb}!b.txt`]);
    expect(doc.errors).toEqual([
      { file: `${bomb}!zeros.bin`, message: 'expands to 314572800 bytes (300 MiB), more than the 268435456 bytes (256 MiB) one entry may (a quarter of the --max-expanded limit; a decompression bomb?): not scanned; pcigate scan --max-expanded 2G or more scans it' },
      { file: cut, message: 'zip not opened: not a zip file: no end-of-central-directory record (truncated or not a zip); only its raw bytes were scanned' },
    ]);
    const text = await runCli(['scan', cut]);
    expect(text.code).toBe(1);
    expect(text.stderr).toContain(`error: ${cut}: zip not opened: not a zip file`);
    expect(text.stderr).toContain('1 not scanned');
  });

  it('--max-expanded sets how far a gzip or a zip entry may expand: past it the scan says where it stopped and exits 1, raised the PAN is found', async () => {
    const dir = tempDir('pcigate-scan-cli-');
    // 3 MiB of a pg_dump-like text (gzip: a few KB), a PAN in the second MiB.
    const line = 'COPY c (id, pan) masked ************1111\n';
    const rows = (bytes: number) => line.repeat(Math.ceil(bytes / line.length));
    const dump = path.join(dir, 'dump.sql.gz');
    writeFileSync(dump, gzipSync(`${rows(1.5 * 2 ** 20)}INSERT INTO c VALUES ('5555555555554444');\n${rows(1.5 * 2 ** 20)}`));
    const cleanDump = path.join(dir, 'clean.sql.gz');
    writeFileSync(cleanDump, gzipSync(rows(3 * 2 ** 20)));

    const cut = await runCli(['scan', '--max-expanded', '1M', dump]);
    expect(cut.code).toBe(1);
    expect(cut.stdout).toBe('');
    expect(cut.stderr).toContain(`error: ${dump}: decompression stopped after 1048576 bytes (1 MiB), the --max-expanded limit for one file (a decompression bomb?): those were scanned, the rest was not; pcigate scan --max-expanded SIZE raises the limit (e.g. 4G; 0 for none)`);
    expect(cut.stderr).toContain('0 findings in 1 file (1048576 bytes); 1 not scanned');
    // A clean file scanned only in part is no proof of absence: still exit 1.
    const cleanCut = await runCli(['scan', '--json', '--max-expanded', '1M', cleanDump]);
    expect(cleanCut.code).toBe(1);
    expect(JSON.parse(cleanCut.stdout)).toMatchObject({ clean: false, findings: [], errors: [{ file: cleanDump, message: expect.stringContaining('--max-expanded') }] });

    for (const raised of ['4M', '0', 'unlimited']) {
      const r = await runCli(['scan', '--max-expanded', raised, dump]);
      expect(r.code, raised).toBe(1); // a finding
      expect(r.stdout).toBe(`${dump}:${Math.ceil(1.5 * 2 ** 20 / line.length) + 1}:24: pan (mastercard) ************4444\n`);
      expect(r.stderr).not.toContain('error:');
      expect(r.stdout + r.stderr).not.toContain('5555555555554444');
    }
    const cleanWhole = await runCli(['scan', '--max-expanded', '4M', cleanDump]);
    expect(cleanWhole.code).toBe(0);
    expect(cleanWhole.stderr).toContain(`0 findings in 1 file (${Buffer.byteLength(rows(3 * 2 ** 20))} bytes)`);

    // A zip entry may take a quarter of the limit: this one (just over 512 KiB) is over 1M's quarter and 2M's, within 3M's.
    const zip = path.join(dir, 'export.zip');
    const entry = Buffer.from(`${rows(2 ** 19)}1,4111111111111111\n`);
    writeFileSync(zip, writeZip([{ path: 'rows.csv', bytes: entry }]));
    const entryCut = await runCli(['scan', '--max-expanded', '1M', zip]);
    expect(entryCut.code).toBe(1);
    expect(entryCut.stdout).toBe('');
    expect(entryCut.stderr).toContain(`error: ${zip}!rows.csv: expands to ${entry.length} bytes (512 KiB), more than the 262144 bytes (256 KiB) one entry may (a quarter of the --max-expanded limit; a decompression bomb?): not scanned; pcigate scan --max-expanded 3M or more scans it`);
    const entryWhole = await runCli(['scan', '--max-expanded', '3M', zip]);
    expect(entryWhole.code).toBe(1);
    expect(entryWhole.stdout).toContain(`${zip}!rows.csv:`);
    expect(entryWhole.stdout).toContain('pan (visa) ************1111');
  });

  it('refuses a --max-expanded it cannot read (exit 2, naming the value)', async () => {
    const dir = tempDir('pcigate-scan-cli-');
    writeFileSync(path.join(dir, 'a.txt'), 'nothing\n');
    for (const bad of ['1x', '-1', 'lots', '0.1']) {
      const r = await runCli(['scan', '--max-expanded', bad, path.join(dir, 'a.txt')]);
      expect(r.code, bad).toBe(2);
      expect(r.stderr).toContain(`--max-expanded: expected a size such as 512M, 4G or 1073741824, or 0 / unlimited for no limit; got '${bad}'`);
    }
  });

  it('needs a path', async () => {
    const r = await runCli(['scan']);
    expect(r.code).toBe(2);
  });
});
