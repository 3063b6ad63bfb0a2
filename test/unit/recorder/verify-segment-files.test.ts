/**
 * What verify does when something other than a regular file sits under a segment's name in log/ (the writer
 * only ever makes regular files there): a FIFO, a directory, a symbolic link, a sparse file larger than a
 * buffer; and the same for the home's other files (checkpoints.jsonl, origin, keys/root.pub). Each is
 * refused with a VerificationError (exit 3) naming the file — never a wait without end, an internal error,
 * or a verdict on another file's bytes. And checkpoints.jsonl and keys/epochs.jsonl larger than one string
 * (512 MiB) or than Node reads as one file (2 GiB) are verified, read a chunk at a time, up to the size they
 * had when loaded.
 */
import { constants as bufferConstants } from 'node:buffer';
import { execFileSync } from 'node:child_process';
import { closeSync, constants as fsConstants, openSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuditLog } from '../../../recorder/index.js';
import { verifyLog } from '../../../recorder/verify.js';
import { loadVerifyInput } from '../../../recorder/verify-load.js';
import type { VerifyReport } from '../../../recorder/verify-types.js';
import { testCtx } from '../../harness/test-ctx.js';
import { readLines, segments, writeLines } from './log-helpers.js';

let tmp: string;
let base: string;
let n = 0;

async function copyOf(src: string): Promise<string> {
  const dst = path.join(tmp, `case-${++n}`);
  await fsp.cp(src, dst, { recursive: true });
  return dst;
}

async function verifyHome(home: string): Promise<VerifyReport> {
  return verifyLog(await loadVerifyInput(fsp, home, { nowMicros: Date.UTC(2026, 10, 22, 12, 5) * 1000, maxUnsealedMicros: 3600e6 }));
}

/** The path of the home's second segment file, removed so that something else can take its name. */
async function freedSegment(home: string): Promise<string> {
  const file = path.join(home, 'log', (await segments(home))[1]!);
  await fsp.rm(file);
  return file;
}

beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'pcigate-verify-segment-files-'));
  base = path.join(tmp, 'base');
  const ctx = testCtx();
  const log = await openAuditLog(ctx, { home: base, createIfMissing: { origin: 'test.example/pcigate' }, checkpointRecords: 8, segmentMaxBytes: 4096, idleMs: 60_000 });
  for (let k = 0; k < 30; k++) {
    ctx.clock.advance(1);
    await log.append({ type: 'pg.query', session: 's-1', outcome: 'success', detail: { sql: `select ${k} from orders` } });
  }
  await log.close();
});

afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

describe('verify: a segment name that holds no regular file', () => {
  it('the untouched log passes (premise: several segments)', async () => {
    expect((await segments(base)).length).toBeGreaterThanOrEqual(3);
    expect((await verifyHome(base)).result).toBe('pass');
  });

  it('a FIFO is refused at once, not opened for a writer that never comes', async () => {
    const home = await copyOf(base);
    const fifo = await freedSegment(home);
    execFileSync('mkfifo', [fifo]);
    // Without the check verify waits in the thread pool for a writer: this one ends the wait, so a regression
    // fails on the message instead of hanging the test run.
    const unstick = setTimeout(() => { try { closeSync(openSync(fifo, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK)); } catch { /* no reader */ } }, 1500);
    try {
      await expect(verifyHome(home)).rejects.toMatchObject({ name: 'VerificationError', message: `the segment ${fifo} is a FIFO, not a regular file; it was not read` });
    } finally {
      clearTimeout(unstick);
    }
  }, 5000);

  it('a directory is a verification error naming it, not an internal one', async () => {
    const home = await copyOf(base);
    const dir = await freedSegment(home);
    await fsp.mkdir(dir);
    await expect(verifyHome(home)).rejects.toMatchObject({ name: 'VerificationError', message: `the segment ${dir} is a directory, not a regular file; it was not read` });
  });

  it('a symbolic link is not followed, even to an identical copy', async () => {
    const home = await copyOf(base);
    const link = path.join(home, 'log', (await segments(home))[1]!);
    const outside = path.join(tmp, `outside-${n}.jsonl`);
    await fsp.rename(link, outside);
    await fsp.symlink(outside, link);
    await expect(verifyHome(home)).rejects.toMatchObject({ name: 'VerificationError', message: `the segment ${link} is a symbolic link, not a regular file; it was not read` });
  });

  it('a sparse segment larger than one buffer is refused by its size, not an internal error', async () => {
    const home = await copyOf(base);
    const big = path.join(home, 'log', '000000099999.jsonl');
    await fsp.writeFile(big, '');
    await fsp.truncate(big, bufferConstants.MAX_LENGTH + 1); // no disk space: a hole
    try {
      await expect(verifyHome(home)).rejects.toMatchObject({
        name: 'VerificationError',
        message: `the segment ${big} is ${bufferConstants.MAX_LENGTH + 1} bytes, more than verify can read as one segment (${bufferConstants.MAX_LENGTH}); the writer starts a new segment at audit.segment_bytes`,
      });
    } finally {
      await fsp.rm(big);
    }
  });
});

