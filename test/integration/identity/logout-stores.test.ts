/**
 * `pcigate logout` with `token_store: auto` against the real provider: a login once kept in the 0600 file
 * (no keychain answered then) and a newer one in the keychain. Logout must revoke and remove both (RFC 7009),
 * or the older one stays on disk in clear, live, and is found again by the next command.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentSession, login, logout } from '../../../src/identity/session.js';
import { settingsFrom } from '../../../src/identity/settings.js';
import { fileStore } from '../../../src/identity/token-store.js';
import type { TokenStore } from '../../../src/identity/token-store.js';
import type { StoredTokens } from '../../../src/identity/types.js';
import { memoryAudit } from '../../harness/memory-audit.js';
import { ACCOUNTS, CLI_CLIENT_ID, startOidcProvider } from '../../harness/oidc.js';
import type { OidcHarness } from '../../harness/oidc.js';
import { fixedClock, testCtx } from '../../harness/test-ctx.js';

let h: OidcHarness;
beforeAll(async () => { h = await startOidcProvider(); });
afterAll(async () => { await h?.close(); });

const SCOPES = ['openid', 'email', 'groups', 'offline_access', 'pcigate'];

/** Stands in for the OS keychain (kind 'keychain'): what matters here is which store logout empties. */
function memoryKeychain(): TokenStore & { saved: StoredTokens | undefined } {
  const s = {
    kind: 'keychain' as const, where: 'the OS keychain (service pcigate)', saved: undefined as StoredTokens | undefined,
    load: async () => s.saved,
    save: async (t: StoredTokens) => { s.saved = t; },
    delete: async () => { const had = s.saved !== undefined; s.saved = undefined; return had; },
  };
  return s;
}

async function loginInto(ctx: ReturnType<typeof testCtx>, store: TokenStore): Promise<StoredTokens> {
  const settings = settingsFrom(undefined, { issuer: h.issuer, clientId: CLI_CLIENT_ID, scopes: SCOPES, tokenStore: 'auto' });
  let browser: Promise<unknown> = Promise.resolve();
  const r = await login(ctx, {
    settings, store,
    onPrompt: (p) => { browser = h.browser.approve({ verificationUri: p.verificationUri, userCode: p.userCode, account: ACCOUNTS.engineer }); },
  });
  await browser;
  return r.tokens;
}

describe('logout with token_store: auto', () => {
  it('revokes and removes the login in the keychain and the older one in the 0600 file', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-logout-'));
    const ctx = testCtx({ clock: fixedClock(Date.now()) });
    const audit = memoryAudit();
    const older = await loginInto(ctx, fileStore(ctx, home));
    const keychain = memoryKeychain();
    const newer = await loginInto(ctx, keychain);

    const out = await logout(ctx, { store: keychain, home, auto: true, audit });
    expect(out.wasLoggedIn).toBe(true);
    expect(out.where).toBe(`the OS keychain (service pcigate) and ${path.join(home, 'tokens.json')}`);
    expect(keychain.saved).toBeUndefined();
    expect(existsSync(path.join(home, 'tokens.json'))).toBe(false);
    // Both grants are dead at the provider.
    const config = await client.discovery(new URL(h.issuer), CLI_CLIENT_ID, undefined, client.None(), { execute: [client.allowInsecureRequests] });
    for (const t of [older, newer]) await expect(client.refreshTokenGrant(config, t.refreshToken!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(audit.events.map((e) => e.type)).toEqual(['auth.logout', 'auth.logout']);
    // And the next command finds nobody logged in.
    const settings = settingsFrom(undefined, { issuer: h.issuer, clientId: CLI_CLIENT_ID, tokenStore: 'auto' });
    await expect(currentSession(ctx, { settings, store: keychain, home })).rejects.toMatchObject({ code: 'ERR_LOGIN_REQUIRED' });
  });

  it('the logout record names the OS account, not a saved sub that holds a card number or escapes', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-logout-'));
    const ctx = testCtx({ clock: fixedClock(Date.now()) });
    const audit = memoryAudit();
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    for (const sub of ['4111111111111111', 'eve\u001b[2J']) {
      await fileStore(ctx, home).save({ issuer: h.issuer, clientId: CLI_CLIENT_ID, accessToken: `${b64({ alg: 'RS256' })}.${b64({ sub })}.c2ln`, expiresAt: ctx.clock.now() + 60_000, loggedInAt: ctx.clock.now() });
      await logout(ctx, { store: fileStore(ctx, home), home, auto: false, audit });
      expect(audit.events.at(-1)).toMatchObject({ type: 'auth.logout', actor: { sub: ctx.user.name, via: 'oidc' } });
    }
  });
});
