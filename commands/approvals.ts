/** `pcigate approvals`: the approval queue (issue 6 item 5). Thin: open the store → list → render. */
import type { CommandSpec } from '../src/cli/command.js';
import type { Ctx } from '../src/cli/ctx.js';
import { EXIT } from '../src/cli/exit-codes.js';
import { table } from '../src/cli/output.js';
import type { Output } from '../src/cli/output.js';
import { openApprovalContext } from '../src/policy/approval-context.js';
import type { ApprovalRequest } from '../src/policy/approvals.js';
import { approvalRow, APPROVAL_HEADERS, approvalJson } from '../src/policy/approval-render.js';

export const spec: CommandSpec = {
  description: [
    'Lists approval requests: statements held by policy (and sessions that need approval) with their',
    'requester, connection, masked statement and bind parameters, and expiry. Pending requests only, unless --all.',
    'Control characters in a statement are shown escaped; one longer than its cell shows its start and end with',
    "the count of characters between (--json has it whole, and 'pcigate approve' prints it whole before approving).",
    "Approve with 'pcigate approve ID', refuse with 'pcigate deny ID --reason …'.",
  ].join('\n'),
  options: [
    { flags: '--all', description: 'include approved, denied, expired and used requests' },
    { flags: '--watch', description: 'keep listing as requests arrive and change (Ctrl-C to stop)' },
  ],
  examples: [
    ['show what waits for approval', 'pcigate approvals'],
    ['the whole queue as JSON', 'pcigate approvals --all --json'],
    ['watch the queue', 'pcigate approvals --watch'],
  ],
  async run(ctx, { opts, global, out }) {
    const ac = await openApprovalContext(ctx, global);
    try {
      const pick = (all: ApprovalRequest[]) => (opts.all ? all : all.filter((r) => r.state === 'pending'));
      if (!opts.watch) {
        render(ctx, out, pick(await ac.store.list()));
        return EXIT.ok;
      }
      let last = '';
      const signal = ctx.interrupt;
      while (!signal.aborted) {
        const rows = pick(await ac.store.list());
        const key = JSON.stringify(rows.map((r) => [r.id, r.state, r.approvals.length]));
        if (key !== last) { render(ctx, out, rows); last = key; }
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 1000);
          signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
        });
      }
      return EXIT.ok;
    } finally {
      await ac.close();
    }
  },
};

function render(ctx: Ctx, out: Output, rows: ApprovalRequest[]): void {
  const now = ctx.clock.now();
  if (out.json) { out.printJson(rows.map(approvalJson)); return; }
  if (rows.length === 0) { out.say('no approval requests waiting'); return; }
  out.data(table(APPROVAL_HEADERS, rows.map((r) => approvalRow(r, now))));
}
