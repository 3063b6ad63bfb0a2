/** The OIDC harness itself: a device flow through openid-client against the in-process provider yields a JWT access token. */
import * as client from 'openid-client';
import * as jose from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNTS, AUDIENCE, CLI_CLIENT_ID, startOidcProvider } from '../../harness/oidc.js';
import type { OidcHarness } from '../../harness/oidc.js';

let h: OidcHarness;
beforeAll(async () => { h = await startOidcProvider(); });
afterAll(async () => { await h?.close(); });

describe('oidc harness', () => {
  it('runs a device flow and mints an at+jwt access token with groups, email and amr', async () => {
    const config = await client.discovery(new URL(h.issuer), CLI_CLIENT_ID, undefined, client.None(), { execute: [client.allowInsecureRequests] });
    const dar = await client.initiateDeviceAuthorization(config, { scope: 'openid email groups offline_access pcigate' });
    expect(dar.interval).toBe(1);
    const [tokens] = await Promise.all([
      client.pollDeviceAuthorizationGrant(config, dar),
      h.browser.approve({ verificationUri: dar.verification_uri_complete ?? dar.verification_uri, userCode: dar.user_code, account: ACCOUNTS.engineer }),
    ]);
    const { payload, protectedHeader } = await jose.jwtVerify(tokens.access_token, jose.createLocalJWKSet(h.jwks), { issuer: h.issuer, audience: AUDIENCE });
    expect(protectedHeader.typ).toBe('at+jwt');
    expect(payload.sub).toBe(ACCOUNTS.engineer.sub);
    expect(payload.groups).toEqual(ACCOUNTS.engineer.groups);
    expect(payload.email).toBe(ACCOUNTS.engineer.email);
    expect(payload.amr).toContain('otp');
    expect(tokens.refresh_token).toBeTruthy();
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.refresh_token).toBeTruthy();
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    const again = await jose.jwtVerify(refreshed.access_token, jose.createLocalJWKSet(h.jwks), { issuer: h.issuer, audience: AUDIENCE });
    expect(again.payload.amr).toContain('otp');
  });
});
