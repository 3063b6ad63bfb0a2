/**
 * SSH session policy through `--listen`'s local server with the real OpenSSH client and a real sshd:
 * the idle timeout (PCI DSS 8.2.8: no channel data either way closes the session, the user is told, and
 * `session.idle_timeout` precedes `session.end`), activity keeping a session alive, `max_duration`
 * (`session.expired`), and a held command that waits on the channel's stderr until a second identity
 * approves it (separation of duties: the requester cannot).
 */
import { spawn } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuditLog } from '../../recorder/index.js';
import type { AuditLog } from '../../recorder/index.js';
import { startSshBroker } from '../../src/broker/ssh-broker.js';
import type { SshBroker } from '../../src/broker/ssh-broker.js';
import { systemClock } from '../../src/cli/ctx.js';
import type { Fs } from '../../src/cli/ctx.js';
import { sshConnection } from '../../src/config/sections/connections.js';
import { ApprovalStore } from '../../src/policy/approvals.js';
import { readLog } from '../harness/audit-records.js';
import { tempDir } from '../harness/cli.js';
import { sshdConnectionFields } from '../harness/ssh-gate.js';
import { sshClient, startSshd, sshdAvailable } from '../harness/sshd.js';
import type { Sshd } from '../harness/sshd.js';
import { testCtx } from '../harness/test-ctx.js';

const skip = sshdAvailable();
if (skip) process.stderr.write(`skipping SSH session-limit tests: ${skip}\n`);

/** `killed`: ended by the test's own 30 s SIGKILL, not by the session ending. */
interface Ran { code: number | null; stdout: string; stderr: string; killed: boolean }

