/**
 * No card number reaches an evidence bundle through its samples. A sample is a log line byte for byte (so it
 * can be proven), so a line that holds a clear PAN — written by an older pcigate or let through by a masking
 * gap — would be copied out of the data home as it is. `pcigate evidence` leaves such a line out, samples the
 * next clean record of the type in its place, and 10.2.2 says how many were withheld; the bundle verifies. What counts
 * as a card number there is what the bundle's scan of the log reports: a millisecond timestamp that is a Luhn-valid
 * 13-digit number in no major network's range left the only record of its type out (approval.approve, 1 run in 10).
 * Under `masking.networks: any_luhn` too, where any Luhn-valid number counts: pcigate's own clock reading is none
 * (neither sampled out nor in the log scan), the same digits in a statement's text are.
 */
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuditLog } from '../../recorder/index.js';
import { readZip } from '../../src/archive/zip.js';
import { testCtx } from '../harness/test-ctx.js';
import { runCli, tempDir } from '../harness/cli.js';

const PAN = '4111111111111111';
/** Luhn-valid, 13 digits, in no major network's range: a card number only under any_luhn. */
const MS = 1796662956012;
let tmp: string;
let home: string;

beforeAll(async () => {
  tmp = tempDir('pcigate-cli-evidence-samples-pan-');
  home = path.join(tmp, 'home');
  const log = await openAuditLog(testCtx(), { home, createIfMissing: { origin: 'ev.example/pcigate' }, idleMs: 60_000 });
  const actor = { sub: 'alice@example.com', idp: 'https://idp.example.com', via: 'oidc' as const, amr: ['pwd'] };
  const target = { conn: 'prod-db', kind: 'postgres' as const, host: 'db:5432', db: 'payments', user: 'app' };
  // The only record of its type, with a timestamp in milliseconds that is a Luhn-valid 13-digit number in no major
  // network's range: no card number by the detector the bundle scans the log with (masking.networks: major).
  await log.append({ type: 'approval.request', actor, target, outcome: 'pending', detail: { id: 'A-1', expires_ms: MS } });
  // The same digits in a statement's text: a card number under any_luhn.
  await log.append({ type: 'pg.intent', session: 's-1', actor, target, outcome: 'pending', detail: { sql: `select ${MS}` } });
  for (let k = 0; k < 5; k++) {
    await log.append({
      type: 'pg.query', session: 's-1', actor, src: { ip: '127.0.0.1', port: 50000, client: 'psql' }, target, outcome: 'success',
      // The middle record is one an evenly spaced sample of 3 (seq 0, 2, 4 of the type) picks.
      detail: { sql: k === 2 ? `select * from cards where pan = '${PAN}'` : `select ${k}` },
    });
  }
  await log.close();
});

afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

describe('pcigate evidence: samples never carry a card number', () => {
  it('leaves the record with a clear PAN out of the samples, samples another, says so, and the bundle verifies', async () => {
    const zip = path.join(tmp, 'req10.zip');
    const r = await runCli(['evidence', '--req', '10', '--home', home, '--out', zip], { home: tmp, timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    const entries = readZip(await fsp.readFile(zip));
    for (const e of entries) expect(e.bytes.toString('latin1'), e.path).not.toContain(PAN);
    const samples = entries.find((e) => e.path === 'samples/pg.query.jsonl')!.bytes.toString('utf8').trimEnd().split('\n');
    expect(samples.map((l) => (JSON.parse(l) as { detail: { sql: string } }).detail.sql)).toEqual(['select 0', 'select 3', 'select 4']);
    const report = entries.find((e) => e.path === 'report.json')!.bytes.toString('utf8');
    expect(report).toContain('"withheld_records": 1');
    expect(report).toContain('1 record(s) that would have been sampled hold what looks like a card number');
    const v = await runCli(['evidence', 'verify', zip, '--root-key', path.join(home, 'keys', 'root.pub')], { home: tmp, timeoutMs: 60_000 });
    expect(v.code).toBe(0);
  });

  it('samples a record whose only long number is one the log scan does not take for a card number (a millisecond timestamp)', async () => {
    const zip = path.join(tmp, 'req10-ms.zip');
    const r = await runCli(['evidence', '--req', '10', '--home', home, '--out', zip], { home: tmp, timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    const entries = readZip(await fsp.readFile(zip));
    const sample = entries.find((e) => e.path === 'samples/approval.request.jsonl');
    expect(sample?.bytes.toString('utf8')).toContain(`"expires_ms":${MS}`);
  });

  it('under masking.networks any_luhn: the clock reading is sampled and not in the log scan, the same digits in a statement are both', async () => {
    const config = path.join(tmp, 'any-luhn.yaml');
    await fsp.writeFile(config, 'masking:\n  networks: any_luhn\n', { mode: 0o600 });
    const samples = path.join(tmp, 'req10-any.zip');
    const r = await runCli(['evidence', '--req', '10', '--home', home, '--config', config, '--out', samples], { home: tmp, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const entries = readZip(await fsp.readFile(samples));
    expect(entries.find((e) => e.path === 'samples/approval.request.jsonl')?.bytes.toString('utf8')).toContain(`"expires_ms":${MS}`);
    expect(entries.some((e) => e.path === 'samples/pg.intent.jsonl' && e.bytes.toString('utf8').includes(String(MS)))).toBe(false);
    expect(entries.find((e) => e.path === 'report.json')!.bytes.toString('utf8')).toContain('"withheld_records": 2');
    const scan = path.join(tmp, 'req3-any.zip');
    const s = await runCli(['evidence', '--req', '3', '--home', home, '--config', config, '--out', scan], { home: tmp, timeoutMs: 60_000 });
    expect(s.code, s.stderr).toBe(0);
    const rows = readZip(await fsp.readFile(scan)).find((e) => e.path === 'req3/pan-sad-scan.csv')!.bytes.toString('utf8').trimEnd().split('\n').slice(1).map((l) => l.split(','));
    // The log's findings by their records' types; an earlier bundle's (an export) by the sample file they are in.
    const logDir = path.join(home, 'log');
    const types = new Map<string, string>();
    for (const f of await fsp.readdir(logDir)) {
      for (const l of (await fsp.readFile(path.join(logDir, f), 'utf8')).split('\n').filter(Boolean)) {
        const r = JSON.parse(l) as { seq: number; type: string };
        types.set(String(r.seq), r.type);
      }
    }
    const inLog = rows.filter((r) => r[0] === 'log').map((r) => types.get(r[2]!));
    expect(inLog.sort()).toEqual(['pg.intent', 'pg.query']);
    const inExports = rows.filter((r) => r[0] === 'export').map((r) => /samples\/([a-z.]+)\.jsonl$/.exec(r[1]!)?.[1]);
    expect(inExports).toContain('pg.intent');
    expect(inExports).not.toContain('approval.request');
  });
});
