/**
 * Identity records for the audit log (PCI DSS 10.2.1.4 invalid access attempts, 10.2.1.5 changes to
 * identification and authentication: login, logout, refresh failure, refused token, MFA refusal).
 * Records never carry a token: only subjects, issuers and stable reasons.
 */
import type { Actor, AuditEvent, AuditSink, Outcome } from '../../recorder/types.js';
import type { Identity } from './types.js';

export const IDENTITY_RECORD_TYPES = {
  login: 'auth.login',
  logout: 'auth.logout',
  refresh: 'auth.refresh',
  fail: 'auth.fail',
} as const;

/** The audit actor for an Identity (drops fields the record does not carry). */
export function actorOf(id: Identity): Actor {
  const a: Actor = { sub: id.sub, via: id.via };
  if (id.idp) a.idp = id.idp;
  if (id.email) a.email = id.email;
  if (id.groups) a.groups = id.groups;
  if (id.amr) a.amr = id.amr;
  return a;
}

/** The actor of a failure before any identity was established: the local OS account, marked as such. */
export function localActor(user: { name: string }): Actor {
  return { sub: user.name, via: 'local' };
}

export interface IdentityRecord {
  type: (typeof IDENTITY_RECORD_TYPES)[keyof typeof IDENTITY_RECORD_TYPES];
  outcome: Outcome;
  actor: Actor;
  detail: Record<string, unknown>;
  session?: string;
  target?: AuditEvent['target'];
}

/**
 * Appends a record when a sink is given. Login-side callers pass no sink when there is no log; the broker
 * always passes one and, failing closed, lets an AuditWriteError propagate.
 */
export async function record(sink: AuditSink | undefined, r: IdentityRecord): Promise<void> {
  if (!sink) return;
  const ev: AuditEvent = { type: r.type, outcome: r.outcome, actor: r.actor, detail: r.detail };
  if (r.session) ev.session = r.session;
  if (r.target) ev.target = r.target;
  await sink.append(ev);
}
