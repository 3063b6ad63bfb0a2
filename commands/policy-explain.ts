/** `pcigate policy explain CONN --as GROUP 'SQL'`: what policy (and masking) decides, and why (issue 6 item 1). */
import type { CommandSpec } from '../src/cli/command.js';
import { EXIT } from '../src/cli/exit-codes.js';
import { loadConfig } from '../src/config/load-config.js';
import { UsageError } from '../src/errors.js';
import { explainPolicy, formatExplanation } from '../src/policy/explain.js';

export const spec: CommandSpec = {
  description: [
    'Classifies the SQL with the PostgreSQL parser and evaluates it against the policy for an identity in the',
    'given groups (or with the given subject), as the broker would. Prints the decision (allow, deny or hold),',
    'the rule behind it and, per statement, its classes, tables, columns and functions. A statement policy allows',
    'or holds that would store values of a column masked for the identity where masking cannot follow them',
    '(insert into notes select cvv from cards) is denied with rule masking.stored_values, as the broker refuses it.',
    'Whole rows stored (insert into t select * from cards) are judged by their tables\' columns, which only the',
    'database knows: the decision stays policy\'s, with a masking note naming the tables. For policy authors: it',
    'reads the configuration only, and connects to nothing.',
  ].join('\n'),
  args: [
    { name: 'connection', description: 'connection name as in the configuration', required: true },
    { name: 'sql', description: 'the SQL text (one or more statements)', required: true },
  ],
  options: [
    { flags: '--as <group>', description: 'an identity group the simulated user is in (repeatable)', repeatable: true },
    { flags: '--subject <sub>', description: 'the simulated user\'s subject (sub or email)' },
    { flags: '--no-mfa', description: 'simulate a login without a second factor' },
  ],
  examples: [
    ['what happens when support runs a delete', "pcigate policy explain prod-db --as support 'DELETE FROM orders WHERE id = 7'"],
    ['the same as JSON, for a policy test suite', "pcigate policy explain prod-db --as dba --json 'TRUNCATE audit'"],
    ['whether copying a masked column is refused', "pcigate policy explain prod-db --as dba 'INSERT INTO notes (body) SELECT cvv FROM cards'"],
  ],
  async run(ctx, { args, opts, global, out }) {
    const [connection, sql] = args as [string, string];
    const groups = Array.isArray(opts.as) ? (opts.as as string[]) : [];
    const subject = typeof opts.subject === 'string' ? opts.subject : undefined;
    if (groups.length === 0 && subject === undefined) throw new UsageError('say who: --as GROUP (repeatable) or --subject SUB');
    const { config } = await loadConfig(ctx, { path: global.config });
    // (`--as dana`, as `pcigate demo --as dana` spells a person: dana is a subject, and no role names such a group)
    const bindings = Object.values(config.policy?.roles ?? {});
    for (const g of groups) {
      if (bindings.some((b) => b.groups.includes(g))) continue;
      const person = bindings.some((b) => b.subjects.includes(g) || b.subjects.includes(`local:${g}`));
      out.warn(`pcigate: no role names group ${g}${person ? `; ${g} is a subject: --subject ${g}` : ''}`);
    }
    const ex = await explainPolicy(config, connection, sql, { groups, subject, mfa: opts.mfa !== false });
    if (out.json) out.printJson(ex);
    else out.data(formatExplanation(ex));
    return EXIT.ok;
  },
};
