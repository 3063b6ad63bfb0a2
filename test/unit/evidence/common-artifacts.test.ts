import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectEvidence, loadConfigEvidence } from '../../../src/evidence/collect.js';
import { commonArtifacts } from '../../../src/evidence/common-artifacts.js';
import { ProofBuilder, spread } from '../../../src/evidence/samples.js';
import type { EvidenceInput, Manifest, ProofFile } from '../../../src/evidence/types.js';
import { checkCheckpoints, checkSamples } from '../../../src/evidence/verify-proofs.js';
import { inclusionProof, leafHash, verifyInclusion } from '../../../recorder/merkle.js';
import { parseCheckpoint, parseNote } from '../../../recorder/signed-note.js';
import { evidenceHome } from './evidence-log.js';
import type { EvidenceHome } from './evidence-log.js';

/** Minimal RFC 4180 reader for the tests (quoted fields, doubled quotes, CRLF). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; } else if (c === '"') quoted = false; else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(cell); cell = ''; } else if (c === '\r' && text[i + 1] === '\n') { row.push(cell); rows.push(row); row = []; cell = ''; i++; } else cell += c;
  }
  return rows;
}

describe('spread', () => {
  it('keeps the first and last, evenly spaced, never more than asked', () => {
    expect(spread(0, 3)).toEqual([]);
    expect(spread(2, 3)).toEqual([0, 1]);
    expect(spread(10, 3)).toEqual([0, 5, 9]);
    expect(spread(10, 1)).toEqual([0]);
    expect(spread(100, 5)).toEqual([0, 25, 50, 74, 99]);
  });
});

describe('ProofBuilder', () => {
  it('gives recorder/merkle.ts inclusionProof for every leaf of trees of many sizes', () => {
    for (const size of [1, 2, 3, 5, 8, 13, 33, 257, 600]) {
      const leaves = Array.from({ length: size }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));
      const b = new ProofBuilder(leaves, size);
      for (let m = 0; m < size; m += size > 100 ? 7 : 1) expect(b.proof(m).map((x) => x.toString('hex'))).toEqual(inclusionProof(leaves, m, size).map((x) => x.toString('hex')));
    }
  });
});

describe('commonArtifacts over a real log with a gap', () => {
  let h: EvidenceHome;
  let input: EvidenceInput;
  beforeAll(async () => {
    h = await evidenceHome();
    input = await collectEvidence(h.ctx, { home: h.home, config: await loadConfigEvidence(h.ctx, { home: h.home }) });
  });
  afterAll(async () => { await h.close(); });

  const byPath = () => new Map(commonArtifacts(input).map((a) => [a.path, a]));

  it('has exactly the agreed paths, deterministically', () => {
    const arts = commonArtifacts(input);
    const types = [...new Set(input.inPeriod.filter((r) => r.record.seq < h.lastCheckpointSize).map((r) => r.record.type))].sort();
    expect(arts.map((a) => a.path)).toEqual([
      'verify-report.json', 'config/effective-config.json', 'field-map.csv', 'stats/event-counts.csv', 'gaps.csv',
      ...types.flatMap((t) => [`samples/${t}.jsonl`, `proofs/${t}.json`]),
    ]);
    const again = commonArtifacts(input);
    arts.forEach((a, i) => expect(a.bytes.equals(again[i]!.bytes)).toBe(true));
    for (const a of arts) {
      expect(a.procedures.length).toBeGreaterThan(0);
      expect(a.description.length).toBeGreaterThan(10);
      expect(['TEST', 'EXAMINE']).toContain(a.method);
    }
  });

  it('verify-report.json is the verify report without its state', () => {
    const v = JSON.parse(byPath().get('verify-report.json')!.bytes.toString()) as Record<string, unknown>;
    expect(v.result).toBe('pass');
    expect(v.records).toBe(input.records.length);
    expect('state' in v).toBe(false);
  });

  it('samples are the exact log lines, first and last of the type included, each proven to the newest signed checkpoint', () => {
    const arts = byPath();
    const disk = readFileSync(path.join(h.home, 'log', '000000000000.jsonl'), 'utf8').split('\n').filter(Boolean);
    const cpLines = readFileSync(path.join(h.home, 'checkpoints.jsonl'), 'utf8').trim().split('\n');
    const newest = parseCheckpoint(parseNote((JSON.parse(cpLines[cpLines.length - 1]!) as { note: string }).note).text);
    let proven = 0;
    for (const [p, a] of arts) {
      if (!p.startsWith('samples/')) continue;
      const type = p.slice('samples/'.length, -'.jsonl'.length);
      const lines = a.bytes.toString('utf8').split('\n');
      expect(lines.pop()).toBe('');
      const proofs = JSON.parse(arts.get(`proofs/${type}.json`)!.bytes.toString()) as ProofFile;
      expect(proofs.checkpoint).toEqual({ size: newest.size, root: newest.root.toString('hex') });
      const ofType = input.inPeriod.filter((r) => r.record.type === type && r.record.seq < newest.size).map((r) => r.record.seq);
      expect(lines.length).toBe(Math.min(3, ofType.length));
      expect(proofs.proofs.map((x) => x.seq)).toEqual(lines.map((l) => (JSON.parse(l) as { seq: number }).seq));
      expect(proofs.proofs[0]!.seq).toBe(ofType[0]);
      expect(proofs.proofs[proofs.proofs.length - 1]!.seq).toBe(ofType[ofType.length - 1]);
      lines.forEach((line, i) => {
        const pr = proofs.proofs[i]!;
        expect(line).toBe(disk[pr.seq]); // byte-identical, never re-serialised
        const leaf = leafHash(Buffer.from(line));
        expect(pr.leaf).toBe(leaf.toString('hex'));
        expect(verifyInclusion(leaf, pr.seq, newest.size, pr.path.map((x) => Buffer.from(x, 'hex')), newest.root)).toBe(true);
        proven++;
      });
    }
    expect(proven).toBeGreaterThan(10);
    // audit.access at seq ≥ the newest checkpoint's size is after it: not sampled.
    const audit = arts.get('samples/audit.access.jsonl')!.bytes.toString().trim().split('\n').map((l) => (JSON.parse(l) as { seq: number }).seq);
    expect(audit.every((s) => s < newest.size)).toBe(true);
    expect(input.inPeriod.some((r) => r.record.type === 'audit.access' && r.record.seq >= newest.size)).toBe(true);
  });

  it('the samples and proofs satisfy the offline bundle verifier (evidence verify), and a changed sample line does not', () => {
    const arts = commonArtifacts(input);
    const valid = input.checkpoints.filter((c) => c.valid);
    const newest = valid[valid.length - 1]!;
    const manifest = { origin: input.origin, checkpoints: [{ size: newest.size, root: newest.root, time: newest.time, epoch: newest.epoch, note: newest.note }] } as Manifest;
    const problems: string[] = [];
    const add = (_c: string, file: string, message: string) => { problems.push(`${file}: ${message}`); };
    const cps = checkCheckpoints(manifest, input.epochs.map((e) => Buffer.from(e.cert.pub, 'base64')), add);
    expect(cps.count).toBe(1);
    const files = new Map<string, Buffer | null>(arts.map((a) => [a.path, a.bytes]));
    const proved = checkSamples(files, manifest, cps.valid, add);
    expect(problems).toEqual([]);
    expect(proved).toBe(arts.filter((a) => a.path.startsWith('samples/')).reduce((n, a) => n + a.bytes.toString().trim().split('\n').length, 0));
    const tampered = new Map(files);
    tampered.set('samples/pg.query.jsonl', Buffer.from(files.get('samples/pg.query.jsonl')!.toString().replace('cards', 'carts')));
    checkSamples(tampered, manifest, cps.valid, add);
    expect(problems.some((p) => p.startsWith('samples/pg.query.jsonl'))).toBe(true);
  });

  it('gaps.csv lists the real log.gap with start, end, cause and records lost, the silence and the restart apart', () => {
    const rows = parseCsv(byPath().get('gaps.csv')!.bytes.toString());
    expect(rows[0]).toEqual(['kind', 'start', 'end', 'duration_s', 'cause', 'lost', 'seq']);
    const gap = rows.find((r) => r[0] === 'gap')!;
    expect(gap).toEqual(['gap', '2026-11-22T12:00:19.000000Z', '2026-11-22T12:00:39.000000Z', '20.000', 'EIO: injected write failure', '2', String(h.gapSeq)]);
    const down = rows.find((r) => r[0] === 'not running')!;
    expect(down.slice(0, 5)).toEqual(['not running', '2026-11-22T12:00:40.000000Z', '2026-11-22T13:00:40.000000Z', '3600.000', 'pcigate was stopped (log.stop … log.start)']);
    const silence = rows.find((r) => r[0] === 'silence')!;
    expect(silence.slice(1, 3)).toEqual(['2026-11-22T12:00:09.000000Z', '2026-11-22T12:00:40.000000Z']);
    expect(rows.length).toBe(4);
  });

  it('stats/event-counts.csv counts the period per type and outcome', () => {
    const rows = parseCsv(byPath().get('stats/event-counts.csv')!.bytes.toString());
    expect(rows[0]).toEqual(['type', 'outcome', 'count', 'first_ts', 'last_ts']);
    const get = (t: string, o: string) => rows.find((r) => r[0] === t && r[1] === o);
    expect(get('pg.query', 'success')?.[2]).toBe('10');
    expect(get('pg.query', 'denied')?.[2]).toBe('1');
    expect(get('log.gap', 'failure')?.[2]).toBe('1');
    expect(get('log.start', '')?.[2]).toBe('2');
    const total = rows.slice(1).reduce((s, r) => s + Number(r[2]), 0);
    expect(total).toBe(input.inPeriod.length);
  });

  it('field-map.csv maps every 10.2.2 element and says where one is legitimately absent', () => {
    const rows = parseCsv(byPath().get('field-map.csv')!.bytes.toString());
    expect(rows[0]).toEqual(['requirement', 'element', 'event_type', 'record_fields', 'presence', 'reason_absent']);
    const all = rows.filter((r) => r[2] === '*');
    expect(all.map((r) => r[1])).toEqual([
      'User identification', 'Type of event', 'Date and time', 'Success or failure indication', 'Origination of event',
      'Identity or name of affected data, system component, resource, or service',
    ]);
    expect(all[0]![3]).toMatch(/actor\.sub/);
    expect(all[4]![3]).toMatch(/src\.ip/);
    expect(all[5]![3]).toMatch(/target\.conn/);
    const logStartOrigin = rows.find((r) => r[2] === 'log.start' && r[1] === 'Origination of event')!;
    expect(logStartOrigin[4]).toBe('may be absent');
    expect(logStartOrigin[5]).not.toBe('');
    const pgUser = rows.find((r) => r[2] === 'pg.query' && r[1] === 'User identification')!;
    expect(pgUser[4]).toBe('required');
  });

  it('config/effective-config.json is the redacted configuration with its source', () => {
    const c = JSON.parse(byPath().get('config/effective-config.json')!.bytes.toString()) as Record<string, unknown>;
    expect(c).toMatchObject({ source: 'defaults', loaded: true, literal_secrets: [], secret_refs: [] });
    expect((c.effective as { audit: { checkpoint: { interval: number } } }).audit.checkpoint.interval).toBe(30_000);
  });
});
