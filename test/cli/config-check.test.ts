import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ROOT, runCli, tempDir } from '../harness/cli.js';

const EXAMPLE = path.join(ROOT, 'docs', 'pcigate.example.yaml');

const VALID = `connections:
  prod-db:
    kind: postgres
    host: db.example.com
    database: payments
    user: broker
    password: env:PGPASS
audit:
  epoch: 12h
`;

describe('pcigate config check', () => {
  it('accepts docs/pcigate.example.yaml and prints it back with defaults and secrets redacted', async () => {
    const r = await runCli(['config', 'check', '--config', EXAMPLE]);
    expect(r.stderr).toContain('is valid');
    expect(r.code).toBe(0);
    const printed = parse(r.stdout) as { connections: Record<string, Record<string, unknown>>; audit: { epoch: number } };
    expect(printed.connections['prod-db']!.password).toBe('<redacted: env:PCIGATE_PROD_DB_PASSWORD>');
    expect(printed.connections.bastion!.private_key).toBe('<redacted: file:./keys/bastion_ed25519>');
    expect(printed.audit.epoch).toBe(86_400_000);
    // Every key the example documents survives validation (nothing is silently dropped).
    const source = readFileSync(EXAMPLE, 'utf8');
    expect(source).toContain('segment_bytes: 64MiB');
  });

  it('finds ./pcigate.yaml, fills defaults and never resolves or prints the secret', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'pcigate.yaml'), VALID);
    const r = await runCli(['config', 'check'], { cwd: dir, env: { PGPASS: 'the-real-password' } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('password: "<redacted: env:PGPASS>"');
    expect(r.stdout).toContain('sslmode: verify-full');
    expect(r.stdout + r.stderr).not.toContain('the-real-password');
  });

  it('--json prints {valid, path, source, config}', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'conf', 'p.yaml');
    mkdirSync(path.dirname(file));
    writeFileSync(file, VALID);
    const r = await runCli(['config', 'check', '--json'], { cwd: dir, env: { PCIGATE_CONFIG: file } });
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { valid: boolean; path: string; source: string; config: { audit: { epoch: number }; connections: { 'prod-db': { password: string } } } };
    expect(j).toMatchObject({ valid: true, path: file, source: 'env' });
    expect(j.config.audit.epoch).toBe(43_200_000);
    expect(j.config.connections['prod-db'].password).toBe('<redacted: env:PGPASS>');
  });

  it('exits 2 with file:line:col and a hint for a schema error and a literal password', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'pcigate.yaml'), VALID.replace('env:PGPASS', 'Sup3rS3cret').replace('    user: broker\n', '    user: broker\n    requre_mfa: true\n'));
    const r = await runCli(['config', 'check'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const file = path.join(dir, 'pcigate.yaml');
    expect(r.stderr).toContain(`${file}:7:5: connections.prod-db.requre_mfa: unknown key 'requre_mfa'. Did you mean 'require_mfa'?`);
    expect(r.stderr).toContain(`${file}:8:15: connections.prod-db.password:`);
    expect(r.stderr).toContain('PCI DSS 8.6.2');
    expect(r.stderr).toMatch(/hint: /);
    expect(r.stderr).not.toContain('Sup3rS3cret');
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace
  });

  it('exits 2 for broken YAML, and --json carries the located problems as data', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'pcigate.yaml'), 'audit:\n  dir: /x\n epoch: 24h\n');
    const r = await runCli(['config', 'check', '--json'], { cwd: dir });
    expect(r.code).toBe(2);
    const j = JSON.parse(r.stdout) as { valid: boolean; error: { code: string }; problems: Array<{ line: number; kind: string }> };
    expect(j.valid).toBe(false);
    expect(j.error.code).toBe('ERR_CONFIG_INVALID');
    expect(j.problems[0]).toMatchObject({ line: 3, kind: 'yaml' });
    expect(r.stderr).toMatch(/pcigate\.yaml:3:\d+: YAML syntax/);
  });

  it('exits 2 when there is no configuration, listing where it looked', async () => {
    const home = tempDir('pcigate-home-');
    const r = await runCli(['config', 'check'], { home });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no configuration file found');
    expect(r.stderr).toContain(path.join(home, '.config', 'pcigate', 'config.yaml'));
    const r2 = await runCli(['config', 'check', '--config', 'missing.yaml'], { home });
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/missing\.yaml \(from --config\) does not exist/);
  });

  it('--resolve checks every secret reference without printing a value; exit 1 when one fails', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'pcigate.yaml'), `${VALID}identity:\n  workload:\n    client_secret: cmd:printf cmd-secret-value\n`);
    const ok = await runCli(['config', 'check', '--resolve'], { cwd: dir, env: { PGPASS: 'env-secret-value' } });
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain('secret connections.prod-db.password <redacted: env:PGPASS>: resolves');
    expect(ok.stderr).toContain('secret identity.workload.client_secret <redacted: cmd:printf …>: resolves');
    const bad = await runCli(['config', 'check', '--resolve', '--json'], { cwd: dir });
    expect(bad.code).toBe(1);
    const j = JSON.parse(bad.stdout) as { valid: boolean; secrets: Array<{ path: string; ok: boolean; error?: string }> };
    expect(j.valid).toBe(true);
    expect(j.secrets).toEqual([
      { path: 'connections.prod-db.password', ref: '<redacted: env:PGPASS>', ok: false, error: 'secret env:PGPASS: environment variable PGPASS is not set or empty' },
      { path: 'identity.workload.client_secret', ref: '<redacted: cmd:printf …>', ok: true },
    ]);
    for (const r of [ok, bad]) expect(r.stdout + r.stderr).not.toMatch(/env-secret-value|cmd-secret-value/);
  });

  it('is listed in help under the config group', async () => {
    const r = await runCli(['--help']);
    expect(r.stdout).toMatch(/config check\s+Validate the configuration and print it with secrets redacted/);
  });
});
