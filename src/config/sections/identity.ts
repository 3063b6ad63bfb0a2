/**
 * The `identity` section of pcigate.yaml (issue 5, owned by the identity area): the OIDC provider people log
 * in with (RFC 8628 device flow), how access tokens are validated, where tokens are kept, and how CI jobs
 * obtain a workload token. Per-connection rules (`require_mfa`, `workload` trusted issuers and claim rules)
 * live on each connection (sections/connections.ts).
 */
import { z } from 'zod';
import { duration } from '../duration.js';
import { secretRef } from '../secret-ref.js';

/** Signature algorithms accepted by default: asymmetric only (never `none`, never HMAC, RFC 8725 §3.1). */
export const DEFAULT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

const asymmetricAlg = z
  .string()
  .refine((a) => !/^(none|HS\d+)$/i.test(a), { message: 'only asymmetric algorithms are allowed: never none, never HMAC (RFC 8725 §3.1)' });

export const identitySection = z
  .strictObject({
    /** Let the local OS account stand in as the actor (`via: "local"`) where no OIDC identity is configured. */
    allow_local: z.boolean().default(false),
    /** OIDC issuer URL used by `pcigate login` and token validation. https, or http on loopback for tests. */
    issuer: z.string().url().optional(),
    /** OIDC client id for the device flow (a public client). */
    client_id: z.string().min(1).optional(),
    /** Scopes requested at login; `offline_access` gives the refresh token that keeps a session alive. */
    scopes: z.array(z.string().min(1)).default(['openid', 'email', 'groups', 'offline_access']),
    /** The `aud` access tokens must carry (RFC 9068 §4). */
    audience: z.string().min(1).default('pcigate'),
    /** RFC 8707 resource indicator sent at login, when the provider needs one to mint a JWT access token. */
    resource: z.string().min(1).optional(),
    /**
     * Hosts besides the issuer's that may serve the device-login page (RFC 8628 verification_uri), e.g.
     * `microsoft.com` for Entra ID. Any other host is refused as phishing.
     */
    verification_hosts: z.array(z.string().min(1)).default([]),
    /** Dotted path of the groups claim, e.g. `groups` or `realm_access.roles` (Keycloak). */
    groups_claim: z.string().min(1).default('groups'),
    /** `amr` values that count as a second factor (RFC 8176). */
    mfa_amr: z.array(z.string().min(1)).default(['mfa', 'otp', 'hwk', 'swk', 'sms', 'fpt', 'face', 'iris', 'retina', 'pop']),
    algorithms: z.array(asymmetricAlg).min(1).default([...DEFAULT_ALGORITHMS]),
    /** Clock skew tolerated on exp/nbf/iat. */
    clock_skew: duration({ max: 300_000 }).default(60_000),
    /**
     * The longest lifetime a token may claim (`exp` − `iat`, or `exp` − now without `iat`): a token that
     * stays valid for days is a standing credential, which PCI DSS 8.2.8/8.6 asks to avoid. 5m to 7d.
     */
    max_token_lifetime: duration({ min: 300_000, max: 7 * 86_400_000 }).default(86_400_000),
    /** Refresh the access token this long before it expires. */
    refresh_before: duration().default(60_000),
    /** A session whose token expires may continue until this long after it started, then it is closed. */
    max_session: duration({ min: 60_000 }).default(43_200_000),
    /**
     * Whether a person's login is confirmed live at the provider when a session starts, approve / deny
     * included (PCI DSS 8.2.5, 8.2.6: a login ended at the provider stops opening sessions at once): `refresh`
     * renews it with its refresh token, which the provider refuses for a revoked grant or a disabled user;
     * `off` trusts the access token until its `exp`. See docs/identity.md (src/identity/live-check.ts).
     */
    check_live: z.enum(['refresh', 'off']).default('refresh'),
    /** How long the provider gets to answer that check (the login lock wait included); no answer refuses. */
    check_live_timeout: duration({ min: 500, max: 30_000 }).default(5_000),
    /** How long one broker reuses a positive answer for the next sessions of the same login (0s: never). */
    check_live_cache: duration({ max: 30_000 }).default(5_000),
    /** Where login keeps tokens: the OS keychain, a 0600 file in the data home, or keychain with file fallback. */
    token_store: z.enum(['auto', 'keychain', 'file']).default('auto'),
    /** How `pcigate exec` obtains a workload token in CI. */
    workload: z
      .strictObject({
        /** `env` (a token in an environment variable), `github`, `gitlab`, `client_credentials`, or `auto`. */
        source: z.enum(['auto', 'env', 'github', 'gitlab', 'client_credentials']).default('auto'),
        /** Environment variable holding a token (`--id-token-env`); GitLab `id_tokens` are exposed this way too. */
        token_env: z.string().min(1).default('PCIGATE_ID_TOKEN'),
        /** Audience requested from GitHub Actions' token endpoint. */
        audience: z.string().min(1).default('pcigate'),
        /** client_credentials: the client id and a secret reference (env:, file:, keychain:, cmd:). */
        client_id: z.string().min(1).optional(),
        client_secret: secretRef().optional(),
        /** client_credentials: issuer when different from identity.issuer. */
        issuer: z.string().url().optional(),
      })
      .prefault({}),
  })
  .prefault({});

export type IdentityConfig = z.infer<typeof identitySection>;
