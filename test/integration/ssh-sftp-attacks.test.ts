/**
 * A client that wants card numbers out of a file on the server (real sshd, OpenSSH's sftp-server, through
 * `--listen`), reading through ssh2's SFTP client with requests of its choosing: out of order, pipelined, one
 * handle's held tail decided by another request. Whatever it asks, no answer may show a card number's digits
 * past the first six and before the last four (PCI DSS 3.4.1); sftp-output.ts masks a handle's reads as one
 * stream only while they come in file order.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { SFTPWrapper } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../harness/cli.js';
import { startSshGate } from '../harness/ssh-gate.js';
import type { SshGate } from '../harness/ssh-gate.js';
import { sshClient, sshdAvailable } from '../harness/sshd.js';
import { within } from '../harness/within.js';

const skip = sshdAvailable();
if (skip) process.stderr.write(`skipping the sftp attack tests: ${skip}\n`);

/** Distinct middle digits, so that any of them shown can be told. */
const PAN = '4539578763621486';
/** Where the card number starts in the file (after 100 `x` and a space). */
const AT = 101;
const FILE = Buffer.from(`${'x'.repeat(100)} ${PAN} ${'x'.repeat(100)}`);

/** A read's answer: the file offset asked and the bytes that came back (fewer than asked when answered short). */
interface Got { pos: number; data: Buffer }

/**
 * The card number's digits 7 to 12 (neither the first six nor the last four) that some answer shows in clear:
 * each answer is laid over the file at its offset, and any of those digits in place is a leak.
 */
function middleShown(answers: Got[]): string[] {
  const out: string[] = [];
  for (const { pos, data } of answers) {
    for (let i = 0; i < data.length; i++) {
      const d = pos + i - AT;
      if (d >= 6 && d < PAN.length - 4 && data[i] === PAN.charCodeAt(d)) out.push(`digit ${d + 1} (${PAN[d]}) in the answer at ${pos}`);
    }
  }
  return out;
}

describe.skipIf(Boolean(skip))('sftp reads a client chooses to get card numbers out of a file (real sshd, ssh2 sftp)', () => {
  let gate: SshGate;
  let work: string;

  beforeAll(async () => {
    gate = await startSshGate({ homePrefix: 'pcigate-sftp-attack-', allow: { subsystems: ['sftp'] } });
    work = tempDir('pcigate-sftp-attack-work-');
    writeFileSync(path.join(work, 'cards.txt'), FILE);
  }, 60_000);

  afterAll(async () => {
    await gate?.close();
  });

  /** An sftp session through the listener, `run` given it, ended afterwards. */
  async function withSftp(run: (sftp: SFTPWrapper) => Promise<void>): Promise<void> {
    const c = await sshClient(gate.broker);
    try {
      const sftp = await within(10_000, 'sftp subsystem', new Promise<SFTPWrapper>((resolve, reject) => c.sftp((e, s) => (e ? reject(e) : resolve(s)))));
      await run(sftp);
    } finally {
      c.end();
    }
  }

  const open = (sftp: SFTPWrapper, file: string) =>
    within(10_000, `open ${file}`, new Promise<Buffer>((resolve, reject) => sftp.open(file, 'r', (e, h) => (e ? reject(e) : resolve(h)))));

  /** Sends every read at once (the server answers them in order) and collects the answers; an end of file is empty. */
  const reads = (sftp: SFTPWrapper, handle: Buffer, asks: Array<[pos: number, len: number]>) =>
    within(10_000, `reads ${JSON.stringify(asks)}`, Promise.all(asks.map(([pos, len]) => new Promise<Got>((resolve, reject) => {
      const buf = Buffer.alloc(Math.max(len, 1));
      sftp.read(handle, buf, 0, len, pos, (e, n) => {
        if (e && (e as { code?: number }).code !== 1) { reject(e); return; }
        resolve({ pos, data: buf.subarray(0, e ? 0 : n) });
      });
    }))));

  it('a held tail decided by a read elsewhere in the file, then the rest read on its own, shows no middle digit', async () => {
    await withSftp(async (sftp) => {
      const h = await open(sftp, path.join(work, 'cards.txt'));
      // The first answer ends 8 digits into the number, its continuation asked: held. The read at 0 in between
      // decided it; the continuation then began a stream of its own.
      const got = await reads(sftp, h, [[0, AT + 8], [0, 1], [AT + 8, 40]]);
      expect(middleShown(got)).toEqual([]);
    });
  }, 30_000);

  it('a held tail decided by an end of file far away shows no middle digit', async () => {
    await withSftp(async (sftp) => {
      const h = await open(sftp, path.join(work, 'cards.txt'));
      const got = await reads(sftp, h, [[0, AT + 8], [1_000_000, 10], [AT + 8, 40]]);
      expect(middleShown(got)).toEqual([]);
    });
  }, 30_000);

  it('the number read backwards, its end first, then its first six digits, shows no middle digit', async () => {
    await withSftp(async (sftp) => {
      const h = await open(sftp, path.join(work, 'cards.txt'));
      const got = [...await reads(sftp, h, [[AT + 6, 30]]), ...await reads(sftp, h, [[AT, 6]])];
      expect(middleShown(got)).toEqual([]);
    });
  }, 30_000);

  it('two handles on the file, each reading half the number, show no middle digit', async () => {
    await withSftp(async (sftp) => {
      const a = await open(sftp, path.join(work, 'cards.txt'));
      const b = await open(sftp, path.join(work, 'cards.txt'));
      const got = [...await reads(sftp, a, [[0, AT + 6]]), ...await reads(sftp, b, [[AT + 6, 30]])];
      expect(middleShown(got)).toEqual([]);
    });
  }, 30_000);

  it('a handle closed while a tail is held, the read of what follows in flight, shows no middle digit', async () => {
    await withSftp(async (sftp) => {
      const h = await open(sftp, path.join(work, 'cards.txt'));
      const answers = reads(sftp, h, [[0, AT + 8], [AT + 8, 40]]);
      // Closed before the answers come: the second is an answer to a read through a handle no longer open.
      const closed = within(10_000, 'close', new Promise<void>((resolve, reject) => sftp.close(h, (e) => (e ? reject(e) : resolve()))));
      // Both awaited together: the close, answered while the reads are, has its handler from the start.
      const [got] = await Promise.all([answers, closed]);
      expect(middleShown(got)).toEqual([]);
    });
  }, 30_000);

  it('a read of no bytes asked right where a held tail stops does not decide it (guard: passes without a fix)', async () => {
    await withSftp(async (sftp) => {
      const h = await open(sftp, path.join(work, 'cards.txt'));
      // sftp-server answers it with empty data: taken for an end of file there, the tail would go in clear.
      const got = await reads(sftp, h, [[0, AT + 12], [AT + 12, 0], [AT + 12, 40]]);
      expect(middleShown(got)).toEqual([]);
    });
  }, 30_000);

  it('the number read a byte at a time, then in repeated and overlapping reads, then backwards, shows no middle digit', async () => {
    await withSftp(async (sftp) => {
      const h = await open(sftp, path.join(work, 'cards.txt'));
      const got: Got[] = [];
      for (let p = AT - 2; p < AT + 18; p++) got.push(...await reads(sftp, h, [[p, 1]]));
      for (let p = AT - 2; p < AT + 18; p++) got.push(...await reads(sftp, h, [[p, 3], [p, 3], [p + 1, 5]]));
      for (let p = AT + 18; p > AT - 2; p--) got.push(...await reads(sftp, h, [[p, 2]]));
      expect(middleShown(got)).toEqual([]);
    });
  }, 60_000);
});
