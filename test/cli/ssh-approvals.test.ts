/**
 * Held SSH commands wait for a just-in-time approval (issue 7, policy `exec.hold`), end to end with two
 * identities in two processes: a CI job (`pcigate exec prod-ssh -- …` with a workload token signed by the
 * in-process OIDC provider) files the request and waits; a person logged in with that provider (listed in the
 * connection's `approvals.subjects`; not the local OS account, which runs the job) approves or denies it with
 * `pcigate approve` / `pcigate deny` while the exec process owns the audit log (records go through the
 * outbox). Approved → the command runs on the real sshd and its output and exit status come back;
 * denied → exit 5; no decision within `approvals.wait` → exit 6. Every step is in the audit log.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLog } from '../harness/audit-records.js';
import { APPROVER } from '../harness/approver-login.js';
import { CI_SUB } from '../harness/ci-job.js';
import { startCiSsh } from '../harness/ci-ssh.js';
import type { CiSsh } from '../harness/ci-ssh.js';
import { tempDir } from '../harness/cli.js';
import { sshdAvailable } from '../harness/sshd.js';

const skip = sshdAvailable();
if (skip) process.stderr.write(`skipping the SSH approval tests: ${skip}\n`);

let ci: CiSsh;
let config: string;

beforeAll(async () => {
  if (skip) return;
  ci = await startCiSsh('pcigate-ssh-approvals-');
  config = ci.writeConfig(['prod-ssh', 'quick-ssh'], [
    'policy:',
    '  connections:',
    `    prod-ssh: { approvals: { subjects: [${APPROVER.email}], wait: 30s } }`,
    `    quick-ssh: { approvals: { subjects: [${APPROVER.email}], wait: 1s } }`,
  ]);
}, 60_000);

afterAll(async () => {
  await ci?.close();
});

/** `pcigate exec` as the CI job (workload token), running in the background; `held` resolves with the request id. */
const ciExec = (home: string, conn: string, command: string[], cfg = config) => ci.exec(cfg, home, conn, command);

const asApprover = (home: string, args: string[], cfg = config) => ci.approver(cfg, home, args);

