/**
 * `pcigate login` on a real terminal (node-pty): the ink screen on stderr shows the URL and the spaced user
 * code; the test reads them off the screen, approves in the test browser, and the command exits 0.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, tempDir } from '../harness/cli.js';
import { ACCOUNTS, CLI_CLIENT_ID, startOidcProvider } from '../harness/oidc.js';
import type { OidcHarness } from '../harness/oidc.js';

let h: OidcHarness;
beforeAll(async () => { h = await startOidcProvider(); });
afterAll(async () => { await h?.close(); });

const strip = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');

describe('pcigate login on a TTY', () => {
  it('draws the ink screen and completes', async () => {
    const pty = await import('node-pty');
    const home = tempDir('pcigate-login-tty-');
    const term = pty.spawn(process.execPath, [BIN, 'login', '--issuer', h.issuer, '--client-id', CLI_CLIENT_ID, '--scope', 'openid email groups offline_access pcigate', '--token-store', 'file', '--no-browser', '--home', home], {
      cols: 120, rows: 30, cwd: home, env: { PATH: process.env.PATH ?? '', HOME: home, TERM: 'xterm-256color', NO_COLOR: '1' },
    });
    let screen = '';
    let browser: Promise<unknown> | undefined;
    const exit = new Promise<number>((resolve) => term.onExit(({ exitCode }) => resolve(exitCode)));
    term.onData((d) => {
      screen += d;
      const plain = strip(screen);
      const url = /Open (http\S+) and enter this code/.exec(plain)?.[1];
      const code = /((?:[A-Z] ){4}- (?:[A-Z] ){3}[A-Z])/.exec(plain)?.[1];
      if (url && code && !browser) browser = h.browser.approve({ verificationUri: url, userCode: code.replace(/ /g, ''), account: ACCOUNTS.engineer });
    });
    const timer = setTimeout(() => term.kill(), 60_000);
    const code = await exit;
    clearTimeout(timer);
    await browser;
    const plain = strip(screen);
    expect(plain).toContain('Log in to pcigate');
    expect(plain).toMatch(/code expires in \d+:\d\d/);
    expect(plain).toMatch(/Logged in as alice@example\.test/);
    expect(code).toBe(0);
    expect(existsSync(path.join(home, 'tokens.json'))).toBe(true);
  }, 90_000);
});
