/**
 * Approvals across real processes: several node processes (built store from dist/) race to approve or
 * deny the same request in one data home; the O_EXCL lock lets exactly one transition win, and the
 * losers see ApprovalConflict. Also: a waiter in this process wakes when another process decides.
 * Needs `npx tsc -p tsconfig.json` first (like the CLI tests).
 */
import { spawn } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/cli/ctx.js';
import { ApprovalStore } from '../../src/policy/approvals.js';
import { ROOT, tempDir } from '../harness/cli.js';
import { memoryAudit } from '../harness/memory-audit.js';

const STORE_JS = pathToFileURL(path.join(ROOT, 'dist', 'src', 'policy', 'approvals.js')).href;

/** One child process: waits for the start signal file, then approves (or denies) as `sub`. */
function racer(home: string, id: string, sub: string, verb: 'approve' | 'deny', go: string): Promise<string> {
  const script = `
    import * as fsp from 'node:fs/promises';
    import { existsSync } from 'node:fs';
    const { ApprovalStore } = await import(${JSON.stringify(STORE_JS)});
    const sink = { append: async () => ({ seq: 0, leaf: '' }), commitBlob: async () => { throw new Error('no'); } };
    const store = new ApprovalStore({ fs: fsp, clock: { now: () => Date.now(), micros: () => 0n }, home: ${JSON.stringify(home)}, sink });
    while (!existsSync(${JSON.stringify(go)})) await new Promise((r) => setTimeout(r, 2));
    const who = { sub: ${JSON.stringify(sub)}, groups: ['security'], via: 'oidc' };
    try {
      const r = ${verb === 'approve' ? 'await store.approve(process.argv[1], who)' : "await store.deny(process.argv[1], who, 'no')"};
      process.stdout.write('won:' + r.state);
    } catch (e) { process.stdout.write('lost:' + e.code); }
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, id], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
    child.on('error', reject);
    child.on('close', () => (out ? resolve(out) : reject(new Error(err))));
  });
}

describe('approvals across processes', () => {
  it('racing approvers and deniers: exactly one transition wins', async () => {
    const home = tempDir('pcigate-race-');
    const store = new ApprovalStore({ fs: fsp, clock: systemClock(), home, sink: memoryAudit() });
    for (let round = 0; round < 3; round++) {
      const req = await store.request({
        connection: 'prod-db', requester: { sub: 'rita', via: 'oidc' }, sql: `DELETE FROM t -- ${round}`,
        settings: { groups: ['security'], subjects: [], minApprovals: 1, expiresMs: 60_000, windowMs: 0 },
      });
      const go = path.join(home, `go-${round}`);
      const racers = Array.from({ length: 6 }, (_, i) => racer(home, req.id, `u-${i}`, i % 3 === 2 ? 'deny' : 'approve', go));
      await new Promise((r) => setTimeout(r, 400)); // let every child start and spin on the signal
      await fsp.writeFile(go, '');
      const results = await Promise.all(racers);
      const won = results.filter((r) => r.startsWith('won:'));
      expect(won, results.join(' ')).toHaveLength(1);
      expect(results.filter((r) => r === 'lost:ERR_APPROVAL_CONFLICT')).toHaveLength(5);
      const final = await store.get(req.id);
      expect(final.state).toBe(won[0]!.slice(4));
      expect(final.approvals.length + (final.denial ? 1 : 0)).toBe(1);
    }
  }, 60_000);

  it('a waiter wakes when another process approves', async () => {
    const home = tempDir('pcigate-wait-');
    const store = new ApprovalStore({ fs: fsp, clock: systemClock(), home, sink: memoryAudit() });
    const req = await store.request({
      connection: 'prod-db', requester: { sub: 'rita', via: 'oidc' }, sql: 'TRUNCATE t',
      settings: { groups: ['security'], subjects: [], minApprovals: 1, expiresMs: 60_000, windowMs: 0 },
    });
    const go = path.join(home, 'go');
    const waiting = store.waitForDecision(req.id, 20_000);
    const other = racer(home, req.id, 'u-9', 'approve', go);
    await fsp.writeFile(go, '');
    expect(await other).toBe('won:approved');
    expect((await waiting).state).toBe('approved');
  }, 30_000);
});
