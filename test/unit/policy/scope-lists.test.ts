/**
 * The shared structures that keep policy's per-statement work linear in the SQL a client sends: the CTE scope
 * of a WITH (cte-scope.ts withScopes: one map of its names, not a copy per CTE), the path lists evaluate and
 * PolicySession.applied grow in place (name-match.ts PathList, the same lists as unionPath's), and the undo log
 * of refusedAfterAllow (the entries changed, not copies of the maps). Each is checked against what the copies gave.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { policySection } from '../../../src/config/sections/policy.js';
import { NO_CTES, withScopes } from '../../../src/policy/cte-scope.js';
import type { CteScope } from '../../../src/policy/cte-scope.js';
import { PathList, unionPath } from '../../../src/policy/name-match.js';
import { loadParser } from '../../../src/policy/pg-parser.js';
import { PolicyEngine } from '../../../src/policy/policy-engine.js';

beforeAll(async () => { await loadParser(); });

/** A small deterministic generator, so a failure names its case. */
function random(seed: number): (n: number) => number {
  let s = seed;
  return (n) => { s = (s * 1103515245 + 12345) & 0x7fffffff; return s % n; };
}

const withClause = (names: Array<string | undefined>, recursive: boolean) => ({
  recursive, ctes: names.map((ctename, i) => ({ CommonTableExpr: { ...(ctename !== undefined ? { ctename } : {}), ctequery: { q: i } } })),
});

describe('withScopes', () => {
  it('each CTE sees the outer names and those before it (all of them when RECURSIVE), the body all', () => {
    const outer = withScopes(withClause(['o'], false), NO_CTES).body;
    const w = withScopes(withClause(['a', 'b', 'a', undefined, 'c'], false), outer);
    const sees = (s: CteScope) => ['o', 'a', 'b', 'c', 'x'].filter((n) => s.has(n));
    expect(w.ctes.map((c) => sees(c.scope))).toEqual([['o'], ['o', 'a'], ['o', 'a', 'b'], ['o', 'a', 'b'], ['o', 'a', 'b']]);
    expect(w.ctes.map((c) => c.query)).toEqual([0, 1, 2, 3, 4].map((q) => ({ q })));
    expect(sees(w.body)).toEqual(['o', 'a', 'b', 'c']);
    const r = withScopes(withClause(['a', 'b'], true), NO_CTES);
    expect(r.ctes.map((c) => sees(c.scope))).toEqual([['a', 'b'], ['a', 'b']]);
    expect(withScopes(undefined, outer).body).toBe(outer);
  });

  it('matches a copy of the names before each CTE on random WITHs nested in one another', () => {
    const rnd = random(7);
    const pool = ['a', 'b', 'c', 'd', 'e', 'f'];
    for (let round = 0; round < 300; round++) {
      let scope: CteScope = NO_CTES;
      let names = new Set<string>();
      for (let depth = 1 + rnd(4); depth > 0; depth--) {
        const list = Array.from({ length: rnd(6) }, () => (rnd(8) === 0 ? undefined : pool[rnd(pool.length)]));
        const recursive = rnd(3) === 0;
        const w = withScopes(withClause(list, recursive), scope);
        const seen = new Set(names);
        if (recursive) for (const n of list) if (n !== undefined) seen.add(n);
        list.forEach((n, i) => {
          expect(pool.filter((x) => w.ctes[i]!.scope.has(x)), `round ${round}, CTE ${i}`).toEqual(pool.filter((x) => seen.has(x)));
          if (n !== undefined) seen.add(n);
        });
        expect(pool.filter((x) => w.body.has(x))).toEqual(pool.filter((x) => seen.has(x)));
        // The next WITH nests in a random CTE's query or in the body.
        const into = rnd(list.length + 1);
        scope = into < list.length ? w.ctes[into]!.scope : w.body;
        names = new Set(pool.filter((x) => scope.has(x)));
      }
    }
  });
});

describe('PathList', () => {
  it('is unionPath applied add after add, repeats in its start dropped', () => {
    const rnd = random(11);
    for (let round = 0; round < 500; round++) {
      const list = () => Array.from({ length: rnd(5) }, () => `s${rnd(8)}`);
      const start = list();
      const p = new PathList(start);
      let expected = unionPath(start, []);
      expect(p.items).toEqual(expected);
      for (let k = rnd(6); k > 0; k--) {
        const more = list();
        expected = unionPath(expected, more);
        expect(p.add(more)).toEqual(expected);
        for (let i = 0; i < 8; i++) expect(p.has(`s${i}`)).toBe(expected.includes(`s${i}`));
      }
      expect(start).not.toBe(p.items); // a copy: the list it started from does not change
    }
  });
});

describe('refusedAfterAllow after other changes', () => {
  const engine = new PolicyEngine(policySection.parse({
    roles: { eng: { subjects: ['tester'] } },
    connections: { db: { roles: { eng: { classes: ['read', 'write', 'transaction', 'utility'], tables: { deny: ['vault.*'] } } } } },
  }), {});
  const now = 1_700_000_000_000;

  it('puts back what the maps held before the statement, whatever changed them since, and only that', () => {
    const ps = engine.openSession({ sub: 'tester', via: 'local' }, 'db', now);
    ps.decide('prepare p as select 1; prepare q as select 2', now, 'I');
    ps.decide('begin; declare c cursor with hold for select 3; declare d cursor for select 4', now, 'I');
    const snapshot = () => ({
      prepared: [...ps.prepared].map(([k, v]) => [k, v.text]).sort(),
      cursors: [...ps.cursors].map(([k, v]) => [k, v.text, v.declare.bound ?? false]).sort(),
    });
    const before = snapshot();
    expect(ps.decide('deallocate all; prepare r as select 5; close d; declare e cursor for select 6; prepare p as select 7', now, 'T').action).toBe('allow');
    ps.portal('c', 'select 8'); // a Bind after it: the copy the undo used to be was taken before this too
    ps.portal('f', 'select 9');
    ps.transactionStatus('I');
    expect(snapshot()).not.toEqual(before);
    ps.refusedAfterAllow();
    expect(snapshot()).toEqual(before);
    ps.refusedAfterAllow(); // once only
    expect(snapshot()).toEqual(before);
  });
});
