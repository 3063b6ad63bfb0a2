/**
 * Session admission: the policy's session-level rules, applied when a session starts — before anything is
 * forwarded to the target and before `session.start` is written (Postgres and SSH alike):
 * - `session.allowed_hours` (src/policy/time-window.ts): outside the window the session is refused;
 * - `session.require_approval`: the session waits for a just-in-time approval of `CONNECT <name>` by a
 *   second person (PCI DSS 7.2.3, the approvals store enforces who may approve); the user is told which
 *   request through `notice`; denied → refused, no decision in time or expired → refused as a timeout.
 * The window is checked again once an approval arrives (the wait may outlast it).
 *
 * A refusal is recorded as `session.denied` with `outcome: "denied"` (docs/log-format.md; PCI DSS
 * 10.2.1.4 counts it with the other denials) and thrown as {@link SessionRefused}. A session admitted gets
 * the instant its window closes, which session-limits.ts turns into a `session.expired` deadline
 * (reason `allowed_hours`), so a running session does not outlive its allowed hours.
 */
import type { Account, Actor, AuditSink, Source, Target } from '../../recorder/types.js';
import type { Clock, Logger } from '../cli/ctx.js';
import { PcigateError, SessionRefused } from '../errors.js';
import type { RefusalKind } from '../errors.js';
import { defaultPanMasker } from '../mask/pan-masker.js';
import type { PanMasker } from '../mask/pan-masker.js';
import type { ApprovalStore } from '../policy/approvals.js';
import { identityOfActor, requireSessionApproval } from '../policy/pg-policy-hooks.js';
import type { SessionApprovalRefusal } from '../policy/pg-policy-hooks.js';
import type { PolicyEngine } from '../policy/policy-engine.js';
import { allowedAt, describeWindow, windowEnd } from '../policy/time-window.js';

export interface AdmissionOptions {
  engine: PolicyEngine;
  /** Without a store a session that needs an approval is refused (nobody could approve it). */
  store?: ApprovalStore;
  connection: string;
  sink: AuditSink;
  clock: Clock;
  log: Logger;
  reason?: string;
  /** The deployment's card networks' masker (masking.networks) for what a refusal writes; the default one without. */
  masker?: PanMasker;
  /** Ends an approval wait (Ctrl-C, broker shutdown). */
  signal?: AbortSignal;
}

export interface AdmissionRequest {
  actor: Actor;
  src?: Source;
  target: Target;
  account?: Account;
  /** Lines for the user while the session waits (Postgres NoticeResponse, SSH stderr). */
  notice?(line: string): void;
}

export interface Admitted {
  /** When the allowed hours close (ms since the epoch); undefined without allowed_hours. */
  windowEndsAt?: number;
  /** The approval the session started under. */
  approval?: string;
}

/** Applies allowed_hours and require_approval to a session about to start. Throws SessionRefused. */
export async function admitSession(o: AdmissionOptions, r: AdmissionRequest): Promise<Admitted> {
  const limits = o.engine.sessionLimits(o.connection);
  const base = `policy.connections.${o.connection}.session`;
  const hours = limits.allowedHours;
  const checkHours = async (): Promise<void> => {
    let inside: boolean;
    try {
      inside = hours === undefined || allowedAt(hours, o.clock.now());
    } catch (e) {
      // An unusable window (unknown time zone) refuses: fail closed.
      return refuse(o, r, 'allowed_hours', `${base}.allowed_hours`, `pcigate: ${o.connection} cannot check its allowed hours (${(e as Error).message}); the session was refused`, {}, e);
    }
    if (!inside) {
      return refuse(o, r, 'allowed_hours', `${base}.allowed_hours`,
        `pcigate: denied by policy rule ${base}.allowed_hours: ${o.connection} may be used ${describeWindow(hours!)} only`,
        { allowed_hours: { from: hours!.from, to: hours!.to, days: [...hours!.days], tz: hours!.tz } });
    }
  };
  await checkHours();
  let approval: string | undefined;
  if (limits.requireApproval) {
    if (!o.store) {
      await refuse(o, r, 'approval', `${base}.require_approval`, `pcigate: denied by policy rule ${base}.require_approval: ${o.connection} needs an approval and no approvals store is configured`, {});
    }
    try {
      approval = await requireSessionApproval({
        engine: o.engine, store: o.store!, connection: o.connection, identity: identityOfActor(r.actor),
        ...(o.reason ? { reason: o.reason } : {}), ...(o.signal ? { signal: o.signal } : {}), ...(r.notice ? { notify: r.notice } : {}),
      });
    } catch (e) {
      const refusal = (e as { refusal?: SessionApprovalRefusal }).refusal;
      const detail = refusal ? { approval: refusal.approval, approval_state: refusal.state } : { error: e instanceof PcigateError ? e.code : 'internal' };
      if (refusal?.state === 'timeout' || refusal?.state === 'expired') {
        await refuse(o, r, 'approval_timeout', `${base}.require_approval`, `pcigate: no decision on approval request ${refusal.approval} in time (${refusal.why}); the session was not opened`, detail, e);
      }
      // A store that cannot file or read the request refuses too (fail closed).
      const why = refusal ? `approval ${refusal.approval}: ${refusal.why}` : 'the approval could not be completed';
      await refuse(o, r, 'approval', `${base}.require_approval`, `pcigate: denied by policy rule ${base}.require_approval: ${(o.masker ?? defaultPanMasker()).maskText(why)}`, detail, e);
    }
    await checkHours();
  }
  const windowEndsAt = sessionWindowEnd(o.engine, o.connection, o.clock.now());
  return {
    ...(windowEndsAt !== undefined ? { windowEndsAt } : {}),
    ...(approval ? { approval } : {}),
  };
}

/**
 * When a session running at `now` must end for allowed_hours: the window's close; `now` when no window is
 * open (or it cannot be computed: fail closed); undefined without allowed_hours or when it never closes.
 */
export function sessionWindowEnd(engine: PolicyEngine, connection: string, now: number): number | undefined {
  const hours = engine.sessionLimits(connection).allowedHours;
  if (!hours) return undefined;
  try {
    return windowEnd(hours, now) ?? (allowedAt(hours, now) ? undefined : now);
  } catch {
    return now;
  }
}

/** Records `session.denied` (awaited; a failed append is logged, the refusal stands) and throws. */
async function refuse(o: AdmissionOptions, r: AdmissionRequest, kind: RefusalKind, rule: string, message: string, extra: Record<string, unknown>, cause?: unknown): Promise<never> {
  try {
    await o.sink.append({
      type: 'session.denied', actor: r.actor, ...(r.src ? { src: r.src } : {}), target: r.target, ...(r.account ? { account: r.account } : {}),
      outcome: 'denied', detail: { reason: kind, rule, message, ...extra, ...(o.reason ? { session_reason: (o.masker ?? defaultPanMasker()).maskText(o.reason) } : {}) },
    });
  } catch (e) {
    o.log.warn(`session.denied could not be recorded: ${(e as Error).message}`);
  }
  throw new SessionRefused(message, kind, rule, cause === undefined ? undefined : { cause });
}
