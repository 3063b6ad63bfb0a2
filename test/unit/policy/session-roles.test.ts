/**
 * Policy keeps every role a session may have set (each names a schema in a search_path of "$user"), so it
 * follows at most MAX_SESSION_ROLES of them: a SET ROLE to one more is denied, in one string or over many.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { policySection } from '../../../src/config/sections/policy.js';
import { MAX_SESSION_ROLES } from '../../../src/policy/evaluate.js';
import { loadParser } from '../../../src/policy/pg-parser.js';
import { PolicyEngine } from '../../../src/policy/policy-engine.js';

beforeAll(async () => { await loadParser(); });

const engine = new PolicyEngine(policySection.parse({
  roles: { eng: { subjects: ['tester'] } },
  connections: { db: { roles: { eng: { classes: ['read', 'utility', 'transaction', 'dcl'], tables: { allow: ['*'] } } } } },
}), {});
const now = 1_700_000_000_000;
const setRoles = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `SET ROLE r${from + i}`).join('; ');

describe('roles a session may be', () => {
  it(`allows ${MAX_SESSION_ROLES} distinct roles in one string, and denies the string that sets one more`, () => {
    const ps = engine.openSession({ sub: 'tester', via: 'local' }, 'db', now);
    expect(ps.decide(setRoles(0, MAX_SESSION_ROLES), now, 'I').action).toBe('allow');
    const d = ps.decide(`${setRoles(0, MAX_SESSION_ROLES + 1)}; SET search_path = "$user"; SELECT 1 FROM t`, now, 'I');
    expect(d).toMatchObject({ action: 'deny', rule: 'pcigate.session_roles' });
    expect(d.reason).toContain(`statement ${MAX_SESSION_ROLES + 1} of ${MAX_SESSION_ROLES + 3}`);
    expect(d.reason).toContain(`r${MAX_SESSION_ROLES} would be one more; start a new session`);
  });

  it('counts the roles of earlier statements of the session, the upstream user among them, and a role set again is no new one', () => {
    const ps = engine.openSession({ sub: 'tester', via: 'local' }, 'db', now, { dbUser: 'app' });
    const first = setRoles(0, MAX_SESSION_ROLES - 1);
    expect(ps.decide(first, now, 'I').action).toBe('allow');
    ps.applied(first);
    // app and r0…r254: the session may be any of 256 roles now.
    expect(ps.decide('SET ROLE r0', now, 'I').action).toBe('allow');
    expect(ps.decide('SET ROLE app', now, 'I').action).toBe('allow');
    expect(ps.decide(`SET ROLE r${MAX_SESSION_ROLES - 1}`, now, 'I')).toMatchObject({ action: 'deny', rule: 'pcigate.session_roles' });
    expect(ps.decide('SET SESSION AUTHORIZATION other', now, 'I')).toMatchObject({ action: 'deny', rule: 'pcigate.session_roles' });
    expect(ps.decide('RESET ROLE', now, 'I').action).toBe('allow');
    expect(ps.decide('SET search_path = "$user", public', now, 'I').action).toBe('allow');
  });
});
