/**
 * The bundle zip (src/archive/zip.ts): round trip, reproducible bytes, interop with unzip, Python's zipfile
 * and Info-ZIP's zip in both directions, and a reader that refuses malformed archives with a clear
 * EvidenceFormatError — truncation at every length, a wrong CRC-32, duplicate names, `..`, absolute paths,
 * unsupported features, a deflate bomb — and never throws anything else.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EvidenceFormatError } from '../../../src/errors.js';
import { readZip, writeZip, zipEntries } from '../../../src/archive/zip.js';

let tmp: string;
beforeAll(async () => { tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'pcigate-zip-')); });
afterAll(async () => { await fsp.rm(tmp, { recursive: true, force: true }); });

const ENTRIES = [
  { path: 'manifest.json', bytes: Buffer.from('{"a":1}') },
  { path: 'empty.txt', bytes: Buffer.alloc(0) },
  { path: 'samples/pg.query.jsonl', bytes: Buffer.from('{"seq":1,"type":"pg.query"}\n'.repeat(500)) },
  { path: 'random.bin', bytes: randomBytes(70_000) },
  { path: 'données/é – ünïcode.txt', bytes: Buffer.from('naïve\n') },
];

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Offsets of each entry's local and central header, walking the central directory. */
function headers(zip: Buffer): Array<{ local: number; central: number; nameLen: number }> {
  const eocd = zip.length - 22;
  let p = zip.readUInt32LE(eocd + 16);
  const out = [];
  for (let i = 0; i < zip.readUInt16LE(eocd + 10); i++) {
    const nameLen = zip.readUInt16LE(p + 28);
    out.push({ local: zip.readUInt32LE(p + 42), central: p, nameLen });
    p += 46 + nameLen + zip.readUInt16LE(p + 30) + zip.readUInt16LE(p + 32);
  }
  return out;
}

/** Writes `name` (same byte length) over entry i's name in both headers. */
function rename(zip: Buffer, i: number, name: string): Buffer {
  const z = Buffer.from(zip);
  const h = headers(z)[i]!;
  const n = Buffer.from(name);
  expect(n.length).toBe(h.nameLen);
  n.copy(z, h.local + 30);
  n.copy(z, h.central + 46);
  return z;
}

function patch(zip: Buffer, i: number, localAt: number, centralAt: number, write: (b: Buffer, at: number) => void): Buffer {
  const z = Buffer.from(zip);
  const h = headers(z)[i]!;
  write(z, h.local + localAt);
  write(z, h.central + centralAt);
  return z;
}

function refused(zip: Buffer): EvidenceFormatError {
  try {
    readZip(zip);
  } catch (e) {
    expect(e).toBeInstanceOf(EvidenceFormatError);
    return e as EvidenceFormatError;
  }
  throw new Error('readZip accepted a malformed zip');
}

