/**
 * A file pcigate writes where the user names it is not replaced without --force (src/cli/output-file.ts): running
 * `pcigate evidence --out req10.zip` again replaced the bundle already handed to an assessor, silently. Through the
 * built bin on a small data home; the helper's race (a file that appears after the early check) on the real fs.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuditLog } from '../../recorder/index.js';
import { placeOutput, writeOutput } from '../../src/cli/output-file.js';
import { testCtx } from '../harness/test-ctx.js';
import { runCli, tempDir } from '../harness/cli.js';

let tmp: string;
let home: string;

beforeAll(async () => {
  tmp = tempDir('pcigate-cli-output-file-');
  home = path.join(tmp, 'home');
  const log = await openAuditLog(testCtx(), { home, createIfMissing: { origin: 'out.example/pcigate' }, idleMs: 60_000 });
  const actor = { sub: 'alice@example.com', idp: 'https://idp.example.com', via: 'oidc' as const, amr: ['pwd'] };
  await log.append({ type: 'pg.query', session: 's-1', actor, target: { conn: 'prod-db', kind: 'postgres' }, outcome: 'success', detail: { sql: 'select 1' } });
  await log.close();
});

afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

const exports = () => readFileSync(path.join(home, 'log', readdirSync(path.join(home, 'log')).filter((f) => f.endsWith('.jsonl')).sort().at(-1)!), 'utf8')
  .split('\n').filter((l) => l.includes('"evidence.export"')).length;

describe('pcigate evidence --out', () => {
  it('refuses an existing file (exit 1, before any work or record), keeps it whole, and replaces it with --force', async () => {
    const zip = path.join(tmp, 'req10.zip');
    const first = await runCli(['evidence', '--req', '10', '--home', home, '--out', zip, '--json'], { home: tmp, timeoutMs: 60_000 });
    expect(first.code, first.stderr).toBe(0);
    const bytes = readFileSync(zip);
    const recorded = exports();
    expect(recorded).toBe(1);

    const again = await runCli(['evidence', '--req', '10', '--home', home, '--out', zip], { home: tmp, timeoutMs: 60_000 });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`${zip} exists: pcigate does not replace it`);
    expect(again.stderr).toContain('--force');
    expect(readFileSync(zip).equals(bytes)).toBe(true);
    expect(exports()).toBe(recorded); // refused before the bundle was built or its export recorded
    expect(readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    const forced = await runCli(['evidence', '--req', '10', '--home', home, '--out', zip, '--force', '--json'], { home: tmp, timeoutMs: 60_000 });
    expect(forced.code, forced.stderr).toBe(0);
    const bundle = (JSON.parse(forced.stdout) as { bundle_id: string }).bundle_id;
    expect(readFileSync(zip).equals(bytes)).toBe(false);
    const v = await runCli(['evidence', 'verify', zip, '--root-key', path.join(home, 'keys', 'root.pub'), '--json'], { home: tmp, timeoutMs: 60_000 });
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, bundle_id: bundle });
    expect(exports()).toBe(recorded + 1);
  });
});

describe('placeOutput and writeOutput', () => {
  it('do not replace a file that appeared after the early check, and leave no staged file', async () => {
    const ctx = testCtx();
    const file = path.join(tmp, 'raced.html');
    const staged = path.join(tmp, 'raced.staged');
    writeFileSync(staged, 'new');
    writeFileSync(file, 'theirs');
    await expect(placeOutput(ctx, staged, file, false)).rejects.toMatchObject({ code: 'ERR_OUTPUT_EXISTS' });
    expect(readFileSync(file, 'utf8')).toBe('theirs');
    await expect(writeOutput(ctx, file, Buffer.from('new'), false)).rejects.toMatchObject({ code: 'ERR_OUTPUT_EXISTS' });
    expect(readFileSync(file, 'utf8')).toBe('theirs');
    expect(readdirSync(tmp).filter((f) => f.startsWith('raced.html.'))).toEqual([]);
    await writeOutput(ctx, file, Buffer.from('new'), true);
    expect(readFileSync(file, 'utf8')).toBe('new');
    const fresh = path.join(tmp, 'fresh.html');
    await writeOutput(ctx, fresh, Buffer.from('page'), false);
    expect([readFileSync(fresh, 'utf8'), (await fsp.stat(fresh)).mode & 0o777, existsSync(`${fresh}.${process.pid}.tmp`)]).toEqual(['page', 0o600, false]);
  });
});
