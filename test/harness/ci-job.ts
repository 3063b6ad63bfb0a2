/**
 * A CI job and an approver as two processes of the built bin: `pcigate exec` with a workload token signed by the
 * in-process OIDC provider (test/harness/oidc.ts), waiting for an approval, and a person logged in with that
 * provider deciding it with `pcigate approve` / `pcigate deny` while the job's process owns the audit log.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { BIN, runCli, tempDir } from './cli.js';
import type { CliResult } from './cli.js';
import { approverConfigFor, ensureApproverLogin } from './approver-login.js';
import { AUDIENCE } from './oidc.js';
import type { OidcHarness } from './oidc.js';

/** The CI job's subject (a GitHub Actions job of org/payments on main); its token also carries `repository: org/payments`. */
export const CI_SUB = 'repo:org/payments:ref:refs/heads/main';

/** Config lines (indented as a connection's fields) that let the CI job in on a connection as a workload of `oidc`. */
export const ciWorkloadYaml = (oidc: OidcHarness): string[] => ['workload:', `  - { issuer: "${oidc.issuer}", claims: { repository: org/payments } }`];

/** How a `pcigate exec` run ended and what it printed. */
export interface CiExit { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** A `pcigate exec` run as the CI job, in the background. */
export interface CiRun {
  /** Resolves with the approval request's id once the job waits for one; rejects if it ends first. */
  held: Promise<string>;
  done: Promise<CiExit>;
  child: ChildProcess;
}

/** A fresh token of the CI job (5 minutes, a jti of its own: a workload token is good for one run). */
export function ciJobToken(oidc: OidcHarness): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return oidc.sign({ iss: oidc.issuer, aud: AUDIENCE, sub: CI_SUB, repository: 'org/payments', iat: now, exp: now + 300, jti: randomUUID() }, { typ: 'JWT' });
}

/**
 * Runs `pcigate exec --config CONFIG --home HOME ARGS…` as the CI job (a fresh token of `oidc` in
 * PCIGATE_ID_TOKEN, `env` added; PCIGATE_DEBUG when DBG is set), its stdin closed, killed after 60 s.
 */
export async function execAsCiJob(oidc: OidcHarness, o: { config: string; home: string; args: string[]; env?: Record<string, string> }): Promise<CiRun> {
  const token = await ciJobToken(oidc);
  const child = spawn(process.execPath, [BIN, 'exec', '--config', o.config, '--home', o.home, ...o.args], {
    cwd: o.home,
    env: { PATH: process.env.PATH ?? '', HOME: o.home, NO_COLOR: '1', PCIGATE_ID_TOKEN: token, ...(process.env.DBG ? { PCIGATE_DEBUG: '1' } : {}), ...o.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end();
  let stdout = '';
  let stderr = '';
  let onErr: (() => void) | undefined;
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); onErr?.(); });
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const done = new Promise<CiExit>((resolve) => child.on('close', (code, signal) => { clearTimeout(killer); resolve({ code, signal, stdout, stderr }); }));
  const held = new Promise<string>((resolve, reject) => {
    onErr = () => { const m = /waiting for approval (A-[a-z2-7]{10})/.exec(stderr); if (m) resolve(m[1]!); };
    void done.then(() => reject(new Error(`exec ended before asking for an approval: ${stderr}`)));
  });
  held.catch(() => undefined); // only the tests that wait for a hold look at it
  return { held, done, child };
}

/**
 * Runs `pcigate ARGS --home HOME` as the approver, from a HOME of its own: a person logged in with `oidc`
 * (APPROVER, saved in the data home) under the approver's copy of CONFIG (approverConfigFor). Not the local OS
 * account: it runs the job too, and cannot decide the job's requests (separation of duties).
 */
export async function runAsApprover(oidc: OidcHarness, config: string, home: string, args: string[]): Promise<CliResult> {
  await ensureApproverLogin(oidc, home);
  return runCli([...args, '--home', home, '--config', approverConfigFor(config, oidc)], { home: tempDir('pcigate-approver-'), timeoutMs: 30_000 });
}
