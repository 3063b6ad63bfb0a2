/**
 * `pcigate policy explain`, `approvals`, `approve`, `deny` through the built bin in a temporary HOME.
 * Requests are filed with the store API (as a waiting broker would); the commands act as the local OS
 * user, which the config lets stand in (identity.allow_local) and names as an approver subject.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApprovalStore } from '../../src/policy/approvals.js';
import { memoryAudit } from '../harness/memory-audit.js';
import { runCli, tempDir } from '../harness/cli.js';
import { systemClock } from '../../src/cli/ctx.js';

const ME = os.userInfo().username;

function setup(opts: { allowLocal?: boolean } = {}) {
  const dir = tempDir('pcigate-policy-cli-');
  const home = path.join(dir, 'home');
  const config = path.join(dir, 'pcigate.yaml');
  writeFileSync(config, [
    `identity: { allow_local: ${opts.allowLocal ?? true} }`,
    'connections:',
    '  prod-db: { kind: postgres, host: 127.0.0.1, database: app, user: app, sslmode: disable }',
    'policy:',
    '  roles: { support: { groups: [support], subjects: [ann] }, dba: { groups: [dba] } }',
    '  connections:',
    '    prod-db:',
    '      roles:',
    '        support: { classes: [read], columns: { deny: [cards.pan] }, require_approval: [copy_out] }',
    '        dba: { classes: [read, write, ddl], require_approval: [write_without_where] }',
    '',
  ].join('\n'));
  const store = new ApprovalStore({ fs: fsp, clock: systemClock(), home, sink: memoryAudit() });
  const file = (requester: string, subjects: string[]) => store.request({
    connection: 'prod-db', requester: { sub: requester, via: 'oidc' }, reason: 'INC-3',
    sql: "COPY (SELECT pan FROM cards WHERE pan = '4111111111111111') TO STDOUT",
    settings: { groups: ['security'], subjects, minApprovals: 1, expiresMs: 600_000, windowMs: 0 },
  });
  const cli = (args: string[]) => runCli([...args, '--home', home, '--config', config]);
  return { home, config, store, file, cli };
}

function logTypes(home: string): Array<{ type: string; actor?: { sub: string } }> {
  const dir = path.join(home, 'log');
  return readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort()
    .flatMap((f) => readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; actor?: { sub: string } }));
}

describe('pcigate policy explain', () => {
  it('prints the decision and the rule, per statement', async () => {
    const { cli } = setup();
    const r = await cli(['policy', 'explain', 'prod-db', '--as', 'support', 'SELECT id FROM orders; DELETE FROM orders']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('decision: deny');
    expect(r.stdout).toContain('rule:     policy.connections.prod-db.roles.support.classes');
    expect(r.stdout).toContain('[1] ALLOW  SELECT id FROM orders');
    expect(r.stdout).toContain('[2] DENY  DELETE FROM orders');
  });

  it('says when --as names no role\'s group, and --subject when it names a person', async () => {
    const { cli } = setup();
    const r = await cli(['policy', 'explain', 'prod-db', '--as', 'ann', 'SELECT id FROM orders']);
    expect(r.stderr).toContain('no role names group ann; ann is a subject: --subject ann');
    expect(r.stdout).toContain('decision: deny');
    expect((await cli(['policy', 'explain', 'prod-db', '--as', 'nobody', 'SELECT 1'])).stderr).toContain('no role names group nobody\n');
    expect((await cli(['policy', 'explain', 'prod-db', '--as', 'support', 'SELECT 1'])).stderr).not.toContain('no role names');
  });

  it('--json has stable fields; roles are unions', async () => {
    const { cli } = setup();
    const r = await cli(['policy', 'explain', 'prod-db', '--as', 'support', '--as', 'dba', '--json', 'DELETE FROM orders']);
    const j = JSON.parse(r.stdout) as { decision: string; rule: string; roles: string[]; statements: Array<{ kind: string; write_without_where: boolean; role: string }> };
    expect(j.decision).toBe('hold');
    expect(j.rule).toBe('policy.connections.prod-db.roles.dba.require_approval.write_without_where');
    expect(j.roles).toEqual(['dba', 'support']);
    expect(j.statements[0]).toMatchObject({ kind: 'write', write_without_where: true, role: 'dba' });
  });

  it('unparsable SQL, unknown connections and missing identities', async () => {
    const { cli } = setup();
    const bad = await cli(['policy', 'explain', 'prod-db', '--as', 'support', '--json', "SELEC '4111111111111111'"]);
    expect(JSON.parse(bad.stdout)).toMatchObject({ decision: 'deny', rule: 'parse' });
    expect(bad.stdout).not.toContain('4111111111111111');
    const other = await cli(['policy', 'explain', 'nope', '--as', 'support', 'SELECT 1']);
    expect(other.stdout).toContain('rule:     policy.connections\n');
    const who = await cli(['policy', 'explain', 'prod-db', 'SELECT 1']);
    expect(who.code).toBe(2);
  });
});

describe('pcigate approvals / approve / deny', () => {
  it('lists pending requests with the masked statement', async () => {
    const { cli, file } = setup();
    const empty = await cli(['approvals']);
    expect(empty.code).toBe(0);
    expect(empty.stderr).toContain('no approval requests waiting');
    const req = await file('alice', [ME]);
    const r = await cli(['approvals']);
    expect(r.stdout).toContain(req.id);
    expect(r.stdout).toContain('pending');
    expect(r.stdout).not.toContain('4111111111111111');
    const j = JSON.parse((await cli(['approvals', '--json'])).stdout) as Array<{ id: string; hmac: string; requester: { sub: string } }>;
    expect(j[0]).toMatchObject({ id: req.id, hmac: req.hmac, requester: { sub: 'alice' } });
  });

  it('approve by a second identity, recorded in the audit log', async () => {
    const { cli, file, store, home } = setup();
    const req = await file('alice', [ME]);
    const r = await cli(['approve', req.id, '--reason', 'checked']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`approved ${req.id}`);
    expect((await store.get(req.id)).state).toBe('approved');
    const rec = logTypes(home).find((x) => x.type === 'approval.approve');
    expect(rec?.actor?.sub).toBe(ME);
    const again = await cli(['approve', req.id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already approved');
  });

  it('self-approval and approvers outside the list are refused (exit 5)', async () => {
    const { cli, file, store } = setup();
    const mine = await file(ME, [ME]);
    const self = await cli(['approve', mine.id]);
    expect(self.code).toBe(5);
    expect(self.stderr).toContain('separation of duties');
    const theirs = await file('alice', ['someone-else']);
    const outside = await cli(['approve', theirs.id]);
    expect(outside.code).toBe(5);
    expect(outside.stderr).toContain('not an approver for prod-db');
    expect((await store.get(mine.id)).state).toBe('pending');
    expect((await store.get(theirs.id)).state).toBe('pending');
  });

  it('deny needs a reason; denial is final', async () => {
    const { cli, file, store } = setup();
    const req = await file('alice', [ME]);
    expect((await cli(['deny', req.id])).code).toBe(2);
    const r = await cli(['deny', req.id, '--reason', 'use the replica']);
    expect(r.code).toBe(0);
    expect((await store.get(req.id)).denial?.reason).toBe('use the replica');
    expect((await cli(['approve', req.id])).code).toBe(1);
  });

  it('unknown ids fail; without an identity the approver must log in (exit 4)', async () => {
    const { cli } = setup();
    const r = await cli(['approve', 'A-aaaaaaaaaa']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no approval request A-aaaaaaaaaa');
    const s = setup({ allowLocal: false });
    const req = await s.file('alice', [ME]);
    expect((await s.cli(['approve', req.id])).code).toBe(4);
  });
});

describe('a data home made on first use', () => {
  it('takes the configured audit.origin (it was named after the machine whatever the config said)', async () => {
    const dir = tempDir('pcigate-first-use-');
    const config = path.join(dir, 'pcigate.yaml');
    writeFileSync(config, [
      'identity: { allow_local: true }',
      'audit: { origin: payments.example/prod }',
      'connections:',
      '  prod-db: { kind: postgres, host: 127.0.0.1, database: app, user: app, sslmode: disable }',
      '',
    ].join('\n'));
    const home = path.join(dir, 'home');
    const r = await runCli(['approvals', '--home', home, '--config', config]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(path.join(home, 'origin'), 'utf8').trim()).toBe('payments.example/prod');
    const v = await runCli(['verify', '--home', home, '--json']);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(v.stdout).toContain('payments.example/prod');
  });
});
