/**
 * What an approver sees is what runs, through the built bin: a requester's statement that tries to hide its
 * dangerous part from the approver — a long comment before `; DROP …`, 500 spaces, ANSI escapes and a
 * carriage return that repaint the line, a bidi override that reorders it — is shown so the dangerous part
 * is visible: `pcigate approvals` escapes unsafe characters and, for a statement longer than its cell, shows
 * its head and tail with the number of characters between; `pcigate approve` / `deny` print the request
 * in full (escaped, long blank runs counted) before acting.
 */
import { writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/cli/ctx.js';
import { ApprovalStore } from '../../src/policy/approvals.js';
import { runCli, tempDir } from '../harness/cli.js';
import { memoryAudit } from '../harness/memory-audit.js';

const OS_USER = os.userInfo().username;

async function setup(sqls: string[]) {
  const home = tempDir('pcigate-approvals-display-');
  const config = path.join(home, 'pcigate.yaml');
  writeFileSync(config, 'identity: { allow_local: true }\n', { mode: 0o600 });
  const store = new ApprovalStore({ fs: fsp, clock: systemClock(), home, sink: memoryAudit() });
  const ids: string[] = [];
  for (const sql of sqls) {
    ids.push((await store.request({
      connection: 'prod-db', requester: { sub: 'u-mallory', email: 'mallory@example.com', via: 'oidc' }, sql,
      settings: { groups: [], subjects: [OS_USER], minApprovals: 1, expiresMs: 600_000, windowMs: 0 },
    })).id);
  }
  const cli = (args: string[]) => runCli([...args, '--home', home, '--config', config], { home, timeoutMs: 30_000 });
  return { ids, cli };
}

// eslint-disable-next-line no-control-regex -- looking for raw control characters is the point
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe('the approver sees what runs', () => {
  it('pcigate approvals: a long statement shows its end, escapes cannot repaint the row', async () => {
    const { ids, cli } = await setup([
      `select 1 /* ${'x'.repeat(500)} */; drop table cards`,
      'select 1;\r\u001b[2K drop table orders',
      'select 1 -- \u202e; drop table x',
    ]);
    const r = await cli(['approvals']);
    expect(r.code).toBe(0);
    const rows = r.stdout.split('\n');
    const long = rows.find((l) => l.startsWith(ids[0]!))!;
    expect(long).toContain('drop table cards');
    expect(long).toMatch(/…\[\+\d+ chars\]…/);
    const esc = rows.find((l) => l.startsWith(ids[1]!))!;
    expect(esc).toContain('drop table orders');
    expect(r.stdout).not.toMatch(RAW_CONTROL);
    expect(esc).toContain('select 1; \\u001b[2K drop table orders');
    expect(rows.find((l) => l.startsWith(ids[2]!))).toContain('select 1 -- \\u202e; drop table x');
  });

  it('pcigate approve prints the whole statement, 500 blanks counted, before approving it', async () => {
    const { ids, cli } = await setup([`select 1${' '.repeat(500)}; drop table cards`, `select 2;\r\u001b[2K select 3`]);
    const r = await cli(['approve', ids[0]!]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('statement:\n  select 1 ⟨500 blanks⟩ ; drop table cards');
    expect(r.stderr).toContain('by mallory@example.com');
    const d = await cli(['deny', ids[1]!, '--reason', 'no']);
    expect(d.code).toBe(0);
    expect(d.stderr).toContain('select 2;\\u000d\\u001b[2K select 3');
    expect(d.stderr).not.toMatch(RAW_CONTROL);
  });
});
