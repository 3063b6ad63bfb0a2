/**
 * An SSH target for the guided tour: OpenSSH's sshd on a free loopback port with throwaway host and client
 * keys in the demo directory (public-key authentication only, RFC 4252 §7), so the tour can show a remote
 * command brokered, masked and recorded. Absent sshd or ssh-keygen → undefined and the reason.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Ctx } from '../cli/ctx.js';
import { freePort } from './embedded-pg.js';

export interface DemoSshd {
  host: string;
  port: number;
  /** The remote account: the local user running the demo. */
  user: string;
  keyFile: string;
  /** `ssh-ed25519 AAAA…`, the pinned host key. */
  hostKeyLine: string;
  stop(): Promise<void>;
}

const SSHD = ['/usr/sbin/sshd', '/usr/local/sbin/sshd'];

/** Starts sshd in `dir` (created), or returns why it cannot. */
export async function startDemoSshd(ctx: Ctx, dir: string, user: string): Promise<DemoSshd | { skipped: string }> {
  const sshd = SSHD.find((p) => existsSync(p));
  if (!sshd) return { skipped: 'sshd is not installed on this machine (apt-get install openssh-server)' };
  await ctx.fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const keygen = (file: string) => spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'pcigate-demo', '-f', file], { encoding: 'utf8' });
  const hostKey = path.join(dir, 'host_ed25519');
  const keyFile = path.join(dir, 'broker_ed25519');
  for (const f of [hostKey, keyFile]) {
    const r = keygen(f);
    if (r.status !== 0) return { skipped: `ssh-keygen failed: ${(r.stderr || r.error?.message || '').trim()}` };
  }
  const authorized = path.join(dir, 'authorized_keys');
  await ctx.fs.writeFile(authorized, await ctx.fs.readFile(`${keyFile}.pub`), { mode: 0o600 });
  const port = await freePort();
  const config = path.join(dir, 'sshd_config');
  await ctx.fs.writeFile(config, [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${hostKey}`, `AuthorizedKeysFile ${authorized}`,
    `PidFile ${path.join(dir, 'sshd.pid')}`, 'PasswordAuthentication no', 'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes', 'PermitRootLogin prohibit-password', 'StrictModes no', 'UsePAM no',
    'AllowTcpForwarding no', 'X11Forwarding no', 'PrintMotd no', 'PrintLastLog no', 'LogLevel ERROR', '',
  ].join('\n'));
  // sshd insists on its privilege-separation directory when started as root.
  if (ctx.user.uid === 0) await ctx.fs.mkdir('/run/sshd', { recursive: true, mode: 0o755 }).catch(() => undefined);
  const child: ChildProcess = spawn(sshd, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => { stderr += c.toString('utf8'); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) { child.kill('SIGTERM'); await exited; }
  };
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) return { skipped: `sshd exited: ${stderr.trim().split('\n').pop() ?? ''}` };
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (up) {
      const hostKeyLine = (await ctx.fs.readFile(`${hostKey}.pub`, 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
      return { host: '127.0.0.1', port, user, keyFile, hostKeyLine, stop };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  return { skipped: 'sshd did not start listening' };
}
