/**
 * Reading the audit trail is itself an auditable event (PCI DSS 10.2.1.3, issue 8 item 4): `sessions` and
 * `replay` append an `audit.access` record through the recorder's writer.
 */
import type { Ctx } from '../cli/ctx.js';
import { openAuditLog } from '../../recorder/index.js';
import type { AuditLogOptions } from '../../recorder/index.js';

/**
 * Appends `audit.access` with `detail` (at least `{command}`); `session` names the session looked at. The
 * log can be held by a running broker (one writer per log): the caller decides what a failure means.
 */
export async function recordAuditAccess(ctx: Ctx, options: AuditLogOptions, detail: Record<string, unknown> & { command: string }, session?: string): Promise<number> {
  const log = await openAuditLog(ctx, options);
  try {
    const { seq } = await log.append({
      type: 'audit.access',
      ...(session ? { session } : {}),
      actor: { sub: ctx.user.name, via: 'local' },
      account: { kind: 'os', name: ctx.user.name },
      target: { kind: 'log' },
      outcome: 'success',
      detail,
    });
    return seq;
  } finally {
    await log.close();
  }
}
