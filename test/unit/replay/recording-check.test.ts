/**
 * checkRecording reads only files under the data home's recordings/: a log record's blob path that is
 * absolute, holds `..`, names another file of the home, or is a symbolic link out of recordings/ is reported
 * `outside` and never read (a crafted log would otherwise have replay show, or --html copy, any file the
 * auditor can read); a FIFO there is `not_file`, not read. The verdict shows the log's path with escape sequences escaped.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdirSync, openSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRecording, describeCheck } from '../../../src/replay/recording-check.js';
import { tempDir } from '../../harness/cli.js';

let tmp: string;
let home: string;
const SECRET = 'root:x:0:0:not a recording\n';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const blob = (p: string, content = SECRET) => ({ seq: 7, path: p, kind: 'asciicast', sha256: sha(content), bytes: Buffer.byteLength(content), partial: false });

beforeAll(() => {
  tmp = tempDir('pcigate-recording-check-');
  home = path.join(tmp, 'home');
  mkdirSync(path.join(home, 'recordings'), { recursive: true });
  mkdirSync(path.join(home, 'keys'));
  writeFileSync(path.join(tmp, 'secret'), SECRET);
  writeFileSync(path.join(home, 'keys', 'secret'), SECRET);
  writeFileSync(path.join(home, 'recordings', 'ok.cast'), 'recorded\n');
  symlinkSync(path.join(tmp, 'secret'), path.join(home, 'recordings', 'link.cast'));
  symlinkSync(tmp, path.join(home, 'recordings', 'dirlink'));
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('checkRecording', () => {
  it('verifies a recording under recordings/', async () => {
    const c = await checkRecording(fsp, home, blob('recordings/ok.cast', 'recorded\n'));
    expect(c.status).toBe('verified');
    expect(c.data?.toString()).toBe('recorded\n');
  });

  it.each([
    ['an absolute path', () => path.join(tmp, 'secret')],
    ['a path up out of the home', () => '../secret'],
    ['a path through recordings/ and up', () => 'recordings/../../secret'],
    ['another file of the home', () => 'keys/secret'],
    ['a symbolic link out of recordings/', () => 'recordings/link.cast'],
    ['a path through a linked directory', () => 'recordings/dirlink/secret'],
  ])('does not read %s', async (_what, p) => {
    const c = await checkRecording(fsp, home, blob(p()));
    expect(c.status).toBe('outside');
    expect(c.data).toBeUndefined();
    expect(describeCheck(c)).toMatch(/^WARNING: the recording path .* in log record 7 is outside the data home's recordings\/ directory; it was not read$/);
  });

  it('does not read a FIFO in recordings/ (replay would wait for a writer forever)', async () => {
    const fifo = path.join(home, 'recordings', 'fifo.cast');
    execFileSync('mkfifo', [fifo]);
    // Without the check the read waits for a writer: this one ends the wait, so a regression fails, not hangs.
    const unstick = setTimeout(() => { try { closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK)); } catch { /* no reader */ } }, 1500);
    try {
      const c = await checkRecording(fsp, home, blob('recordings/fifo.cast'));
      expect(c.status).toBe('not_file');
      expect(c.data).toBeUndefined();
      expect(describeCheck(c)).toBe('WARNING: the recording path recordings/fifo.cast in log record 7 is not a regular file (a FIFO, device or directory); it was not read');
    } finally {
      clearTimeout(unstick);
    }
  }, 5000);

  it('shows a path holding escape sequences escaped', () => {
    const line = describeCheck({ status: 'missing', seq: 3, path: 'recordings/x\u001b]2;pwn\u0007.cast', kind: 'asciicast', expected: { sha256: 'a', bytes: 1 } });
    expect(line).toBe('WARNING: the recording recordings/x\\u001b]2;pwn\\u0007.cast committed in log record 3 is missing');
  });
});
