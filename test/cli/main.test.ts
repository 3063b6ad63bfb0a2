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

  it('shows examples in a command help', async () => {
    const r = await runCli(['verify', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toContain('$ pcigate verify');
  });
});
