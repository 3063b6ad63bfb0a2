/**
 * Functions called as fields (attribute notation): `(expr).name` and `x.name` of a function in FROM are the calls
 * name(expr) and name(x) when the catalog has such a function. classify reports the names that may be calls
 * (StatementInfo.fieldCalls); decideStatement asks its `fieldFunctions` which are functions and policy judges
 * those as calls. The same attempts run against a real server through the proxy in
 * test/integration/policy-field-calls.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { policySection } from '../../../src/config/sections/policy.js';
import type { Statement } from '../../../src/pg/proxy/hooks.js';
import { classify } from '../../../src/policy/classify.js';
import { loadParser } from '../../../src/policy/pg-parser.js';
import { decideStatement } from '../../../src/policy/pg-policy-hooks.js';
import type { PolicyHooksOptions } from '../../../src/policy/pg-policy-hooks.js';
import { PolicyEngine } from '../../../src/policy/policy-engine.js';

beforeAll(async () => { await loadParser(); });

const fields = (sql: string) => classify(sql).statements.map((s) => s.fieldCalls ?? []);

describe('classify: names that may be calls written as fields', () => {
  it('every field of (expr).name, and q.name of a function in FROM or of a name no FROM item has', () => {
    expect(fields("select ('/etc/passwd').pg_read_file")).toEqual([['pg_read_file']]);
    expect(fields("select (('s'::regclass)).\"NextVal\", (t.b).f[1].g from t")).toEqual([['NextVal', 'f', 'g']]);
    expect(fields("select x.nextval, x.x from lower('s') x")).toEqual([['nextval', 'x']]);
    expect(fields("select lower.nextval from lower('s')")).toEqual([['nextval']]);
    expect(fields("select r.nextval from rows from (unnest(array['s']), lower('t')) as r")).toEqual([['nextval']]);
    expect(fields("select unnest.nextval, lower.n from rows from (unnest(array['s']), lower('t'))")).toEqual([['n', 'nextval']]);
    expect(fields("select coalesce.nextval from coalesce('s'::regclass)")).toEqual([['nextval']]);
    // In a CTE, a subquery, EXPLAIN ANALYZE, PREPARE, DECLARE, a view and a SQL function's body.
    for (const sql of ["with w as (select ('s'::regclass).nextval) select 1", "select (select ('s'::regclass).nextval)", "explain analyze select ('s'::regclass).nextval",
      "prepare p as select ('s'::regclass).nextval", "declare c cursor for select ('s'::regclass).nextval", "create view v as select ('s'::regclass).nextval",
      "create function f() returns bigint language sql as 'select (''s''::regclass).nextval'"]) expect(fields(sql), sql).toEqual([['nextval']]);
  });

  it('not q.name of a table, CTE, subquery, join, table function or ON CONFLICT\'s excluded: their rows are composite', () => {
    for (const sql of ['select t.a, z.b, q.c, j.d, w.e from t, u as z, (select 1 c) q, (t as t2 join u using (a)) as j, w', 'with w as (select 1 e) select w.e from w',
      'insert into t values (1) on conflict (a) do update set b = excluded.b', "select x.a from xmltable('/r' passing '<r/>' columns a int) x",
      'select t.* from public.t', 'select public.t.a from public.t', 'select 1']) expect(fields(sql), sql).toEqual([[]]);
  });

  it('not q.name of a function in FROM whose alias or column definitions give it a column name: a column is read first', () => {
    for (const sql of ['select r.timestamp from unnest(array[now()]) as r("timestamp")', "select src.tbloid from unnest('{1}'::oid[]) as src(tbloid)",
      "select r.a from jsonb_to_record('{}') as r(a int)", "select jsonb_to_record.a from jsonb_to_record('{}') as (a int)",
      "select r.a, r.b from rows from (jsonb_to_record('{}') as (a int), unnest(array[1]) as (b int)) as r"]) expect(fields(sql), sql).toEqual([[]]);
    // An alias list renames a defined column by position: a is no column then.
    expect(fields("select r.a, r.x from rows from (jsonb_to_record('{}') as (a int), unnest(array[1])) as r(x)")).toEqual([['a']]);
    // Another name, or a function of the same name without that column (an inner query's): still maybe a call.
    expect(fields("select r.nextval from unnest(array['s']) as r(x)")).toEqual([['nextval']]);
    expect(fields("select (select r.nextval from lower('s') r) from unnest(array[1]) as r(nextval)")).toEqual([['nextval']]);
    expect(fields("select r.nextval from unnest(array[1]) as r(nextval), lateral (select r.nextval from lower('s') r) q")).toEqual([['nextval']]);
  });
});

const policy = policySection.parse({
  roles: { ro: { subjects: ['ro'] }, seq: { subjects: ['seq'] } },
  connections: {
    db: {
      roles: {
        ro: { classes: ['read', 'utility', 'transaction'], tables: { allow: ['public.*'] } },
        seq: { classes: ['read', 'utility', 'transaction'], tables: { allow: ['public.*'] }, functions: { allow: ['nextval'] } },
      },
    },
  },
});
const engine = new PolicyEngine(policy, {});
const clock = { now: () => 1_700_000_000_000, micros: () => 1_700_000_000_000_000n };
const stmt = (sql: string): Statement => ({ n: 1, protocol: 'simple', sql, params: [] });

/** decideStatement for `who`, the catalog knowing `known` as functions (`catalog` false: no fieldFunctions at all). */
async function decide(sqls: string[], known: readonly string[] | false, who = 'ro') {
  const asked: string[][] = [];
  const o: PolicyHooksOptions = {
    engine, connection: 'db', clock,
    ...(known !== false ? { fieldFunctions: async (names: readonly string[]) => { asked.push([...names]); return names.filter((n) => known.includes(n)); } } : {}),
  };
  const ps = engine.openSession({ sub: who, via: 'local' }, 'db', clock.now());
  const out = [];
  for (const sql of sqls) out.push(await decideStatement(o, ps, 's1', stmt(sql)));
  return { out, asked, ps };
}

