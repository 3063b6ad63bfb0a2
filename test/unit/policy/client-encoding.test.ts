/**
 * PolicySession's client_encoding: policy reads SQL text as UTF-8, so while the session's encoding may be
 * another (as the server reported it, or as a SET policy allowed may have made it) a text with a non-ASCII
 * character is refused (rule client_encoding). Integration: test/integration/policy-client-encoding.test.ts.
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
  connections: { db: { roles: { eng: { classes: ['read', 'utility', 'transaction'] } } } },
}), {});
const NON_ASCII = "SELECT 'café'";

describe('client_encoding and non-ASCII text', () => {
  it('UTF8 (the default, and as reported): read', () => {
    const s = engine.openSession(eng, 'db', 0);
    expect(s.decide(NON_ASCII, 0).action).toBe('allow');
    s.reported('client_encoding', 'UTF8');
    expect(s.decide(NON_ASCII, 0).action).toBe('allow');
  });

  for (const set of ["SET client_encoding = 'LATIN1'", "SET NAMES 'WIN1252'", "SET client_encoding TO 'iso_8859_5'"]) {
    it(`${set}: refused from then on, ASCII still read, until the server reports UTF8`, () => {
      const s = engine.openSession(eng, 'db', 0);
      s.reported('client_encoding', 'UTF8');
      expect(s.decide(set, 0).action).toBe('allow');
      expect(s.decide(NON_ASCII, 0)).toMatchObject({ action: 'deny', rule: 'client_encoding' });
      expect(s.decide("SELECT 'cafe'", 0).action).toBe('allow');
      s.reported('client_encoding', 'UTF8');
      // Still pipelined (the status not known): the report may answer an earlier statement.
      expect(s.decide(NON_ASCII, 0)).toMatchObject({ action: 'deny', rule: 'client_encoding' });
      expect(s.decide(NON_ASCII, 0, 'I').action).toBe('allow');
    });
  }

  it('a session that started in LATIN1: refused; RESET, RESET ALL and DISCARD ALL go back to it', () => {
    const s = engine.openSession(eng, 'db', 0);
    s.reported('client_encoding', 'LATIN1');
    expect(s.decide(NON_ASCII, 0)).toMatchObject({ action: 'deny', rule: 'client_encoding' });
    for (const back of ['RESET client_encoding', 'RESET ALL', 'DISCARD ALL', 'SET client_encoding TO DEFAULT']) {
      expect(s.decide("SET client_encoding = 'UTF8'", 0).action).toBe('allow');
      s.reported('client_encoding', 'UTF8');
      expect(s.decide(NON_ASCII, 0, 'I').action, back).toBe('allow');
      expect(s.decide(back, 0).action).toBe('allow');
      expect(s.decide(NON_ASCII, 0), back).toMatchObject({ action: 'deny', rule: 'client_encoding' });
    }
  });

  it("UTF8 by any name the server cleans to it (UTF_8, 'utf 8', Unicode): read after the SET", () => {
    for (const name of ['UTF_8', 'utf 8', 'Unicode']) {
      const s = engine.openSession(eng, 'db', 0);
      s.reported('client_encoding', 'UTF8');
      expect(s.decide(`SET client_encoding = '${name}'`, 0).action).toBe('allow');
      expect(s.decide(NON_ASCII, 0).action, name).toBe('allow');
    }
  });

  it('SQL_ASCII passes the bytes as they are: read', () => {
    const s = engine.openSession(eng, 'db', 0);
    s.reported('client_encoding', 'SQL_ASCII');
    expect(s.decide(NON_ASCII, 0).action).toBe('allow');
  });
});

describe('a transaction\'s end that may bring another encoding back', () => {
  for (const end of ['ROLLBACK', 'ROLLBACK TO a', 'COMMIT']) {
    it(`LATIN1 at the start, SET LOCAL client_encoding = UTF8 reported, then ${end}: refused until reported again`, () => {
      const s = engine.openSession(eng, 'db', 0);
      s.reported('client_encoding', 'LATIN1');
      for (const sql of ['BEGIN', 'SAVEPOINT a', "SET LOCAL client_encoding = 'UTF8'"]) expect(s.decide(sql, 0).action).toBe('allow');
      s.reported('client_encoding', 'UTF8');
      expect(s.decide(NON_ASCII, 0, 'T').action).toBe('allow');
      expect(s.decide(end, 0).action).toBe('allow');
      expect(s.decide(NON_ASCII, 0)).toMatchObject({ action: 'deny', rule: 'client_encoding' });
      s.reported('client_encoding', 'UTF8');
      expect(s.decide(NON_ASCII, 0, end === 'ROLLBACK TO a' ? 'T' : 'I').action).toBe('allow');
    });
  }

  it('a session that never had another encoding: a ROLLBACK changes nothing', () => {
    const s = engine.openSession(eng, 'db', 0);
    s.reported('client_encoding', 'UTF8');
    for (const sql of ['BEGIN', 'ROLLBACK']) expect(s.decide(sql, 0).action).toBe('allow');
    expect(s.decide(NON_ASCII, 0).action).toBe('allow');
  });
});

describe('the report and the statement it answers', () => {
  it('a report that answers an earlier statement does not clear a later SET (pipelined)', () => {
    const s = engine.openSession(eng, 'db', 0);
    s.reported('client_encoding', 'WIN1252');
    expect(s.decide("SET client_encoding = 'UTF8'", 0, 'I').action).toBe('allow');
    expect(s.decide("SET client_encoding = 'LATIN1'", 0).action).toBe('allow');
    s.reported('client_encoding', 'UTF8'); // the first SET's, while the second still runs
    expect(s.decide(NON_ASCII, 0)).toMatchObject({ action: 'deny', rule: 'client_encoding' });
  });

  it('BEGIN; SET LOCAL client_encoding; COMMIT in one string, no report (the value ended as it was): read once answered', () => {
    const s = engine.openSession(eng, 'db', 0);
    s.reported('client_encoding', 'UTF8');
    expect(s.decide("BEGIN; SET LOCAL client_encoding = 'LATIN1'; COMMIT", 0, 'I').action).toBe('allow');
    expect(s.decide(NON_ASCII, 0)).toMatchObject({ action: 'deny', rule: 'client_encoding' });
    expect(s.decide(NON_ASCII, 0, 'I').action).toBe('allow');
  });

  it('a session that had LATIN1 and went back: a later transaction\'s end refuses only until answered', () => {
    const s = engine.openSession(eng, 'db', 0);
    s.reported('client_encoding', 'UTF8');
    expect(s.decide("SET client_encoding = 'LATIN1'", 0, 'I').action).toBe('allow');
    s.reported('client_encoding', 'LATIN1');
    expect(s.decide("SET client_encoding = 'UTF8'", 0, 'I').action).toBe('allow');
    s.reported('client_encoding', 'UTF8');
    for (const sql of ['BEGIN', 'COMMIT']) expect(s.decide(sql, 0, sql === 'BEGIN' ? 'I' : 'T').action).toBe('allow');
    expect(s.decide(NON_ASCII, 0, 'I').action).toBe('allow');
  });
});