describe('writeZip / readZip', () => {
  it('round-trips names and bytes in order, deflating only what shrinks', () => {
    const zip = writeZip(ENTRIES);
    expect(readZip(zip)).toEqual(ENTRIES);
    const methods = headers(zip).map((h) => zip.readUInt16LE(h.central + 10));
    expect(methods).toEqual([0, 0, 8, 0, 0]); // only the repetitive samples file is worth deflating
    expect(zip.length).toBeLessThan(80_000);
  });

  it('is reproducible: the same entries give the same bytes, with a fixed 1980-01-01 timestamp', () => {
    const a = writeZip(ENTRIES);
    expect(writeZip(ENTRIES.map((e) => ({ path: e.path, bytes: Buffer.from(e.bytes) }))).equals(a)).toBe(true);
    for (const h of headers(a)) expect([a.readUInt16LE(h.local + 10), a.readUInt16LE(h.local + 12)]).toEqual([0, 0x21]);
  });

  it('unzip -t and Python zipfile accept it and read the same bytes', async () => {
    const file = path.join(tmp, 'w.zip');
    await fsp.writeFile(file, writeZip(ENTRIES));
    const t = spawnSync('unzip', ['-t', file], { encoding: 'utf8' });
    expect(t.status, t.stdout + t.stderr).toBe(0);
    expect(t.stdout).toContain('No errors detected');
    const py = spawnSync('python3', ['-c', [
      'import sys, json, zipfile, hashlib',
      'z = zipfile.ZipFile(sys.argv[1])',
      'assert z.testzip() is None',
      'print(json.dumps({i.filename: hashlib.sha256(z.read(i)).hexdigest() for i in z.infolist()}))',
    ].join('\n'), file], { encoding: 'utf8' });
    expect(py.status, py.stderr).toBe(0);
    expect(JSON.parse(py.stdout)).toEqual(Object.fromEntries(ENTRIES.map((e) => [e.path, sha(e.bytes)])));
  });

  it('reads what Info-ZIP zip and Python write (directory entries skipped, data descriptors, extra fields)', async () => {
    const dir = path.join(tmp, 'src');
    await fsp.mkdir(path.join(dir, 'samples'), { recursive: true });
    await fsp.writeFile(path.join(dir, 'a.txt'), 'alpha\n'.repeat(100));
    await fsp.writeFile(path.join(dir, 'samples', 'b.jsonl'), '{"b":2}\n');
    const infozip = path.join(tmp, 'infozip.zip');
    const z = spawnSync('zip', ['-q', '-r', infozip, 'a.txt', 'samples'], { cwd: dir, encoding: 'utf8' });
    expect(z.status, z.stderr).toBe(0);
    expect(readZip(await fsp.readFile(infozip)).map((e) => [e.path, e.bytes.toString()])).toEqual([
      ['a.txt', 'alpha\n'.repeat(100)], ['samples/b.jsonl', '{"b":2}\n'],
    ]);
    // Python writing to a non-seekable stream uses data descriptors (general purpose bit 3).
    const py = spawnSync('python3', ['-c', [
      'import sys, zipfile',
      'class W:',
      '  def __init__(s): s.b = bytearray()',
      '  def write(s, d): s.b += d; return len(d)',
      '  def flush(s): pass',
      'w = W()',
      'with zipfile.ZipFile(w, "w", zipfile.ZIP_DEFLATED) as z:',
      '  with z.open("x/y.txt", "w") as f: f.write(b"hello " * 50)',
      'sys.stdout.buffer.write(bytes(w.b))',
    ].join('\n')], { encoding: 'buffer' });
    expect(py.status, py.stderr.toString()).toBe(0);
    expect(py.stdout.readUInt16LE(6) & 0x08).toBe(0x08);
    expect(readZip(py.stdout)).toEqual([{ path: 'x/y.txt', bytes: Buffer.from('hello '.repeat(50)) }]);
  });

  it('the writer refuses names the reader would refuse, and duplicates', () => {
    for (const p of ['../x', 'a/../../x', '/etc/passwd', 'a\\b', 'C:x', '', 'a//b', './a', 'a/', 'tab\there']) {
      expect(() => writeZip([{ path: p, bytes: Buffer.from('x') }]), p).toThrow(EvidenceFormatError);
    }
    expect(() => writeZip([{ path: 'a', bytes: Buffer.alloc(0) }, { path: 'a', bytes: Buffer.alloc(0) }])).toThrow(/twice/);
    expect(() => writeZip([{ path: 'a.txt', bytes: Buffer.alloc(0) }, { path: 'A.TXT', bytes: Buffer.alloc(0) }])).toThrow(/equal up to case/);
  });
});

