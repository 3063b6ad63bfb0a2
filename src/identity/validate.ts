/**
 * Access-token validation for the broker (RFC 9068 JWT access tokens; RFC 8725 JWT best practices):
 * signature through the issuer's JWKS (jose remote set: cached, re-fetched when an unknown `kid` appears,
 * with a cooldown so a flood of bad tokens cannot hammer the provider), `iss`, `aud`, `exp`/`nbf` with a
 * small skew, an algorithm allowlist checked before anything else (never `none`, never HMAC — a public key
 * must never be usable as an HMAC secret), and `typ` where present.
 */
import * as jose from 'jose';
import type { Ctx } from '../cli/ctx.js';
import { TokenRefused } from '../errors.js';
import { claimsToIdentity } from './claims.js';
import { checkIssuerUrl } from './provider.js';
import type { Identity, JwtClaims } from './types.js';

/** `typ` header values accepted when present (RFC 9068 §2.1, and plain JWT for CI id_tokens). */
export const ACCEPTED_TYP = ['at+jwt', 'application/at+jwt', 'jwt', 'application/jwt'] as const;

export interface ValidatorOptions {
  issuer: string;
  audience: string;
  /** The JWKS location; discovered from the issuer's metadata when absent. */
  jwksUri?: string;
  algorithms: readonly string[];
  clockSkewMs: number;
  groupsClaim: string;
  mfaAmr: readonly string[];
  via: Identity['via'];
  /** Minimum time between JWKS re-fetches triggered by an unknown `kid` (default 30 s). */
  jwksCooldownMs?: number;
}

export interface Validated {
  identity: Identity;
  claims: JwtClaims;
}

export interface TokenValidator {
  readonly issuer: string;
  validate(token: string): Promise<Validated>;
}

/** Builds a TokenRefused with a stable reason. */
export function refused(reason: string, message: string, cause?: unknown): TokenRefused {
  const e = new TokenRefused(message, cause === undefined ? undefined : { cause });
  e.reason = reason;
  return e;
}

/** Reads the OpenID / RFC 8414 metadata document for `jwks_uri`. */
async function discoverJwksUri(ctx: Ctx, issuer: string): Promise<string> {
  const base = issuer.replace(/\/$/, '');
  const res = await ctx.fetch(`${base}/.well-known/openid-configuration`, { headers: { accept: 'application/json' } });
  if (!res.ok) throw new Error(`HTTP ${res.status} from ${base}/.well-known/openid-configuration`);
  const doc = (await res.json()) as { issuer?: string; jwks_uri?: string };
  // OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
  if (doc.issuer !== issuer) throw new Error(`the metadata names issuer ${String(doc.issuer)}, expected ${issuer}`);
  if (!doc.jwks_uri) throw new Error('the metadata has no jwks_uri');
  return doc.jwks_uri;
}

/** A validator bound to one issuer and audience; keep it for the broker's lifetime so the JWKS stays cached. */
export function createValidator(ctx: Ctx, opts: ValidatorOptions): TokenValidator {
  checkIssuerUrl(opts.issuer);
  const algorithms = opts.algorithms.filter((a) => !/^(none|HS\d+)$/i.test(a));
  let keySet: Promise<ReturnType<typeof jose.createRemoteJWKSet>> | undefined;
  const getKeySet = () => {
    keySet ??= (async () => {
      const uri = opts.jwksUri ?? (await discoverJwksUri(ctx, opts.issuer));
      return jose.createRemoteJWKSet(new URL(uri), {
        [jose.customFetch]: (url, init) => ctx.fetch(url, init as RequestInit),
        cooldownDuration: opts.jwksCooldownMs ?? 30_000,
        cacheMaxAge: 600_000,
      });
    })();
    keySet.catch(() => { keySet = undefined; });
    return keySet;
  };

  return {
    issuer: opts.issuer,
    async validate(token) {
      let header: jose.ProtectedHeaderParameters;
      try {
        header = jose.decodeProtectedHeader(token);
      } catch (cause) {
        throw refused('malformed', 'the token is not a signed JWT', cause);
      }
      if (typeof header.alg !== 'string' || !algorithms.includes(header.alg)) {
        throw refused('algorithm', `the token is signed with ${String(header.alg)}, which is not allowed (allowed: ${algorithms.join(', ')})`);
      }
      if (header.typ !== undefined && !(ACCEPTED_TYP as readonly string[]).includes(header.typ.toLowerCase())) {
        throw refused('typ', `the token's type '${header.typ}' is not an access token`);
      }
      let keys: Awaited<ReturnType<typeof getKeySet>>;
      try {
        keys = await getKeySet();
      } catch (cause) {
        throw refused('jwks', `cannot fetch the signing keys of ${opts.issuer}: ${(cause as Error).message}`, cause);
      }
      try {
        const { payload } = await jose.jwtVerify(token, keys, {
          issuer: opts.issuer,
          audience: opts.audience,
          algorithms,
          clockTolerance: Math.round(opts.clockSkewMs / 1000),
          currentDate: new Date(ctx.clock.now()),
          requiredClaims: ['sub', 'exp'],
        });
        const claims = payload as JwtClaims;
        return { claims, identity: claimsToIdentity(claims, { groupsClaim: opts.groupsClaim, mfaAmr: opts.mfaAmr, via: opts.via }) };
      } catch (cause) {
        throw mapJoseError(cause, opts);
      }
    },
  };
}

function mapJoseError(err: unknown, opts: ValidatorOptions): TokenRefused {
  if (err instanceof jose.errors.JWTExpired) return refused('expired', 'the token has expired', err);
  if (err instanceof jose.errors.JWTClaimValidationFailed) {
    if (err.claim === 'iss') return refused('issuer', `the token was not issued by ${opts.issuer}`, err);
    if (err.claim === 'aud') return refused('audience', `the token is not meant for ${opts.audience}`, err);
    if (err.claim === 'nbf' || err.claim === 'iat') return refused('not_yet_valid', 'the token is not valid yet', err);
    return refused('claims', `the token's ${err.claim} claim is invalid: ${err.reason}`, err);
  }
  if (err instanceof jose.errors.JWSSignatureVerificationFailed) return refused('signature', 'the token signature does not verify', err);
  if (err instanceof jose.errors.JWKSNoMatchingKey) return refused('unknown_key', `no signing key of ${opts.issuer} matches the token`, err);
  if (err instanceof jose.errors.JOSEAlgNotAllowed) return refused('algorithm', 'the token algorithm is not allowed', err);
  return refused('malformed', `the token is invalid: ${(err as Error).message}`, err);
}
