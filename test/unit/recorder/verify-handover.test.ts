/**
 * Key epochs against the holder of today's key (docs/log-format.md "Key epochs"): a rotation's certificate,
 * signed by the old key, binds the tree head that key handed over, so a log rewritten below it and re-signed
 * with a later key fails verify even when every older checkpoint was dropped (checkpoints.jsonl and mirrors).
 * Logs written by the real writer (openAuditLog).
 */
import type { KeyObject } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalize } from '../../../recorder/canonical-json.js';
import { generateEd25519, privateKeyFromPem } from '../../../recorder/ed25519.js';
import { openAuditLog } from '../../../recorder/index.js';
import { leafHash, rootOf } from '../../../recorder/merkle.js';
import { epochKeyName, formatCheckpoint, parseCheckpoint, parseNote, signNote } from '../../../recorder/signed-note.js';
import { verifyLog } from '../../../recorder/verify.js';
import { loadVerifyInput } from '../../../recorder/verify-load.js';
import type { Problem, VerifyReport } from '../../../recorder/verify-types.js';
import { testCtx } from '../../harness/test-ctx.js';
import { readLines, segments, writeLines } from './log-helpers.js';

const ORIGIN = 'test.example/pcigate';
let tmp: string;
let base: string;
let n = 0;

type Rec = Record<string, unknown> & { seq: number; type: string; detail?: Record<string, unknown> };
interface Handover { epoch: number; log_size: number; log_root: string }

const brief = (ps: Problem[]) => ps.map((p) => ({ kind: p.kind, segment: p.segment, seq: p.seq }));

async function verifyHome(home: string): Promise<VerifyReport> {
  return verifyLog(await loadVerifyInput(fsp, home, { nowMicros: Date.UTC(2026, 10, 22, 12, 5) * 1000, maxUnsealedMicros: 3600e6 }));
}

async function copyOf(src: string): Promise<string> {
  const dst = path.join(tmp, `case-${++n}`);
  await fsp.cp(src, dst, { recursive: true });
  return dst;
}

async function handovers(home: string): Promise<Handover[]> {
  return (await readLines(path.join(home, 'keys', 'epochs.jsonl'))).map((l) => (JSON.parse(l) as { cert: Handover }).cert).filter((c) => c.epoch > 0);
}

/**
 * What the holder of keys/epoch.key can do: keep the records below `from` as they are, rewrite the rest
 * (`edit`; checkpoint mirrors and segment.open records there dropped, re-numbered, re-chained, into the
 * segment that held seq `from`), keep only the checkpoints of at most `from` records, and sign the result
 * with today's key (mirrored, as the writer does).
 */
async function resignWithTodaysKey(home: string, from: number, edit: (recs: Rec[]) => void, signer?: { key: KeyObject; epoch: number }): Promise<void> {
  const segs = await segments(home);
  const head: string[] = [];
  let tail: Rec[] = [];
  let into = '';
  for (const seg of segs) {
    for (const line of await readLines(path.join(home, 'log', seg))) {
      const rec = JSON.parse(line) as Rec;
      if (rec.seq < from) { head.push(line); into = seg; continue; }
      into ||= seg;
      tail.push(rec);
    }
  }
  tail = tail.filter((r) => r.type !== 'checkpoint' && r.type !== 'segment.open');
  edit(tail);
  const leaves = head.map((l) => leafHash(Buffer.from(l)));
  const lines = [...head];
  const push = (r: Rec) => {
    const line = canonicalize({ ...r, seq: lines.length, prev: leaves[leaves.length - 1]?.toString('hex') ?? '0'.repeat(64) });
    lines.push(line);
    leaves.push(leafHash(Buffer.from(line)));
  };
  for (const r of tail) push(r);
  const epoch = signer?.epoch ?? (await handovers(home)).length;
  const key = signer?.key ?? privateKeyFromPem(await fsp.readFile(path.join(home, 'keys', 'epoch.key')));
  const size = lines.length;
  const root = rootOf(leaves);
  const note = signNote(formatCheckpoint({ origin: ORIGIN, size, root, time: '2026-11-22T12:00:30.000000Z', epoch }), epochKeyName(ORIGIN, epoch), key);
  push({ v: 1, origin: ORIGIN, seq: size, ts: tail[tail.length - 1]!.ts, type: 'checkpoint', target: { kind: 'log' }, detail: { size, root: root.toString('hex'), note } } as Rec);
  // The segments that held seq `from` and after become one, holding everything from its first record on.
  const first = Number(into.slice(0, 12));
  for (const seg of segs) if (seg >= into) await fsp.rm(path.join(home, 'log', seg));
  await writeLines(path.join(home, 'log', into), lines.slice(first));
  const kept = (await readLines(path.join(home, 'checkpoints.jsonl'))).filter((l) => parseCheckpoint(parseNote((JSON.parse(l) as { note: string }).note).text).size <= from);
  await writeLines(path.join(home, 'checkpoints.jsonl'), [...kept, canonicalize({ note })]);
}

