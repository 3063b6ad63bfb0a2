/**
 * Is a person's login still live at the identity provider? (PCI DSS 8.2.5: a terminated user's access is revoked
 * at once; 8.2.6.) An access token validated locally (validate.ts) stays good until its `exp`, whatever the
 * provider has decided since: an ended grant, a disabled account. So when a session starts (each session of a
 * `pcigate connect` listener, `pcigate exec`, `approve` and `deny`; not each statement), the broker asks the
 * provider by renewing the login with its refresh token (RFC 6749 §6), which the provider refuses with
 * `invalid_grant` once the grant is revoked or the user disabled.
 *
 * Why a refresh and not RFC 7662 introspection: introspection needs the provider to offer it to pcigate's public
 * device-flow client and to introspect the token pcigate holds. oidc-provider refuses to introspect JWT access
 * tokens at all (`unsupported_token_type`), Entra ID, Auth0 and Google offer no introspection endpoint, Keycloak
 * only to confidential clients. Every provider that issues a refresh token answers a refresh, and pcigate asks for
 * one (`offline_access`). The renewal runs under the login lock (refresh-lock.ts) and saves the rotated refresh
 * token at once, as every renewal does; a renewal another process made since this one read the login is taken
 * as the provider's answer (it was given moments ago).
 *
 * Fail closed: a refusal is `login_revoked`; no answer within identity.check_live_timeout, a login without a
 * refresh token or any other failure is `liveness_unknown`. Both refuse the session with `auth.fail`.
 * A positive answer is reused for identity.check_live_cache (default 5 s) by the same broker for the same login,
 * and sessions arriving while a check is under way wait for that one check: 50 sessions at once, one call.
 */
import * as client from 'openid-client';
import type { AuditSink } from '../../recorder/types.js';
import { beforeDeadline, withDeadline, type Ctx } from '../cli/ctx.js';
import { LoginRequired, TokenStoreError } from '../errors.js';
import { describe, oauthErrorCode } from './device-flow.js';
import { withRefreshLock } from './refresh-lock.js';
import type { CurrentSession } from './session.js';
import { claimOf, refresh } from './session.js';
import type { IdentitySettings } from './settings.js';

/** `detail.reason` of the `auth.fail` record of a session refused by the check. */
export const LIVE_CHECK_REASONS = { revoked: 'login_revoked', unknown: 'liveness_unknown' } as const;

type Verdict =
  | { live: true }
  | { live: false; reason: (typeof LIVE_CHECK_REASONS)[keyof typeof LIVE_CHECK_REASONS]; error: string; message: string; cause?: unknown; hint?: string };

interface Answer {
  /** A positive answer holds until then (ctx.clock ms). */
  until: number;
  /** The check under way, which later sessions of the same login join. */
  pending?: Promise<Verdict>;
}

/**
 * Answers per broker: keyed by the resolver cache object its sessionActor keeps (resolve.ts `cache`), so one
 * process's brokers, and tests, never share answers; a caller without one (approve, deny) asks every time.
 */
const answersOf = new WeakMap<object, Map<string, Answer>>();

export interface LiveCheckOptions {
  settings: IdentitySettings;
  /** The data home, whose login lock the renewal holds. */
  home: string;
  audit?: AuditSink;
  /** The broker's resolver cache (the owner of cached answers). */
  owner?: object;
  /** Records the refusal (`auth.fail` with the connection and session) before it is thrown. */
  fail(reason: string, detail?: Record<string, unknown>): Promise<void>;
}

/**
 * Confirms with the provider that the login behind `cur` is live, per identity.check_live; records and throws
 * LoginRequired (exit 4) when it is not or the provider cannot tell.
 */
export async function checkLoginLive(ctx: Ctx, cur: CurrentSession, o: LiveCheckOptions): Promise<void> {
  const s = o.settings;
  if (s.checkLive === 'off') return;
  const answers = o.owner ? answersOf.get(o.owner) ?? new Map<string, Answer>() : new Map<string, Answer>();
  if (o.owner) answersOf.set(o.owner, answers);
  // Who and which login, never a token: a new `pcigate login` (another loggedInAt) is asked about afresh.
  const key = `${cur.tokens.issuer}|${cur.identity.sub}|${cur.tokens.loggedInAt}`;
  let answer = answers.get(key);
  // The provider vouched for the login just now: a renewal made by currentSession for this very session, or an
  // access token it signed (`iat`, which the holder cannot alter) less than check_live_cache ago (a login or a
  // renewal moments before). That answer is as fresh as a cached one.
  const now = ctx.clock.now();
  const vouchedAt = cur.refreshed ? now : cur.issuedAt;
  if (vouchedAt !== undefined && vouchedAt <= now && now - vouchedAt <= s.checkLiveCacheMs) {
    if (!answer?.pending) answers.set(key, { until: Math.max(answer?.until ?? 0, vouchedAt + s.checkLiveCacheMs) });
    return;
  }
  if (!answer || (!answer.pending && answer.until <= now)) {
    const pending = askProvider(ctx, cur, o);
    const entry: Answer = { until: 0, pending };
    answer = entry;
    answers.set(key, entry);
    void pending.then((v) => {
      if (answers.get(key) !== entry) return;
      if (v.live) answers.set(key, { until: ctx.clock.now() + s.checkLiveCacheMs });
      else answers.delete(key);
    });
  }
  if (!answer.pending) return;
  const v = await answer.pending;
  if (v.live) return;
  await o.fail(v.reason, { via: 'oidc', sub: cur.identity.sub, error: v.error });
  throw new LoginRequired(v.message, {
    ...(v.cause !== undefined ? { cause: v.cause } : {}),
    hint: v.hint ?? (v.reason === LIVE_CHECK_REASONS.revoked
      ? "Run 'pcigate login'; if the provider refuses that too, your access has been withdrawn."
      : 'Try again when the identity provider answers; identity.check_live_timeout sets how long pcigate waits.'),
  });
}

