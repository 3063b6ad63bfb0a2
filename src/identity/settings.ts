/**
 * IdentitySettings: the identity section plus command-line overrides, in the shape src/identity uses.
 * Commands build it with settingsFrom(config.identity, flags); the broker with settingsFrom(config.identity).
 */
import type { IdentityConfig } from '../config/sections/identity.js';
import { DEFAULT_ALGORITHMS } from '../config/sections/identity.js';
import { LoginRequired } from '../errors.js';
import type { ValidatorOptions } from './validate.js';

export interface IdentitySettings {
  issuer?: string;
  clientId?: string;
  scopes: string[];
  audience: string;
  resource?: string;
  /** identity.verification_hosts: hosts besides the issuer's that may serve the device-login page. */
  verificationHosts: string[];
  groupsClaim: string;
  mfaAmr: string[];
  algorithms: string[];
  clockSkewMs: number;
  maxTokenLifetimeMs: number;
  refreshBeforeMs: number;
  maxSessionMs: number;
  /** identity.check_live and its timeout and positive-answer cache (live-check.ts). */
  checkLive: 'refresh' | 'off';
  checkLiveTimeoutMs: number;
  checkLiveCacheMs: number;
  tokenStore: 'auto' | 'keychain' | 'file';
}

export interface SettingsOverrides {
  issuer?: string;
  clientId?: string;
  scopes?: string[];
  tokenStore?: 'auto' | 'keychain' | 'file';
}

/** Merges the config section (defaults applied by zod) with flags; flags win. */
export function settingsFrom(cfg: IdentityConfig | undefined, over: SettingsOverrides = {}): IdentitySettings {
  const s: IdentitySettings = {
    scopes: over.scopes ?? cfg?.scopes ?? ['openid', 'email', 'groups', 'offline_access'],
    audience: cfg?.audience ?? 'pcigate',
    verificationHosts: cfg?.verification_hosts ?? [],
    groupsClaim: cfg?.groups_claim ?? 'groups',
    mfaAmr: cfg?.mfa_amr ?? ['mfa', 'otp', 'hwk', 'swk', 'sms', 'fpt', 'face', 'iris', 'retina', 'pop'],
    algorithms: cfg?.algorithms ?? [...DEFAULT_ALGORITHMS],
    clockSkewMs: cfg?.clock_skew ?? 60_000,
    maxTokenLifetimeMs: cfg?.max_token_lifetime ?? 86_400_000,
    refreshBeforeMs: cfg?.refresh_before ?? 60_000,
    maxSessionMs: cfg?.max_session ?? 43_200_000,
    checkLive: cfg?.check_live ?? 'refresh',
    checkLiveTimeoutMs: cfg?.check_live_timeout ?? 5_000,
    checkLiveCacheMs: cfg?.check_live_cache ?? 5_000,
    tokenStore: over.tokenStore ?? cfg?.token_store ?? 'auto',
  };
  const issuer = over.issuer ?? cfg?.issuer;
  const clientId = over.clientId ?? cfg?.client_id;
  if (issuer) s.issuer = issuer;
  if (clientId) s.clientId = clientId;
  if (cfg?.resource) s.resource = cfg.resource;
  return s;
}

/** The issuer and client id, or a LoginRequired naming what is missing. */
export function requireProvider(s: IdentitySettings): { issuer: string; clientId: string } {
  if (!s.issuer || !s.clientId) {
    throw new LoginRequired(`no identity provider configured (${!s.issuer ? 'identity.issuer' : 'identity.client_id'} is not set)`, {
      hint: 'Set identity.issuer and identity.client_id in pcigate.yaml, or pass --issuer and --client-id.',
    });
  }
  return { issuer: s.issuer, clientId: s.clientId };
}

/** Validator options for people's access tokens from the configured issuer. */
export function validatorOptions(s: IdentitySettings, issuer: string): ValidatorOptions {
  return {
    issuer,
    audience: s.audience,
    algorithms: s.algorithms,
    clockSkewMs: s.clockSkewMs,
    maxTokenLifetimeMs: s.maxTokenLifetimeMs,
    groupsClaim: s.groupsClaim,
    mfaAmr: s.mfaAmr,
    via: 'oidc',
    ...(s.clientId ? { clientId: s.clientId } : {}),
  };
}
