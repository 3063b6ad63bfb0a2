/**
 * Output the remote side stops after, waiting for the client, must reach the client whole, whatever its last
 * bytes are (real sshd, real OpenSSH clients, through `--listen`'s local server). The masker holds back the
 * tail of a chunk that a later chunk could still turn into a card number; when no later chunk comes until the
 * client answers, a tail held for good is a client waiting forever:
 * - a digit followed by an incomplete UTF-8 character: the masker's idle release sent the digit and kept the
 *   partial character, which was then never released (sftp downloads of random bytes hung about 1 in 50);
 * - an sftp reply ending in seven or more digits (a downloaded file ending in a number): the idle release
 *   keeps a digit run past its sixth digit. A reply ends at a packet boundary, and the next packet starts
 *   with its length (a 0x00 byte), so the run is decided there.
 */
import { spawn } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuditLog } from '../../recorder/index.js';
import type { AuditLog } from '../../recorder/index.js';
import { startSshBroker } from '../../src/broker/ssh-broker.js';
import type { SshBroker } from '../../src/broker/ssh-broker.js';
import { systemClock } from '../../src/cli/ctx.js';
import { sshConnection } from '../../src/config/sections/connections.js';
import { tempDir } from '../harness/cli.js';
import { startSshd, sshdAvailable } from '../harness/sshd.js';
import type { Sshd } from '../harness/sshd.js';
import { testCtx } from '../harness/test-ctx.js';

const skip = sshdAvailable();
if (skip) process.stderr.write(`skipping the SSH binary-tail tests: ${skip}\n`);

describe.skipIf(Boolean(skip))('output whose last bytes could start a card number, the remote side then waiting', () => {
  let sshd: Sshd;
  let home: string;
  let work: string;
  let log: AuditLog;
  let broker: SshBroker;
  let askpass: string;
  const ctx = testCtx({ clock: systemClock() as never, log: { debug: () => {}, warn: (m: string) => { process.stderr.write(`warn: ${m}\n`); } } });
  const opts = () => ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'PreferredAuthentications=password'];
  const env = () => ({ PATH: process.env.PATH, HOME: home, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' });

  beforeAll(async () => {
    sshd = await startSshd();
    home = tempDir('pcigate-ssh-tails-');
    work = tempDir('pcigate-ssh-tails-work-');
    askpass = path.join(home, 'askpass.sh');
    log = await openAuditLog(ctx, { home, createIfMissing: true, idleMs: 50 });
    broker = await startSshBroker({
      name: 'prod-ssh',
      conn: sshConnection.parse({
        kind: 'ssh', host: sshd.host, port: sshd.port, user: sshd.user, private_key: 'env:UNUSED_IN_TEST', host_key: sshd.hostKeyLine,
        allow: { subsystems: ['sftp'], exec: { allow: ['sh -c *'] } },
      }),
      credentials: { privateKey: sshd.clientKey }, sink: log, actor: async () => ({ sub: 'alice', via: 'local', idp: 'local' }),
      clock: ctx.clock, fs: ctx.fs, log: ctx.log, home,
    });
    writeFileSync(askpass, `#!/bin/sh\necho '${broker.secret}'\n`);
    chmodSync(askpass, 0o700);
  }, 60_000);

  afterAll(async () => {
    await broker?.close();
    await log?.close();
    await sshd?.stop();
  });

  it('a digit then an incomplete UTF-8 character is sent while the command waits for input', async () => {
    const c = spawn('ssh', ['-p', String(broker.port), ...opts(), '-T', 'pcigate@127.0.0.1', `sh -c 'printf "x1\\343"; read x; echo " done"'`],
      { env: env(), stdio: ['pipe', 'pipe', 'ignore'] });
    const out: Buffer[] = [];
    c.stdout.on('data', (b: Buffer) => out.push(b));
    const closed = new Promise<number | null>((resolve) => c.on('close', resolve));
    try {
      await expect.poll(() => Buffer.concat(out).includes(0xe3), { timeout: 5_000 }).toBe(true);
    } finally {
      c.stdin.end('go\n');
    }
    expect(await closed).toBe(0);
    expect(Buffer.concat(out)).toEqual(Buffer.from('x1\xe3 done\n', 'latin1'));
  }, 30_000);

  /** `sftp -b -` with `batch` on stdin; a hang is killed after 20 s. */
  const sftp = (batch: string) => new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const c = spawn('sftp', ['-P', String(broker.port), ...opts(), '-o', 'BatchMode=no', '-b', '-', 'pcigate@127.0.0.1'], { env: env(), stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    const killer = setTimeout(() => { stderr += '[killed: hung]'; c.kill('SIGKILL'); }, 20_000);
    c.on('exit', (code) => { clearTimeout(killer); resolve({ code, stderr }); });
    c.stdin.end(batch);
  });

  it('an sftp download of a file ending in a number (a reply ending in digits) completes, byte for byte', async () => {
    const src = path.join(work, 'total.txt');
    writeFileSync(src, 'total 123456789');
    const r = await sftp(`get ${src} ${path.join(work, 'total-down.txt')}\n`);
    expect(r.stderr).not.toContain('[killed: hung]');
    expect(r.code).toBe(0);
    expect(readFileSync(path.join(work, 'total-down.txt'), 'utf8')).toBe('total 123456789');
  }, 30_000);

  it('an sftp download of a file ending in a card number gets it masked, and completes', async () => {
    const src = path.join(work, 'card.txt');
    writeFileSync(src, 'card 4111 1111 1111 1111');
    const r = await sftp(`get ${src} ${path.join(work, 'card-down.txt')}\n`);
    expect(r.stderr).not.toContain('[killed: hung]');
    expect(r.code).toBe(0);
    const got = readFileSync(path.join(work, 'card-down.txt'), 'utf8');
    expect(got).toMatch(/^card [0-9* ]+1111$/);
    expect(got).not.toContain('4111 1111 1111 1111');
  }, 30_000);
});
