/**
 * Workload tokens from an attacker, through resolveIdentity as `pcigate exec` calls it, against the real
 * provider's JWKS (RFC 8725 JWT BCP; RFC 7519; RFC 7515 §4.1.11 `crit`; OpenID Connect Core §2 `sub`). Each one
 * is refused with a precise, terminal-safe message and one `auth.fail` record, and no identity is returned.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as jose from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identitySection } from '../../../src/config/sections/identity.js';
import { resolveIdentity } from '../../../src/identity/resolve.js';
import type { TokenValidator } from '../../../src/identity/validate.js';
import { memoryAudit } from '../../harness/memory-audit.js';
import { AUDIENCE, startOidcProvider } from '../../harness/oidc.js';
import type { OidcHarness } from '../../harness/oidc.js';
import { fixedClock, testCtx } from '../../harness/test-ctx.js';

let h: OidcHarness;
beforeAll(async () => { h = await startOidcProvider(); });
afterAll(async () => { await h?.close(); });

const now = () => Math.floor(Date.now() / 1000);
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const claims = (over: Record<string, unknown> = {}) => ({ iss: h.issuer, aud: AUDIENCE, sub: 'repo:org/payments:ref:refs/heads/main', repository: 'org/payments', iat: now(), exp: now() + 300, jti: randomUUID(), ...over });
const ESC = '\u001b[2J\u001b[31mOK\u001b[0m\r';
const PAN = '4111111111111111';

/** A ctx that counts requests (discovery and JWKS) and a resolver as `pcigate exec` builds one. */
function broker() {
  const fetched: string[] = [];
  const ctx = testCtx({ clock: fixedClock(Date.now()), fetch: (input, init) => { fetched.push(String(input)); return fetch(input, init); } });
  const audit = memoryAudit();
  const cache = new Map<string, TokenValidator>();
  const config = { identity: identitySection.parse({}) };
  const conn = { workload: [{ issuer: h.issuer, claims: { repository: 'org/payments' } }] };
  const resolve = (workloadToken: string) => resolveIdentity(ctx, config, { connection: 'prod-db', conn, home: mkdtempSync(path.join(os.tmpdir(), 'pcigate-hostile-tokens-')), audit, cache, workloadToken });
  return { ctx, audit, fetched, resolve };
}

async function refusal(resolve: (t: string) => Promise<unknown>, token: string): Promise<{ reason: string; message: string }> {
  try {
    await resolve(token);
  } catch (e) {
    expect((e as { code?: string }).code).toBe('ERR_TOKEN_REFUSED');
    return { reason: (e as { reason: string }).reason, message: (e as Error).message };
  }
  throw new Error('the token was accepted');
}

