import { constants as bufferConstants } from 'node:buffer';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectEvidence, loadConfigEvidence, parseRecords } from '../../../src/evidence/collect.js';
import { readCertifiedEpochs, readCheckpoints } from '../../../src/evidence/home-checkpoints.js';
import { parseBound, resolvePeriod } from '../../../src/evidence/period.js';
import { parsePublicKeyFile } from '../../../recorder/keys.js';
import { leafHash } from '../../../recorder/merkle.js';
import { formatTs, parseTs } from '../../../recorder/timestamp.js';
import { testCtx } from '../../harness/test-ctx.js';
import { readLog } from '../recorder/log-helpers.js';
import { evidenceHome } from './evidence-log.js';
import type { EvidenceHome } from './evidence-log.js';

const NOW = parseTs('2026-11-22T12:00:00.000000Z')!;

describe('period bounds', () => {
  it('accepts RFC 3339 with any offset, a date, or a duration back from now', () => {
    expect(formatTs(parseBound('2026-11-01T10:00:00+02:00', NOW, 'since'))).toBe('2026-11-01T08:00:00.000000Z');
    expect(formatTs(parseBound('2026-11-01T08:00:00.1234567Z', NOW, 'since'))).toBe('2026-11-01T08:00:00.123456Z');
    expect(formatTs(parseBound('2026-11-01', NOW, 'since'))).toBe('2026-11-01T00:00:00.000000Z');
    // --until DATE includes that whole day.
    expect(formatTs(parseBound('2026-11-01', NOW, 'until'))).toBe('2026-11-01T23:59:59.999999Z');
    expect(formatTs(parseBound('90d', NOW, 'since'))).toBe('2026-08-24T12:00:00.000000Z');
    expect(formatTs(parseBound('12h', NOW, 'since'))).toBe('2026-11-22T00:00:00.000000Z');
  });

  it('refuses what is not a time, and dates that do not exist, as usage errors', () => {
    for (const bad of ['yesterday', '2026-02-31', '2026-13-01', '2026-11-01T25:00:00Z', '90', '']) {
      expect(() => parseBound(bad, NOW, 'since'), bad).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
    }
  });

  it('defaults to the first record … now and refuses since after until', () => {
    expect(resolvePeriod({}, NOW, '2026-11-20T00:00:00.000000Z')).toEqual({ since: '2026-11-20T00:00:00.000000Z', until: '2026-11-22T12:00:00.000000Z' });
    expect(resolvePeriod({}, NOW, undefined)).toEqual({ since: '2026-11-22T12:00:00.000000Z', until: '2026-11-22T12:00:00.000000Z' });
    expect(() => resolvePeriod({ since: '2026-11-21', until: '2026-11-20' }, NOW, undefined)).toThrow(expect.objectContaining({ code: 'ERR_USAGE', message: expect.stringContaining('is after --until') }));
  });
});

