/**
 * A real full disk under `pcigate connect SSH --listen` (the built bin, a real sshd, the OpenSSH client), on
 * small tmpfs mounts (needs mount(2): root, as .ci/run runs):
 * - the recordings fill up mid-command: output reaches the user only once the recording holds it, so the user
 *   saw exactly what was recorded; the user is told why the command was cut off (exit 255), session.end
 *   commits the recording as cut back to its last whole write with recording_error, and verify passes;
 * - the whole data home fills up: a new session is refused with a clear message, an exec on an open
 *   (multiplexed) connection whose decision cannot be recorded is refused and does not run; once space is
 *   back sessions run again, a log.gap reports what was lost, and verify passes.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, sshClientArgs, sshClientEnv, tempDir } from '../harness/cli.js';
import type { SshRun } from '../harness/cli.js';
import { startSshdForListen, sshdAvailable } from '../harness/sshd.js';
import { fill, mountTmpfs, unmountAll } from '../harness/tmpfs.js';
import { readLog } from '../harness/audit-records.js';
import { until } from '../integration/pg-proxy-setup.js';
import type { SshdForListen } from '../harness/sshd.js';

const skip = sshdAvailable();
if (skip) process.stderr.write(`skipping the SSH full-disk tests: ${skip}\n`);

let s: SshdForListen;

beforeAll(async () => {
  if (!skip) s = await startSshdForListen('pcigate-ssh-fulldisk-', ['sh -c *', 'echo *']);
}, 60_000);

afterAll(async () => {
  unmountAll();
  await s?.sshd.stop();
});

/** A new data home whose recordings are a 1 MiB tmpfs, and a listener on it. */
async function listenWithSmallRecordings() {
  const home = tempDir('pcigate-ssh-fulldisk-home-');
  const recordings = path.join(home, 'recordings');
  mkdirSync(recordings, { mode: 0o700 });
  mountTmpfs(recordings, '1m');
  return { home, recordings, l: await s.listen(home) };
}

