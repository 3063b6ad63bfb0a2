/**
 * The `connections` section of pcigate.yaml: name → a PostgreSQL or SSH target, discriminated on `kind`.
 * Credentials are secret references only (PCI DSS 8.6.2); TLS to Postgres defaults to verify-full
 * (PCI DSS 4.2.1); an SSH host key must be pinned, because trust-on-first-use is exactly the hole hoop.dev
 * leaves open (issue 7).
 */
import { z } from 'zod';
import { duration } from '../duration.js';
import { secretRef } from '../secret-ref.js';

const port = (dflt: number) => z.number().int().min(1).max(65535).default(dflt);

/**
 * How many of a workload rule's claims narrow which tokens it lets in: a claim any present value matches (`*`,
 * `**`, or a list holding one) does not.
 */
export function narrowingClaims(claims: Readonly<Record<string, string | readonly string[]>>): number {
  return Object.values(claims).filter((v) => !(typeof v === 'string' ? [v] : v).some((e) => /^\*+$/.test(e))).length;
}

/**
 * Issuers whose tokens every tenant of a public service gets (GitHub.com's Actions, GitLab.com): a claim that
 * narrows nothing about the tenant (`ref: refs/heads/main`, `environment: production`, `sub: "repo:*"`,
 * `repository_owner: "acme*"`) still lets in any organisation's job. A rule for one must bind its tenant: a claim
 * below whose every allowed value names the owner literally (no `*` in an id or owner; none before the first `/`
 * of a path; `sub` as `repo:<owner>/…` or `project_path:<group>/…`).
 */
const SHARED_ISSUERS: ReadonlyMap<string, { ids: readonly string[]; paths: readonly string[]; sub: RegExp; example: string }> = new Map([
  ['https://token.actions.githubusercontent.com', {
    ids: ['repository_id', 'repository_owner_id', 'repository_owner'], paths: ['repository', 'job_workflow_ref'],
    sub: /^repo:[^*/:]+\//, example: 'repository: org/app (or repository_owner_id)',
  }],
  ['https://gitlab.com', {
    ids: ['project_id', 'namespace_id', 'namespace_path'], paths: ['project_path'],
    sub: /^project_path:[^*/:]+\//, example: 'project_path: group/app (or namespace_id)',
  }],
]);

/** Whether `claims` bind a shared issuer's rule to one tenant (true for any other issuer). */
export function bindsTenant(issuer: string, claims: Readonly<Record<string, string | readonly string[]>>): boolean {
  const shared = SHARED_ISSUERS.get(issuer.replace(/\/+$/, ''));
  if (!shared) return true;
  const literal = (claim: string, v: string): boolean => {
    if (shared.ids.includes(claim)) return v !== '' && !v.includes('*');
    if (shared.paths.includes(claim)) return /^[^*/]+\//.test(v);
    return claim === 'sub' && shared.sub.test(v);
  };
  return Object.entries(claims).some(([claim, v]) => (typeof v === 'string' ? [v] : v).every((e) => literal(claim, e)));
}

/**
 * How often a workload token may be used (src/identity/replay-cache.ts): `once` (the default) claims it for one
 * pcigate run; `until_expiry` lets it be presented again until it expires, for sources that hand a job one token
 * for all its steps (GitLab `id_tokens:`, a `token_env` variable), at the price that a token copied from the job
 * can be replayed until then.
 */
export const TOKEN_REUSE = ['once', 'until_expiry'] as const;
export type TokenReuse = (typeof TOKEN_REUSE)[number];

/**
 * Issue 5 item 6: which workload-identity issuers a connection trusts and the claims they must carry. A rule
 * with no claim that constrains (none, or only `*`) trusts every token its issuer signs, for GitHub Actions or
 * GitLab.com any job of any repository in the world: refused unless it says `any_subject: true` (an issuer of the
 * organisation's own, say), and `any_subject` with claims is refused as contradictory.
 */
export const workloadRule = z
  .strictObject({
    issuer: z.string().url(),
    audience: z.string().min(1).optional(),
    /** Claim name → required value (or any of a list), e.g. `repository: org/payments`. */
    claims: z.record(z.string(), z.union([z.string(), z.array(z.string()).min(1)])).default({}),
    /** Trust every token of `issuer` (no claim constraint), said on purpose. */
    any_subject: z.boolean().default(false),
    /** Single use per token (`once`), or usable until it expires (`until_expiry`): replay-cache.ts. */
    reuse: z.enum(TOKEN_REUSE, {
      error: (iss) => `expected once (the default: each token is good for one pcigate run) or until_expiry (a token may be used again until it expires, `
        + `e.g. by every step of a GitLab job), not ${JSON.stringify(iss.input)}`,
    }).default('once'),
  })
  .superRefine((r, ctx) => {
    const shared = SHARED_ISSUERS.get(r.issuer.replace(/\/+$/, ''));
    if (r.any_subject && Object.keys(r.claims).length > 0) {
      ctx.addIssue({ code: 'custom', message: `the workload rule for ${r.issuer} says any_subject: true and also names claims; drop one: any_subject trusts every token of the issuer, claims narrow it` });
    } else if (!r.any_subject && narrowingClaims(r.claims) === 0) {
      ctx.addIssue({
        code: 'custom',
        message: `the workload rule for ${r.issuer} names no claim that narrows it${Object.keys(r.claims).length ? ' (only *)' : ''}, so it trusts every token that issuer signs `
          + '(for GitHub Actions, any repository\'s job): add claims, e.g. claims: { repository: org/app, ref: refs/heads/main }, or, to trust every token of an issuer of your own, any_subject: true',
      });
    } else if (shared && (r.any_subject || !bindsTenant(r.issuer, r.claims))) {
      ctx.addIssue({
        code: 'custom',
        message: `the workload rule for ${r.issuer} does not name the tenant whose jobs it trusts, so every organisation's job on that service `
          + `that matches ${r.any_subject ? 'it (any_subject)' : 'its claims'} gets in: add a claim naming it literally, e.g. ${shared.example}`,
      });
    }
  });

