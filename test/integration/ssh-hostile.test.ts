/**
 * A hostile client against `pcigate connect SSH --listen` (real sshd upstream; the client is ssh2's, to send
 * what OpenSSH would not): commands that an allow pattern with a wildcard matches but that smuggle another
 * command in shell syntax, connections that never authenticate, a channel closed while its command waits for
 * an approval. Every session still ends with session.end.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { Client, ClientChannel } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuditLog } from '../../recorder/index.js';
import type { AuditLog } from '../../recorder/index.js';
import type { AuditRecord } from '../../recorder/types.js';
import { startSshBroker } from '../../src/broker/ssh-broker.js';
import { AuditWriteError } from '../../src/errors.js';
import type { SshBroker } from '../../src/broker/ssh-broker.js';
import { systemClock } from '../../src/cli/ctx.js';
import { sshConnection } from '../../src/config/sections/connections.js';
import { ApprovalStore } from '../../src/policy/approvals.js';
import { tempDir } from '../harness/cli.js';
import { sshdConnectionFields } from '../harness/ssh-gate.js';
import { collect, execOn, sshClient, startSshd, sshdAvailable } from '../harness/sshd.js';
import type { ChannelRun, Sshd } from '../harness/sshd.js';
import { readLog } from './pg-proxy-setup.js';
import { testCtx } from '../harness/test-ctx.js';

const skip = sshdAvailable();
if (skip) process.stderr.write(`skipping SSH integration tests: ${skip}\n`);



/** Asciicast recordings this process holds open (/proc/self/fd). */
function openCasts(): number {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try { return /\.cast$/.test(readlinkSync(`/proc/self/fd/${fd}`)) ? [fd] : []; } catch { return []; }
  }).length;
}
describe.skipIf(Boolean(skip))('SSH listener against a hostile client (real sshd)', () => {
  let sshd: Sshd;
  let home: string;
  let log: AuditLog;
  let broker: SshBroker;
  let store: ApprovalStore;
  const ctx = testCtx({ clock: systemClock() as never, log: { debug: () => {}, warn: () => {} } });

  const records = (): AuditRecord[] => readLog(home);

  const connect = (b: SshBroker = broker, extra: Record<string, unknown> = {}) => sshClient(b, extra);
  const exec = execOn;

  beforeAll(async () => {
    sshd = await startSshd();
    home = tempDir('pcigate-ssh-hostile-');
    log = await openAuditLog(ctx, { home, createIfMissing: true, idleMs: 50 });
    store = new ApprovalStore({ fs: fsp, clock: ctx.clock, home, sink: log });
    broker = await startSshBroker({
      name: 'prod-ssh',
      conn: sshConnection.parse(sshdConnectionFields(sshd, { exec: { allow: ['echo *', 'sh -c *', 'true', '* --version'], deny: ['rm *', 'touch *'], hold: ['systemctl restart *', 'mkdir *'] }, env: ['PCIGATE_*'] })),
      credentials: { privateKey: sshd.clientKey }, sink: log,
      actor: async () => ({ sub: 'alice', via: 'oidc', groups: ['engineers'] }),
      clock: ctx.clock, fs: ctx.fs, log: ctx.log, home,
      approvals: { store, settings: { groups: ['security'], subjects: [], minApprovals: 1, expiresMs: 60_000, windowMs: 0, waitMs: 20_000 } },
      loginGraceMs: 1_500,
    });
  }, 60_000);

  afterAll(async () => {
    await broker?.close();
    await log?.close();
    await sshd?.stop();
  });

  it('a command allowed by a wildcard pattern cannot smuggle another one in shell syntax', async () => {
    const marker = path.join(home, 'smuggled');
    const c = await connect();
    try {
      for (const cmd of [
        `echo x; touch ${marker}`, `echo x && touch ${marker}`, `echo x || touch ${marker}`, `echo x | touch ${marker}`,
        `echo x & touch ${marker}`, `echo $(touch ${marker})`, `echo \`touch ${marker}\``, `echo "$(touch ${marker})"`,
        `echo x\ntouch ${marker}`, `echo x\rtouch ${marker}`, `echo x > ${marker}`, `echo ${'${x@P}'}`, `echo (touch ${marker})`,
        `touch ${marker}; true --version`, `echo 'a' ;touch ${marker}; echo 'b'`, `echo x\0; touch ${marker}`,
        `sh -c x; touch ${marker}`, `\techo x;touch ${marker}`,
      ]) {
        const r = await exec(c, cmd);
        expect({ cmd, code: r.code, stdout: r.stdout }).toEqual({ cmd, code: 126, stdout: '' });
        expect(r.stderr).toContain('pcigate: refused by policy:');
      }
      expect(existsSync(marker)).toBe(false);
      const refused = records().filter((x) => x.type === 'ssh.exec' && x.outcome === 'denied');
      expect(refused.filter((x) => (x.detail as { rule: string }).rule === 'ssh.exec.shell_syntax').length).toBeGreaterThanOrEqual(16);
      // Shell syntax inside one quoted argument, or in the pattern's own text, is not another command.
      expect(await exec(c, "echo 'a; b && c | d $(e)'")).toMatchObject({ code: 0, stdout: 'a; b && c | d $(e)\n' });
      expect(await exec(c, 'echo "a;b" \\; \\$\\(x\\)')).toMatchObject({ code: 0, stdout: 'a;b ; $(x)\n' });
      expect(await exec(c, 'sh -c "echo one; echo two >&2"')).toMatchObject({ code: 0, stdout: 'one\n', stderr: 'two\n' });
    } finally {
      c.end();
    }
  }, 60_000);

  it('connections that never authenticate are dropped after the login grace time, and at most 10 wait at once', async () => {
    const c = await connect();
    // A session already in is not touched by what follows.
    const running = exec(c, 'sh -c "sleep 2; echo still-here"');
    const silent = (): Promise<{ sock: net.Socket; closed: Promise<string> }> => new Promise((resolve) => {
      const sock = net.connect(broker.port, broker.host);
      let got = '';
      sock.on('data', (b: Buffer) => { got += b.toString('latin1'); });
      const closed = new Promise<string>((r) => sock.on('close', () => r(got)));
      sock.on('error', () => {});
      sock.on('connect', () => resolve({ sock, closed }));
    });
    try {
      const idle = await Promise.all(Array.from({ length: 10 }, () => silent()));
      // Once the listener has taken them all in, an 11th is refused at once: it never sees the SSH banner.
      await expect.poll(async () => {
        const extra = await silent();
        const got = await Promise.race([extra.closed, new Promise<undefined>((r) => setTimeout(() => r(undefined), 200))]);
        extra.sock.destroy();
        return got;
      }, { timeout: 10_000 }).toBe('');
      // The silent ones got the banner and are then dropped by the listener (they never close themselves).
      for (const s of idle) expect(await s.closed).toMatch(/^SSH-2\.0-pcigate/);
      expect(await running).toMatchObject({ code: 0, stdout: 'still-here\n' });
      // And the listener takes new clients again.
      const again = await connect();
      expect(await exec(again, 'true')).toMatchObject({ code: 0 });
      again.end();
    } finally {
      c.end();
    }
  }, 60_000);

  it('a command whose channel (or connection) closes while it waits for approval never runs, even once approved', async () => {
    const approveAfterClose = async (how: 'channel' | 'connection', dir: string) => {
      const c = await connect();
      const id = await new Promise<string>((resolve, reject) => {
        c.exec(`mkdir ${dir}`, (err, ch) => {
          if (err) { reject(err); return; }
          let stderr = '';
          ch.stderr.on('data', (b: Buffer) => {
            stderr += b.toString();
            const m = /waiting for approval (A-[a-z2-7]{10})/.exec(stderr);
            if (!m) return;
            if (how === 'channel') ch.close();
            else c.end();
            resolve(m[1]!);
          });
        });
      });
      const finals = () => records().filter((x) => x.type === 'ssh.exec' && (x.detail as { approval?: string }).approval === id);
      if (how === 'channel') {
        // The wait ends with the channel: recorded refused (aborted), and a late approval runs nothing.
        await expect.poll(() => finals().map((x) => [x.outcome, (x.detail as { approval_state?: string }).approval_state]), { timeout: 10_000 }).toEqual([['denied', 'aborted']]);
      }
      await store.approve(id, { sub: 'bob', email: 'bob@example.test', groups: ['security'], via: 'oidc' }, 'late').catch(() => undefined);
      if (how === 'channel') {
        // The connection is still usable.
        expect(await exec(c, 'echo after')).toMatchObject({ code: 0, stdout: 'after\n' });
        c.end();
      }
      await expect.poll(() => finals().length, { timeout: 10_000 }).toBe(1);
      expect(finals()[0]!.outcome).toBe('denied');
      expect(existsSync(dir)).toBe(false);
      // Its session ends with session.end.
      const session = finals()[0]!.session;
      await expect.poll(() => records().some((x) => x.type === 'session.end' && x.session === session), { timeout: 10_000 }).toBe(true);
      // Last, after the command's final record (it was written after session.end when the connection closed), which
      // it counts.
      await new Promise((r) => setTimeout(r, 300));
      // (An approver's late action on its request is the approver's record, which names the session: not counted.)
      const own = records().filter((x) => x.session === session && !x.type.startsWith('approval.'));
      expect(own.at(-1), `${how}: ${own.map((x) => `${x.type} ${x.outcome}`).join(', ')}`).toMatchObject({ type: 'session.end', detail: { denied: expect.any(Number) } });
      expect((own.at(-1)!.detail as { denied: number }).denied).toBeGreaterThanOrEqual(1);
    };
    await approveAfterClose('channel', path.join(home, 'held-channel'));
    await approveAfterClose('connection', path.join(home, 'held-conn'));
    await new Promise((r) => setTimeout(r, 500));
    expect(existsSync(path.join(home, 'held-channel'))).toBe(false);
  }, 60_000);

  it('memory stays bounded while a client pushes stdin faster than the remote command reads it', async () => {
    // 300 MB into a command that reads nothing for 4 s: the upstream channel's window fills, and pcigate must
    // stop reading the client (its window then fills too) instead of buffering what it cannot send upstream.
    const askpass = path.join(home, 'askpass.sh');
    writeFileSync(askpass, `#!/bin/sh\necho '${broker.secret}'\n`);
    chmodSync(askpass, 0o700);
    const ssh = `ssh -p ${broker.port} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o PreferredAuthentications=password -T pcigate@127.0.0.1`;
    const c = spawn('sh', ['-c', `head -c 300000000 /dev/zero | ${ssh} 'sh -c "sleep 4; wc -c"'`],
      { env: { PATH: process.env.PATH, HOME: home, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' }, stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    c.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    const base = process.memoryUsage().rss;
    let peak = 0;
    const code = new Promise<number | null>((resolve) => c.on('close', resolve));
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, 500));
      peak = Math.max(peak, process.memoryUsage().rss - base);
    }
    expect(await code).toBe(0);
    expect(out.trim()).toBe('300000000');
    expect(peak).toBeLessThan(100e6);
  }, 90_000);

  it('a connection running many commands one after another holds no file open for the finished ones', async () => {
    const c = await connect();
    try {
      for (let i = 0; i < 40; i++) expect(await exec(c, `echo run-${i}`)).toMatchObject({ code: 0, stdout: `run-${i}\n` });
      // Each finished channel's recording is closed (a long-lived multiplexed connection ran out of descriptors).
      await expect.poll(() => openCasts(), { timeout: 10_000 }).toBe(0);
    } finally {
      c.end();
    }
    const end = await (async () => {
      let e: AuditRecord | undefined;
      await expect.poll(() => {
        const mine = records().filter((x) => x.type === 'ssh.exec' && JSON.stringify(x.detail).includes('run-39'));
        e = records().find((x) => x.type === 'session.end' && x.session === mine[0]?.session);
        return e !== undefined;
      }, { timeout: 10_000 }).toBe(true);
      return e!;
    })();
    // Every recording is still committed at session end, whole.
    expect(end.outcome).toBe('success');
    expect(end.blobs).toHaveLength(40);
    for (const [i, b] of end.blobs!.entries()) expect(readFileSync(path.join(home, b.path!), 'utf8')).toContain(`run-${i}`);
  }, 60_000);

  it('channels the upstream refuses (beyond sshd\'s MaxSessions) are answered and leave no file open', async () => {
    const c = await connect();
    try {
      // sshd allows 10 sessions per connection (MaxSessions): the others are refused upstream.
      const runs = await Promise.all(Array.from({ length: 14 }, (_, i) => exec(c, `sh -c "sleep 1; echo ok-${i}"`)));
      const refused = runs.filter((r) => r.code === 126);
      expect(refused.length).toBeGreaterThan(0);
      for (const r of refused) expect(r.stderr).toContain('upstream refused the exec request');
      expect(runs.filter((r) => r.code === 0).length + refused.length).toBe(14);
      await expect.poll(() => openCasts(), { timeout: 10_000 }).toBe(0);
      // The connection goes on.
      expect(await exec(c, 'echo still')).toMatchObject({ code: 0, stdout: 'still\n' });
    } finally {
      c.end();
    }
  }, 60_000);

  it('env requests are bounded: 64 per channel, 64 KiB in all; the command still runs', async () => {
    const c = await connect();
    try {
      const count = (env: Record<string, string>) => new Promise<ChannelRun>((resolve, reject) => {
        c.exec('sh -c "env | grep -c ^PCIGATE_V"', { env }, (err, ch) => {
          if (err) { reject(err); return; }
          void collect(ch).then(resolve);
          ch.end();
        });
      });
      const many = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`PCIGATE_V${i}`, 'x'.repeat(20)]));
      expect(await count(many)).toMatchObject({ code: 0, stdout: '64\n' });
      const big = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`PCIGATE_V${i}`, 'y'.repeat(30_000)]));
      expect(await count(big)).toMatchObject({ code: 0, stdout: '2\n' });
    } finally {
      c.end();
    }
  }, 60_000);

  it('a card number in a subsystem name or a forwarding address reaches the audit log masked', async () => {
    const pan = '4111111111111111';
    // strictVendor off: ssh2 sends OpenSSH's streamlocal channel only to a server that calls itself OpenSSH.
    const c = await connect(broker, { strictVendor: false });
    const settled = (fn: (cb: (err: Error | undefined) => void) => void) => new Promise<Error | undefined>((resolve) => { fn((err) => resolve(err)); });
    try {
      const sub = await new Promise<ChannelRun>((resolve, reject) => {
        c.subsys(`sftp ${pan}`, (err, ch) => {
          if (err) { reject(err); return; }
          void collect(ch).then(resolve);
        });
      });
      expect(sub.code).toBe(126);
      expect(await settled((cb) => c.forwardOut('127.0.0.1', 1, `h ${pan}.example`, 22, (err) => cb(err)))).toBeInstanceOf(Error);
      expect(await settled((cb) => c.forwardIn(`b ${pan}.example`, 2222, (err) => cb(err)))).toBeInstanceOf(Error);
      expect(await settled((cb) => c.openssh_forwardOutStreamLocal(`/tmp/s ${pan}`, (err) => cb(err)))).toBeInstanceOf(Error);
    } finally {
      c.end();
    }
    const mine = () => records().filter((x) => x.type === 'ssh.request' && JSON.stringify(x.detail).includes('1111') && !JSON.stringify(x.detail).includes('shell'));
    await expect.poll(() => mine().length, { timeout: 10_000 }).toBe(4);
    expect(JSON.stringify(records())).not.toContain(pan);
  }, 60_000);

  it('absurd pty sizes, window-change storms, a signal and a second exec on a channel end cleanly', async () => {
    const c = await connect();
    try {
      const r = await new Promise<ChannelRun>((resolve, reject) => {
        c.exec('sh -c "sleep 1; echo done"', { pty: { rows: 0xffffffff, cols: 0xffffffff, height: 0, width: 0, term: 'x'.repeat(1000) } }, (err, ch) => {
          if (err) { reject(err); return; }
          void collect(ch).then(resolve);
          for (let i = 0; i < 2000; i++) ch.setWindow(i % 500, i % 300, 0, 0);
        });
      });
      // sshd may refuse such a pty (126, said on stderr) or run the command; either way the channel ends.
      expect([0, 126]).toContain(r.code);
      // A second exec on a channel that already runs one is refused, the first goes on.
      const twice = await new Promise<ChannelRun>((resolve, reject) => {
        c.exec('sh -c "sleep 0.5; echo first"', (err, ch) => {
          if (err) { reject(err); return; }
          void collect(ch).then(resolve);
          // ssh2's client has no API for a second exec on a channel: send the request packet as it would.
          const proto = (c as unknown as { _protocol: { exec(chan: number, cmd: string, wantReply: boolean): void } })._protocol;
          proto.exec((ch as unknown as { outgoing: { id: number } }).outgoing.id, 'echo second', true);
          ch.signal('KILL');
          ch.end();
        });
      });
      expect(twice.stdout).not.toContain('second');
      expect(await exec(c, 'echo after')).toMatchObject({ code: 0, stdout: 'after\n' });
    } finally {
      c.end();
    }
    expect(records().some((x) => x.type === 'ssh.exec' && JSON.stringify(x.detail).includes('echo second'))).toBe(false);
  }, 60_000);

  it('an X11 or agent request whose record cannot be written is refused; the listener and its other sessions go on', async () => {
    // A log that refuses exactly those records (as a full disk would): the decision cannot be recorded.
    const failing = {
      ...log,
      append: (e: Parameters<AuditLog['append']>[0]) => {
        const kind = (e.detail as { request?: { kind?: string } } | undefined)?.request?.kind;
        if (e.type === 'ssh.request' && (kind === 'x11' || kind === 'agent-forwarding')) return Promise.reject(new AuditWriteError('disk full (test)'));
        return log.append(e);
      },
      commitBlob: log.commitBlob.bind(log),
    } as unknown as AuditLog;
    const b = await startSshBroker({
      name: 'prod-ssh',
      conn: sshConnection.parse(sshdConnectionFields(sshd, { exec: { allow: ['echo *', 'sh -c *'] } })),
      credentials: { privateKey: sshd.clientKey }, sink: failing,
      actor: async () => ({ sub: 'alice', via: 'oidc', groups: ['engineers'] }),
      clock: ctx.clock, fs: ctx.fs, log: ctx.log, home,
    });
    try {
      const other = await connect(b);
      const running = exec(other, 'sh -c "sleep 1; echo other-ok"');
      const c = await connect(b);
      const r = await new Promise<ChannelRun>((resolve, reject) => {
        c.exec('echo with-x11', { x11: true, agentForward: true } as never, (err, ch) => {
          if (err) { reject(err); return; }
          void collect(ch).then(resolve);
        });
      }).catch((err: Error) => ({ code: undefined, stdout: '', stderr: err.message }));
      expect(r.stdout === '' || r.stdout === 'with-x11\n').toBe(true);
      expect(await running).toMatchObject({ code: 0, stdout: 'other-ok\n' });
      expect(await exec(await connect(b), 'echo listener-ok')).toMatchObject({ code: 0, stdout: 'listener-ok\n' });
      // Closing the listener while clients are still connected (three here, one idle before authenticating)
      // ends their sessions, with session.end, instead of waiting for them to leave.
      const idle = net.connect(b.port, b.host);
      idle.on('error', () => {});
      await new Promise((r) => idle.on('connect', r));
      const ends = () => records().filter((x) => x.type === 'session.end').length;
      const before = ends();
      await b.close();
      expect(ends()).toBe(before + 3);
    } finally {
      await b.close();
    }
  }, 60_000);
});
