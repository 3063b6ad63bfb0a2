/**
 * `"$user"` in a function's own SET search_path clause is current_user at each call: whoever calls it, after
 * whatever SET ROLE. Policy judged the body's unqualified names in a schema literally named `$user`, which no
 * deny pattern named: with tables.allow `*` and tables.deny `vault.*`, `CREATE FUNCTION g() … SET
 * search_path = "$user", public AS $$ SELECT name FROM items $$` was allowed, and called by (or after SET
 * ROLE to) a role named vault it read vault.items. Such a name is now denied by a pattern for its table in any
 * schema, as an unqualified name is; the allow side still needs a pattern covering every schema.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { policySection } from '../../../src/config/sections/policy.js';
import type { PolicyIdentity } from '../../../src/policy/evaluate.js';
import { loadParser } from '../../../src/policy/pg-parser.js';
import { PolicyEngine } from '../../../src/policy/policy-engine.js';

beforeAll(async () => { await loadParser(); });

const eng: PolicyIdentity = { sub: 'eng', via: 'local' };
const engineWith = (tables: { allow: string[]; deny?: string[] }) => new PolicyEngine(policySection.parse({
  roles: { eng: { subjects: ['eng'] } },
  connections: { db: { roles: { eng: { classes: ['read', 'write', 'ddl', 'dcl', 'function', 'utility', 'transaction'], tables } } } },
}), {});

const userPath = 'CREATE FUNCTION g() RETURNS text LANGUAGE sql SET search_path = "$user", public AS $$ SELECT name FROM items $$';

describe('"$user" in a function\'s own SET search_path clause', () => {
  it('a deny pattern for the table in any schema refuses the body\'s unqualified name', () => {
    const d = engineWith({ allow: ['*'], deny: ['vault.*'] }).openSession(eng, 'db', 0).decide(userPath, 0);
    expect(d).toMatchObject({ action: 'deny', reason: expect.stringContaining('$user.items matches deny pattern vault.*') });
  });

  it('an allow list must cover every schema (`public.*` does not)', () => {
    expect(engineWith({ allow: ['public.*'] }).openSession(eng, 'db', 0).decide(userPath, 0)).toMatchObject({ action: 'deny', rule: expect.stringContaining('tables.allow') });
  });

  it('the same body with the schema written out is judged in it', () => {
    const s = engineWith({ allow: ['*'], deny: ['vault.*'] }).openSession(eng, 'db', 0);
    expect(s.decide(userPath.replace('"$user", public', 'public'), 0).action).toBe('allow');
    expect(s.decide(userPath.replace('"$user", public', 'vault'), 0).action).toBe('deny');
  });
});
