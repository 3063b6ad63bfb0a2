/**
 * Who is behind a session started from this process: a CI workload token when the job has one (or when
 * `pcigate exec` insists), otherwise the logged-in person (or the local account where the config allows
 * it) — all through the identity area's resolveIdentity, so MFA and claim rules apply the same way.
 */
import type { Actor, AuditSink } from '../../recorder/types.js';
import type { Ctx } from '../cli/ctx.js';
import type { PcigateConfig } from '../config/index.js';
import type { Connection } from '../config/index.js';
import { resolveSecret } from '../config/secrets.js';
import { actorOf, obtainWorkloadToken, resolveIdentity } from '../identity/index.js';
import type { TokenValidator } from '../identity/index.js';

export interface SessionIdentityOptions {
  config: PcigateConfig;
  name: string;
  conn: Connection;
  home: string;
  sink: AuditSink;
  /** `pcigate exec`: look for a workload token (env variable, GitHub Actions, client credentials). */
  workload?: { tokenEnv?: string };
}

/**
 * Resolves the actor of each new session; `expiresAt(actor)` is when the token behind that actor expires
 * (undefined for a local identity), for the identity.max_session deadline (src/broker/session-limits.ts).
 * `known()`: the actor resolved last, without resolving (no keychain read, no question to the identity provider).
 */
export interface SessionActor {
  (): Promise<Actor>;
  expiresAt(actor: Actor): number | undefined;
  known(): Actor | undefined;
}

/** Returns a function that resolves the actor for each new session (validators stay cached). */
export async function sessionActor(ctx: Ctx, o: SessionIdentityOptions): Promise<SessionActor> {
  const cache = new Map<string, TokenValidator>();
  let workloadToken: string | undefined;
  if (o.workload) {
    const w = o.config.identity.workload;
    const tokenEnv = o.workload.tokenEnv ?? w.token_env;
    const inCi = Boolean(ctx.env[tokenEnv] || ctx.env.ACTIONS_ID_TOKEN_REQUEST_URL || (w.client_id && w.client_secret) || w.source !== 'auto');
    if (inCi) {
      const clientCredentials = w.client_id && w.client_secret
        ? { issuer: w.issuer ?? o.config.identity.issuer ?? '', clientId: w.client_id, clientSecret: await resolveSecret(ctx, w.client_secret) }
        : undefined;
      workloadToken = (await obtainWorkloadToken(ctx, { source: w.source, tokenEnv, audience: w.audience, ...(clientCredentials ? { clientCredentials } : {}) })).token;
    }
  }
  // Keyed by the actor object each session gets, so concurrent sessions never see each other's expiry.
  const expiries = new WeakMap<Actor, number>();
  let last: Actor | undefined;
  const resolve = async (): Promise<Actor> => {
    const identity = await resolveIdentity(ctx, o.config, { connection: o.name, conn: o.conn, home: o.home, audit: o.sink, cache, ...(workloadToken ? { workloadToken } : {}) });
    const actor = actorOf(identity);
    if (identity.expiresAt !== undefined) expiries.set(actor, identity.expiresAt);
    last = actor;
    return actor;
  };
  // Fail before anything starts when there is no identity at all.
  await resolve();
  return Object.assign(resolve, { expiresAt: (actor: Actor) => expiries.get(actor), known: () => last });
}
