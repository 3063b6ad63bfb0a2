/**
 * No card number reaches an evidence bundle through a recording's file name. Requirement 3 scans every file under
 * the data home's recordings/ and names each finding and each file it could not scan by its path; a session named
 * after a card number (or a directory of them) put that number in req3/pan-sad-scan.csv, report.json and the
 * procedure results as it was. The names are masked as an export's are (exports.ts shownPath); the findings are
 * still made, and the bundle verifies. And the scan's limit is pcigate evidence's own: a recording expanding past it
 * is named with `pcigate evidence --max-expanded`, which raises it (it named `pcigate scan --max-expanded`).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuditLog } from '../../recorder/index.js';
import { readZip } from '../../src/archive/zip.js';
import { testCtx } from '../harness/test-ctx.js';
import { runCli, tempDir } from '../harness/cli.js';

const PAN = '4111111111111111';
let tmp: string;
let home: string;

beforeAll(async () => {
  tmp = tempDir('pcigate-cli-evidence-recording-names-');
  home = path.join(tmp, 'home');
  const log = await openAuditLog(testCtx(), { home, createIfMissing: { origin: 'ev.example/pcigate' }, idleMs: 60_000 });
  const actor = { sub: 'alice@example.com', idp: 'https://idp.example.com', via: 'oidc' as const, amr: ['pwd'] };
  const target = { conn: 'prod-db', kind: 'postgres' as const, host: 'db:5432', db: 'payments', user: 'app' };
  await log.append({ type: 'pg.query', session: 's-1', actor, src: { ip: '127.0.0.1', port: 50000, client: 'psql' }, target, outcome: 'success', detail: { sql: 'select 1' } });
  await log.close();
  // A recording named after the card, holding it (a finding), and a damaged gzip in a directory named after it
  // (a file that could not be scanned): both named in the bundle.
  mkdirSync(path.join(home, 'recordings', `card-${PAN}`), { recursive: true });
  writeFileSync(path.join(home, 'recordings', `${PAN}.cast`), `{"version":2,"width":80,"height":24}\n[0.1,"o","row ${PAN}\\r\\n"]\n`);
  writeFileSync(path.join(home, 'recordings', `card-${PAN}`, 's.cast.gz'), Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x01, 0x02, 0x03]));
});

afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

describe('pcigate evidence: recording names never carry a card number', () => {
  it('names the recordings with the number masked, in every file of the bundle and the output', async () => {
    const zip = path.join(tmp, 'req3.zip');
    const r = await runCli(['evidence', '--req', '3', '--home', home, '--out', zip, '--json'], { home: tmp, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(PAN);
    const entries = readZip(await fsp.readFile(zip));
    for (const e of entries) {
      expect(e.path).not.toContain(PAN);
      expect(e.bytes.toString('latin1'), e.path).not.toContain(PAN);
    }
    // The raw zip too (names in the central directory, stored entries).
    expect((await fsp.readFile(zip)).toString('latin1')).not.toContain(PAN);
    // Still found, and named so that the file can be told: masked as an export's name is.
    const csv = entries.find((e) => e.path === 'req3/pan-sad-scan.csv')!.bytes.toString('utf8');
    expect(csv).toContain('recording,recordings/************1111.cast,,2,');
    expect(csv).toContain('recording,recordings/card-************1111/s.cast.gz,,,,unreadable,');
    const v = await runCli(['evidence', 'verify', zip, '--root-key', path.join(home, 'keys', 'root.pub')], { home: tmp, timeoutMs: 60_000 });
    expect(v.code, v.stdout + v.stderr).toBe(0);
  });
});

describe('pcigate evidence --max-expanded', () => {
  it('a recording expanding past it is named with the option that raises it; raised, it is scanned whole', async () => {
    writeFileSync(path.join(home, 'recordings', 'over.cast.gz'), gzipSync(`${'.'.repeat(4096)}\ncard ${PAN}\n`));
    const zip = path.join(tmp, 'limited.zip');
    const r = await runCli(['evidence', '--req', '3', '--home', home, '--out', zip, '--max-expanded', '1K'], { home: tmp, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const csv = readZip(await fsp.readFile(zip)).find((e) => e.path === 'req3/pan-sad-scan.csv')!.bytes.toString('utf8');
    const row = csv.split('\r\n').find((l) => l.startsWith('recording,recordings/over.cast.gz,'));
    expect(row).toMatch(/,unreadable,,.*decompression stopped after 1024 bytes .*; pcigate evidence --max-expanded SIZE raises the limit/);
    expect(csv).not.toContain('pcigate scan --max-expanded');
    const whole = path.join(tmp, 'whole.zip');
    expect((await runCli(['evidence', '--req', '3', '--home', home, '--out', whole, '--max-expanded', '0'], { home: tmp, timeoutMs: 60_000 })).code).toBe(0);
    const rows = readZip(await fsp.readFile(whole)).find((e) => e.path === 'req3/pan-sad-scan.csv')!.bytes.toString('utf8').split('\r\n');
    expect(rows.filter((l) => l.startsWith('recording,recordings/over.cast.gz,'))).toEqual(['recording,recordings/over.cast.gz,,2,6,pan,visa,************1111']);
    const bad = await runCli(['evidence', '--req', '3', '--home', home, '--out', whole, '--max-expanded', 'lots'], { home: tmp, timeoutMs: 60_000 });
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining("--max-expanded: expected a size such as 512M, 4G or 1073741824, or 0 / unlimited for no limit; got 'lots'")]);
  });
});
