/**
 * The identity seam the broker calls before a session starts (PCI DSS 8.2.1 a unique identity behind every
 * access; 8.4.2 MFA into the CDE). In order: a workload token when the caller has one (CI; used once per
 * process that presents it: replay-cache.ts), else the person's saved login (refreshed when near expiry, and
 * confirmed live at the provider: live-check.ts), else the local OS account only where `identity.allow_local`
 * opts in. Then the connection's `require_mfa`. Every refusal is recorded as
 * `auth.fail` before the error is thrown; an audit write failure propagates (fail closed).
 */
import type { AuditSink } from '../../recorder/types.js';
import type { Ctx } from '../cli/ctx.js';
import type { IdentityConfig } from '../config/sections/identity.js';
import { LoginRequired, MfaRequired, TokenRefused } from '../errors.js';
import { actorOf, localActor, record } from './audit.js';
import { checkLoginLive } from './live-check.js';
import { currentSession } from './session.js';
import type { CurrentSession } from './session.js';
import { settingsFrom, validatorOptions } from './settings.js';
import type { IdentitySettings } from './settings.js';
import { openTokenStore } from './token-store.js';
import { claimWorkloadToken } from './replay-cache.js';
import type { Identity, JwtClaims } from './types.js';
import { createValidator } from './validate.js';
import type { TokenValidator } from './validate.js';
import { verifyWorkloadToken } from './workload.js';
import type { WorkloadRule } from './workload.js';

/** What the broker knows about the connection (connections.<name> in pcigate.yaml). */
export interface ConnectionIdentityRules {
  require_mfa?: boolean;
  workload?: readonly WorkloadRule[];
}

export interface ResolveIdentityOptions {
  /** Connection name, for records and messages. */
  connection: string;
  conn: ConnectionIdentityRules;
  /** The data home (file token store). */
  home: string;
  audit?: AuditSink;
  /** A CI workload token (from obtainWorkloadToken); when given, no person login is consulted. */
  workloadToken?: string;
  session?: string;
  /**
   * Validators kept across sessions so JWKS stay cached (one resolver per broker); also who claimed a workload
   * token's one use (replay-cache.ts), so the broker's later sessions may present it again.
   */
  cache?: Map<string, TokenValidator>;
}

/** Resolves and checks the identity for a session on `opts.connection`. */
export async function resolveIdentity(ctx: Ctx, config: { identity?: IdentityConfig }, opts: ResolveIdentityOptions): Promise<Identity> {
  const s = settingsFrom(config.identity);
  const target = { conn: opts.connection };
  const fail = async (reason: string, detail: Record<string, unknown> = {}) =>
    record(opts.audit, { type: 'auth.fail', outcome: 'denied', actor: localActor(ctx.user), target, detail: { reason, ...detail }, ...(opts.session ? { session: opts.session } : {}) });

  let identity: Identity;
  if (opts.workloadToken !== undefined) {
    try {
      let claims: JwtClaims;
      ({ identity, claims } = await verifyWorkloadToken(ctx, opts.workloadToken, {
        rules: opts.conn.workload ?? [],
        defaultAudience: config.identity?.workload.audience ?? s.audience,
        algorithms: s.algorithms,
        clockSkewMs: s.clockSkewMs,
        maxTokenLifetimeMs: s.maxTokenLifetimeMs,
        groupsClaim: s.groupsClaim,
        mfaAmr: s.mfaAmr,
        ...(opts.cache ? { cache: opts.cache } : {}),
      }));
      // Once valid, its one use (a second process presenting it is refused as a replay).
      await claimWorkloadToken(ctx, opts.home, claims, s.clockSkewMs, opts.cache);
    } catch (err) {
      if (err instanceof TokenRefused) await fail(err.reason, { via: 'workload' });
      throw err;
    }
  } else if (s.issuer && s.clientId) {
    identity = await personIdentity(ctx, s, opts, fail);
  } else if (config.identity?.allow_local) {
    identity = { sub: ctx.user.name, via: 'local', mfa: false };
  } else {
    await fail('no_identity');
    throw new LoginRequired('no identity: OIDC is not configured and identity.allow_local is off', {
      hint: 'Configure identity.issuer and identity.client_id and run pcigate login.',
    });
  }
  await enforceMfa(identity, opts.conn, opts.connection, fail);
  return identity;
}

async function personIdentity(ctx: Ctx, s: IdentitySettings, opts: ResolveIdentityOptions, fail: (reason: string, detail?: Record<string, unknown>) => Promise<void>): Promise<Identity> {
  const store = await openTokenStore(ctx, { kind: s.tokenStore, home: opts.home, warn: (l) => ctx.log.warn(l) });
  const key = `${s.issuer}|${s.audience}`;
  let validator = opts.cache?.get(key);
  if (!validator) {
    validator = createValidator(ctx, validatorOptions(s, s.issuer!));
    opts.cache?.set(key, validator);
  }
  let cur: CurrentSession;
  try {
    cur = await currentSession(ctx, { settings: s, store, home: opts.home, validator, ...(opts.audit ? { audit: opts.audit } : {}) });
  } catch (err) {
    if (err instanceof LoginRequired) await fail('login_required', { via: 'oidc' });
    throw err;
  }
  // Still live at the provider, not only until the token's exp (PCI DSS 8.2.5); records its own refusal.
  await checkLoginLive(ctx, cur, { settings: s, home: opts.home, ...(opts.audit ? { audit: opts.audit } : {}), ...(opts.cache ? { owner: opts.cache } : {}), fail });
  return cur.identity;
}

/** connections.<name>.require_mfa: refuse identities whose `amr` shows no second factor (PCI DSS 8.4.2). */
export async function enforceMfa(identity: Identity, conn: ConnectionIdentityRules, connection: string, fail?: (reason: string, detail?: Record<string, unknown>) => Promise<void>): Promise<void> {
  if (!conn.require_mfa || identity.mfa) return;
  await fail?.('mfa_required', { sub: identity.sub, amr: identity.amr ?? [], via: identity.via });
  throw new MfaRequired(`${connection} requires multi-factor authentication, and this login used ${identity.amr?.length ? identity.amr.join('+') : 'no recorded factor'} only`, {
    hint: 'Log in again with a second factor (pcigate logout && pcigate login).',
  });
}

/**
 * max_session (issue 5 item 4): a session whose token expires may continue until this long after it
 * started; returns the ms left (≤ 0 means the broker must close it with a clear message and a record).
 */
export function sessionTimeLeft(startedAt: number, now: number, maxSessionMs: number): number {
  return startedAt + maxSessionMs - now;
}

/** The close-by time for a session started at `startedAt`, from identity.max_session (default 12 h). */
export function sessionDeadline(config: { identity?: IdentityConfig }, startedAt: number): number {
  return startedAt + settingsFrom(config.identity).maxSessionMs;
}

/** The sentence the broker shows (and records as detail.reason) when it closes a session at max_session. */
export function maxSessionMessage(maxSessionMs: number): string {
  return `pcigate: this session reached identity.max_session (${Math.round(maxSessionMs / 60_000)} min) and was closed; run pcigate login and reconnect`;
}

export { actorOf };
