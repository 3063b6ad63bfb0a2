/**
 * `pcigate replay` of SSH sessions recorded through the real bridge (real sshd, real OpenSSH client): the
 * replay at high speed writes exactly what the client was shown (the PAN masked), proven against the log;
 * a recording changed afterwards is flagged and --strict exits 3; the --html page, opened in headless
 * Chromium from disk, plays to the end with the masked line in the player's terminal and makes no network
 * request.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuditLog } from '../../recorder/index.js';
import type { AuditLog } from '../../recorder/index.js';
import { startSshBroker } from '../../src/broker/ssh-broker.js';
import type { SshBroker } from '../../src/broker/ssh-broker.js';
import { systemClock } from '../../src/cli/ctx.js';
import { sshConnection } from '../../src/config/sections/connections.js';
import { BIN, runCli, tempDir } from '../harness/cli.js';
import { CHROMIUM, renderInChromium } from '../harness/chromium.js';
import { startSshd, sshdAvailable } from '../harness/sshd.js';
import type { Sshd } from '../harness/sshd.js';
import { testCtx } from '../harness/test-ctx.js';
import { readLog } from './pg-proxy-setup.js';

const skip = sshdAvailable();
if (skip) process.stderr.write(`skipping SSH replay tests: ${skip}\n`);
if (!CHROMIUM) process.stderr.write('skipping the HTML replay test in a browser: chromium is not installed (apt-get install chromium)\n');

const PAN = '4111 1111 1111 1111';
const MASKED = '**** **** **** 1111';

describe.skipIf(Boolean(skip))('replay of SSH sessions (real sshd, real OpenSSH client)', () => {
  let sshd: Sshd;
  let home: string;
  let log: AuditLog;
  let broker: SshBroker;
  let shown: string;
  let sessionId: string;
  const ctx = testCtx({ clock: systemClock() as never });

  beforeAll(async () => {
    sshd = await startSshd();
    home = tempDir('pcigate-replay-ssh-');
    const askpass = path.join(home, 'askpass.sh');
    log = await openAuditLog(ctx, { home, createIfMissing: true, idleMs: 50 });
    broker = await startSshBroker({
      name: 'prod-ssh',
      conn: sshConnection.parse({
        kind: 'ssh', host: sshd.host, port: sshd.port, user: sshd.user, private_key: 'env:UNUSED_IN_TEST', host_key: sshd.hostKeyLine,
        allow: { shell: true, exec: { allow: ['sh -c *'] } },
      }),
      credentials: { privateKey: sshd.clientKey },
      sink: log, actor: async () => ({ sub: 'alice', via: 'local', idp: 'local' }),
      clock: ctx.clock, fs: ctx.fs, log: ctx.log, home,
    });
    writeFileSync(askpass, `#!/bin/sh\necho '${broker.secret}'\n`);
    chmodSync(askpass, 0o700);
    // Output in steps with pauses, a line with a card number, and HTML/script-looking text that the page must not run.
    const script = `printf 'hello from the host\\n'; sleep 0.4; printf 'card ${PAN} on file\\n'; sleep 0.4; printf '</script><script>document.title=1</script> <b>done</b>\\n'`;
    shown = await new Promise<string>((resolve) => {
      const child = spawn('ssh', [
        '-p', String(broker.port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR',
        '-o', 'PreferredAuthentications=password', '-o', 'NumberOfPasswordPrompts=1', '-T', 'pcigate@127.0.0.1', `sh -c "${script}"`,
      ], { env: { PATH: process.env.PATH, HOME: home, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' }, stdio: ['pipe', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
      child.on('close', () => resolve(out));
      child.stdin.end();
    });
    await broker.close();
    await log.close();
    sessionId = readLog(home).find((x) => x.type === 'session.end' && x.blobs?.length)!.session!;
  }, 60_000);

  afterAll(async () => {
    await broker?.close().catch(() => undefined);
    await log?.close().catch(() => undefined);
    await sshd?.stop();
  });

  const cli = (args: string[]) => runCli(args, { env: { PCIGATE_HOME: home }, timeoutMs: 30_000 });

  it('the client was shown the masked card number', () => {
    expect(shown).toContain(`card ${MASKED} on file`);
    expect(shown).not.toContain(PAN);
  });

  it('lists it as an ssh session with its command', async () => {
    const r = await cli(['sessions', '--kind', 'ssh', '--json']);
    const s = (JSON.parse(r.stdout) as { sessions: Array<Record<string, unknown>> }).sessions;
    expect(s).toHaveLength(1);
    expect(s[0]).toMatchObject({ id: sessionId, who: 'alice', conn: 'prod-ssh', commands: 1, denials: 0, outcome: 'success' });
    // The card number was masked in the command line (logged) and in the output (shown and recorded).
    expect(s[0]!.masked).toBe(2);
  });

  it('replays at high speed exactly what was shown, with timing, verified against the log', async () => {
    const end = readLog(home).find((x) => x.type === 'session.end' && x.session === sessionId)!;
    // A replay that hung would be SIGKILLed by cli() at 30 s (code null). Its duration proves nothing: the
    // recording's pauses add up to under a second. The timing is checked on a terminal below.
    const r = await cli(['replay', sessionId, '--speed', '1000']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(shown);
    expect(r.stderr).toContain(`verified against log record ${end.seq}`);
  });

  it('a recording changed after the fact: a loud warning, and --strict exits 3 without playing', async () => {
    const end = readLog(home).find((x) => x.type === 'session.end' && x.session === sessionId)!;
    const file = path.join(home, end.blobs![0]!.path!);
    const original = readFileSync(file, 'utf8');
    writeFileSync(file, original.replaceAll('hello from the host', 'hello from elsewhere'));
    try {
      const loose = await cli(['replay', sessionId, '--speed', '1000']);
      expect(loose.stderr).toContain(`DOES NOT MATCH log record ${end.seq}`);
      expect(loose.stdout).toContain('hello from elsewhere');
      const strict = await cli(['replay', sessionId, '--strict']);
      expect(strict.code).toBe(3);
      expect(strict.stdout).toBe('');
    } finally {
      writeFileSync(file, original);
    }
  });

  it('writes a self-contained page: inlined player, escaped recording, header with the proof', async () => {
    const end = readLog(home).find((x) => x.type === 'session.end' && x.session === sessionId)!;
    const file = path.join(tempDir(), 'ssh.html');
    const r = await cli(['replay', sessionId, '--html', file, '--speed', '4']);
    expect(r.code).toBe(0);
    const html = readFileSync(file, 'utf8');
    expect(html).toContain('AsciinemaPlayer');
    expect(html).toContain(`verified against log record ${end.seq}`);
    expect(html).toContain(end.blobs![0]!.sha256);
    // No reference to anything outside the file.
    expect(html).not.toMatch(/\b(src|href)\s*=\s*["']?(https?:|\/\/)/i);
    // The recorded `</script>` stays data: exactly three script elements end (player, data, boot).
    expect(html.match(/<\/script>/gi)).toHaveLength(3);
    expect(html).not.toContain(PAN);
  });

  it('on a terminal: plays with the recorded timing, space pauses, q quits', async () => {
    const pty = await import('node-pty');
    const term = pty.spawn(process.execPath, [BIN, 'replay', sessionId, '--idle-limit', '5'], {
      name: 'xterm', cols: 120, rows: 30, cwd: home, env: { PATH: process.env.PATH ?? '', HOME: home, PCIGATE_HOME: home, NO_COLOR: '1' },
    });
    let screen = '';
    term.onData((d) => { screen += d; });
    const exited = new Promise<number>((resolve) => term.onExit(({ exitCode }) => resolve(exitCode)));
    const waitFor = async (re: RegExp, ms = 15_000) => {
      const end = Date.now() + ms;
      while (!re.test(screen)) {
        if (Date.now() > end) throw new Error(`not seen: ${re} in ${JSON.stringify(screen)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    // The first output comes ~0.76 s into the recording: pause right after the header, before it.
    await waitFor(/verified against log record/);
    term.write(' ');
    await new Promise((r) => setTimeout(r, 2_000));
    expect(screen).not.toContain('card ');
    term.write(' ');
    await waitFor(/card \*{4} \*{4} \*{4} 1111 on file/);
    term.write('q');
    expect(await exited).toBe(0);
  }, 30_000);

  /** Loads `file` in headless Chromium; returns the DOM once `until` holds (by default: the player ended and painted), and the URLs the page requested. */
  const PLAYED = `document.body.dataset.ended === 'true' && /\\S/.test(document.querySelector('.ap-term-text')?.textContent ?? '')`;
  async function openInChromium(file: string, dir: string, until = PLAYED): Promise<{ dom: string; pageRequests: string[] }> {
    const netlog = path.join(dir, `net-${path.basename(file)}.json`);
    const { dom } = await renderInChromium(`file://${file}`, {
      profileDir: tempDir('pcigate-chromium-profile-'), extraArgs: [`--log-net-log=${netlog}`], settleMs: 300,
      until,
    });
    // Chromium's own log of its network stack. Requests a page makes carry the page's origin as initiator
    // ("null" for a file: page); the browser's own background traffic has none ("not an origin").
    // One event a line (`{...},`); parsed line by line, as a log cut short by exit may not close its array.
    const events = readFileSync(netlog, 'utf8').split('\n').filter((l) => l.startsWith('{"params"'))
      .map((l) => JSON.parse(l.replace(/,\s*$/, '').replace(/\]\}\s*$/, '')) as { params?: { url?: string; initiator?: string } });
    const pageRequests = events.filter((e) => e.params?.url && e.params.initiator !== undefined && e.params.initiator !== 'not an origin').map((e) => e.params!.url!);
    return { dom, pageRequests };
  }

  it.skipIf(!CHROMIUM)('the page plays to the end in headless Chromium, shows the masked line, makes no network request', async () => {
    const dir = tempDir('pcigate-chromium-');
    const file = path.join(dir, 'ssh.html');
    expect((await cli(['replay', sessionId, '--html', file, '--speed', '8'])).code).toBe(0);
    const { dom, pageRequests } = await openInChromium(file, dir);
    expect(dom).toContain('data-ended="true"');
    expect(dom).not.toContain('data-blocked="');
    const lines = [...dom.matchAll(/<span class="ap-line"[^>]*>([\s\S]*?)<\/span><\/span>/g)]
      .map((m) => m[1]!.replace(/<[^>]+>/g, '').replace(/&nbsp;|\u00a0/g, ' ').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&'));
    const text = lines.join('\n');
    expect(text).toContain(`card ${MASKED} on file`);
    expect(text).toContain('hello from the host');
    expect(text).toContain('<b>done</b>');
    expect(text).not.toContain(PAN);
    // The recorded markup was shown as text, never run (it would have set the title to "1").
    expect(dom).toMatch(/<title>pcigate session [0-9a-f-]{36}<\/title>/);
    expect(pageRequests).toEqual([]);

    // Control: the same check does see a request a page makes.
    const control = path.join(dir, 'control.html');
    writeFileSync(control, '<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/probe.png"></body></html>');
    expect((await openInChromium(control, dir, `document.readyState === 'complete'`)).pageRequests).toEqual(['http://127.0.0.1:9/probe.png']);
  }, 180_000);
});