/** One renewal under the login lock, all of it (lock wait included) within identity.check_live_timeout. */
async function askProvider(ctx: Ctx, cur: CurrentSession, o: LiveCheckOptions): Promise<Verdict> {
  const timeoutMs = o.settings.checkLiveTimeoutMs;
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), timeoutMs);
  // Every request of the renewal is cut at the deadline but the grant itself once sent: the session is refused at
  // the deadline all the same, but an answer that comes late still saves the rotated refresh token (the old one
  // is spent: presented again it reads as replay, and the provider revokes the grant).
  const bounded = withDeadline(ctx, deadline.signal, { postsRunOn: true });
  const seconds = `${Math.round(timeoutMs / 100) / 10} s`;
  const noAnswer: Verdict = {
    live: false, reason: LIVE_CHECK_REASONS.unknown, error: 'timeout',
    message: `the identity provider did not answer within ${seconds}, so pcigate could not confirm that this login is still live; the session was refused`,
  };
  // Another renewal of the login holding the lock all along (one whose session gave up on the provider, still
  // waiting for its answer; another process's) is not this check's question going unanswered: said as such.
  const busy: Verdict = {
    live: false, reason: LIVE_CHECK_REASONS.unknown, error: 'login_lock',
    message: `another renewal of this login was still under way after ${seconds}, so pcigate could not confirm that this login is still live; the session was refused`,
  };
  let locked = false;
  const late = (): Verdict => (locked ? noAnswer : busy);
  const work = withRefreshLock(bounded, o.home, () => { locked = true; return renewNow(bounded, cur, o); }, { waitMs: timeoutMs, signal: deadline.signal })
    .catch((e: unknown): Verdict => (deadline.signal.aborted ? late() : verdictOf(e)));
  try {
    // The grant left to run on, or a fetch that ignores its signal, must not hold the session.
    return await beforeDeadline(work, deadline.signal, () => new Error('timeout')).catch(late);
  } finally {
    clearTimeout(timer);
  }
}

/** Holding the login lock: the login as saved now, renewed unless another process just did. */
async function renewNow(ctx: Ctx, cur: CurrentSession, o: LiveCheckOptions): Promise<Verdict> {
  const saved = await cur.store.load();
  if (!saved || saved.issuer !== cur.tokens.issuer || saved.loggedInAt !== cur.tokens.loggedInAt) {
    return { live: false, reason: LIVE_CHECK_REASONS.unknown, error: 'login_changed', message: 'the saved login was removed or replaced while this session started; the session was refused' };
  }
  if (!saved.refreshToken) {
    return {
      live: false, reason: LIVE_CHECK_REASONS.unknown, error: 'no_refresh_token',
      message: 'the saved login has no refresh token, so pcigate cannot ask the identity provider whether it is still live (identity.check_live: refresh); the session was refused',
      hint: "Log in again with a refresh token ('offline_access' in identity.scopes), or set identity.check_live: off to trust access tokens until they expire.",
    };
  }
  // Renewed with the token saved now: under the lock that is the current one even when another process renewed the
  // login since currentSession read it (not a replay). A changed token is not taken as that renewal's answer: the
  // store is the user's to write, and the user may be the one whose access was withdrawn. The renewal must be this
  // session's person's: a store swapped for another account's login is not an answer about this one.
  const next = await refresh(ctx, saved, cur.store, o.audit);
  if (claimOf(next.accessToken, 'sub') !== claimOf(cur.tokens.accessToken, 'sub')) {
    return { live: false, reason: LIVE_CHECK_REASONS.unknown, error: 'login_changed', message: 'the saved login was replaced by another account\'s while this session started; the session was refused' };
  }
  return { live: true };
}

/** The verdict for a failed renewal: the provider's refusal of the grant, or not knowing. */
function verdictOf(e: unknown): Verdict {
  const cause = e instanceof LoginRequired && e.cause !== undefined ? e.cause : e;
  if (cause instanceof client.ResponseBodyError && cause.error === 'invalid_grant') {
    return {
      live: false, reason: LIVE_CHECK_REASONS.revoked, error: 'invalid_grant', cause: e,
      message: `the identity provider no longer accepts this login (it refused to renew it: ${describe(cause)}); the session was refused`,
    };
  }
  const error = cause instanceof client.ResponseBodyError ? oauthErrorCode(cause.error)
    : e instanceof TokenStoreError ? 'login_lock'
      : e instanceof LoginRequired ? 'not_renewed' : 'unreachable';
  return {
    live: false, reason: LIVE_CHECK_REASONS.unknown, error, cause: e,
    message: `pcigate could not confirm with the identity provider that this login is still live (${describe(cause)}); the session was refused`,
  };
}
