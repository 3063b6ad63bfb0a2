/**
 * Decision.settles: a statement that may run code policy does not read (a trigger, a DEFAULT, a view, a
 * function) may change session settings unseen, so the proxy decides no text that could read otherwise behind
 * it until the server has answered (Statement.settlesFirst). Only a text with a backslash or a non-ASCII
 * byte pays for it (relay.ts readAlike), and only SET, SHOW, BEGIN and the like are known to run nothing.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { policySection } from '../../../src/config/sections/policy.js';
import type { PolicyIdentity } from '../../../src/policy/evaluate.js';
import { loadParser } from '../../../src/policy/pg-parser.js';
import { PolicyEngine } from '../../../src/policy/policy-engine.js';

beforeAll(async () => { await loadParser(); });

const eng: PolicyIdentity = { sub: 'eng', via: 'local' };
const engine = new PolicyEngine(policySection.parse({
  roles: { eng: { subjects: ['eng'] } },
  connections: { db: { roles: { eng: { classes: ['read', 'write', 'function', 'utility', 'transaction'] } } } },
}), {});

describe('Decision.settles', () => {
  it('is set for DO, CALL, a call of a function that is not a known-safe built-in, and EXECUTE/FETCH of one', () => {
    const s = engine.openSession(eng, 'db', 0);
    for (const sql of ['DO $$ BEGIN NULL; END $$', 'CALL p()', 'SELECT f()', 'INSERT INTO t VALUES (g(1))', "SELECT 1; SELECT set_config('work_mem', '1MB', false)"]) {
      expect(s.decide(sql, 0).settles, sql).toBe(true);
    }
    expect(s.decide('PREPARE q AS SELECT f()', 0).action).toBe('allow');
    expect(s.decide('EXECUTE q', 0).settles).toBe(true);
    expect(s.decide('BEGIN; DECLARE c CURSOR FOR SELECT f(); FETCH c', 0).settles).toBe(true);
  });

  it('is set for any statement that may run a trigger, a DEFAULT, a view or a user operator (none shows in its text)', () => {
    const s = engine.openSession(eng, 'db', 0);
    for (const sql of ['SELECT 1', "SELECT lower('X'), now()", 'INSERT INTO t VALUES (1)', 'UPDATE t SET a = 1 WHERE b = 2', 'SELECT * FROM v',
      'COMMIT', 'END', "PREPARE TRANSACTION 'x'", "COMMIT PREPARED 'x'", 'SET CONSTRAINTS ALL IMMEDIATE', 'not sql at all']) {
      expect(s.decide(sql, 0).settles, sql).toBe(true);
    }
    expect(s.decide('PREPARE r AS SELECT 1', 0).action).toBe('allow');
    expect(s.decide('EXECUTE r', 0).settles).toBe(true);
  });

  it('is not set for statements that run no code of the database\'s', () => {
    const s = engine.openSession(eng, 'db', 0);
    for (const sql of ["SET work_mem = '1MB'", 'RESET ALL', 'SHOW search_path', 'BEGIN', 'START TRANSACTION', 'SAVEPOINT a', 'RELEASE a',
      'ROLLBACK TO a', 'ROLLBACK', "ROLLBACK PREPARED 'x'", 'DEALLOCATE ALL', 'DISCARD ALL', 'LISTEN x', 'UNLISTEN *', 'CLOSE ALL', '', 'BEGIN; SET work_mem = 1']) {
      expect(s.decide(sql, 0).settles, sql).toBeUndefined();
    }
  });
});
