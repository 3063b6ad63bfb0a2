/**
 * What comes back over sftp whose end could be part of a card number (real sshd, real OpenSSH sftp, ssh2's SFTP
 * client, through `--listen`). The masker holds back a chunk's tail that a later chunk could still turn into a
 * card number; when the remote side then waits for the client, nothing may be held for good (a file ending in a
 * number: the idle release keeps a digit run past its sixth digit; the end of the file decides it). A digit
 * then an incomplete UTF-8 character over exec: ssh-openssh-tools.test.ts.
 *
 * Card numbers in files downloaded over sftp. A file's bytes come back in DATA replies, one per read request: OpenSSH's sftp reads blocks of the
 * server's maximum read length (261120 bytes, limits@openssh.com) or of `-B`, many in flight. A card number
 * that straddles two replies was sent in clear: the reply ended the server's bytes (so the masker was
 * flushed there) or the next reply's header broke the digit run.
 *
 * What must hold:
 * - a straddling card number is masked as any other when the client has already asked for the rest, or asks
 *   for it along with what follows once its read is answered short (OpenSSH's sftp);
 * - a client reading one block at a time, waiting for each, is never shown more than the first six and the
 *   last four digits (PCI DSS 3.4.1), and does not wait forever;
 * - bytes that are not a card number's digits arrive unchanged, long numbers that are no card number included,
 *   and a file ending in digits arrives whole.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { SFTPWrapper } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findPans } from '../../src/mask/pan-detector.js';
import { tempDir } from '../harness/cli.js';
import { startSshGate } from '../harness/ssh-gate.js';
import type { SshGate } from '../harness/ssh-gate.js';
import { sshClient, sshdAvailable } from '../harness/sshd.js';
import { within } from '../harness/within.js';

const skip = sshdAvailable();
if (skip) process.stderr.write(`skipping the sftp masking tests: ${skip}\n`);

/** OpenSSH sftp's read length against OpenSSH's sftp-server (its limits@openssh.com max read length). */
const BIG = 261120;
/** OpenSSH sftp's read length with `-B 32768`, and ssh2's. */
const SMALL = 32768;

/** Deterministic bytes (mulberry32), so that a failure is reproducible. */
function seeded(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let a = seed >>> 0;
  for (let i = 0; i < size; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    out[i] = (t ^ (t >>> 14)) & 0xff;
  }
  return out;
}

/** A number written into a file: `text` at byte `at`, across `boundary` when it was placed so; `where` names it. */
interface Placed { at: number; text: string; where: string; boundary?: number }

/** A number to place: `d` of its bytes before byte `boundary` (0: it starts there). */
interface Item { boundary: number; d: number; text: string; where: string }

/**
 * OpenSSH's sftp asks for one block, then for two more each time a block arrives (up to 64 in flight): at an odd
 * multiple of the block size the reply's continuation is often not asked when it comes (at 1 * block never: the
 * client waits for it). pcigate then answers the read short, without the undecided tail, and the client asks for
 * the rest: every number across a boundary is still seen whole, wherever it is cut.
 */

/**
 * Writes each number with a delimiter byte either side, `d` of its bytes before `boundary`; returns the
 * placements. Placements must not touch each other (checked).
 */
function place(buf: Buffer, items: Item[], delim = ' '): Placed[] {
  const out: Placed[] = items.map((x) => ({ at: x.boundary - Math.min(x.d, x.text.length - 1), text: x.text, where: x.where, ...(x.d > 0 ? { boundary: x.boundary } : {}) }))
    .sort((x, y) => x.at - y.at);
  for (let i = 1; i < out.length; i++) expect(out[i]!.at - 1, `${out[i]!.where} overlaps ${out[i - 1]!.where}`).toBeGreaterThan(out[i - 1]!.at + out[i - 1]!.text.length + 1);
  for (const p of out) {
    expect(p.at - 1 >= 0 && p.at + p.text.length + 1 <= buf.length, `${p.where} fits`).toBe(true);
    buf.write(`${delim}${p.text}${delim}`, p.at - 1, 'latin1');
  }
  return out;
}

/** `text` with every digit but the last four starred, separators kept: pcigate's default mask (last4). */
const last4 = (text: string) => {
  let left = text.replace(/\D/g, '').length - 4;
  return text.replace(/\d/g, (c) => (left-- > 0 ? '*' : c));
};

/**
 * Whether `shown` shows no more of the card number `text` than PCI DSS 3.4.1 allows: each digit is either
 * starred or, among the first six and the last four, itself; separators unchanged.
 */
