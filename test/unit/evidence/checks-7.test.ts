import { describe, expect, it } from 'vitest';
import type { Actor, AuditEvent } from '../../../recorder/types.js';
import { checks7 } from '../../../src/evidence/checks-7.js';
import type { ProcedureResult, RequirementSection } from '../../../src/evidence/types.js';
import { ALICE, BOB, DB, SAM, SSH, buildInput, csvRows, denied, end, intent, query, start, stepSeq } from './access-input.js';

const proc = (s: RequirementSection, id: string): ProcedureResult => {
  const p = s.procedures.find((x) => x.id === id);
  if (!p) throw new Error(`no procedure ${id}`);
  return p;
};
const rows = (s: RequirementSection, path: string): string[][] => {
  const a = s.artifacts.find((x) => x.path === path);
  if (!a) throw new Error(`no artifact ${path}`);
  return csvRows(a.bytes);
};

/** An approval record as src/policy/approvals.ts writes it. */
function approval(type: string, id: string, actor: Actor, state: string, extra: Record<string, unknown> = {}): AuditEvent {
  const outcome = type === 'approval.request' ? 'pending' : type === 'approval.deny' ? 'denied' : 'success';
  return { type, actor, target: { conn: 'prod-db' }, outcome, session: 's1', detail: { id, kind: 'statement', sha256: 'ab'.repeat(32), sql: 'SELECT number FROM cards', state, ...extra } };
}

describe('checks7: 7.2.1 / 7.2.2 access model', () => {
  it('exports roles → connections → allowed, held and denied classes as the policy engine decides them', async () => {
    const { input } = await buildInput({ steps: [start('s1', ALICE)] });
    const s = checks7(input);
    const model = rows(s, 'req7/access-model.csv');
    const byRole = (conn: string, role: string) => model.find((r) => r[0] === conn && r[3] === role)!;
    expect(byRole('prod-db', 'support').slice(4, 9)).toEqual(['group:support', 'yes', 'read transaction utility', '', 'write ddl dcl copy_out copy_in function unclassifiable']);
    expect(byRole('prod-db', 'support')[12]).toBe('public.cards');
    // dcl is held even though the role lacks the class (judgeStatement: require_approval holds it).
    expect(byRole('prod-db', 'dba').slice(6, 9)).toEqual(['read write ddl copy_out', 'dcl', 'copy_in function transaction utility unclassifiable']);
    expect(byRole('prod-db', 'dba').slice(14, 18)).toEqual(['group:security', '1', '10m', '480m']);
    expect(byRole('prod-db', '(any other identity)')[8]).toMatch(/every statement/);
    const ssh = byRole('prod-ssh', '(any identity on the connection)');
    expect(ssh.slice(6, 8)).toEqual(['interactive shell exec:systemctl status * env:LANG env:LC_*', 'exec:systemctl restart *']);
    expect(ssh[8]).toContain('exec:rm *');
    // Environment requests (allow.env): the default names allowed, every other name and the unsafe ones refused.
    expect(ssh[8]).toContain('env:(any other variable)');
    expect(ssh[8]).toMatch(/env:LD_\*,.*BASH_ENV,.*,PATH,.* \(always\)/);
    expect(proc(s, '7.2.1')).toMatchObject({ status: 'evidence', figures: { connections: 2, role_grants: 2, connections_without_policy: 0 } });
    const p722 = proc(s, '7.2.2');
    expect(p722.figures.grants_with_ddl_or_dcl).toBe(1);
    expect(p722.result).toContain('DDL or DCL allowed without approval for dba@prod-db');
    expect(rows(s, 'req7/roles.csv')).toContainEqual(['dba', '', 'dba', '', 'prod-db', '']);
  });
});

