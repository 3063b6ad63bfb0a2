/** Spawns the built bin/pcigate.js in a temporary HOME and collects stdout, stderr and the exit code. */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(ROOT, 'bin', 'pcigate.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function tempDir(prefix = 'pcigate-test-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function runCli(
  args: string[],
  opts: { env?: Record<string, string | undefined>; cwd?: string; input?: string; home?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  const home = opts.home ?? tempDir('pcigate-home-');
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ PATH: process.env.PATH, HOME: home, NO_COLOR: '1', ...opts.env })) {
    if (v !== undefined) env[k] = v;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? home, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** `pcigate connect NAME --listen --json` running from the built bin, and an SSH_ASKPASS script that answers its password. */
export interface SshListener { child: ChildProcess; port: number; err: () => string; exited: Promise<number | null>; askpass: string }

/**
 * Starts `pcigate connect --config CONFIG --home HOME NAME --listen --json` (an SSH connection) and waits up to
 * 15 s for the JSON it prints once listening; the askpass script goes in a new directory under `scratch`.
 */
export async function listenSsh(o: { config: string; home: string; scratch: string; name?: string }): Promise<SshListener> {
  const child = spawn(process.execPath, [BIN, 'connect', '--config', o.config, '--home', o.home, o.name ?? 'prod-ssh', '--listen', '--json'], {
    env: { PATH: process.env.PATH, HOME: o.home, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr!.on('data', (c: Buffer) => { err += c.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  for (const end = Date.now() + 15_000; !out.trim().endsWith('}');) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
  const info = JSON.parse(out) as { port: number; password: string };
  const askpass = path.join(mkdtempSync(path.join(o.scratch, 'askpass-')), 'askpass.sh');
  writeFileSync(askpass, `#!/bin/sh\necho '${info.password}'\n`);
  chmodSync(askpass, 0o700);
  return { child, port: info.port, err: () => err, exited, askpass };
}

/** The OpenSSH client's options for `l`: its port, no host key check, the password from the askpass script. */
export const sshClientArgs = (l: SshListener) => ['-p', String(l.port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR',
  '-o', 'PreferredAuthentications=password'];

/** The OpenSSH client's environment for `l` (HOME `home`): it asks `l`'s askpass script for the password. */
export const sshClientEnv = (l: SshListener, home: string) => ({ PATH: process.env.PATH, HOME: home, SSH_ASKPASS: l.askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' });

/** What the OpenSSH client printed and its exit code. */
export interface SshRun { code: number | null; stdout: Buffer; stderr: string }

/** Runs the OpenSSH client (`ssh -T`) through `l` with `args`, HOME `home`; killed after 30 s. */
export function sshThrough(l: SshListener, home: string, args: string[]): Promise<SshRun> {
  return new Promise((resolve) => {
    const c = spawn('ssh', [...sshClientArgs(l), '-T', ...args], { env: sshClientEnv(l, home), stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    c.stdout.on('data', (b: Buffer) => out.push(b));
    c.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    const killer = setTimeout(() => c.kill('SIGKILL'), 30_000);
    c.on('close', (code) => { clearTimeout(killer); resolve({ code, stdout: Buffer.concat(out), stderr }); });
  });
}
