import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { scanHandle, scanPaths } from '../../../src/mask/scan-files.js';
import { testCtx } from '../../harness/test-ctx.js';

const PAN = '4111111111111111';

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-scan-'));
  for (const [name, body] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), body);
  }
  return dir;
}

describe('scanPaths', () => {
  it('a file swapped for a FIFO after it was looked at is an error, not a wait for a writer', async () => {
    const dir = tree({ 'plain.txt': 'nothing here\n' });
    execFileSync('mkfifo', [path.join(dir, 'swapped')]);
    // The swap between scanPaths' lstat and its open, made certain: lstat answers for the FIFO what it saw before.
    const regular = statSync(path.join(dir, 'plain.txt'));
    const fs = { ...fsp, lstat: async (p: Parameters<typeof fsp.lstat>[0]) => (String(p).endsWith('swapped') ? regular : fsp.lstat(p)) } as typeof fsp;
    const ctx = { ...testCtx({ cwd: dir }), fs };
    const r = await Promise.race([scanPaths(ctx, ['swapped']), new Promise<'waited'>((resolve) => { setTimeout(() => resolve('waited'), 3_000); })]);
    if (r === 'waited') {
      writeFileSync(path.join(dir, 'swapped'), ''); // lets the stuck open return, so the test run can end
      throw new Error('scanPaths waited on the FIFO');
    }
    expect(r.errors).toEqual([{ file: 'swapped', message: expect.stringMatching(/no longer a regular file/) }]);
  });


  it('finds PANs, track data and labelled CVVs with file:line:column, values masked', async () => {
    const dir = tree({
      'a.txt': `hello\nx é ${PAN} y\n`,
      'sub/dump.sql': `COPY cards (id, pan, cvv) FROM stdin;\n1\t5555 5555 5555 4444\t\n\\.\n{"cvv": "123"}\n;${PAN}=25121011234?\n`,
      'clean.log': 'order 1234567812345678 at 2026-11-22T12:00:00Z, uuid 123e4567-e89b-12d3-a456-426614174000\n',
    });
    const ctx = testCtx({ cwd: dir });
    const r = await scanPaths(ctx, ['.']);
    const rows = r.findings.map((f) => `${f.file}:${f.line}:${f.column}:${f.kind}:${f.masked}`);
    expect(rows).toContain('a.txt:2:5:pan:************1111');
    expect(rows).toContain(`${path.join('sub', 'dump.sql')}:2:3:pan:**** **** **** 4444`);
    expect(rows.some((x) => x.includes('sad_value') && x.endsWith('cvv": "***'))).toBe(true);
    expect(rows.some((x) => x.includes('track_data'))).toBe(true);
    expect(rows.some((x) => x.startsWith('clean.log'))).toBe(false);
    expect(JSON.stringify(r)).not.toContain(PAN);
    expect(r.files).toBe(3);
  });

  it('finds a PAN that straddles a read-chunk boundary at every offset, exactly once', async () => {
    const prefix = 'abc 1 2\n';
    for (let chunk = 3; chunk <= 24; chunk += 1) {
      const dir = tree({ 'f.txt': `${prefix}4111 1111 1111 1111 ok\n` });
      const r = await scanPaths(testCtx({ cwd: dir }), ['f.txt'], { chunkBytes: chunk });
      expect(r.findings.map((f) => `${f.line}:${f.column}:${f.masked}`)).toEqual(['2:1:**** **** **** 1111']);
    }
  });

  it('looks inside gzip files (compressed dumps and exports)', async () => {
    const dir = tree({});
    writeFileSync(path.join(dir, 'dump.sql.gz'), gzipSync(`-- dump\nINSERT INTO cards VALUES (1, '${PAN}');\n`));
    const r = await scanPaths(testCtx({ cwd: dir }), ['dump.sql.gz'], { chunkBytes: 7 });
    expect(r.findings.map((f) => `${f.line}:${f.column}:${f.masked}`)).toEqual(['2:31:************1111']);
  });

  it('reports unreadable paths as errors', async () => {
    const r = await scanPaths(testCtx(), ['/nonexistent/pcigate-scan']);
    expect(r.errors).toHaveLength(1);
  });
});

describe('scanHandle (an open file, as evidence scans each recording)', () => {
  it('reads no further than upTo, its size at open: bytes appended since are not scanned, plain or gzip', async () => {
    const dir = tree({});
    const first = 'row 1 ************1111\n';
    writeFileSync(path.join(dir, 'a.cast'), `${first}row 2 ${PAN}\n`);
    // A gzip with a second member appended after the size at open (gunzip reads concatenated members).
    const member = gzipSync(first);
    writeFileSync(path.join(dir, 'b.cast.gz'), Buffer.concat([member, gzipSync(`row 2 ${PAN}\n`)]));
    const scan = async (name: string, upTo?: number) => {
      const fh = await fsp.open(path.join(dir, name), 'r');
      try {
        return await scanHandle(fh, name, { chunkBytes: 5, ...(upTo !== undefined ? { upTo } : {}) });
      } finally {
        await fh.close();
      }
    };
    expect(await scan('a.cast', first.length)).toEqual({ findings: [], files: 1, bytes: first.length, errors: [] });
    expect(await scan('b.cast.gz', member.length)).toEqual({ findings: [], files: 1, bytes: first.length, errors: [] });
    // Without upTo the whole file: the PAN after the first part is found.
    for (const name of ['a.cast', 'b.cast.gz']) {
      expect((await scan(name)).findings.map((f) => `${f.file}:${f.line}:${f.column}:${f.masked}`)).toEqual([`${name}:2:7:************1111`]);
    }
  });
});