describe.skipIf(Boolean(skip))('SSH session limits and approvals (real sshd, real OpenSSH client)', () => {
  let sshd: Sshd;
  let home: string;
  let log: AuditLog;
  let askpass: string;
  let store: ApprovalStore;
  const ctx = testCtx({ clock: systemClock() as never, log: { debug: () => {}, warn: (m: string) => { process.stderr.write(`warn: ${m}\n`); } } });

  const records = () => readLog(home);

  const broker = (limits: { idleTimeoutMs: number; maxDurationMs: number }, withApprovals = false, fs: Fs = ctx.fs) => startSshBroker({
    name: 'prod-ssh',
    conn: sshConnection.parse(sshdConnectionFields(sshd, { shell: true, exec: { allow: ['sh -c *'], hold: ['echo *'] } })),
    credentials: { privateKey: sshd.clientKey }, sink: log,
    actor: async () => ({ sub: 'alice', via: 'oidc', groups: ['engineers'] }),
    clock: ctx.clock, fs, log: ctx.log, home, limits,
    ...(withApprovals ? { approvals: { store, settings: { groups: ['security'], subjects: [], minApprovals: 1, expiresMs: 60_000, windowMs: 0, waitMs: 20_000 } } } : {}),
  });

  /** The OpenSSH client; stdin stays open (an interactive user who stopped typing) unless `input` is given. */
  const ssh = (b: SshBroker, args: string[], opts: { tty?: boolean; onStderr?: (all: string) => void } = {}) =>
    new Promise<Ran>((resolve) => {
      writeFileSync(askpass, `#!/bin/sh\necho '${b.secret}'\n`);
      chmodSync(askpass, 0o700);
      const child = spawn('ssh', [
        '-p', String(b.port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR',
        '-o', 'PreferredAuthentications=password', '-o', 'NumberOfPasswordPrompts=1', '-o', 'BatchMode=no',
        ...(opts.tty ? ['-tt'] : ['-T']), 'pcigate@127.0.0.1', ...args,
      ], { env: { PATH: process.env.PATH, HOME: home, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' }, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
      child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); opts.onStderr?.(stderr); });
      let killed = false;
      const killer = setTimeout(() => { killed = true; child.kill('SIGKILL'); }, 30_000);
      child.on('close', (code) => { clearTimeout(killer); resolve({ code, stdout, stderr, killed }); });
    });

  const sessionRecords = (type: string) => records().filter((x) => x.type === type);

  beforeAll(async () => {
    sshd = await startSshd();
    home = tempDir('pcigate-ssh-limits-');
    askpass = path.join(home, 'askpass.sh');
    log = await openAuditLog(ctx, { home, createIfMissing: true, idleMs: 50 });
    store = new ApprovalStore({ fs: fsp, clock: ctx.clock, home, sink: log });
  }, 60_000);

  afterAll(async () => {
    await log?.close();
    await sshd?.stop();
  });

  it('closes an idle interactive shell, tells the user, and records session.idle_timeout before session.end', async () => {
    const b = await broker({ idleTimeoutMs: 1000, maxDurationMs: 60_000 });
    try {
      const r = await ssh(b, [], { tty: true });
      // The client waits on its open stdin for ever: only the session's end, not the test's SIGKILL, ends it here.
      expect(r.killed).toBe(false);
      expect(r.stdout + r.stderr).toContain('pcigate: terminating the session after 1 s idle (session.idle_timeout of prod-ssh, PCI DSS 8.2.8)');
      await expect.poll(() => sessionRecords('session.end').length).toBe(1);
      const all = records();
      const idle = all.findIndex((x) => x.type === 'session.idle_timeout');
      const end = all.findIndex((x) => x.type === 'session.end');
      expect(idle).toBeGreaterThan(0);
      expect(idle).toBeLessThan(end);
      const detail = all[idle]!.detail as { idle_ms: number; limit_ms: number };
      expect(detail.limit_ms).toBe(1000);
      expect(detail.idle_ms).toBeGreaterThanOrEqual(1000);
      expect(all[idle]!.session).toBe(all[end]!.session);
      expect(all[end]).toMatchObject({ outcome: 'failure', detail: { reason: 'idle_timeout', exit: { signal: 'HUP' } } });
      // The notice is in the recording too, so a replay shows why the session ended.
      const cast = readFileSync(path.join(home, all[end]!.blobs![0]!.path!), 'utf8');
      expect(cast).toContain('after 1 s idle');
    } finally {
      await b.close();
    }
  }, 40_000);

  it('output keeps a session alive past the idle timeout; max_duration ends it anyway', async () => {
    const b = await broker({ idleTimeoutMs: 1000, maxDurationMs: 60_000 });
    const before = sessionRecords('session.end').length;
    try {
      // (Not echo: the hold pattern 'echo *' holds an echo inside sh -c too.)
      const busy = await ssh(b, ['sh -c "for i in 1 2 3 4 5 6 7 8; do yes tick | head -n 1; sleep 0.3; done"']);
      expect(busy.stdout).toBe('tick\n'.repeat(8));
      expect(busy.code).toBe(0);
      await expect.poll(() => sessionRecords('session.end').length).toBe(before + 1);
      expect(sessionRecords('session.end').at(-1)).toMatchObject({ outcome: 'success', detail: { exit: { code: 0 } } });
      expect(sessionRecords('session.idle_timeout')).toHaveLength(1);
    } finally {
      await b.close();
    }
    const short = await broker({ idleTimeoutMs: 1000, maxDurationMs: 1500 });
    try {
      // Busy for 6 s at most, well past the 1.5 s limit: the remote command outlives the channel pcigate closes
      // (sshd sends no hangup without a pty), and an endless loop stayed behind as load for every later test.
      const r = await ssh(short, [`sh -c "for i in ${Array.from({ length: 30 }, (_, i) => i + 1).join(' ')}; do yes tick | head -n 1; sleep 0.2; done"`]);
      // OpenSSH reports a channel closed without an exit status as 255.
      expect(r.code).toBe(255);
      expect(r.stderr).toContain('it reached the maximum duration of 1500 ms (session.max_duration of prod-ssh)');
      await expect.poll(() => sessionRecords('session.expired').length).toBe(1);
      const expired = sessionRecords('session.expired')[0]!;
      expect(expired.detail).toMatchObject({ limit: 'max_duration', limit_ms: 1500 });
      expect((expired.detail as { duration_ms: number }).duration_ms).toBeGreaterThanOrEqual(1500);
      await expect.poll(() => sessionRecords('session.end').at(-1)?.detail).toMatchObject({ reason: 'max_duration' });
      expect(sessionRecords('session.idle_timeout')).toHaveLength(1);
    } finally {
      await short.close();
    }
  }, 40_000);

  it('a held command waits on the channel and runs when a second identity approves (idle timer paused)', async () => {
    const b = await broker({ idleTimeoutMs: 1000, maxDurationMs: 60_000 }, true);
    try {
      let id: string | undefined;
      const running = ssh(b, ['echo approved-run'], { onStderr: (all) => { id ??= /waiting for approval (A-[a-z2-7]{10})/.exec(all)?.[1]; } });
      await expect.poll(() => id, { timeout: 10_000 }).toBeDefined();
      // Longer than the idle timeout: waiting for an approver does not count as idle.
      await new Promise((r) => setTimeout(r, 1500));
      await expect(store.approve(id!, { sub: 'alice', groups: ['security'], via: 'oidc' })).rejects.toMatchObject({ code: 'ERR_APPROVAL_FORBIDDEN' });
      await store.approve(id!, { sub: 'bob', email: 'bob@example.test', groups: ['security'], via: 'oidc' }, 'checked');
      const r = await running;
      expect(r.stdout).toBe('approved-run\n');
      expect(r.code).toBe(0);
      expect(r.stderr).toContain(`an approver runs: pcigate approve ${id}`);
      expect(r.stderr).toContain(`approval ${id} granted by bob@example.test`);
      await expect.poll(() => records().filter((x) => x.type === 'ssh.exec' && (x.detail as { approval?: string }).approval === id).map((x) => x.outcome)).toEqual(['success']);
      expect(records().some((x) => x.type === 'approval.use' && (x.detail as { id: string }).id === id)).toBe(true);
      expect(sessionRecords('session.idle_timeout')).toHaveLength(1);
    } finally {
      await b.close();
    }
  }, 40_000);

  it('the idle notice reaches the client even when its recording is slow to write (the disconnect waits for it)', async () => {
    // The notice is sent once the recording holds it; the session's end recorded and the upstream closed meanwhile,
    // the client's connection was ended at once and the user read "Received disconnect" without the reason.
    const slowNotice: Fs = {
      ...fsp,
      open: (async (...args: Parameters<Fs['open']>) => {
        const fh = await fsp.open(...args);
        if (!String(args[0]).endsWith('.cast')) return fh;
        const write = fh.write.bind(fh) as (...a: unknown[]) => Promise<unknown>;
        (fh as { write: unknown }).write = async (...a: unknown[]) => {
          if (Buffer.isBuffer(a[0]) && a[0].includes('terminating the session')) await new Promise((r) => setTimeout(r, 300));
          return write(...a);
        };
        return fh;
      }) as Fs['open'],
    };
    const b = await broker({ idleTimeoutMs: 1000, maxDurationMs: 60_000 }, false, slowNotice);
    const before = sessionRecords('session.end').length;
    try {
      const r = await ssh(b, [], { tty: true });
      expect(r.killed).toBe(false);
      expect(r.stdout + r.stderr).toContain('pcigate: terminating the session after 1 s idle');
      await expect.poll(() => sessionRecords('session.end').length).toBe(before + 1);
      expect(sessionRecords('session.end').at(-1)).toMatchObject({ detail: { reason: 'idle_timeout' } });
    } finally {
      await b.close();
    }
  }, 40_000);

  it('a channel paused on a full upstream window does not hold the hang-up after a time limit (ssh2 client)', async () => {
    // `sleep` reads nothing: the upstream channel's window fills, pcigate pauses the client's channel, and ssh2 emits
    // no 'close' on a paused channel: the hang-up then waited its whole 2 s bound for the client's close.
    const b = await broker({ idleTimeoutMs: 60_000, maxDurationMs: 1500 });
    const before = sessionRecords('session.end').length;
    try {
      const c = await sshClient({ host: '127.0.0.1', port: b.port, secret: b.secret });
      c.on('error', () => {});
      const closedAt = new Promise<number>((resolve) => { c.once('close', () => resolve(Date.now())); });
      let noticeAt = 0;
      c.exec('sh -c "sleep 30"', (err, ch) => {
        if (err) throw err;
        ch.on('error', () => {});
        ch.on('data', () => {});
        ch.stderr.on('data', (d: Buffer) => { if (!noticeAt && d.toString().includes('maximum duration')) noticeAt = Date.now(); });
        const chunk = Buffer.alloc(64 * 1024, 0x61);
        const pump = () => { while (!noticeAt && ch.writable && ch.write(chunk)) { /* until ssh2 holds what the window does not take */ } };
        ch.on('drain', pump);
        pump();
      });
      const end = await closedAt;
      expect(noticeAt).toBeGreaterThan(0);
      expect(end - noticeAt).toBeLessThan(1500);
      await expect.poll(() => sessionRecords('session.end').length).toBe(before + 1);
      expect(sessionRecords('session.end').at(-1)).toMatchObject({ detail: { reason: 'max_duration' } });
    } finally {
      await b.close();
    }
  }, 40_000);
});
