/**
 * Reading the audit trail is itself an auditable event (PCI DSS 10.2.1.3, issue 8 item 4): `sessions`,
 * `replay`, `verify` and `evidence` append a record through the recorder's writer.
 *
 * The log has one writer at a time (recorder/log-lock.ts). While a broker owns it, the record goes durably into
 * the audit outbox (src/policy/audit-outbox.ts) instead, and whoever next owns the log moves it into the hash
 * chain: every command that records access drains the outbox first, and so does the broker's approvals store.
 */
import type { Ctx } from '../cli/ctx.js';
import type { IdentityConfig } from '../config/sections/identity.js';
import { AuditWriteError } from '../errors.js';
import { actorOf } from '../identity/audit.js';
import { storedLoginIdentity } from '../identity/stored-login.js';
import { drainOutbox, outboxSink } from '../policy/audit-outbox.js';
import { openAuditLog } from '../../recorder/index.js';
import { endInterruptedSessions } from './interrupted.js';
import type { AuditEvent, AuditLog, AuditLogOptions } from '../../recorder/index.js';
import type { Actor } from '../../recorder/types.js';

/** Where an access record went: the log (with its seq) or the outbox (seq known once drained). */
export interface AccessRecorded {
  seq: number | null;
  via: 'log' | 'outbox';
}

/** The log's lock is held by another live process (a broker, or a short-lived command). */
export function isLogInUse(e: unknown): e is AuditWriteError {
  return e instanceof AuditWriteError && / is in use by process /.test(e.message);
}

/**
 * Opens the log for a process that will own it for long (a listener, a job). A short-lived command that
 * holds the lock for a moment (`approvals`, `verify`, `sessions` with nothing running) is waited for, up
 * to `waitMs`, instead of failing the job that happened to start at the same instant. Sessions a killed owner
 * left open are ended first (interrupted.ts).
 */
export async function openAuditLogWaiting(ctx: Ctx, options: AuditLogOptions, waitMs = 5_000): Promise<AuditLog> {
  const deadline = ctx.clock.now() + waitMs;
  for (;;) {
    let log: AuditLog;
    try {
      log = await openAuditLog(ctx, options);
    } catch (e) {
      if (!isLogInUse(e) || ctx.clock.now() >= deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    // Sessions the log's previous owner left open (it was killed) end now, before this one starts any. Not being
    // able to (a log line that does not parse, which verify reports) is a warning: it must not keep every broker
    // from starting, and what this one records is unaffected.
    try {
      await endInterruptedSessions(ctx, options.home, log);
    } catch (e) {
      ctx.log.warn(`could not end the sessions a stopped broker left open: ${(e as Error).message}; run \`pcigate verify\``);
    }
    return log;
  }
}

/**
 * Appends `event` to the log of `options.home`, or to the audit outbox when a running broker holds the log.
 * Rejects with AuditWriteError when neither works — the caller decides whether that fails its command.
 */
export async function recordAccessEvent(ctx: Ctx, options: AuditLogOptions, event: AuditEvent): Promise<AccessRecorded> {
  let log;
  try {
    log = await openAuditLog(ctx, options);
  } catch (e) {
    if (!isLogInUse(e)) throw e;
    await outboxSink({ fs: ctx.fs, clock: ctx.clock, home: options.home }).append(event);
    return { seq: null, via: 'outbox' };
  }
  try {
    await drainOutbox(ctx.fs, options.home, log);
    const { seq } = await log.append(event);
    return { seq, via: 'log' };
  } finally {
    await log.close();
  }
}

/**
 * Who is reading the audit trail, for the `actor` of `verify.run`, `audit.access` and `evidence.export` (PCI DSS
 * 10.2.1.3, 10.2.2 user identification): the person logged in for the configured issuer (`via: "oidc"`, as in
 * session records), else the local OS account (`via: "local"`). Reading the log never needs a login: a saved
 * login that cannot be used (expired and not renewable, provider unreachable) is one warning line, and the
 * command goes on as the local account.
 */
export async function accessActor(ctx: Ctx, config: { identity?: IdentityConfig | undefined }, home: string, warn: (line: string) => void): Promise<Actor> {
  const login = await storedLoginIdentity(ctx, config, home);
  if (login.identity) return actorOf(login.identity);
  if (login.message) warn(`warning: your saved login was not used (${login.message}); this access is recorded as the local OS account ${ctx.user.name}`);
  return { sub: ctx.user.name, via: 'local' };
}

/** Appends `audit.access` by `actor` with `detail` (at least `{command}`); `session` names the session looked at. */
export async function recordAuditAccess(ctx: Ctx, options: AuditLogOptions, actor: Actor, detail: Record<string, unknown> & { command: string }, session?: string): Promise<AccessRecorded> {
  return recordAccessEvent(ctx, options, {
    type: 'audit.access',
    ...(session ? { session } : {}),
    actor,
    account: { kind: 'os', name: ctx.user.name },
    target: { kind: 'log' },
    outcome: 'success',
    detail,
  });
}
