/**
 * PolicySession.refusedAfterAllow: a statement policy allowed (and took the effects of) that the broker then
 * refused leaves no cursor or prepared statement behind, and nothing older is put back by a later refusal. The
 * proxy path (a refused PREPARE and DECLARE WITH HOLD, the CVV of the server's earlier one kept masked) is in
 * test/integration/pg-refused-effects.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { policySection } from '../../../src/config/sections/policy.js';
import { loadParser } from '../../../src/policy/pg-parser.js';
import { PolicyEngine } from '../../../src/policy/policy-engine.js';

beforeAll(async () => { await loadParser(); });

const engine = new PolicyEngine(policySection.parse({
  roles: { eng: { subjects: ['tester'] } },
  connections: { db: { roles: { eng: { classes: ['read', 'write', 'transaction', 'utility'], tables: { deny: ['vault.*'] } } } } },
}), {});
const now = 1_700_000_000_000;
const session = () => engine.openSession({ sub: 'tester', via: 'local' }, 'db', now);

describe('refusedAfterAllow', () => {
  it('puts back the prepared statements and cursors the refused statement made or dropped', () => {
    const ps = session();
    ps.decide("prepare p as select cvv || '' from cards", now, 'I');
    ps.decide('begin', now, 'I');
    ps.decide('declare c cursor for select cvv from cards', now, 'T');
    const before = { p: ps.prepared.get('p')?.text, c: ps.cursors.get('c')?.text };
    expect(ps.decide('prepare p as select 1; declare c cursor for select 2; commit', now, 'T').action).toBe('allow');
    expect(ps.prepared.get('p')?.text).not.toBe(before.p);
    ps.refusedAfterAllow();
    expect({ p: ps.prepared.get('p')?.text, c: ps.cursors.get('c')?.text }).toEqual(before);
  });

  it('does nothing after a statement policy itself refused, or once used', () => {
    const ps = session();
    ps.decide('prepare p as select 1', now, 'I');
    expect(ps.decide('prepare q as select * from vault.keys', now, 'I').action).toBe('deny');
    ps.refusedAfterAllow(); // the PREPARE of p was not the statement refused
    expect(ps.prepared.has('p')).toBe(true);
    ps.decide('deallocate p', now, 'I');
    ps.refusedAfterAllow();
    ps.refusedAfterAllow();
    expect(ps.prepared.has('p')).toBe(true);
  });
});
