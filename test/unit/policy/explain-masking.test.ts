/**
 * `policy explain` shows what the broker refuses after policy allowed or held it: a statement that would store
 * values of a column masked for the identity where masking cannot follow them (rule `masking.stored_values`,
 * pg-hooks.ts storedPastMasking). Whole rows stored depend on the tables' columns, which explain cannot read.
 */
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/parse-config.js';
import { explainPolicy, formatExplanation } from '../../../src/policy/explain.js';

const config = parseConfigText([
  'connections:',
  '  prod-db: { kind: postgres, host: 127.0.0.1, database: app, user: app, sslmode: disable }',
  'masking:',
  '  rules: [{ name: account, columns: [account_no], format: full }]',
  'policy:',
  '  roles: { dev: { groups: [dev] }, finance: { groups: [finance] } }',
  '  connections:',
  '    prod-db:',
  '      roles:',
  '        dev: { classes: [read, write, ddl], require_approval: [ddl, unclassifiable] }',
  '        finance: { classes: [read, write], unmask: clear }',
  '',
].join('\n'), '/nonexistent/pcigate.yaml');

const explain = (group: string, sql: string) => explainPolicy(config, 'prod-db', sql, { groups: [group], mfa: true });

describe('policy explain: stored values past masking', () => {
  it('a copy of a masked column is refused, as the broker refuses it', async () => {
    const ex = await explain('dev', 'insert into notes (body) select cvv from cards');
    expect(ex).toMatchObject({ decision: 'deny', rule: 'masking.stored_values', masking: { rule: 'sad' } });
    expect(ex.reason).toContain('masking rule sad');
    expect(ex.masking!.depends_on_catalog).toBeUndefined();
    expect(ex.statements[0]).toMatchObject({ decision: 'deny', rule: 'masking.stored_values', masking: { rule: 'sad' } });
    expect(formatExplanation(ex)).toContain('[1] DENY  insert into notes (body) select cvv from cards');
  });

  it('only the statement that stores is refused; the decision names it', async () => {
    const ex = await explain('dev', 'select account_no from cards; update notes set body = account_no');
    expect(ex).toMatchObject({ decision: 'deny', rule: 'masking.stored_values', masking: { rule: 'account' } });
    expect(ex.reason).toMatch(/^statement 2 of 2: /);
    expect(ex.statements.map((s) => [s.decision, s.rule])).toEqual([
      ['allow', 'policy.connections.prod-db.roles.dev.classes'], ['deny', 'masking.stored_values'],
    ]);
    expect(ex.statements[0]!.masking).toBeUndefined();
  });

  it('an unmask grant that lifts the rule lets the same copy through', async () => {
    const sql = 'update notes set body = account_no';
    expect(await explain('dev', sql)).toMatchObject({ decision: 'deny', rule: 'masking.stored_values' });
    const ex = await explain('finance', sql);
    expect(ex).toMatchObject({ decision: 'allow', rule: 'policy.connections.prod-db.roles.finance.classes' });
    expect(ex.masking).toBeUndefined();
    expect(ex.statements[0]!.decision).toBe('allow');
  });

  it('storing into a column masked in full that the text names is allowed', async () => {
    for (const sql of ['update cards set cvv = null', 'update cards set account_no = upper(account_no)']) {
      const ex = await explain('dev', sql);
      expect(ex, sql).toMatchObject({ decision: 'allow', rule: 'policy.connections.prod-db.roles.dev.classes' });
      expect(ex.masking, sql).toBeUndefined();
    }
    // The same values into a column without a rule are refused.
    expect(await explain('dev', 'update cards set note = account_no')).toMatchObject({ decision: 'deny', rule: 'masking.stored_values' });
  });

  it('a held statement that would be refused is refused before a request is filed', async () => {
    expect(await explain('dev', 'create view v as select id from cards')).toMatchObject({ decision: 'hold', rule: 'policy.connections.prod-db.roles.dev.require_approval.ddl' });
    const ex = await explain('dev', 'create view v as select account_no as a from cards');
    expect(ex).toMatchObject({ decision: 'deny', rule: 'masking.stored_values', masking: { rule: 'account' } });
    expect(ex.statements[0]).toMatchObject({ decision: 'deny', rule: 'masking.stored_values' });
  });

  it('an EXECUTE is checked as the statement a PREPARE before it in the text made', async () => {
    const held = await explain('dev', 'prepare p as insert into notes select id from cards; execute p');
    expect(held.masking).toBeUndefined();
    expect(held.statements.map((s) => s.decision)).toEqual(['allow', 'hold']);
    const ex = await explain('dev', 'prepare p as insert into notes select account_no from cards; execute p');
    expect(ex).toMatchObject({ decision: 'deny', rule: 'masking.stored_values', masking: { rule: 'account' } });
    // Policy holds the EXECUTE (explain's fresh session knows no prepared statement); its own text, checked
    // after the PREPARE, stores account numbers (not a text masking cannot read: rule sad).
    expect(ex.statements[1]).toMatchObject({ decision: 'deny', rule: 'masking.stored_values', masking: { rule: 'account' } });
  });

  it('a whole row stored depends on the tables\' columns: the decision stays policy\'s, with a note', async () => {
    const ex = await explain('dev', 'insert into notes select * from cards');
    expect(ex).toMatchObject({ decision: 'allow', rule: 'policy.connections.prod-db.roles.dev.classes', masking: { depends_on_catalog: ['cards'] } });
    expect(ex.masking!.reason).toContain('whole rows of cards');
    expect(ex.statements[0]).toMatchObject({ decision: 'allow', masking: { depends_on_catalog: ['cards'] } });
    const text = formatExplanation(ex);
    expect(text).toContain('decision: allow');
    expect(text).toMatch(/\nmasking: {2}the statement stores whole rows of cards: the broker refuses it \(masking\.stored_values/);
  });

  it('a plain read is unaffected, as is a statement policy denies; the same read stored is refused', async () => {
    for (const sql of ['select cvv, account_no from cards', 'select row_to_json(c) from cards c']) {
      const read = await explain('dev', sql);
      expect(read, sql).toMatchObject({ decision: 'allow', rule: 'policy.connections.prod-db.roles.dev.classes' });
      expect(read.masking, sql).toBeUndefined();
      expect(formatExplanation(read), sql).not.toContain('masking:');
    }
    expect(await explain('dev', 'select cvv as code into t from cards')).toMatchObject({ decision: 'deny', rule: 'masking.stored_values' });
    // Policy's refusal stays the one reported: the broker never gets to masking.
    const denied = await explain('finance', 'create table t as select cvv from cards');
    expect(denied).toMatchObject({ decision: 'deny', rule: 'policy.connections.prod-db.roles.finance.classes' });
    expect(denied.statements[0]!.rule).toBe('policy.connections.prod-db.roles.finance.classes');
  });
});
