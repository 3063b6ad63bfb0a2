/**
 * `pcigate evidence` keeps no log line in memory (src/evidence/log-lines.ts): it reads each segment once to parse
 * it and scan it for PAN/SAD, keeps where each line is and its leaf, and reads back the lines it samples. Here:
 * a PAN in a record of a later segment is found at that record's seq and column; a segment changed, cut or
 * removed before the re-read fails it with a VerificationError naming the segment (never a sample that is not
 * the line loaded); a segment appended to meanwhile (the live writer) reads as before.
 */
import { appendFileSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Fs } from '../../../src/cli/ctx.js';
import { openAuditLog } from '../../../recorder/index.js';
import { loadVerifyInput } from '../../../recorder/verify-load.js';
import { checks3 } from '../../../src/evidence/checks-3.js';
import { collectEvidence, loadConfigEvidence, parseRecords } from '../../../src/evidence/collect.js';
import { LogScanner } from '../../../src/evidence/stored-scan.js';
import { testCtx } from '../../harness/test-ctx.js';
import { readLog, tmpHome } from '../recorder/log-helpers.js';
import type { ReadRecord } from '../recorder/log-helpers.js';
import { csvRows } from './access-input.js';

const PAN = '4111111111111111';
const ACTOR = { sub: 'alice@example.com', idp: 'https://idp.example.com', via: 'oidc' as const, amr: ['pwd', 'otp'] };
const TARGET = { conn: 'prod-db', kind: 'postgres' as const, host: 'db:5432', db: 'payments', user: 'app' };
/** Records whose sql holds a clear PAN (an older pcigate, or a masking gap). */
const LEAKY = new Set([3, 21, 37]);

/** A home whose log is 40 queries in 2 KiB segments (about ten), signed at the end. */
async function segmentedHome(): Promise<string> {
  const home = tmpHome();
  const ctx = testCtx();
  const log = await openAuditLog(ctx, { home, createIfMissing: { origin: 'test/segments' }, segmentMaxBytes: 2048, checkpointIntervalMs: 1e9, checkpointRecords: 1e9, idleMs: 1e9 });
  for (let k = 0; k < 40; k++) {
    ctx.clock.advance(1000);
    const sql = LEAKY.has(k) ? `select * from cards where pan = '${PAN}' -- ${k}` : `select id from orders where id = ${k}`;
    await log.append({ type: 'pg.query', session: 's1', actor: ACTOR, target: TARGET, outcome: 'success', detail: { sql } });
  }
  await log.checkpoint();
  await log.close();
  return home;
}

const segOf = (disk: ReadRecord[], seq: number): string => disk.find((r) => r.rec.seq === seq)!.file;

