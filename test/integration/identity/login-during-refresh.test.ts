/**
 * `pcigate login` as another account while a pcigate renews the previous login (a `connect` next to it),
 * against the real provider. The renewal's answer is slow and the new login finishes first. Without the login
 * lock the renewal then saved the previous account's renewed tokens over the new login, and the next command
 * ran as the previous account. Under the lock the new login is saved after the renewal, and it stays.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentSession, login } from '../../../src/identity/session.js';
import { settingsFrom } from '../../../src/identity/settings.js';
import { fileStore } from '../../../src/identity/token-store.js';
import { ACCOUNTS, CLI_CLIENT_ID, slowRefreshFetch, startOidcProvider } from '../../harness/oidc.js';
import type { DemoAccount, OidcHarness } from '../../harness/oidc.js';
import { fixedClock, testCtx } from '../../harness/test-ctx.js';

let h: OidcHarness;
beforeAll(async () => { h = await startOidcProvider(); });
afterAll(async () => { await h?.close(); });

const SCOPES = ['openid', 'email', 'groups', 'offline_access', 'pcigate'];

describe('login during a refresh of the previous login', () => {
  it('the new account is the one saved', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-login-race-'));
    const settings = settingsFrom(undefined, { issuer: h.issuer, clientId: CLI_CLIENT_ID, scopes: SCOPES, tokenStore: 'file' });
    const loginAs = async (ctx: ReturnType<typeof testCtx>, account: DemoAccount) => {
      let browser: Promise<unknown> = Promise.resolve();
      await login(ctx, { settings, store: fileStore(ctx, home), home, onPrompt: (p) => { browser = h.browser.approve({ verificationUri: p.verificationUri, userCode: p.userCode, account }); } });
      await browser;
    };
    // The renewing process: its provider answers the refresh 4 s late, longer than the new login takes.
    const { fetch: slowFetch, started } = slowRefreshFetch(4000);
    const slow = testCtx({ clock: fixedClock(Date.now()), fetch: slowFetch });
    await loginAs(slow, ACCOUNTS.engineer);
    slow.clock.advance(250_000);
    const renewing = currentSession(slow, { settings, store: fileStore(slow, home), home }).then((c) => c.identity.sub, (e: Error) => e.message);
    await started;
    await loginAs(testCtx({ clock: fixedClock(Date.now()) }), ACCOUNTS.approver);
    expect(await renewing).toBe(ACCOUNTS.engineer.sub);

    const now = testCtx({ clock: fixedClock(Date.now()) });
    expect((await currentSession(now, { settings, store: fileStore(now, home), home })).identity.sub).toBe(ACCOUNTS.approver.sub);
  }, 30_000);
});
