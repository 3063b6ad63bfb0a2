/**
 * Claims → Identity. The groups claim sits at a configurable dotted path because providers disagree
 * (`groups` in Okta and Dex, `realm_access.roles` in Keycloak, `cognito:groups` in Cognito); `amr` is RFC 8176.
 */
import type { Identity, JwtClaims } from './types.js';

/** Reads a dotted path (`realm_access.roles`); a key that itself contains dots is tried whole first. */
export function claimAt(claims: Record<string, unknown>, path: string): unknown {
  if (path in claims) return claims[path];
  let cur: unknown = claims;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function stringList(v: unknown): string[] | undefined {
  if (typeof v === 'string') return v === '' ? [] : v.split(/[\s,]+/).filter(Boolean);
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return undefined;
}

/** True when any `amr` value is one the configuration counts as a second factor (PCI DSS 8.4.2). */
export function hasMfa(amr: readonly string[] | undefined, mfaValues: readonly string[]): boolean {
  if (!amr) return false;
  // RFC 8176 `mfa` itself, or one of the listed factor values; `pwd` alone is one factor.
  return amr.some((v) => mfaValues.includes(v));
}

export interface ClaimMapping {
  groupsClaim: string;
  mfaAmr: readonly string[];
  via: Identity['via'];
}

/** Maps validated claims to an Identity {sub, email, groups, amr, idp, via, mfa, expiresAt}. */
export function claimsToIdentity(claims: JwtClaims, m: ClaimMapping): Identity {
  const amr = stringList(claims.amr);
  const groups = stringList(claimAt(claims, m.groupsClaim));
  const id: Identity = {
    sub: String(claims.sub),
    via: m.via,
    mfa: hasMfa(amr, m.mfaAmr),
  };
  if (typeof claims.iss === 'string') id.idp = claims.iss;
  if (typeof claims.email === 'string') id.email = claims.email;
  if (groups) id.groups = groups;
  if (amr) id.amr = amr;
  if (typeof claims.exp === 'number') id.expiresAt = claims.exp * 1000;
  return id;
}
