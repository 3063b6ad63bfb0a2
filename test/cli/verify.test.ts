/**
 * `pcigate verify` through the built bin: exit codes, the summary block, --json, --strict, --state, --proof;
 * and tampering the hash chain alone cannot catch: a log rebuilt with no checkpoint at all fails (exit 3,
 * `unsigned`), and records after the newest checkpoint are always counted (`unsealed` in --json, an
 * `unsealed:` line), never silently passed over.
 */
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalize } from '../../recorder/canonical-json.js';
import { openAuditLog } from '../../recorder/index.js';
import { formatTs } from '../../recorder/timestamp.js';
import { fixedClock, testCtx } from '../harness/test-ctx.js';
import { runCli, tempDir } from '../harness/cli.js';
import { appendChained, leafHex, relinkWithoutCheckpoints } from '../unit/recorder/log-helpers.js';

let tmp: string;
let base: string;
/** Like base, but written a minute ago: an unsealed tail is within the one-hour limit. */
let recent: string;
let n = 0;

async function copyOf(src: string): Promise<string> {
  const dst = path.join(tmp, `case-${++n}`);
  await fsp.cp(src, dst, { recursive: true });
  return dst;
}

async function lastSegment(home: string): Promise<string> {
  const segs = (await fsp.readdir(path.join(home, 'log'))).filter((f) => f.endsWith('.jsonl')).sort();
  return path.join(home, 'log', segs[segs.length - 1]!);
}

async function lines(file: string): Promise<string[]> {
  return (await fsp.readFile(file, 'utf8')).split('\n').filter((l) => l.length > 0);
}

/** Appends a correctly chained record by hand, as an unsealed tail the writer never checkpointed. */
async function appendUnsealed(home: string): Promise<void> {
  const file = await lastSegment(home);
  const last = (await lines(file)).pop()!;
  const prev = JSON.parse(last) as { seq: number; ts: string; origin: string };
  const leaf = leafHex(last);
  const ts = formatTs(BigInt(Date.parse(prev.ts)) * 1000n + 5000n);
  await fsp.appendFile(file, `${canonicalize({ v: 1, origin: prev.origin, seq: prev.seq + 1, ts, type: 'pg.query', detail: { sql: 'select 1' }, prev: leaf })}\n`);
}

/** A data home whose log holds 12 pg.query records from `startMs` on, checkpointed every 5. */
async function writeBase(home: string, startMs: number): Promise<void> {
  const ctx = testCtx({ clock: fixedClock(startMs) });
  const log = await openAuditLog(ctx, { home, createIfMissing: { origin: 'cli.example/pcigate' }, checkpointRecords: 5, idleMs: 60_000 });
  for (let k = 0; k < 12; k++) {
    ctx.clock.advance(1);
    await log.append({ type: 'pg.query', outcome: 'success', detail: { sql: `select ${k}` } });
  }
  await log.close();
}

beforeAll(async () => {
  tmp = tempDir('pcigate-cli-verify-');
  base = path.join(tmp, 'base');
  recent = path.join(tmp, 'recent');
  // Records three hours old, so a hand-made unsealed tail is past the default one-hour limit.
  await writeBase(base, Date.now() - 3 * 3600_000);
  await writeBase(recent, Date.now() - 60_000);
});

afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