describe.skipIf(Boolean(skip))('held SSH commands (pcigate exec, real sshd, two identities)', () => {
  it('waits, runs once a second person approves, and records every step', async () => {
    const home = tempDir('pcigate-home-');
    const run = await ciExec(home, 'prod-ssh', ['sh', '-c', 'echo "ran-$((40+2))"; exit 3']);
    const id = await run.held;
    // The requester's own identity cannot approve: a person logged in is the approver, the job is not.
    const ok = await asApprover(home, ['approve', id, '--reason', 'CHG-7 checked']);
    expect(ok.stderr).toContain(`approved ${id}`);
    expect(ok.code).toBe(0);
    const r = await run.done;
    expect(r.stderr).toContain(`an approver runs: pcigate approve ${id}`);
    expect(r.stderr).toContain(`approval ${id} granted by ${APPROVER.email}`);
    expect(r.stdout).toBe('ran-42\n');
    expect(r.code).toBe(3);
    const log = readLog(home);
    const execs = log.filter((x) => x.type === 'ssh.exec');
    expect(execs.map((x) => [x.outcome, (x.detail as { decision: string }).decision])).toEqual([['pending', 'hold'], ['success', 'allow']]);
    expect(execs[1]!.detail).toMatchObject({ approval: id, rule: 'ssh.exec.hold[0]' });
    expect(execs[0]!.actor).toMatchObject({ sub: CI_SUB, via: 'workload' });
    const types = log.map((x) => x.type);
    for (const t of ['approval.request', 'approval.approve', 'approval.use']) expect(types).toContain(t);
    expect(log.find((x) => x.type === 'approval.approve')?.actor?.sub).toBe(APPROVER.sub);
    // The approval is used before the command runs, and the command's session ends with its exit status.
    expect(types.indexOf('approval.use')).toBeLessThan(types.lastIndexOf('ssh.exec'));
    expect(log.find((x) => x.type === 'session.end')?.detail).toMatchObject({ exit: { code: 3 } });
    // Used up: the same command is held again, not run on the old approval.
    const again = await ciExec(home, 'prod-ssh', ['sh', '-c', 'echo "ran-$((40+2))"; exit 3']);
    const id2 = await again.held;
    expect(id2).not.toBe(id);
    expect((await asApprover(home, ['deny', id2, '--reason', 'once was enough'])).code).toBe(0);
    expect((await again.done).code).toBe(5);
  }, 90_000);

  it('under masking.networks any_luhn a private-label card number in a held command reaches neither the request file nor the log', async () => {
    const PRIVATE_LABEL = '1234567812345670'; // Luhn-valid, outside the major networks' ranges
    const cfg = path.join(ci.dir, 'pcigate-any-luhn.yaml');
    writeFileSync(cfg, `${readFileSync(config, 'utf8')}masking:\n  networks: any_luhn\n`, { mode: 0o600 });
    const home = tempDir('pcigate-home-');
    const run = await ciExec(home, 'prod-ssh', ['sh', '-c', `echo card ${PRIVATE_LABEL}`], cfg);
    const id = await run.held;
    const file = readFileSync(path.join(home, 'approvals', `${id}.json`), 'utf8');
    expect(file).toContain('sh -c');
    expect(file).not.toContain(PRIVATE_LABEL);
    expect((await asApprover(home, ['deny', id, '--reason', 'no cards'], cfg)).code).toBe(0);
    expect((await run.done).code).toBe(5);
    const raw = readdirSync(path.join(home, 'log')).map((f) => readFileSync(path.join(home, 'log', f), 'utf8')).join('');
    expect(raw).toContain('approval.request');
    expect(raw).not.toContain(PRIVATE_LABEL);
  }, 90_000);

  it('a denial refuses the command with exit 5 and the approver\'s reason', async () => {
    const home = tempDir('pcigate-home-');
    const run = await ciExec(home, 'prod-ssh', ['sh', '-c', 'echo should-not-run']);
    const id = await run.held;
    const no = await asApprover(home, ['deny', id, '--reason', 'not during the freeze']);
    expect(no.code).toBe(0);
    const r = await run.done;
    expect(r.code).toBe(5);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`approval ${id} was denied by ${APPROVER.email}: not during the freeze`);
    const execs = readLog(home).filter((x) => x.type === 'ssh.exec');
    expect(execs.map((x) => x.outcome)).toEqual(['pending', 'denied']);
    expect(execs[1]!.detail).toMatchObject({ approval: id, approval_state: 'denied' });
    expect(readLog(home).some((x) => x.type === 'approval.deny')).toBe(true);
  }, 60_000);

  it('no decision within approvals.wait: exit 6, the command not run', async () => {
    const home = tempDir('pcigate-home-');
    const run = await ciExec(home, 'quick-ssh', ['sh', '-c', 'echo should-not-run']);
    const id = await run.held;
    const r = await run.done;
    expect(r.code).toBe(6);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`no decision on approval request ${id} within 1s`);
    const execs = readLog(home).filter((x) => x.type === 'ssh.exec');
    expect(execs.map((x) => x.outcome)).toEqual(['pending', 'denied']);
    expect(execs[1]!.detail).toMatchObject({ approval: id, approval_state: 'timeout' });
  }, 60_000);

  it('interrupted: SIGINT while waiting for an approval, SIGTERM while a command runs → exit 130', async () => {
    const home = tempDir('pcigate-home-');
    const waiting = await ciExec(home, 'prod-ssh', ['sh', '-c', 'echo should-not-run']);
    const id = await waiting.held;
    waiting.child.kill('SIGINT');
    const r = await waiting.done;
    expect(r.code).toBe(130);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`pcigate: interrupted: the wait for approval ${id} ended`);
    expect(readLog(home).filter((x) => x.type === 'ssh.exec').at(-1)?.detail).toMatchObject({ approval: id, approval_state: 'aborted' });
    // A CI job cancelled mid-command: pcigate ends (it does not swallow the signal) and says so.
    const running = await ciExec(home, 'prod-ssh', ['sleep', '30']);
    await expect.poll(() => readLog(home).filter((x) => x.type === 'ssh.exec' && x.outcome === 'success').length, { timeout: 15_000 }).toBe(1);
    running.child.kill('SIGTERM');
    const t = await running.done;
    expect(t.code).toBe(130);
    // The session is recorded as ended by pcigate (TERM when sshd honours the signal request, else a hangup).
    // Had pcigate waited for the command instead, `sleep 30` would have ended by itself, with exit code 0.
    expect((readLog(home).filter((x) => x.type === 'session.end').at(-1)?.detail as { exit?: { signal?: string } }).exit?.signal).toMatch(/^(TERM|HUP)$/);
  }, 60_000);
});