describe("verify: the data home's other files", () => {
  it('a FIFO as checkpoints.jsonl is refused at once, not read', async () => {
    const home = await copyOf(base);
    const fifo = path.join(home, 'checkpoints.jsonl');
    await fsp.rm(fifo);
    execFileSync('mkfifo', [fifo]);
    const unstick = setTimeout(() => { try { closeSync(openSync(fifo, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK)); } catch { /* no reader */ } }, 1500);
    try {
      await expect(verifyHome(home)).rejects.toMatchObject({ name: 'VerificationError', message: `${fifo} is a FIFO, not a regular file; it was not read` });
    } finally {
      clearTimeout(unstick);
    }
  }, 5000);

  it('origin linked to a device is refused, not read (/dev/zero would never end)', async () => {
    const home = await copyOf(base);
    const origin = path.join(home, 'origin');
    await fsp.rm(origin);
    await fsp.symlink('/dev/null', origin);
    await expect(verifyHome(home)).rejects.toMatchObject({ name: 'VerificationError', message: `${origin} is a device, not a regular file; it was not read` });
  });

  it('an origin file too large to be a string (sparse: free to make) is a verification error naming it', async () => {
    const home = await copyOf(base);
    const origin = path.join(home, 'origin');
    await fsp.truncate(origin, bufferConstants.MAX_STRING_LENGTH + 1);
    await expect(verifyHome(home)).rejects.toMatchObject({ name: 'VerificationError', message: `${origin} is ${bufferConstants.MAX_STRING_LENGTH + 1} bytes: not an origin (one line)` });
  });

  it('a keys/root.pub that does not parse fails the verification (exit 3), not the command (exit 1)', async () => {
    const home = await copyOf(base);
    const file = path.join(home, 'keys', 'root.pub');
    await fsp.writeFile(file, 'not a key\n');
    await expect(verifyHome(home)).rejects.toMatchObject({ name: 'VerificationError', exit: 3, message: `${file} is not an Ed25519 public key (one line "ed25519 <base64 of 32 bytes>")` });
  });
});

describe('verify: segment file names', () => {
  it('a segment renamed to another segment name, records in place: modified, naming the file', async () => {
    for (const which of [1, -1]) {
      const home = await copyOf(base);
      const segs = await segments(home);
      const old = segs.at(which)!;
      const renamed = `${String(Number(old.slice(0, 12)) + 1).padStart(12, '0')}.jsonl`;
      await fsp.rename(path.join(home, 'log', old), path.join(home, 'log', renamed));
      const r = await verifyHome(home);
      expect(r.problems.map((p) => ({ kind: p.kind, segment: p.segment, seq: p.seq }))).toEqual([{ kind: 'modified', segment: renamed, seq: null }]);
      expect(r.problems[0]!.detail).toContain(`the file name says the segment begins at seq ${Number(old.slice(0, 12)) + 1}, but its first record is seq ${Number(old.slice(0, 12))}`);
    }
  });
});