const common = {
  description: z.string().optional(),
  /** Refuse identities whose `amr` shows no second factor (PCI DSS 8.4.2). */
  require_mfa: z.boolean().default(false),
  /** Identity groups whose members may approve held actions on this connection. */
  approvers: z.array(z.string().min(1)).default([]),
  /** Workload (CI) identities allowed on this connection. */
  workload: z.array(workloadRule).default([]),
  /** Upstream connect timeout. */
  connect_timeout: duration({ min: 100 }).default(10_000),
};

export const SSLMODES = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;

export const postgresConnection = z
  .strictObject({
    kind: z.literal('postgres'),
    host: z.string().min(1).optional(),
    /** A Unix-socket directory, instead of host. */
    socket: z.string().min(1).optional(),
    port: port(5432),
    database: z.string().min(1),
    user: z.string().min(1),
    /** Broker-held credential; absent for trust or certificate authentication. */
    password: secretRef().optional(),
    sslmode: z.enum(SSLMODES).default('verify-full'),
    /** CA bundle for verify-ca / verify-full; the system store when absent. */
    ca_file: z.string().min(1).optional(),
    /** The local listener (`pcigate connect`): loopback by default, port 0 = any free port. */
    listen: z
      .strictObject({ host: z.string().min(1).default('127.0.0.1'), port: z.number().int().min(0).max(65535).default(0) })
      .prefault({}),
    /**
     * When the server says `user` is a superuser: `warn` (the listener says so once; every session.end records
     * it; evidence 7.2.5 flags it) or `refuse` every session. Through a superuser, `ddl` and `function` grant
     * everything (docs/policy-server-secrets.md).
     */
    upstream_superuser: z.enum(['warn', 'refuse']).default('warn'),
    /** Certificate for `connect --tls`; generated when absent. */
    tls: z.strictObject({ cert_file: z.string().min(1), key_file: z.string().min(1) }).optional(),
    ...common,
  })
  .refine((c) => (c.host === undefined) !== (c.socket === undefined), {
    message: 'expected exactly one of host or socket',
  });

/** A known_hosts line (`[host] ssh-ed25519 AAAA…`) or an OpenSSH SHA256 fingerprint (`SHA256:…`). */
const HOST_KEY_RE = /^(?:SHA256:[A-Za-z0-9+/]{43}=?|(?:\S+\s+)?(?:ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)\s+[A-Za-z0-9+/]+={0,2}(?:\s.*)?)$/;

export const sshAllow = z
  .strictObject({
    shell: z.boolean().default(false),
    /** Exec commands by glob pattern: run, hold for approval, or refuse. Unmatched commands are refused. */
    exec: z
      .strictObject({
        allow: z.array(z.string().min(1)).default([]),
        hold: z.array(z.string().min(1)).default([]),
        deny: z.array(z.string().min(1)).default([]),
      })
      .prefault({}),
    port_forwarding: z.boolean().default(false),
    agent_forwarding: z.boolean().default(false),
    x11: z.boolean().default(false),
    /** e.g. `sftp`; scp over exec is matched by the exec patterns. */
    subsystems: z.array(z.string().min(1)).default([]),
    /** Env request names (globs) passed to the remote side; some are never passed (src/broker/ssh-env.ts). */
    env: z.array(z.string().min(1)).default(['LANG', 'LC_*']),
  })
  .prefault({});

export const sshConnection = z.strictObject({
  kind: z.literal('ssh'),
  host: z.string().min(1),
  port: port(22),
  user: z.string().min(1),
  private_key: secretRef(),
  /** Passphrase of the private key, if it has one. */
  passphrase: secretRef().optional(),
  host_key: z.string().regex(HOST_KEY_RE, 'expected a known_hosts line (ssh-ed25519 AAAA…) or a fingerprint SHA256:…'),
  allow: sshAllow,
  /** Record keyboard input too (masked); off by default since input carries passwords typed at prompts. */
  record_input: z.boolean().default(false),
  ...common,
});

export const connection = z.discriminatedUnion('kind', [postgresConnection, sshConnection]);

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export const connectionsSection = z
  .record(z.string().regex(NAME_RE, 'expected a connection name of letters, digits, . _ -'), connection)
  .default({});

export type PostgresConnection = z.infer<typeof postgresConnection>;
export type SshConnection = z.infer<typeof sshConnection>;
export type Connection = z.infer<typeof connection>;
