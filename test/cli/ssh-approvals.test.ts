/**
 * Held SSH commands wait for a just-in-time approval (issue 7, policy `exec.hold`), end to end with two
 * identities in two processes: a CI job (`pcigate exec prod-ssh -- …` with a workload token signed by the
 * in-process OIDC provider) files the request and waits; the local OS account (allowed by
 * `identity.allow_local`, listed in the connection's `approvals.subjects`) approves or denies it with
 * `pcigate approve` / `pcigate deny` while the exec process owns the audit log (records go through the
 * outbox). Approved → the command runs on the real sshd and its output and exit status come back;
 * denied → exit 5; no decision within `approvals.wait` → exit 6. Every step is in the audit log.
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
if (skip) process.stderr.write(`skipping the SSH approval tests: ${skip}\n`);
const OS_USER = os.userInfo().username;
const CI_SUB = 'repo:org/payments:ref:refs/heads/main';

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
  dir = tempDir('pcigate-ssh-approvals-');
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
    'policy:',
    '  connections:',
    `    prod-ssh: { approvals: { subjects: [${OS_USER}], wait: 30s } }`,
    `    quick-ssh: { approvals: { subjects: [${OS_USER}], wait: 1s } }`,
    '',
  ].join('\n'), { mode: 0o600 });
}, 60_000);

afterAll(async () => {
  await oidc?.close();
  await sshd?.stop();
});

/** `pcigate exec` as the CI job (workload token), running in the background; `held` resolves with the request id. */
async function ciExec(home: string, conn: string, command: string[], cfg = config) {
  const now = Math.floor(Date.now() / 1000);
  const token = await oidc.sign({ iss: oidc.issuer, aud: AUDIENCE, sub: CI_SUB, repository: 'org/payments', iat: now, exp: now + 300 }, { typ: 'JWT' });
  const child = spawn(process.execPath, [BIN, 'exec', '--config', cfg, '--home', home, conn, '--', ...command], {
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

const asApprover = (home: string, args: string[], cfg = config) => runCli([...args, '--home', home, '--config', cfg], { home: tempDir('pcigate-approver-'), timeoutMs: 30_000 });

describe.skipIf(Boolean(skip))('held SSH commands (pcigate exec, real sshd, two identities)', () => {
  it('waits, runs once a second person approves, and records every step', async () => {
    const home = tempDir('pcigate-home-');
    const run = await ciExec(home, 'prod-ssh', ['sh', '-c', 'echo "ran-$((40+2))"; exit 3']);
    const id = await run.held;
    // The requester's own identity cannot approve: the OS account is the approver, the job is not.
    const ok = await asApprover(home, ['approve', id, '--reason', 'CHG-7 checked']);
    expect(ok.stderr).toContain(`approved ${id}`);
    expect(ok.code).toBe(0);
    const r = await run.done;
    expect(r.stderr).toContain(`an approver runs: pcigate approve ${id}`);
    expect(r.stderr).toContain(`approval ${id} granted by ${OS_USER}`);
    expect(r.stdout).toBe('ran-42\n');
    expect(r.code).toBe(3);
    const log = readLog(home);
    const execs = log.filter((x) => x.type === 'ssh.exec');
    expect(execs.map((x) => [x.outcome, (x.detail as { decision: string }).decision])).toEqual([['pending', 'hold'], ['success', 'allow']]);
    expect(execs[1]!.detail).toMatchObject({ approval: id, rule: 'ssh.exec.hold[0]' });
    expect(execs[0]!.actor).toMatchObject({ sub: CI_SUB, via: 'workload' });
    const types = log.map((x) => x.type);
    for (const t of ['approval.request', 'approval.approve', 'approval.use']) expect(types).toContain(t);
    expect(log.find((x) => x.type === 'approval.approve')?.actor?.sub).toBe(OS_USER);
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
    const cfg = path.join(dir, 'pcigate-any-luhn.yaml');
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
    expect(r.stderr).toContain(`approval ${id} was denied by ${OS_USER}: not during the freeze`);
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
    const started = Date.now();
    running.child.kill('SIGTERM');
    const t = await running.done;
    expect(t.code).toBe(130);
    expect(Date.now() - started).toBeLessThan(10_000);
    // The session is recorded as ended by pcigate (TERM when sshd honours the signal request, else a hangup).
    expect((readLog(home).filter((x) => x.type === 'session.end').at(-1)?.detail as { exit?: { signal?: string } }).exit?.signal).toMatch(/^(TERM|HUP)$/);
  }, 60_000);
});
