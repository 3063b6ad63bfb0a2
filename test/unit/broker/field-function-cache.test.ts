/**
 * The listener's answers to "which names written as fields are functions" (FieldFunctionCache): each name is asked
 * on a side connection once a minute at most, names asked together share one query, DDL drops the answers, and a
 * failed lookup is not kept (the caller fails closed, the next statement asks again). The lookup here is a fake
 * that counts its queries; decideStatement goes through it as the broker wires it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { FieldFunctionCache, FIELD_FUNCTIONS_TTL_MS } from '../../../src/broker/field-function-cache.js';
import { policySection } from '../../../src/config/sections/policy.js';
import { loadParser } from '../../../src/policy/pg-parser.js';
import { decideStatement } from '../../../src/policy/pg-policy-hooks.js';
import { PolicyEngine } from '../../../src/policy/policy-engine.js';

beforeAll(async () => { await loadParser(); });

/** A fake side lookup: `functions` are functions; every query is recorded; `fail` makes the next ones reject. */
function fakeLookup(functions: string[]) {
  const queries: string[][] = [];
  const state = { fail: false };
  const lookup = async (names: readonly string[]) => {
    queries.push([...names]);
    if (state.fail) throw new Error('side connection refused');
    return names.filter((n) => functions.includes(n));
  };
  return { queries, state, lookup, functions };
}

function clock() {
  let t = 1_700_000_000_000;
  return { now: () => t, micros: () => BigInt(t) * 1000n, advance: (ms: number) => { t += ms; } };
}

describe('FieldFunctionCache', () => {
  it('asks each name once, functions and non-functions alike, until the TTL passes', async () => {
    const f = fakeLookup(['nextval']);
    const c = clock();
    const cache = new FieldFunctionCache(f.lookup, c.now);
    for (let i = 0; i < 5; i++) expect(await cache.functions(['nextval', 'x'])).toEqual(['nextval']);
    expect(f.queries).toEqual([['nextval', 'x']]);
    c.advance(FIELD_FUNCTIONS_TTL_MS - 1);
    await cache.functions(['x']);
    expect(f.queries).toHaveLength(1);
    c.advance(1);
    expect(await cache.functions(['x', 'nextval'])).toEqual(['nextval']);
    expect(f.queries).toEqual([['nextval', 'x'], ['x', 'nextval']]);
  });

  it('batches names asked in the same event-loop turn into one query', async () => {
    const f = fakeLookup(['nextval']);
    const cache = new FieldFunctionCache(f.lookup, clock().now);
    const answers = await Promise.all([cache.functions(['a']), cache.functions(['nextval', 'a']), cache.functions(['b'])]);
    expect(answers).toEqual([[], ['nextval'], []]);
    expect(f.queries).toEqual([['a', 'nextval', 'b']]);
  });

  it('asks again after forget(), and keeps nothing a lookup under way answered', async () => {
    const f = fakeLookup([]);
    const cache = new FieldFunctionCache(f.lookup, clock().now);
    expect(await cache.functions(['fresh'])).toEqual([]);
    cache.forget();
    f.functions.push('fresh'); // CREATE FUNCTION fresh(text) …
    expect(await cache.functions(['fresh'])).toEqual(['fresh']);
    expect(f.queries).toHaveLength(2);
    // Asked while the catalog changes: the answer may predate the change, so it is not kept.
    const pending = cache.functions(['other']);
    cache.forget();
    await pending;
    await cache.functions(['other']);
    expect(f.queries).toHaveLength(4);
  });

  it('does not keep a failure: it rejects, and the next call asks again', async () => {
    const f = fakeLookup(['nextval']);
    const cache = new FieldFunctionCache(f.lookup, clock().now);
    f.state.fail = true;
    await expect(cache.functions(['nextval'])).rejects.toThrow('side connection refused');
    f.state.fail = false;
    expect(await cache.functions(['nextval'])).toEqual(['nextval']);
    expect(f.queries).toHaveLength(2);
  });
});

describe('decideStatement through the cache', () => {
  const engine = new PolicyEngine(policySection.parse({
    roles: { ro: { subjects: ['ro'] } },
    connections: { db: { roles: { ro: { classes: ['read', 'utility', 'transaction'], tables: { allow: ['public.*'] } } } } },
  }), {});

  it('repeated statements (pgjdbc getPrimaryKeys) cost one side query; a failed lookup still refuses', async () => {
    const f = fakeLookup(['nextval']);
    const c = clock();
    const cache = new FieldFunctionCache(f.lookup, c.now);
    const o = { engine, connection: 'db', clock: c, fieldFunctions: (names: readonly string[]) => cache.functions(names) };
    const ps = engine.openSession({ sub: 'ro', via: 'local' }, 'db', c.now());
    const stmt = (sql: string) => ({ n: 1, protocol: 'extended' as const, sql, params: [] });
    const keys = 'select (i.keys).x, (i.keys).n from (select information_schema._pg_expandarray(array[1]) as keys) i';
    for (let i = 0; i < 10; i++) expect(await decideStatement(o, ps, 's1', stmt(keys))).toEqual({ action: 'allow' });
    expect(await decideStatement(o, ps, 's1', stmt("select ('public.s'::regclass).nextval"))).toMatchObject({ action: 'deny' });
    expect(await decideStatement(o, ps, 's1', stmt("select ('public.s'::regclass).nextval"))).toMatchObject({ action: 'deny' });
    expect(f.queries).toEqual([['n', 'x'], ['nextval']]);
    c.advance(FIELD_FUNCTIONS_TTL_MS);
    f.state.fail = true;
    expect(await decideStatement(o, ps, 's1', stmt(keys))).toMatchObject({ action: 'deny', message: expect.stringContaining('(class function)') });
    f.state.fail = false;
    expect(await decideStatement(o, ps, 's1', stmt(keys))).toEqual({ action: 'allow' });
    expect(f.queries).toHaveLength(4);
  });
});