describe('hostile workload tokens', () => {
  it('each is refused with its reason and a message that says why, recorded once as auth.fail', async () => {
    const { privateKey } = await jose.generateKeyPair('RS256');
    const cases: Array<[string, () => Promise<string>, string, RegExp]> = [
      ['alg none', async () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.`, 'algorithm', /signed with none, which is not allowed/],
      ['HS256 with the public key as the secret', () => new jose.SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: 'test-rs256' }).sign(new TextEncoder().encode(h.publicKeyPem)), 'algorithm', /signed with HS256/],
      ['an alg that repaints the terminal', async () => `${b64({ alg: `RS256${ESC}` })}.${b64(claims())}.c2ln`, 'algorithm', /signed with RS256\\u001b\[2J/],
      ['another audience of the same provider', () => h.sign(claims({ aud: 'billing-api' }), { typ: 'JWT' }), 'audience', /not meant for pcigate/],
      ['a wrong issuer', () => h.sign(claims({ iss: `https://evil.example/${ESC}` }), { typ: 'JWT' }), 'untrusted_issuer', /from https:\/\/evil\.example\/\\u001b\[2J.* are not trusted/],
      ['an issuer carrying a card number', () => h.sign(claims({ iss: `https://${PAN}.example` }), { typ: 'JWT' }), 'untrusted_issuer', /\*{12}1111\.example are not trusted/],
      ['expired beyond the skew', () => h.sign(claims({ iat: now() - 900, exp: now() - 120 })), 'expired', /has expired/],
      ['not valid before a time beyond the skew', () => h.sign(claims({ nbf: now() + 600 })), 'not_yet_valid', /not valid yet/],
      ['issued a year in the future', () => h.sign(claims({ iat: now() + 365 * 86_400, exp: now() + 365 * 86_400 + 300 })), 'not_yet_valid', /iat \(\d+\) is in the future, beyond the 60 s clock skew/],
      ['an iat that is not a number', () => h.sign(claims({ iat: 'yesterday' })), 'claims', /iat/],
      ['no exp', () => h.sign({ iss: h.issuer, aud: AUDIENCE, sub: 'x', repository: 'org/payments' }), 'claims', /exp claim is invalid: missing/],
      ['a kid the provider does not have', () => new jose.SignJWT(claims()).setProtectedHeader({ alg: 'RS256', kid: 'rogue' }).sign(privateKey), 'unknown_key', /no signing key of .* matches/],
      ['a crit header', async () => `${b64({ alg: 'RS256', kid: 'test-rs256', crit: ['exp-ext'], 'exp-ext': 1 })}.${b64(claims())}.c2ln`, 'malformed', /critical header parameters pcigate does not understand \(crit \["exp-ext"\]\)/],
      ['a typ of another kind of JWT', () => h.sign(claims(), { typ: 'logout+jwt' }), 'typ', /type 'logout\+jwt' is not an access token/],
      ['a 100 KB payload', () => h.sign(claims({ pad: 'x'.repeat(100_000) })), 'malformed', /is \d+ characters long, more than the 65536 pcigate accepts/],
      ['an empty sub', () => h.sign(claims({ sub: '' })), 'claims', /sub must be a non-empty string/],
      ['a sub that is an object', () => h.sign(claims({ sub: { id: 1 } })), 'claims', /sub must be a non-empty string/],
      ['a sub with terminal escapes', () => h.sign(claims({ sub: `ci${ESC}` })), 'claims', /sub holds control, bidirectional-override, zero-width or line-separator characters/],
      ['a sub with a bidi override', () => h.sign(claims({ sub: 'ci\u202emoc.live' })), 'claims', /sub holds control/],
      ['a 10 000-character sub', () => h.sign(claims({ sub: 'a'.repeat(10_000) })), 'claims', /sub is 10000 characters long, more than 255/],
      ['a sub that looks like a card number', () => h.sign(claims({ sub: PAN })), 'claims', /sub holds what looks like a card number/],
      ['an email with a card number', () => h.sign(claims({ email: `${PAN}@example.test` })), 'claims', /email holds what looks like a card number/],
      ['5000 groups', () => h.sign(claims({ groups: Array.from({ length: 5000 }, (_, i) => `g${i}`) })), 'claims', /5000 groups, more than 1000/],
      ['a group with a newline', () => h.sign(claims({ groups: ['dev', 'admins\nroot'] })), 'claims', /group \(groups\) holds control/],
    ];
    const { resolve, audit, fetched } = broker();
    for (const [name, make, reason, message] of cases) {
      const token = await make();
      const before = audit.events.length;
      const got = await refusal(resolve, token);
      expect({ name, ...got }).toMatchObject({ name, reason, message: expect.stringMatching(message) });
      // Terminal-safe and PAN-free whatever the token held.
      expect(got.message, name).not.toMatch(/[\u0000-\u001f\u007f\u202e]/);
      expect(got.message, name).not.toContain(PAN);
      expect(got.message.length, name).toBeLessThan(400);
      expect(audit.events.slice(before), name).toEqual([expect.objectContaining({ type: 'auth.fail', outcome: 'denied', target: { conn: 'prod-db' }, detail: { reason, via: 'workload' } })]);
    }
    const recorded = JSON.stringify(audit.events);
    expect(recorded).not.toContain(PAN);
    expect(recorded).not.toContain('\\u001b');
    expect(audit.events.every((e) => e.outcome === 'denied')).toBe(true);
    // One discovery and one JWKS, plus one re-fetch for the rogue kid: a flood of bad tokens costs the provider nothing more.
    expect(fetched.filter((u) => u.endsWith('/.well-known/openid-configuration'))).toHaveLength(1);
    expect(fetched.filter((u) => !u.endsWith('/.well-known/openid-configuration')).length).toBeLessThanOrEqual(2);
    // The control: a genuine token is accepted by the same resolver.
    expect(await resolve(await h.sign(claims(), { typ: 'JWT' }))).toMatchObject({ via: 'workload', sub: 'repo:org/payments:ref:refs/heads/main' });
  });

});
