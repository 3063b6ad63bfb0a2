/** Claims → Identity mapping, MFA from amr (RFC 8176), and workload claim-rule matching (pure logic). */
import { describe, expect, it } from 'vitest';
import { claimAt, claimsToIdentity, hasMfa } from '../../../src/identity/claims.js';
import { claimMatches, failedClaims } from '../../../src/identity/workload.js';

describe('claims', () => {
  it('reads dotted paths and keys that contain dots or colons', () => {
    expect(claimAt({ realm_access: { roles: ['a'] } }, 'realm_access.roles')).toEqual(['a']);
    expect(claimAt({ 'cognito:groups': ['g'] }, 'cognito:groups')).toEqual(['g']);
    expect(claimAt({ 'https://ex.com/groups': ['h'] }, 'https://ex.com/groups')).toEqual(['h']);
    expect(claimAt({ a: 1 }, 'a.b')).toBeUndefined();
  });

  it('maps claims to an Identity; a password alone is not MFA', () => {
    const id = claimsToIdentity({ sub: 's', iss: 'https://i', email: 'e@x', groups: ['g1', 'g2'], amr: ['pwd'], exp: 10 }, { groupsClaim: 'groups', mfaAmr: ['mfa', 'otp'], via: 'oidc' });
    expect(id).toEqual({ sub: 's', idp: 'https://i', email: 'e@x', groups: ['g1', 'g2'], amr: ['pwd'], via: 'oidc', mfa: false, expiresAt: 10_000 });
    expect(hasMfa(['pwd', 'otp'], ['mfa', 'otp'])).toBe(true);
    expect(hasMfa(['mfa'], ['mfa'])).toBe(true);
    expect(hasMfa(undefined, ['mfa'])).toBe(false);
    expect(claimsToIdentity({ sub: 's', groups: 'a b' }, { groupsClaim: 'groups', mfaAmr: [], via: 'oidc' }).groups).toEqual(['a', 'b']);
  });

  it('matches claim rules exactly, by list, and by glob — never by substring', () => {
    expect(claimMatches('org/payments', 'org/payments')).toBe(true);
    expect(claimMatches('org/payments-fork', 'org/payments')).toBe(false);
    expect(claimMatches('refs/tags/v1.0', ['refs/heads/main', 'refs/tags/v*'])).toBe(true);
    expect(claimMatches('xrefs/tags/v1', 'refs/tags/v*')).toBe(false);
    expect(claimMatches('a.b', 'a*b')).toBe(true);
    expect(claimMatches('aXb', 'a.b')).toBe(false);
    expect(claimMatches(undefined, '*')).toBe(false);
    expect(claimMatches({ x: 1 }, '*')).toBe(false);
    expect(claimMatches(true, 'true')).toBe(true);
    expect(failedClaims({ repository: 'org/p', ref: 'refs/heads/dev' }, { issuer: 'i', claims: { repository: 'org/p', ref: 'refs/heads/main' } })).toEqual(['ref']);
  });
});
