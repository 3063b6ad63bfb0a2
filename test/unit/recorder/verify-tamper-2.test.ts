/**
 * The tamper matrix, second part (logs written by the real writer, openAuditLog): what an attacker with write
 * access to the data home can do that does not break the hash chain, and the damage a buggy disk leaves —
 * each named precisely, with crash tails told apart from cuts.
 */
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalize } from '../../../recorder/canonical-json.js';
import { openAuditLog } from '../../../recorder/index.js';
import { verifyLog } from '../../../recorder/verify.js';
import { loadVerifyInput } from '../../../recorder/verify-load.js';
import { formatVerifyReport } from '../../../recorder/verify-render.js';
import type { Problem, VerifyReport } from '../../../recorder/verify-types.js';
import { testCtx } from '../../harness/test-ctx.js';
import { appendChained, leafHex, readLines, readLog, relinkWithoutCheckpoints, segments, writeLines } from './log-helpers.js';

const ORIGIN = 'test.example/pcigate';
const NOW_US = Date.UTC(2026, 10, 22, 12, 5) * 1000;
let tmp: string;
let base: string;
let n = 0;

const brief = (ps: Problem[]) => ps.map((p) => ({ kind: p.kind, segment: p.segment, seq: p.seq, severity: p.severity }));

async function copyOf(src: string): Promise<string> {
  const dst = path.join(tmp, `case-${++n}`);
  await fsp.cp(src, dst, { recursive: true });
  return dst;
}

async function verifyHome(home: string): Promise<VerifyReport> {
  return verifyLog(await loadVerifyInput(fsp, home, { nowMicros: NOW_US, maxUnsealedMicros: 3600e6 }));
}

/** What appendChained's forged record carries besides its defaults. */
const FORGED = { origin: ORIGIN, outcome: 'success' };

beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'pcigate-verify-tamper-2-'));
  base = path.join(tmp, 'base');
  const ctx = testCtx();
  const log = await openAuditLog(ctx, { home: base, createIfMissing: { origin: ORIGIN }, checkpointRecords: 8, segmentMaxBytes: 4096, idleMs: 60_000 });
  for (let k = 0; k < 40; k++) {
    ctx.clock.advance(1);
    await log.append({ type: 'pg.query', session: 's-1', outcome: 'success', detail: { sql: `select ${k} from orders` } });
  }
  await log.close();
});

afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

