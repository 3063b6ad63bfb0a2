/**
 * SSH through pcigate against a real OpenSSH sshd (issue 7): the OpenSSH client through `--listen`'s local
 * server, exec exit codes and signals, masking of PANs printed by the remote side (also split across
 * writes with pauses) on the terminal and in the recording, refused forwarding/agent forwarding/sftp, env
 * requests applied once the channel opens, input recorded (masked) only when asked, markers, periodic
 * commits of a running recording, a dropped client or upstream ending the other side, a wrong pinned host
 * key, a wrong listener secret; every decision in the audit log.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditLog } from '../../recorder/index.js';
import type { AuditRecord } from '../../recorder/types.js';
import { startSshBroker } from '../../src/broker/ssh-broker.js';
import type { SshBroker } from '../../src/broker/ssh-broker.js';
import { sshConnection } from '../../src/config/sections/connections.js';
import { containsPan } from '../../src/mask/pan-detector.js';
import { readLog } from '../harness/audit-records.js';
import { sshdConnectionFields, startSshGate } from '../harness/ssh-gate.js';
import type { SshGate } from '../harness/ssh-gate.js';
import { sshdAvailable } from '../harness/sshd.js';
import type { Sshd } from '../harness/sshd.js';

const skip = sshdAvailable();
if (skip) process.stderr.write(`skipping SSH integration tests: ${skip}\n`);

const PAN = '4111 1111 1111 1111';

describe.skipIf(Boolean(skip))('SSH through pcigate (real sshd, real OpenSSH client)', () => {
  let gate: SshGate;
  let sshd: Sshd;
  let home: string;
  let log: AuditLog;
  let broker: SshBroker;
  let askpass: string;
  const ALLOW = { shell: true, exec: { allow: ['echo *', 'printf *', 'sh -c *', 'stty size', 'exit *', 'kill *', 'true'], deny: ['rm *'], hold: ['systemctl restart *'] }, env: ['LANG', 'LC_*', 'PCIGATE_*'] };

  /** prod-ssh as the gate's broker has it, `over` changed, for brokers of a test's own. */
  const connFor = (over: Record<string, unknown> = {}) => sshConnection.parse(sshdConnectionFields(sshd, ALLOW, over));

  /** `answer`: [what stdout shows, the input then given] (else `input` at once). */
  const ssh = (args: string[], secret = broker.secret, opts: { tty?: boolean; env?: Record<string, string>; input?: string; port?: number; user?: string; prompts?: number; answer?: [string, string] } = {}) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      writeFileSync(askpass, `#!/bin/sh\necho '${secret}'\n`);
      chmodSync(askpass, 0o700);
      const child = spawn('ssh', [
        '-p', String(opts.port ?? broker.port),
        '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=' + (process.env.SSHLOG ?? 'ERROR'),
        '-o', 'PreferredAuthentications=password', '-o', `NumberOfPasswordPrompts=${opts.prompts ?? 1}`, '-o', 'BatchMode=no',
        ...(opts.tty ? ['-tt'] : ['-T']),
        `${opts.user ?? 'pcigate'}@127.0.0.1`, ...args,
      ], { env: { PATH: process.env.PATH, HOME: home, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0', ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      let answered = false;
      child.stdout.on('data', (c: Buffer) => {
        stdout += c.toString();
        if (opts.answer && !answered && stdout.includes(opts.answer[0])) { answered = true; child.stdin.end(opts.answer[1]); }
      });
      child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
      child.on('close', (code) => resolve({ code, stdout, stderr }));
      if (!opts.answer) child.stdin.end(opts.input ?? '');
    });

  const records = () => readLog(home);

  /** Process ids whose parent is `ppid` (from /proc). */
  const childrenOf = (ppid: number): number[] => readdirSync('/proc').filter((p) => /^\d+$/.test(p)).flatMap((p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === ppid ? [Number(p)] : [];
    } catch { return []; }
  });
  /** Remote `sleep 31.7` processes still running (an unusual duration: only this file's commands start them). */
  const remoteSleepers = (): number[] => readdirSync('/proc').filter((p) => /^\d+$/.test(p)).flatMap((p) => {
    try { return readFileSync(`/proc/${p}/cmdline`, 'utf8') === 'sleep\x0031.7\x00' ? [Number(p)] : []; } catch { return []; }
  });

  beforeAll(async () => {
    gate = await startSshGate({ homePrefix: 'pcigate-ssh-home-', allow: ALLOW });
    ({ sshd, home, log, broker, askpass } = gate);
  }, 60_000);

  afterAll(async () => {
    await gate?.close();
  });

  it('runs an allowed command and passes exit codes 0, 3 and 7 through', async () => {
    const ok = await ssh(['echo', 'hello']);
    expect(ok.stdout).toBe('hello\n');
    expect(ok.code).toBe(0);
    expect((await ssh(['exit 3'])).code).toBe(3);
    expect((await ssh(['sh -c "exit 7"'])).code).toBe(7);
  });

  it('forwards the remote stderr apart from stdout, masked', async () => {
    const r = await ssh([`sh -c "echo out; echo 'err card ${PAN}' >&2"`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toBe('err card **** **** **** 1111\n');
  });

  it('passes a signal death through as exit-signal', async () => {
    const r = await ssh(['sh -c "kill -TERM $$"']);
    // OpenSSH reports a remote signal death as exit status 255 ("killed by signal").
    expect(r.code).toBe(255);
    await expect.poll(() => records().some((x) => x.type === 'session.end' && (x.detail as { exit?: { signal?: string } }).exit?.signal === 'TERM')).toBe(true);
  });

  it('refuses a denied or unlisted command with a clear message and records it', async () => {
    const r = await ssh(['rm -rf /tmp/x']);
    expect(r.code).toBe(126);
    expect(r.stderr).toContain("refused by policy: command matches deny pattern 'rm *'");
    const held = await ssh(['systemctl restart app']);
    expect(held.code).toBe(126);
    expect(held.stderr).toContain('needs an approval');
    const other = await ssh(['uname -a']);
    expect(other.stderr).toContain('matches no allowed pattern');
    await expect.poll(() => records().filter((x) => x.type === 'ssh.exec' && x.outcome === 'denied').length).toBeGreaterThanOrEqual(3);
  });

  it('masks a PAN printed by the remote side, also when split across writes with pauses', async () => {
    const whole = await ssh([`printf '${PAN}\\n'`]);
    expect(whole.stdout).toBe('**** **** **** 1111\n');
    const split = await ssh([`sh -c "printf '4111 11'; sleep 0.3; printf '11 1111 '; sleep 0.3; printf '1111\\n'"`]);
    expect(split.code).toBe(0);
    expect(containsPan(Buffer.from(split.stdout.replace(/\s/g, '')))).toBe(false);
    // Pauses may release the first six digits (the BIN, which PCI DSS 3.4.1 allows); never more.
    expect(split.stdout).toHaveLength(PAN.length + 1);
    expect(split.stdout.replace(/[^0-9]/g, '').length).toBeLessThanOrEqual(10);
    expect(split.stdout).toMatch(/^[0-9 ]{7}\*\* \*\*\*\* [*0-9]{4}\n$/);
    await expect.poll(() => records().filter((x) => x.type === 'session.end').length).toBeGreaterThanOrEqual(2);
    const logText = readdirSync(path.join(home, 'log')).filter((f) => f.endsWith('.jsonl')).map((f) => readFileSync(path.join(home, 'log', f), 'utf8')).join('');
    expect(logText).not.toContain(PAN);
    expect(logText).not.toContain('4111111111111111');
    for (const f of readdirSync(path.join(home, 'recordings'))) {
      const cast = readFileSync(path.join(home, 'recordings', f), 'utf8');
      expect(cast).not.toContain('4111 1111 1111 1111');
      expect(containsPan(Buffer.from(cast.replace(/[^0-9]/g, '')))).toBe(false);
    }
  });

  it('hides a token the remote side prints in the recording, not on the terminal, also when it comes in pieces', async () => {
    const token = `ghp_A1${'b'.repeat(34)}`;
    const r = await ssh([`sh -c "printf 'GITHUB_TOKEN=${token.slice(0, 12)}'; sleep 0.05; printf '${token.slice(12)}\\n'"`]);
    expect([r.code, r.stdout]).toEqual([0, `GITHUB_TOKEN=${token}\n`]);
    // (its session: the one whose ssh.exec ran the printf; its recording is committed at session.end)
    const exec = records().find((x) => x.type === 'ssh.exec' && JSON.stringify(x.detail).includes('GITHUB_TOKEN='))!;
    await expect.poll(() => records().some((x) => x.type === 'session.end' && x.session === exec.session)).toBe(true);
    const end = records().find((x) => x.type === 'session.end' && x.session === exec.session)!;
    const cast = readFileSync(path.join(home, end.blobs![0]!.path!), 'utf8');
    expect(cast).not.toContain(token);
    const shown = cast.split('\n').slice(1).filter(Boolean).map((l) => JSON.parse(l) as [number, string, string]).filter((e) => e[1] === 'o').map((e) => e[2]);
    expect(shown.join('')).toBe(`GITHUB_TOKEN=[redacted]${'*'.repeat(token.length - 10)}\n`);
  });

  it('hides a private key and an HTTP credential the remote side prints in the recording, not on the terminal', async () => {
    const body = 'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ';
    const key = ['> Authorization: Bearer tok-Ab3xY9q2', '-----BEGIN OPENSSH PRIVATE KEY-----', body, '-----END OPENSSH PRIVATE KEY-----'];
    const r = await ssh([`sh -c "printf '%s\\n' ${key.map((l) => `'${l}'`).join(' ')}"`]);
    expect([r.code, r.stdout]).toEqual([0, `${key.join('\n')}\n`]);
    // (the newest exec: its command line, key and all, is recorded `sh -c "[redacted]"`)
    const exec = records().filter((x) => x.type === 'ssh.exec').at(-1)!;
    expect(JSON.stringify(exec.detail)).not.toContain(body);
    await expect.poll(() => records().some((x) => x.type === 'session.end' && x.session === exec.session)).toBe(true);
    const end = records().find((x) => x.type === 'session.end' && x.session === exec.session)!;
    const cast = readFileSync(path.join(home, end.blobs![0]!.path!), 'utf8');
    expect(cast).not.toContain(body);
    expect(cast).not.toContain('tok-Ab3xY9q2');
    const shown = cast.split('\n').slice(1).filter(Boolean).map((l) => JSON.parse(l) as [number, string, string]).filter((e) => e[1] === 'o').map((e) => e[2]);
    expect(shown.join('')).toBe(`> Authorization: Bearer [redacted]**\n${key[1]}\n${'*'.repeat(body.length)}\n${key[3]}\n`);
  });

  it('records every session with a committed recording', async () => {
    await ssh(['echo', 'recorded']);
    await expect.poll(() => records().some((x) => x.type === 'session.end' && (x.blobs ?? []).length > 0)).toBe(true);
    const end = records().filter((x) => x.type === 'session.end' && (x.blobs ?? []).length > 0).at(-1)!;
    const blob = end.blobs![0]!;
    const bytes = readFileSync(path.join(home, blob.path!));
    expect(bytes.length).toBe(blob.bytes);
    const { createHash } = await import('node:crypto');
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(blob.sha256);
    const header = JSON.parse(bytes.toString('utf8').split('\n')[0]!) as { version: number };
    expect(header.version).toBe(2);
    expect(end.actor?.sub).toBe('alice');
  });

  it('forwards the client pty size to the remote side', async () => {
    const r = await ssh(['stty size'], broker.secret, { tty: true });
    expect(r.stdout.trim()).toMatch(/^\d+ \d+$/);
  });

  it('forwards window changes of the OpenSSH client\'s terminal to the remote pty (node-pty)', async () => {
    const pty = await import('node-pty');
    writeFileSync(askpass, `#!/bin/sh\necho '${broker.secret}'\n`);
    const term = pty.spawn('ssh', ['-tt', '-p', String(broker.port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
      '-o', 'LogLevel=ERROR', '-o', 'PreferredAuthentications=password', 'pcigate@127.0.0.1'], {
      cols: 90, rows: 25, env: { PATH: process.env.PATH ?? '', HOME: home, TERM: 'xterm', SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' },
    });
    let screen = '';
    term.onData((d) => { screen += d; });
    const exited = new Promise<number>((resolve) => term.onExit(({ exitCode }) => resolve(exitCode)));
    const sizeSeen = async (re: RegExp) => {
      for (let i = 0; i < 60; i++) {
        term.write('echo "size:$(stty size):"\r');
        await new Promise((r) => setTimeout(r, 200));
        if (re.test(screen)) return true;
      }
      return false;
    };
    try {
      expect(await sizeSeen(/size:25 90:/), screen).toBe(true);
      term.resize(120, 33);
      expect(await sizeSeen(/size:33 120:/), screen).toBe(true);
      term.write('exit 0\r');
      expect(await exited).toBe(0);
    } finally {
      term.kill();
    }
  }, 30_000);

  it('refuses port forwarding and sftp, and records the refusals', async () => {
    const fwd = await ssh(['-W', `127.0.0.1:${sshd.port}`]);
    expect(fwd.code).not.toBe(0);
    const sftp = await new Promise<number | null>((resolve) => {
      const child = spawn('sftp', ['-P', String(broker.port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'PreferredAuthentications=password', 'pcigate@127.0.0.1'], {
        env: { PATH: process.env.PATH, HOME: home, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' }, stdio: ['pipe', 'ignore', 'ignore'],
      });
      child.on('close', resolve);
      child.stdin.end('ls\n');
    });
    expect(sftp).not.toBe(0);
    await expect.poll(() => records().filter((x) => x.type === 'ssh.request' && x.outcome === 'denied').map((x) => (x.detail as { rule: string }).rule)).toEqual(
      expect.arrayContaining(['ssh.port_forwarding', 'ssh.subsystems']),
    );
  });

  it('refuses agent forwarding (ssh -A with a running agent) and records it; the command still runs', async () => {
    const sock = path.join(home, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    try {
      await expect.poll(() => existsSync(sock)).toBe(true);
      const r = await ssh(['-A', 'echo', 'agent-test'], broker.secret, { env: { SSH_AUTH_SOCK: sock } });
      expect(r.stdout).toBe('agent-test\n');
      await expect.poll(() => records().filter((x) => x.type === 'ssh.request' && x.outcome === 'denied').map((x) => (x.detail as { rule: string }).rule)).toContain('ssh.agent_forwarding');
    } finally {
      agent.kill();
    }
  });

  it('applies env requests sent before the channel opens (ssh SetEnv → remote environment)', async () => {
    const r = await ssh(['-o', 'SetEnv=PCIGATE_TEST_VAR=from-client', "sh -c 'echo env:$PCIGATE_TEST_VAR'"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('env:from-client\n');
  });

  it('records input only when the connection asks (masked), markers for decisions and exit, and commits a long session periodically', async () => {
    const withInput = await startSshBroker({
      name: 'prod-ssh', conn: connFor({ record_input: true }), credentials: { privateKey: sshd.clientKey }, commitEveryMs: 200,
      sink: log, actor: async () => ({ sub: 'alice', via: 'local' }), clock: gate.ctx.clock, fs: gate.ctx.fs, log: gate.ctx.log, home,
    });
    const castOf = (end: AuditRecord) => readFileSync(path.join(home, end.blobs![0]!.path!), 'utf8').split('\n').slice(1).filter(Boolean)
      .map((l) => JSON.parse(l) as [number, string, string]);
    const endOf = (marker: string) => records().find((x) => x.type === 'session.end' && (x.blobs ?? []).length > 0
      && readFileSync(path.join(home, x.blobs![0]!.path!), 'utf8').includes(marker));
    const cmd = (tag: string) => `sh -c "read line; echo ${tag}; sleep 1"`;
    // Typed at a prompt for a secret (the remote side would not echo it): recorded as stars, up to the Enter.
    const askCmd = `sh -c "printf 'Password for ann: '; read pw; echo asked-\\\${#pw}; read line"`;
    try {
      const r = await ssh([cmd('typed-in')], withInput.secret, { port: withInput.port, input: `card ${PAN}\n` });
      expect(r.stdout).toBe('typed-in\n');
      const asked = await ssh([askCmd], withInput.secret, { port: withInput.port, answer: ['Password for ann: ', 'hunter2secret\nplain after\n'] });
      expect(asked.stdout).toBe('Password for ann: asked-13\n');
    } finally {
      await withInput.close();
    }
    const plain = await ssh([cmd('not-typed-in')], broker.secret, { input: `card ${PAN}\n` });
    expect(plain.stdout).toBe('not-typed-in\n');
    await expect.poll(() => Boolean(endOf('typed-in') && endOf('not-typed-in'))).toBe(true);
    const recorded = castOf(endOf('typed-in')!);
    const input = recorded.filter((e) => e[1] === 'i').map((e) => e[2]).join('');
    expect(input).toBe('card **** **** **** 1111\n');
    const markers = recorded.filter((e) => e[1] === 'm').map((e) => e[2]);
    expect(markers).toEqual([`exec: ${cmd('typed-in')}: allowed`, 'exit-status 0']);
    expect(castOf(endOf('not-typed-in')!).filter((e) => e[1] === 'i')).toEqual([]);
    await expect.poll(() => Boolean(endOf('asked-'))).toBe(true);
    expect(castOf(endOf('asked-')!).filter((e) => e[1] === 'i').map((e) => e[2]).join('')).toBe('*************\nplain after\n');
    // The running recording's hash reached the log before the session ended (every 200 ms here).
    const session = endOf('typed-in')!.session;
    const partial = records().filter((x) => x.type === 'recording.commit' && x.session === session);
    expect(partial.length).toBeGreaterThanOrEqual(2);
    expect(partial[0]!.detail).toMatchObject({ partial: true });
    expect(partial[0]!.seq).toBeLessThan(endOf('typed-in')!.seq);
  });

  it('a client that drops mid-command ends the upstream session and records session.end', async () => {
    const before = records().filter((x) => x.type === 'session.end').length;
    writeFileSync(askpass, `#!/bin/sh\necho '${broker.secret}'\n`);
    const child = spawn('ssh', ['-T', '-p', String(broker.port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR',
      '-o', 'PreferredAuthentications=password', 'pcigate@127.0.0.1', 'sh -c "echo started-$((40+2)); sleep 31.7"'],
    { env: { PATH: process.env.PATH, HOME: home, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' }, stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    await expect.poll(() => out, { timeout: 10_000 }).toContain('started-42');
    expect(broker.active).toBe(1);
    child.kill('SIGKILL');
    await expect.poll(() => broker.active, { timeout: 10_000 }).toBe(0);
    await expect.poll(() => records().filter((x) => x.type === 'session.end').length).toBe(before + 1);
    // The upstream connection is closed: its per-connection sshd process is gone. (The remote `sleep`, with no
    // pty, outlives it as it would with a plain OpenSSH client; this test's own is cleaned up here.)
    const master = Number(readFileSync(path.join(sshd.dir, 'sshd.pid'), 'utf8').trim());
    await expect.poll(() => childrenOf(master), { timeout: 10_000 }).toEqual([]);
    for (const pid of remoteSleepers()) process.kill(pid, 'SIGKILL');
  });

  it('an upstream that drops mid-command ends the client\'s session and records session.end', async () => {
    const before = records().filter((x) => x.type === 'session.end').length;
    const run = ssh(['sh -c "echo started; sleep 31.7"']);
    await expect.poll(() => broker.active, { timeout: 10_000 }).toBe(1);
    await expect.poll(() => remoteSleepers().length, { timeout: 10_000 }).toBeGreaterThan(0);
    // Kill the per-connection sshd processes (children of the listening sshd): the upstream TCP connection drops.
    const master = Number(readFileSync(path.join(sshd.dir, 'sshd.pid'), 'utf8').trim());
    for (const pid of childrenOf(master)) process.kill(pid, 'SIGKILL');
    const r = await run;
    expect(r.code).not.toBe(0);
    await expect.poll(() => broker.active, { timeout: 10_000 }).toBe(0);
    await expect.poll(() => records().filter((x) => x.type === 'session.end').length).toBe(before + 1);
    for (const pid of remoteSleepers()) process.kill(pid, 'SIGKILL');
  });

  it('refuses a wrong listener secret and records auth.fail, naming the listener\'s owner without resolving the identity', async () => {
    const resolved = gate.resolves();
    const r = await ssh(['echo', 'nope'], 'wrong-secret');
    expect(r.code).toBe(255);
    expect(r.stdout).toBe('');
    await expect.poll(() => records().some((x) => x.type === 'auth.fail' && x.target?.kind === 'ssh')).toBe(true);
    expect(records().filter((x) => x.type === 'auth.fail' && x.target?.kind === 'ssh').map((x) => x.actor?.sub)).toEqual(['alice']);
    // A wrong secret starts no session: no keychain read, no question to the identity provider (anyone reaching the port could ask).
    expect(gate.resolves()).toBe(resolved);
  });

  it('closes a connection after 6 wrong secrets, as sshd does, and records each with the user name PAN-masked', async () => {
    const fails = () => records().filter((x) => x.type === 'auth.fail' && x.target?.kind === 'ssh');
    const before = fails().length;
    const r = await ssh(['echo', 'nope'], 'wrong-secret', { user: PAN.replace(/ /g, ''), prompts: 20 });
    expect(r.code).toBe(255);
    await expect.poll(() => fails().length).toBe(before + 6);
    await new Promise((r) => setTimeout(r, 300));
    expect(fails().length).toBe(before + 6);
    const mine = fails().slice(before);
    expect(new Set(mine.map((x) => x.src?.port)).size).toBe(1);
    for (const x of mine) expect((x.detail as { user: string }).user).toBe('************1111');
    expect(JSON.stringify(records())).not.toContain(PAN.replace(/ /g, ''));
  });

  it('masks a card number in the session\'s --reason in session.start', async () => {
    const withReason = await startSshBroker({
      name: 'prod-ssh', conn: connFor(), credentials: { privateKey: sshd.clientKey }, reason: `INC-1 refund for ${PAN}`,
      sink: log, actor: async () => ({ sub: 'alice', via: 'local' }), clock: gate.ctx.clock, fs: gate.ctx.fs, log: gate.ctx.log, home,
    });
    try {
      const r = await ssh(['echo', 'hi'], withReason.secret, { port: withReason.port });
      expect(r.stdout).toBe('hi\n');
    } finally { await withReason.close(); }
    const start = records().filter((x) => x.type === 'session.start' && String((x.detail as { reason?: string }).reason ?? '').startsWith('INC-1'));
    expect(start.map((x) => (x.detail as { reason: string }).reason)).toEqual(['INC-1 refund for **** **** **** 1111']);
  });

  it('refuses an upstream whose host key does not match the pin', async () => {
    const wrong = await startSshBroker({
      name: 'prod-ssh', conn: connFor({ host_key: sshd.otherHostKeyLine }), credentials: { privateKey: sshd.clientKey },
      sink: log, actor: async () => ({ sub: 'alice', via: 'local' }), clock: gate.ctx.clock, fs: gate.ctx.fs, log: gate.ctx.log, home,
    });
    try {
      const saved = broker;
      broker = wrong;
      const r = await ssh(['echo', 'hi']);
      broker = saved;
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe('');
      await expect.poll(() => records().some((x) => x.type === 'session.start' && x.outcome === 'failure' && JSON.stringify(x.detail).includes('ERR_SSH_HOST_KEY'))).toBe(true);
    } finally {
      await wrong.close();
    }
  });
});
