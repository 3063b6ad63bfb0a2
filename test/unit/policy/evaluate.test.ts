import { beforeAll, describe, expect, it } from 'vitest';
import { policySection } from '../../../src/config/sections/policy.js';
import { checkSessionLimits } from '../../../src/policy/evaluate.js';
import type { PolicyIdentity } from '../../../src/policy/evaluate.js';
import { loadParser } from '../../../src/policy/pg-parser.js';
import { PolicyEngine } from '../../../src/policy/policy-engine.js';

beforeAll(async () => { await loadParser(); });

const policy = policySection.parse({
  roles: {
    support: { groups: ['support'] },
    dba: { groups: ['dba'], subjects: ['root@example.com'] },
  },
  connections: {
    'prod-db': {
      approvals: { groups: ['security'], min_approvals: 2 },
      session: { idle_timeout: '10m', max_duration: '1h', allowed_hours: { from: '08:00', to: '18:00', days: ['mon', 'tue', 'wed', 'thu', 'fri'], tz: 'UTC' } },
      roles: {
        support: {
          classes: ['read', 'transaction', 'utility'],
          tables: { allow: ['public.*'], deny: ['public.secrets'] },
          columns: { deny: ['cards.pan', 'cvv'] },
          require_approval: ['copy_out', 'unclassifiable'],
          approval_tables: ['public.audit_trail'],
        },
        dba: {
          classes: ['read', 'write', 'ddl', 'transaction', 'utility'],
          require_approval: ['write_without_where', 'ddl', 'function'],
        },
      },
    },
    mfa: { require_mfa: true, roles: { support: {} } },
  },
});

const support: PolicyIdentity = { sub: 'u-1', email: 'sam@example.com', groups: ['support'], via: 'oidc', mfa: true };
const dba: PolicyIdentity = { sub: 'u-2', groups: ['dba'], via: 'oidc', mfa: true };
const both: PolicyIdentity = { sub: 'u-3', groups: ['dba', 'support'], via: 'oidc', mfa: true };
const nobody: PolicyIdentity = { sub: 'u-4', groups: ['sales'], via: 'oidc', mfa: true };