describe('evidence reads the log a segment at a time', () => {
  let home: string;
  let disk: ReadRecord[];
  beforeAll(async () => {
    home = await segmentedHome();
    disk = readLog(home);
  });

  it('finds a PAN in records of later segments at their seq, line 1 and column of their own line', async () => {
    const segments = [...new Set(disk.map((r) => r.file))];
    const leaky = disk.filter((r) => String(r.rec.detail?.sql).includes(PAN));
    expect(leaky.length).toBe(LEAKY.size);
    // Spread over the log: not all in the first segment, and in different segments.
    expect(segments.length).toBeGreaterThan(5);
    expect(new Set(leaky.map((r) => r.file)).size).toBe(LEAKY.size);
    expect(leaky.filter((r) => r.file !== segments[0]).length).toBeGreaterThanOrEqual(2);
    const ctx = testCtx();
    const input = await collectEvidence(ctx, { home, config: await loadConfigEvidence(ctx, { home }) });
    const csv = checks3(input).artifacts.find((a) => a.path === 'req3/pan-sad-scan.csv')!;
    expect(csvRows(csv.bytes).slice(1)).toEqual(leaky.map((r) => ['log', 'log', String(r.rec.seq), '1', String(r.line.indexOf(PAN) + 1), 'pan', 'visa', '************1111']));
    expect(input.logScan!.bytes).toBe(disk.reduce((n, r) => n + Buffer.byteLength(r.line) + 1, 0));
  });

  it('skips the scan when asked (a bundle without requirement 3), and requirement 3 then refuses to run', async () => {
    const ctx = testCtx();
    const input = await collectEvidence(ctx, { home, config: await loadConfigEvidence(ctx, { home }), scanLog: false });
    expect(input.logScan).toBeUndefined();
    expect(input.records.length).toBe(disk.length);
    expect(() => checks3(input)).toThrow(/collected without it/);
  });

  it('maps findings to records across the scan batches of one large segment', async () => {
    // ~9.4 MB in one segment: more than one 8 MiB batch. PANs in the first and in the second batch.
    const pad = 'x'.repeat(440);
    const lines = Array.from({ length: 20_000 }, (_, k) => JSON.stringify({ seq: k, ts: '2026-11-22T12:00:00.000000Z', type: 'pg.query', detail: { sql: [5, 19_000].includes(k) ? `pan ${PAN}` : pad } }));
    const scanner = new LogScanner(false);
    await parseRecords([{ name: '000000000000.jsonl', bytes: Buffer.from(`${lines.join('\n')}\n`) }], scanner);
    expect(scanner.result.findings.map((f) => [f.seq, f.line, f.column])).toEqual([[5, 1, lines[5]!.indexOf(PAN) + 1], [19_000, 1, lines[19_000]!.indexOf(PAN) + 1]]);
  });

  it('scans record lines only, as before: a line that is not a record is skipped and does not shift the seqs', async () => {
    const rec = (seq: number, sql: string) => JSON.stringify({ seq, ts: '2026-11-22T12:00:00.000000Z', type: 'pg.query', detail: { sql } });
    const scanner = new LogScanner(false);
    // (Not in the newest segment, whose records end at its first empty line: the room its writer reserves.)
    await parseRecords([
      { name: '000000000000.jsonl', bytes: Buffer.from(`${rec(0, 'a')}\nnot json ${PAN}\n\n${rec(1, `pan ${PAN}`)}\n`) },
      { name: '000000000002.jsonl', bytes: Buffer.from(`${rec(2, 'b')}\n`) },
    ], scanner);
    expect(scanner.result.findings.map((f) => [f.seq, f.line, f.column])).toEqual([[1, 1, rec(1, `pan ${PAN}`).indexOf(PAN) + 1]]);
    expect(scanner.result.bytes).toBe(rec(0, 'a').length + rec(1, `pan ${PAN}`).length + rec(2, 'b').length + 3);
  });

  describe('re-reading lines', () => {
    /** The log loaded as collect loads it, and the index of the record of `seq` (its line's segment file). */
    async function loaded(h: string, seq: number) {
      const vin = await loadVerifyInput(testCtx().fs, h, { nowMicros: 0, maxUnsealedMicros: 1e15 });
      const { records, log } = await parseRecords(vin.segments);
      const index = records.findIndex((r) => r.record.seq === seq);
      return { log, index, file: path.join(h, 'log', segOf(readLog(h), seq)), name: segOf(readLog(h), seq) };
    }
    async function copyHome(): Promise<string> {
      const h = tmpHome();
      await fsp.cp(home, h, { recursive: true });
      return h;
    }

    it('gives the lines loaded, byte for byte, also after records were appended to their segment', async () => {
      const h = await copyHome();
      const { log, index, file } = await loaded(h, 30);
      appendFileSync(file, `${disk.find((r) => r.rec.seq === 31)!.line}\n`);
      const got = await log.read([index, 0]);
      expect(got.get(index)!.toString('utf8')).toBe(disk.find((r) => r.rec.seq === 30)!.line);
      expect(got.get(0)!.toString('utf8')).toBe(disk[0]!.line);
    });

    it('a line changed in place since it was loaded fails, naming the segment', async () => {
      const h = await copyHome();
      const { log, index, file, name } = await loaded(h, 30);
      // Same size, one digit of the record's sql changed: what the bundle would carry is not what was loaded.
      const line = disk.find((r) => r.rec.seq === 30)!.line;
      expect(line).toMatch(/where id = \d+"/);
      writeFileSync(file, readFileSync(file, 'utf8').replace(line, line.replace(/where id = (\d)/, (_, d: string) => `where id = ${(Number(d) + 1) % 10}`)));
      await expect(log.read([index])).rejects.toMatchObject({
        code: 'ERR_VERIFICATION',
        message: expect.stringContaining(`the segment ${name} changed while the evidence was being built: the line at byte ${log.offset(index)} is no longer the one read before`),
      });
    });

    it('a segment cut or removed since it was loaded fails, naming it', async () => {
      const h = await copyHome();
      const { log, index, file, name } = await loaded(h, 30);
      truncateSync(file, log.offset(index) + 5);
      await expect(log.read([index])).rejects.toMatchObject({
        code: 'ERR_VERIFICATION',
        message: expect.stringContaining(`the segment ${name} changed while the evidence was being built: it is now ${log.offset(index) + 5} bytes`),
      });
      rmSync(file);
      await expect(log.read([index])).rejects.toMatchObject({ code: 'ERR_VERIFICATION', message: expect.stringMatching(new RegExp(`cannot read the segment .*${name} \\(ENOENT\\)`)) });
    });

    /** A ctx whose fs changes `file` (every `select id` made `SELECT id`, same size) just before its `nth` open. */
    function changingOn(file: string, nth: number) {
      let opens = 0;
      const open: Fs['open'] = async (...args: Parameters<Fs['open']>) => {
        if (String(args[0]) === file && ++opens === nth) writeFileSync(file, readFileSync(file, 'utf8').replaceAll('select id', 'SELECT id'));
        return fsp.open(...args);
      };
      return { ctx: testCtx({ fs: { ...fsp, open } as Fs }), opens: () => opens };
    }

    it('pcigate evidence fails when a record changes between its verification and its reading', async () => {
      const h = await copyHome();
      const target = path.join(h, 'log', segOf(disk, disk.filter((r) => r.rec.type === 'pg.query')[20]!.rec.seq));
      // Verify reads each segment once; the next open is collect's.
      const { ctx, opens } = changingOn(target, 2);
      await expect(collectEvidence(ctx, { home: h, config: await loadConfigEvidence(ctx, { home: h }), until: '2026-12-31' })).rejects.toMatchObject({
        code: 'ERR_VERIFICATION',
        message: expect.stringContaining('the audit log changed while the evidence was being built'),
      });
      expect(opens()).toBe(2);
    });

    it('pcigate evidence fails when a sampled line changes after the log was read, instead of sampling it', async () => {
      const h = await copyHome();
      const target = path.join(h, 'log', segOf(disk, disk.filter((r) => r.rec.type === 'pg.query').at(-1)!.rec.seq));
      // Verify reads each segment once and collect parses it once: the next open is the re-read of the samples.
      const { ctx, opens } = changingOn(target, 3);
      // The records are dated after the test clock's now: a period that holds them all.
      await expect(collectEvidence(ctx, { home: h, config: await loadConfigEvidence(ctx, { home: h }), until: '2026-12-31' })).rejects.toMatchObject({
        code: 'ERR_VERIFICATION',
        message: expect.stringContaining(`the segment ${path.basename(target)} changed while the evidence was being built`),
      });
      expect(opens()).toBe(3);
    });
  });
});
