/**
 * More of a hostile client against `pcigate connect SSH --listen` (real sshd upstream, ssh2's client to send
 * what OpenSSH would not): env requests that would change what runs, floods of requests that open nothing.
 * The upstream sshd accepts `PCIGATE_*` env (test/harness/sshd.ts), so what reaches the remote side is
 * pcigate's decision alone.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Client, ClientChannel } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuditLog } from '../../recorder/index.js';
import type { AuditLog } from '../../recorder/index.js';
import type { AuditRecord } from '../../recorder/types.js';
import { startSshBroker } from '../../src/broker/ssh-broker.js';
import type { SshBroker } from '../../src/broker/ssh-broker.js';
import { systemClock } from '../../src/cli/ctx.js';
import { sshConnection } from '../../src/config/sections/connections.js';
import { tempDir } from '../harness/cli.js';
import { sshdConnectionFields } from '../harness/ssh-gate.js';
import { collect, execOn, sshClient, startSshd, sshdAvailable } from '../harness/sshd.js';
import type { ChannelRun, Sshd } from '../harness/sshd.js';
import { readLog } from './pg-proxy-setup.js';
import { testCtx } from '../harness/test-ctx.js';

const skip = sshdAvailable();
if (skip) process.stderr.write(`skipping SSH integration tests: ${skip}\n`);


type Proto = {
  env(chan: number, key: string, val: string, wantReply: boolean): void;
  openssh_agentForward(chan: number, wantReply: boolean): void;
  tcpipForward(bindAddr: string, bindPort: number, wantReply: boolean): void;
};
const protoOf = (c: Client) => (c as unknown as { _protocol: Proto })._protocol;
const chanId = (ch: ClientChannel) => (ch as unknown as { outgoing: { id: number } }).outgoing.id;

describe.skipIf(Boolean(skip))('SSH listener against a hostile client, part 2 (real sshd)', () => {
  let sshd: Sshd;
  let home: string;
  let log: AuditLog;
  let broker: SshBroker;
  const ctx = testCtx({ clock: systemClock() as never, log: { debug: () => {}, warn: () => {} } });

  const records = (): AuditRecord[] => readLog(home);

  const connect = (b: SshBroker = broker) => sshClient(b);

  /** A broker for prod-ssh whose policy is `allow` (default: a few commands; env: allow.env names). */
  const start = (env: string[] | undefined, allow: Record<string, unknown> = { exec: { allow: ['echo *', 'sh -c *', 'true'] }, ...(env ? { env } : {}) }) => startSshBroker({
    name: 'prod-ssh',
    conn: sshConnection.parse(sshdConnectionFields(sshd, allow)),
    credentials: { privateKey: sshd.clientKey }, sink: log,
    actor: async () => ({ sub: 'alice', via: 'oidc', groups: ['engineers'] }),
    clock: ctx.clock, fs: ctx.fs, log: ctx.log, home,
  });

  /** Ends the connection and waits for its session.end; returns the session's records. */
  const sessionOf = async (c: Client, marker: string): Promise<AuditRecord[]> => {
    c.end();
    let id: string | undefined;
    await expect.poll(() => {
      id = records().find((x) => x.type === 'ssh.exec' && JSON.stringify(x.detail).includes(marker))?.session;
      return id !== undefined && records().some((x) => x.type === 'session.end' && x.session === id);
    }, { timeout: 15_000 }).toBe(true);
    return records().filter((x) => x.session === id);
  };

  beforeAll(async () => {
    sshd = await startSshd();
    home = tempDir('pcigate-ssh-hostile2-');
    log = await openAuditLog(ctx, { home, createIfMissing: true, idleMs: 50 });
    broker = await start(undefined);
  }, 60_000);

  afterAll(async () => {
    await broker?.close();
    await log?.close();
    await sshd?.stop();
  });

  it('env requests: only allow.env names (default LANG, LC_*) reach the remote side, never LD_PRELOAD/BASH_ENV/PATH; each is recorded without its value', async () => {
    const pan = '4111111111111111';
    const run = async (b: SshBroker, marker: string, env: Record<string, string>) => {
      const c = await connect(b);
      const r = await new Promise<ChannelRun>((resolve, reject) => {
        c.exec(`sh -c "echo ${marker}; env | grep -E '^(LANG|LC_ALL|PCIGATE_[A-Z]+|LD_PRELOAD|BASH_ENV)=' | sort"`, { env }, (err, ch) => {
          if (err) { reject(err); return; }
          void collect(ch).then(resolve);
          ch.end();
        });
      });
      return { r, mine: await sessionOf(c, marker) };
    };
    const env = {
      LANG: 'C.UTF-8', LC_ALL: 'C', PCIGATE_TOKEN: `s3cret-${pan}`, LD_PRELOAD: '/tmp/evil.so', BASH_ENV: '/tmp/evil.sh',
      PATH: '/tmp/evil', LC_CTYPE: '../../tmp/evil-locale',
    };
    const { r, mine } = await run(broker, 'env-default', env);
    expect(r.code).toBe(0);
    // sshd would have taken PCIGATE_TOKEN (AcceptEnv PCIGATE_*): pcigate did not pass it on.
    expect(r.stdout).toBe('env-default\nLANG=C.UTF-8\nLC_ALL=C\n');
    const reqs = mine.filter((x) => x.type === 'ssh.request' && (x.detail as { request: { kind: string } }).request.kind === 'env');
    const byName = Object.fromEntries(reqs.map((x) => {
      const d = x.detail as { request: { name: string; value_bytes: number }; rule: string };
      return [d.request.name, [x.outcome, d.rule, d.request.value_bytes]];
    }));
    expect(byName).toEqual({
      LANG: ['success', 'ssh.env[0]', 7], LC_ALL: ['success', 'ssh.env[1]', 1], PCIGATE_TOKEN: ['denied', 'ssh.env.default', 23],
      LD_PRELOAD: ['denied', 'ssh.env.unsafe', 12], BASH_ENV: ['denied', 'ssh.env.unsafe', 12], PATH: ['denied', 'ssh.env.unsafe', 9],
      LC_CTYPE: ['denied', 'ssh.env.value', 21],
    });
    // The command's own record names what was passed on with it.
    const exec = mine.find((x) => x.type === 'ssh.exec')!;
    expect((exec.detail as { request: { env?: string[] } }).request.env).toEqual(['LANG', 'LC_ALL']);
    // No value reaches the log: neither the secret nor the card number in it.
    const all = JSON.stringify(records());
    expect(all).not.toContain('s3cret');
    expect(all).not.toContain(pan);
    expect(all).not.toContain('evil');

    // An allow.env glob wide enough to name LD_PRELOAD still does not pass it.
    const wide = await start(['*']);
    try {
      const w = await run(wide, 'env-wide', env);
      // (The card number in the value is masked in the output, as any output.)
      expect(w.r.stdout).toMatch(/^env-wide\nLANG=C\.UTF-8\nLC_ALL=C\nPCIGATE_TOKEN=s3cret-\S+1111\n$/);
      expect(w.mine.filter((x) => (x.detail as { rule?: string }).rule === 'ssh.env.unsafe')).toHaveLength(3);
    } finally {
      await wide.close();
    }
  }, 60_000);

  it('a deny or hold pattern is not evaded by quoting, a path, a wrapper, a nested shell, a glob or a computed word', async () => {
    const b = await start(undefined, { exec: { allow: ['*'], deny: ['touch *'], hold: ['mkdir *'] } });
    const c = await connect(b);
    const run = (command: string) => execOn(c, command);
    try {
      const m = (n: number) => path.join(home, `evaded-${n}`);
      const evasions = [
        `t''ouch ${m(0)}`, `"touch" ${m(1)}`, `\\touch ${m(2)}`, `/usr/bin/touch ${m(3)}`, `env touch ${m(4)}`, `command touch ${m(5)}`,
        `nice -n 1 touch ${m(6)}`, `sh -c 'touch ${m(7)}'`, `bash -c "touch ${m(8)}"`, `/usr/bin/t?uch ${m(9)}`, `/usr/bin/to[u]ch ${m(10)}`,
        `$SHELL -c 'touch ${m(11)}'`, `env X=1 /usr/bin/tou''ch ${m(12)}`, `find ${home} -maxdepth 0 -exec touch ${m(13)} \\;`,
        `m''kdir ${m(14)}`, `sh -c 'echo; mkdir ${m(15)}'`,
        // The value assigned before the command, run by a one-word -c line.
        `X='touch ${m(16)}' sh -c '$X'`,
      ];
      for (const cmd of evasions) {
        const r = await run(cmd);
        expect({ cmd, code: r.code, stderr: r.stderr }).toMatchObject({ cmd, code: 126, stderr: expect.stringContaining('pcigate: refused by policy:') });
      }
      for (let n = 0; n < evasions.length; n++) expect(existsSync(m(n))).toBe(false);
      // Ordinary commands still run.
      expect(await run('echo "plain $((40+2))" rm')).toMatchObject({ code: 0, stdout: 'plain 42 rm\n' });
      expect(await run(`sh -c 'echo nested-ok'`)).toMatchObject({ code: 0, stdout: 'nested-ok\n' });
    } finally {
      c.end();
      await b.close();
    }
    const rules = records().filter((x) => x.type === 'ssh.exec' && x.outcome === 'denied' && JSON.stringify(x.detail).includes('evaded-'))
      .map((x) => (x.detail as { rule: string }).rule);
    expect(rules.filter((r) => r === 'ssh.exec.deny[0]').length).toBe(14);
    expect(rules.filter((r) => r === 'ssh.exec.unreadable').length).toBe(1);
    expect(rules.filter((r) => r === 'ssh.exec.hold[0]').length).toBe(2);
  }, 90_000);

  it('a credential on an exec command line is redacted in its record and the recording (the command runs as given)', async () => {
    const b = await start(undefined, { exec: { allow: ['*'] } });
    const c = await connect(b);
    try {
      const r = await execOn(c, "TOKEN=ghp_SECRETTOKEN1234567890 sh -c 'echo cred-run \"${#TOKEN}\"' --password=hunter2xyz");
      expect(r).toMatchObject({ code: 0, stdout: 'cred-run 25\n' });
    } finally {
      c.end();
      await b.close();
    }
    const mine = () => records().filter((x) => x.type === 'ssh.exec' && JSON.stringify(x.detail).includes('cred-run'));
    await expect.poll(() => mine().length, { timeout: 10_000 }).toBe(1);
    expect((mine()[0]!.detail as { request: { command: string } }).request.command).toBe("TOKEN=[redacted] sh -c 'echo cred-run \"${#TOKEN}\"' --password=[redacted]");
    const casts = readdirSync(path.join(home, 'recordings')).map((f) => readFileSync(path.join(home, 'recordings', f), 'utf8')).join('\n');
    expect(casts).toContain('cred-run');
    for (const text of [JSON.stringify(records()), casts]) {
      expect(text).not.toContain('ghp_SECRETTOKEN');
      expect(text).not.toContain('hunter2xyz');
    }
  }, 60_000);

  it('a credential behind a wrapper or in a here-document\'s body is redacted in the record, and in a reason quoting the command or its pattern', async () => {
    // psql --version ignores its input, the SQL body reaches it all the same; mysql is likely missing (127, ignored).
    const command = "psql --version <<'SQL' >/dev/null\nALTER ROLE app PASSWORD 'hunter3sqlbody';\nSQL\ntimeout 5 mysql -phunter4wrapped 2>/dev/null; echo cred-heredoc";
    // (allowed as written: a wildcard may not stand for the newlines and the `;`; the reason quotes the pattern)
    const b = await start(undefined, { exec: { allow: [command, 'sh -c *'], deny: ['redis-cli *'] } });
    const c = await connect(b);
    try {
      const r = await execOn(c, command);
      expect(r).toMatchObject({ code: 0, stdout: 'cred-heredoc\n' });
      // SQL on the command line is read with the server's scanner (the broker loads the parser): a PASSWORD inside
      // a literal is no clause, and what follows it stays shown.
      const sql = await execOn(c, `psql --version -c "SELECT 1 WHERE note = 'SET PASSWORD'; DROP TABLE gone" >/dev/null # cred-heredoc`);
      expect(sql.code).toBe(126);
      // Refused by its reading, which the reason quotes: `read as the shell reads it ('redis-cli -a …')`.
      const denied = await execOn(c, "sh -c 'redis-cli -a hunter5reading ping' # cred-heredoc");
      expect(denied.code).not.toBe(0);
    } finally {
      c.end();
      await b.close();
    }
    const mine = () => records().filter((x) => x.type === 'ssh.exec' && JSON.stringify(x.detail).includes('cred-heredoc'));
    await expect.poll(() => mine().length, { timeout: 10_000 }).toBe(3);
    expect((mine()[1]!.detail as { request: { command: string } }).request.command).toContain("'SET PASSWORD'; DROP TABLE gone");
    expect((mine()[0]!.detail as { request: { command: string } }).request.command)
      .toBe("psql --version <<'SQL' >/dev/null\nALTER ROLE app PASSWORD '[redacted]';\nSQL\ntimeout 5 mysql -p[redacted] 2>/dev/null; echo cred-heredoc");
    expect(mine()[0]!.detail).toMatchObject({ decision: 'allow', rule: 'ssh.exec.allow[0]', reason: expect.stringContaining("PASSWORD '[redacted]'") });
    expect(mine()[2]!.detail).toMatchObject({ decision: 'deny', rule: 'ssh.exec.deny[0]', reason: expect.stringContaining("('redis-cli -a [redacted] ping") });
    const casts = readdirSync(path.join(home, 'recordings')).map((f) => readFileSync(path.join(home, 'recordings', f), 'utf8')).join('\n');
    for (const text of [JSON.stringify(records()), casts]) {
      expect(text).not.toContain('hunter3sqlbody');
      expect(text).not.toContain('hunter4wrapped');
      expect(text).not.toContain('hunter5reading');
    }
  }, 60_000);

  it('what a command writes into .pgpass and .netrc, and a container\'s command, are redacted in the record (the files get it as given)', async () => {
    const dir = tempDir('pcigate-credfiles-');
    const command = [
      `cat > ${dir}/.pgpass <<EOF`, 'db1:5432:*:app:hunter6pgpass', 'EOF',
      `echo "machine api.example login ann password hunter7netrc" >> ${dir}/.netrc`,
      // (docker is not installed here: the command fails, its record is what matters)
      'docker run --rm -it mysql:8 mysql -phunter8container 2>/dev/null', `cat ${dir}/.pgpass ${dir}/.netrc; echo cred-files`,
    ].join('\n');
    // (allowed as written: a wildcard may not stand for newlines)
    const b = await start(undefined, { exec: { allow: [command] } });
    const c = await connect(b);
    try {
      const r = await execOn(c, command);
      expect(r).toMatchObject({ code: 0, stdout: 'db1:5432:*:app:hunter6pgpass\nmachine api.example login ann password hunter7netrc\ncred-files\n' });
    } finally {
      c.end();
      await b.close();
    }
    const mine = () => records().filter((x) => x.type === 'ssh.exec' && JSON.stringify(x.detail).includes('cred-files'));
    await expect.poll(() => mine().length, { timeout: 10_000 }).toBe(1);
    expect((mine()[0]!.detail as { request: { command: string } }).request.command).toBe(command
      .replace('hunter6pgpass', '[redacted]').replace('hunter7netrc', '[redacted]').replace('hunter8container', '[redacted]'));
    expect(JSON.stringify(records())).not.toMatch(/hunter[678]/);
  }, 60_000);

  it('a client that sends past the channel window is cut off, not buffered (ssh2 takes an overrun whole)', async () => {
    const c = await connect();
    try {
      const ch = await new Promise<ClientChannel>((resolve, reject) => c.exec('sh -c "sleep 30"', (err, x) => (err ? reject(err) : resolve(x))));
      const closed = new Promise<number>((resolve) => { const t0 = Date.now(); ch.on('close', () => resolve(Date.now() - t0)); });
      ch.resume();
      ch.stderr.resume();
      // What a client that ignores the window does: ssh2's client believes it may send 1 GiB at once.
      (ch as unknown as { outgoing: { window: number } }).outgoing.window = 1 << 30;
      let sent = 0;
      let gone = false;
      void closed.then(() => { gone = true; });
      // Not a divisor of the window: ssh2 drops a packet that comes when it is exactly 0, but one that
      // straddles it drives it negative.
      const chunk = Buffer.alloc(30_000, 0x61);
      while (!gone && sent < 64 << 20) {
        if (!ch.write(chunk)) await new Promise((r) => { setTimeout(r, 5); });
        sent += chunk.length;
        if (sent % 300_000 === 0) await new Promise((r) => { setImmediate(r); });
      }
      // sleep 30 reads nothing and ends in 30 s: the channel closes long before, from pcigate's side.
      expect(await closed).toBeLessThan(20_000);
    } finally {
      c.end();
    }
  }, 60_000);

  it('session channels held open on one connection are bounded (64), and the refusals are recorded', async () => {
    const c = await connect();
    const proto = protoOf(c) as unknown as { exec(chan: number, cmd: string, wantReply: boolean): void };
    const realExec = proto.exec.bind(proto);
    // Channels that open and then ask for nothing: ssh2 sends the exec request only through _protocol.exec.
    proto.exec = () => {};
    const refused: Error[] = [];
    for (let i = 0; i < 70; i++) c.exec('true', (err) => { if (err) refused.push(err); });
    await expect.poll(() => refused.length, { timeout: 10_000 }).toBe(6);
    await new Promise((r) => setTimeout(r, 500));
    expect(refused.length).toBe(6);
    proto.exec = realExec;
    c.end();
    let id: string | undefined;
    await expect.poll(() => {
      id = records().filter((x) => x.type === 'ssh.request' && (x.detail as { rule?: string }).rule === 'ssh.max_channels').at(-1)?.session;
      return id !== undefined && records().some((x) => x.type === 'session.end' && x.session === id);
    }, { timeout: 15_000 }).toBe(true);
    const mine = records().filter((x) => x.session === id && (x.detail as { rule?: string }).rule === 'ssh.max_channels');
    expect(mine.reduce((n, x) => n + ((x.detail as { repeated?: number }).repeated ?? 1), 0)).toBe(6);
  }, 60_000);

  it('a flood of requests that open nothing writes a bounded number of records, and every one is counted', async () => {
    const c = await connect();
    const N = 600;
    const ran = await new Promise<ChannelRun>((resolve, reject) => {
      c.exec('sh -c "sleep 2; echo flood-done"', (err, ch) => {
        if (err) { reject(err); return; }
        void collect(ch).then(resolve);
        const p = protoOf(c);
        for (let i = 0; i < N; i++) {
          p.openssh_agentForward(chanId(ch), false);
          p.env(chanId(ch), `PCIGATE_LATE${i}`, 'x', false);
          p.tcpipForward('127.0.0.1', 20000 + i, false);
        }
        ch.end();
      });
    });
    expect(ran).toMatchObject({ code: 0, stdout: 'flood-done\n' });
    const mine = await sessionOf(c, 'flood-done');
    const reqs = mine.filter((x) => x.type === 'ssh.request');
    expect(reqs.length).toBeLessThan(100);
    const counted = (kind: string) => reqs.filter((x) => (x.detail as { request: { kind: string } }).request.kind === kind)
      .reduce((n, x) => n + ((x.detail as { repeated?: number }).repeated ?? 1), 0);
    expect([counted('agent-forwarding'), counted('env'), counted('port-forwarding')]).toEqual([N, N, N]);
    const end = mine.find((x) => x.type === 'session.end')!;
    expect((end.detail as { requests: number }).requests).toBe(3 * N);
    // Summaries come before session.end and say when the counted ones came.
    const summary = reqs.find((x) => (x.detail as { repeated?: number }).repeated !== undefined)!;
    expect(summary.seq).toBeLessThan(end.seq);
    expect(summary.detail).toMatchObject({ first_at: expect.any(String), last_at: expect.any(String) });
  }, 60_000);

  it('a card number in the pty\'s terminal type reaches the recording\'s header masked (and the output masked)', async () => {
    const pan = '4111111111111111';
    const c = await connect();
    const ran = await new Promise<ChannelRun>((resolve, reject) => {
      c.exec('echo term-$TERM', { pty: { rows: 24, cols: 80, height: 0, width: 0, term: `xterm-${pan}` } }, (err, ch) => {
        if (err) { reject(err); return; }
        void collect(ch).then(resolve);
      });
    });
    expect(ran.stdout).toContain('term-xterm-************1111');
    const mine = await sessionOf(c, 'term-$TERM');
    const rel = mine.find((x) => x.type === 'session.end')!.blobs![0]!.path!;
    const header = JSON.parse(readFileSync(path.join(home, rel), 'utf8').split('\n')[0]!) as { env: { TERM: string } };
    expect(header.env.TERM).toBe('xterm-************1111');
  }, 30_000);
});
