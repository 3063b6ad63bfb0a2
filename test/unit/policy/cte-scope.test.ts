/**
 * The one CTE scoping rule (src/policy/cte-scope.ts) that the policy walk, the stored-values walk and COPY
 * planning share, on real parse trees: which relation names of a statement are tables and which its CTEs.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { forEachScoped, namesCte } from '../../../src/policy/cte-scope.js';
import { loadParser, parseStatements } from '../../../src/policy/pg-parser.js';

beforeAll(async () => { await loadParser(); });

/** Every RangeVar of `sql`'s one statement, as written, that names a table (not a CTE in scope), in tree order. */
function tables(sql: string): string[] {
  const parsed = parseStatements(sql);
  if ('error' in parsed) throw new Error(parsed.error.message);
  const out: string[] = [];
  forEachScoped(parsed.stmts[0]!.stmt, (_type, f, scope) => {
    if (typeof f.relname === 'string' && !namesCte(f, scope)) out.push(typeof f.schemaname === 'string' ? `${f.schemaname}.${f.relname}` : f.relname);
  });
  return out.sort();
}

describe('CTE scope', () => {
  it('a CTE is visible in its WITH\'s main statement, not in its own query unless RECURSIVE', () => {
    expect(tables('with x as (select 1) select * from x')).toEqual([]);
    expect(tables('with x as (select * from x) select * from x')).toEqual(['x']);
    expect(tables('with recursive x as (select 1 union all select * from x) select * from x')).toEqual([]);
  });

  it('later CTEs of a WITH see earlier ones; earlier ones see the table of a later one\'s name unless RECURSIVE', () => {
    expect(tables('with a as (select * from b), b as (select * from a) select * from b')).toEqual(['b']);
    expect(tables('with recursive a as (select * from b), b as (select 1) select * from a')).toEqual([]);
  });

  it('a WITH in a subquery scopes its names to that subquery; an inner CTE\'s query sees the outer CTE of its name', () => {
    expect(tables('select * from x, (with x as (select 1) select * from x) s')).toEqual(['x']);
    expect(tables('select * from (with x as (select 1) select * from x) s where exists (select 1 from x)')).toEqual(['x']);
    expect(tables('with x as (select 1) select * from (with x as (select * from x) select * from x) s')).toEqual([]);
    expect(tables('select (with x as (select 1) select * from x), (select 1 from x)')).toEqual(['x']);
  });

  it('a schema-qualified name, and the target of INSERT, UPDATE, DELETE, MERGE or SELECT INTO, is always a table', () => {
    expect(tables('with x as (select 1) select * from (select * from x) a, public.x')).toEqual(['public.x']);
    expect(tables('with x as (select 1) delete from x using x y')).toEqual(['x']);
    expect(tables('with x as (select 1) update x set a = 1 from x y')).toEqual(['x']);
    expect(tables('with x as (select 1) insert into x select * from x')).toEqual(['x']);
    expect(tables('with x as (select 1) merge into x using x y on true when matched then delete')).toEqual(['x']);
    expect(tables('with x as (select 1) select * into x from x')).toEqual(['x']);
  });

  it('a set operation\'s arms and a data-modifying CTE are scoped alike', () => {
    expect(tables('with x as (select 1) select * from x union all (with y as (select 1) select * from y, x) union select * from y')).toEqual(['y']);
    expect(tables('with d as (delete from x returning *), x as (select 1) select * from d, x')).toEqual(['x']);
  });
});
