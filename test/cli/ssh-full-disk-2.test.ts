/**
 * A session that ends while the data home is full (the built bin, a real sshd, the OpenSSH client, a real full
 * tmpfs; needs mount(2): root, as .ci/run runs): its session.end is not lost. The listener keeps trying and
 * writes it once space is back (with when the session really ended); a listener stopped while it still cannot
 * be written says which session on stderr and exits 1 instead of 0.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, sshClientArgs, sshClientEnv } from '../harness/cli.js';
import type { SshListener } from '../harness/cli.js';
import { startSshdForListen, sshdAvailable } from '../harness/sshd.js';
import { fill, mountTmpfs, unmountAll } from '../harness/tmpfs.js';
import { readLog } from '../harness/audit-records.js';
import { until } from '../integration/pg-proxy-setup.js';
import type { SshdForListen } from '../harness/sshd.js';

const skip = sshdAvailable();
if (skip) process.stderr.write(`skipping the SSH full-disk tests: ${skip}\n`);

let s: SshdForListen;

async function ssh(l: SshListener, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = await s.ssh(l, args);
  return { ...r, stdout: r.stdout.toString() };
}

/** A connection kept open (OpenSSH connection sharing): one pcigate session; its commands run as `shared`. */
async function master(l: SshListener, home: string, name: string) {
  const ctl = path.join(s.dir, `ctl-${name}-${process.pid}`);
  const child = spawn('ssh', [...sshClientArgs(l), '-M', '-S', ctl, '-N', 'pcigate@127.0.0.1'], { env: sshClientEnv(l, s.dir), stdio: 'ignore' });
  const before = readLog(home).filter((x) => x.type === 'session.start').length;
  await until(() => existsSync(ctl), 15_000);
  await until(() => readLog(home).filter((x) => x.type === 'session.start').length > before, 15_000);
  const session = readLog(home).filter((x) => x.type === 'session.start').at(-1)!.session!;
  return { child, session, shared: (cmd: string) => ssh(l, ['-S', ctl, 'pcigate@127.0.0.1', cmd]) };
}

/** Fills the disk and runs commands on `m` until one cannot be recorded: the log itself is full then. */
async function fillUntilRefused(mnt: string, m: Awaited<ReturnType<typeof master>>): Promise<string> {
  const filler = fill(mnt);
  for (let n = 0; n < 30; n++) {
    // (Not "the session could not be recorded": that is its recording's file, while the log may still take records.)
    if ((await m.shared(`echo n-${n}`)).stderr.includes('the request could not be recorded')) return filler;
  }
  throw new Error('the log never refused a record');
}

beforeAll(async () => {
  if (!skip) s = await startSshdForListen('pcigate-ssh-fulldisk2-', ['sh -c *', 'echo *']);
}, 60_000);

afterAll(async () => {
  unmountAll();
  await s?.sshd.stop();
});

describe.skipIf(Boolean(skip))('SSH session.end on a full disk (pcigate connect --listen, real sshd)', () => {
  it('a session that ends while the log is full gets its session.end once space is back; one still unwritten at shutdown fails the listener, named', async () => {
    const mnt = mkdtempSync(path.join(os.tmpdir(), 'pcigate-ssh-fulldisk2-mnt-'));
    mountTmpfs(mnt, '16m');
    const home = path.join(mnt, 'home');
    const l = await s.listen(home);
    const a = await master(l, home, 'a');
    const b = await master(l, home, 'b');
    try {
      expect((await a.shared('echo ran-a')).stdout).toBe('ran-a\n');
      let filler = await fillUntilRefused(mnt, a);
      // Session a ends while nothing can be written.
      a.child.kill('SIGTERM');
      await until(() => l.err().includes(`ssh session ${a.session}: session.end could not be recorded`), 15_000);
      rmSync(filler);
      // Space is back: the session.end the listener kept is written, saying when the session really ended.
      await until(() => readLog(home).some((x) => x.type === 'session.end' && x.session === a.session), 20_000);
      const endA = readLog(home).find((x) => x.type === 'session.end' && x.session === a.session)!;
      expect(endA.detail).toMatchObject({ end_retries: expect.any(Number), ended_at: expect.any(String) });
      expect(Date.parse((endA.detail as { ended_at: string }).ended_at)).toBeLessThan(Date.parse(endA.ts));
      expect(endA.blobs!.length).toBeGreaterThan(0);

      // Session b ends while the disk is full again, and the listener is stopped before space comes back.
      expect((await b.shared('echo ran-b')).stdout).toBe('ran-b\n');
      filler = await fillUntilRefused(mnt, b);
      b.child.kill('SIGTERM');
      await until(() => l.err().includes(`ssh session ${b.session}: session.end could not be recorded`), 15_000);
      l.child.kill('SIGINT');
      expect(await l.exited).toBe(1);
      rmSync(filler);
      expect(l.err()).toContain(`session.end of SSH session ${b.session} could not be recorded`);
      expect(l.err()).toContain(`recordings/${b.session}-`);
      expect(readLog(home).some((x) => x.type === 'session.end' && x.session === b.session)).toBe(false);
    } finally {
      a.child.kill('SIGKILL');
      b.child.kill('SIGKILL');
      l.child.kill('SIGKILL');
    }
    const v = await runCli(['verify', '--home', home], { home });
    expect(v.stdout).toContain('RESULT: PASS');
  }, 150_000);
});
