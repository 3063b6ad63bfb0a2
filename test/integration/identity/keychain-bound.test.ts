/**
 * The reading commands' keychain read, end to end in the built dist: the reader process
 * (keychain-read-child.js) reads a real login from a real Secret Service (gnome-keyring on a private dbus
 * session) and the saved identity is used; with the keychain service frozen (SIGSTOP: a hung daemon) the
 * login is given up on within the bound, and — what a timer in-process cannot give — the process then exits
 * on its own instead of waiting for a native call that never returns.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/cli/ctx.js';
import { identitySection } from '../../../src/config/sections/identity.js';
import { login } from '../../../src/identity/session.js';
import { settingsFrom } from '../../../src/identity/settings.js';
import { fileStore } from '../../../src/identity/token-store.js';
import { ROOT } from '../../harness/cli.js';
import { ACCOUNTS, CLI_CLIENT_ID, startOidcProvider } from '../../harness/oidc.js';
import type { OidcHarness } from '../../harness/oidc.js';
import { testCtx } from '../../harness/test-ctx.js';

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const DIST = path.join(ROOT, 'dist', 'src', 'identity');
const missing = ['dbus-run-session', 'gnome-keyring-daemon'].filter((c) => !has(c));
const skipReason = missing.length ? `keychain bound test skipped: ${missing.join(' and ')} not installed (apt-get install dbus gnome-keyring)`
  : !existsSync(path.join(DIST, 'keychain-read-child.js')) ? 'keychain bound test skipped: dist not built (npx tsc -p tsconfig.json)' : '';
if (skipReason) process.stderr.write(`${skipReason}\n`);
const SCOPES = ['openid', 'email', 'groups', 'offline_access', 'pcigate'];

/** The Ctx the generated scripts run pcigate's code with (real fs, fetch and clock; quiet logger). */
const CTX_SOURCE = `const ctx = {
  stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, cwd: process.cwd(),
  clock: { now: () => Date.now(), micros: () => BigInt(Date.now()) * 1000n }, fs: fsp, fetch: globalThis.fetch,
  log: { debug() {}, warn() {} }, user: { name: 'tester', uid: 0 }, interrupt: new AbortController().signal,
};
`;

/**
 * `command` started through a shell that first appends its pid to `pidFile`, then becomes `command` (exec: the
 * same process, so the pid is the one keychain-read.ts kills at the deadline).
 */
const notingPid = (pidFile: string, command: string[]) => ['sh', '-c', 'echo $$ >> "$0"; exec "$@"', pidFile, ...command];

/**
 * Script source, after the keychain read: waits for each reader noted in `pidFile` to have ended (no /proc
 * entry, or a zombie its exited parent left unreaped), then sets `out.readers` (how many were noted) and
 * `out.readersLeft` (the pids still running). The wait only gives a SIGKILL time to land: a reader that
 * never answers and was not killed is still running when it ends, and is listed. Needs `readFileSync` and `out`.
 */
const readersLeftSource = (pidFile: string) => `const ended = (pid) => {
  try { return readFileSync('/proc/' + pid + '/stat', 'utf8').replace(/^.*\\) /s, '').startsWith('Z'); } catch { return true; }
};
const readers = readFileSync(${JSON.stringify(pidFile)}, 'utf8').trim().split('\\n').map(Number);
for (const stop = Date.now() + 10_000; readers.some((p) => !ended(p)) && Date.now() < stop;) await new Promise((r) => setTimeout(r, 50));
out.readers = readers.length;
out.readersLeft = readers.filter((p) => !ended(p));
`;

/** A script that stores `tokens` in the keychain, reads the login as `pcigate verify` does, freezes the keychain daemon, and reads again. */
function script(dir: string, issuer: string, tokensFile: string): string {
  const file = path.join(dir, 'run.mjs');
  writeFileSync(file, `
import * as fsp from 'node:fs/promises';
import { execSync } from 'node:child_process';
import { keychainStore } from ${JSON.stringify(path.join(DIST, 'token-store.js'))};
import { storedLoginIdentity } from ${JSON.stringify(path.join(DIST, 'stored-login.js'))};
${CTX_SOURCE}const config = { identity: { issuer: ${JSON.stringify(issuer)}, client_id: ${JSON.stringify(CLI_CLIENT_ID)}, token_store: 'keychain' } };
const home = ${JSON.stringify(path.join(dir, 'home'))};
await keychainStore().save(JSON.parse(await fsp.readFile(${JSON.stringify(tokensFile)}, 'utf8')));
const out = {};
out.answering = await storedLoginIdentity(ctx, config, home);
// The Secret Service stops answering (a hung daemon); the frozen process stays frozen until the session ends.
execSync('pkill -STOP -u "$(id -u)" -x gnome-keyring-d');
out.frozen = await storedLoginIdentity(ctx, config, home, { keychainTimeoutMs: 1000 });
process.stdout.write(JSON.stringify(out) + '\\n');
// No process.exit(): the process must end by itself.
`);
  return file;
}

