/**
 * The evidence fixture itself (test/harness/evidence-home.ts): the home it builds from real proxied sessions
 * holds the record types the evidence bundle tests rely on, no full test PAN anywhere in it, a verifying log
 * over two key epochs, and (withGap) a real log.gap after a refused statement.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../recorder/types.js';
import { buildEvidenceHome, CI_SUB, DB, readHomeLog, SSH, TEST_PANS } from '../harness/evidence-home.js';
import type { EvidenceHome } from '../harness/evidence-home.js';
import { sshdAvailable } from '../harness/sshd.js';

const noSshd = sshdAvailable();
if (noSshd) process.stderr.write(`skipping the SSH part of the evidence fixture test: ${noSshd}\n`);

let h: EvidenceHome;
let log: AuditRecord[];

beforeAll(async () => {
  h = await buildEvidenceHome();
  log = readHomeLog(h.home);
}, 180_000);
afterAll(async () => { await h?.cleanup(); });

const types = () => new Set(log.map((r) => r.type));
const files = (dir: string): string[] => readdirSync(dir).flatMap((f) => {
  const p = path.join(dir, f);
  return statSync(p).isDirectory() ? files(p) : [p];
});

describe('evidence fixture (real proxied sessions)', () => {
  it('has the Postgres, identity, approval and audit-access records', () => {
    for (const t of ['log.start', 'log.stop', 'checkpoint', 'key.rotate', 'session.start', 'session.end', 'pg.query',
      'auth.fail', 'approval.request', 'approval.approve', 'verify.run', 'audit.access']) {
      expect(types(), t).toContain(t);
    }
    const denied = log.filter((r) => r.type === 'pg.query' && r.outcome === 'denied');
    expect(denied.map((r) => (r.detail as { sql: string }).sql)).toContain('drop table cards');
    expect(denied[0]!.actor).toMatchObject({ sub: CI_SUB, via: 'workload' });
    const fails = log.filter((r) => r.type === 'auth.fail');
    expect(fails.length).toBeGreaterThanOrEqual(2); // the refused token and the wrong listener secret
    const req = log.find((r) => r.type === 'approval.request')!;
    const ok = log.find((r) => r.type === 'approval.approve')!;
    expect(req.actor?.sub).toBe(CI_SUB);
    expect(ok.actor?.sub).toBe(h.facts.approver);
    expect(JSON.stringify(req)).toContain(h.facts.approvalId);
    const ddl = log.filter((r) => r.type === 'pg.query' && r.outcome === 'success').map((r) => (r.detail as { sql: string }).sql);
    expect(ddl).toEqual(expect.arrayContaining(['create table refunds (id int primary key, card_id int, amount_cents int)', 'create role reporting_ro nologin', "update transactions set note = 'reviewed'"]));
    expect(log.every((r) => r.origin === h.origin)).toBe(true);
  });

  it.skipIf(Boolean(noSshd))('has SSH exec and denied requests', () => {
    const ssh = log.filter((r) => r.target?.conn === SSH);
    expect(ssh.filter((r) => r.type === 'ssh.exec').map((r) => r.outcome)).toEqual(expect.arrayContaining(['success', 'denied']));
    expect(ssh.filter((r) => r.type === 'ssh.request' && r.outcome === 'denied').length).toBeGreaterThanOrEqual(2);
  });

  it('holds no full test PAN anywhere in the home, and the log verifies with the auditor\'s root key', async () => {
    for (const f of files(h.home)) {
      const text = readFileSync(f, 'utf8').replace(/[ -]/g, '');
      for (const pan of TEST_PANS) expect(text.includes(pan), `${pan} in ${f}`).toBe(false);
    }
    const v = await h.cli(['verify', '--root-key', h.rootPubFile, '--json']);
    expect(v.code).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ result: 'pass' });
  });

  it('withGap adds a real log.gap after a refused statement, on a copy of the home', async () => {
    const { home, gap } = await h.withGap();
    expect(gap.outcome).toBe('failure');
    expect(gap.detail).toMatchObject({ cause: expect.stringContaining('EIO') });
    expect((gap.detail as { lost: number }).lost).toBeGreaterThan(0);
    expect(readHomeLog(h.home).some((r) => r.type === 'log.gap')).toBe(false);
    const gapLog = readHomeLog(home);
    expect(gapLog.length).toBeGreaterThan(log.length);
    const v = await h.cli(['verify', '--root-key', h.rootPubFile, '--json'], { home });
    expect(v.code).toBe(0);
  });
});