describe('pcigate verify', () => {
  it('exits 3 with a clear message and no stack trace for a missing or empty home', async () => {
    for (const home of [path.join(tmp, 'nope'), tempDir('pcigate-empty-')]) {
      const r = await runCli(['verify', '--home', home]);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain('no audit log to verify');
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('`pcigate keys init` creates a new one');
    }
    // Right after keys init there are keys and no log yet: the hint says so instead of suggesting keys init.
    const fresh = tempDir('pcigate-keys-only-');
    expect((await runCli(['keys', 'init', '--home', fresh])).code).toBe(0);
    const r = await runCli(['verify', '--home', fresh]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('hint: this data home has keys but no records yet');
    expect(r.stderr).not.toContain('keys init');
  });

  it('passes an untouched log with exit 0, a summary block and RESULT: PASS, and records verify.run', async () => {
    const home = await copyOf(base);
    const r = await runCli(['verify', '--home', home]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/records: +\d+ checked, seq 0 … \d+/);
    expect(r.stdout).toMatch(/checkpoints: +\d+ checked/);
    expect(r.stdout.trimEnd().split('\n').pop()).toBe('RESULT: PASS');
    const recs = (await lines(await lastSegment(home))).map((l) => JSON.parse(l) as { type: string; detail?: { result?: string } });
    expect(recs.find((x) => x.type === 'verify.run')?.detail?.result).toBe('pass');
  });

  it('--json has the stable shape', async () => {
    const r = await runCli(['verify', '--home', await copyOf(base), '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(j).toMatchObject({ result: 'pass', problems: [] });
    for (const k of ['records', 'checkpoints', 'epochs']) expect(typeof j[k]).toBe('number');
  });

  it('a modified record fails with exit 3, named by segment and seq', async () => {
    const home = await copyOf(base);
    const file = await lastSegment(home);
    const l = await lines(file);
    const k = l.findIndex((x) => x.includes('select 3'));
    const seq = (JSON.parse(l[k]!) as { seq: number }).seq;
    l[k] = l[k]!.replace('select 3', 'select 4');
    await fsp.writeFile(file, l.map((x) => `${x}\n`).join(''));
    const human = await runCli(['verify', '--home', await copyOf(home)]);
    expect(human.code).toBe(3);
    expect(human.stdout).toContain(`segment ${path.basename(file)} seq ${seq}: modified — `);
    expect(human.stdout.trimEnd().split('\n').pop()).toBe('RESULT: FAIL');
    const r = await runCli(['verify', '--home', home, '--json']);
    expect(r.code).toBe(3);
    const j = JSON.parse(r.stdout) as { result: string; problems: Array<Record<string, unknown>> };
    expect(j.result).toBe('fail');
    expect(j.problems).toEqual([expect.objectContaining({ kind: 'modified', segment: path.basename(file), seq, detail: expect.any(String) })]);
  });

  it('a warning exits 0, and 3 with --strict', async () => {
    const a = await copyOf(base);
    await appendUnsealed(a);
    const b = await copyOf(a);
    const warn = await runCli(['verify', '--home', a]);
    expect(warn.code).toBe(0);
    expect(warn.stdout).toMatch(/seq \d+: unsealed — /);
    expect(warn.stdout.trimEnd().split('\n').pop()).toBe('RESULT: WARN');
    const strict = await runCli(['verify', '--home', b, '--strict']);
    expect(strict.code).toBe(3);
  });

  it('--state remembers what was seen: an older checkpoints.jsonl is then a rollback', async () => {
    const home = await copyOf(base);
    const state = path.join(tmp, `state-${n}.json`);
    const old = await fsp.readFile(path.join(home, 'checkpoints.jsonl'), 'utf8');
    const first = await runCli(['verify', '--home', home, '--state', state]);
    expect(first.code).toBe(0);
    expect(JSON.parse(await fsp.readFile(state, 'utf8'))).toMatchObject({ v: 1, origin: 'cli.example/pcigate' });
    await fsp.writeFile(path.join(home, 'checkpoints.jsonl'), old.split('\n').slice(0, 1).join('\n') + '\n');
    const r = await runCli(['verify', '--home', home, '--state', state, '--json']);
    expect(r.code).toBe(3);
    const j = JSON.parse(r.stdout) as { problems: Array<{ kind: string }> };
    expect(j.problems.map((p) => p.kind)).toContain('rollback');
  });

  it('--proof SEQ prints a verified inclusion proof', async () => {
    const r = await runCli(['verify', '--home', await copyOf(base), '--proof', '2', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { proof: { seq: number; verified: boolean; proof: string[] } };
    expect(j.proof).toMatchObject({ seq: 2, verified: true });
    expect(j.proof.proof.length).toBeGreaterThan(0);
    const bad = await runCli(['verify', '--home', await copyOf(base), '--proof', 'x']);
    expect(bad.code).toBe(2);
  });
});

describe('pcigate verify: what the chain alone does not prove', () => {
  it('a log re-linked without its checkpoints (checkpoints.jsonl removed, mirrors dropped) exits 3: unsigned', async () => {
    const home = await copyOf(recent);
    const kept = await relinkWithoutCheckpoints(home);
    const r = await runCli(['verify', '--home', home]);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain(`checkpoints.jsonl: unsigned — none of the ${kept.length} records is covered by a signed checkpoint`);
    expect(r.stdout).toContain(`unsealed:     ${kept.length} record(s), seq 0 … ${kept.length - 1}`);
    expect(r.stdout.trimEnd().split('\n').pop()).toBe('RESULT: FAIL');
  });

  it('a record appended after the newest checkpoint passes, but --json and the summary count it as unsealed', async () => {
    const home = await copyOf(recent);
    const seq = await appendChained(home, 1000);
    const copy = await copyOf(home); // the first run appends verify.run and checkpoints it
    const j = await runCli(['verify', '--home', home, '--json']);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({ result: 'pass', unsealed: { firstSeq: seq, lastSeq: seq, count: 1 } });
    const h = await runCli(['verify', '--home', copy]);
    expect(h.stdout).toContain(`unsealed:     1 record(s), seq ${seq} … ${seq}, after the newest valid checkpoint: chained but not signed`);
  });

  it('escape sequences written into the data home (HOME/origin) are shown escaped, never sent to the terminal', async () => {
    const home = await copyOf(recent);
    await fsp.writeFile(path.join(home, 'origin'), 'cli.example/pcigate\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07\u009b2J\n');
    const r = await runCli(['verify', '--home', home]);
    expect(r.code).toBe(3);
    expect(r.stdout).not.toMatch(/[\x07\x1b\u009b]/);
    expect(r.stdout).toContain('origin:       cli.example/pcigate\\u001b]52;c;Y3VybCBldmlsIHwgc2g=\\u0007\\u009b2J');
  });
});
