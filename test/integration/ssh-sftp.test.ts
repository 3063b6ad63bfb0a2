/**
 * OpenSSH's sftp in batch mode (`sftp -b FILE`) through `--listen` against a real sshd: every file operation
 * is recorded (ssh.sftp) before the server gets it, with its path PAN-masked, the server's refusals too; and
 * an operation whose record cannot be written never reaches the server.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuditLog } from '../../recorder/index.js';
import type { AuditLog } from '../../recorder/index.js';
import { startSshBroker } from '../../src/broker/ssh-broker.js';
import type { SshBroker } from '../../src/broker/ssh-broker.js';
import { systemClock } from '../../src/cli/ctx.js';
import { sshConnection } from '../../src/config/sections/connections.js';
import { AuditWriteError } from '../../src/errors.js';
import { FAILED_CLOSED_EXIT } from '../../src/ssh/session-bridge.js';
import { readLog } from '../harness/audit-records.js';
import { tempDir } from '../harness/cli.js';
import { sshdConnectionFields } from '../harness/ssh-gate.js';
import { packet, str, u32 } from '../harness/sftp-bytes.js';
import { sshClient, startSshd, sshdAvailable } from '../harness/sshd.js';
import type { Sshd } from '../harness/sshd.js';
import { testCtx } from '../harness/test-ctx.js';

const skip = sshdAvailable();
if (skip) process.stderr.write(`skipping the sftp tests: ${skip}\n`);

describe.skipIf(Boolean(skip))('sftp -b through pcigate (real sshd, real OpenSSH sftp)', () => {
  let sshd: Sshd;
  let home: string;
  let work: string;
  let log: AuditLog;
  const ctx = testCtx({ clock: systemClock() as never, log: { debug: () => {}, warn: () => {} } });
  const pan = '4111111111111111';

  const records = () => readLog(home);

  const start = (sink: AuditLog) => startSshBroker({
    name: 'prod-ssh',
    conn: sshConnection.parse(sshdConnectionFields(sshd, { subsystems: ['sftp'] })),
    credentials: { privateKey: sshd.clientKey }, sink, actor: async () => ({ sub: 'alice', via: 'local', idp: 'local' }),
    clock: ctx.clock, fs: ctx.fs, log: ctx.log, home,
  });

  /** `sftp -b BATCH` (-b sets BatchMode, which turns off password prompts: the listener's secret is a password). */
  const sftp = (b: SshBroker, batch: string) => new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const askpass = path.join(home, `askpass-${b.port}.sh`);
    writeFileSync(askpass, `#!/bin/sh\necho '${b.secret}'\n`);
    chmodSync(askpass, 0o700);
    const file = path.join(work, `batch-${b.port}`);
    writeFileSync(file, batch);
    const c = spawn('sftp', ['-P', String(b.port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR',
      '-o', 'PreferredAuthentications=password', '-o', 'BatchMode=no', '-b', file, 'pcigate@127.0.0.1'],
    { env: { PATH: process.env.PATH, HOME: home, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (x: Buffer) => { stdout += x.toString(); });
    c.stderr.on('data', (x: Buffer) => { stderr += x.toString(); });
    const killer = setTimeout(() => { stderr += '[killed: hung]'; c.kill('SIGKILL'); }, 50_000);
    c.on('exit', (code) => { clearTimeout(killer); setTimeout(() => resolve({ code, stdout, stderr }), 100); });
  });

  beforeAll(async () => {
    sshd = await startSshd();
    home = tempDir('pcigate-ssh-sftp-');
    work = tempDir('pcigate-ssh-sftp-work-');
    log = await openAuditLog(ctx, { home, createIfMissing: true, idleMs: 50 });
  }, 60_000);

  afterAll(async () => {
    await log?.close();
    await sshd?.stop();
  });

  it('each operation of a batch is recorded, in order, paths masked; a failed one with the server\'s status', async () => {
    const b = await start(log);
    const w = (n: string) => path.join(work, n);
    writeFileSync(w('local.txt'), 'hello sftp\n');
    mkdirSync(w('remote'));
    try {
      const r = await sftp(b, [
        `put ${w('local.txt')} ${w(`remote/card-${pan}.txt`)}`,
        `get ${w(`remote/card-${pan}.txt`)} ${w('back.txt')}`,
        `mkdir ${w('remote/dir')}`,
        `rename ${w(`remote/card-${pan}.txt`)} ${w('remote/dir/moved.txt')}`,
        `chmod 600 ${w('remote/dir/moved.txt')}`,
        `ls ${w('remote/dir')}`,
        `-rm ${w('remote/absent.txt')}`,
        `rm ${w('remote/dir/moved.txt')}`,
        `rmdir ${w('remote/dir')}`,
        '',
      ].join('\n'));
      expect(r.stderr).not.toContain('[killed: hung]');
      expect(r.code).toBe(0);
      expect(readFileSync(w('back.txt'), 'utf8')).toBe('hello sftp\n');
      expect(existsSync(w('remote/dir'))).toBe(false);
    } finally {
      await b.close();
    }
    const ops = records().filter((x) => x.type === 'ssh.sftp').map((x) => {
      const d = x.detail as { op: string; path: string; to?: string; flags?: string[]; read?: number; written?: number; status?: number };
      return [x.outcome, d.op, path.basename(d.path), ...(d.to ? [path.basename(d.to)] : []), ...(d.flags ? [d.flags.join(',')] : []),
        ...(d.op === 'close' ? [d.read, d.written] : []), ...(d.status !== undefined ? [d.status] : [])];
    });
    const masked = 'card-************1111.txt';
    expect(ops).toEqual([
      ['success', 'open', masked, 'write,create,truncate'], ['success', 'close', masked, 0, 11],
      ['success', 'open', masked, 'read'], ['success', 'close', masked, 11, 0],
      ['success', 'mkdir', 'dir'],
      ['success', 'rename', masked, 'moved.txt'],
      ['success', 'setstat', 'moved.txt'],
      ['success', 'opendir', 'dir'],
      ['success', 'remove', 'absent.txt'], ['failure', 'remove', 'absent.txt', 2],
      ['success', 'remove', 'moved.txt'],
      ['success', 'rmdir', 'dir'],
    ]);
    expect(JSON.stringify(records())).not.toContain(pan);
  }, 60_000);

  it('an operation whose record cannot be written never reaches the server', async () => {
    // A log that refuses ssh.sftp records of mkdir (as a full disk would at that moment).
    const failing = {
      ...log,
      append: (e: Parameters<AuditLog['append']>[0]) => {
        if (e.type === 'ssh.sftp' && (e.detail as { op?: string }).op === 'mkdir') return Promise.reject(new AuditWriteError('disk full (test)'));
        return log.append(e);
      },
      commitBlob: log.commitBlob.bind(log),
    } as unknown as AuditLog;
    const b = await start(failing);
    try {
      const r = await sftp(b, `mkdir ${path.join(work, 'never')}\n`);
      expect(r.code).not.toBe(0);
      expect(existsSync(path.join(work, 'never'))).toBe(false);
    } finally {
      await b.close();
    }
  }, 60_000);

  /** Opens `fifo` for writing once, so that sftp-server's open(2) of it for reading returns. */
  const unstick = (fifo: string) => {
    // timeout(1) ends the writer even when no reader ever comes (sftp-server gone) and this process has exited.
    spawn('timeout', ['5', 'sh', '-c', `: > '${fifo}'`], { stdio: 'ignore' }).on('error', () => {});
  };

  /** ssh2's client on the sftp subsystem through `b`: raw packets, sent as the test chooses. */
  const rawSftp = async (b: SshBroker) => {
    const c = await sshClient(b);
    const ch = await new Promise<import('ssh2').ClientChannel>((resolve, reject) => c.subsys('sftp', (err, x) => (err ? reject(err) : resolve(x))));
    let stderr = '';
    ch.stderr.on('data', (x: Buffer) => { stderr += x.toString(); });
    /** The channel's exit status (pcigate's 255 when it closed the channel), or undefined when it just closed. */
    const exited = new Promise<number | undefined>((resolve) => { ch.on('exit', (code: number | null) => resolve(code ?? undefined)); ch.on('close', () => resolve(undefined)); });
    /** Writes `b`; false when it was not sent within `ms` (the broker stopped reading the client). */
    const send = (x: Buffer, ms = 3_000) => new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      ch.write(x, () => { clearTimeout(t); resolve(true); });
    });
    return { c, ch, send, exited, stderr: () => stderr };
  };

  it('a client with an sftp operation in every packet is not read while sftp-server reads nothing', async () => {
    // Bytes a gate (the operation's record) released were written upstream whatever ssh2's buffer held, and
    // the client was read again at once: with sftp-server stuck (here in open(2) of a FIFO with no writer), a
    // remove in each packet made pcigate buffer all the client sent. Now pcigate stops reading the client
    // once the upstream window is full: the client stalls after a few windows (ssh2's are 2 MiB).
    const fifo = path.join(work, 'stuck.fifo');
    execFileSync('mkfifo', [fifo]);
    const b = await start(log);
    const s = await rawSftp(b);
    // Every write is one SSH packet of UNIT bytes, a divisor of the 2 MiB window, so that none is split where
    // the window runs out (a split-off rest holds no operation and takes the path that did wait).
    const UNIT = 16 * 1024;
    const fill = (id: number, head: Buffer, type: number, ...body: Buffer[]) => {
      const pad = UNIT - head.length - packet(type, u32(id), ...body, str('')).length;
      return Buffer.concat([head, packet(type, u32(id), ...body, str(Buffer.alloc(pad, 0x61)))]);
    };
    let sent = 0;
    try {
      s.ch.on('data', () => {});
      // INIT, the open that sticks, and an unknown extension's padding: one UNIT.
      const head = Buffer.concat([packet(1, u32(3)), packet(3, u32(1), str(fifo), u32(1), u32(0))]);
      expect(await s.send(fill(2, head, 200, str('pad@pcigate.test')))).toBe(true);
      for (let id = 3; sent < 48 << 20; id += 2) {
        // A remove (recorded, so gated) and an unknown extension's padding.
        if (!(await s.send(fill(id + 1, packet(13, u32(id), str(path.join(work, 'absent'))), 200, str('pad@pcigate.test'))))) break;
        sent += UNIT;
      }
    } finally {
      s.c.end();
      await b.close();
      unstick(fifo); // so that sftp-server can exit
    }
    expect(sent).toBeGreaterThan(1 << 20);
    expect(sent).toBeLessThan(24 << 20);
  }, 120_000);

  it('a large put and get are recorded with their byte counts, and sftp cp (copy-data) with both paths', async () => {
    // copy-data copies on the server from one open file to another: the copy was not recorded at all.
    const b = await start(log);
    const w = (n: string) => path.join(work, n);
    const size = 5 * 1024 * 1024 + 123;
    writeFileSync(w('big.bin'), randomBytes(size));
    mkdirSync(w('cp'));
    const before = records().length;
    try {
      const r = await sftp(b, [`put ${w('big.bin')} ${w('cp/big.bin')}`, `cp ${w('cp/big.bin')} ${w(`cp/copy-${pan}.bin`)}`, `get ${w(`cp/copy-${pan}.bin`)} ${w('back.bin')}`, ''].join('\n'));
      expect(r.stderr).not.toContain('[killed: hung]');
      expect(r.code).toBe(0);
      expect(readFileSync(w('back.bin')).equals(readFileSync(w('big.bin')))).toBe(true);
    } finally {
      await b.close();
    }
    const ops = records().slice(before).filter((x) => x.type === 'ssh.sftp').map((x) => x.detail as { op: string; path: string; to?: string; read?: number; written?: number; length?: number });
    const masked = 'copy-************1111.bin';
    expect(ops.filter((d) => d.op === 'copy').map((d) => [path.basename(d.path), path.basename(d.to!), d.length])).toEqual([['big.bin', masked, 0]]);
    expect(ops.filter((d) => d.op === 'close' && path.basename(d.path) === 'big.bin').map((d) => [d.read, d.written])).toContainEqual([0, size]);
    expect(ops.filter((d) => d.op === 'close' && path.basename(d.path) === masked).map((d) => [d.read, d.written])).toContainEqual([size, 0]);
  }, 60_000);

  it('a close through a handle never opened is recorded with the handle, and the server\'s refusal of it', async () => {
    // It was not recorded at all.
    const b = await start(log);
    const before = records().length;
    const s = await rawSftp(b);
    try {
      let got = Buffer.alloc(0);
      s.ch.on('data', (x: Buffer) => { got = Buffer.concat([got, x]); });
      s.ch.write(Buffer.concat([packet(1, u32(3)), packet(4, u32(7), str(Buffer.from([0, 0, 0, 9])))]));
      // VERSION, then the STATUS answering the close (id 7).
      await expect.poll(() => got.length > 0 && got.includes(Buffer.concat([Buffer.from([101]), u32(7)])), { timeout: 10_000 }).toBe(true);
    } finally {
      s.c.end();
      await b.close();
    }
    const sftpRecords = records().slice(before).filter((x) => x.type === 'ssh.sftp');
    expect(sftpRecords.map((x) => [x.outcome, x.detail])).toEqual([
      ['success', { channel: 0, op: 'close', handle: '00000009', unknown_handle: true }],
      ['failure', expect.objectContaining({ channel: 0, op: 'close', status: expect.any(Number) })],
    ]);
  }, 60_000);

  it('a client with more than 4096 requests awaiting their answer is refused, the reason recorded, the rest never sent', async () => {
    // Past 4096 the oldest was forgotten: its answer, its handle and its close went unrecorded. Here sftp-server
    // is stuck in open(2) of a FIFO, so that no request is answered.
    const fifo = path.join(work, 'limit.fifo');
    execFileSync('mkfifo', [fifo]);
    const b = await start(log);
    const before = records().length;
    const s = await rawSftp(b);
    try {
      const stats = Array.from({ length: 4100 }, (_, i) => packet(17, u32(10 + i), str(work)));
      s.ch.write(Buffer.concat([packet(1, u32(3)), packet(3, u32(1), str(fifo), u32(1), u32(0)), ...stats, packet(14, u32(9999), str(path.join(work, 'never')))]));
      await expect.poll(() => records().slice(before).some((x) => x.type === 'ssh.sftp' && x.outcome === 'denied'), { timeout: 15_000 }).toBe(true);
    } finally {
      // Let sftp-server's open return: it then reads the end of its input and exits, which closes the channel.
      unstick(fifo);
    }
    try {
      expect(await Promise.race([s.exited, new Promise((resolve) => setTimeout(() => resolve('no exit'), 15_000))])).toBe(FAILED_CLOSED_EXIT);
    } finally {
      s.c.end();
      await b.close();
    }
    expect(s.stderr()).toContain('more than 4096 sftp requests await their answer');
    const sftpRecords = records().slice(before).filter((x) => x.type === 'ssh.sftp');
    expect(sftpRecords.map((x) => [x.outcome, x.detail])).toEqual([
      ['success', { channel: 0, op: 'open', path: fifo, flags: ['read'] }],
      ['denied', { channel: 0, rule: 'ssh.sftp.limit', reason: 'more than 4096 sftp requests await their answer' }],
    ]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(existsSync(path.join(work, 'never'))).toBe(false);
  }, 60_000);

  it('a write through a handle guessed before the open\'s answer passed is recorded with its length', async () => {
    // sftp-server's handles are small integers: a client that sends its writes right behind the open, through
    // the handle it will get, wrote a file whose close was recorded with written: 0.
    const b = await start(log);
    const before = records().length;
    const target = path.join(work, 'guessed.txt');
    const s = await rawSftp(b);
    try {
      let got = Buffer.alloc(0);
      s.ch.on('data', (x: Buffer) => { got = Buffer.concat([got, x]); });
      const guess = str(Buffer.from([0, 0, 0, 0]));
      s.ch.write(Buffer.concat([packet(1, u32(3)), packet(3, u32(1), str(target), u32(0x1a), u32(0)), packet(6, u32(2), guess, u32(0), u32(0), str('smuggled')), packet(4, u32(3), guess)]));
      await expect.poll(() => got.includes(Buffer.concat([Buffer.from([101]), u32(3)])), { timeout: 10_000 }).toBe(true);
    } finally {
      s.c.end();
      await b.close();
    }
    expect(readFileSync(target, 'utf8')).toBe('smuggled');
    const sftpRecords = records().slice(before).filter((x) => x.type === 'ssh.sftp' && x.outcome === 'success').map((x) => x.detail);
    expect(sftpRecords).toContainEqual({ channel: 0, op: 'write', handle: '00000000', length: 8, unknown_handle: true });
  }, 60_000);
});
