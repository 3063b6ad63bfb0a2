/**
 * A real crash: a child process appends from 8 concurrent writers and prints every acknowledged
 * {seq, leaf}; it is SIGKILLed mid-stream. Reopening must take over its stale lock, keep every acknowledged
 * record at its seq with its leaf, and continue a valid chain. Uses the build in dist/ (like the CLI tests:
 * run `npx tsc -p tsconfig.json` first).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openAuditLog } from '../../../recorder/index.js';
import { ROOT } from '../../harness/cli.js';
import { testCtx } from '../../harness/test-ctx.js';
import { expectChain, readLog, tmpHome } from './log-helpers.js';

const DIST = path.join(ROOT, 'dist');

const CHILD = `
const [home, dist] = process.argv.slice(1);
const { openAuditLog } = await import(dist + '/recorder/index.js');
const { processCtx } = await import(dist + '/src/cli/ctx.js');
const log = await openAuditLog(processCtx(), { home, createIfMissing: { origin: 'crash/test' }, checkpointRecords: 100 });
let i = 0;
const writer = async (k) => {
  for (;;) {
    const r = await log.append({ type: 'crash.test', detail: { k, i: i++ } });
    process.stdout.write(r.seq + ' ' + r.leaf + '\\n');
  }
};
await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(writer));
`;

describe('audit log after SIGKILL', () => {
  it('keeps every acknowledged append and continues the chain', async () => {
    expect(existsSync(path.join(DIST, 'recorder', 'index.js')), 'build first: npx tsc -p tsconfig.json').toBe(true);
    const home = tmpHome();
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, home, DIST], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`child too slow: ${err}`)); }, 20_000);
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.split('\n').length > 600) {
          clearTimeout(timer);
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('exit', () => { clearTimeout(timer); resolve(); });
    });
    await new Promise((r) => child.once('close', r));
    const acked = out.split('\n').filter((l) => /^\d+ [0-9a-f]{64}$/.test(l)).map((l) => l.split(' ') as [string, string]);
    expect(acked.length).toBeGreaterThan(500);
    expect(existsSync(path.join(home, 'log', '.lock'))).toBe(true); // left behind by the killed owner

    const log = await openAuditLog(testCtx(), { home });
    await log.append({ type: 'after.crash' });
    await log.close();
    const records = readLog(home);
    expectChain(records);
    for (const [seq, leaf] of acked) expect(records[Number(seq)]!.leaf, `acknowledged seq ${seq}`).toBe(leaf);
    const starts = records.filter((r) => r.rec.type === 'log.start');
    expect(starts).toHaveLength(2);
    expect(records.filter((r) => r.rec.type === 'log.stop')).toHaveLength(1); // only the clean close
  });
});
