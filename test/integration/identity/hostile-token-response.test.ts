/**
 * The device flow's token response (RFC 8628 §3.5) rewritten on its way back from the real oidc-provider: the
 * ID token swapped for one, signed by the provider, for another issuer, another client, another person, or
 * carrying a nonce (the device flow sends none: it was minted for another login). The login is refused with a
 * sentence that names what did not match, nothing is saved, and the failure is recorded.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login } from '../../../src/identity/session.js';
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
type Claims = Record<string, unknown>;

async function loginWithIdToken(change: (c: Claims) => Claims) {
  const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-hostile-tr-'));
  const ctx = testCtx({
    clock: fixedClock(Date.now()),
    fetch: async (input, init) => {
      const res = await fetch(input, init);
      if (!String(input).endsWith('/token') || !String(init?.body).includes('device_code') || res.status !== 200) return res;
      const doc = (await res.json()) as Claims;
      const claims = JSON.parse(Buffer.from(String(doc.id_token).split('.')[1]!, 'base64url').toString('utf8')) as Claims;
      doc.id_token = await h.sign(change(claims), { typ: 'JWT' });
      return new Response(JSON.stringify(doc), { status: 200, headers: { 'content-type': 'application/json' } });
    },
  });
  const settings = settingsFrom(undefined, { issuer: h.issuer, clientId: CLI_CLIENT_ID, scopes: SCOPES, tokenStore: 'file' });
  const audit = memoryAudit();
  let browser: Promise<unknown> = Promise.resolve();
  const settled = await login(ctx, {
    settings, store: fileStore(ctx, home), audit,
    onPrompt: (p) => { browser = h.browser.approve({ verificationUri: p.verificationUri, userCode: p.userCode, account: ACCOUNTS.engineer }); },
  }).then(() => undefined, (e: unknown) => e as Error & { code?: string });
  await browser;
  return { error: settled, audit, saved: existsSync(path.join(home, 'tokens.json')) };
}

describe('a device-flow token response whose ID token does not belong', () => {
  const cases: Array<[string, (c: Claims) => Claims, RegExp, string]> = [
    ['another issuer', (c) => ({ ...c, iss: 'https://evil.example' }), /failed pcigate's checks: unexpected JWT claim value encountered \(unexpected JWT "iss" \(issuer\) claim value\)/, 'ERR_LOGIN_FAILED'],
    ['another client', (c) => ({ ...c, aud: 'some-other-client' }), /failed pcigate's checks: .*"aud" \(audience\)/, 'ERR_LOGIN_FAILED'],
    ['another person', (c) => ({ ...c, sub: ACCOUNTS.approver.sub }), /failed pcigate's checks: its ID token is for subject u-2002, its access token for u-1001/, 'id_token_mismatch'],
    ['a nonce nobody sent', (c) => ({ ...c, nonce: 'from-another-login' }), /failed pcigate's checks: its ID token carries a nonce/, 'id_token_mismatch'],
  ];
  for (const [name, change, message, recorded] of cases) {
    it(`refuses an ID token for ${name}: nothing saved, the failure recorded`, async () => {
      const { error, audit, saved } = await loginWithIdToken(change);
      expect(error).toMatchObject({ code: 'ERR_LOGIN_FAILED', message: expect.stringMatching(message) });
      expect(saved).toBe(false);
      expect(audit.events.map((e) => [e.type, e.outcome, (e.detail as { error?: string }).error])).toEqual([['auth.login', 'failure', recorded]]);
    });
  }
});
