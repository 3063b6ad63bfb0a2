/**
 * Which statements are COPY … TO STDOUT and how their rows are written (src/broker/pg-copy-plan.ts), read
 * from the real PostgreSQL parse tree: both forms, the option syntaxes, and the query text of the query form
 * cut out with the server's own scanner (parentheses inside strings, dollar quotes and comments).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { copyOutQuery } from '../../../src/broker/pg-copy-plan.js';

const copyOutStatements = (sql: string) => copyOutQuery(sql).copies;
import { loadParser } from '../../../src/policy/pg-parser.js';

beforeAll(async () => { await loadParser(); });

describe('copyOutStatements', () => {
  it('finds the table form with its relation and column list, quoted as the server resolved them', () => {
    expect(copyOutStatements('COPY public.Cards (ID, "Cvv") TO STDOUT')).toEqual([
      { relation: '"public"."cards"', columns: ['id', 'Cvv'], unqualified: [], binary: false, csv: false, header: false },
    ]);
  });

  it('reads format, delimiter and header in the new and the legacy syntax', () => {
    expect(copyOutStatements(`copy t to stdout with (format csv, header, delimiter ';')`)[0]).toMatchObject({ csv: true, header: true, delimiter: ';' });
    expect(copyOutStatements('copy t to stdout csv header')[0]).toMatchObject({ csv: true, header: true });
    expect(copyOutStatements('copy t to stdout (format csv, header false)')[0]).toMatchObject({ csv: true, header: false });
    expect(copyOutStatements('copy t to stdout (format binary)')[0]).toMatchObject({ binary: true, csv: false });
    expect(copyOutStatements(`copy t to stdout delimiter '|'`)[0]).toMatchObject({ csv: false, delimiter: '|' });
  });

  it('cuts the query of the query form out exactly, whatever its strings and comments hold', () => {
    const q = `select ')' as a, $x$ ) ( $x$ as b, "we)ird" /* ) */ from t where c = 'é)'`;
    expect(copyOutStatements(`copy ( ${q} ) to stdout`)).toEqual([{ query: ` ${q} `, columns: [], unqualified: ['t'], routines: { functions: [], types: [] }, binary: false, csv: false, header: false }]);
  });

  it('takes each statement of a query string on its own; COPY FROM, to a file or program, and other statements are not it', () => {
    const all = copyOutStatements(`select 1; copy a to stdout; copy (select 2) to stdout (format binary); copy b from stdin; copy c to '/tmp/x'; copy d to program 'cat'`);
    expect(all.map((c) => c.relation ?? c.query)).toEqual(['"a"', 'select 2']);
    expect(copyOutStatements('select copy from copies')).toEqual([]);
    expect(copyOutStatements('copy oops (')).toEqual([]);
  });

  it('names the relations the session resolves through its search_path: unqualified ones, not CTEs, in subqueries and set operations too', () => {
    expect(copyOutStatements('copy "My Cards" to stdout')[0]).toMatchObject({ relation: '"My Cards"', unqualified: ['My Cards'] });
    const q = copyOutStatements(`copy (with w as (select 1 from a) select * from w join s.b using (x) where exists (select 1 from c) union all select * from "D") to stdout`)[0]!;
    expect(q.unqualified.sort()).toEqual(['D', 'a', 'c']);
    expect(copyOutStatements(`copy (select lower(x)::my_t, s.f(y), pg_catalog.upper(z)::pg_catalog.int4 from g(1)) to stdout`)[0]!.routines)
      .toEqual({ functions: ['lower', 'g'], types: ['my_t'] });
  });

  it('leaves out a CTE\'s name only where the CTE is in scope: elsewhere it is a table the session resolves', () => {
    const unqualified = (q: string) => copyOutStatements(`copy (${q}) to stdout`)[0]!.unqualified.sort();
    expect(unqualified('with cards as (select * from cards) select * from cards')).toEqual(['cards']);
    expect(unqualified('select * from cards, (with cards as (select 1) select * from cards) x')).toEqual(['cards']);
    expect(unqualified('with a as (select * from cards), cards as (select 1) select * from a')).toEqual(['cards']);
    expect(unqualified('with cards as (select 1) insert into cards select * from cards returning *')).toEqual(['cards']);
    // In scope: the main statement, a later CTE, its own query when RECURSIVE, an inner WITH's query.
    expect(unqualified('with cards as (select 1), b as (select * from cards) select * from b, cards')).toEqual([]);
    expect(unqualified('with recursive cards as (select 1 union all select * from cards) select * from cards')).toEqual([]);
    expect(unqualified('with cards as (select 1) select * from (with x as (select * from cards) select * from x) s')).toEqual([]);
  });
});

describe('copyOutQuery', () => {
  it('tells whether other statements than SET and SHOW share the COPY\'s query string (they run before it, in one transaction)', () => {
    expect(copyOutQuery('set search_path to app; show search_path; copy t to stdout')).toMatchObject({ others: false });
    expect(copyOutQuery('alter table t add column x int; copy t to stdout')).toMatchObject({ others: true });
    expect(copyOutQuery('begin; copy t to stdout')).toMatchObject({ others: true });
    expect(copyOutQuery('copy t to stdout').copies).toHaveLength(1);
  });
});
