/**
 * readRecordingFile hashes a recording in 1 MiB chunks: a file of several chunks and a ragged end gives the
 * SHA-256 and size of the whole file, and with `keep` exactly its bytes; a directory at the path is refused.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRecordingFile } from '../../../recorder/recording-file.js';
import { tempDir } from '../../harness/cli.js';

let home: string;
const big = randomBytes(3 * (1 << 20) + 17);

beforeAll(() => {
  home = tempDir('pcigate-recording-file-');
  mkdirSync(path.join(home, 'recordings', 'dir.cast'), { recursive: true });
  writeFileSync(path.join(home, 'recordings', 'big.cast'), big);
  writeFileSync(path.join(home, 'recordings', 'empty.cast'), '');
});

afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('readRecordingFile', () => {
  it('hashes a file of several chunks as a whole, and keeps its bytes when asked', async () => {
    const sha256 = createHash('sha256').update(big).digest('hex');
    expect(await readRecordingFile(fsp, home, 'recordings/big.cast')).toEqual({ status: 'read', sha256, bytes: big.length });
    const kept = await readRecordingFile(fsp, home, 'recordings/big.cast', { keep: true });
    expect(kept.status === 'read' && kept.data?.equals(big)).toBe(true);
  });

  it('reads an empty file', async () => {
    expect(await readRecordingFile(fsp, home, 'recordings/empty.cast')).toEqual({ status: 'read', sha256: createHash('sha256').digest('hex'), bytes: 0 });
  });

  it('refuses a directory and reports a missing file', async () => {
    expect(await readRecordingFile(fsp, home, 'recordings/dir.cast')).toEqual({ status: 'not_file', detail: 'is a directory, not a regular file' });
    expect(await readRecordingFile(fsp, home, 'recordings/none.cast')).toMatchObject({ status: 'missing' });
  });
});