describe.skipIf(Boolean(skip))('SSH through a full disk (pcigate connect --listen, real sshd)', () => {
  it('the recordings fill up mid-command: the user saw exactly what was recorded, is told why, and the log says so', async () => {
    const { home, recordings, l } = await listenWithSmallRecordings();
    try {
      expect((await s.ssh(l, ['pcigate@127.0.0.1', 'echo before'])).stdout.toString()).toBe('before\n');
      // 200 lines of 2 KB, one every 20 ms; the recordings' file system fills up after the first ones.
      const running = s.ssh(l, ['pcigate@127.0.0.1', `sh -c 'i=0; while [ $i -lt 200 ]; do printf "line-%04d-%02000d\\n" $i 0; i=$((i+1)); sleep 0.02; done; exit 3'`]);
      await new Promise((r) => setTimeout(r, 600));
      const filler = fill(recordings);
      const r = await running;
      rmSync(filler);
      expect(r.stderr).toContain('pcigate: the session recording could not be written (ENOSPC); output is withheld and the exec is closed');
      expect(r.code).toBe(255);
      expect(r.stdout.length).toBeGreaterThan(0);
      expect(r.stdout.length).toBeLessThan(200 * 2011);
      await until(() => readLog(home).filter((x) => x.type === 'session.end').length === 2, 15_000);
      const end = readLog(home).filter((x) => x.type === 'session.end')[1]!;
      expect(end).toMatchObject({ outcome: 'failure', detail: { recording_error: expect.stringContaining('ENOSPC: no space left on device') } });
      // The recording was cut back to its last whole write and committed: every line parses, its output is
      // byte for byte what the user got, and its hash is the one in the log.
      const blob = end.blobs![0]!;
      const cast = readFileSync(path.join(home, blob.path!));
      expect(createHash('sha256').update(cast).digest('hex')).toBe(blob.sha256);
      const events = cast.toString('utf8').split('\n').slice(1).filter(Boolean).map((x) => JSON.parse(x) as [number, string, string]);
      expect(events.filter((e) => e[1] === 'o').map((e) => e[2]).join('')).toBe(r.stdout.toString('utf8'));
      // Space is back: the next command runs and is recorded.
      expect((await s.ssh(l, ['pcigate@127.0.0.1', 'echo after'])).stdout.toString()).toBe('after\n');
      l.child.kill('SIGINT');
      expect(await l.exited).toBe(0);
    } finally {
      l.child.kill('SIGKILL');
    }
    const v = await runCli(['verify', '--home', home], { home });
    expect(v.stdout).toContain('RESULT: PASS');
  }, 90_000);

  it('the recordings fill up while the masker holds digits back (released on its idle timer): the session fails, the listener serves on', async () => {
    const { home, recordings, l } = await listenWithSmallRecordings();
    try {
      // Each line pauses after digits the masker holds back (they may begin a card number) until its idle release:
      // a release that failed to be recorded was thrown from the timer, and the listener process ended.
      const running = s.ssh(l, ['pcigate@127.0.0.1', `sh -c 'i=0; while [ $i -lt 200 ]; do printf "line-%04d-%02000d 42" $i 0; sleep 0.05; printf "\\n"; i=$((i+1)); done'`]);
      await new Promise((r) => setTimeout(r, 600));
      const filler = fill(recordings);
      const r = await running;
      rmSync(filler);
      expect(r.stderr).toContain('pcigate: the session recording could not be written (ENOSPC)');
      expect(r.code).toBe(255);
      expect((await s.ssh(l, ['pcigate@127.0.0.1', 'echo after'])).stdout.toString()).toBe('after\n');
      await until(() => readLog(home).filter((x) => x.type === 'session.end').length === 2, 15_000);
      expect(readLog(home).filter((x) => x.type === 'session.end')[0]).toMatchObject({ outcome: 'failure', detail: { recording_error: expect.stringContaining('ENOSPC') } });
      l.child.kill('SIGINT');
      expect(await l.exited).toBe(0);
    } finally {
      l.child.kill('SIGKILL');
    }
  }, 90_000);

  it('the data home fills up: new sessions and unrecordable commands are refused and do not run; the gap is recorded once space is back', async () => {
    const mnt = mkdtempSync(path.join(os.tmpdir(), 'pcigate-ssh-fulldisk-mnt-'));
    mountTmpfs(mnt, '16m');
    const home = path.join(mnt, 'home');
    const ran = tempDir('pcigate-ssh-fulldisk-ran-');
    const l = await s.listen(home);
    // One connection kept open (OpenSSH connection sharing): its later commands are channels of one pcigate session.
    const ctl = path.join(s.dir, `ctl-${process.pid}`);
    const master = spawn('ssh', [...sshClientArgs(l), '-M', '-S', ctl, '-N', 'pcigate@127.0.0.1'], { env: sshClientEnv(l, s.dir), stdio: 'ignore' });
    try {
      await until(() => existsSync(ctl), 15_000);
      await until(() => readLog(home).some((x) => x.type === 'session.start'), 15_000);
      const shared = (cmd: string) => s.ssh(l, ['-S', ctl, 'pcigate@127.0.0.1', cmd]);
      expect((await shared(`sh -c 'echo ran-0 > ${ran}/ran-0; cat ${ran}/ran-0'`)).stdout.toString()).toBe('ran-0\n');

      const filler = fill(mnt);
      // The log may still fit a few records in its last page: commands go on until one's decision cannot be
      // recorded (before that, one may be refused because its recording cannot be created).
      const attempts: Array<SshRun & { n: number }> = [];
      for (let n = 1; n <= 30 && !attempts.some((a) => a.stderr.includes('request could not be recorded')); n++) {
        attempts.push({ n, ...(await shared(`sh -c 'echo ran-${n} > ${ran}/ran-${n}'`)) });
      }
      const fresh = await s.ssh(l, ['pcigate@127.0.0.1', `sh -c 'echo fresh > ${ran}/fresh'`]);
      rmSync(filler);

      expect(fresh.stderr).toBe('pcigate: could not record the session in the audit log; it was not opened\r\n');
      expect(fresh.code).toBe(255);
      expect(existsSync(path.join(ran, 'fresh'))).toBe(false);
      const refused = attempts.filter((a) => a.code !== 0);
      expect(refused.map((a) => a.stderr)).toContainEqual('pcigate: the request could not be recorded; refusing it\r\n');
      for (const a of refused) {
        expect(a.code).toBe(126);
        expect(a.stderr).toMatch(/^pcigate: the (request|session) could not be recorded; refusing (it|to continue)\r\n$/);
        expect(existsSync(path.join(ran, `ran-${a.n}`))).toBe(false);
      }

      // Space is back: a new session runs and is recorded after a log.gap.
      expect((await s.ssh(l, ['pcigate@127.0.0.1', 'echo after'])).stdout.toString()).toBe('after\n');
      master.kill('SIGTERM');
      await until(() => readLog(home).filter((x) => x.type === 'session.end').length >= 1, 15_000);
      l.child.kill('SIGINT');
      expect(await l.exited).toBe(0);
      expect(l.err()).toContain('ENOSPC: no space left on device');
    } finally {
      master.kill('SIGKILL');
      l.child.kill('SIGKILL');
    }
    const log = readLog(home);
    const gap = log.find((x) => x.type === 'log.gap');
    expect(gap).toMatchObject({ outcome: 'failure', detail: { cause: 'ENOSPC: no space left on device, write' } });
    const execs = log.filter((x) => x.type === 'ssh.exec').map((x) => (x.detail as { request: { command: string } }).request.command);
    expect(execs.at(-1)).toBe('echo after');
    const v = await runCli(['verify', '--home', home], { home });
    expect(v.stdout).toContain('RESULT: PASS');
  }, 120_000);
});
