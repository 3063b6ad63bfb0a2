/**
 * A person's login session: `pcigate login` (RFC 8628 device flow → validated access token → token store),
 * the current identity with transparent refresh (RFC 6749 §6; rotated refresh tokens are saved at once,
 * because the old one is now dead), and `pcigate logout` (RFC 7009 revocation, then deletion).
 */
import * as client from 'openid-client';
import type { AuditSink } from '../../recorder/types.js';
import type { Ctx } from '../cli/ctx.js';
import { LoginFailed, LoginRequired, PcigateError, TokenRefused } from '../errors.js';
import { actorOf, localActor, record } from './audit.js';
import { identityClaimProblem } from './claims.js';
import { untrustedText } from './untrusted-text.js';
import { describe, oauthErrorCode, runDeviceFlow } from './device-flow.js';
import type { DeviceFlowEvent, DevicePrompt, TokenResponse } from './device-flow.js';
import { discoverProvider } from './provider.js';
import type { IdentitySettings } from './settings.js';
import { requireProvider, validatorOptions } from './settings.js';
import { withRefreshLock } from './refresh-lock.js';
import { fileStore } from './token-store.js';
import type { TokenStore } from './token-store.js';
import type { Identity, StoredTokens } from './types.js';
import { createValidator } from './validate.js';
import type { TokenValidator } from './validate.js';

export interface LoginOptions {
  settings: IdentitySettings;
  store: TokenStore;
  /** The data home: the new login is saved under its login lock (refresh-lock.ts). */
  home?: string;
  audit?: AuditSink;
  onPrompt(prompt: DevicePrompt): void;
  onEvent?(event: DeviceFlowEvent): void;
  signal?: AbortSignal;
}

export interface LoginResult {
  identity: Identity;
  tokens: StoredTokens;
}

function toStored(ctx: Ctx, issuer: string, clientId: string, t: TokenResponse, prev?: StoredTokens): StoredTokens {
  const now = ctx.clock.now();
  const s: StoredTokens = {
    issuer,
    clientId,
    accessToken: t.access_token,
    expiresAt: now + (t.expires_in ?? 300) * 1000,
    loggedInAt: prev?.loggedInAt ?? now,
  };
  // Rotation (RFC 9700 §4.14.2): a new refresh token replaces the old; keep the old only if none came back.
  const refresh = t.refresh_token ?? prev?.refreshToken;
  if (refresh) s.refreshToken = refresh;
  const idt = t.id_token ?? prev?.idToken;
  if (idt) s.idToken = idt;
  if (t.scope) s.scope = t.scope;
  return s;
}

