/** `pcigate approve ID`: approve a held statement (issue 6 item 5; separation of duties, PCI DSS 7.2.3). */
import type { CommandSpec } from '../src/cli/command.js';
import { EXIT } from '../src/cli/exit-codes.js';
import { currentIdentity, openApprovalContext } from '../src/policy/approval-context.js';
import { approvalDetail, approvalJson } from '../src/policy/approval-render.js';

export const spec: CommandSpec = {
  description: [
    'Approves exactly the held statement (bound by an HMAC of its text and bind parameters) for its requester on',
    'its connection. You must be logged in, in an approver group of that connection (or listed in',
    'approvals.subjects), and not the requester, nor running as the OS account a person filed the request from',
    '(another login of the requester), nor, for a CI job\'s request, the local OS account that runs the job',
    '(identity.allow_local); with min_approvals N, N different people must approve. The approval is',
    'recorded, and so is a refused attempt (approval.refuse).',
  ].join('\n'),
  args: [{ name: 'id', description: 'the request id (A-…), from pcigate approvals', required: true }],
  options: [{ flags: '--reason <text>', description: 'why you approve (recorded)' }],
  examples: [
    ['approve a held statement', 'pcigate approve A-k3j5x7p2qa --reason "INC-42, checked with the requester"'],
  ],
  async run(ctx, { args, opts, global, out }) {
    const ac = await openApprovalContext(ctx, global);
    try {
      const req = await ac.store.get(args[0]!);
      const me = await currentIdentity(ctx, ac, req.connection);
      // What is decided, in full and safe for the terminal (the table cuts long statements).
      out.say(approvalDetail(req));
      const r = await ac.store.approve(req.id, me, typeof opts.reason === 'string' ? opts.reason : undefined);
      if (out.json) out.printJson(approvalJson(r));
      else if (r.state === 'approved') out.say(`approved ${r.id}: the held statement of ${r.requester.email ?? r.requester.sub} on ${r.connection} may run`);
      else out.say(`recorded your approval of ${r.id} (${r.approvals.length} of ${r.min_approvals}); it waits for more approvers`);
      if (ac.viaOutbox) out.say('(a running broker owns the audit log: the record was queued in the audit outbox for it)');
      return EXIT.ok;
    } finally {
      await ac.close();
    }
  },
};
