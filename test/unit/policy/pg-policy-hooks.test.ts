/**
 * A refusal in a transaction that has already failed (ReadyForQuery 'E') is answered as the server answers
 * any statement there (25P02, its message, no pcigate detail), except a transaction exit, which the server
 * would have run, and a text it would have rejected as a syntax error first; the rule is kept for the record.
 * A statement policy would hold there is refused the same way at once: no approval request is filed and no
 * approval spent (decideStatement with a store that records what it is asked).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { policySection } from '../../../src/config/sections/policy.js';
import type { Statement } from '../../../src/pg/proxy/hooks.js';
import type { ApprovalStore } from '../../../src/policy/approvals.js';
import { loadParser } from '../../../src/policy/pg-parser.js';
import { decideStatement, HOLD_SKIPPED_FAILED_TX, inFailedTransaction } from '../../../src/policy/pg-policy-hooks.js';
import { PolicyEngine } from '../../../src/policy/policy-engine.js';

beforeAll(async () => { await loadParser(); });

const deny = { action: 'deny' as const, rule: 'policy.connections.db.roles.r.tables.deny', message: 'pcigate: denied by policy rule …' };
const stmt = (sql: string, txStatus?: Statement['txStatus'], protocol: Statement['protocol'] = 'simple'): Statement => ({ n: 1, protocol, sql, params: [], ...(txStatus ? { txStatus } : {}) });
const FAILED = { ...deny, sqlstate: '25P02', message: 'current transaction is aborted, commands ignored until end of transaction block', detail: '' };

describe('inFailedTransaction', () => {
  it('leaves a refusal alone outside a failed transaction, or when the status is not known', () => {
    for (const s of ['I', 'T', undefined] as const) expect(inFailedTransaction(stmt('select * from secrets', s), deny)).toBe(deny);
  });

  it('answers 25P02 with the server message, keeping the rule, for what the server refuses there', () => {
    for (const sql of ['select * from secrets', 'begin', 'savepoint s', 'release savepoint s', 'select 1; rollback', '/* c */ insert into t values (1)']) {
      expect(inFailedTransaction(stmt(sql, 'E'), deny)).toEqual(FAILED);
    }
    expect(inFailedTransaction(stmt('select * from secrets where id = $1', 'E', 'extended'), deny)).toEqual(FAILED);
    expect(inFailedTransaction(stmt('function 1234', 'E', 'function'), deny)).toEqual(FAILED);
  });

  it('keeps the refusal for a transaction exit (the server would have run it) and for a syntax error', () => {
    for (const sql of ['rollback', 'ROLLBACK TO SAVEPOINT s', 'commit', 'end', 'abort', "prepare transaction 'x'", 'rollback; select * from secrets', 'selec 1', '']) {
      expect(inFailedTransaction(stmt(sql, 'E'), deny)).toBe(deny);
    }
  });
});

describe('a statement policy would hold, in a transaction that has already failed', () => {
  const policy = policySection.parse({
    roles: { eng: { subjects: ['tester'] } },
    connections: { db: { roles: { eng: { classes: ['read', 'write', 'transaction', 'utility'], require_approval: ['write_without_where'] } } } },
  });
  const engine = new PolicyEngine(policy, {});
  const clock = { now: () => 1_700_000_000_000, micros: () => 1_700_000_000_000_000n };
  const HOLD_RULE = 'policy.connections.db.roles.eng.require_approval.write_without_where';

  /** decideStatement with a store that only records the calls made to it (a pre-approval is usable when `usable`). */
  function decide(sql: string, txStatus?: Statement['txStatus'], protocol: Statement['protocol'] = 'simple', usable = false) {
    const calls: string[] = [];
    const store = {
      findUsable: async () => { calls.push('findUsable'); return usable ? { id: 'A-usable' } : undefined; },
      consume: async () => { calls.push('consume'); },
      request: async () => { calls.push('request'); return { id: 'A-filed' }; },
      waitForDecision: () => new Promise(() => {}),
    } as unknown as ApprovalStore;
    const ps = engine.openSession({ sub: 'tester', groups: [], via: 'local', mfa: false }, 'db', clock.now());
    const d = decideStatement({ engine, store, connection: 'db', clock }, ps, 's-1', stmt(sql, txStatus, protocol));
    return { d, calls };
  }

  it('is refused at once with the server\'s 25P02 and a rule naming the skipped hold; the store is not asked', async () => {
    for (const [sql, protocol] of [['update items set n = 1', 'simple'], ['delete from items', 'extended'], ['select 1; delete from items', 'simple']] as const) {
      for (const usable of [false, true]) {
        const { d, calls } = decide(sql, 'E', protocol, usable);
        expect(d).not.toBeInstanceOf(Promise);
        expect(d).toEqual({
          action: 'deny', rule: `${HOLD_SKIPPED_FAILED_TX}: ${HOLD_RULE}`, sqlstate: '25P02', detail: '',
          message: 'current transaction is aborted, commands ignored until end of transaction block',
        });
        await new Promise((r) => setTimeout(r, 0));
        expect(calls, sql).toEqual([]);
      }
    }
  });

  it('is held as usual outside a failed transaction, when the status is not known, and after a transaction exit', async () => {
    for (const [sql, s] of [['update items set n = 1', 'I'], ['update items set n = 1', 'T'], ['update items set n = 1', undefined],
      ['rollback; update items set n = 1', 'E'], ['commit; update items set n = 1', 'E']] as const) {
      const { d, calls } = decide(sql, s);
      const r = await d;
      expect(r, `${sql} (${s})`).toMatchObject({ action: 'hold', notice: expect.stringContaining('A-filed') });
      expect(calls).toEqual(['findUsable', 'request']);
    }
    // A usable pre-approval is spent outside a failed transaction only.
    const { d, calls } = decide('update items set n = 1', 'T', 'simple', true);
    expect(await d).toEqual({ action: 'allow' });
    expect(calls).toEqual(['findUsable', 'consume']);
  });

  it('leaves what policy allows or denies there as before', () => {
    expect(decide('rollback', 'E').d).toEqual({ action: 'allow' });
    expect(decide('rollback to savepoint s', 'E').d).toEqual({ action: 'allow' });
    expect(decide('commit', 'E').d).toEqual({ action: 'allow' });
    expect(decide('select 1', 'E').d).toEqual({ action: 'allow' });
  });
});
