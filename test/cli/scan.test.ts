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
      { file: `${bomb}!zeros.bin`, message: 'expands to 314572800 bytes, more than the 268435456 one entry may (a decompression bomb?): not scanned' },
      { file: cut, message: 'zip not opened: not a zip file: no end-of-central-directory record (truncated or not a zip); only its raw bytes were scanned' },
    ]);
    const text = await runCli(['scan', cut]);
    expect(text.code).toBe(1);
    expect(text.stderr).toContain(`error: ${cut}: zip not opened: not a zip file`);
    expect(text.stderr).toContain('1 not scanned');
  });

  it('needs a path', async () => {
    const r = await runCli(['scan']);
    expect(r.code).toBe(2);
  });
});
