/**
 * `login` / current session / `logout` against a real OpenID provider (oidc-provider in process): the test
 * plays the browser over HTTP. Covers the full RFC 8628 flow, denial, expiry, slow_down, refresh with
 * rotation (RFC 9700 §4.14.2) and RFC 7009 revocation.
 */
import { mkdtempSync, statSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCode } from '../../../src/errors.js';
import { currentSession, login, logout } from '../../../src/identity/session.js';
import { settingsFrom } from '../../../src/identity/settings.js';
import { fileStore } from '../../../src/identity/token-store.js';
import type { DeviceFlowEvent, DevicePrompt } from '../../../src/identity/device-flow.js';
import { memoryAudit } from '../../harness/memory-audit.js';
import { ACCOUNTS, CLI_CLIENT_ID, startOidcProvider } from '../../harness/oidc.js';
import type { DemoAccount, OidcHarness } from '../../harness/oidc.js';
import { fixedClock, testCtx } from '../../harness/test-ctx.js';

const SCOPES = ['openid', 'email', 'groups', 'offline_access', 'pcigate'];

function setup(h: OidcHarness) {
  const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-id-'));
  // Tokens carry real times: the test clock starts at the real now and is advanced by hand.
  const ctx = testCtx({ clock: fixedClock(Date.now()) });
  const settings = settingsFrom(undefined, { issuer: h.issuer, clientId: CLI_CLIENT_ID, scopes: SCOPES, tokenStore: 'file' });
  const store = fileStore(ctx, home);
  const audit = memoryAudit();
  return { home, ctx, settings, store, audit };
}

/** Runs login() while the test browser approves (or denies) once the prompt appears. */
async function loginVia(h: OidcHarness, env: ReturnType<typeof setup>, account: DemoAccount, opts: { decision?: 'allow' | 'deny'; otp?: boolean; skipBrowser?: boolean } = {}) {
  const events: DeviceFlowEvent[] = [];
  let browser: Promise<unknown> = Promise.resolve();
  const prompts: DevicePrompt[] = [];
  const result = login(env.ctx, {
    settings: env.settings,
    store: env.store,
    audit: env.audit,
    onPrompt: (p) => {
      prompts.push(p);
      if (!opts.skipBrowser) {
        browser = h.browser.approve({ verificationUri: p.verificationUri, userCode: p.userCode, account, decision: opts.decision ?? 'allow', otp: opts.otp ?? true });
      }
    },
    onEvent: (e) => events.push(e),
  });
  const settled = await result.then((r) => ({ ok: true as const, r }), (e: unknown) => ({ ok: false as const, e }));
  await browser;
  return { settled, events, prompts };
}