function withinFirst6Last4(text: string, shown: string): boolean {
  if (shown.length !== text.length) return false;
  const n = text.replace(/\D/g, '').length;
  let di = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (!/\d/.test(c)) {
      if (shown[i] !== c) return false;
      continue;
    }
    if (shown[i] !== '*' && !((di < 6 || di >= n - 4) && shown[i] === c)) return false;
    di++;
  }
  return true;
}

/**
 * Differences of `got` from `orig`: lengths, every byte outside the placed numbers (byte for byte), and each
 * placed number: it must read `expected(p)` when that is a string, else show no more than its first six and
 * last four digits. An empty list when all is as it must be.
 */
function differences(orig: Buffer, got: Buffer, cards: Placed[], expected: (p: Placed) => string | undefined): string[] {
  if (got.length !== orig.length) return [`length ${got.length}, not ${orig.length}`];
  const out: string[] = [];
  let from = 0;
  const outside = (to: number) => {
    if (orig.subarray(from, to).equals(got.subarray(from, to))) return;
    let i = from;
    while (orig[i] === got[i]) i++;
    const around = (b: Buffer) => JSON.stringify(b.subarray(Math.max(0, i - 12), i + 12).toString('latin1'));
    out.push(`byte ${i} (outside any card number) differs: ${around(got)}, not ${around(orig)}`);
  };
  for (const p of cards) {
    outside(p.at);
    const shown = got.subarray(p.at, p.at + p.text.length).toString('latin1');
    const want = expected(p);
    if (want !== undefined ? shown !== want : !withinFirst6Last4(p.text, shown)) {
      out.push(`${p.where}: ${JSON.stringify(p.text)} came back as ${JSON.stringify(shown)}${want !== undefined ? `, not ${JSON.stringify(want)}` : ' (more than the first 6 and last 4 digits)'}`);
    }
    from = p.at + p.text.length;
  }
  outside(orig.length);
  return out;
}

