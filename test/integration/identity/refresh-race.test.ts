/**
 * Two pcigate processes renewing the same saved login (`pcigate connect` next to `pcigate verify`, or two
 * connects) against a real provider that rotates refresh tokens (oidc-provider, public client) and treats a
 * rotated-out refresh token presented again as replay, revoking the grant. Each process is a real child
 * running the built dist, with its own memory; they share only the data home. With the login lock
 * (src/identity/refresh-lock.ts) one refreshes, the other waits and takes the renewed login from the store;
 * both end with a valid session and the store holds the live refresh token.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/cli/ctx.js';
import { login } from '../../../src/identity/session.js';
import { settingsFrom } from '../../../src/identity/settings.js';
import { fileStore } from '../../../src/identity/token-store.js';
import { ROOT } from '../../harness/cli.js';
import { ACCOUNTS, CLI_CLIENT_ID, startOidcProvider } from '../../harness/oidc.js';
import type { OidcHarness } from '../../harness/oidc.js';
import { testCtx } from '../../harness/test-ctx.js';

const DIST = path.join(ROOT, 'dist', 'src', 'identity');
const SCOPES = ['openid', 'email', 'groups', 'offline_access', 'pcigate'];
/** How long each child holds the provider's token response before using it (a slow network / provider). */
const SLOW_MS = 600;

interface Outcome { ok: boolean; sub?: string; refreshed?: boolean; accessToken?: string; refreshToken?: string; error?: string }

/**
 * A child that loads the saved login as currentSession does for the broker, once told "go" on stdin. Its fetch
 * answers token-endpoint calls SLOW_MS late, so a second process starting meanwhile still finds the old tokens.
 */
function childScript(dir: string, issuer: string, home: string): string {
  const file = path.join(dir, 'child.mjs');
  writeFileSync(file, `
import * as fsp from 'node:fs/promises';
import { currentSession } from ${JSON.stringify(path.join(DIST, 'session.js'))};
import { settingsFrom } from ${JSON.stringify(path.join(DIST, 'settings.js'))};
import { fileStore } from ${JSON.stringify(path.join(DIST, 'token-store.js'))};
const slowFetch = async (input, init) => {
  const res = await fetch(input, init);
  if (new URL(String(input instanceof Request ? input.url : input)).pathname.endsWith('/token')) await new Promise((r) => setTimeout(r, ${SLOW_MS}));
  return res;
};
const ctx = {
  stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, cwd: process.cwd(),
  clock: { now: () => Date.now(), micros: () => BigInt(Date.now()) * 1000n }, fs: fsp, fetch: slowFetch,
  log: { debug() {}, warn() {} }, user: { name: 'tester', uid: 0 }, interrupt: new AbortController().signal,
};
const settings = settingsFrom(undefined, { issuer: ${JSON.stringify(issuer)}, clientId: ${JSON.stringify(CLI_CLIENT_ID)}, tokenStore: 'file' });
const home = ${JSON.stringify(home)};
process.stdout.write('ready\\n');
await new Promise((r) => process.stdin.once('data', r));
let out;
try {
  const cur = await currentSession(ctx, { settings, store: fileStore(ctx, home), home });
  out = { ok: true, sub: cur.identity.sub, refreshed: cur.refreshed, accessToken: cur.tokens.accessToken, refreshToken: cur.tokens.refreshToken };
} catch (e) {
  out = { ok: false, error: e.code + ': ' + e.message };
}
process.stdout.write(JSON.stringify(out) + '\\n');
process.stdin.destroy();
`);
  return file;
}

interface Child { proc: ChildProcessWithoutNullStreams; ready: Promise<void>; result: Promise<Outcome> }

function startChild(file: string): Child {
  const proc = spawn(process.execPath, [file], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr.on('data', (c: Buffer) => { err += c.toString(); });
  const ready = new Promise<void>((resolve) => {
    proc.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.startsWith('ready\n')) resolve();
    });
  });
  const result = new Promise<Outcome>((resolve, reject) => {
    proc.on('close', () => {
      const last = out.trim().split('\n').at(-1) ?? '';
      try {
        resolve(JSON.parse(last) as Outcome);
      } catch {
        reject(new Error(`child ended without a result: ${out} ${err}`));
      }
    });
  });
  result.catch(() => undefined); // awaited after other waits: a child's early end must not go unhandled meanwhile
  return { proc, ready, result };
}