describe('device flow login against oidc-provider', () => {
  let h: OidcHarness;
  beforeAll(async () => { h = await startOidcProvider(); });
  afterAll(async () => { await h?.close(); });

  it('logs in, saves tokens 0600, records auth.login, and reports the identity with MFA', async () => {
    const env = setup(h);
    const { settled, prompts } = await loginVia(h, env, ACCOUNTS.engineer);
    if (!settled.ok) throw settled.e;
    expect(prompts[0]!.userCode).toMatch(/\S/);
    expect(prompts[0]!.verificationUri).toBe(`${h.issuer}/device`);
    const { identity, tokens } = settled.r;
    expect(identity).toMatchObject({ sub: ACCOUNTS.engineer.sub, email: ACCOUNTS.engineer.email, groups: ACCOUNTS.engineer.groups, via: 'oidc', idp: h.issuer, mfa: true });
    expect(tokens.refreshToken).toBeTruthy();
    const st = statSync(path.join(env.home, 'tokens.json'));
    expect(st.mode & 0o777).toBe(0o600);
    expect(env.audit.events).toEqual([expect.objectContaining({ type: 'auth.login', outcome: 'success', actor: expect.objectContaining({ sub: ACCOUNTS.engineer.sub, via: 'oidc' }) })]);
    expect(JSON.stringify(env.audit.events)).not.toContain(tokens.accessToken);

    const cur = await currentSession(env.ctx, { settings: env.settings, store: env.store, home: env.home });
    expect(cur.refreshed).toBe(false);
    expect(cur.identity.sub).toBe(ACCOUNTS.engineer.sub);
  });

  it('without the second factor the identity is not MFA', async () => {
    const env = setup(h);
    const { settled } = await loginVia(h, env, ACCOUNTS.approver, { otp: false });
    if (!settled.ok) throw settled.e;
    expect(settled.r.identity.amr).toEqual(['pwd']);
    expect(settled.r.identity.mfa).toBe(false);
    expect(settled.r.identity.groups).toEqual(ACCOUNTS.approver.groups);
  });

  it('denial in the browser ends with access_denied and a clear sentence, nothing saved', async () => {
    const env = setup(h);
    const { settled } = await loginVia(h, env, ACCOUNTS.engineer, { decision: 'deny' });
    expect(settled.ok).toBe(false);
    const e = (settled as { e: unknown }).e;
    expect(hasCode(e, 'ERR_LOGIN_FAILED')).toBe(true);
    expect((e as { oauthError?: string }).oauthError).toBe('access_denied');
    expect((e as Error).message).toMatch(/denied in the browser/);
    expect(existsSync(path.join(env.home, 'tokens.json'))).toBe(false);
    expect(env.audit.events).toEqual([expect.objectContaining({ type: 'auth.login', outcome: 'failure', detail: expect.objectContaining({ error: 'access_denied' }) })]);
  });

  it('refreshes before expiry with a rotated refresh token, saved at once; the old one is dead', async () => {
    const env = setup(h);
    const { settled } = await loginVia(h, env, ACCOUNTS.engineer);
    if (!settled.ok) throw settled.e;
    const first = settled.r.tokens;
    // 250 s of the 300 s token lifetime pass: inside refresh_before (60 s).
    env.ctx.clock.advance(250_000);
    const cur = await currentSession(env.ctx, { settings: env.settings, store: env.store, home: env.home, audit: env.audit });
    expect(cur.refreshed).toBe(true);
    expect(cur.tokens.refreshToken).toBeTruthy();
    expect(cur.tokens.refreshToken).not.toBe(first.refreshToken);
    expect(cur.tokens.accessToken).not.toBe(first.accessToken);
    expect(cur.tokens.loggedInAt).toBe(first.loggedInAt);
    expect((await env.store.load())!.refreshToken).toBe(cur.tokens.refreshToken);
    expect(cur.identity.amr).toContain('otp');
    // The rotated-out refresh token no longer works at the provider.
    const config = await client.discovery(new URL(h.issuer), CLI_CLIENT_ID, undefined, client.None(), { execute: [client.allowInsecureRequests] });
    await expect(client.refreshTokenGrant(config, first.refreshToken!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('a failed refresh is recorded and asks for login', async () => {
    const env = setup(h);
    const { settled } = await loginVia(h, env, ACCOUNTS.engineer);
    if (!settled.ok) throw settled.e;
    await env.store.save({ ...settled.r.tokens, refreshToken: 'not-a-real-refresh-token', expiresAt: env.ctx.clock.now() - 1 });
    await expect(currentSession(env.ctx, { settings: env.settings, store: env.store, home: env.home, audit: env.audit })).rejects.toMatchObject({ code: 'ERR_LOGIN_REQUIRED' });
    expect(env.audit.events.at(-1)).toMatchObject({ type: 'auth.refresh', outcome: 'failure', detail: { error: 'invalid_grant' } });
  });

  it('logout revokes at the provider (RFC 7009) and then deletes the local tokens', async () => {
    const env = setup(h);
    const { settled } = await loginVia(h, env, ACCOUNTS.engineer);
    if (!settled.ok) throw settled.e;
    const rt = settled.r.tokens.refreshToken!;
    const out = await logout(env.ctx, { store: env.store, home: env.home, auto: false, audit: env.audit });
    expect(out.wasLoggedIn).toBe(true);
    expect(out.revocationError).toBeUndefined();
    // oidc-provider refuses to revoke JWT access tokens (unsupported_token_type); the refresh token is what matters.
    expect(out.revoked).toContain('refresh_token');
    expect(existsSync(path.join(env.home, 'tokens.json'))).toBe(false);
    const config = await client.discovery(new URL(h.issuer), CLI_CLIENT_ID, undefined, client.None(), { execute: [client.allowInsecureRequests] });
    await expect(client.refreshTokenGrant(config, rt)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(env.audit.events.at(-1)).toMatchObject({ type: 'auth.logout', outcome: 'success', actor: { sub: ACCOUNTS.engineer.sub } });
    await expect(currentSession(env.ctx, { settings: env.settings, store: env.store, home: env.home })).rejects.toMatchObject({ code: 'ERR_LOGIN_REQUIRED' });
  });
});

describe('device flow edge cases', () => {
  it('an expired device code ends with expired_token and a clear sentence', async () => {
    // oidc-provider counts the code's life in whole seconds from its creation second: a ttl of 2 gave it as little as
    // 1 s, which the first poll (after the 1 s interval) could miss on a loaded machine, seeing no authorization_pending.
    const h = await startOidcProvider({ deviceCodeTtl: 4 });
    try {
      const env = setup(h);
      const { settled, events } = await loginVia(h, env, ACCOUNTS.engineer, { skipBrowser: true });
      expect(settled.ok).toBe(false);
      const e = (settled as { e: unknown }).e as Error & { oauthError?: string };
      expect(e.oauthError).toBe('expired_token');
      expect(e.message).toMatch(/expired before the login was approved/);
      expect(events.some((x) => x.kind === 'pending')).toBe(true);
    } finally {
      await h.close();
    }
  });

  it('slow_down makes the client wait longer and the login still completes', async () => {
    const h = await startOidcProvider({ slowDownPolls: 1 });
    try {
      const env = setup(h);
      const t0 = Date.now();
      const { settled, events } = await loginVia(h, env, ACCOUNTS.engineer);
      if (!settled.ok) throw settled.e;
      expect(events).toContainEqual({ kind: 'slow_down', interval: 6 });
      // RFC 8628 §3.5: after slow_down the interval grows by 5 s.
      expect(Date.now() - t0).toBeGreaterThanOrEqual(6000);
      expect(h.polls()).toBeGreaterThanOrEqual(2);
    } finally {
      await h.close();
    }
  });
});
