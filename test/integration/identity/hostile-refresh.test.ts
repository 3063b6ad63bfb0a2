/**
 * A renewal that answers for someone else. The login is a real device flow at oidc-provider; the refresh
 * response is then rewritten on its way back (someone on the path, or a provider mixing up grants) so that its
 * access token, validly signed by the provider, names another subject. OpenID Connect Core §12.2: a renewal
 * keeps the original `sub`. pcigate refuses it, records `auth.refresh` failure, and keeps nothing of it.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentSession, login } from '../../../src/identity/session.js';
import { settingsFrom } from '../../../src/identity/settings.js';
import { fileStore } from '../../../src/identity/token-store.js';
import { memoryAudit } from '../../harness/memory-audit.js';
import { ACCOUNTS, AUDIENCE, CLI_CLIENT_ID, startOidcProvider } from '../../harness/oidc.js';
import type { OidcHarness } from '../../harness/oidc.js';
import { fixedClock, testCtx } from '../../harness/test-ctx.js';

let h: OidcHarness;
beforeAll(async () => { h = await startOidcProvider(); });
afterAll(async () => { await h?.close(); });

const SCOPES = ['openid', 'email', 'groups', 'offline_access', 'pcigate'];

describe('a renewal for another subject', () => {
  it('is refused, recorded, and not saved; the saved login stays the original person', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-hostile-refresh-'));
    let swap = false;
    const ctx = testCtx({
      clock: fixedClock(Date.now()),
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        if (!swap || !String(input).endsWith('/token') || !String(init?.body).includes('grant_type=refresh_token') || res.status !== 200) return res;
        const doc = (await res.json()) as Record<string, unknown>;
        const now = Math.floor(Date.now() / 1000);
        // The approver's identity, signed with the provider's own key: it would validate.
        doc.access_token = await h.sign({ iss: h.issuer, aud: AUDIENCE, sub: ACCOUNTS.approver.sub, email: ACCOUNTS.approver.email, groups: ACCOUNTS.approver.groups, amr: ['pwd', 'otp'], iat: now, exp: now + 300 });
        return new Response(JSON.stringify(doc), { status: 200, headers: { 'content-type': 'application/json' } });
      },
    });
    const settings = settingsFrom(undefined, { issuer: h.issuer, clientId: CLI_CLIENT_ID, scopes: SCOPES, tokenStore: 'file' });
    const store = fileStore(ctx, home);
    const audit = memoryAudit();
    let browser: Promise<unknown> = Promise.resolve();
    const first = await login(ctx, {
      settings, store,
      onPrompt: (p) => { browser = h.browser.approve({ verificationUri: p.verificationUri, userCode: p.userCode, account: ACCOUNTS.engineer }); },
    });
    await browser;

    swap = true;
    ctx.clock.advance(250_000); // inside refresh_before: the next use renews
    await expect(currentSession(ctx, { settings, store, home, audit })).rejects.toMatchObject({
      code: 'ERR_LOGIN_REQUIRED', message: 'the identity provider renewed the login for another subject; pcigate refused the renewed tokens',
    });
    expect(audit.events).toEqual([expect.objectContaining({ type: 'auth.refresh', outcome: 'failure', detail: { idp: h.issuer, error: 'subject_changed' } })]);
    expect((await store.load())?.accessToken).toBe(first.tokens.accessToken);
  });
});
