/**
 * What the approvals commands share: the data home and configuration, an approvals store whose records
 * go to the audit log (or, while a broker owns the log, to the audit outbox), and the acting identity.
 */
import type { AuditLog } from '../../recorder/log-writer.js';
import { openAuditLog } from '../../recorder/log-writer.js';
import { auditLogOptionsFromConfig } from '../../recorder/audit-log.js';
import type { AuditSink } from '../../recorder/types.js';
import type { GlobalOptions } from '../cli/command.js';
import type { Ctx } from '../cli/ctx.js';
import { loadConfigOrDefaults } from '../config/load-config.js';
import { resolveHomeWithConfig } from '../config/resolve-home.js';
import type { PcigateConfig } from '../config/schema.js';
import { AuditWriteError } from '../errors.js';
import { resolveIdentity } from '../identity/resolve.js';
import { approvalStoreFor, type ApprovalStore } from './approvals.js';
import { outboxSink } from './audit-outbox.js';
import { connectionPolicy } from './evaluate.js';
import type { PolicyIdentity } from './evaluate.js';

export interface ApprovalContext {
  home: string;
  config: PcigateConfig;
  store: ApprovalStore;
  sink: AuditSink;
  /** True when records go to the outbox because another process owns the audit log. */
  viaOutbox: boolean;
  close(): Promise<void>;
}

/** Opens the store for a command; the caller must close() it (closes the audit log when this process opened it). */
export async function openApprovalContext(ctx: Ctx, global: Pick<GlobalOptions, 'home' | 'config'>): Promise<ApprovalContext> {
  const { home, loaded } = await resolveHomeWithConfig(ctx, global);
  const config = (loaded ?? (await loadConfigOrDefaults(ctx, { path: global.config }))).config;
  let log: AuditLog | undefined;
  let sink: AuditSink;
  try {
    log = await openAuditLog(ctx, auditLogOptionsFromConfig(home, config.audit, { createIfMissing: true }));
    sink = log;
  } catch (e) {
    if (!(e instanceof AuditWriteError)) throw e;
    // A broker owns the log (it is probably the one waiting for this very decision).
    sink = outboxSink({ fs: ctx.fs, clock: ctx.clock, home });
  }
  const store = approvalStoreFor(ctx, { home, sink, drainOutbox: log !== undefined, networks: config.masking.networks });
  return { home, config, store, sink, viaOutbox: log === undefined, close: async () => { await log?.close(); } };
}

/**
 * The identity acting in this process (the approver), from the identity area: a saved OIDC login, or the
 * local OS account where `identity.allow_local` opts in (a local account has no groups, so it can
 * approve only where `approvals.subjects` names it). Refusals are recorded by the identity area.
 * A second factor is required where the connection's statements need one: `connections.<name>.require_mfa`
 * or its policy's (`policy.connections.<name or '*'>.require_mfa`, as evaluate.ts gateIdentity reads them),
 * or a password alone would decide what only a second factor lets the requester send (PCI DSS 8.4.2).
 */
export async function currentIdentity(ctx: Ctx, ac: ApprovalContext, connection: string): Promise<PolicyIdentity> {
  const rules = ac.config.connections[connection];
  const requireMfa = (rules?.require_mfa ?? false) || (connectionPolicy(ac.config.policy, connection)?.cp.require_mfa ?? false);
  return resolveIdentity(ctx, ac.config, {
    connection,
    conn: { require_mfa: requireMfa },
    home: ac.home,
    audit: ac.sink,
  });
}