describe('checks7: 7.2.3 approvals', () => {
  it('finds evidence when every approver differs from the requester and uses follow approvals', async () => {
    const { input } = await buildInput({
      steps: [
        approval('approval.request', 'A-aaaaaaaaaa', ALICE, 'pending', { rule: 'policy.connections.prod-db.roles.support.approval_tables' }),
        approval('approval.approve', 'A-aaaaaaaaaa', SAM, 'approved', { approvals: 1, min_approvals: 1 }),
        approval('approval.use', 'A-aaaaaaaaaa', ALICE, 'used', { uses: 1 }),
        approval('approval.request', 'A-bbbbbbbbbb', ALICE, 'pending'),
        approval('approval.deny', 'A-bbbbbbbbbb', SAM, 'denied', { approver_reason: 'no ticket' }),
      ],
    });
    const s = checks7(input);
    expect(proc(s, '7.2.3')).toMatchObject({ status: 'evidence', figures: { requests: 2, approvals: 1, self_approvals: 0, uses_without_approval: 0 } });
    const csv = rows(s, 'req7/approvals.csv');
    expect(csv[1]!.slice(0, 4)).toEqual(['A-aaaaaaaaaa', 'statement', 'prod-db', 'alice-1']);
    expect(csv[1]!.slice(5, 12)).toEqual(['policy.connections.prod-db.roles.support.approval_tables', 'sam-3', csv[1]![7], '', 'used', '1', 'yes']);
    expect(csv[2]!.slice(8, 10)).toEqual(['sam-3', 'denied']);
  });

  it('is an exception for a self-approval (same e-mail, other subject) and for a use without approval', async () => {
    const bobAgain: Actor = { ...BOB, sub: 'bob-other-idp', idp: 'https://other.example.com', email: 'BOB@example.com' };
    const { input } = await buildInput({
      steps: [
        approval('approval.request', 'A-cccccccccc', BOB, 'pending'),
        approval('approval.approve', 'A-cccccccccc', bobAgain, 'approved'),
        approval('approval.request', 'A-dddddddddd', ALICE, 'pending'),
        approval('approval.use', 'A-dddddddddd', ALICE, 'used'),
      ],
    });
    const p = proc(checks7(input), '7.2.3');
    expect(p.status).toBe('exception');
    expect(p.figures).toMatchObject({ self_approvals: 1, uses_without_approval: 1 });
    expect(p.result).toContain('approved by their own requester: A-cccccccccc');
    expect(p.result).toContain('used without a prior approval: A-dddddddddd');
  });

  it('lists approval.tamper findings and is an exception for them, without counting them as requests', async () => {
    const system: Actor = { sub: 'pcigate', via: 'system' };
    const tamper = (id: string, detail: Record<string, unknown>): AuditEvent => ({ type: 'approval.tamper', actor: system, target: { conn: 'prod-db' }, outcome: 'failure', detail: { id, file: `approvals/${id}.json`, ...detail } });
    const { input } = await buildInput({
      steps: [
        approval('approval.request', 'A-eeeeeeeeee', ALICE, 'pending'),
        approval('approval.approve', 'A-eeeeeeeeee', SAM, 'approved'),
        approval('approval.use', 'A-eeeeeeeeee', ALICE, 'used'),
        tamper('A-eeeeeeeeee', { finding: 'behind_log', file_state: 'approved', logged_state: 'used', logged_type: 'approval.use', logged_seq: 5 }),
        { ...tamper('A-ffffffffff', { finding: 'name_mismatch', holds: 'A-eeeeeeeeee' }), target: undefined },
      ],
    });
    const s = checks7(input);
    const p = proc(s, '7.2.3');
    expect(p).toMatchObject({ status: 'exception', figures: { requests: 1, self_approvals: 0, uses_without_approval: 0, tamper_findings: 2 } });
    expect(p.result).toContain('2 request files refused as handled outside pcigate');
    expect(p.result).toContain('A-eeeeeeeeee (behind_log), A-ffffffffff (name_mismatch)');
    expect(p.evidence).toContain('req7/approval-tamper.csv');
    const csv = rows(s, 'req7/approval-tamper.csv');
    expect(csv[0]).toEqual(['seq', 'ts', 'id', 'file', 'connection', 'finding', 'file_state', 'logged_state', 'logged_type', 'logged_seq', 'holds']);
    expect(csv.slice(1).map((r) => r.slice(2))).toEqual([
      ['A-eeeeeeeeee', 'approvals/A-eeeeeeeeee.json', 'prod-db', 'behind_log', 'approved', 'used', 'approval.use', '5', ''],
      ['A-ffffffffff', 'approvals/A-ffffffffff.json', '', 'name_mismatch', '', '', '', '', 'A-eeeeeeeeee'],
    ]);
    // Not a request: the renamed file's name makes no row of its own in approvals.csv.
    expect(rows(s, 'req7/approvals.csv').map((r) => r[0])).toEqual(['id', 'A-eeeeeeeeee']);
  });

  it('is manual when the period holds no approvals', async () => {
    const { input } = await buildInput({ steps: [start('s1', ALICE)] });
    expect(proc(checks7(input), '7.2.3').status).toBe('manual');
  });
});

describe('checks7: 7.2.6 a recorded decision for every statement', () => {
  it('counts allowed (after an intent), denied (with a rule) and cardholder statements', async () => {
    const { input } = await buildInput({
      steps: [
        start('s1', ALICE),
        intent('s1', ALICE, 1, 'SELECT number FROM cards'), query('s1', ALICE, 1, 'SELECT number FROM cards', stepSeq(1)),
        denied('s1', ALICE, 2, 'DELETE FROM cards', 'policy.connections.prod-db.roles.support.classes'),
        intent('s1', ALICE, 3, 'SELECT 1'),
        // An older record without intent_seq: matched to the intent of the same session and statement number.
        { ...query('s1', ALICE, 3, 'SELECT 1', null), detail: { n: 3, sql: 'SELECT 1', command: 'select' } },
      ],
    });
    const s = checks7(input);
    expect(proc(s, '7.2.6')).toMatchObject({ status: 'evidence', figures: { statements: 3, allowed: 2, denied: 1, without_decision: 0, cardholder_statements: 2 } });
    expect(rows(s, 'req7/query-decisions.csv')[1]).toEqual(['prod-db', '3', '2', '1', '0', '2', '0']);
  });

  it('is an exception when a statement ran with no recorded allow', async () => {
    const { input, seqs } = await buildInput({
      steps: [start('s1', ALICE), query('s1', ALICE, 1, 'SELECT number FROM cards', null), intent('s2', BOB, 1, 'SELECT 2'), query('s1', ALICE, 2, 'SELECT 2', stepSeq(2))],
    });
    const p = proc(checks7(input), '7.2.6');
    expect(p.status).toBe('exception');
    // The second query points at an intent of another session: not its decision.
    expect(p.figures).toMatchObject({ statements: 2, without_decision: 2, allowed: 0 });
    expect(p.result).toContain(`seq ${seqs[1]}, ${seqs[3]}`);
    expect(p.limits).toMatch(/direct database/);
  });
});

