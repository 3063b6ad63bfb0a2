/**
 * Signals through `--listen` (real sshd, real OpenSSH ssh; ssh2's client for what OpenSSH would not send). ssh2
 * passes on only the 13 signal names of RFC 4254 §6.10 and throws for any other, both ways:
 * - sshd reports a command killed by a signal outside its list (SIGBUS, SIGSYS, SIGTRAP, SIGXCPU …) as
 *   `SIG@openssh.com`: passing that to the client threw, the channel was never ended and the client hung;
 * - a client's signal request with another name threw inside ssh2's packet handler.
 */
import { createRequire } from 'node:module';
import type { ClientChannel } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLog } from '../harness/audit-records.js';
import { sshThrough } from '../harness/cli.js';
import type { SshListener } from '../harness/cli.js';
import { startSshGate } from '../harness/ssh-gate.js';
import type { SshGate } from '../harness/ssh-gate.js';
import { collect, execOn, sshClient, sshdAvailable } from '../harness/sshd.js';
import type { ChannelRun } from '../harness/sshd.js';

const skip = sshdAvailable();
if (skip) process.stderr.write(`skipping the SSH signal tests: ${skip}\n`);

/** ssh2's table of the signal names it sends (shared by its client and server in this process). */
const SIGNALS = (createRequire(import.meta.url)('ssh2/lib/protocol/constants.js') as { SIGNALS: Record<string, number> }).SIGNALS;

describe.skipIf(Boolean(skip))('signals through the SSH listener (real sshd)', () => {
  let gate: SshGate;

  beforeAll(async () => {
    gate = await startSshGate({ homePrefix: 'pcigate-ssh-signals-', askpass: true, allow: { exec: { allow: ['sh -c *', 'sleep *', 'echo *'] } } });
  }, 60_000);

  afterAll(async () => {
    await gate?.close();
  });

  it('a command killed by a signal sshd names SIG@openssh.com ends the client\'s channel; the log says how it ended', async () => {
    const r = await sshThrough({ port: gate.broker.port, askpass: gate.askpass } as SshListener, gate.home, ['pcigate@127.0.0.1', "sh -c 'echo before; kill -BUS $$'"]);
    // Killed by ssh's own 30 s timer (code null) when the channel was never ended; OpenSSH's ssh exits 255 without
    // an exit status.
    expect(r.code).toBe(255);
    expect(r.stdout.toString()).toBe('before\n');
    await expect.poll(() => readLog(gate.home).find((x) => x.type === 'session.end' && JSON.stringify(x.detail).includes('SIG@openssh.com'))?.detail, { timeout: 10_000 })
      .toMatchObject({ exit: { signal: 'SIG@openssh.com' } });
  }, 60_000);

  it('a signal request with a name ssh2 does not send is refused; the command and the listener go on', async () => {
    const c = await sshClient(gate.broker);
    try {
      const r = await new Promise<ChannelRun>((resolve, reject) => {
        c.exec('sh -c "echo started; sleep 1; echo done"', (err, ch: ClientChannel) => {
          if (err) { reject(err); return; }
          void collect(ch).then(resolve);
          // Once the command runs upstream. ssh2's client refuses to send a name outside its table: let it, for this one packet.
          ch.once('data', () => {
            SIGNALS.WINCH = 1;
            try { ch.signal('WINCH'); } finally { delete SIGNALS.WINCH; }
            ch.end();
          });
        });
      });
      expect(r).toMatchObject({ code: 0, stdout: 'started\ndone\n' });
      expect(await execOn(c, 'echo after')).toMatchObject({ code: 0, stdout: 'after\n' });
    } finally {
      c.end();
    }
  }, 60_000);
});
