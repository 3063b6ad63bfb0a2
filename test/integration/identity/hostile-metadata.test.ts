/**
 * The provider's metadata as the validator reads it (OpenID Connect Discovery §3, §4.3), rewritten on its way
 * from the real oidc-provider: a jwks_uri on plain http off loopback would let anyone on the path swap the
 * signing keys, after which every token they sign passes. It is refused before any key is fetched.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createValidator } from '../../../src/identity/validate.js';
import { AUDIENCE, startOidcProvider } from '../../harness/oidc.js';
import type { OidcHarness } from '../../harness/oidc.js';
import { fixedClock, testCtx } from '../../harness/test-ctx.js';

let h: OidcHarness;
beforeAll(async () => { h = await startOidcProvider(); });
afterAll(async () => { await h?.close(); });

function validatorWithMetadata(change: (doc: Record<string, unknown>) => Record<string, unknown>) {
  const fetched: string[] = [];
  const ctx = testCtx({
    clock: fixedClock(Date.now()),
    fetch: async (input, init) => {
      const url = String(input instanceof Request ? input.url : input);
      fetched.push(url);
      if (!url.startsWith(h.issuer)) throw new TypeError(`fetch failed (test: ${url} is not reachable)`);
      const res = await fetch(input, init);
      if (!url.endsWith('/.well-known/openid-configuration')) return res;
      return new Response(JSON.stringify(change((await res.json()) as Record<string, unknown>)), { status: 200, headers: { 'content-type': 'application/json' } });
    },
  });
  const v = createValidator(ctx, { issuer: h.issuer, audience: AUDIENCE, algorithms: ['RS256'], clockSkewMs: 30_000, groupsClaim: 'groups', mfaAmr: ['mfa'], via: 'workload' });
  return { v, fetched };
}

const now = () => Math.floor(Date.now() / 1000);

describe('provider metadata the validator refuses', () => {
  it('a jwks_uri on plain http off loopback: refused, and the keys are never fetched from it', async () => {
    const { v, fetched } = validatorWithMetadata((d) => ({ ...d, jwks_uri: 'http://192.0.2.1/jwks' }));
    const token = await h.sign({ iss: h.issuer, aud: AUDIENCE, sub: 'ci', iat: now(), exp: now() + 300 });
    await expect(v.validate(token)).rejects.toMatchObject({
      code: 'ERR_TOKEN_REFUSED', reason: 'jwks', message: expect.stringMatching(/jwks_uri http:\/\/192\.0\.2\.1\/jwks does not use https$/),
    });
    expect(fetched.filter((u) => u.includes('192.0.2.1'))).toEqual([]);
  });

  it('an issuer in the metadata with terminal escapes is quoted escaped', async () => {
    const { v } = validatorWithMetadata((d) => ({ ...d, issuer: 'https://evil.example/\u001b[2J' }));
    const token = await h.sign({ iss: h.issuer, aud: AUDIENCE, sub: 'ci', iat: now(), exp: now() + 300 });
    await expect(v.validate(token)).rejects.toMatchObject({ reason: 'jwks', message: expect.stringContaining('names issuer https://evil.example/\\u001b[2J, expected') });
  });
});
