/**
 * `pcigate connect prod-ssh` in the user's own terminal (issue 7 item 2): the built bin under a real pty
 * (node-pty) against a real OpenSSH sshd. An interactive shell runs a command; a pty resize reaches the
 * remote `stty size` (window-change forwarded); a PAN printed by the remote side, also split across writes
 * with a pause, is masked on the terminal and in the recording; `exit 7` ends pcigate with the remote exit
 * status, and the terminal is back in cooked mode (raw mode off) afterwards. With a 1s idle timeout (PCI
 * DSS 8.2.8) a shell left alone is closed: the terminal says why, pcigate exits 129 (a hangup) and the log
 * has session.idle_timeout before session.end.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containsPan } from '../../src/mask/pan-detector.js';
import { readLog } from '../harness/audit-records.js';
import { BIN, tempDir } from '../harness/cli.js';
import { sshConnectionYaml, startSshd, sshdAvailable } from '../harness/sshd.js';
import type { Sshd } from '../harness/sshd.js';

const skip = sshdAvailable();
if (skip) process.stderr.write(`skipping the in-terminal SSH tests: ${skip}\n`);

const strip = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\x1b\][^\x07]*\x07/g, '');

let sshd: Sshd;
let dir: string;
let config: string;

beforeAll(async () => {
  if (skip) return;
  sshd = await startSshd();
  dir = tempDir('pcigate-ssh-tty-');
  config = path.join(dir, 'pcigate.yaml');
  const shell = (name: string) => sshConnectionYaml(sshd, dir, name, { extra: ['allow: { shell: true }'] });
  writeFileSync(config, [
    'identity:',
    '  allow_local: true',
    'connections:',
    ...shell('prod-ssh'),
    ...shell('idle-ssh'),
    'policy:',
    '  connections:',
    '    idle-ssh: { session: { idle_timeout: 1s } }',
    '',
  ].join('\n'), { mode: 0o600 });
}, 60_000);

afterAll(async () => {
  await sshd?.stop();
});

/**
 * `pcigate connect CONN` (a new data home) in a 100x30 pty, killed after `killAfterMs`. A shell wraps pcigate so
 * the test can see, after pcigate exits, its exit status and the terminal's mode as the next program finds it
 * (`stty -a` prints `-icanon -echo` while raw mode is still on); `screen()` is all the pty has shown so far.
 */
async function connectInPty(conn: string, killAfterMs: number) {
  const pty = await import('node-pty');
  const home = tempDir('pcigate-ssh-tty-home-');
  const script = `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} connect --config ${JSON.stringify(config)} --home ${JSON.stringify(home)} ${conn}; echo "pcigate-rc=$?"; stty -a; exit 0`;
  const term = pty.spawn('/bin/sh', ['-c', script], {
    cols: 100, rows: 30, cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: home, TERM: 'xterm', NO_COLOR: '1' },
  });
  let screen = '';
  term.onData((d) => { screen += d; });
  const exited = new Promise<number>((resolve) => term.onExit(({ exitCode }) => resolve(exitCode)));
  const killer = setTimeout(() => term.kill(), killAfterMs);
  return { home, term, screen: () => screen, exited, killer };
}

