/**
 * The saved login's identity for the commands that read the audit trail (`verify`, `sessions`, `replay`,
 * `evidence`). PCI DSS 10.2.1.3 / 10.2.2 want the individual behind access to the audit logs, so their records
 * name the logged-in person when there is one. But an assessor without a login, or offline, must still be able
 * to verify and read the log: this never starts the device flow, never throws, writes no `auth.*` record and
 * gives the provider a few seconds at most, and the OS keychain a few seconds per read (keychain-read.ts). The
 * answer is an Identity, or why there is none.
 */
import { beforeDeadline, withDeadline, type Ctx } from '../cli/ctx.js';
import type { IdentityConfig } from '../config/sections/identity.js';
import { LoginRequired, TokenRefused } from '../errors.js';
import { boundedKeychainRead, KEYCHAIN_READ_TIMEOUT_MS } from './keychain-read.js';
import { currentSession, loadTokens } from './session.js';
import { settingsFrom, validatorOptions } from './settings.js';
import { openTokenStore } from './token-store.js';
import type { Identity } from './types.js';
import { createValidator } from './validate.js';

/** How long the provider may take, in total, for a refresh and the JWKS (a reading command must not hang). */
export const STORED_LOGIN_TIMEOUT_MS = 5_000;

export interface StoredLoginOptions {
  /** The provider's time, in all (default STORED_LOGIN_TIMEOUT_MS). */
  timeoutMs?: number;
  /** Each keychain read's time (default KEYCHAIN_READ_TIMEOUT_MS). */
  keychainTimeoutMs?: number;
  /** The keychain reader's command (keychain-read.ts BoundedReadOptions.command); for tests. */
  keychainCommand?: readonly string[];
}

export type StoredLogin =
  | { identity: Identity }
  | {
    identity: undefined;
    /**
     * `not_configured`: no identity.issuer / client_id; `not_logged_in`: nothing saved; `other_issuer`: the
     * saved login is for another provider; `unusable`: it could not be validated or renewed (expired without a
     * refresh token, refresh refused, provider unreachable, unreadable store, a keychain that did not answer
     * within KEYCHAIN_READ_TIMEOUT_MS, another process renewing the login for longer than the deadline).
     */
    reason: 'not_configured' | 'not_logged_in' | 'other_issuer' | 'unusable';
    /** One line for the user (never a token). */
    message?: string;
  };

/**
 * The identity of the login saved for the configured issuer (refreshed without a browser when its access token
 * has expired, the rotated refresh token saved at once), validated as the broker validates it.
 */
export async function storedLoginIdentity(ctx: Ctx, config: { identity?: IdentityConfig | undefined }, home: string, opts: StoredLoginOptions = {}): Promise<StoredLogin> {
  const { timeoutMs = STORED_LOGIN_TIMEOUT_MS, keychainTimeoutMs = KEYCHAIN_READ_TIMEOUT_MS } = opts;
  const s = settingsFrom(config.identity);
  if (!s.issuer || !s.clientId) return { identity: undefined, reason: 'not_configured' };
  const deadline = AbortSignal.timeout(timeoutMs);
  // A refresh grant sent before the deadline runs on and saves its rotated token (withDeadline); the command does
  // not wait for it.
  const bounded = withDeadline(ctx, deadline, { postsRunOn: true });
  try {
    // Each keychain read gets a few seconds too: a locked keychain may be waiting on a prompt nobody answers.
    const keychainRead = boundedKeychainRead({ env: ctx.env, timeoutMs: Math.min(keychainTimeoutMs, timeoutMs), ...(opts.keychainCommand ? { command: opts.keychainCommand } : {}) });
    const store = await openTokenStore(bounded, { kind: s.tokenStore, home, warn: (l) => ctx.log.debug(l), keychainRead });
    const found = await loadTokens(bounded, store, home, s.tokenStore === 'auto');
    if (!found) return { identity: undefined, reason: 'not_logged_in' };
    if (found.tokens.issuer !== s.issuer) {
      return { identity: undefined, reason: 'other_issuer', message: `the saved login is for ${found.tokens.issuer}, not identity.issuer ${s.issuer}` };
    }
    // No audit sink: a refresh that fails here is no access attempt, and the caller's record says `via: local`.
    // Another process renewing this login is waited for within the same deadline (refresh-lock.ts).
    const cur = await beforeDeadline(currentSession(bounded, {
      settings: s, store: found.store, home, loaded: found, validator: createValidator(bounded, validatorOptions(s, s.issuer)), lockWaitMs: timeoutMs, signal: deadline,
    }), deadline, () => new LoginRequired(`the identity provider did not answer within ${timeoutMs / 1000} s`));
    return { identity: cur.identity };
  } catch (err) {
    return { identity: undefined, reason: 'unusable', message: failureLine(err) };
  }
}

/** Why the login was not usable; an unreachable JWKS is the provider being out of reach, not a refused login. */
function failureLine(err: unknown): string {
  const cause = err instanceof LoginRequired && err.cause instanceof TokenRefused ? err.cause : err;
  if (cause instanceof TokenRefused && cause.reason === 'jwks') return cause.message;
  return err instanceof Error ? err.message : String(err);
}
