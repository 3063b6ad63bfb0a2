/** Claims → Identity mapping, MFA from amr (RFC 8176), and workload claim-rule matching (pure logic). */
import { describe, expect, it } from 'vitest';
import { claimAt, claimsToIdentity, hasMfa, identityClaimProblem } from '../../../src/identity/claims.js';
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

  it('refuses a claim holding a zero-width character, a word joiner, the BOM or a line separator', () => {
    const m = { groupsClaim: 'groups' };
    expect(identityClaimProblem({ sub: 'alice' }, m)).toBeUndefined();
    for (const ch of ['\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u2028', '\u2029']) {
      expect(identityClaimProblem({ sub: `ali${ch}ce` }, m), `U+${ch.charCodeAt(0).toString(16)}`).toMatch(/sub holds control/);
      expect(identityClaimProblem({ sub: 'alice', email: `a${ch}@x.example` }, m)).toMatch(/email holds control/);
      expect(identityClaimProblem({ sub: 'alice', groups: [`admins${ch}`] }, m)).toMatch(/group \(groups\) holds control/);
    }
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

describe('max_session', () => {
  it('gives the deadline from identity.max_session and the time left', async () => {
    const { sessionDeadline, sessionTimeLeft, maxSessionMessage } = await import('../../../src/identity/resolve.js');
    const { identitySection } = await import('../../../src/config/sections/identity.js');
    expect(sessionDeadline({ identity: identitySection.parse({ max_session: '2h' }) }, 1000)).toBe(1000 + 7_200_000);
    expect(sessionDeadline({}, 0)).toBe(43_200_000);
    expect(sessionTimeLeft(0, 7_200_001, 7_200_000)).toBeLessThan(0);
    expect(maxSessionMessage(7_200_000)).toMatch(/max_session \(120 min\)/);
  });

  it('the config refuses none and HMAC algorithms', async () => {
    const { identitySection } = await import('../../../src/config/sections/identity.js');
    expect(identitySection.safeParse({ algorithms: ['RS256', 'HS256'] }).success).toBe(false);
    expect(identitySection.safeParse({ algorithms: ['none'] }).success).toBe(false);
    expect(identitySection.safeParse({ algorithms: ['ES256'] }).success).toBe(true);
  });
});
