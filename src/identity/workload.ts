/**
 * Workload identity for CI (`pcigate exec`; PCI DSS 8.6.2: no hard-coded passwords in scripts). A job
 * proves who it is with a short-lived OIDC token from its platform, and each connection names the issuers it
 * trusts and the claims a token must carry (e.g. `repository: org/payments`, `ref: refs/heads/main`).
 *
 * Sources: a token in an environment variable (`--id-token-env`, default PCIGATE_ID_TOKEN; GitLab's
 * `id_tokens:` keyword puts tokens there), GitHub Actions' token endpoint (ACTIONS_ID_TOKEN_REQUEST_URL /
 * ACTIONS_ID_TOKEN_REQUEST_TOKEN, `audience` query parameter), or the OAuth client-credentials grant
 * (RFC 6749 §4.4) with the secret taken from a secret reference.
 */
import * as client from 'openid-client';
import type { Ctx } from '../cli/ctx.js';
import { narrowingClaims } from '../config/sections/connections.js';
import type { TokenReuse } from '../config/sections/connections.js';
import { LoginRequired, TokenRefused } from '../errors.js';
import { describe } from './device-flow.js';
import { discoverProvider } from './provider.js';
import { withReuse } from './replay-cache.js';
import type { Identity, JwtClaims } from './types.js';
import { untrustedText } from './untrusted-text.js';
import { MAX_TOKEN_LENGTH, createValidator, refused } from './validate.js';
import type { TokenValidator } from './validate.js';

export type WorkloadSource = 'auto' | 'env' | 'github' | 'gitlab' | 'client_credentials';

export interface WorkloadTokenOptions {
  source: WorkloadSource;
  /** Variable holding a ready token (`--id-token-env`). */
  tokenEnv: string;
  /** Audience asked of GitHub's endpoint. */
  audience: string;
  /** For client_credentials; the secret already resolved from its reference by the caller. */
  clientCredentials?: { issuer: string; clientId: string; clientSecret: string; resource?: string };
}

/** Obtains a workload token; `auto` tries the variable, then GitHub Actions, then client credentials. */
export async function obtainWorkloadToken(ctx: Ctx, opts: WorkloadTokenOptions): Promise<{ token: string; source: Exclude<WorkloadSource, 'auto'> }> {
  const fromEnv = ctx.env[opts.tokenEnv];
  const src = opts.source;
  if (src === 'env' || src === 'gitlab' || (src === 'auto' && fromEnv)) {
    if (!fromEnv) {
      throw new LoginRequired(`no workload token: ${opts.tokenEnv} is not set`, {
        hint: src === 'gitlab'
          ? `Add to the job: id_tokens: { ${opts.tokenEnv}: { aud: ${opts.audience} } }`
          : `Set ${opts.tokenEnv} to the job's OIDC token, or choose another source.`,
      });
    }
    return { token: fromEnv.trim(), source: src === 'gitlab' ? 'gitlab' : 'env' };
  }
  if (src === 'github' || (src === 'auto' && ctx.env.ACTIONS_ID_TOKEN_REQUEST_URL)) return { token: await githubToken(ctx, opts.audience), source: 'github' };
  if (src === 'client_credentials' || (src === 'auto' && opts.clientCredentials)) {
    if (!opts.clientCredentials) throw new LoginRequired('client credentials are not configured (identity.workload.client_id and client_secret)');
    return { token: await clientCredentialsToken(ctx, opts.clientCredentials), source: 'client_credentials' };
  }
  throw new LoginRequired('no workload identity found for this job', {
    hint: `Set ${opts.tokenEnv}, grant the job 'id-token: write' on GitHub Actions, or configure identity.workload client credentials.`,
  });
}

/** The most of a token endpoint's answer read (the token in it is refused above 64 KiB anyway). */
const MAX_TOKEN_RESPONSE = 256 * 1024;

