import { describe, expect, it } from 'vitest';
import { runCli } from '../harness/cli.js';

describe('pcigate CLI basics', () => {
  it('prints the version from package.json', async () => {
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('lists every registered command in --help', async () => {
    const { registry } = await import('../../commands/index.js');
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    for (const e of registry) expect(r.stdout).toContain(e.name);
  });

  it('rejects an unknown command with exit 2 and a suggestion', async () => {
    const r = await runCli(['verfy']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command 'verfy'");
    expect(r.stderr).toContain("Did you mean 'verify'?");
  });

  it('rejects an unknown flag with exit 2 and a suggestion', async () => {
    const r = await runCli(['verify', '--jsn']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option '--jsn'/);
    expect(r.stderr).toMatch(/--json/);
  });

  it('wraps a command\'s description as paragraphs, not at its source lines\' ends', async () => {
    // Commander wraps at 80 columns; the source's lines are longer, and each became a line of its own after the wrap
    // ("…that need approval) with their" then a short line).
    const r = await runCli(['approvals', '--help']);
    expect(r.code).toBe(0);
    const text = r.stdout.replace(/\s+/g, ' ');
    expect(text).toContain('held by policy (and sessions that need approval) with their requester');
    const lines = r.stdout.split('\n');
    const description = lines.slice(lines.findIndex((l) => l.startsWith('Lists approval requests')), lines.indexOf('Options:'));
    // (every line but a paragraph's last fills most of the width)
    for (const [i, l] of description.entries()) if (description[i + 1]?.trim()) expect(l.length, l).toBeGreaterThan(60);
  });

  it('shows examples in a command help', async () => {
    const r = await runCli(['verify', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toContain('$ pcigate verify');
  });
});
