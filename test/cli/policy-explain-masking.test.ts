/**
 * `pcigate policy explain` through the built bin: a statement policy allows that the broker refuses because it
 * would store a masked column's values elsewhere (rule `masking.stored_values`), in JSON and as text.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../harness/cli.js';

describe('pcigate policy explain: masking.stored_values', () => {
  it('denies a copy of a masked column and notes a whole row that depends on the catalog', async () => {
    const dir = tempDir('pcigate-explain-masking-');
    const config = path.join(dir, 'pcigate.yaml');
    writeFileSync(config, [
      'connections:',
      '  prod-db: { kind: postgres, host: 127.0.0.1, database: app, user: app, sslmode: disable }',
      'masking:',
      '  rules: [{ name: account, columns: [account_no], format: full }]',
      'policy:',
      '  roles: { dba: { groups: [dba] } }',
      '  connections:',
      '    prod-db: { roles: { dba: { classes: [read, write] } } }',
      '',
    ].join('\n'));
    const cli = (args: string[]) => runCli(['policy', 'explain', 'prod-db', '--as', 'dba', ...args, '--home', path.join(dir, 'home'), '--config', config]);
    const copy = await cli(['--json', 'select id from cards; insert into notes (body) select account_no from cards']);
    expect(copy.code).toBe(0);
    const j = JSON.parse(copy.stdout) as { decision: string; rule: string; masking: { rule: string }; statements: Array<{ decision: string; rule: string }> };
    expect(j).toMatchObject({ decision: 'deny', rule: 'masking.stored_values', masking: { rule: 'account' } });
    expect(j.statements.map((s) => s.decision)).toEqual(['allow', 'deny']);
    const whole = await cli(['insert into notes select * from cards']);
    expect(whole.code).toBe(0);
    expect(whole.stdout).toContain('decision: allow\n');
    expect(whole.stdout).toContain('masking:  the statement stores whole rows of cards: the broker refuses it (masking.stored_values, masking rule sad)');
  });
});
