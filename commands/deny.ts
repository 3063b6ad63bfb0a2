/** `pcigate deny ID --reason …`: refuse a held statement (issue 6 item 5). */
import type { CommandSpec } from '../src/cli/command.js';
import { EXIT } from '../src/cli/exit-codes.js';
import { UsageError } from '../src/errors.js';
import { currentIdentity, openApprovalContext } from '../src/policy/approval-context.js';
import { approvalDetail, approvalJson } from '../src/policy/approval-render.js';

export const spec: CommandSpec = {
  description: 'Denies a pending request; the waiting statement fails at once with your reason. Recorded.',
  args: [{ name: 'id', description: 'the request id (A-…), from pcigate approvals', required: true }],
  options: [{ flags: '--reason <text>', description: 'why (required; the requester sees it)' }],
  examples: [['refuse a held statement', 'pcigate deny A-k3j5x7p2qa --reason "use the reporting replica"']],
  async run(ctx, { args, opts, global, out }) {
    const reason = typeof opts.reason === 'string' ? opts.reason.trim() : '';
    if (!reason) throw new UsageError('deny needs --reason', { hint: 'pcigate deny ID --reason "why"' });
    const ac = await openApprovalContext(ctx, global);
    try {
      const req = await ac.store.get(args[0]!);
      const me = await currentIdentity(ctx, ac, req.connection);
      // What is decided, in full and safe for the terminal (the table cuts long statements).
      out.say(approvalDetail(req));
      const r = await ac.store.deny(req.id, me, reason);
      if (out.json) out.printJson(approvalJson(r));
      else out.say(`denied ${r.id}`);
      if (ac.viaOutbox) out.say('(a running broker owns the audit log: the record was queued in the audit outbox for it)');
      return EXIT.ok;
    } finally {
      await ac.close();
    }
  },
};