describe.skipIf(Boolean(skip))('pcigate connect SSH in this terminal (node-pty, real sshd)', () => {
  it('runs a shell: output, resize, masked PAN, exit status and the terminal restored', async () => {
    const { home, term, screen, exited, killer } = await connectInPty('prod-ssh', 60_000);
    const waitFor = async (re: RegExp, from = 0): Promise<RegExpExecArray> => {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const m = re.exec(strip(screen().slice(from)));
        if (m) return m;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${re} in:\n${strip(screen())}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      // Markers are computed by the remote shell, so the echo of the typed line never matches them.
      term.write('echo "ready-$((6*7))"\r');
      await waitFor(/ready-42/);
      term.write('echo "size:$(stty size):"\r');
      await waitFor(/size:30 100:/);
      let mark = screen().length;
      term.resize(132, 41);
      // The window change travels pcigate → upstream channel → sshd → remote pty; poll until it lands.
      let seen = false;
      for (let i = 0; i < 40 && !seen; i++) {
        term.write('echo "size:$(stty size):"\r');
        await new Promise((r) => setTimeout(r, 150));
        seen = /size:41 132:/.test(strip(screen().slice(mark)));
      }
      expect(seen, strip(screen().slice(mark))).toBe(true);
      mark = screen().length;
      term.write(`printf '4111 1111 1111 1111\\n'; printf 'pan-%s\\n' done1\r`);
      await waitFor(/pan-done1/, mark);
      mark = screen().length;
      term.write(`printf '4111 1111'; sleep 0.3; printf ' 1111 1111\\n'; printf 'pan-%s\\n' done2\r`);
      await waitFor(/pan-done2/, mark);
      // Raw mode: Ctrl-C is a byte for the remote shell (it interrupts the remote sleep), not a signal that
      // would kill pcigate here.
      mark = screen().length;
      term.write('sleep 20; echo "slept-$((2+3))"\r');
      await new Promise((r) => setTimeout(r, 400));
      term.write('\x03');
      term.write('echo "alive-$((1+1))"\r');
      await waitFor(/alive-2/, mark);
      expect(strip(screen().slice(mark))).not.toContain('slept-5');
      if (process.env.SHOW_SCREEN) process.stderr.write(strip(screen()));
      term.write('exit 7\r');
      await waitFor(/pcigate-rc=\d+/);
      expect(await exited).toBe(0);
    } finally {
      clearTimeout(killer);
      term.kill();
    }
    const plain = strip(screen());
    expect(plain).toContain('pcigate-rc=7');
    // Cooked mode again: canonical input and echo on (raw mode off).
    const stty = plain.slice(plain.indexOf('pcigate-rc='));
    expect(stty).toMatch(/(^|\s)icanon(\s|$)/m);
    expect(stty).toMatch(/(^|\s)echo(\s|$)/m);
    expect(stty).not.toMatch(/-icanon/);
    // Masked on the terminal: the whole PAN and the split one (the pause may release the BIN, never more).
    expect(plain).toContain('**** **** **** 1111');
    expect(plain).not.toContain('4111 1111 1111 1111');
    expect(containsPan(Buffer.from(plain.replace(/[^0-9]/g, '')))).toBe(false);
    const records = readLog(home);
    const end = records.find((r) => r.type === 'session.end' && r.target?.kind === 'ssh');
    expect(end?.detail).toMatchObject({ kind: 'ssh', exit: { code: 7 } });
    expect((end?.detail as { masked?: Record<string, number> }).masked).toBeDefined();
    const blob = end?.blobs?.[0];
    expect(blob?.path).toBeDefined();
    const cast = readFileSync(path.join(home, blob!.path!), 'utf8');
    const events = cast.split('\n').slice(1).filter(Boolean).map((l) => JSON.parse(l) as [number, string, string]);
    const output = events.filter((e) => e[1] === 'o').map((e) => e[2]).join('');
    expect(output).toContain('ready-42');
    expect(output).toContain('**** **** **** 1111');
    expect(output).not.toContain('4111 1111 1111 1111');
    expect(containsPan(Buffer.from(output.replace(/[^0-9]/g, '')))).toBe(false);
    expect(events.some((e) => e[1] === 'r' && e[2] === '132x41')).toBe(true);
    expect(records.filter((r) => r.type === 'ssh.request').map((r) => r.outcome)).toEqual(['success']);
  }, 90_000);

  it('closes a shell left idle past the policy idle timeout, says so, and restores the terminal', async () => {
    const { home, term, screen, exited, killer } = await connectInPty('idle-ssh', 30_000);
    const started = Date.now();
    try {
      // Typing and output keep it open. The remote bash can take about a second to start (completion
      // scripts), so empty lines — input, and their echo — keep the session busy until it answers.
      term.write('echo "tick-$((0+100))"\r');
      for (let i = 0; i < 60 && !strip(screen()).includes('tick-100'); i++) {
        await new Promise((r) => setTimeout(r, 300));
        term.write('\r');
      }
      for (let i = 1; i < 4; i++) {
        await new Promise((r) => setTimeout(r, 600));
        term.write(`echo "tick-$((${i}+100))"\r`);
      }
      expect(await exited).toBe(0);
    } finally {
      clearTimeout(killer);
      term.kill();
    }
    expect(Date.now() - started).toBeGreaterThanOrEqual(2800);
    const plain = strip(screen());
    expect(plain).toContain('tick-103');
    expect(plain).toContain('pcigate: terminating the session after 1 s idle (session.idle_timeout of idle-ssh, PCI DSS 8.2.8)');
    expect(plain).toContain('pcigate-rc=129');
    const stty = plain.slice(plain.indexOf('pcigate-rc='));
    expect(stty).toMatch(/(^|\s)icanon(\s|$)/m);
    expect(stty).not.toMatch(/-icanon/);
    const types = readLog(home).map((r) => r.type);
    expect(types.indexOf('session.idle_timeout')).toBeGreaterThan(types.indexOf('session.start'));
    expect(types.indexOf('session.idle_timeout')).toBeLessThan(types.indexOf('session.end'));
    expect(readLog(home).find((r) => r.type === 'session.end')).toMatchObject({ outcome: 'failure', detail: { reason: 'idle_timeout' } });
  }, 60_000);
});
