/**
 * OpenID Provider discovery through openid-client 6 (OpenID Connect Discovery 1.0 / RFC 8414), with the
 * Ctx's fetch as openid-client's `customFetch` so tests and proxies see every request. Plain http is
 * allowed only for a loopback issuer (a test provider on 127.0.0.1); anything else must be https.
 */
import * as client from 'openid-client';
import type { Ctx } from '../cli/ctx.js';
import { isLoopbackHost } from '../config/loopback.js';
import { LoginFailed, UsageError } from '../errors.js';

export interface ProviderOptions {
  issuer: string;
  clientId: string;
  /** Confidential clients only (client credentials); the device flow uses a public client. */
  clientSecret?: string;
}

/** True for http URLs whose host is a loopback address. */
export function isLoopbackHttp(url: URL): boolean {
  return url.protocol === 'http:' && isLoopbackHost(url.hostname);
}

/** Refuses an issuer that is not https (or loopback http); returns the parsed URL. */
export function checkIssuerUrl(issuer: string): URL {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch (cause) {
    throw new UsageError(`the issuer '${issuer}' is not a URL`, { cause });
  }
  if (url.protocol !== 'https:' && !isLoopbackHttp(url)) {
    throw new UsageError(`the issuer must use https (got ${url.protocol}//${url.host}); plain http is allowed only on loopback`);
  }
  return url;
}

/** Discovers the provider and returns an openid-client Configuration bound to ctx.fetch. */
export async function discoverProvider(ctx: Ctx, opts: ProviderOptions): Promise<client.Configuration> {
  const url = checkIssuerUrl(opts.issuer);
  const auth = opts.clientSecret === undefined ? client.None() : client.ClientSecretPost(opts.clientSecret);
  try {
    const config = await client.discovery(url, opts.clientId, undefined, auth, {
      [client.customFetch]: (input, init) => ctx.fetch(input, init as RequestInit),
      ...(isLoopbackHttp(url) ? { execute: [client.allowInsecureRequests] } : {}),
    });
    config[client.customFetch] = (input, init) => ctx.fetch(input, init as RequestInit);
    return config;
  } catch (cause) {
    throw new LoginFailed(`cannot read the identity provider's configuration at ${url.origin}${url.pathname.replace(/\/$/, '')}/.well-known/openid-configuration`, {
      cause,
      hint: 'Check identity.issuer (or --issuer) and that the provider is reachable.',
    });
  }
}
