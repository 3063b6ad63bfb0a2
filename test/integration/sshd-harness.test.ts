/**
 * The sshd harness ends what a test left running on the "remote" side: a session's processes outlive the
 * listener (its per-connection children do not die with it), and a detached one is reparented away from it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sshdAvailable, startSshd } from '../harness/sshd.js';

const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(execFileSync('cat', [`/proc/${pid}/status`]).toString());

describe.skipIf(sshdAvailable() !== undefined)('startSshd().stop()', () => {
  it('kills a detached process a session left running', async () => {
    const sshd = await startSshd();
    let pid = 0;
    try {
      const out = execFileSync('ssh', [
        '-i', sshd.clientKeyPath, '-p', String(sshd.port), '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR',
        `${sshd.user}@${sshd.host}`, 'setsid nohup sleep 600 >/dev/null 2>&1 < /dev/null & echo $!',
      ]).toString();
      pid = Number(out.trim());
      expect(pid).toBeGreaterThan(0);
      expect(alive(pid)).toBe(true);
    } finally {
      await sshd.stop();
    }
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    expect(alive(pid)).toBe(false);
  });
});