describe('collectEvidence over a real log', () => {
  let h: EvidenceHome;
  beforeAll(async () => { h = await evidenceHome(); });
  afterAll(async () => { await h.close(); });

  it('loads every record with where its exact line is and its RFC 6962 leaf, in seq order', async () => {
    const input = await collectEvidence(h.ctx, { home: h.home, config: await loadConfigEvidence(h.ctx, { home: h.home }) });
    const disk = readLog(h.home);
    expect(input.records.length).toBe(disk.length);
    const back = await input.log.read(input.records.map((r) => r.index));
    input.records.forEach((r, i) => {
      expect(r.record.seq).toBe(i);
      expect(r.index).toBe(i);
      expect(back.get(r.index)!.toString('utf8')).toBe(disk[i]!.line);
      expect(input.log.bytes(r.index)).toBe(Buffer.byteLength(disk[i]!.line));
      expect(Buffer.from(input.log.at(r.index)!).toString('hex')).toBe(disk[i]!.leaf);
      expect(leafHash(Buffer.from(disk[i]!.line)).equals(input.log.at(r.index)!)).toBe(true);
    });
    expect(input.origin).toBe('test/evidence');
    expect(input.generatedAt).toBe(formatTs(h.ctx.clock.micros()));
    expect(input.period).toEqual({ since: disk[0]!.rec.ts, until: input.generatedAt });
    expect(input.inPeriod.length).toBe(disk.length);
    expect(input.verify.result).toBe('pass');
    expect(input.verify.state).toBeDefined(); // stripped only in the artifact
    expect(input.sample).toBe(3);
    expect(input.epochs.map((e) => e.cert.epoch)).toEqual([0]);
    expect(input.rootPub.length).toBe(32);
    // Scanned when read (streamed, one at a time): what is kept is its size and findings, not its bytes.
    expect(input.recordings).toEqual([{ path: 's1.jsonl', size: 14, findings: [], errors: [] }]);
    // checkpoints.jsonl in file order, each checked against its epoch key.
    const lines = readFileSync(path.join(h.home, 'checkpoints.jsonl'), 'utf8').trim().split('\n');
    expect(input.checkpoints.map((c) => c.note)).toEqual(lines.map((l) => (JSON.parse(l) as { note: string }).note));
    expect(input.checkpoints.every((c) => c.valid && c.epoch === 0 && /^[0-9a-f]{64}$/.test(c.root))).toBe(true);
    expect(input.checkpoints[input.checkpoints.length - 1]!.size).toBe(h.lastCheckpointSize);
    // Each record as its line says; a session's equal actors, sources and targets are one frozen object (memory).
    input.records.forEach((r, i) => expect(r.record).toEqual(disk[i]!.rec));
    const s1 = input.records.filter((r) => r.record.session === 's1' && r.record.actor !== undefined);
    expect(s1.length).toBeGreaterThan(1);
    expect(new Set(s1.map((r) => r.record.actor)).size).toBe(1);
    expect(new Set(s1.map((r) => r.record.target)).size).toBe(1);
    expect(Object.isFrozen(s1[0]!.record.actor)).toBe(true);
  });

  it('selects the period by --since/--until and checks the bounds', async () => {
    const config = await loadConfigEvidence(h.ctx, { home: h.home });
    const input = await collectEvidence(h.ctx, { home: h.home, config, since: '2026-11-22T12:00:05Z', until: '2026-11-22T12:00:08Z', sample: 1 });
    expect(input.inPeriod.length).toBeGreaterThan(0);
    expect(input.inPeriod.every((r) => r.record.ts >= '2026-11-22T12:00:05.000000Z' && r.record.ts <= '2026-11-22T12:00:08.000000Z')).toBe(true);
    expect(input.inPeriod.length).toBe(input.records.filter((r) => r.record.ts >= '2026-11-22T12:00:05.000000Z' && r.record.ts <= '2026-11-22T12:00:08.000000Z').length);
    expect(input.records.length).toBeGreaterThan(input.inPeriod.length); // the whole log stays available (retention)
    expect(input.sample).toBe(1);
    await expect(collectEvidence(h.ctx, { home: h.home, config, since: '2026-11-23', until: '2026-11-22' })).rejects.toMatchObject({ code: 'ERR_USAGE' });
  });

  it('a recording swapped for a FIFO after the directory was listed is skipped, not waited on', async () => {
    const copy = mkdtempSync(path.join(os.tmpdir(), 'pcigate-ev-'));
    const { cpSync } = await import('node:fs');
    const { execFileSync } = await import('node:child_process');
    const fsp = await import('node:fs/promises');
    cpSync(h.home, copy, { recursive: true });
    const fifo = path.join(copy, 'recordings', 'swapped.jsonl');
    execFileSync('mkfifo', [fifo]);
    // The swap between readdir and the read, made certain: the listing still says "a file".
    const readdir = (async (p: string, o?: unknown) => {
      const entries = await (fsp.readdir as (p: string, o?: unknown) => Promise<Array<{ name: string; isFile(): boolean; isDirectory(): boolean }>>)(p, o);
      return o ? entries.map((e) => (e.name === 'swapped.jsonl' ? Object.assign(Object.create(Object.getPrototypeOf(e) as object) as object, e, { isFile: () => true }) : e)) : entries;
    }) as typeof fsp.readdir;
    const ctx = { ...h.ctx, fs: { ...h.ctx.fs, readdir } };
    const collected = collectEvidence(ctx, { home: copy, config: await loadConfigEvidence(ctx, { home: copy }) });
    const r = await Promise.race([collected, new Promise<'waited'>((resolve) => { setTimeout(() => resolve('waited'), 5_000); })]);
    if (r === 'waited') {
      writeFileSync(fifo, ''); // lets the stuck read return, so the run can end
      throw new Error('collectEvidence waited on the FIFO');
    }
    expect(r.recordings.map((x) => x.path)).toEqual(['s1.jsonl']);
  });

  it('marks a checkpoint whose signature does not verify as invalid', async () => {
    const copy = mkdtempSync(path.join(os.tmpdir(), 'pcigate-ev-'));
    const { cpSync } = await import('node:fs');
    cpSync(h.home, copy, { recursive: true });
    const file = path.join(copy, 'checkpoints.jsonl');
    const first = (JSON.parse(readFileSync(file, 'utf8').split('\n')[0]!) as { note: string }).note;
    // The same note with its size changed: parses, but the signature no longer covers the text.
    appendFileSync(file, `${JSON.stringify({ note: first.replace(/\n\d+\n/, '\n1\n') })}\n`);
    const input = await collectEvidence(h.ctx, { home: copy, config: await loadConfigEvidence(h.ctx, { home: copy }) });
    expect(input.checkpoints.map((c) => c.valid)).toEqual([true, true, true, true, false]);
    expect(input.verify.result).toBe('fail');
  });

  it('uses --root-key and fails closed without any root key', async () => {
    const copy = mkdtempSync(path.join(os.tmpdir(), 'pcigate-ev-'));
    const { cpSync, rmSync } = await import('node:fs');
    cpSync(h.home, copy, { recursive: true });
    const rootKey = path.join(copy, 'my-root.pub');
    cpSync(path.join(copy, 'keys', 'root.pub'), rootKey);
    rmSync(path.join(copy, 'keys', 'root.pub'));
    const config = await loadConfigEvidence(h.ctx, { home: copy });
    await expect(collectEvidence(h.ctx, { home: copy, config })).rejects.toMatchObject({ code: 'ERR_VERIFICATION' });
    const input = await collectEvidence(h.ctx, { home: copy, config, rootKeyFile: rootKey });
    expect(input.verify.rootKeySource).toBe('user');
    expect(input.checkpoints.every((c) => c.valid)).toBe(true);
  });
});

