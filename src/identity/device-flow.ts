/**
 * The OAuth 2.0 Device Authorization Grant (RFC 8628) through openid-client 6: initiateDeviceAuthorization
 * (§3.1–3.2), then pollDeviceAuthorizationGrant (§3.4–3.5), which waits `interval` seconds between polls and
 * adds 5 s on `slow_down`. Each poll answer is also reported to the caller (by watching the token endpoint
 * through customFetch) so the screen can say what is happening in a sentence.
 */
import * as client from 'openid-client';
import type { Ctx } from '../cli/ctx.js';
import { EXIT } from '../cli/exit-codes.js';
import { LoginFailed } from '../errors.js';
import { maskText } from '../mask/pan-masker.js';
import { isLoopbackHttp } from './provider.js';
import { untrustedText } from './untrusted-text.js';

/** What the user must see: where to go and the code to type (RFC 8628 §3.3). */
export interface DevicePrompt {
  verificationUri: string;
  /** The URI with the code embedded, when the provider offers it (§3.3.1). */
  verificationUriComplete?: string;
  userCode: string;
  /** When the device code expires (ms since the epoch, ctx clock). */
  expiresAt: number;
  interval: number;
}

export type DeviceFlowEvent =
  | { kind: 'pending' }
  | { kind: 'slow_down'; interval: number };

/** One clear sentence per RFC 8628 §3.5 answer. */
export const DEVICE_FLOW_SENTENCES = {
  pending: 'Waiting for you to approve the login in the browser…',
  slow_down: 'The identity provider asked pcigate to poll less often; waiting longer between checks.',
  access_denied: 'The login was denied in the browser: no token was issued.',
  expired_token: 'The code expired before the login was approved. Run pcigate login again for a new code.',
  interrupted: 'Login cancelled.',
} as const;

export interface DeviceFlowOptions {
  scope: string;
  /** RFC 8707 resource indicator, when the provider needs one for a JWT access token. */
  resource?: string;
  onPrompt(prompt: DevicePrompt): void;
  onEvent?(event: DeviceFlowEvent): void;
  /** Cancels the wait (Ctrl-C). */
  signal?: AbortSignal;
  /** Hosts besides the issuer's that may serve the verification page (identity.verification_hosts). */
  verificationHosts?: readonly string[];
}

/** The longest pcigate waits for a device code to be approved, whatever expires_in says (seconds). */
export const MAX_DEVICE_CODE_WAIT_S = 86_400;

/** A user code pcigate will print: printable ASCII, no control characters, at most 64 characters (RFC 8628 §6.1). */
const USER_CODE = /^[\x21-\x7e](?:[\x20-\x7e]{0,62}[\x21-\x7e])?$/;

/**
 * Checks what the provider asks the user to open and type before it is shown (RFC 8628 §5.4 remote phishing,
 * §3.3 display). The verification URI must be https (http only for a loopback issuer, on loopback), on the
 * issuer's host or one listed in identity.verification_hosts: a response that sends the user elsewhere is a
 * phishing page asking for the IdP password. Both it and the user code must be printable ASCII, so nothing
 * the provider sends can move the cursor, clear the screen or recolour the terminal. Throws LoginFailed.
 */
export function checkDevicePrompt(issuer: string, dar: { verification_uri: string; verification_uri_complete?: string; user_code: string }, allowedHosts: readonly string[] = []): void {
  const iss = new URL(issuer);
  const hint = 'The identity provider sent a login page or code pcigate will not show. If the provider really serves its device page on another host, list that host in identity.verification_hosts.';
  const fail = (why: string) => new LoginFailed(`refusing the device login: ${why}`, { hint });
  if (typeof dar.user_code !== 'string' || !USER_CODE.test(dar.user_code)) {
    throw fail(`the user code ${untrustedText(dar.user_code, 40)} is not 1–64 printable ASCII characters`);
  }
  const uris: Array<[string, unknown]> = [['verification_uri', dar.verification_uri]];
  if (dar.verification_uri_complete !== undefined) uris.push(['verification_uri_complete', dar.verification_uri_complete]);
  for (const [name, raw] of uris) {
    // RFC 3986 URIs are printable ASCII; anything else would be printed as sent.
    if (typeof raw !== 'string' || !/^[\x21-\x7e]{1,2048}$/.test(raw)) throw fail(`the ${name} ${untrustedText(raw)} is not a printable URL`);
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      throw fail(`the ${name} ${untrustedText(raw)} is not a URL`);
    }
    if (u.protocol !== 'https:' && !(isLoopbackHttp(u) && isLoopbackHttp(iss))) {
      throw fail(`the ${name} ${untrustedText(raw)} does not use https`);
    }
    if (u.username || u.password) throw fail(`the ${name} ${untrustedText(raw)} carries credentials`);
    const host = u.hostname.toLowerCase();
    if (host !== iss.hostname.toLowerCase() && !allowedHosts.some((h) => h.toLowerCase() === host)) {
      throw fail(`the ${name} is on ${untrustedText(host)}, not on the issuer's host ${iss.hostname}`);
    }
  }
}

