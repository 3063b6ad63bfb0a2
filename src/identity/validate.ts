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
import { claimsToIdentity, identityClaimProblem } from './claims.js';
import { checkIssuerUrl, isLoopbackHttp } from './provider.js';
import type { Identity, JwtClaims } from './types.js';
import { untrustedText } from './untrusted-text.js';

/** `typ` header values accepted when present (RFC 9068 §2.1, and plain JWT for CI id_tokens). */
export const ACCEPTED_TYP = ['at+jwt', 'application/at+jwt', 'jwt', 'application/jwt'] as const;

/**
 * The longest token looked at (characters of the compact JWS). Access and CI tokens are a few KB, a few tens
 * with many groups; anything larger is refused before it is decoded, parsed or sent to a key lookup.
 */
export const MAX_TOKEN_LENGTH = 65_536;

export interface ValidatorOptions {
  issuer: string;
  audience: string;
  /** The JWKS location; discovered from the issuer's metadata when absent. */
  jwksUri?: string;
  algorithms: readonly string[];
  clockSkewMs: number;
  /** identity.max_token_lifetime: the longest `exp` − `iat` accepted (default 24 h). */
  maxTokenLifetimeMs?: number;
  groupsClaim: string;
  mfaAmr: readonly string[];
  via: Identity['via'];
  /**
   * identity.client_id, for a person's login: the client the access token must have been issued to, where the
   * token names one (ISSUED_TO_CLAIMS). Not for workload tokens, which name their own clients.
   */
  clientId?: string;
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

/**
 * Where providers name the client an access token was issued to, in the order they are read: RFC 9068 §2.2
 * `client_id` (oidc-provider, Cognito, Auth0), `azp` (Keycloak, Entra ID v2, Auth0), `cid` (Okta), `appid` (Entra ID v1).
 */
export const ISSUED_TO_CLAIMS = ['client_id', 'azp', 'cid', 'appid'] as const;

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
  const doc = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown };
  // OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
  if (doc.issuer !== issuer) throw new Error(`the metadata names issuer ${untrustedText(doc.issuer)}, expected ${issuer}`);
  if (typeof doc.jwks_uri !== 'string' || !doc.jwks_uri) throw new Error('the metadata has no jwks_uri');
  // OpenID Connect Discovery §3: jwks_uri must be https. Keys fetched in clear could be swapped by anyone on
  // the path, and then every token they sign passes. http only for a loopback issuer, on loopback (tests).
  let u: URL;
  try {
    u = new URL(doc.jwks_uri);
  } catch {
    throw new Error(`the metadata's jwks_uri ${untrustedText(doc.jwks_uri)} is not a URL`);
  }
  if (u.protocol !== 'https:' && !(isLoopbackHttp(u) && isLoopbackHttp(new URL(issuer)))) {
    throw new Error(`the metadata's jwks_uri ${untrustedText(doc.jwks_uri)} does not use https`);
  }
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
      if (token.length > MAX_TOKEN_LENGTH) {
        throw refused('malformed', `the token is ${token.length} characters long, more than the ${MAX_TOKEN_LENGTH} pcigate accepts`);
      }
      let header: jose.ProtectedHeaderParameters;
      try {
        header = jose.decodeProtectedHeader(token);
      } catch (cause) {
        throw refused('malformed', 'the token is not a signed JWT', cause);
      }
      // Header values are the sender's words: shown escaped and cut (untrusted-text.ts), never as they are.
      if (typeof header.alg !== 'string' || !algorithms.includes(header.alg)) {
        throw refused('algorithm', `the token is signed with ${untrustedText(header.alg, 20)}, which is not allowed (allowed: ${algorithms.join(', ')})`);
      }
      if (header.typ !== undefined && (typeof header.typ !== 'string' || !(ACCEPTED_TYP as readonly string[]).includes(header.typ.toLowerCase()))) {
        throw refused('typ', `the token's type '${untrustedText(header.typ, 40)}' is not an access token`);
      }
      // RFC 7515 §4.1.11: a recipient must refuse a `crit` extension it does not understand, and pcigate
      // understands none. Refused here, before any key lookup, with its own sentence.
      if (header.crit !== undefined) {
        throw refused('malformed', `the token has critical header parameters pcigate does not understand (crit ${untrustedText(header.crit, 60)})`);
      }
      let keys: Awaited<ReturnType<typeof getKeySet>>;
      try {
        keys = await getKeySet();
      } catch (cause) {
        throw refused('jwks', `cannot fetch the signing keys of ${opts.issuer}: ${(cause as Error).message}`, cause);
      }
      let claims: JwtClaims;
      try {
        const { payload } = await jose.jwtVerify(token, keys, {
          issuer: opts.issuer,
          audience: opts.audience,
          algorithms,
          clockTolerance: Math.round(opts.clockSkewMs / 1000),
          currentDate: new Date(ctx.clock.now()),
          requiredClaims: ['sub', 'exp'],
        });
        claims = payload as JwtClaims;
      } catch (cause) {
        throw mapJoseError(cause, opts);
      }
      // jose checks `iat` only with maxTokenAge: a token "issued" in the future is refused here (RFC 7519 §4.1.6).
      const skewS = Math.round(opts.clockSkewMs / 1000);
      if (claims.iat !== undefined && (typeof claims.iat !== 'number' || claims.iat > Math.floor(ctx.clock.now() / 1000) + skewS)) {
        throw refused('not_yet_valid', `the token's iat (${untrustedText(claims.iat, 30)}) is in the future, beyond the ${skewS} s clock skew`);
      }
      // A token valid for longer than identity.max_token_lifetime is a standing credential: refused. Counted
      // from `iat`, or from now when the token has none (its remaining validity alone is then too long).
      const maxS = Math.round((opts.maxTokenLifetimeMs ?? 86_400_000) / 1000);
      const from = typeof claims.iat === 'number' ? claims.iat : Math.floor(ctx.clock.now() / 1000);
      if (typeof claims.exp === 'number' && claims.exp - from > maxS + skewS) {
        throw refused('lifetime', `the token is valid for ${formatSeconds(claims.exp - from)}, longer than identity.max_token_lifetime (${formatSeconds(maxS)})`);
      }
      // A person's login is a token issued to pcigate's own client by the device flow. The provider's other clients
      // can hold tokens for the same audience (a CI job's client-credentials token, another app's), issued to no
      // person at all: such a token is not a login, or a workload would act as a person (and approve, which a
      // workload may not), outside the claim rules its connections set for workloads.
      const issuedTo = ISSUED_TO_CLAIMS.map((c) => claims[c]).find((v) => v !== undefined);
      if (opts.clientId !== undefined && issuedTo !== undefined && issuedTo !== opts.clientId) {
        throw refused('client', `the token was issued to the client ${untrustedText(issuedTo, 60)}, not to identity.client_id ${opts.clientId}: it is not a login of pcigate's`);
      }
      const mapping = { groupsClaim: opts.groupsClaim, mfaAmr: opts.mfaAmr, via: opts.via };
      const problem = identityClaimProblem(claims, mapping);
      if (problem) throw refused('claims', problem);
      return { claims, identity: claimsToIdentity(claims, mapping) };
    },
  };
}