describe('parseRecords', () => {
  it('shares only parts that read back as they are: a tampered 1e999 is not taken for null', async () => {
    const line = (seq: number, src: string) => `{"seq":${seq},"session":"s","src":${src},"target":{"kind":"postgres"},"ts":"2026-12-05T00:00:0${seq}.000000Z","type":"x"}`;
    const bytes = Buffer.from(`${[line(0, '{"port":1e999}'), line(1, '{"port":null}'), line(2, '{"port":null}'), line(3, '{"port":7}')].join('\n')}\n`);
    const { records } = await parseRecords([{ name: '000000000000.jsonl', bytes }]);
    // (A -0 would share with 0: both are written 0 in every output, canonical JSON's and the reports'.)
    expect(records.map((r) => (r.record.src as { port: unknown }).port)).toEqual([Infinity, null, null, 7]);
    expect(records[1]!.record.src).toBe(records[2]!.record.src);
    expect(records[0]!.record.src).not.toBe(records[1]!.record.src);
    expect(records[0]!.record.target).toBe(records[3]!.record.target);
  });
});

describe('loadConfigEvidence', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-evcfg-'));

  it('redacts secret references and lists them by path', async () => {
    const file = path.join(dir, 'good.yaml');
    writeFileSync(file, [
      'connections:',
      '  prod-db:',
      '    kind: postgres',
      '    host: db.internal',
      '    database: payments',
      '    user: broker',
      '    password: env:PROD_DB_PASSWORD',
      'masking:',
      '  rules:',
      '    - columns: [public.cards.number]',
      '      format: first6last4',
      '',
    ].join('\n'), { mode: 0o600 });
    const ctx = testCtx({ env: { PROD_DB_PASSWORD: 'hunter2-secret' } });
    const ev = await loadConfigEvidence(ctx, { config: file });
    expect(ev.error).toBeUndefined();
    expect(ev.source).toBe(file);
    expect(ev.config?.masking.rules[0]?.columns).toEqual(['public.cards.number']);
    expect(ev.secretRefs).toEqual([{ path: 'connections.prod-db.password', ref: '<redacted: env:PROD_DB_PASSWORD>' }]);
    expect(ev.literalSecrets).toEqual([]);
    const text = JSON.stringify(ev.redacted);
    expect(text).toContain('<redacted: env:PROD_DB_PASSWORD>');
    expect(text).not.toContain('hunter2');
  });

  it('a config with a literal secret does not load: the error and the path are evidence, the value never is', async () => {
    const file = path.join(dir, 'literal.yaml');
    writeFileSync(file, [
      'connections:',
      '  prod-db:',
      '    kind: postgres',
      '    host: db.internal',
      '    database: payments',
      '    user: broker',
      '    password: hunter2-literal',
      '',
    ].join('\n'), { mode: 0o600 });
    const ev = await loadConfigEvidence(testCtx(), { config: file });
    expect(ev.config).toBeUndefined();
    expect(ev.source).toBe(file);
    expect(ev.error).toMatch(/literal value/);
    expect(ev.literalSecrets).toEqual(['connections.prod-db.password']);
    expect(ev.redacted).toBeNull();
    expect(JSON.stringify(ev)).not.toContain('hunter2');
  });

  it('no config file: the defaults, without an error', async () => {
    const ev = await loadConfigEvidence(testCtx({ cwd: dir }), {});
    expect(ev).toMatchObject({ source: 'defaults', literalSecrets: [], secretRefs: [] });
    expect(ev.error).toBeUndefined();
    expect(ev.config?.audit.checkpoint.interval).toBe(30_000);
  });

  it('a named config that does not exist is reported, not thrown', async () => {
    const ev = await loadConfigEvidence(testCtx(), { config: path.join(dir, 'nope.yaml') });
    expect(ev.config).toBeUndefined();
    expect(ev.error).toMatch(/does not exist/);
  });
});

