/**
 * `pcigate login`, `whoami` and `logout` as a user runs them: the built bin is spawned in a temporary HOME
 * with the issuer of the in-process provider, and the test completes the device flow from the printed code.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli, tempDir } from '../harness/cli.js';
import { ACCOUNTS, CLI_CLIENT_ID, startOidcProvider } from '../harness/oidc.js';
import type { OidcHarness } from '../harness/oidc.js';

let h: OidcHarness;
beforeAll(async () => { h = await startOidcProvider(); });
afterAll(async () => { await h?.close(); });

const SCOPE = 'openid email groups offline_access pcigate';

/** Spawns `pcigate login …`, waits for the code on stderr, approves it in the test browser, returns the outcome. */
function loginCli(home: string, args: string[], decision: 'allow' | 'deny' = 'allow'): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'login', ...args], {
      cwd: home,
      env: { PATH: process.env.PATH, HOME: home, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let browser: Promise<unknown> | undefined;
    const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      const m = /open (\S+) and enter the code: (\S+)/.exec(stderr);
      if (m && !browser) {
        browser = h.browser.approve({ verificationUri: m[1]!, userCode: m[2]!, account: ACCOUNTS.engineer, decision }).catch(reject);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      void Promise.resolve(browser).then(() => resolve({ code, stdout, stderr }));
    });
  });
}

describe('pcigate login / whoami / logout', () => {
  it('completes the device flow, then whoami shows the identity and logout removes it', async () => {
    const home = tempDir('pcigate-login-');
    const r = await loginCli(home, ['--issuer', h.issuer, '--client-id', CLI_CLIENT_ID, '--scope', SCOPE, '--token-store', 'file', '--no-browser', '--home', home, '--json']);
    expect(r.stderr).toMatch(/The code expires in \d+:\d\d/);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(report).toMatchObject({ subject: ACCOUNTS.engineer.sub, email: ACCOUNTS.engineer.email, groups: ACCOUNTS.engineer.groups, issuer: h.issuer, mfa: true });
    // Tokens are in the 0600 file, and nowhere in what the command printed.
    const file = path.join(home, 'tokens.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(await import('node:fs').then((f) => f.readFileSync(file, 'utf8'))) as { accessToken: string; refreshToken: string };
    expect(r.stdout + r.stderr).not.toContain(saved.accessToken);
    expect(r.stdout + r.stderr).not.toContain(saved.refreshToken);

    const config = `identity:\n  issuer: ${h.issuer}\n  client_id: ${CLI_CLIENT_ID}\n  token_store: file\n`;
    await import('node:fs').then((f) => f.writeFileSync(path.join(home, 'pcigate.yaml'), config));
    const who = await runCli(['whoami', '--json', '--home', home], { home });
    expect(who.code).toBe(0);
    expect(JSON.parse(who.stdout)).toMatchObject({ subject: ACCOUNTS.engineer.sub, amr: expect.arrayContaining(['otp']), mfa: true });
    const text = await runCli(['whoami', '--home', home], { home });
    expect(text.stdout).toMatch(/^subject: +u-1001$/m);

    const out = await runCli(['logout', '--home', home], { home });
    expect(out.code).toBe(0);
    expect(out.stderr).toMatch(/Revoked at the provider: refresh_token/);
    expect(existsSync(file)).toBe(false);
    const after = await runCli(['whoami', '--home', home], { home });
    expect(after.code).toBe(4);
    expect(after.stderr).toMatch(/not logged in/);
  }, 90_000);

  it('a denied login exits 4 with the sentence and saves nothing', async () => {
    const home = tempDir('pcigate-login-');
    const r = await loginCli(home, ['--issuer', h.issuer, '--client-id', CLI_CLIENT_ID, '--scope', SCOPE, '--token-store', 'file', '--home', home], 'deny');
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/denied in the browser/);
    expect(existsSync(path.join(home, 'tokens.json'))).toBe(false);
  }, 60_000);

  it('writes auth.login and auth.logout records to the data home\'s audit log, without tokens', async () => {
    const home = tempDir('pcigate-login-');
    const init = await runCli(['keys', 'init', '--home', home], { home });
    expect(init.code).toBe(0);
    const r = await loginCli(home, ['--issuer', h.issuer, '--client-id', CLI_CLIENT_ID, '--scope', SCOPE, '--token-store', 'file', '--home', home]);
    expect(r.code).toBe(0);
    const saved = JSON.parse(readFileSync(path.join(home, 'tokens.json'), 'utf8')) as { accessToken: string; refreshToken: string };
    const config = `identity:\n  issuer: ${h.issuer}\n  client_id: ${CLI_CLIENT_ID}\n  token_store: file\n`;
    writeFileSync(path.join(home, 'pcigate.yaml'), config);
    expect((await runCli(['logout', '--home', home], { home })).code).toBe(0);
    const log = readdirSync(path.join(home, 'log')).filter((f) => f.endsWith('.jsonl')).map((f) => readFileSync(path.join(home, 'log', f), 'utf8')).join('');
    const records = log.trim().split('\n').map((l) => JSON.parse(l) as { type: string; outcome?: string; actor?: { sub: string; via: string }; detail?: Record<string, unknown> });
    expect(records.find((x) => x.type === 'auth.login')).toMatchObject({ outcome: 'success', actor: { sub: ACCOUNTS.engineer.sub, via: 'oidc' }, detail: { idp: h.issuer, mfa: true, store: 'file' } });
    expect(records.find((x) => x.type === 'auth.logout')).toMatchObject({ outcome: 'success', actor: { sub: ACCOUNTS.engineer.sub } });
    expect(log).not.toContain(saved.accessToken);
    expect(log).not.toContain(saved.refreshToken);
  }, 90_000);

  it('without an issuer it says what to configure', async () => {
    const home = tempDir('pcigate-login-');
    const r = await runCli(['login', '--home', home, '--token-store', 'file'], { home });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/identity\.issuer/);
  });
});
