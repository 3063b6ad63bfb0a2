/**
 * A held SSH exec command waits for a just-in-time approval, exactly as a held SQL statement does
 * (src/policy/pg-policy-hooks.ts): an approval request bound to the exact command text (its SHA-256), the
 * requester and the connection is filed in the approvals store; the user is told which request and how an
 * approver acts on it; the command runs once a second person approves (separation of duties, PCI DSS
 * 7.2.3 — the store enforces who may approve), and is refused when the request is denied, expires, or no
 * decision arrives within the policy's `approvals.wait`. An approval still usable for this very command
 * (a granted window) is used without asking again.
 */
import { formatDuration } from '../config/duration.js';
import { maskText } from '../mask/pan-masker.js';
import type { ApprovalStore } from '../policy/approvals.js';
import type { PolicyIdentity } from '../policy/evaluate.js';
import type { ApprovalSettings } from '../policy/policy-engine.js';
import { redactCommandLine } from '../policy/argv/argv-redact.js';

export interface SshApprovals {
  store: ApprovalStore;
  /** The connection's approval settings (PolicyEngine.approvalSettings). */
  settings: ApprovalSettings;
}

export interface HoldRequest {
  approvals: SshApprovals;
  connection: string;
  identity: PolicyIdentity;
  session: string;
  /** The exact command text as the client sent it (stored only masked, bound by its hash). */
  command: string;
  rule: string;
  /** Why policy held it (shown to the user). */
  why: string;
  /** `--reason`, shown to approvers. */
  reason?: string;
  /** Lines for the user (the channel's stderr). */
  notice?(line: string): void;
  /** Ends the wait early (session closing, Ctrl-C). */
  signal?: AbortSignal;
}

export type HoldOutcome =
  | { action: 'allow'; approval: string }
  | { action: 'deny'; reason: string; approval: string; state: 'denied' | 'expired' | 'timeout' | 'aborted' };

/** Files (or reuses) an approval for the command and waits for the decision. */
export async function holdSshCommand(h: HoldRequest): Promise<HoldOutcome> {
  const { store, settings } = h.approvals;
  const usable = await store.findUsable(h.identity, h.connection, h.command);
  if (usable) {
    await store.consume(usable.id, h.identity, h.connection, h.command, undefined, h.session);
    return { action: 'allow', approval: usable.id };
  }
  const req = await store.request({
    connection: h.connection, requester: h.identity, session: h.session, sql: h.command, shown: redactCommandLine(h.command), rule: h.rule, settings,
    ...(h.reason ? { reason: h.reason } : {}),
  });
  h.notice?.(`pcigate: ${maskText(h.why)}: waiting for approval ${req.id} (up to ${formatDuration(settings.waitMs)}); an approver runs: pcigate approve ${req.id}`);
  const r = await store.waitForDecision(req.id, settings.waitMs, h.signal);
  if (r.state === 'approved') {
    await store.consume(r.id, h.identity, h.connection, h.command, undefined, h.session);
    h.notice?.(`pcigate: approval ${r.id} granted by ${r.approvals.map((a) => a.email ?? a.sub).join(', ')}; running the command`);
    return { action: 'allow', approval: r.id };
  }
  if (r.state === 'denied') {
    return { action: 'deny', approval: r.id, state: 'denied', reason: `approval ${r.id} was denied by ${r.denial?.email ?? r.denial?.sub ?? 'an approver'}: ${r.denial?.reason ?? ''}` };
  }
  if (r.state === 'expired') return { action: 'deny', approval: r.id, state: 'expired', reason: `approval request ${r.id} expired; the command was not run` };
  if (h.signal?.aborted) return { action: 'deny', approval: r.id, state: 'aborted', reason: `the wait for approval ${r.id} ended with the session or its channel; the command was not run` };
  return { action: 'deny', approval: r.id, state: 'timeout', reason: `no decision on approval request ${r.id} within ${formatDuration(settings.waitMs)}; the command was not run` };
}