describe('checks7: 7.2.5 the accounts pcigate uses on its targets', () => {
  it('lists each account with its sessions, and is an exception for a database superuser or an SSH login as root', async () => {
    const ROOT = { ...SSH, user: 'root' };
    const { input } = await buildInput({
      steps: [
        start('s1', ALICE), end('s1', ALICE, DB, { upstream_superuser: true }),
        start('s2', BOB), end('s2', BOB, DB, { upstream_superuser: true }),
        start('s3', ALICE, SSH), end('s3', ALICE, SSH),
        start('s4', BOB, ROOT), end('s4', BOB, ROOT),
      ],
    });
    const s = checks7(input);
    const p = proc(s, '7.2.5');
    expect(p).toMatchObject({ status: 'exception', figures: { accounts: 3, superuser_accounts: 2, unreported_accounts: 0 } });
    expect(p.result).toContain('all-powerful on the target: app@prod-db, root@prod-ssh');
    const r = rows(s, 'req7/service-accounts.csv');
    expect(r[0]).toEqual(['connection', 'kind', 'account', 'sessions', 'sessions_as_superuser', 'sessions_not_reported', 'first_use', 'last_use']);
    expect(r.slice(1).map((x) => x.slice(0, 6))).toEqual([
      ['prod-db', 'postgres', 'app', '2', '2', '0'],
      ['prod-ssh', 'ssh', 'deploy', '1', '0', '0'],
      ['prod-ssh', 'ssh', 'root', '1', '1', '0'],
    ]);
  });

  it('is evidence when no account is all-powerful; manual when the server did not say for some, which it names', async () => {
    const plain = await buildInput({ steps: [start('s1', ALICE), end('s1', ALICE, DB, { upstream_superuser: false })] });
    expect(proc(checks7(plain.input), '7.2.5')).toMatchObject({ status: 'evidence', figures: { accounts: 1, superuser_accounts: 0, unreported_accounts: 0 } });
    const { input } = await buildInput({
      steps: [start('s1', ALICE), end('s1', ALICE, DB, { upstream_superuser: false }), start('s2', BOB), end('s2', BOB, DB)],
    });
    const p = proc(checks7(input), '7.2.5');
    expect(p).toMatchObject({ status: 'manual', figures: { accounts: 1, superuser_accounts: 0, unreported_accounts: 1 } });
    expect(p.result).toContain('none a superuser or root; not reported by the server');
  });

  it('has nothing to examine without sessions', async () => {
    const { input } = await buildInput({ steps: [start('s1', ALICE)] });
    expect(proc(checks7(input), '7.2.5').status).toBe('manual');
  });
});

describe('checks7: 7.2.4 access review', () => {
  it('lists each identity with roles, connections, sessions, statements, denials, first and last use', async () => {
    const { input } = await buildInput({
      steps: [
        start('s1', ALICE), intent('s1', ALICE, 1, 'SELECT 1'), query('s1', ALICE, 1, 'SELECT 1', stepSeq(1)), denied('s1', ALICE, 2, 'DELETE FROM cards', 'r'), end('s1', ALICE),
        start('s2', BOB, SSH), { type: 'ssh.exec', session: 's2', actor: BOB, target: SSH, outcome: 'success', detail: { request: { kind: 'exec', command: 'systemctl status app' } } }, end('s2', BOB, SSH),
        { type: 'checkpoint', actor: { sub: 'pcigate', via: 'system' }, target: { kind: 'log' } },
      ],
    });
    const s = checks7(input);
    const review = rows(s, 'req7/access-review.csv');
    expect(review[0]).toEqual(['sub', 'email', 'idp', 'via', 'groups', 'roles', 'connections', 'sessions', 'statements', 'commands', 'denials', 'first_use', 'last_use']);
    expect(review).toHaveLength(3);
    expect(review[1]!.slice(0, 11)).toEqual(['alice-1', 'alice@example.com', 'https://idp.example.com', 'oidc', 'support', 'support', 'prod-db', '1', '1', '0', '1']);
    expect(review[1]![11]! < review[1]![12]!).toBe(true);
    expect(review[2]!.slice(5, 11)).toEqual(['dba', 'prod-ssh', '1', '0', '1', '0']);
    expect(proc(s, '7.2.4')).toMatchObject({ status: 'manual', figures: { identities: 2, sessions: 2 } });
  });
});