function mapJoseError(err: unknown, opts: ValidatorOptions): TokenRefused {
  if (err instanceof jose.errors.JWTExpired) return refused('expired', 'the token has expired', err);
  if (err instanceof jose.errors.JWTClaimValidationFailed) {
    if (err.claim === 'iss') return refused('issuer', `the token was not issued by ${opts.issuer}`, err);
    if (err.claim === 'aud') return refused('audience', `the token is not meant for ${opts.audience}`, err);
    if ((err.claim === 'nbf' || err.claim === 'iat') && err.reason === 'check_failed') return refused('not_yet_valid', 'the token is not valid yet', err);
    return refused('claims', `the token's ${untrustedText(err.claim, 40)} claim is invalid: ${untrustedText(err.reason, 40)}`, err);
  }
  if (err instanceof jose.errors.JWSSignatureVerificationFailed) return refused('signature', 'the token signature does not verify', err);
  if (err instanceof jose.errors.JWKSNoMatchingKey) return refused('unknown_key', `no signing key of ${opts.issuer} matches the token`, err);
  if (err instanceof jose.errors.JOSEAlgNotAllowed) return refused('algorithm', 'the token algorithm is not allowed', err);
  return refused('malformed', `the token is invalid: ${untrustedText((err as Error).message, 120)}`, err);
}

/** A lifetime in seconds as the largest whole unit: 90000 → "25h", 600 → "10m". */
function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return 'an unbounded time';
  if (s >= 86_400 && s % 86_400 === 0) return `${s / 86_400}d`;
  if (s >= 3600) return `${Math.round(s / 360) / 10}h`;
  if (s >= 60) return `${Math.round(s / 6) / 10}m`;
  return `${s}s`;
}