/** The body as text, or undefined once it passes `max` bytes (the rest is not read: the stream is cancelled). */
async function boundedText(res: Response, max: number): Promise<string | undefined> {
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** How long GitHub's token endpoint may take to answer, body included: a stalled runner fails the job, not hangs it. */
export const GITHUB_TOKEN_TIMEOUT_MS = 10_000;

/** GitHub Actions: GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=… with the request token as bearer → {value}. */
export async function githubToken(ctx: Ctx, audience: string, timeoutMs = GITHUB_TOKEN_TIMEOUT_MS): Promise<string> {
  const url = ctx.env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const bearer = ctx.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  if (!url || !bearer) {
    throw new LoginRequired('GitHub Actions OIDC is not available (ACTIONS_ID_TOKEN_REQUEST_URL / _TOKEN unset)', { hint: "Give the job 'permissions: id-token: write'." });
  }
  const u = new URL(url);
  u.searchParams.set('audience', audience);
  const signal = AbortSignal.timeout(timeoutMs);
  const timedOut = (cause: unknown) => new LoginRequired(`GitHub's OIDC token endpoint did not answer within ${timeoutMs / 1000} s`, { cause });
  let res: Response;
  try {
    res = await ctx.fetch(u, { headers: { authorization: `bearer ${bearer}`, accept: 'application/json' }, signal });
  } catch (cause) {
    if (signal.aborted) throw timedOut(cause);
    throw new LoginRequired(`cannot reach GitHub's OIDC token endpoint: ${(cause as Error).message}`, { cause });
  }
  if (!res.ok) throw new LoginRequired(`GitHub's OIDC token endpoint answered HTTP ${res.status}`);
  // The same signal ends a body that stalls half-way.
  const text = await boundedText(res, MAX_TOKEN_RESPONSE).catch((cause: unknown) => { throw signal.aborted ? timedOut(cause) : cause; });
  if (text === undefined) throw new LoginRequired(`GitHub's OIDC token endpoint answered with more than ${MAX_TOKEN_RESPONSE / 1024} KiB; an ID token is a few KiB`);
  let body: { value?: unknown } = {};
  try { body = JSON.parse(text) as { value?: unknown }; } catch { /* no token: reported below */ }
  if (typeof body.value !== 'string' || body.value === '') throw new LoginRequired("GitHub's OIDC token endpoint returned no token");
  return body.value;
}

/** RFC 6749 §4.4 client credentials, with an RFC 8707 resource when configured. */
export async function clientCredentialsToken(ctx: Ctx, cc: NonNullable<WorkloadTokenOptions['clientCredentials']>): Promise<string> {
  const config = await discoverProvider(ctx, { issuer: cc.issuer, clientId: cc.clientId, clientSecret: cc.clientSecret });
  try {
    const t = await client.clientCredentialsGrant(config, cc.resource ? { resource: cc.resource } : undefined);
    return t.access_token;
  } catch (cause) {
    throw new LoginRequired(`the client-credentials grant failed: ${describe(cause)}`, { cause });
  }
}

/** A connection's trust rule (connections.<name>.workload[]). */
export interface WorkloadRule {
  issuer: string;
  audience?: string;
  claims: Record<string, string | string[]>;
  /** Trusts every token of `issuer`: a rule without a narrowing claim lets nothing in unless it says so. */
  any_subject?: boolean;
  /** `until_expiry` lets a token this rule accepts be used again until it expires (replay-cache.ts); default `once`. */
  reuse?: TokenReuse;
}

export interface WorkloadVerifyOptions {
  rules: readonly WorkloadRule[];
  defaultAudience: string;
  algorithms: readonly string[];
  clockSkewMs: number;
  /** identity.max_token_lifetime (default 24 h). */
  maxTokenLifetimeMs?: number;
  groupsClaim: string;
  mfaAmr: readonly string[];
  /** Validators by issuer|audience, kept across calls so each JWKS is fetched once. */
  cache?: Map<string, TokenValidator>;
}

/** A rule value matches exactly, or as a glob where `*` stands for any run of characters. */
export function claimMatches(actual: unknown, expected: string | string[]): boolean {
  if (actual === undefined || actual === null || typeof actual === 'object') return false;
  const a = String(actual);
  return (Array.isArray(expected) ? expected : [expected]).some((e) =>
    e.includes('*') ? new RegExp(`^${e.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`).test(a) : a === e);
}

/** The claims of `claims` that fail `rule`, by name (empty when the rule matches). */
export function failedClaims(claims: JwtClaims, rule: WorkloadRule): string[] {
  return Object.entries(rule.claims).filter(([k, v]) => !claimMatches(claims[k], v)).map(([k]) => k);
}

/**
 * Verifies a workload token against a connection's rules: the (unverified) `iss` picks the candidate rules;
 * an issuer no rule names is refused before any network call; the signature, `aud` and times are checked
 * with that issuer's JWKS; then at least one rule's claims must all match. Refusals are TokenRefused with
 * reason `untrusted_issuer` or `claims` (names of the failing claims in the message, never their values).
 * The claims returned are marked (replay-cache.ts withReuse) `until_expiry` only when every rule the token
 * matches says `reuse: until_expiry`, so the order of the rules never loosens single use.
 */
export async function verifyWorkloadToken(ctx: Ctx, token: string, opts: WorkloadVerifyOptions): Promise<{ identity: Identity; claims: JwtClaims }> {
  // Bounded before the unverified payload is decoded and parsed (it can come from anywhere the job reads).
  if (token.length > MAX_TOKEN_LENGTH) {
    throw refused('malformed', `the workload token is ${token.length} characters long, more than the ${MAX_TOKEN_LENGTH} pcigate accepts`);
  }
  let iss: unknown;
  try {
    iss = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')).iss;
  } catch (cause) {
    throw refused('malformed', 'the workload token is not a JWT', cause);
  }
  // A rule that narrows nothing and does not say any_subject is refused by the config (sections/connections.ts);
  // one built elsewhere is ignored here too (fail closed).
  const candidates = opts.rules.filter((r) => r.issuer === iss && (r.any_subject === true || narrowingClaims(r.claims) > 0));
  // `iss` is unverified here: the sender's words, shown escaped and cut.
  if (candidates.length === 0) throw refused('untrusted_issuer', `workload tokens from ${untrustedText(iss)} are not trusted on this connection`);
  const failures: string[] = [];
  let lastRefusal: TokenRefused | undefined;
  let matched: { identity: Identity; claims: JwtClaims; reuse: TokenReuse } | undefined;
  for (const rule of candidates) {
    // Once a matching rule says `once`, no other rule can make the token stricter.
    if (matched?.reuse === 'once') break;
    const audience = rule.audience ?? opts.defaultAudience;
    const key = `${rule.issuer}|${audience}`;
    let v = opts.cache?.get(key);
    if (!v) {
      v = createValidator(ctx, { issuer: rule.issuer, audience, algorithms: opts.algorithms, clockSkewMs: opts.clockSkewMs, ...(opts.maxTokenLifetimeMs !== undefined ? { maxTokenLifetimeMs: opts.maxTokenLifetimeMs } : {}), groupsClaim: opts.groupsClaim, mfaAmr: opts.mfaAmr, via: 'workload' });
      opts.cache?.set(key, v);
    }
    let validated: Awaited<ReturnType<TokenValidator['validate']>>;
    try {
      validated = await v.validate(token);
    } catch (err) {
      // Rules for one issuer may name different audiences: a wrong audience for this rule is not final.
      if (err instanceof TokenRefused && err.reason === 'audience' && candidates.length > 1) { lastRefusal = err; continue; }
      // A token another rule accepted: this rule could not be checked, so it may apply and its reuse is not granted.
      if (matched) { matched.reuse = 'once'; break; }
      throw err;
    }
    const { identity, claims } = validated;
    const bad = failedClaims(claims, rule);
    if (bad.length === 0) {
      matched ??= { identity, claims, reuse: 'until_expiry' };
      if (rule.reuse !== 'until_expiry') matched.reuse = 'once';
    } else {
      failures.push(bad.join(', '));
    }
  }
  if (matched) return { identity: matched.identity, claims: withReuse(matched.claims, matched.reuse) };
  if (failures.length === 0 && lastRefusal) throw lastRefusal;
  throw refused('claims', `the workload token does not satisfy this connection's rules (mismatched: ${failures.join(' / ')})`);
}