describe('verify: what the chain alone cannot prove', () => {
  it('a clean log reports no unsealed records (the final checkpoint mirror does not count)', async () => {
    const r = await verifyHome(base);
    expect(r.result).toBe('pass');
    expect(r.unsealed).toBeNull();
    expect(formatVerifyReport(r, base)).toMatch(/^ {2}unsealed: {5}none /m);
  });

  it('a log rebuilt without any checkpoint (checkpoints.jsonl removed, mirrors dropped, chain re-linked) fails as unsigned', async () => {
    const home = await copyOf(base);
    const kept = await relinkWithoutCheckpoints(home);
    const r = await verifyHome(home);
    expect(brief(r.problems)).toEqual([{ kind: 'unsigned', segment: 'checkpoints.jsonl', seq: null, severity: 'fail' }]);
    expect(r.problems[0]!.detail).toContain(`none of the ${kept.length} records is covered by a signed checkpoint (checkpoints.jsonl is missing`);
    expect(r.result).toBe('fail');
    expect(r.unsealed).toEqual({ firstSeq: 0, lastSeq: kept.length - 1, count: kept.length });
  });

  it('a record appended after the newest checkpoint is not a problem but is always reported as unsealed', async () => {
    const home = await copyOf(base);
    const seq = await appendChained(home, 1000, FORGED);
    const r = await verifyHome(home);
    expect(r.problems).toEqual([]);
    expect(r.unsealed).toEqual({ firstSeq: seq, lastSeq: seq, count: 1 });
    expect(formatVerifyReport(r, home)).toContain(`unsealed:     1 record(s), seq ${seq} … ${seq}, after the newest valid checkpoint: chained but not signed`);
  });

  it('a copy of the last checkpoint record appended after it is counted as unsealed: only the checkpoint\'s own mirror is exempt', async () => {
    const home = await copyOf(base);
    const segs = await segments(home);
    const file = path.join(home, 'log', segs[segs.length - 1]!);
    const lines = await readLines(file);
    const last = lines[lines.length - 1]!;
    const rec = JSON.parse(last) as Record<string, unknown> & { seq: number; type: string };
    expect(rec.type).toBe('checkpoint');
    lines.push(canonicalize({ ...rec, seq: rec.seq + 1, prev: leafHex(last) }));
    await writeLines(file, lines);
    const r = await verifyHome(home);
    expect(r.problems).toEqual([]);
    expect(r.unsealed).toEqual({ firstSeq: rec.seq + 1, lastSeq: rec.seq + 1, count: 1 });
  });

  it('the newest checkpoint\'s mirror rewritten (another size or root, an actor, an outcome; chain intact) is counted as unsealed: nothing signs what else it says', async () => {
    for (const change of [{ detail: { size: 1 } }, { detail: { root: '00'.repeat(32) } }, { actor: { sub: 'u-mallory' } }, { outcome: 'failure' }] as const) {
      const home = await copyOf(base);
      const segs = await segments(home);
      const file = path.join(home, 'log', segs[segs.length - 1]!);
      const lines = await readLines(file);
      const rec = JSON.parse(lines[lines.length - 1]!) as Record<string, unknown> & { seq: number; type: string; detail: Record<string, unknown> };
      expect(rec.type).toBe('checkpoint');
      lines[lines.length - 1] = canonicalize({ ...rec, ...change, detail: { ...rec.detail, ...('detail' in change ? change.detail : {}) } });
      await writeLines(file, lines);
      const r = await verifyHome(home);
      expect(r.problems, JSON.stringify(change)).toEqual([]);
      expect(r.unsealed, JSON.stringify(change)).toEqual({ firstSeq: rec.seq, lastSeq: rec.seq, count: 1 });
    }
  });

  it('an appended record dated in the future (so it never looks old) warns', async () => {
    const home = await copyOf(base);
    const seq = await appendChained(home, 365 * 86400_000, FORGED);
    const r = await verifyHome(home);
    expect(brief(r.problems)).toEqual([{ kind: 'unsealed', segment: expect.any(String), seq, severity: 'warn' }]);
    expect(r.problems[0]!.detail).toMatch(/is dated \d+s after this verification's clock/);
    expect(r.result).toBe('warn');
  });
});

describe('verify: damage a disk or a copy leaves', () => {
  it('a segment converted to CRLF line endings is named as such', async () => {
    const home = await copyOf(base);
    const seg = (await segments(home))[2]!;
    const file = path.join(home, 'log', seg);
    await fsp.writeFile(file, (await fsp.readFile(file, 'utf8')).replace(/\n/g, '\r\n'));
    const r = await verifyHome(home);
    expect(r.result).toBe('fail');
    expect(r.problems.length).toBeGreaterThan(0);
    for (const p of r.problems) {
      expect(p).toMatchObject({ kind: 'modified', segment: seg });
      expect(p.detail).toContain('converted to CRLF');
    }
  });

  it('a segment split in two (every record in place, the chain whole) is named: the second part lacks the segment.open every segment begins with', async () => {
    const home = await copyOf(base);
    const segs = await segments(home);
    const file = path.join(home, 'log', segs.at(-1)!);
    const lines = await readLines(file);
    const cut = Math.floor(lines.length / 2);
    const firstSeq = (JSON.parse(lines[cut]!) as { seq: number }).seq;
    const name = `${String(firstSeq).padStart(12, '0')}.jsonl`;
    await writeLines(file, lines.slice(0, cut));
    await writeLines(path.join(home, 'log', name), lines.slice(cut));
    const r = await verifyHome(home);
    expect(brief(r.problems)).toEqual([{ kind: 'modified', segment: name, seq: firstSeq, severity: 'fail' }]);
    expect(r.problems[0]!.detail).toContain('does not begin with the segment.open');
  });

  it('a torn last line of checkpoints.jsonl (an append a crash cut short) warns, and the writer cuts it on open: verify passes after', async () => {
    const home = await copyOf(base);
    const file = path.join(home, 'checkpoints.jsonl');
    const whole = await fsp.readFile(file);
    // A crash in the middle of the next checkpoint's append: a copy of the last line, cut short.
    const lines = whole.toString('utf8').trimEnd().split('\n');
    await fsp.appendFile(file, lines.at(-1)!.slice(0, 40));
    const r = await verifyHome(home);
    expect(brief(r.problems)).toEqual([{ kind: 'unreadable', segment: 'checkpoints.jsonl', seq: null, severity: 'warn' }]);
    expect(r.problems[0]!.detail).toContain('the last line is cut short');
    expect(r.result).toBe('warn');
    const ctx = testCtx();
    ctx.clock.advance(1000); // after the base log's records
    const log = await openAuditLog(ctx, { home, idleMs: 60_000 });
    await log.append({ type: 'pg.query', session: 's-2', outcome: 'success', detail: { sql: 'select after' } });
    await log.close();
    expect((await fsp.readFile(file)).subarray(0, whole.length)).toEqual(whole);
    const recovered = readLog(home).filter((x) => x.rec.type === 'log.recovered');
    expect(recovered.map((x) => x.rec.detail)).toEqual([{ segment: 'checkpoints.jsonl', offset: whole.length, bytes: 40, reason: expect.stringContaining('cut short') }]);
    const after = await verifyHome(home);
    expect(after.problems).toEqual([]);
    expect(after.result).toBe('pass');
  });

  it('a torn last line of the newest segment is a recoverable crash tail (warn); of an older segment, damage (fail)', async () => {
    const crash = await copyOf(base);
    const segs = await segments(crash);
    await fsp.appendFile(path.join(crash, 'log', segs[segs.length - 1]!), '{"v":1,"origin":"test.exa');
    const c = await verifyHome(crash);
    expect(brief(c.problems)).toEqual([{ kind: 'unreadable', segment: segs[segs.length - 1]!, seq: null, severity: 'warn' }]);
    expect(c.problems[0]!.detail).toContain('a crash or a write in flight, recoverable');

    const cut = await copyOf(base);
    const older = path.join(cut, 'log', segs[1]!);
    const bytes = await fsp.readFile(older);
    await fsp.writeFile(older, bytes.subarray(0, bytes.length - 10));
    const d = await verifyHome(cut);
    expect(d.result).toBe('fail');
    const torn = d.problems.find((p) => p.kind === 'unreadable')!;
    expect(torn).toMatchObject({ segment: segs[1]!, severity: 'fail' });
    expect(torn.detail).toContain('in a segment that is not the newest: not a crash');
  });

  it('the newest segment cut mid-line below a signed checkpoint: the torn line is part of the cut, not a crash', async () => {
    const home = await copyOf(base);
    const segs = await segments(home);
    const file = path.join(home, 'log', segs[segs.length - 1]!);
    const bytes = await fsp.readFile(file);
    await fsp.writeFile(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const r = await verifyHome(home);
    expect(r.problems.map((p) => p.kind).sort()).toEqual(['truncated', 'unreadable']);
    const torn = r.problems.find((p) => p.kind === 'unreadable')!;
    expect(torn.severity).toBe('fail');
    expect(torn.detail).toContain('below a signed checkpoint: not a crash');
  });
});