const forge = (recs: Rec[]) => {
  const q = recs.find((r) => r.type === 'pg.query')!;
  q.detail = { sql: 'select forged' };
};

beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'pcigate-verify-handover-'));
  base = path.join(tmp, 'base');
  const ctx = testCtx();
  const log = await openAuditLog(ctx, { home: base, createIfMissing: { origin: ORIGIN }, checkpointRecords: 8, segmentMaxBytes: 4096, idleMs: 60_000 });
  const queries = async (count: number) => {
    for (let k = 0; k < count; k++) {
      ctx.clock.advance(1);
      await log.append({ type: 'pg.query', session: 's-1', outcome: 'success', detail: { sql: `select ${k} from orders` } });
    }
  };
  await queries(20);
  await log.rotate();
  await queries(20);
  await log.rotate();
  await queries(10);
  await log.close();
});

afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

describe('verify: a rotation pins what the old key sealed', () => {
  it("each rotation's certificate binds the tree head of the old key's last checkpoint, before its key.rotate", async () => {
    const hs = await handovers(base);
    expect(hs.map((h) => h.epoch)).toEqual([1, 2]);
    const cps = (await readLines(path.join(base, 'checkpoints.jsonl'))).map((l) => parseCheckpoint(parseNote((JSON.parse(l) as { note: string }).note).text));
    const rotates = new Map<number, number>();
    for (const seg of await segments(base)) {
      for (const l of await readLines(path.join(base, 'log', seg))) {
        const r = JSON.parse(l) as Rec;
        if (r.type === 'key.rotate') rotates.set(r.detail!.to_epoch as number, r.seq);
      }
    }
    for (const h of hs) {
      const cp = cps.find((c) => c.size === h.log_size);
      expect(cp?.epoch).toBe(h.epoch - 1);
      expect(cp!.root.toString('hex')).toBe(h.log_root);
      expect(rotates.get(h.epoch)).toBeGreaterThan(h.log_size);
    }
    expect((await verifyHome(base)).result).toBe('pass');
  });

  it("today's key re-signing a rewritten log, every older checkpoint dropped: modified below the first rotation", async () => {
    const home = await copyOf(base);
    await resignWithTodaysKey(home, 0, forge);
    const [h1, h2] = await handovers(home);
    const r = await verifyHome(home);
    expect(brief(r.problems)).toEqual([
      { kind: 'modified', segment: '000000000000.jsonl', seq: h1!.log_size - 1 },
      { kind: 'modified', segment: '000000000000.jsonl', seq: h2!.log_size - 1 },
    ]);
    expect(r.problems[0]!.detail).toContain("epoch 0's key certified when it handed over to epoch 1 (keys/epochs.jsonl line 2)");
    expect(r.result).toBe('fail');
  });

  it("records sealed by epoch 1 only, rewritten with epoch 2's key: modified below the second rotation, epoch 0's part intact", async () => {
    const home = await copyOf(base);
    const [h1, h2] = await handovers(home);
    // From the first record after epoch 1's first checkpoint: the records epoch 0 handed over stay as written.
    const from = h1!.log_size + 3;
    await resignWithTodaysKey(home, from, forge);
    const r = await verifyHome(home);
    expect(r.problems.map((p) => ({ kind: p.kind, seq: p.seq }))).toEqual([{ kind: 'modified', seq: h2!.log_size - 1 }]);
    expect(r.result).toBe('fail');
  });

  it('the log and checkpoints.jsonl cut back into epoch 0 (no newer checkpoint left to compare with): truncated', async () => {
    const home = await copyOf(base);
    const [h1] = await handovers(home);
    const cut = h1!.log_size - 4;
    const segs = await segments(home);
    for (const seg of segs) {
      const lines = (await readLines(path.join(home, 'log', seg))).filter((l) => (JSON.parse(l) as Rec).seq < cut);
      if (lines.length === 0) await fsp.rm(path.join(home, 'log', seg));
      else await writeLines(path.join(home, 'log', seg), lines);
    }
    const kept = (await readLines(path.join(home, 'checkpoints.jsonl'))).filter((l) => parseCheckpoint(parseNote((JSON.parse(l) as { note: string }).note).text).size < cut - 1);
    await writeLines(path.join(home, 'checkpoints.jsonl'), kept);
    const r = await verifyHome(home);
    expect(r.problems.map((p) => ({ kind: p.kind, seq: p.seq }))).toEqual([{ kind: 'truncated', seq: cut }]);
    expect(r.problems[0]!.detail).toContain(`epoch 0's key certified ${h1!.log_size} records when it handed over to epoch 1`);
  });
});

