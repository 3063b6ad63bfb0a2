/**
 * Sessions that end while a command still runs (real sshd, real OpenSSH ssh through `--listen`). A client killed
 * mid-command ended the session before its channel exited: the recording stopped mid-output with no exit, and
 * session.end (outcome success, no exit) did not say that anything was cut short.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../recorder/types.js';
import { readLog } from '../harness/audit-records.js';
import { sshThrough } from '../harness/cli.js';
import type { SshListener } from '../harness/cli.js';
import { startSshGate } from '../harness/ssh-gate.js';
import type { SshGate } from '../harness/ssh-gate.js';
import { sshdAvailable } from '../harness/sshd.js';

const skip = sshdAvailable();
if (skip) process.stderr.write(`skipping the SSH abrupt-end tests: ${skip}\n`);

describe.skipIf(Boolean(skip))('SSH sessions cut short (real sshd, real OpenSSH ssh)', () => {
  let gate: SshGate;
  const listener = () => ({ port: gate.broker.port, askpass: gate.askpass } as SshListener);

  /** The session.end of the session whose command included `marker`, and its recording's events. */
  const endOf = async (marker: string): Promise<{ end: AuditRecord; events: Array<[number, string, string]> }> => {
    let end: AuditRecord | undefined;
    await expect.poll(() => {
      const recs = readLog(gate.home);
      const id = recs.find((r) => r.type === 'ssh.exec' && JSON.stringify(r.detail).includes(marker))?.session;
      return (end = recs.find((r) => r.type === 'session.end' && r.session === id));
    }, { timeout: 20_000 }).toBeDefined();
    const cast = readFileSync(path.join(gate.home, end!.blobs![0]!.path!), 'utf8');
    return { end: end!, events: cast.trim().split('\n').slice(1).map((l) => JSON.parse(l) as [number, string, string]) };
  };

  beforeAll(async () => {
    gate = await startSshGate({ homePrefix: 'pcigate-ssh-abrupt-', askpass: true, allow: { exec: { allow: ['sh -c *'] } } });
  }, 60_000);

  afterAll(async () => {
    await gate?.close();
  });

  it('a client killed mid-output: session.end names the recording cut (or the hangup), which ends with that marker', async () => {
    const child = spawn('ssh', ['-T', '-p', String(gate.broker.port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR',
      '-o', 'PreferredAuthentications=password', 'pcigate@127.0.0.1', 'sh -c "yes cut-short | head -c 50000000; sleep 5"'],
    { env: { PATH: process.env.PATH, HOME: gate.home, SSH_ASKPASS: gate.askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' }, stdio: ['pipe', 'pipe', 'ignore'] });
    let n = 0;
    child.stdout.on('data', (c: Buffer) => { n += c.length; });
    await expect.poll(() => n, { timeout: 10_000 }).toBeGreaterThan(1_000_000);
    child.kill('SIGKILL');
    const { end, events } = await endOf('cut-short');
    // Which comes first is a race: the channel's close (pcigate closes it upstream when the client goes; reported as
    // a hangup) or the session's end. Either way the log and the recording say how the channel ended.
    const detail = end.detail as { cut?: string[]; exit?: { signal?: string } };
    if (detail.cut) {
      expect(detail.cut).toEqual([end.blobs![0]!.path]);
      expect(events.at(-1)).toEqual([expect.any(Number), 'm', 'cut: the session ended before this channel exited']);
    } else {
      expect(detail.exit).toEqual({ signal: 'HUP' });
      expect(events.at(-1)).toEqual([expect.any(Number), 'm', 'exit-signal HUP']);
    }
  }, 60_000);

  it('a command that exits is not cut (guard: passes without the fix)', async () => {
    const r = await sshThrough(listener(), gate.home, ['pcigate@127.0.0.1', 'sh -c "echo whole-run"']);
    expect(r.code).toBe(0);
    const { end, events } = await endOf('whole-run');
    expect(end.detail).not.toHaveProperty('cut');
    expect(events.at(-1)?.[2]).toBe('exit-status 0');
  }, 30_000);
});
