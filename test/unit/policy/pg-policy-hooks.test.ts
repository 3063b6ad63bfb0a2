/**
 * A refusal in a transaction that has already failed (ReadyForQuery 'E') is answered as the server answers
 * any statement there (25P02, its message, no pcigate detail), except a transaction exit, which the server
 * would have run, and a text it would have rejected as a syntax error first; the rule is kept for the record.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Statement } from '../../../src/pg/proxy/hooks.js';
import { loadParser } from '../../../src/policy/pg-parser.js';
import { inFailedTransaction } from '../../../src/policy/pg-policy-hooks.js';

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