describe('checkpoints.jsonl and keys/epochs.jsonl longer than one string', () => {
  let h: EvidenceHome;
  beforeAll(async () => { h = await evidenceHome(); });
  afterAll(async () => { await h.close(); });

  it('are read line by line, as verify reads them (a year of 10 s checkpoints passes V8\'s 512 MiB string limit)', async () => {
    const input = await collectEvidence(h.ctx, { home: h.home, config: await loadConfigEvidence(h.ctx, { home: h.home }) });
    expect(input.checkpoints.length).toBeGreaterThan(0);
    // The home's own lines over and over, each padded with 4 MiB of JSON whitespace: a few hundred lines make the size.
    const pad = ' '.repeat(4 << 20);
    const padded = (file: string) => {
      const one = Buffer.from(readFileSync(path.join(h.home, file), 'utf8').split('\n').filter((l) => l).map((l) => `${l.slice(0, -1)}${pad}}\n`).join(''));
      const big = Buffer.allocUnsafe(Math.ceil((bufferConstants.MAX_STRING_LENGTH + 1) / one.length) * one.length);
      big.fill(one);
      return { big, copies: big.length / one.length };
    };
    const cps = padded('checkpoints.jsonl');
    const read = await readCheckpoints(cps.big, input.origin, input.epochs);
    expect(read.length).toBe(input.checkpoints.length * cps.copies);
    expect(read.slice(0, input.checkpoints.length)).toEqual(input.checkpoints);
    expect(read.every((c) => c.valid)).toBe(true);
    // Each copy after the first repeats epoch 0: the certified chain is the file's first copy.
    const rootPub = parsePublicKeyFile(readFileSync(path.join(h.home, 'keys', 'root.pub'), 'utf8'));
    expect(input.epochs.length).toBeGreaterThan(0);
    expect(await readCertifiedEpochs(padded('keys/epochs.jsonl').big, input.origin, rootPub)).toEqual(input.epochs);
  }, 120_000);
});
