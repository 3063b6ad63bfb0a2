/**
 * No card number reaches an evidence bundle through its samples. A sample is a log line byte for byte (so it
 * can be proven), so a line that holds a clear PAN — written by an older pcigate or let through by a masking
 * gap — would be copied out of the data home as it is. `pcigate evidence` leaves such a line out, samples the
 * next clean record of the type in its place, and 10.2.2 says how many were withheld; the bundle verifies. What counts
 * as a card number there is what the bundle's scan of the log reports: a millisecond timestamp that is a Luhn-valid
 * 13-digit number in no major network's range left the only record of its type out (approval.approve, 1 run in 10).
 */
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
  tmp = tempDir('pcigate-cli-evidence-samples-pan-');
  home = path.join(tmp, 'home');
  const log = await openAuditLog(testCtx(), { home, createIfMissing: { origin: 'ev.example/pcigate' }, idleMs: 60_000 });
  const actor = { sub: 'alice@example.com', idp: 'https://idp.example.com', via: 'oidc' as const, amr: ['pwd'] };
  const target = { conn: 'prod-db', kind: 'postgres' as const, host: 'db:5432', db: 'payments', user: 'app' };
  // The only record of its type, with a timestamp in milliseconds that is a Luhn-valid 13-digit number in no major
  // network's range: no card number by the detector the bundle scans the log with (masking.networks: major).
  await log.append({ type: 'approval.request', actor, target, outcome: 'pending', detail: { id: 'A-1', expires_ms: 1796662956012 } });
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
    expect(sample?.bytes.toString('utf8')).toContain('"expires_ms":1796662956012');
  });
});