export type TokenResponse = client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;

/** Runs the device flow to the end; throws LoginFailed with one of DEVICE_FLOW_SENTENCES on failure. */
export async function runDeviceFlow(ctx: Ctx, config: client.Configuration, opts: DeviceFlowOptions): Promise<TokenResponse> {
  const params: Record<string, string> = { scope: opts.scope };
  if (opts.resource) params.resource = opts.resource;
  let dar: client.DeviceAuthorizationResponse;
  try {
    dar = await client.initiateDeviceAuthorization(config, params);
  } catch (cause) {
    throw new LoginFailed(`the identity provider refused the device authorization request: ${describe(cause)}`, { cause });
  }
  // Nothing is shown and the device code is never polled: it simply expires at the provider.
  checkDevicePrompt(config.serverMetadata().issuer, dar, opts.verificationHosts);
  let interval = dar.interval ?? 5;
  // A code lives minutes (RFC 8628 §3.2 example: 1800 s). Waiting is bounded by a day: a timer longer than
  // 2^31-1 ms fires at once in Node, so a provider's huge expires_in would otherwise end the login immediately.
  const expiresInS = Math.min(dar.expires_in, MAX_DEVICE_CODE_WAIT_S);
  opts.onPrompt({
    verificationUri: dar.verification_uri,
    ...(dar.verification_uri_complete ? { verificationUriComplete: dar.verification_uri_complete } : {}),
    userCode: dar.user_code,
    expiresAt: ctx.clock.now() + expiresInS * 1000,
    interval,
  });

  // Watch the poll answers without consuming them: openid-client reads the original response.
  const tokenEndpoint = config.serverMetadata().token_endpoint;
  const previous = config[client.customFetch];
  config[client.customFetch] = async (input, init) => {
    const res = previous ? await previous(input, init) : await ctx.fetch(input, init as RequestInit);
    if (String(input) === tokenEndpoint && res.status === 400) {
      const body = (await res.clone().json().catch(() => ({}))) as { error?: string };
      if (body.error === 'authorization_pending') opts.onEvent?.({ kind: 'pending' });
      if (body.error === 'slow_down') { interval += 5; opts.onEvent?.({ kind: 'slow_down', interval }); }
    }
    return res;
  };
  const expiry = AbortSignal.timeout(expiresInS * 1000);
  const signal = opts.signal ? AbortSignal.any([opts.signal, expiry]) : expiry;
  try {
    return await client.pollDeviceAuthorizationGrant(config, dar, params.resource ? { resource: params.resource } : undefined, { signal });
  } catch (cause) {
    if (opts.signal?.aborted) {
      const e = new LoginFailed(DEVICE_FLOW_SENTENCES.interrupted, { cause });
      e.exit = EXIT.interrupted;
      throw e;
    }
    const code = cause instanceof client.ResponseBodyError ? oauthErrorCode(cause.error) : expiry.aborted ? 'expired_token' : undefined;
    if (code === 'access_denied' || code === 'expired_token') {
      const e = new LoginFailed(DEVICE_FLOW_SENTENCES[code], { cause });
      e.oauthError = code;
      throw e;
    }
    // A ClientError is openid-client's own check of the answer failing (an ID token for another issuer or
    // client, or out of date): the provider did not refuse anything, its answer was refused.
    const e = cause instanceof client.ClientError
      ? new LoginFailed(`the identity provider's answer failed pcigate's checks: ${describe(cause)}`, { cause })
      : new LoginFailed(`the identity provider refused the login: ${describe(cause)}`, { cause });
    if (code) e.oauthError = code;
    throw e;
  } finally {
    if (previous) config[client.customFetch] = previous;
  }
}

/**
 * An OAuth `error` code fit for an audit record: RFC 6749 §5.2 allows printable ASCII without `"` and `\`; a
 * code is a short word (`invalid_grant`). Anything else the provider (or whoever answers for it) sends becomes
 * `invalid_error_code`, so its text, a card number or a megabyte of it never reaches the log.
 */
export function oauthErrorCode(error: unknown): string {
  return typeof error === 'string' && /^[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}$/.test(error) && maskText(error) === error ? error : 'invalid_error_code';
}

/**
 * The provider's own words for an OAuth error, never a token. They are the provider's (or whoever answered in
 * its place): escaped, PAN-masked and cut before they reach a terminal (untrusted-text.ts).
 */
export function describe(err: unknown): string {
  if (err instanceof client.ResponseBodyError) {
    return untrustedText(err.error_description ? `${err.error}: ${err.error_description}` : err.error, 300);
  }
  // openid-client's ClientError says what failed in general and keeps the particular (which claim) in its cause.
  if (err instanceof client.ClientError && err.cause instanceof Error && err.cause.message !== err.message) {
    return untrustedText(`${err.message} (${err.cause.message})`, 300);
  }
  if (err instanceof Error) return untrustedText(err.message, 300);
  return untrustedText(String(err), 300);
}
