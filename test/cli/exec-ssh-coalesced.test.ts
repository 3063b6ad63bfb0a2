/**
 * `pcigate exec NAME -- CMD` against a real sshd whose replies reach pcigate in one read: a TCP relay between
 * them holds what sshd sends for a moment and passes it on as one write. For a short command the channel's
 * open confirmation, the reply to the exec request, the output, the exit status and the close then arrive
 * together and ssh2 handles them in one go — as happens on a loaded machine. The exit status must still be
 * the command's, not a hangup (129).
 */
import net from 'node:net';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../harness/cli.js';
import { readLog } from '../harness/audit-records.js';
import { sshConnectionYaml, startSshd, sshdAvailable, type Sshd } from '../harness/sshd.js';

const skip = sshdAvailable();

/** Relays to `port`; bytes from the server are held HOLD_MS after the first of a batch arrives, then written at once. */
const HOLD_MS = 150;
function coalescingRelay(port: number): Promise<{ port: number; close: () => void }> {
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    let held: Buffer[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    upstream.on('data', (b: Buffer) => {
      held.push(b);
      timer ??= setTimeout(() => {
        timer = undefined;
        const out = Buffer.concat(held);
        held = [];
        client.write(out);
      }, HOLD_MS);
    });
    upstream.on('end', () => { setTimeout(() => client.end(), HOLD_MS * 2); });
    client.pipe(upstream);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    resolve({ port: (server.address() as net.AddressInfo).port, close: () => server.close() });
  }));
}

describe.skipIf(Boolean(skip))('pcigate exec (ssh) when the reply, output, exit status and close come in one read', () => {
  let sshd: Sshd;
  let relay: { port: number; close: () => void };
  let config: string;
  beforeAll(async () => {
    sshd = await startSshd();
    relay = await coalescingRelay(sshd.port);
    const dir = tempDir('pcigate-exec-coalesced-');
    config = path.join(dir, 'pcigate.yaml');
    writeFileSync(config, [
      'identity:',
      '  allow_local: true',
      'connections:',
      ...sshConnectionYaml(sshd, dir, 'test-ssh', { port: relay.port, extra: ['allow:', '  exec: { allow: ["sh -c *", "echo *"] }'] }),
      '',
    ].join('\n'), { mode: 0o600 });
  }, 60_000);
  afterAll(async () => {
    relay?.close();
    await sshd?.stop();
  });

  it('passes the exit status through and records it', async () => {
    const home = tempDir('pcigate-home-');
    const run = (args: string[]) => runCli(['exec', '--config', config, '--home', home, 'test-ssh', '--', ...args], { env: {}, home, timeoutMs: 30_000 });
    const seven = await run(['sh', '-c', 'echo out; exit 7']);
    expect(seven.stdout).toBe('out\n');
    expect(seven.code).toBe(7);
    const ok = await run(['echo', 'hi']);
    expect(ok.stdout).toBe('hi\n');
    expect(ok.code).toBe(0);
    const ends = readLog(home).filter((r) => r.type === 'session.end' && r.target?.kind === 'ssh');
    expect(ends.map((r) => (r.detail as { exit?: unknown }).exit)).toEqual([{ code: 7 }, { code: 0 }]);
  }, 90_000);
});
