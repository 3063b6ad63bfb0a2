/**
 * `"$user"` in search_path is current_user, which SET ROLE and SET SESSION AUTHORIZATION change: policy
 * resolves unqualified names in the schema of every role the session may be when a path it may have names
 * `"$user"`, and only then.
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
  connections: { db: { roles: { eng: { classes: ['read', 'dcl', 'utility', 'transaction'], tables: { allow: ['public.*', 'app.*'] } } } } },
}), {});

describe('"$user" after a role change', () => {
  it('a startup path naming "$user": the role set is judged in', () => {
    const s = engine.openSession(eng, 'db', 0, { dbUser: 'app', searchPath: '"$user", public' });
    expect(s.decide('SELECT * FROM items', 0).action).toBe('allow');
    expect(s.decide('BEGIN; SET LOCAL ROLE x; ROLLBACK', 0).action).toBe('allow');
    expect(s.resolveIn).toContain('x');
    expect(s.decide('RESET ROLE', 0).action).toBe('allow');
    expect(s.decide('SELECT * FROM items', 0)).toMatchObject({ action: 'deny', reason: expect.stringContaining('public, app, x') });
  });

  it('in the same string, and for a path set after the role', () => {
    const s = () => engine.openSession(eng, 'db', 0, { dbUser: 'app', searchPath: '"$user", public' });
    expect(s().decide('SET ROLE x; SELECT * FROM items', 0).action).toBe('deny');
    const t = engine.openSession(eng, 'db', 0, { dbUser: 'app', searchPath: 'public' });
    expect(t.decide('SET SESSION AUTHORIZATION x; SELECT * FROM items', 0).action).toBe('allow');
    expect(t.decide('SET search_path = "$user"; SELECT * FROM items', 0).action).toBe('deny');
    expect(t.decide('SET search_path = "$user", public', 0).action).toBe('allow');
    expect(t.decide('SELECT * FROM items', 0)).toMatchObject({ action: 'deny', reason: expect.stringContaining('public, app, x') });
  });

  it('a path that never names "$user": nothing changes', () => {
    const s = engine.openSession(eng, 'db', 0, { dbUser: 'app', searchPath: 'public' });
    expect(s.decide('SET ROLE x', 0).action).toBe('allow');
    expect(s.decide('SET ROLE NONE', 0).action).toBe('allow');
    expect(s.decide('SELECT * FROM items', 0).action).toBe('allow');
    expect(s.resolveIn).toEqual(['public']);
  });

  it('the server\'s path naming "$user"', () => {
    const sp = new ServerPath('app');
    sp.update('"$user", public', ['public']);
    const s = engine.openSession(eng, 'db', 0, { dbUser: 'app', serverPath: sp });
    expect(s.decide("SELECT set_config('role', 'x', false)", 0).action).toBe('deny'); // set_config: a function the role may not call
    expect(s.decide('SET ROLE x', 0).action).toBe('allow');
    expect(s.decide('SELECT * FROM items', 0)).toMatchObject({ action: 'deny', reason: expect.stringContaining('x') });
  });
});
