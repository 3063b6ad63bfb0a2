/**
 * The server's own search_path (src/policy/server-path.ts), shared by a listener's sessions: a schema it
 * names but the server skips (missing, or not usable) is judged in once a statement policy allows may make
 * it resolve, in every session, and in the rest of that statement's own string.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { policySection } from '../../../src/config/sections/policy.js';
import type { PolicyIdentity } from '../../../src/policy/evaluate.js';
import { loadParser } from '../../../src/policy/pg-parser.js';
import { PolicyEngine } from '../../../src/policy/policy-engine.js';
import { ServerPath } from '../../../src/policy/server-path.js';

beforeAll(async () => { await loadParser(); });

const eng: PolicyIdentity = { sub: 'eng', via: 'local' };
const engine = new PolicyEngine(policySection.parse({
  roles: { eng: { subjects: ['eng'] } },
  connections: { db: { roles: { eng: { classes: ['read', 'ddl', 'dcl', 'utility', 'transaction'], tables: { allow: ['public.*'] } } } } },
}), {});
const ALLOW_RULE = 'policy.connections.db.roles.eng.tables.allow';

function listener(): ServerPath {
  const sp = new ServerPath('alice');
  sp.update('"$user", public, vault', ['public']); // alice missing, vault not usable
  return sp;
}

describe('ServerPath', () => {
  it('sessions start from the schemas that resolve', () => {
    const ps = engine.openSession(eng, 'db', 0, { dbUser: 'alice', serverPath: listener() });
    expect(ps.searchPath).toEqual(['public']);
    expect(ps.decide('SELECT * FROM t', 0).action).toBe('allow');
  });

  for (const [what, sql, schema] of [
    ['CREATE SCHEMA named as the user', 'CREATE SCHEMA alice', 'alice'],
    ['CREATE SCHEMA AUTHORIZATION the user', 'CREATE SCHEMA AUTHORIZATION alice', 'alice'],
    ['ALTER SCHEMA … RENAME TO', 'ALTER SCHEMA public RENAME TO alice', 'alice'],
    ['GRANT USAGE ON SCHEMA', 'GRANT USAGE ON SCHEMA vault TO alice', 'vault'],
    ['GRANT of a role', 'GRANT vault_reader TO alice', 'vault'],
    ['SET ROLE', 'SET ROLE bob', 'alice'],
  ] as const) {
    it(`${what}: unqualified names are judged in ${schema} too, in every session of the listener`, () => {
      const sp = listener();
      const other = engine.openSession(eng, 'db', 0, { dbUser: 'alice', serverPath: sp });
      const ps = engine.openSession(eng, 'db', 0, { dbUser: 'alice', serverPath: sp });
      expect(other.decide('SELECT * FROM t', 0).action).toBe('allow');
      expect(ps.decide(sql, 0).action).toBe('allow');
      for (const s of [ps, other, engine.openSession(eng, 'db', 0, { dbUser: 'alice', serverPath: sp })]) {
        expect(s.decide('SELECT * FROM t', 0)).toMatchObject({ action: 'deny', rule: ALLOW_RULE });
        expect(s.resolveIn).toContain(schema);
        expect(s.decide('SELECT * FROM public.t', 0).action).toBe('allow');
      }
    });
  }

  it('a schema the path does not name changes nothing', () => {
    const sp = listener();
    const ps = engine.openSession(eng, 'db', 0, { dbUser: 'alice', serverPath: sp });
    expect(ps.decide('CREATE SCHEMA reports', 0).action).toBe('allow');
    expect(ps.decide('SELECT * FROM t', 0).action).toBe('allow');
  });

  it('later in the same string', () => {
    const ps = engine.openSession(eng, 'db', 0, { dbUser: 'alice', serverPath: listener() });
    expect(ps.decide('CREATE SCHEMA alice; SELECT * FROM t', 0)).toMatchObject({ action: 'deny', rule: ALLOW_RULE });
  });

  it('ALTER ROLE … SET search_path: later sessions judge in its schemas; a RESET makes the path stale until asked', () => {
    const sp = listener();
    const ps = engine.openSession(eng, 'db', 0, { dbUser: 'alice', serverPath: sp });
    expect(ps.decide("ALTER ROLE alice SET search_path = archive, public", 0).action).toBe('allow');
    const later = engine.openSession(eng, 'db', 0, { dbUser: 'alice', serverPath: sp });
    expect(later.decide('SELECT * FROM t', 0)).toMatchObject({ action: 'deny', rule: ALLOW_RULE });
    expect(later.resolveIn).toContain('archive');
    expect(sp.stale).toBe(false);
    expect(ps.decide('ALTER ROLE alice RESET search_path', 0).action).toBe('allow');
    expect(sp.stale).toBe(true);
    sp.update('public', ['public']);
    expect(sp.stale).toBe(false);
  });
});

describe('ALTER ROLE', () => {
  it('a membership, INHERIT or SUPERUSER counts; a password or a connection limit does not', () => {
    for (const [sql, counts] of [
      ['ALTER ROLE alice INHERIT', true], ['ALTER ROLE alice SUPERUSER', true], ['ALTER GROUP vault_readers ADD USER alice', true],
      ["ALTER ROLE alice PASSWORD 'x'", false], ['ALTER ROLE alice CONNECTION LIMIT 5', false], ['REVOKE vault_reader FROM alice', false],
    ] as const) {
      const ps = engine.openSession(eng, 'db', 0, { dbUser: 'alice', serverPath: listener() });
      expect(ps.decide(sql, 0).action, sql).toBe('allow');
      expect(ps.decide('SELECT * FROM t', 0).action, sql).toBe(counts ? 'deny' : 'allow');
    }
  });
});
