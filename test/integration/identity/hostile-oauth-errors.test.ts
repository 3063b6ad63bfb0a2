/**
 * OAuth error answers (RFC 6749 §5.2) from the real oidc-provider's token endpoint, rewritten on their way
 * back so that the `error` code carries a card number and terminal escapes. The code is recorded in
 * `auth.login` / `auth.refresh` failures: only a well-formed code is, anything else as `invalid_error_code`.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentSession, login } from '../../../src/identity/session.js';
import { settingsFrom } from '../../../src/identity/settings.js';
import { fileStore } from '../../../src/identity/token-store.js';
import { memoryAudit } from '../../harness/memory-audit.js';
import { ACCOUNTS, CLI_CLIENT_ID, startOidcProvider } from '../../harness/oidc.js';
import type { OidcHarness } from '../../harness/oidc.js';
import { fixedClock, testCtx } from '../../harness/test-ctx.js';

let h: OidcHarness;
beforeAll(async () => { h = await startOidcProvider(); });
afterAll(async () => { await h?.close(); });

const SCOPES = ['openid', 'email', 'groups', 'offline_access', 'pcigate'];
const HOSTILE = `card_4111111111111111_\u001b[2J${'x'.repeat(2000)}`;

/** A ctx whose token endpoint answers `grant` requests with the hostile error while `on()` says so. */
function rewriting(grant: string, on: () => boolean) {
  return testCtx({
    clock: fixedClock(Date.now()),
    fetch: async (input, init) => {
      const res = await fetch(input, init);
      if (!on() || !String(input).endsWith('/token') || !String(init?.body).includes(grant)) return res;
      return new Response(JSON.stringify({ error: HOSTILE, error_description: 'rewritten' }), { status: 400, headers: { 'content-type': 'application/json' } });
    },
  });
}

describe('hostile OAuth error codes', () => {
  it('a device-flow poll answered with one: the login fails, the record says invalid_error_code', async () => {
    const ctx = rewriting('device_code', () => true);
    const audit = memoryAudit();
    const settings = settingsFrom(undefined, { issuer: h.issuer, clientId: CLI_CLIENT_ID, scopes: SCOPES, tokenStore: 'file' });
    await expect(login(ctx, { settings, store: fileStore(ctx, mkdtempSync(path.join(os.tmpdir(), 'pcigate-oe-'))), audit, onPrompt: () => {} }))
      .rejects.toMatchObject({ code: 'ERR_LOGIN_FAILED' });
    expect(audit.events).toEqual([expect.objectContaining({ type: 'auth.login', outcome: 'failure', detail: { idp: h.issuer, error: 'invalid_error_code' } })]);
  });

  it('a refresh answered with one: the record says invalid_error_code', async () => {
    let on = false;
    const ctx = rewriting('refresh_token', () => on);
    const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-oe-'));
    const settings = settingsFrom(undefined, { issuer: h.issuer, clientId: CLI_CLIENT_ID, scopes: SCOPES, tokenStore: 'file' });
    const store = fileStore(ctx, home);
    let browser: Promise<unknown> = Promise.resolve();
    await login(ctx, { settings, store, onPrompt: (p) => { browser = h.browser.approve({ verificationUri: p.verificationUri, userCode: p.userCode, account: ACCOUNTS.engineer }); } });
    await browser;
    on = true;
    ctx.clock.advance(250_000);
    const audit = memoryAudit();
    await expect(currentSession(ctx, { settings, store, home, audit })).rejects.toMatchObject({ code: 'ERR_LOGIN_REQUIRED' });
    expect(audit.events).toEqual([expect.objectContaining({ type: 'auth.refresh', outcome: 'failure', detail: { idp: h.issuer, error: 'invalid_error_code' } })]);
  });
});