describe.skipIf(Boolean(skipReason))('keychain reads of the reading commands (built dist, gnome-keyring)', () => {
  let idp: OidcHarness;
  beforeAll(async () => { idp = await startOidcProvider(); });
  afterAll(async () => { await idp?.close(); });

  it('reads a real keychain login in a reader process; a frozen keychain is given up on within the bound and the process exits', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-kcb-'));
    // A real device-flow login, kept in a file only long enough to hand it to the keychain in the dbus session.
    const ctx = testCtx({ clock: systemClock() as never });
    let browser: Promise<unknown> = Promise.resolve();
    await login(ctx, {
      settings: settingsFrom(identitySection.parse({ issuer: idp.issuer, client_id: CLI_CLIENT_ID, token_store: 'file', scopes: SCOPES })),
      store: fileStore(ctx, dir),
      onPrompt: (p) => { browser = idp.browser.approve({ verificationUri: p.verificationUri, userCode: p.userCode, account: ACCOUNTS.engineer, otp: true }); },
    });
    await browser;
    const file = script(dir, idp.issuer, path.join(dir, 'tokens.json'));
    // The shell waits for node to exit by itself; the dbus session (and the frozen daemon) end after it.
    const r = await new Promise<{ code: number | null; killed: boolean; stdout: string; stderr: string }>((resolve) => {
      execFile('dbus-run-session', ['--', 'sh', '-c', `echo -n pcigate-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; "${process.execPath}" "${file}"; s=$?; pkill -CONT -u "$(id -u)" -x gnome-keyring-d; exit $s`], {
        encoding: 'utf8', timeout: 40_000,
        env: { PATH: process.env.PATH, HOME: dir, XDG_DATA_HOME: path.join(dir, '.local', 'share') },
      }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, killed: err?.killed ?? false, stdout, stderr }));
    });
    // Not ended by execFile's 40 s timeout: node exited by itself and the shell passed on its status, 0.
    expect(r.killed, r.stderr).toBe(false);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { answering: { identity?: { sub: string; via: string } }; frozen: { reason: string; message: string } };
    expect(out.answering.identity).toMatchObject({ sub: ACCOUNTS.engineer.sub, via: 'oidc' });
    // Only the read's timer gives this answer. Without it the read waits on the frozen daemon until the
    // keychain library gives up by itself (after about 2 s here) and finds no entry: not_logged_in.
    expect(out.frozen).toEqual({ identity: undefined, reason: 'unusable', message: expect.stringMatching(/^the OS keychain did not answer within 1 s/) });
  }, 60_000);
});

describe.skipIf(!existsSync(path.join(DIST, 'stored-login.js')))('a keychain that never returns (built dist)', () => {
  it('the reading command gives up within the bound and its process still exits by itself', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-kcb-'));
    const pidFile = path.join(dir, 'readers.pid');
    // The reader blocks its only thread for ever, as a native keychain call waiting on a prompt does; a timer
    // racing such a call inside pcigate's own process would free the logic but keep the process alive.
    const hang = notingPid(pidFile, [process.execPath, '-e', 'Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0)']);
    const file = path.join(dir, 'run.mjs');
    writeFileSync(file, `
import * as fsp from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { storedLoginIdentity } from ${JSON.stringify(path.join(DIST, 'stored-login.js'))};
${CTX_SOURCE}const config = { identity: { issuer: 'https://idp.example', client_id: 'pcigate-cli', token_store: 'keychain' } };
const out = {};
out.login = await storedLoginIdentity(ctx, config, ${JSON.stringify(path.join(dir, 'home'))}, { keychainTimeoutMs: 1000, keychainCommand: ${JSON.stringify(hang)} });
${readersLeftSource(pidFile)}process.stdout.write(JSON.stringify(out) + '\\n');
`);
    const r = await new Promise<{ code: number | null; signal: string | null; stdout: string }>((resolve) => {
      const c = execFile(process.execPath, [file], { encoding: 'utf8', timeout: 15_000, killSignal: 'SIGKILL' }, (_err, stdout) => resolve({ code: c.exitCode, signal: c.signalCode, stdout }));
    });
    const out = JSON.parse(r.stdout || '{}') as { login?: unknown; readers?: number; readersLeft?: number[] };
    // A reader that was abandoned without the kill never ends by itself: end it here, by the pid it noted.
    for (const pid of out.readersLeft ?? []) process.kill(pid, 'SIGKILL');
    // Not SIGKILLed by execFile's 15 s timeout: the process ended by itself.
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    // Only the read's timer gives this answer; without it the read would wait on the reader for ever.
    expect(out.login).toEqual({ reason: 'unusable', message: expect.stringMatching(/^the OS keychain did not answer within 1 s/) });
    // And the reader was killed: unref'ing it alone would also let this process exit, leaving the reader behind.
    expect(out.readers).toBe(1);
    expect(out.readersLeft).toEqual([]);
  }, 30_000);
});
