/**
 * `pcigate logout` while another pcigate renews the same login (a `connect` next to it), against the real
 * provider, which rotates refresh tokens. The renewal's answer is slow; logout runs meanwhile. Without the
 * login lock, logout revoked and deleted the old tokens first and the renewal then saved its new refresh token:
 * the login was back on disk, live and unrevoked. Under the lock, logout waits and revokes the new one.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentSession, login, logout } from '../../../src/identity/session.js';
import { settingsFrom } from '../../../src/identity/settings.js';
import { fileStore } from '../../../src/identity/token-store.js';
import { ACCOUNTS, CLI_CLIENT_ID, slowRefreshFetch, startOidcProvider } from '../../harness/oidc.js';
import type { OidcHarness } from '../../harness/oidc.js';
import { fixedClock, testCtx } from '../../harness/test-ctx.js';

let h: OidcHarness;
beforeAll(async () => { h = await startOidcProvider(); });
afterAll(async () => { await h?.close(); });

const SCOPES = ['openid', 'email', 'groups', 'offline_access', 'pcigate'];

describe('logout during a refresh', () => {
  it('leaves no login behind: the renewed refresh token is revoked and the file is gone', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-logout-race-'));
    // The renewing process: its provider answers the refresh 800 ms late.
    const { fetch: slowFetch, started } = slowRefreshFetch(800);
    const slow = testCtx({ clock: fixedClock(Date.now()), fetch: slowFetch });
    const settings = settingsFrom(undefined, { issuer: h.issuer, clientId: CLI_CLIENT_ID, scopes: SCOPES, tokenStore: 'file' });
    let browser: Promise<unknown> = Promise.resolve();
    await login(slow, { settings, store: fileStore(slow, home), onPrompt: (p) => { browser = h.browser.approve({ verificationUri: p.verificationUri, userCode: p.userCode, account: ACCOUNTS.engineer }); } });
    await browser;

    slow.clock.advance(250_000);
    const renewing = currentSession(slow, { settings, store: fileStore(slow, home), home }).then((c) => c.tokens, () => undefined);
    await started;
    const other = testCtx({ clock: fixedClock(Date.now()) });
    const out = await logout(other, { store: fileStore(other, home), home, auto: false });
    const renewed = await renewing;

    expect(out.wasLoggedIn).toBe(true);
    expect(existsSync(path.join(home, 'tokens.json'))).toBe(false);
    const config = await client.discovery(new URL(h.issuer), CLI_CLIENT_ID, undefined, client.None(), { execute: [client.allowInsecureRequests] });
    expect(renewed?.refreshToken).toBeTruthy();
    await expect(client.refreshTokenGrant(config, renewed!.refreshToken!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });
});
