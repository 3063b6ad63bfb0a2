/**
 * The device flow (RFC 8628) when what the provider answers is not to be trusted: someone on the path, or a
 * compromised provider, rewrites the device authorization response of the real oidc-provider. A verification
 * URI on plain http or on another host (§5.4 remote phishing), or a user code or URI that carries terminal
 * escapes (§3.3: pcigate prints them), is refused before anything is shown or polled; the refusal is recorded.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login } from '../../../src/identity/session.js';
import { settingsFrom } from '../../../src/identity/settings.js';
import { fileStore } from '../../../src/identity/token-store.js';
import type { DevicePrompt } from '../../../src/identity/device-flow.js';
import { memoryAudit } from '../../harness/memory-audit.js';
import { ACCOUNTS, CLI_CLIENT_ID, startOidcProvider } from '../../harness/oidc.js';
import type { OidcHarness } from '../../harness/oidc.js';
import { fixedClock, testCtx } from '../../harness/test-ctx.js';

let h: OidcHarness;
beforeAll(async () => { h = await startOidcProvider(); });
afterAll(async () => { await h?.close(); });

const SCOPES = ['openid', 'email', 'groups', 'offline_access', 'pcigate'];
const ESC = '\u001b[2J\u001b[1;1H';

/** login() through a fetch that rewrites the device authorization response with `rewrite`. */
async function loginRewritten(rewrite: (doc: Record<string, unknown>) => Record<string, unknown>, verificationHosts?: string[]) {
  // Stops the wait once a prompt was shown: a prompt this test's browser cannot follow would poll until expiry.
  const stop = new AbortController();
  const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-hostile-df-'));
  const ctx = testCtx({
    clock: fixedClock(Date.now()),
    fetch: async (input, init) => {
      const res = await fetch(input, init);
      if (!String(input).endsWith('/device/auth') || res.status !== 200) return res;
      const doc = rewrite((await res.json()) as Record<string, unknown>);
      return new Response(JSON.stringify(doc), { status: 'error' in doc ? 400 : 200, headers: { 'content-type': 'application/json' } });
    },
  });
  const settings = { ...settingsFrom(undefined, { issuer: h.issuer, clientId: CLI_CLIENT_ID, scopes: SCOPES, tokenStore: 'file' }), ...(verificationHosts ? { verificationHosts } : {}) };
  const audit = memoryAudit();
  const prompts: DevicePrompt[] = [];
  const polls = h.polls();
  let browser: Promise<unknown> = Promise.resolve();
  const settled = await login(ctx, {
    settings, store: fileStore(ctx, home), audit, signal: stop.signal,
    onPrompt: (p) => {
      prompts.push(p);
      // Only a prompt on the real provider can be approved; the refusals below never get here.
      if (p.verificationUri.startsWith(h.issuer)) browser = h.browser.approve({ verificationUri: p.verificationUri, userCode: p.userCode, account: ACCOUNTS.engineer });
      else stop.abort();
    },
  }).then((r) => ({ ok: true as const, r }), (e: unknown) => ({ ok: false as const, e: e as Error & { code?: string; hint?: string } }));
  await browser;
  return { settled, prompts, audit, polled: h.polls() - polls };
}

describe('device authorization responses pcigate refuses to show', () => {
  const cases: Array<[string, (d: Record<string, unknown>) => Record<string, unknown>, RegExp]> = [
    ['a verification_uri on plain http off loopback', (d) => ({ ...d, verification_uri: 'http://login.example.com/device' }), /verification_uri http:\/\/login\.example\.com\/device does not use https/],
    ['a verification_uri on another host (phishing)', (d) => ({ ...d, verification_uri: 'https://1ogin-example.com/device' }), /verification_uri is on 1ogin-example\.com, not on the issuer's host 127\.0\.0\.1/],
    ['a verification_uri_complete on another host', (d) => ({ ...d, verification_uri_complete: 'https://evil.example/device?user_code=ABCD' }), /verification_uri_complete is on evil\.example/],
    ['a verification_uri with credentials in it', (d) => ({ ...d, verification_uri: `http://user:pw@127.0.0.1:${h.port}/device` }), /carries credentials/],
    ['a user code that clears the screen', (d) => ({ ...d, user_code: `ABCD${ESC}EFGH` }), /user code ABCD\\u001b\[2J\\u001b\[1;1HEFGH is not 1–64 printable ASCII characters/],
    ['a user code with a newline', (d) => ({ ...d, user_code: 'ABCD\nOpen https://evil.example instead' }), /user code ABCD\\u000aOpen/],
    ['a verification_uri with an escape', (d) => ({ ...d, verification_uri: `${String(d.verification_uri)}${ESC}` }), /verification_uri .*\\u001b\[2J.* is not a printable URL/],
  ];
  for (const [name, rewrite, message] of cases) {
    it(`refuses ${name}: nothing shown, nothing polled, the failure recorded`, async () => {
      const { settled, prompts, audit, polled } = await loginRewritten(rewrite);
      expect(settled.ok).toBe(false);
      const e = (settled as { e: Error & { code?: string; hint?: string } }).e;
      expect(e.code).toBe('ERR_LOGIN_FAILED');
      expect(e.message).toMatch(/^refusing the device login: /);
      expect(e.message).toMatch(message);
      expect(e.message).not.toMatch(/[\u0000-\u001f]/);
      expect(e.hint).toMatch(/identity\.verification_hosts/);
      expect(prompts).toEqual([]);
      expect(polled).toBe(0);
      expect(audit.events).toEqual([expect.objectContaining({ type: 'auth.login', outcome: 'failure', detail: { idp: h.issuer, error: 'ERR_LOGIN_FAILED' } })]);
    });
  }

  it("the provider's error_description reaches the terminal escaped, masked and cut", async () => {
    const { settled } = await loginRewritten(() => ({ error: 'invalid_client', error_description: `${ESC}card 4111111111111111 ${'x'.repeat(5000)}` }));
    const e = (settled as { e: Error }).e;
    expect(e.message).toMatch(/^the identity provider refused the device authorization request: invalid_client: \\u001b\[2J/);
    expect(e.message).toContain('************1111');
    expect(e.message).not.toMatch(/[\u0000-\u001f]|4111111111111111/);
    expect(e.message.length).toBeLessThan(500);
  });

  it('a huge expires_in does not end the login at once: the wait is capped at a day and the login completes', async () => {
    const { settled, prompts } = await loginRewritten((d) => ({ ...d, expires_in: 1e10 }));
    expect(prompts[0]!.expiresAt - Date.now()).toBeLessThanOrEqual(86_400_000);
    expect(settled).toMatchObject({ ok: true, r: { identity: { sub: ACCOUNTS.engineer.sub } } });
  });

  it('a host listed in identity.verification_hosts is shown, and nothing else is', async () => {
    const moved = (d: Record<string, unknown>) => ({ ...d, verification_uri: 'https://microsoft.com/devicelogin' });
    expect((await loginRewritten(moved, ['login.example.com'])).prompts).toEqual([]);
    // Listed: the prompt is shown (this test's browser cannot follow it, so the wait is cancelled at once).
    const listed = await loginRewritten(moved, ['Microsoft.com']);
    expect(listed.prompts.map((p) => p.verificationUri)).toEqual(['https://microsoft.com/devicelogin']);
    // The genuine response on the issuer's host still logs in (the control for every refusal above).
    const genuine = await loginRewritten((d) => d);
    expect(genuine.settled).toMatchObject({ ok: true, r: { identity: { sub: ACCOUNTS.engineer.sub } } });
  });
});
