/**
 * A LANGUAGE sql function or procedure body that sets what makes the server read SQL text otherwise than
 * policy's parser (standard_conforming_strings off, a client_encoding such as SJIS) changes it for the rest
 * of the caller's session, as the SET itself would: CREATE of it is refused the same way (rule sql_text),
 * since statements pipelined behind a call could reach the server before the proxy sees the setting change.
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
  connections: { db: { roles: { eng: { classes: ['read', 'write', 'ddl', 'function', 'utility', 'transaction'] } } } },
}), {});

describe('function bodies that set a misreading setting', () => {
  for (const sql of [
    "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ SET standard_conforming_strings = off $$",
    "CREATE OR REPLACE PROCEDURE p() LANGUAGE sql AS $$ SELECT 1; SET client_encoding = 'SJIS' $$",
    "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS 'SELECT pg_catalog.set_config(''standard_conforming_strings'', ''off'', false)'",
  ]) {
    it(sql, () => {
      expect(engine.openSession(eng, 'db', 0).decide(sql, 0)).toMatchObject({ action: 'deny', rule: 'sql_text' });
    });
  }

  it('others are judged as before', () => {
    for (const sql of [
      "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ SET standard_conforming_strings = on $$",
      "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ SET work_mem = '64MB' $$",
    ]) expect(engine.openSession(eng, 'db', 0).decide(sql, 0).action, sql).toBe('allow');
  });
});