describe('readZip refuses malformed archives with a clear error', () => {
  const small = writeZip([
    { path: 'xa.txt', bytes: Buffer.from('first file\n') },
    { path: 'xb.txt', bytes: Buffer.from('second file, second file, second file\n'.repeat(4)) },
    { path: 'zz/x', bytes: Buffer.from('third') },
  ]);

  it('truncated at every length', () => {
    for (let n = 0; n < small.length; n++) refused(small.subarray(0, n));
    expect(refused(small.subarray(0, 10)).message).toMatch(/not a zip file/);
  });

  it('a wrong CRC-32 names the entry', () => {
    const z = patch(small, 1, 14, 16, (b, at) => b.writeUInt32LE((b.readUInt32LE(at) ^ 1) >>> 0, at));
    const e = refused(z);
    expect(e.message).toMatch(/zip entry xb\.txt: CRC-32 mismatch/);
    expect(e.file).toBe('xb.txt');
    // changed data under the right CRC
    const d = Buffer.from(small);
    d[headers(d)[0]!.local + 30 + 6 + 2]! ^= 0x20;
    expect(refused(d).message).toMatch(/xa\.txt: CRC-32 mismatch/);
  });

  it('duplicate names, `..`, absolute paths, backslashes, a file used as a directory', () => {
    expect(refused(rename(small, 1, 'xa.txt')).message).toMatch(/xa\.txt appears twice/);
    expect(refused(rename(small, 1, 'XA.txt')).message).toMatch(/xa\.txt and XA\.txt differ only in case/);
    const py = spawnSync('python3', ['-c', [
      'import io, sys, zipfile',
      'b = io.BytesIO()',
      'with zipfile.ZipFile(b, "w") as z:',
      '  z.writestr("\\u00e9.txt", "composed")',
      '  z.writestr("e\\u0301.txt", "decomposed")',
      'sys.stdout.buffer.write(b.getvalue())',
    ].join('\n')], { encoding: 'buffer' });
    expect(py.status, py.stderr.toString()).toBe(0);
    expect(refused(py.stdout).message).toMatch(/differ only in case or Unicode normalisation/);
    expect(refused(rename(small, 2, '../x')).message).toMatch(/escapes the bundle/);
    expect(refused(rename(small, 0, '/etc/p')).message).toMatch(/absolute path/);
    expect(refused(rename(small, 0, 'a\\b.tx')).message).toMatch(/backslash/);
    expect(refused(rename(small, 0, 'C:/x.t')).message).toMatch(/drive letter/);
    const nested = writeZip([{ path: 'p', bytes: Buffer.from('1') }, { path: 'q/r', bytes: Buffer.from('2') }]);
    expect(refused(rename(nested, 1, 'p/r')).message).toMatch(/p\/r is inside p, which is a file/);
  });

  it('unsupported features: another compression method, encryption, ZIP64, multi-disk', () => {
    expect(refused(patch(small, 0, 8, 10, (b, at) => b.writeUInt16LE(12, at))).message).toMatch(/compression method 12 is not supported/);
    expect(refused(patch(small, 0, 6, 8, (b, at) => b.writeUInt16LE(b.readUInt16LE(at) | 1, at))).message).toMatch(/encrypted/);
    const eocd = (at: number, v: number) => { const z = Buffer.from(small); z.writeUInt16LE(v, z.length - 22 + at); return z; };
    expect(refused(eocd(10, 0xffff)).message).toMatch(/ZIP64/);
    expect(refused(eocd(4, 1)).message).toMatch(/multi-disk/);
  });

  it('bytes before or after the archive, and a central directory pointing elsewhere', () => {
    expect(refused(Buffer.concat([Buffer.from('MZ stub'), small])).message).toMatch(/truncated or extra bytes/);
    expect(refused(Buffer.concat([small, Buffer.from('junk')])).message).toMatch(/no end-of-central-directory/);
    const z = Buffer.from(small);
    z.writeUInt32LE(headers(z)[0]!.local, headers(z)[1]!.central + 42); // entry 2 claims entry 1's data
    expect(refused(z).message).toMatch(/xb\.txt: the local header names a different file/);
  });

  it('an entry hidden between the listed ones (no central directory record: a streaming reader extracts it) is refused', () => {
    // A stored local entry for index.html put right before the central directory, which moves up to make room.
    const name = Buffer.from('index.html');
    const body = Buffer.from('<h1>All requirements: IN PLACE</h1>');
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(body.length, 22);
    local.writeUInt16LE(name.length, 26);
    const eocd = small.length - 22;
    const cdOffset = small.readUInt32LE(eocd + 16);
    const hidden = Buffer.concat([small.subarray(0, cdOffset), local, name, body, small.subarray(cdOffset)]);
    hidden.writeUInt32LE(cdOffset + 30 + name.length + body.length, hidden.length - 22 + 16);
    expect(refused(hidden).message).toMatch(/bytes before the central directory belong to no listed entry/);
    // Any zip (pcigate scan): such bytes are a self-extractor's stub, an APK signing block, a ZIP64 data descriptor
    // as often; its listed entries are read.
    expect(zipEntries(hidden).map((e) => e.path)).toEqual(zipEntries(small).map((e) => e.path));
  });

  it('a deflate bomb: more data than the directory declares is refused without inflating it all', () => {
    const bomb = writeZip([{ path: 'bomb', bytes: Buffer.alloc(4 << 20) }]);
    expect(bomb.length).toBeLessThan(10_000);
    const z = patch(bomb, 0, 22, 24, (b, at) => b.writeUInt32LE(100, at));
    expect(refused(z).message).toMatch(/bomb: its deflate data is damaged/);
  });

  it('any single byte flipped: a result or an EvidenceFormatError, never another exception', () => {
    let refusedCount = 0;
    for (let i = 0; i < small.length; i++) {
      const z = Buffer.from(small);
      z[i]! ^= 0xff;
      try {
        readZip(z);
      } catch (e) {
        expect(e, `byte ${i}`).toBeInstanceOf(EvidenceFormatError);
        refusedCount++;
      }
    }
    // What goes unnoticed are fields no reader uses: timestamps, attributes, "version made by".
    expect(refusedCount).toBeGreaterThan(small.length * 0.7);
  });
});
