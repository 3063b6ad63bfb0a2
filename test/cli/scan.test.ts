import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
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

  it('needs a path', async () => {
    const r = await runCli(['scan']);
    expect(r.code).toBe(2);
  });
});