describe('evaluate', () => {
  const engine = new PolicyEngine(policy, { 'prod-db': { approvers: ['dba-leads'] } });
  const d = (id: PolicyIdentity, sql: string, conn = 'prod-db') => engine.decide(id, conn, sql);

  it('allows reads in the allow list and names the rule', () => {
    const r = d(support, 'SELECT id, name FROM orders');
    expect(r.action).toBe('allow');
    expect(r.rule).toBe('policy.connections.prod-db.roles.support.classes');
  });

  it('denies classes the role lacks, mixed case and comments notwithstanding', () => {
    for (const sql of ['delete from orders where id = 1', 'DeLeTe /* x */ FROM orders WHERE id = 1', 'drop TABLE orders']) {
      const r = d(support, sql);
      expect(r.action).toBe('deny');
      expect(r.rule).toBe('policy.connections.prod-db.roles.support.classes');
    }
  });

  it('denies tables on the deny list and off the allow list', () => {
    expect(d(support, 'SELECT * FROM public.secrets').rule).toBe('policy.connections.prod-db.roles.support.tables.deny');
    expect(d(support, 'SELECT a FROM "Secrets"').action).toBe('allow'); // a different (quoted) table
    expect(d(support, 'SELECT a FROM secrets').rule).toMatch(/tables\.deny$/); // unqualified: any schema
    expect(d(support, 'SELECT a FROM internal.x').rule).toMatch(/tables\.allow$/);
  });

  it('denies denied columns, stars over tables with denied columns, and whole rows', () => {
    expect(d(support, 'SELECT pan FROM cards').rule).toMatch(/columns\.deny$/);
    expect(d(support, 'SELECT c.pan FROM cards c').rule).toMatch(/columns\.deny$/);
    expect(d(support, 'SELECT * FROM cards').action).toBe('deny');
    expect(d(support, 'SELECT c FROM cards c').action).toBe('deny');
    expect(d(support, 'SELECT U&"\\0070an" FROM cards').action).toBe('deny');
    expect(d(support, 'SELECT id, last4 FROM cards').action).toBe('allow');
    expect(d(support, 'SELECT pan FROM orders').action).toBe('allow'); // cards.pan only applies to cards
    expect(d(support, 'SELECT cvv FROM orders').action).toBe('deny'); // a bare column pattern applies everywhere
  });

  it('holds what require_approval lists, and approval_tables', () => {
    const r = d(support, 'COPY (SELECT id FROM orders) TO STDOUT');
    expect(r.action).toBe('hold');
    expect(r.rule).toBe('policy.connections.prod-db.roles.support.require_approval.copy_out');
    expect(d(support, 'SELECT id FROM audit_trail').rule).toBe('policy.connections.prod-db.roles.support.approval_tables');
    expect(d(support, 'LOAD \'x\'').rule).toMatch(/require_approval\.unclassifiable$/);
    expect(d(dba, 'LOAD \'x\'').action).toBe('deny');
    expect(d(dba, 'DELETE FROM orders').rule).toMatch(/require_approval\.write_without_where$/);
    expect(d(dba, 'DELETE FROM orders WHERE id = 3').action).toBe('allow');
    expect(d(dba, 'TRUNCATE orders').action).toBe('hold');
    expect(d(dba, 'CREATE INDEX ON orders (id)').rule).toMatch(/require_approval\.ddl$/);
  });

  it('the strictest statement of a multi-statement string wins', () => {
    const r = d(support, 'SELECT 1; DROP TABLE t');
    expect(r.action).toBe('deny');
    expect(r.reason).toMatch(/^statement 2 of 2/);
    expect(r.statements.map((s) => s.action)).toEqual(['allow', 'deny']);
    expect(d(support, '-- nothing here\nSELECT 1; /* hidden */ DELETE FROM orders WHERE id = 1').action).toBe('deny');
  });

  it('data-modifying CTE, SELECT INTO, EXPLAIN ANALYZE, DO, user functions are not reads', () => {
    expect(d(support, 'WITH d AS (DELETE FROM orders WHERE id = 1 RETURNING *) SELECT * FROM d').action).toBe('deny');
    expect(d(support, 'SELECT id INTO loot FROM orders').action).toBe('deny');
    expect(d(support, 'EXPLAIN ANALYZE DELETE FROM orders').action).toBe('deny');
    expect(d(support, 'EXPLAIN DELETE FROM orders').action).toBe('allow');
    expect(d(support, 'DO $$ BEGIN PERFORM 1; END $$').action).toBe('deny');
    const f = d(support, 'SELECT steal_cards()');
    expect(f.action).toBe('deny');
    expect(f.reason).toMatch(/steal_cards/);
    expect(d(support, "SELECT set_config('search_path', 'evil', false)").action).toBe('deny');
    expect(d(dba, 'SELECT my_fn()').rule).toMatch(/require_approval\.function$/);
    expect(d(support, 'SELECT count(*), lower(name) FROM orders').action).toBe('allow');
  });

  it('roles are unions: the most permissive role decides each statement', () => {
    expect(d(both, 'DELETE FROM orders WHERE id = 1').action).toBe('allow');
    expect(d(both, 'DELETE FROM orders WHERE id = 1').statements[0]!.role).toBe('dba');
  });

  it('identity gates: no role, no connection policy, MFA', () => {
    expect(d(nobody, 'SELECT 1').rule).toBe('policy.connections.prod-db.roles');
    expect(d(support, 'SELECT 1', 'other-db').rule).toBe('policy.connections');
    expect(d({ ...support, mfa: false }, 'SELECT 1', 'mfa').rule).toBe('policy.connections.mfa.require_mfa');
    expect(d(support, 'SELECT 1', 'mfa').action).toBe('allow');
    // One session (one view) whose identity's second factor changes between statements: the cached decision of
    // one state is never the other's (the engine keeps each session's cache context, policy-engine.ts contextKey).
    const who: PolicyIdentity = { ...support, mfa: false };
    const view = { searchPath: ['public'], prepared: new Map() };
    expect(engine.decide(who, 'mfa', 'SELECT 2', view).action).toBe('deny');
    who.mfa = true;
    expect(engine.decide(who, 'mfa', 'SELECT 2', view).action).toBe('allow');
    who.mfa = false;
    expect(engine.decide(who, 'mfa', 'SELECT 2', view).action).toBe('deny');
    const subj = engine.decide({ sub: 'x', email: 'root@example.com', via: 'oidc', mfa: true }, 'prod-db', 'DELETE FROM t WHERE id = 1');
    expect(subj.action).toBe('allow');
  });

  it('unparsable SQL is denied with the parser message, PAN masked', () => {
    const r = d(support, "SELEC '4111111111111111'");
    expect(r.action).toBe('deny');
    expect(r.rule).toBe('parse');
    expect(r.reason).toMatch(/syntax error/);
    expect(r.reason).not.toContain('4111111111111111');
  });

  it('caches decisions per SQL text and role set', () => {
    expect(d(support, 'SELECT 7 FROM orders')).toBe(d(support, 'SELECT 7 FROM orders'));
  });
});