describe.skipIf(Boolean(skip))('sftp output whose end could be part of a card number, and card numbers across read replies (real sshd, OpenSSH sftp, ssh2 sftp)', () => {
  let gate: SshGate;
  let work: string;
  const w = (name: string) => path.join(work, name);

  beforeAll(async () => {
    gate = await startSshGate({ homePrefix: 'pcigate-sftp-mask-', allow: { subsystems: ['sftp'] }, askpass: true });
    work = tempDir('pcigate-sftp-mask-work-');
  }, 60_000);

  afterAll(async () => {
    await gate?.close();
  });

  /**
   * `sftp -b -` getting `remote` to `local`, with `-B block` when given. The transfers here take well under a
   * second; one still running after 30 s waits for bytes that never come, and is killed.
   */
  const get = (remote: string, local: string, block?: number) => new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const c = spawn('sftp', ['-P', String(gate.broker.port), ...(block ? ['-B', String(block)] : []),
      '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR',
      '-o', 'PreferredAuthentications=password', '-o', 'BatchMode=no', '-b', '-', 'pcigate@127.0.0.1'],
    { env: { PATH: process.env.PATH, HOME: gate.home, SSH_ASKPASS: gate.askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' }, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    const killer = setTimeout(() => { stderr += '[killed: hung]'; c.kill('SIGKILL'); }, 30_000);
    c.on('exit', (code) => { clearTimeout(killer); resolve({ code, stderr }); });
    c.stdin.end(`get ${remote} ${local}\n`);
  });

  /** Downloads `name` with OpenSSH's sftp (block size `block`, default the server's limit) and returns its bytes. */
  const download = async (name: string, block?: number) => {
    const local = w(`${name}.down-${block ?? 'default'}`);
    const r = await get(w(name), local, block);
    expect(r.stderr).not.toContain('[killed: hung]');
    expect(r.code, r.stderr).toBe(0);
    return readFileSync(local);
  };

  it('an sftp download of a file ending in a card number gets it masked, and completes', async () => {
    writeFileSync(w('card.txt'), 'card 4111 1111 1111 1111');
    const got = (await download('card.txt')).toString('latin1');
    expect(got).toMatch(/^card [0-9* ]+1111$/);
    expect(got).not.toContain('4111 1111 1111 1111');
  }, 30_000);

  it('OpenSSH sftp: card numbers straddling every read boundary (261120 and 32768 bytes) come back masked', async () => {
    const size = 2 * 1024 * 1024;
    const orig = Buffer.alloc(size, 'x');
    const forms = ['4111 1111 1111 1111', '4111111111111111', '4539 5787 6362 1486', '4539578763621486'];
    const items: Item[] = [];
    // `d` bytes of the number before the boundary: from a single digit to all but the last.
    const bigD = [9, 1, 5, 10, 14, 18, 3, 12];
    for (let k = 1; k * BIG + 20 < size; k++) {
      const text = forms[k % forms.length]!;
      items.push({ boundary: k * BIG, d: bigD[k - 1]!, text, where: `straddling ${k}*${BIG}` });
    }
    for (let j = 1; j * SMALL + 20 < size; j++) {
      const text = forms[j % forms.length]!;
      items.push({ boundary: j * SMALL, d: 1 + ((j * 7) % (text.length - 1)), text, where: `straddling ${j}*${SMALL}` });
    }
    for (const at of [100, 50_000, 300_000, 1_000_000, 2_000_000]) items.push({ boundary: at, d: 0, text: forms[at % 4]!, where: `inside a block at ${at}` });
    const cards = place(orig, items);
    // The test data is what it claims: each placed number is a card number the detector finds, and only those.
    expect(findPans(orig).map((s) => s.start)).toEqual(cards.map((p) => p.at));
    writeFileSync(w('cards.txt'), orig);

    const problems: Record<string, string[]> = {};
    for (const block of [undefined, SMALL]) {
      const got = await download('cards.txt', block);
      // Every card number, inside a reply or across two, is masked as a whole: all but its last four digits starred.
      const b = block ?? BIG;
      const text = got.toString('latin1');
      problems[`sftp, ${b}-byte reads`] = [
        ...differences(orig, got, cards, (p) => last4(p.text)),
        ...[...forms, '1111 1111 1111 1111'].filter((f) => text.includes(f)).map((f) => `${JSON.stringify(f)} is in the file`),
      ];
    }
    expect(problems).toEqual({ [`sftp, ${BIG}-byte reads`]: [], [`sftp, ${SMALL}-byte reads`]: [] });
  }, 120_000);

  it('OpenSSH sftp: binary bytes without card numbers, and long numbers that are no card number across read boundaries, arrive byte for byte', async () => {
    // Random bytes, where no run of digits and separators (space, dash, comma, dot) is longer than six: no card
    // number, no float or grouped print of one, and never more digits at a reply's end than may be shown.
    const bin = seeded(1_500_321, 4111);
    const SEP = new Set([0x20, 0x2c, 0x2d, 0x2e]);
    for (let i = 0, run = 0; i < bin.length; i++) {
      const b = bin[i]!;
      run = (b >= 0x30 && b <= 0x39) || SEP.has(b) ? run + 1 : 0;
      if (run > 6) { bin[i] = 0x71; run = 0; }
    }
    expect(findPans(bin, { anyLuhn: true })).toEqual([]);
    writeFileSync(w('random.bin'), bin);

    // Text in which every read boundary of either block size falls inside a number of 16–25 digits that no
    // card number is: too long, or failing the Luhn check (src/mask/pan-detector.ts).
    const size = 2 * 1024 * 1024 + 777;
    const lines: string[] = [];
    for (let i = 0, n = 0; n < size; i++) { const l = `entry ${i} ok, amount ${i % 997}.${i % 89}\n`; lines.push(l); n += l.length; }
    const txt = Buffer.from(lines.join('').slice(0, size), 'latin1');
    const nums = ['1234567890123456789012345', '4111111111111112', '4111 1111 1111 1112', '98765432109876543210', '5425-2334-3010-9904'];
    const items: Item[] = [];
    // Cut anywhere: also seven or more digits before a boundary whose continuation the client has not asked yet.
    const d = (n: number, text: string) => 1 + ((n * 5) % (text.length - 1));
    for (let k = 1; k * BIG + 30 < size; k++) {
      const text = nums[k % nums.length]!;
      items.push({ boundary: k * BIG, d: d(k, text), text, where: `straddling ${k}*${BIG}` });
    }
    for (let j = 1; j * SMALL + 30 < size; j++) {
      const text = nums[j % nums.length]!;
      items.push({ boundary: j * SMALL, d: d(j, text), text, where: `straddling ${j}*${SMALL}` });
    }
    place(txt, items, '|');
    expect(findPans(txt, { anyLuhn: true })).toEqual([]);
    writeFileSync(w('numbers.txt'), txt);

    const problems: Record<string, string[]> = {};
    for (const block of [undefined, SMALL]) {
      const b = block ?? BIG;
      problems[`random.bin, ${b}-byte reads`] = differences(bin, await download('random.bin', block), [], () => undefined);
      problems[`numbers.txt, ${b}-byte reads`] = differences(txt, await download('numbers.txt', block), [], () => undefined);
    }
    expect(problems).toEqual({
      [`random.bin, ${BIG}-byte reads`]: [], [`numbers.txt, ${BIG}-byte reads`]: [],
      [`random.bin, ${SMALL}-byte reads`]: [], [`numbers.txt, ${SMALL}-byte reads`]: [],
    });
  }, 120_000);

  it('ssh2 SFTP reading one block at a time: a card number across two reads shows at most its first 6 and last 4 digits, and no read waits forever', async () => {
    // The client asks for the next block only once it has this one: the reply ending in part of a card number
    // cannot wait for the rest. Digits are distinct, so that which of them were shown can be told.
    const pan = '4539578763621486';
    const cases = [
      ...[1, 6, 7, 9, 12, 15].map((d) => ({ text: pan, d })),
      { text: '4539 5787 6362 1486', d: 9 },
      { text: '4539 5787 6362 1486', d: 14 },
    ];
    const c = await sshClient(gate.broker);
    const problems: string[] = [];
    try {
      const sftp = await within(10_000, 'sftp subsystem', new Promise<SFTPWrapper>((resolve, reject) => c.sftp((e, s) => (e ? reject(e) : resolve(s)))));
      for (const { text, d } of cases) {
        const size = 2 * SMALL + 100;
        const orig = Buffer.alloc(size, 'x');
        const where = `${d} of ${JSON.stringify(text)} before ${SMALL}`;
        const cards = place(orig, [{ boundary: SMALL, d, text, where }]);
        expect(findPans(orig).map((s) => s.start)).toEqual(cards.map((p) => p.at));
        const file = w(`one-at-a-time-${d}-${text.length}.txt`);
        writeFileSync(file, orig);
        const handle = await within(10_000, `open ${file}`, new Promise<Buffer>((resolve, reject) => sftp.open(file, 'r', (e, h) => (e ? reject(e) : resolve(h)))));
        const parts: Buffer[] = [];
        for (let pos = 0; pos < size; pos += SMALL) {
          // A read may be answered with less than asked (pcigate does so rather than send an undecided tail):
          // the rest of the block is asked for next, as any client must.
          const buf = Buffer.alloc(Math.min(SMALL, size - pos));
          for (let have = 0; have < buf.length;) {
            const at = pos + have;
            const n = await within(10_000, `${where}: read at ${at}`, new Promise<number>((resolve, reject) => sftp.read(handle, buf, have, buf.length - have, at, (e, k) => (e ? reject(e) : resolve(k)))));
            expect(n, `${where}: read at ${at}`).toBeGreaterThan(0);
            have += n;
          }
          parts.push(buf);
        }
        await within(10_000, `close ${file}`, new Promise<void>((resolve, reject) => sftp.close(handle, (e) => (e ? reject(e) : resolve()))));
        const got = Buffer.concat(parts);
        // Answered short, the client asks for exactly the rest of its block, and waits for that: the card number's
        // digits in it are all undecided tail, sent whole with those after the sixth starred (PCI DSS 3.4.1).
        problems.push(...differences(orig, got, cards, () => undefined));
        const seen = got.toString('latin1');
        const digits = text.replace(/\D/g, '');
        if (seen.includes(text) || seen.includes(digits.slice(0, 12)) || seen.includes('1111 1111 1111 1111')) problems.push(`${where}: in clear`);
      }
    } finally {
      c.end();
    }
    expect(problems).toEqual([]);
  }, 120_000);

  it('OpenSSH sftp: a file ending in a number arrives whole, a size that is a multiple of the read length too', async () => {
    const files: { name: string; bytes: Buffer; block?: number }[] = [
      { name: 'total.txt', bytes: Buffer.from('total 123456789') },
      // The last reply is a full block ending in digits; what follows it is the end of the file (the size the
      // stat before the download told, or the server's end-of-file status), not data.
      { name: 'exact-big.txt', bytes: Buffer.concat([Buffer.alloc(2 * BIG - 16, 'x'), Buffer.from(' total 123456789')]) },
      { name: 'exact-small.txt', bytes: Buffer.concat([Buffer.alloc(4 * SMALL - 16, 'y'), Buffer.from(' total 123456789')]), block: SMALL },
    ];
    const problems: Record<string, string[]> = {};
    for (const f of files) {
      writeFileSync(w(f.name), f.bytes);
      problems[f.name] = differences(f.bytes, await download(f.name, f.block), [], () => undefined);
    }
    expect(problems).toEqual({ 'total.txt': [], 'exact-big.txt': [], 'exact-small.txt': [] });
  }, 120_000);
});
