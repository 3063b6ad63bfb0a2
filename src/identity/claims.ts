/**
 * Claims → Identity. The groups claim sits at a configurable dotted path because providers disagree
 * (`groups` in Okta and Dex, `realm_access.roles` in Keycloak, `cognito:groups` in Cognito); `amr` is RFC 8176.
 */
import { maskText } from '../mask/pan-masker.js';
import type { Identity, JwtClaims } from './types.js';
import { hasUnsafeChars } from '../cli/printable.js';

/**
 * Bounds on the claims that become the audit record's `actor` (and policy's subject and groups). OpenID Connect
 * Core §2 caps `sub` at 255 ASCII characters; RFC 5321 an address at 254; the rest keep a record a record.
 */
export const IDENTITY_LIMITS = { sub: 255, email: 254, group: 255, groups: 1000, amrValue: 64, amr: 32 } as const;

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

/**
 * Why these claims cannot name an actor, or undefined when they can. Checked after the signature, before the
 * claims become an Identity: `sub` must be a non-empty string; `sub`, `email`, each group and each `amr` value
 * must be bounded (IDENTITY_LIMITS) and free of what printable() would escape (control characters, bidi
 * overrides, zero-width characters, line separators: they are printed and recorded); and none may hold a
 * card number. A PAN is never written to the log (PCI DSS 3.4.1, 10.3), and masking it would make two people
 * one actor, so such a token is refused. The message names the claim, never its value.
 */
export function identityClaimProblem(claims: JwtClaims, m: Pick<ClaimMapping, 'groupsClaim'>): string | undefined {
  const bad = (name: string, v: string, max: number): string | undefined => {
    if (v.length > max) return `the token's ${name} is ${v.length} characters long, more than ${max}`;
    if (hasUnsafeChars(v)) return `the token's ${name} holds control, bidirectional-override, zero-width or line-separator characters`;
    if (maskText(v) !== v) return `the token's ${name} holds what looks like a card number; pcigate will not record it`;
    return undefined;
  };
  if (typeof claims.sub !== 'string' || claims.sub === '') return 'the token has no subject: sub must be a non-empty string';
  const subProblem = bad('sub', claims.sub, IDENTITY_LIMITS.sub);
  if (subProblem) return subProblem;
  if (typeof claims.email === 'string') {
    const p = bad('email', claims.email, IDENTITY_LIMITS.email);
    if (p) return p;
  }
  const groups = stringList(claimAt(claims, m.groupsClaim)) ?? [];
  if (groups.length > IDENTITY_LIMITS.groups) return `the token carries ${groups.length} groups, more than ${IDENTITY_LIMITS.groups}`;
  for (const g of groups) {
    const p = bad(`group (${m.groupsClaim})`, g, IDENTITY_LIMITS.group);
    if (p) return p;
  }
  const amr = stringList(claims.amr) ?? [];
  if (amr.length > IDENTITY_LIMITS.amr) return `the token carries ${amr.length} amr values, more than ${IDENTITY_LIMITS.amr}`;
  for (const a of amr) {
    const p = bad('amr value', a, IDENTITY_LIMITS.amrValue);
    if (p) return p;
  }
  return undefined;
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
  // Policy roles and approvers are matched by email as well as by sub, so an address the provider itself says
  // it has not verified (OpenID Connect Core §5.1 email_verified; Cognito sends it as a string) names nobody:
  // anyone could have typed it. Absent email_verified is taken as the provider's word, as before.
  if (typeof claims.email === 'string' && claims.email_verified !== false && claims.email_verified !== 'false') id.email = claims.email;
  if (groups) id.groups = groups;
  if (amr) id.amr = amr;
  if (typeof claims.exp === 'number') id.expiresAt = claims.exp * 1000;
  return id;
}