const go = (c: Child) => c.proc.stdin.write('go\n');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!existsSync(path.join(DIST, 'refresh-lock.js')))('concurrent refreshes of one saved login (real processes, rotating provider)', () => {
  let idp: OidcHarness;
  beforeAll(async () => { idp = await startOidcProvider(); });
  afterAll(async () => { await idp?.close(); });

  /** A real device-flow login saved in a fresh data home, its access token then marked expired. */
  async function expiredLogin(): Promise<{ dir: string; home: string; first: { accessToken: string; refreshToken: string } }> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-race-'));
    const home = path.join(dir, 'home');
    const ctx = testCtx({ clock: systemClock() as never });
    let browser: Promise<unknown> = Promise.resolve();
    await login(ctx, {
      settings: settingsFrom(undefined, { issuer: idp.issuer, clientId: CLI_CLIENT_ID, scopes: SCOPES, tokenStore: 'file' }),
      store: fileStore(ctx, home),
      onPrompt: (p) => { browser = idp.browser.approve({ verificationUri: p.verificationUri, userCode: p.userCode, account: ACCOUNTS.engineer, otp: true }); },
    });
    await browser;
    const file = path.join(home, 'tokens.json');
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { accessToken: string; refreshToken: string };
    writeFileSync(file, JSON.stringify({ ...saved, expiresAt: Date.now() - 60_000 }), { mode: 0o600 });
    return { dir, home, first: saved };
  }

  /** The refresh token in the store still works at the provider (its grant was not revoked as replayed). */
  async function storedRefreshTokenWorks(home: string): Promise<string> {
    const rt = (JSON.parse(readFileSync(path.join(home, 'tokens.json'), 'utf8')) as { refreshToken: string }).refreshToken;
    const config = await client.discovery(new URL(idp.issuer), CLI_CLIENT_ID, undefined, client.None(), { execute: [client.allowInsecureRequests] });
    const t = await client.refreshTokenGrant(config, rt);
    expect(t.access_token).toBeTruthy();
    return rt;
  }

  it('a second process starting while the first is renewing waits and uses the renewed login', async () => {
    const { dir, home, first } = await expiredLogin();
    const file = childScript(dir, idp.issuer, home);
    const a = startChild(file);
    const b = startChild(file);
    await Promise.all([a.ready, b.ready]);
    go(a);
    // B starts while A's refresh is at the provider and not yet saved: without the lock B would present the
    // same, by then rotated-out, refresh token.
    await sleep(SLOW_MS / 3);
    go(b);
    const [ra, rb] = await Promise.all([a.result, b.result]);
    expect(ra, ra.error).toMatchObject({ ok: true, sub: ACCOUNTS.engineer.sub, refreshed: true });
    expect(rb, rb.error).toMatchObject({ ok: true, sub: ACCOUNTS.engineer.sub, refreshed: false });
    // B took what A saved instead of refreshing again.
    expect(rb.accessToken).toBe(ra.accessToken);
    expect(rb.refreshToken).toBe(ra.refreshToken);
    expect(ra.refreshToken).not.toBe(first.refreshToken);
    expect(await storedRefreshTokenWorks(home)).toBe(ra.refreshToken);
    expect(existsSync(path.join(home, 'login.lock'))).toBe(false);
  }, 60_000);

  it('three processes started at the same instant all end with a valid session, one refresh between them', async () => {
    const { dir, home } = await expiredLogin();
    const file = childScript(dir, idp.issuer, home);
    const kids = [startChild(file), startChild(file), startChild(file)];
    await Promise.all(kids.map((k) => k.ready));
    for (const k of kids) go(k);
    const rs = await Promise.all(kids.map((k) => k.result));
    for (const r of rs) expect(r, r.error).toMatchObject({ ok: true, sub: ACCOUNTS.engineer.sub });
    expect(rs.filter((r) => r.refreshed)).toHaveLength(1);
    expect(new Set(rs.map((r) => r.refreshToken)).size).toBe(1);
    expect(await storedRefreshTokenWorks(home)).toBe(rs[0]!.refreshToken);
  }, 60_000);
});