describe('PolicySession', () => {
  const engine = new PolicyEngine(policy);
  const monday10 = Date.UTC(2026, 10, 23, 10, 0, 0);

  it('PREPARE then EXECUTE is decided as the prepared statement', () => {
    const s = engine.openSession(dba, 'prod-db', monday10);
    expect(s.decide('PREPARE p AS DELETE FROM orders', monday10).action).toBe('hold');
    expect(s.decide('PREPARE q AS DELETE FROM orders WHERE id = $1', monday10).action).toBe('allow');
    const sup = engine.openSession(support, 'prod-db', monday10);
    expect(sup.decide('PREPARE r AS DELETE FROM orders WHERE id = 1', monday10).action).toBe('deny');
    expect(sup.decide('EXECUTE r', monday10).action).toBe('hold'); // never prepared: unclassifiable → held
    expect(sup.decide('EXECUTE r', monday10).rule).toMatch(/unclassifiable/);
    expect(s.decide('EXECUTE q(1)', monday10).action).toBe('allow');
    expect(s.decide('DEALLOCATE q', monday10).action).toBe('allow');
    expect(s.decide('EXECUTE q(1)', monday10).action).toBe('deny');
  });

  it('SET search_path cannot make an unqualified name escape the allow list', () => {
    const s = engine.openSession(support, 'prod-db', monday10);
    expect(s.decide('SELECT id FROM orders', monday10).action).toBe('allow');
    expect(s.decide('SET search_path = evil, public', monday10).action).toBe('allow');
    expect(s.searchPath).toEqual(['evil', 'public']);
    const r = s.decide('SELECT id FROM orders', monday10);
    expect(r.action).toBe('deny');
    expect(r.rule).toMatch(/tables\.allow$/);
    s.decide('RESET search_path', monday10);
    expect(s.searchPath).toEqual(['public']);
    // The server may still have evil, public (a RESET can be rolled back too): evil.orders stays possible.
    expect(s.decide('SELECT id FROM orders', monday10).action).toBe('deny');
    expect(s.decide('SELECT id FROM public.orders', monday10).action).toBe('allow');
  });

  it('SET pcigate.reason is remembered', () => {
    const s = engine.openSession(support, 'prod-db', monday10);
    s.decide("SET pcigate.reason = 'INC-42 refund check'", monday10);
    expect(s.reason).toBe('INC-42 refund check');
  });

  it('session limits: idle timeout, maximum duration, allowed hours', () => {
    const s = engine.openSession(support, 'prod-db', monday10);
    expect(s.decide('SELECT 1', monday10 + 9 * 60_000).action).toBe('allow');
    const idle = s.decide('SELECT 1', monday10 + 20 * 60_000);
    expect(idle.rule).toBe('policy.connections.prod-db.session.idle_timeout');
    const times = { startedAt: monday10, lastActivity: monday10 + 61 * 60_000 };
    expect(checkSessionLimits(policy, 'prod-db', times, monday10 + 62 * 60_000)?.rule).toMatch(/max_duration$/);
    const sunday = Date.UTC(2026, 10, 22, 10, 0, 0);
    expect(checkSessionLimits(policy, 'prod-db', { startedAt: sunday, lastActivity: sunday }, sunday)?.rule).toMatch(/allowed_hours$/);
    const night = Date.UTC(2026, 10, 23, 19, 0, 0);
    expect(checkSessionLimits(policy, 'prod-db', { startedAt: night, lastActivity: night }, night)?.rule).toMatch(/allowed_hours$/);
  });

  it('approval settings merge the connection approvers', () => {
    const e = new PolicyEngine(policy, { 'prod-db': { approvers: ['dba-leads'] } });
    expect(e.approvalSettings('prod-db')).toMatchObject({ groups: ['dba-leads', 'security'], minApprovals: 2, windowMs: 0 });
  });

  it('the idle timeout may not exceed 15 minutes (PCI DSS 8.2.8)', () => {
    expect(policySection.safeParse({ connections: { x: { session: { idle_timeout: '30m' } } } }).success).toBe(false);
    expect(policySection.parse({ connections: { x: {} } }).connections.x!.session.idle_timeout).toBe(15 * 60_000);
  });
});