/** Runs the device flow, validates the access token as the broker will, and saves the tokens. */
export async function login(ctx: Ctx, opts: LoginOptions): Promise<LoginResult> {
  const { issuer, clientId } = requireProvider(opts.settings);
  const config = await discoverProvider(ctx, { issuer, clientId });
  let t: TokenResponse;
  try {
    t = await runDeviceFlow(ctx, config, {
      scope: opts.settings.scopes.join(' '),
      ...(opts.settings.resource ? { resource: opts.settings.resource } : {}),
      verificationHosts: opts.settings.verificationHosts,
      onPrompt: opts.onPrompt,
      ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  } catch (err) {
    await record(opts.audit, {
      type: 'auth.login', outcome: 'failure', actor: localActor(ctx.user),
      detail: { idp: issuer, error: err instanceof LoginFailed ? (err.oauthError ?? err.code) : 'error' },
    });
    throw err;
  }
  const tokens = toStored(ctx, issuer, clientId, t);
  let identity: Identity;
  try {
    ({ identity } = await createValidator(ctx, validatorOptions(opts.settings, issuer)).validate(tokens.accessToken));
  } catch (err) {
    if (err instanceof TokenRefused) {
      await record(opts.audit, { type: 'auth.fail', outcome: 'failure', actor: localActor(ctx.user), detail: { idp: issuer, reason: err.reason, stage: 'login' } });
      err.hint = 'The provider issued an access token pcigate cannot accept; check identity.audience and identity.resource.';
    }
    throw err;
  }
  // openid-client has checked the ID token's iss, aud, azp and times. What it cannot know: the ID token and the
  // access token of one answer must be about the same person (a spliced answer is not), and the device flow
  // sends no nonce, so an ID token carrying one was minted for some other flow and replayed here.
  const idProblem = t.id_token ? idTokenProblem(t.claims(), identity.sub) : undefined;
  if (idProblem) {
    await record(opts.audit, { type: 'auth.login', outcome: 'failure', actor: localActor(ctx.user), detail: { idp: issuer, error: 'id_token_mismatch' } });
    throw new LoginFailed(`the identity provider's answer failed pcigate's checks: ${idProblem}`, { hint: 'Run pcigate login again; if it repeats, the answer is being altered on its way or the provider is misconfigured.' });
  }
  // Under the login lock: a pcigate renewing the previous login at this moment would otherwise save that
  // login's renewed tokens over this one, and the next command would run as the previous account.
  if (opts.home) await withRefreshLock(ctx, opts.home, () => opts.store.save(tokens));
  else await opts.store.save(tokens);
  await record(opts.audit, { type: 'auth.login', outcome: 'success', actor: actorOf(identity), detail: { idp: issuer, mfa: identity.mfa, store: opts.store.kind } });
  return { identity, tokens };
}

/** Why the ID token of a device-flow answer does not belong with its access token (for subject `sub`). */
function idTokenProblem(claims: client.IDToken | undefined, sub: string): string | undefined {
  if (!claims) return undefined;
  if (claims.sub !== sub) return `its ID token is for subject ${untrustedText(claims.sub, 60)}, its access token for ${sub}`;
  if (claims.nonce !== undefined) return 'its ID token carries a nonce, and the device flow sends none (an ID token from another login)';
  return undefined;
}

/** Loads the saved login; with an `auto` store an empty keychain also looks at the file fallback. */
export async function loadTokens(ctx: Ctx, store: TokenStore, home: string, auto: boolean): Promise<{ tokens: StoredTokens; store: TokenStore } | undefined> {
  const t = await store.load();
  if (t) return { tokens: t, store };
  if (auto && store.kind === 'keychain') {
    const f = fileStore(ctx, home);
    const ft = await f.load();
    if (ft) return { tokens: ft, store: f };
  }
  return undefined;
}

export interface CurrentOptions {
  settings: IdentitySettings;
  store: TokenStore;
  home: string;
  audit?: AuditSink;
  /** Reuse one validator (and its cached JWKS) across calls. */
  validator?: TokenValidator;
  /** How long to wait for another process's refresh (refresh-lock.ts; default REFRESH_LOCK_WAIT_MS). */
  lockWaitMs?: number;
  /** Stops waiting for that lock (a reading command's deadline). */
  signal?: AbortSignal;
  /** The caller's own loadTokens result, so the store is not read twice (each keychain read can cost a process). */
  loaded?: { tokens: StoredTokens; store: TokenStore };
}

export interface CurrentSession {
  identity: Identity;
  tokens: StoredTokens;
  refreshed: boolean;
  store: TokenStore;
  /** The validated access token's `iat` (ms): when the provider last vouched for the login (live-check.ts). */
  issuedAt?: number;
}

/**
 * The logged-in identity, refreshing the access token first when it expires within refresh_before.
 * Throws LoginRequired when there is no login or the refresh fails (recorded as `auth.refresh` failure).
 */
export async function currentSession(ctx: Ctx, opts: CurrentOptions): Promise<CurrentSession> {
  const found = opts.loaded ?? await loadTokens(ctx, opts.store, opts.home, opts.settings.tokenStore === 'auto');
  if (!found) throw new LoginRequired('not logged in', { hint: "Run 'pcigate login'." });
  let { tokens } = found;
  const { store } = found;
  let refreshed = false;
  const stale = (t: StoredTokens) => t.expiresAt - ctx.clock.now() <= opts.settings.refreshBeforeMs;
  if (stale(tokens)) {
    // Under the login lock, and from the store as it is now: another pcigate may have renewed the login since
    // we read it, and its refresh token is then the only live one (ours was rotated out; presenting it again
    // is replay, and providers revoke the grant for that).
    ({ tokens, refreshed } = await withRefreshLock(ctx, opts.home, async () => {
      const now = await store.load();
      if (!now) throw new LoginRequired('not logged in (the saved login was removed)', { hint: "Run 'pcigate login'." });
      if (now.issuer !== tokens.issuer) throw new LoginRequired(`the saved login changed to ${now.issuer} meanwhile`, { hint: 'Run the command again.' });
      if (!stale(now)) return { tokens: now, refreshed: false };
      return { tokens: await refresh(ctx, now, store, opts.audit), refreshed: true };
    }, { ...(opts.lockWaitMs !== undefined ? { waitMs: opts.lockWaitMs } : {}), ...(opts.signal ? { signal: opts.signal } : {}) }));
  }
  const validator = opts.validator ?? createValidator(ctx, validatorOptions(opts.settings, tokens.issuer));
  try {
    const { identity, claims } = await validator.validate(tokens.accessToken);
    return { identity, tokens, refreshed, store, ...(typeof claims.iat === 'number' ? { issuedAt: claims.iat * 1000 } : {}) };
  } catch (err) {
    if (err instanceof TokenRefused) {
      await record(opts.audit, { type: 'auth.fail', outcome: 'failure', actor: localActor(ctx.user), detail: { idp: tokens.issuer, reason: err.reason, stage: 'session' } });
      throw new LoginRequired(`the saved login is no longer accepted: ${err.message}`, { cause: err, hint: "Run 'pcigate login'." });
    }
    throw err;
  }
}

/**
 * Refreshes and saves at once (the provider has already invalidated the old refresh token). Callers hold the
 * login lock (currentSession does), so that no other process presents the same refresh token meanwhile.
 */
export async function refresh(ctx: Ctx, tokens: StoredTokens, store: TokenStore, audit?: AuditSink): Promise<StoredTokens> {
  if (!tokens.refreshToken) throw new LoginRequired('the login has expired and there is no refresh token', { hint: "Run 'pcigate login'." });
  let next: StoredTokens;
  let t: TokenResponse;
  try {
    const config = await discoverProvider(ctx, { issuer: tokens.issuer, clientId: tokens.clientId });
    t = await client.refreshTokenGrant(config, tokens.refreshToken);
    next = toStored(ctx, tokens.issuer, tokens.clientId, t, tokens);
  } catch (cause) {
    await record(audit, { type: 'auth.refresh', outcome: 'failure', actor: localActor(ctx.user), detail: { idp: tokens.issuer, error: cause instanceof client.ResponseBodyError ? oauthErrorCode(cause.error) : 'unreachable' } });
    throw new LoginRequired(`the login could not be renewed: ${describe(cause)}`, { cause, hint: "Run 'pcigate login'." });
  }
  // A renewal continues the same person's login (OpenID Connect Core §12.2: a refreshed ID token keeps the
  // original `iss` and `sub`; openid-client, not knowing the original, cannot check it). A token response that
  // names someone else is refused and not saved: the next command is not to run as that other person.
  const changed = (a: string | undefined, b: string | undefined, what: string) =>
    a !== undefined && b !== undefined && claimOf(a, what) !== claimOf(b, what);
  if (changed(tokens.accessToken, next.accessToken, 'sub') || changed(tokens.idToken, t.id_token, 'sub') || changed(tokens.idToken, t.id_token, 'iss')) {
    await record(audit, { type: 'auth.refresh', outcome: 'failure', actor: localActor(ctx.user), detail: { idp: tokens.issuer, error: 'subject_changed' } });
    throw new LoginRequired('the identity provider renewed the login for another subject; pcigate refused the renewed tokens', { hint: "Run 'pcigate login'." });
  }
  await store.save(next);
  return next;
}

export interface LogoutResult {
  /** Nothing was saved. */
  wasLoggedIn: boolean;
  /** Tokens the provider confirmed revoked (RFC 7009 §2.2: 200 also for already-invalid tokens). */
  revoked: Array<'refresh_token' | 'access_token'>;
  /** Why revocation did not happen, when it did not (the local copy is deleted regardless). */
  revocationError?: string;
  /** Why the access token itself was not revoked, when the refresh token was. */
  accessTokenNote?: string;
  where: string;
}

/**
 * RFC 7009 revocation of the refresh and access tokens, then deletion from the store. With an `auto` store both
 * places are emptied: a login once kept in the 0600 file (no keychain then) and a newer one in the keychain
 * would otherwise leave the older one on disk, live and unrevoked, and `whoami` would find it after logout.
 */
export async function logout(ctx: Ctx, opts: { store: TokenStore; home: string; auto: boolean; audit?: AuditSink }): Promise<LogoutResult> {
  // Under the login lock: a process renewing the login meanwhile would otherwise save its freshly rotated
  // refresh token after we deleted the old one, and the login would be back, live and unrevoked.
  return withRefreshLock(ctx, opts.home, () => logoutLocked(ctx, opts));
}

async function logoutLocked(ctx: Ctx, opts: { store: TokenStore; home: string; auto: boolean; audit?: AuditSink }): Promise<LogoutResult> {
  const candidates = [opts.store];
  if (opts.auto && opts.store.kind === 'keychain') candidates.push(fileStore(ctx, opts.home));
  let out: LogoutResult | undefined;
  for (const store of candidates) {
    const tokens = await store.load();
    if (!tokens) continue;
    const r = await logoutOne(ctx, tokens, store, opts.audit);
    if (!out) out = r;
    else {
      out.where = `${out.where} and ${r.where}`;
      if (r.revocationError && !out.revocationError) out.revocationError = r.revocationError;
    }
  }
  return out ?? { wasLoggedIn: false, revoked: [], where: opts.store.where };
}

async function logoutOne(ctx: Ctx, tokens: StoredTokens, store: TokenStore, audit: AuditSink | undefined): Promise<LogoutResult> {
  const out: LogoutResult = { wasLoggedIn: true, revoked: [], where: store.where };
  try {
    const config = await discoverProvider(ctx, { issuer: tokens.issuer, clientId: tokens.clientId });
    if (!config.serverMetadata().revocation_endpoint) throw new PcigateError('the provider offers no revocation endpoint');
    if (tokens.refreshToken) {
      // RFC 7009 §2.1: revoking the refresh token also ends the grant's access tokens at most providers.
      await client.tokenRevocation(config, tokens.refreshToken, { token_type_hint: 'refresh_token' });
      out.revoked.push('refresh_token');
    }
    try {
      await client.tokenRevocation(config, tokens.accessToken, { token_type_hint: 'access_token' });
      out.revoked.push('access_token');
    } catch (cause) {
      // Providers may refuse to revoke self-contained JWT access tokens (unsupported_token_type, RFC 7009
      // §2.2.1); such a token simply runs out at its `exp`. Only a failure without a revoked refresh token counts.
      if (!out.revoked.includes('refresh_token')) throw cause;
      out.accessTokenNote = `the access token was not revoked (${describe(cause)}); it expires at ${new Date(tokens.expiresAt).toISOString()}`;
    }
  } catch (cause) {
    out.revocationError = describe(cause);
  }
  await store.delete();
  const sub = subjectOf(tokens.accessToken) ?? ctx.user.name;
  await record(audit, {
    type: 'auth.logout', outcome: 'success', actor: { sub, idp: tokens.issuer, via: 'oidc' },
    detail: { revoked: out.revoked, ...(out.revocationError ? { revocation_error: out.revocationError } : {}) },
  });
  return out;
}

/** A claim of a JWT, unverified, as a string ('' when absent or unreadable): only for comparing two tokens. */
export function claimOf(jwt: string, name: string): string {
  try {
    const v = (JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>)[name];
    return typeof v === 'string' ? v : JSON.stringify(v) ?? '';
  } catch {
    return '';
  }
}

/**
 * The `sub` of a JWT without verifying it (for the logout record only: the token is being thrown away), when it
 * is one the validator would have let name an actor (bounded, no control characters, no card number).
 */
function subjectOf(jwt: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub?: unknown };
    return typeof payload.sub === 'string' && identityClaimProblem({ sub: payload.sub }, { groupsClaim: 'groups' }) === undefined ? payload.sub : undefined;
  } catch {
    return undefined;
  }
}
