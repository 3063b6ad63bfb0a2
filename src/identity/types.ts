/**
 * What the identity area hands the rest of pcigate: an Identity (who, established how) that maps one-to-one
 * onto the audit record's `actor` (recorder/types.ts Actor, PCI DSS 10.2.2 "user identification").
 */
import type { Actor } from '../../recorder/types.js';

/** A person or workload behind a session (PCI DSS 8.2.1: a unique identity behind every access). */
export interface Identity extends Actor {
  via: 'oidc' | 'workload' | 'local';
  /** True when `amr` shows a second factor (RFC 8176 values listed in identity.mfa_amr; PCI DSS 8.4.2). */
  mfa: boolean;
  /** When the token behind this identity expires (ms since the epoch); undefined for local identities. */
  expiresAt?: number;
}

/** The tokens `pcigate login` keeps (never in config, logs or argv). Times are ms since the epoch. */
export interface StoredTokens {
  issuer: string;
  clientId: string;
  accessToken: string;
  refreshToken?: string;
  idToken?: string;
  /** When the access token expires. */
  expiresAt: number;
  scope?: string;
  /** When the user completed the device flow (start of the session for identity.max_session). */
  loggedInAt: number;
}

/** The parts of a validated JWT the identity area reads. */
export type JwtClaims = Record<string, unknown> & { iss?: string; sub?: string; exp?: number; aud?: string | string[] };
