/**
 * More of a hostile client against `pcigate connect SSH --listen` (real sshd upstream, ssh2's client to send
 * what OpenSSH would not): floods of requests that open nothing.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import ssh2 from 'ssh2';
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
import { startSshd, sshdAvailable } from '../harness/sshd.js';
import type { Sshd } from '../harness/sshd.js';
import { testCtx } from '../harness/test-ctx.js';

const skip = sshdAvailable();
if (skip) process.stderr.write(`skipping SSH integration tests: ${skip}\n`);

interface Ran { code: number | undefined; stdout: string; stderr: string }

function collect(ch: ClientChannel): Promise<Ran> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let code: number | undefined;
    ch.on('data', (b: Buffer) => { stdout += b.toString(); });
    ch.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    ch.on('exit', (n: number | null) => { code = n ?? undefined; });
    ch.on('close', () => resolve({ code, stdout, stderr }));
  });
}

type Proto = {
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

  const records = (): AuditRecord[] =>
    readdirSync(path.join(home, 'log')).filter((f) => f.endsWith('.jsonl')).sort()
      .flatMap((f) => readFileSync(path.join(home, 'log', f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRecord));

  const connect = (b: SshBroker = broker) => new Promise<Client>((resolve, reject) => {
    const c = new ssh2.Client();
    c.once('ready', () => resolve(c));
    c.once('error', reject);
    c.connect({ host: b.host, port: b.port, username: 'pcigate', password: b.secret, hostVerifier: () => true });
  });

  const start = () => startSshBroker({
    name: 'prod-ssh',
    conn: sshConnection.parse({
      kind: 'ssh', host: sshd.host, port: sshd.port, user: sshd.user, private_key: 'env:UNUSED_IN_TEST', host_key: sshd.hostKeyLine,
      allow: { exec: { allow: ['echo *', 'sh -c *', 'true'] } },
    }),
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
    broker = await start();
  }, 60_000);

  afterAll(async () => {
    await broker?.close();
    await log?.close();
    await sshd?.stop();
  });

  it('a flood of requests that open nothing writes a bounded number of records, and every one is counted', async () => {
    const c = await connect();
    const N = 600;
    const ran = await new Promise<Ran>((resolve, reject) => {
      c.exec('sh -c "sleep 2; echo flood-done"', (err, ch) => {
        if (err) { reject(err); return; }
        void collect(ch).then(resolve);
        const p = protoOf(c);
        for (let i = 0; i < N; i++) {
          p.openssh_agentForward(chanId(ch), false);
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
    expect([counted('agent-forwarding'), counted('port-forwarding')]).toEqual([N, N]);
    const end = mine.find((x) => x.type === 'session.end')!;
    expect((end.detail as { requests: number }).requests).toBe(2 * N);
    // Summaries come before session.end and say when the counted ones came.
    const summary = reqs.find((x) => (x.detail as { repeated?: number }).repeated !== undefined)!;
    expect(summary.seq).toBeLessThan(end.seq);
    expect(summary.detail).toMatchObject({ first_at: expect.any(String), last_at: expect.any(String) });
  }, 60_000);
});