describe('verify: an epoch key nothing certifies', () => {
  it('no key at all: keys/epochs.jsonl deleted and a key.rotate with a made-up certificate appended — the key it names is not trusted', async () => {
    const home = await copyOf(base);
    const mine = generateEd25519();
    await resignWithTodaysKey(home, 0, (recs) => {
      forge(recs);
      const rot = recs.find((r) => r.type === 'key.rotate')!;
      const cert = { type: 'pcigate.epoch', origin: ORIGIN, epoch: 1, pub: mine.publicRaw.toString('base64'), not_before: recs[0]!.ts };
      const rest = recs.filter((r) => r.type !== 'key.rotate');
      recs.splice(0, recs.length, rest[0]!, { ...rot, ts: rest[0]!.ts, detail: { from_epoch: 0, to_epoch: 1, cert: { cert, sig: Buffer.alloc(64).toString('base64') } } }, ...rest.slice(1));
    }, { key: mine.privateKey, epoch: 1 });
    await fsp.rm(path.join(home, 'keys', 'epochs.jsonl'));
    // The auditor's own copy of the root key does not help: nothing was signed by it.
    const own = path.join(tmp, `root-${n}.pub`);
    await fsp.copyFile(path.join(home, 'keys', 'root.pub'), own);
    const r = await verifyLog(await loadVerifyInput(fsp, home, { nowMicros: Date.UTC(2026, 10, 22, 12, 5) * 1000, maxUnsealedMicros: 3600e6, rootKeyFile: own }));
    expect(brief(r.problems)).toEqual([
      { kind: 'wrong_epoch_key', segment: '000000000000.jsonl', seq: 1 },
      { kind: 'wrong_epoch_key', segment: 'keys/epochs.jsonl', seq: null },
      { kind: 'wrong_epoch_key', segment: 'checkpoints.jsonl', seq: null },
    ]);
    expect(r.problems[0]!.detail).toBe('certificate in key.rotate of epoch 1 cannot be checked: no earlier epoch has a valid certificate');
    expect(r.result).toBe('fail');
  });
});
