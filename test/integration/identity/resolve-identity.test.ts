/**
 * resolveIdentity, the broker's seam: a person's saved login (after a real device flow), require_mfa on the
 * connection (PCI DSS 8.4.2), and the local OS account only where identity.allow_local opts in.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identitySection } from '../../../src/config/sections/identity.js';
import { resolveIdentity } from '../../../src/identity/resolve.js';
import { login } from '../../../src/identity/session.js';
import { settingsFrom } from '../../../src/identity/settings.js';
import { fileStore } from '../../../src/identity/token-store.js';
import { memoryAudit } from '../../harness/memory-audit.js';
import { ACCOUNTS, CLI_CLIENT_ID, startOidcProvider } from '../../harness/oidc.js';
import type { DemoAccount, OidcHarness } from '../../harness/oidc.js';
import { fixedClock, testCtx } from '../../harness/test-ctx.js';

let h: OidcHarness;
beforeAll(async () => { h = await startOidcProvider(); });
afterAll(async () => { await h?.close(); });

const ctx = () => testCtx({ clock: fixedClock(Date.now()) });

async function loggedIn(account: DemoAccount, otp: boolean) {
  const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-resolve-'));
  const identity = identitySection.parse({ issuer: h.issuer, client_id: CLI_CLIENT_ID, token_store: 'file', scopes: ['openid', 'email', 'groups', 'offline_access', 'pcigate'] });
  const c = ctx();
  let browser: Promise<unknown> = Promise.resolve();
  await login(c, {
    settings: settingsFrom(identity), store: fileStore(c, home),
    onPrompt: (p) => { browser = h.browser.approve({ verificationUri: p.verificationUri, userCode: p.userCode, account, otp }); },
  });
  await browser;
  return { home, config: { identity } };
}

describe('resolveIdentity', () => {
  it('returns the logged-in person and enforces require_mfa from amr', async () => {
    const withOtp = await loggedIn(ACCOUNTS.engineer, true);
    const audit = memoryAudit();
    const id = await resolveIdentity(ctx(), withOtp.config, { connection: 'prod-db', conn: { require_mfa: true }, home: withOtp.home, audit });
    expect(id).toMatchObject({ sub: ACCOUNTS.engineer.sub, via: 'oidc', mfa: true, groups: ACCOUNTS.engineer.groups });
    expect(audit.events).toEqual([]);

    const pwdOnly = await loggedIn(ACCOUNTS.approver, false);
    await expect(resolveIdentity(ctx(), pwdOnly.config, { connection: 'prod-db', conn: { require_mfa: true }, home: pwdOnly.home, audit }))
      .rejects.toMatchObject({ code: 'ERR_MFA_REQUIRED', message: expect.stringContaining('prod-db requires multi-factor') });
    expect(audit.events).toEqual([expect.objectContaining({ type: 'auth.fail', outcome: 'denied', target: { conn: 'prod-db' }, detail: expect.objectContaining({ reason: 'mfa_required', sub: ACCOUNTS.approver.sub, amr: ['pwd'] }) })]);
    // Without require_mfa the same login is accepted.
    expect((await resolveIdentity(ctx(), pwdOnly.config, { connection: 'staging', conn: {}, home: pwdOnly.home })).sub).toBe(ACCOUNTS.approver.sub);
  });

  it('asks for login when OIDC is configured and nobody is logged in', async () => {
    const audit = memoryAudit();
    const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-resolve-'));
    const config = { identity: identitySection.parse({ issuer: h.issuer, client_id: CLI_CLIENT_ID, token_store: 'file' }) };
    await expect(resolveIdentity(ctx(), config, { connection: 'prod-db', conn: {}, home, audit })).rejects.toMatchObject({ code: 'ERR_LOGIN_REQUIRED' });
    expect(audit.events.at(-1)).toMatchObject({ type: 'auth.fail', detail: { reason: 'login_required' } });
  });

  it('uses the local OS account only where allow_local opts in, and never for require_mfa', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-resolve-'));
    await expect(resolveIdentity(ctx(), { identity: identitySection.parse({}) }, { connection: 'db', conn: {}, home })).rejects.toMatchObject({ code: 'ERR_LOGIN_REQUIRED' });
    const local = { identity: identitySection.parse({ allow_local: true }) };
    expect(await resolveIdentity(ctx(), local, { connection: 'db', conn: {}, home })).toEqual({ sub: 'tester', via: 'local', mfa: false });
    await expect(resolveIdentity(ctx(), local, { connection: 'db', conn: { require_mfa: true }, home })).rejects.toMatchObject({ code: 'ERR_MFA_REQUIRED' });
  });
});
