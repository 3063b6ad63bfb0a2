/**
 * Session-level policy for SSH through the built bin (`pcigate exec NAME -- CMD`, real sshd):
 * `session.allowed_hours` refuses a session outside its window (exit 5, `session.denied`, nothing run on
 * the host); `session.require_approval` makes a CI job (workload token) wait at session start for an
 * approval by the local OS account (`pcigate approve` while the exec owns the log): approved → the command
 * runs; no decision within approvals.wait → exit 6.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../recorder/types.js';
import { BIN, runCli, tempDir } from '../harness/cli.js';
import { AUDIENCE, startOidcProvider } from '../harness/oidc.js';
import type { OidcHarness } from '../harness/oidc.js';
import { startSshd, sshdAvailable } from '../harness/sshd.js';
import type { Sshd } from '../harness/sshd.js';

const skip = sshdAvailable();
if (skip) process.stderr.write(`skipping the SSH session-policy tests: ${skip}\n`);
const OS_USER = os.userInfo().username;
const CI_SUB = 'repo:org/payments:ref:refs/heads/main';
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

let sshd: Sshd;
let oidc: OidcHarness;
let dir: string;
let config: string;

function readLog(home: string): AuditRecord[] {
  const logDir = path.join(home, 'log');
  return readdirSync(logDir).filter((f) => f.endsWith('.jsonl')).sort()
    .flatMap((f) => readFileSync(path.join(logDir, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRecord));
}

beforeAll(async () => {
  if (skip) return;
  sshd = await startSshd();
  oidc = await startOidcProvider();
  dir = tempDir('pcigate-ssh-session-policy-');
  config = path.join(dir, 'pcigate.yaml');
  const keyFile = path.join(dir, 'ssh_key');
  writeFileSync(keyFile, sshd.clientKey, { mode: 0o600 });
  const conn = (name: string) => [
    `  ${name}:`,
    '    kind: ssh',
    `    host: ${sshd.host}`,
    `    port: ${sshd.port}`,
    `    user: ${sshd.user}`,
    `    private_key: file:${keyFile}`,
    `    host_key: "${sshd.hostKeyFingerprint}"`,
    '    allow:',
    '      exec: { allow: ["echo *", "sleep *"], hold: ["sh -c *"], deny: ["rm *"] }',
    '    workload:',
    `      - { issuer: "${oidc.issuer}", claims: { repository: org/payments } }`,
  ];
  writeFileSync(config, [
    'identity:',
    '  allow_local: true',
    'connections:',
    ...conn('prod-ssh'),
    ...conn('quick-ssh'),
    ...conn('closed-ssh'),
    'policy:',
    '  roles:',
    `    dev: { subjects: [${OS_USER}, "${CI_SUB}"] }`,
    '  connections:',
    `    prod-ssh: { session: { require_approval: true }, approvals: { subjects: [${OS_USER}], wait: 30s }, roles: { dev: {} } }`,
    `    quick-ssh: { session: { require_approval: true }, approvals: { subjects: [${OS_USER}], wait: 1s }, roles: { dev: {} } }`,
    `    closed-ssh: { session: { allowed_hours: { from: "00:00", to: "00:00", days: [${DAYS.filter((_, i) => i !== new Date().getUTCDay()).join(', ')}], tz: UTC } }, roles: { dev: {} } }`,
    '',
  ].join('\n'), { mode: 0o600 });
}, 60_000);

afterAll(async () => {
  await oidc?.close();
  await sshd?.stop();
});

/** `pcigate exec` as the CI job (workload token), running in the background; `held` resolves with the request id. */
async function ciExec(home: string, conn: string, command: string[]) {
  const now = Math.floor(Date.now() / 1000);
  const token = await oidc.sign({ iss: oidc.issuer, aud: AUDIENCE, sub: CI_SUB, repository: 'org/payments', iat: now, exp: now + 300 }, { typ: 'JWT' });
  const child = spawn(process.execPath, [BIN, 'exec', '--config', config, '--home', home, conn, '--', ...command], {
    cwd: home, env: { PATH: process.env.PATH ?? '', HOME: home, NO_COLOR: '1', PCIGATE_ID_TOKEN: token, ...(process.env.DBG ? { PCIGATE_DEBUG: '1' } : {}) }, stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end();
  let stdout = '';
  let stderr = '';
  let onErr: (() => void) | undefined;
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); onErr?.(); });
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => child.on('close', (code, signal) => { clearTimeout(killer); resolve({ code, signal, stdout, stderr }); }));
  const held = new Promise<string>((resolve, reject) => {
    onErr = () => { const m = /waiting for approval (A-[a-z2-7]{10})/.exec(stderr); if (m) resolve(m[1]!); };
    void done.then(() => reject(new Error(`exec ended before asking for an approval: ${stderr}`)));
  });
  held.catch(() => undefined); // only the tests that wait for a hold look at it
  return { held, done, child };
}

const asApprover = (home: string, args: string[]) => runCli([...args, '--home', home, '--config', config], { home: tempDir('pcigate-approver-'), timeoutMs: 30_000 });

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