describe('verify: empty segment files', () => {
  it('an empty file under a far segment name: modified, naming it (it sized an array by its name: an internal error)', async () => {
    const home = await copyOf(base);
    await fsp.writeFile(path.join(home, 'log', '999999999999.jsonl'), '');
    const r = await verifyHome(home);
    expect(r.problems.map((p) => ({ kind: p.kind, segment: p.segment, seq: p.seq }))).toEqual([{ kind: 'modified', segment: '999999999999.jsonl', seq: null }]);
    expect(r.problems[0]!.detail).toMatch(/^an empty newest segment file named for seq 999999999999, but the log's next record is seq \d+/);
  });

  it('a copied record under a far segment name: inserted, not an array sized by the name', async () => {
    const home = await copyOf(base);
    const segs = await segments(home);
    const last = (await readLines(path.join(home, 'log', segs.at(-1)!))).at(-1)!;
    await writeLines(path.join(home, 'log', '999999999999.jsonl'), [last]);
    const r = await verifyHome(home);
    expect(r.problems.map((p) => ({ kind: p.kind, segment: p.segment }))).toEqual([{ kind: 'inserted', segment: '999999999999.jsonl' }]);
  });

  it('an empty file between two segments: modified, naming it', async () => {
    const home = await copyOf(base);
    const second = Number((await segments(home))[1]!.slice(0, 12));
    const planted = `${String(second - 1).padStart(12, '0')}.jsonl`;
    await fsp.writeFile(path.join(home, 'log', planted), '');
    const r = await verifyHome(home);
    expect(r.problems.map((p) => ({ kind: p.kind, segment: p.segment, seq: p.seq }))).toEqual([{ kind: 'modified', segment: planted, seq: null }]);
  });
});

describe('verify: a checkpoints.jsonl longer than one string', () => {
  it('is read line by line: more than MAX_STRING_LENGTH bytes of checkpoints verify (a year of them is that much)', async () => {
    const input = await loadVerifyInput(fsp, base, { nowMicros: Date.UTC(2026, 10, 22, 12, 5) * 1000, maxUnsealedMicros: 3600e6 });
    // The home's own checkpoint lines over and over (the same notes), each padded with 4 MiB of JSON whitespace
    // so that a few hundred lines make the size: what is checked is the file's size, not two million parses.
    const pad = ' '.repeat(4 << 20);
    const one = Buffer.from((await fsp.readFile(path.join(base, 'checkpoints.jsonl'), 'utf8')).split('\n').filter((l) => l).map((l) => `${l.slice(0, -1)}${pad}}\n`).join(''));
    const big = Buffer.allocUnsafe(Math.ceil((bufferConstants.MAX_STRING_LENGTH + 1) / one.length) * one.length);
    big.fill(one);
    const r = await verifyLog({ ...input, checkpoints: big });
    expect(r.problems).toEqual([]);
    expect(r.result).toBe('pass');
  }, 60_000);
});

/** fs.readFile's limit (kIoMaxLength, 2 GiB − 1): a file past it is read in chunks or not at all. */
const READ_LIMIT = 2 ** 31 - 1;

/**
 * Rewrites `file` as `before`, a hole up to past READ_LIMIT, then `after`, each line ending in a newline. The
 * hole costs no disk, reads as NUL bytes, and is one line too long to be JSON (unreadable, skipped unheld).
 */
async function withHole(file: string, before: string[], after: string[]): Promise<void> {
  await fsp.writeFile(file, before.map((l) => `${l}\n`).join(''));
  const fh = await fsp.open(file, 'r+');
  try {
    await fh.write(`\n${after.map((l) => `${l}\n`).join('')}`, READ_LIMIT + 1);
  } finally {
    await fh.close();
  }
  expect((await fsp.stat(file)).size).toBeGreaterThan(READ_LIMIT);
}

describe('verify: checkpoints.jsonl and keys/epochs.jsonl past 2 GiB (2.7 years of 10 s checkpoints)', () => {
  const brief = (r: VerifyReport) => r.problems.map((p) => ({ kind: p.kind, segment: p.segment, line: p.line }));

  it('checkpoints.jsonl: the checkpoints after 2 GiB are read, the hole is one unreadable line', async () => {
    const clean = await verifyHome(base);
    const home = await copyOf(base);
    const file = path.join(home, 'checkpoints.jsonl');
    const lines = await readLines(file);
    expect(lines.length).toBeGreaterThanOrEqual(3);
    // The newer checkpoints only after the hole: a reader that stops there finds the log's mirrors newer (rollback).
    await withHole(file, lines.slice(0, 1), lines.slice(1));
    const r = await verifyHome(home);
    expect(brief(r)).toEqual([{ kind: 'unreadable', segment: 'checkpoints.jsonl', line: 2 }]);
    expect(r.checkpoints).toBe(clean.checkpoints);
    expect(r.newestCheckpoint).toEqual(clean.newestCheckpoint);
  }, 60_000);

  it('keys/epochs.jsonl: the certificate after 2 GiB is read, the hole is one unreadable line', async () => {
    const home = await copyOf(base);
    const file = path.join(home, 'keys', 'epochs.jsonl');
    await withHole(file, [], await readLines(file));
    const r = await verifyHome(home);
    expect(brief(r)).toEqual([{ kind: 'unreadable', segment: 'keys/epochs.jsonl', line: 1 }]);
    expect(r.epochs).toBe(1);
    expect(r.newestCheckpoint).not.toBeNull();
  }, 60_000);

  it.each(['checkpoints.jsonl', 'keys/epochs.jsonl'])('%s read again (pcigate evidence after verify) must be what verify read: rewritten or cut in between, exit 3', async (name) => {
    const home = await copyOf(base);
    const input = await loadVerifyInput(fsp, home, { nowMicros: Date.UTC(2026, 10, 22, 12, 5) * 1000, maxUnsealedMicros: 3600e6 });
    expect((await verifyLog(input)).result).toBe('pass');
    const file = path.join(home, name);
    const again = (name === 'checkpoints.jsonl' ? input.checkpoints : input.epochs) as { read(each: (c: Buffer) => boolean): Promise<void> };
    await again.read(() => true); // unchanged: read alike
    const bytes = await fsp.readFile(file);
    // Same size, another first line (a replaced file too is opened again by name); then cut.
    await fsp.writeFile(file, Buffer.concat([Buffer.from('{}'.padEnd(bytes.indexOf(10), ' ')), bytes.subarray(bytes.indexOf(10))]));
    await expect(again.read(() => true)).rejects.toThrow(`${file} changed while verify ran`);
    await fsp.writeFile(file, bytes.subarray(0, bytes.length - 1));
    await expect(again.read(() => false)).rejects.toThrow(`${file} changed while verify ran`);
  });

  it('a line appended to checkpoints.jsonl after loading is not read: the checkpoints are those written before the segments were listed', async () => {
    const home = await copyOf(base);
    const input = await loadVerifyInput(fsp, home, { nowMicros: Date.UTC(2026, 10, 22, 12, 5) * 1000, maxUnsealedMicros: 3600e6 });
    await fsp.appendFile(path.join(home, 'checkpoints.jsonl'), 'written after the segments were listed\n');
    const r = await verifyLog(input);
    expect(r.problems).toEqual([]);
    expect(r.result).toBe('pass');
  });
});
