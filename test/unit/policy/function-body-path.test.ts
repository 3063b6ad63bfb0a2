/**
 * A LANGUAGE sql function or procedure body that sets search_path, or the role, changes the caller's
 * session after the call, and policy judges a call as a function call only: `SELECT f(); SELECT * FROM
 * items` would be judged in public while the server reads vault.items. The server reports neither setting
 * to the client, so CREATE of such a body is refused (rule sql_text), as one that sets a misreading setting.
 * A function's own SET search_path clause lasts for the call only: allowed, but its body's names are judged
 * in that path.
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
  connections: { db: { roles: { eng: { classes: ['read', 'write', 'ddl', 'dcl', 'function', 'utility', 'transaction'], tables: { allow: ['public.*'] } } } } },
}), {});
const decide = (sql: string) => engine.openSession(eng, 'db', 0).decide(sql, 0);

describe('function bodies that change the caller\'s search_path or role', () => {
  for (const sql of [
    'CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ SET search_path = vault $$',
    'CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ SET LOCAL search_path = vault $$',
    "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$ SELECT set_config('search_path', 'vault', false) $$",
    "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$ SELECT pg_catalog.set_config('search_path', 'vault', true) $$",
    // A plain SET in the body outlasts the function's own SET clause (CREATE FUNCTION, Notes).
    'CREATE FUNCTION f() RETURNS void LANGUAGE sql SET search_path = public AS $$ SET search_path = vault $$',
    'CREATE OR REPLACE PROCEDURE p() LANGUAGE sql AS $$ SELECT 1; SET search_path TO vault, public $$',
    'CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ SET ROLE vault_owner $$',
    'CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ SET SESSION AUTHORIZATION vault_owner $$',
    "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$ SELECT set_config('role', 'vault_owner', false) $$",
  ]) {
    it(sql, () => {
      expect(decide(sql)).toMatchObject({ action: 'deny', rule: 'sql_text' });
    });
  }

  it('a RESET, and other settings, are judged as before', () => {
    for (const sql of [
      'CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ RESET search_path $$',
      "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ SET work_mem = '64MB' $$",
      'CREATE FUNCTION f() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM items $$',
    ]) expect(decide(sql).action, sql).toBe('allow');
  });
});

describe('a function\'s own SET search_path clause', () => {
  it('is allowed: the server restores the caller\'s path when the call ends', () => {
    expect(decide('CREATE FUNCTION f() RETURNS bigint LANGUAGE sql SET search_path = public AS $$ SELECT count(*) FROM items $$').action).toBe('allow');
    expect(decide('CREATE FUNCTION f() RETURNS bigint LANGUAGE sql SET search_path FROM CURRENT AS $$ SELECT count(*) FROM items $$').action).toBe('allow');
  });

  it('is the path the body\'s unqualified names are judged in', () => {
    expect(decide('CREATE FUNCTION f() RETURNS bigint LANGUAGE sql SET search_path = vault AS $$ SELECT count(*) FROM items $$'))
      .toMatchObject({ action: 'deny', reason: expect.stringContaining('vault.items') });
    expect(decide('CREATE PROCEDURE p() LANGUAGE sql SET search_path = public, vault AS $$ DELETE FROM items WHERE id = 1 $$'))
      .toMatchObject({ action: 'deny', reason: expect.stringContaining('vault.items') });
    expect(decide('CREATE FUNCTION f() RETURNS bigint LANGUAGE sql SET search_path = public AS $$ SELECT count(*) FROM pg_authid $$'))
      .toMatchObject({ action: 'deny', reason: expect.stringContaining('pg_catalog.pg_authid') });
  });
});

describe('set_config of the role', () => {
  it('is a role change, as SET ROLE is', () => {
    const s = engine.openSession(eng, 'db', 0);
    expect(s.decide("SELECT set_config('role', 'x', false)", 0).action).toBe('allow');
    expect(decide("SELECT set_config('role', current_setting('x.y'), false)")).toMatchObject({ action: 'deny', reason: expect.stringContaining('unclassifiable') });
  });
});

describe('ALTER FUNCTION … SET search_path', () => {
  it('moves where a body judged at its CREATE resolves its names: unclassifiable', () => {
    for (const sql of ['ALTER FUNCTION f() SET search_path = vault', 'ALTER PROCEDURE p() RESET ALL', 'ALTER ROUTINE f RESET search_path']) {
      expect(decide(sql), sql).toMatchObject({ action: 'deny', reason: expect.stringContaining('unclassifiable') });
    }
    expect(decide("ALTER FUNCTION f() SET work_mem = '64MB'").action).toBe('allow');
  });
});
