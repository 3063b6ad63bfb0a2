/**
 * Session-level policy for SSH through the built bin (`pcigate exec NAME -- CMD`, real sshd):
 * `session.allowed_hours` refuses a session outside its window (exit 5, `session.denied`, nothing run on
 * the host); `session.require_approval` makes a CI job (workload token) wait at session start for an
 * approval by a person logged in with OIDC (`pcigate approve` while the exec owns the log): approved → the command
 * runs; no decision within approvals.wait → exit 6.
 */
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLog } from '../harness/audit-records.js';
import { APPROVER } from '../harness/approver-login.js';
import { CI_SUB } from '../harness/ci-job.js';
import { startCiSsh } from '../harness/ci-ssh.js';
import type { CiSsh } from '../harness/ci-ssh.js';
import { runCli, tempDir } from '../harness/cli.js';
import { sshdAvailable } from '../harness/sshd.js';

const skip = sshdAvailable();
if (skip) process.stderr.write(`skipping the SSH session-policy tests: ${skip}\n`);
const OS_USER = os.userInfo().username;
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

let ci: CiSsh;
let config: string;

beforeAll(async () => {
  if (skip) return;
  ci = await startCiSsh('pcigate-ssh-session-policy-');
  config = ci.writeConfig(['prod-ssh', 'quick-ssh', 'closed-ssh'], [
    'policy:',
    '  roles:',
    `    dev: { subjects: [${OS_USER}, "${CI_SUB}"] }`,
    '  connections:',
    `    prod-ssh: { session: { require_approval: true }, approvals: { subjects: [${APPROVER.email}], wait: 30s }, roles: { dev: {} } }`,
    `    quick-ssh: { session: { require_approval: true }, approvals: { subjects: [${APPROVER.email}], wait: 1s }, roles: { dev: {} } }`,
    `    closed-ssh: { session: { allowed_hours: { from: "00:00", to: "00:00", days: [${DAYS.filter((_, i) => i !== new Date().getUTCDay()).join(', ')}], tz: UTC } }, roles: { dev: {} } }`,
  ]);
}, 60_000);

afterAll(async () => {
  await ci?.close();
});

/** `pcigate exec` as the CI job (workload token), running in the background; `held` resolves with the request id. */
const ciExec = (home: string, conn: string, command: string[]) => ci.exec(config, home, conn, command);

const asApprover = (home: string, args: string[]) => ci.approver(config, home, args);

describe.skipIf(Boolean(skip))('SSH session policy (pcigate exec, real sshd)', () => {
  it('refuses a session outside allowed_hours: exit 5, session.denied, nothing run', async () => {
    const home = tempDir('pcigate-home-');
    const r = await runCli(['exec', '--config', config, '--home', home, 'closed-ssh', '--', 'echo', 'should-not-run'], { home, timeoutMs: 30_000 });
    expect(r.stdout).not.toContain('should-not-run');
    expect(r.stderr).toContain('policy.connections.closed-ssh.session.allowed_hours');
    expect(r.code).toBe(5);
    const log = readLog(home);
    expect(log.some((x) => x.type === 'session.start')).toBe(false);
    expect(log.find((x) => x.type === 'session.denied')).toMatchObject({ outcome: 'denied', target: { conn: 'closed-ssh', kind: 'ssh' }, detail: { reason: 'allowed_hours' } });
  });

  it('holds the session start for an approval, then runs the command', async () => {
    const home = tempDir('pcigate-home-');
    const run = await ciExec(home, 'prod-ssh', ['echo', 'session-approved']);
    const id = await run.held;
    const ok = await asApprover(home, ['approve', id]);
    expect(ok.code).toBe(0);
    const r = await run.done;
    expect(r.stderr).toContain(`prod-ssh needs an approval to connect: waiting for approval ${id}`);
    expect(r.stdout).toBe('session-approved\n');
    expect(r.code).toBe(0);
    const types = readLog(home).map((x) => x.type);
    expect(types.indexOf('approval.use')).toBeLessThan(types.indexOf('session.start'));
  }, 60_000);

  it('no decision within approvals.wait: exit 6, session.denied approval_timeout', async () => {
    const home = tempDir('pcigate-home-');
    const run = await ciExec(home, 'quick-ssh', ['echo', 'never']);
    const id = await run.held;
    const r = await run.done;
    expect(r.stdout).not.toContain('never');
    expect(r.code).toBe(6);
    expect(readLog(home).find((x) => x.type === 'session.denied')).toMatchObject({ detail: { reason: 'approval_timeout', approval: id } });
  }, 60_000);
});
