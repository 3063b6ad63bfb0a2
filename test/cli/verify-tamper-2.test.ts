/**
 * `pcigate verify` through the built bin on tampering the hash chain alone cannot catch: a log rebuilt with
 * no checkpoint at all fails (exit 3, `unsigned`), and records after the newest checkpoint are always
 * counted (`unsealed` in --json, an `unsealed:` line), never silently passed over.
 */
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalize } from '../../recorder/canonical-json.js';
import { openAuditLog } from '../../recorder/index.js';
import { fixedClock, testCtx } from '../harness/test-ctx.js';
import { runCli, tempDir } from '../harness/cli.js';

let tmp: string;
let base: string;
let n = 0;

const leafHex = (line: string) => createHash('sha256').update(Buffer.from([0])).update(line).digest('hex');

async function copyOf(src: string): Promise<string> {
  const dst = path.join(tmp, `case-${++n}`);
  await fsp.cp(src, dst, { recursive: true });
  return dst;
}

async function segmentFiles(home: string): Promise<string[]> {
  return (await fsp.readdir(path.join(home, 'log'))).filter((f) => /^\d{12}\.jsonl$/.test(f)).sort().map((f) => path.join(home, 'log', f));
}

async function lines(file: string): Promise<string[]> {
  return (await fsp.readFile(file, 'utf8')).split('\n').filter((l) => l.length > 0);
}

beforeAll(async () => {
  tmp = tempDir('pcigate-cli-verify-tamper-2-');
  base = path.join(tmp, 'base');
  const ctx = testCtx({ clock: fixedClock(Date.now() - 60_000) });
  const log = await openAuditLog(ctx, { home: base, createIfMissing: { origin: 'cli.example/pcigate' }, checkpointRecords: 5, idleMs: 60_000 });
  for (let k = 0; k < 12; k++) {
    ctx.clock.advance(1);
    await log.append({ type: 'pg.query', outcome: 'success', detail: { sql: `select ${k}` } });
  }
  await log.close();
});

afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

describe('pcigate verify: what the chain alone does not prove', () => {
  it('a log re-linked without its checkpoints (checkpoints.jsonl removed, mirrors dropped) exits 3: unsigned', async () => {
    const home = await copyOf(base);
    const kept: string[] = [];
    let prev = '0'.repeat(64);
    for (const file of await segmentFiles(home)) {
      for (const l of await lines(file)) {
        const rec = JSON.parse(l) as Record<string, unknown>;
        if (rec.type === 'checkpoint' || rec.type === 'segment.open') continue;
        const out = canonicalize({ ...rec, seq: kept.length, prev });
        prev = leafHex(out);
        kept.push(out);
      }
      await fsp.rm(file);
    }
    await fsp.writeFile(path.join(home, 'log', '000000000000.jsonl'), kept.map((l) => `${l}\n`).join(''));
    await fsp.rm(path.join(home, 'checkpoints.jsonl'));
    const r = await runCli(['verify', '--home', home]);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain(`checkpoints.jsonl: unsigned — none of the ${kept.length} records is covered by a signed checkpoint`);
    expect(r.stdout).toContain(`unsealed:     ${kept.length} record(s), seq 0 … ${kept.length - 1}`);
    expect(r.stdout.trimEnd().split('\n').pop()).toBe('RESULT: FAIL');
  });

  it('a record appended after the newest checkpoint passes, but --json and the summary count it as unsealed', async () => {
    const home = await copyOf(base);
    const files = await segmentFiles(home);
    const file = files[files.length - 1]!;
    const all = await lines(file);
    const last = all[all.length - 1]!;
    const p = JSON.parse(last) as { seq: number; ts: string; origin: string };
    const ts = new Date(Date.parse(p.ts) + 1000).toISOString().replace('Z', '000Z');
    await fsp.appendFile(file, `${canonicalize({ v: 1, origin: p.origin, seq: p.seq + 1, ts, type: 'pg.query', detail: { sql: 'select forged' }, prev: leafHex(last) })}\n`);
    const copy = await copyOf(home); // the first run appends verify.run and checkpoints it
    const j = await runCli(['verify', '--home', home, '--json']);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({ result: 'pass', unsealed: { firstSeq: p.seq + 1, lastSeq: p.seq + 1, count: 1 } });
    const h = await runCli(['verify', '--home', copy]);
    expect(h.stdout).toContain(`unsealed:     1 record(s), seq ${p.seq + 1} … ${p.seq + 1}, after the newest valid checkpoint: chained but not signed`);
  });

  it('escape sequences written into the data home (HOME/origin) are shown escaped, never sent to the terminal', async () => {
    const home = await copyOf(base);
    await fsp.writeFile(path.join(home, 'origin'), 'cli.example/pcigate\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07\u009b2J\n');
    const r = await runCli(['verify', '--home', home]);
    expect(r.code).toBe(3);
    expect(r.stdout).not.toMatch(/[\x07\x1b\u009b]/);
    expect(r.stdout).toContain('origin:       cli.example/pcigate\\u001b]52;c;Y3VybCBldmlsIHwgc2g=\\u0007\\u009b2J');
  });
});