describe('decideStatement: names the catalog knows as functions are calls', () => {
  it('refuses (expr).name when name is a function, as a call of it', async () => {
    const { out, asked } = await decide(["select ('public.s'::regclass).nextval", "select x.pg_read_file from unnest(array['PG_VERSION']) x"], ['nextval', 'pg_read_file']);
    expect(out[0]).toMatchObject({ action: 'deny', message: expect.stringContaining('may not call nextval (class function)') });
    expect(out[1]).toMatchObject({ action: 'deny', message: expect.stringContaining('may not call pg_read_file (class function)') });
    expect(asked).toEqual([['nextval'], ['pg_read_file']]);
  });

  it('allows a field that names no function, and a call functions.allow names', async () => {
    expect((await decide(['select (p.home).city from public.people p'], ['nextval'])).out).toEqual([{ action: 'allow' }]);
    expect((await decide(["select ('public.s'::regclass).nextval"], ['nextval'], 'seq')).out).toEqual([{ action: 'allow' }]);
  });

  it('counts every such name as a call when the catalog cannot be asked (fail closed)', async () => {
    const { out } = await decide(['select (p.home).city from public.people p'], false);
    expect(out[0]).toMatchObject({ action: 'deny', message: expect.stringContaining('may not call city (class function)') });
    const failing: PolicyHooksOptions = { engine, connection: 'db', clock, fieldFunctions: () => Promise.reject(new Error('down')) };
    const ps = engine.openSession({ sub: 'ro', via: 'local' }, 'db', clock.now());
    expect(await decideStatement(failing, ps, 's1', stmt('select (p.home).city from public.people p'))).toMatchObject({ action: 'deny' });
  });

  it('judges an EXECUTE by its prepared statement\'s fields, and a FETCH of a bound portal by the portal\'s', async () => {
    // Prepared while the catalog had no function nextval (one created since): the EXECUTE is asked again.
    const { out, ps } = await decide(["prepare p as select ('public.s'::regclass).nextval"], []);
    expect(out).toEqual([{ action: 'allow' }]);
    const o: PolicyHooksOptions = { engine, connection: 'db', clock, fieldFunctions: async (names) => names.filter((n) => n === 'nextval') };
    expect(await decideStatement(o, ps, 's1', stmt('execute p'))).toMatchObject({ action: 'deny', message: expect.stringContaining('may not call nextval (class function)') });
    ps.transactionStatus('T');
    ps.portal('b', "select ('public.s'::regclass).nextval");
    expect(await decideStatement(o, ps, 's1', stmt('fetch b'))).toMatchObject({ action: 'deny', message: expect.stringContaining('may not call nextval (class function)') });
  });

  it('a PREPARE refused as a call leaves no prepared statement behind', async () => {
    const { out, ps } = await decide(["prepare p as select ('public.s'::regclass).nextval"], ['nextval']);
    expect(out[0]).toMatchObject({ action: 'deny' });
    expect(ps.prepared.has('p')).toBe(false);
  });
});
