/**
 * Token validation against the provider's real JWKS (RFC 9068 / RFC 8725): a genuine access token passes,
 * and each forgery or mismatch is refused with its own stable reason.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import * as jose from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createValidator } from '../../../src/identity/validate.js';
import type { ValidatorOptions } from '../../../src/identity/validate.js';
import { AUDIENCE, CI_CLIENT_ID, CI_CLIENT_SECRET, RESOURCE, startOidcProvider } from '../../harness/oidc.js';
import type { OidcHarness } from '../../harness/oidc.js';
import { fixedClock, testCtx } from '../../harness/test-ctx.js';

let h: OidcHarness;
let genuine: string;
beforeAll(async () => {
  h = await startOidcProvider();
  const config = await client.discovery(new URL(h.issuer), CI_CLIENT_ID, undefined, client.ClientSecretPost(CI_CLIENT_SECRET), { execute: [client.allowInsecureRequests] });
  genuine = (await client.clientCredentialsGrant(config, { resource: RESOURCE, scope: 'pcigate' })).access_token;
});
afterAll(async () => { await h?.close(); });

const ctx = () => testCtx({ clock: fixedClock(Date.now()) });
const opts = (over: Partial<ValidatorOptions> = {}): ValidatorOptions => ({
  issuer: h.issuer, audience: AUDIENCE, algorithms: ['RS256', 'ES256', 'EdDSA'], clockSkewMs: 30_000,
  groupsClaim: 'groups', mfaAmr: ['mfa', 'otp'], via: 'oidc', ...over,
});
const now = () => Math.floor(Date.now() / 1000);
const claims = (over: jose.JWTPayload = {}): jose.JWTPayload => ({ iss: h.issuer, aud: AUDIENCE, sub: 'u-1', iat: now(), exp: now() + 300, ...over });
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

async function reason(token: string, o: Partial<ValidatorOptions> = {}): Promise<string> {
  try {
    await createValidator(ctx(), opts(o)).validate(token);
    return 'accepted';
  } catch (e) {
    expect((e as { code?: string }).code).toBe('ERR_TOKEN_REFUSED');
    return (e as { reason: string }).reason;
  }
}

describe('access-token validation', () => {
  it('accepts a genuine at+jwt from the provider (discovering the JWKS)', async () => {
    const { identity, claims: c } = await createValidator(ctx(), opts()).validate(genuine);
    expect(identity).toMatchObject({ sub: CI_CLIENT_ID, idp: h.issuer, via: 'oidc', groups: ['ci'], mfa: false });
    expect(c.aud).toBe(AUDIENCE);
  });

  it('accepts a token the harness signs with the provider key (control for the cases below)', async () => {
    expect(await reason(await h.sign(claims()))).toBe('accepted');
  });

  it('refuses a token whose payload was changed after signing', async () => {
    const [hd, , sig] = genuine.split('.');
    const payload = JSON.parse(Buffer.from(genuine.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    const forged = `${hd}.${b64({ ...payload, groups: ['dba', 'admins'] })}.${sig}`;
    expect(await reason(forged)).toBe('signature');
  });

  it('refuses alg: none', async () => {
    const token = `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64(claims())}.`;
    expect(await reason(token)).toBe('algorithm');
  });

  it('refuses alg: none even when a configuration lists it', async () => {
    const token = `${b64({ alg: 'none' })}.${b64(claims())}.`;
    expect(await reason(token, { algorithms: ['none', 'RS256'] })).toBe('algorithm');
  });

  it('refuses a token valid for longer than max_token_lifetime, counted from iat or else from now', async () => {
    expect(await reason(await h.sign(claims({ exp: now() + 2 * 86_400 })))).toBe('lifetime');
    expect(await reason(await h.sign(claims({ iat: now() - 1800, exp: now() + 1500 })), { maxTokenLifetimeMs: 3_600_000 })).toBe('accepted');
    expect(await reason(await h.sign(claims({ iat: now() - 1800, exp: now() + 1500 })), { maxTokenLifetimeMs: 1_800_000 })).toBe('lifetime');
    const noIat = claims({ exp: now() + 3 * 86_400 });
    delete noIat.iat;
    expect(await reason(await h.sign(noIat))).toBe('lifetime');
    expect(await reason(await h.sign(claims({ exp: now() + 20 * 3600 })))).toBe('accepted');
  });

  it('refuses the wrong audience', async () => {
    expect(await reason(await h.sign(claims({ aud: 'some-other-api' })))).toBe('audience');
  });

  it('refuses an expired token beyond the skew, and accepts one inside it', async () => {
    expect(await reason(await h.sign(claims({ iat: now() - 900, exp: now() - 120 })))).toBe('expired');
    expect(await reason(await h.sign(claims({ iat: now() - 900, exp: now() - 10 })))).toBe('accepted');
  });

  it('refuses a token not valid yet (nbf beyond the skew)', async () => {
    expect(await reason(await h.sign(claims({ nbf: now() + 600 })))).toBe('not_yet_valid');
  });

  it('refuses the wrong issuer', async () => {
    expect(await reason(await h.sign(claims({ iss: 'https://evil.example' })))).toBe('issuer');
  });

  it('refuses a token signed by a key not in the JWKS (unknown kid, and a known kid with another key)', async () => {
    const { privateKey } = await jose.generateKeyPair('RS256');
    const rogue = await new jose.SignJWT(claims()).setProtectedHeader({ alg: 'RS256', kid: 'rogue-key', typ: 'at+jwt' }).sign(privateKey);
    expect(await reason(rogue, { jwksCooldownMs: 0 })).toBe('unknown_key');
    const impostor = await new jose.SignJWT(claims()).setProtectedHeader({ alg: 'RS256', kid: 'test-rs256', typ: 'at+jwt' }).sign(privateKey);
    expect(await reason(impostor)).toBe('signature');
  });

  it('refuses HMAC signed with the public key as the secret (key confusion)', async () => {
    for (const secret of [h.publicKeyPem, JSON.stringify(h.jwks.keys[0])]) {
      const token = await new jose.SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: 'test-rs256', typ: 'at+jwt' }).sign(new TextEncoder().encode(secret));
      expect(await reason(token)).toBe('algorithm');
      expect(await reason(token, { algorithms: ['HS256', 'RS256'] })).toBe('algorithm');
    }
  });

  it('refuses a JWT of another type (typ present and not an access token)', async () => {
    expect(await reason(await h.sign(claims(), { typ: 'dpop+jwt' }))).toBe('typ');
    expect(await reason(await h.sign(claims(), { typ: undefined }))).toBe('accepted');
  });

  it('maps a configurable groups claim path', async () => {
    const token = await h.sign(claims({ realm_access: { roles: ['dba'] }, amr: ['pwd', 'otp'] }));
    const { identity } = await createValidator(ctx(), opts({ groupsClaim: 'realm_access.roles' })).validate(token);
    expect(identity.groups).toEqual(['dba']);
    expect(identity.mfa).toBe(true);
  });
});

describe('JWKS caching', () => {
  it('fetches the JWKS once, and again when an unknown kid appears (key rotation)', async () => {
    const a = await jose.generateKeyPair('ES256', { extractable: true });
    const b = await jose.generateKeyPair('ES256', { extractable: true });
    const jwkA = { ...(await jose.exportJWK(a.publicKey)), kid: 'a', alg: 'ES256' };
    const jwkB = { ...(await jose.exportJWK(b.publicKey)), kid: 'b', alg: 'ES256' };
    let keys = [jwkA];
    let fetches = 0;
    const srv = createServer((req, res) => {
      const iss = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
      res.setHeader('content-type', 'application/json');
      if (req.url === '/.well-known/openid-configuration') return res.end(JSON.stringify({ issuer: iss, jwks_uri: `${iss}/jwks` }));
      fetches++;
      res.end(JSON.stringify({ keys }));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const iss = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
      const v = createValidator(ctx(), opts({ issuer: iss, jwksCooldownMs: 0 }));
      const tok = (k: Parameters<jose.SignJWT["sign"]>[0], kid: string) => new jose.SignJWT(claims({ iss })).setProtectedHeader({ alg: 'ES256', kid }).sign(k);
      await v.validate(await tok(a.privateKey, 'a'));
      await v.validate(await tok(a.privateKey, 'a'));
      expect(fetches).toBe(1);
      keys = [jwkA, jwkB];
      await v.validate(await tok(b.privateKey, 'b'));
      expect(fetches).toBe(2);
    } finally {
      srv.closeAllConnections();
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });
});
