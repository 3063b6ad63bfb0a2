import { beforeAll, describe, expect, it } from 'vitest';
import { classify } from '../../../src/policy/classify.js';
import type { StatementInfo } from '../../../src/policy/classify.js';
import { loadParser } from '../../../src/policy/pg-parser.js';

beforeAll(async () => { await loadParser(); });

function one(sql: string): StatementInfo {
  const c = classify(sql);
  expect(c.error).toBeUndefined();
  expect(c.statements).toHaveLength(1);
  return c.statements[0]!;
}

describe('classify: basic classes', () => {
  it('reads, writes, ddl, dcl, transaction, utility', () => {
    expect(one('SELECT a FROM t').kind).toBe('read');
    expect(one('insert into t values (1)').kind).toBe('write');
    expect(one('CREATE TABLE x (a int)').kind).toBe('ddl');
    expect(one('GRANT SELECT ON t TO r').kind).toBe('dcl');
    expect(one('ALTER ROLE r WITH SUPERUSER').kind).toBe('dcl');
    expect(one('SET ROLE postgres').kind).toBe('dcl');
    expect(one('BEGIN').kind).toBe('transaction');
    expect(one('SHOW work_mem').kind).toBe('utility');
    expect(one('LOAD \'evil\'').kind).toBe('unknown');
  });

  it('records tables, columns and functions', () => {
    const s = one('SELECT o.id, lower(c.name), my_fn(1) FROM public.orders o JOIN customers c ON c.id = o.cid');
    expect(s.reads).toEqual(['customers', 'public.orders']);
    expect(s.columns).toEqual(expect.arrayContaining(['o.id', 'c.name', 'c.id', 'o.cid']));
    expect(s.functions).toEqual(['lower', 'my_fn']);
    expect(s.userFunctions).toEqual(['my_fn']);
  });

  it('flags writes without a row-restricting WHERE', () => {
    expect(one('DELETE FROM t').writeWithoutWhere).toBe(true);
    expect(one('DELETE FROM t WHERE 1 = 1').writeWithoutWhere).toBe(true);
    expect(one('UPDATE t SET a = 1 WHERE id = 7').writeWithoutWhere).toBe(false);
    expect(one('TRUNCATE t').writeWithoutWhere).toBe(true);
    expect(one('UPDATE t SET a = 1 WHERE id = 7').writes).toEqual(['t']);
  });
});

describe('classify: bypass corpus', () => {
  it('mixed case is the same statement', () => {
    const s = one('dRoP TaBlE Cards');
    expect(s.kind).toBe('ddl');
    expect(s.writes).toEqual(['cards']);
  });

  it('comments inside a statement do not hide it; comments splitting a keyword do not parse', () => {
    const s = one('DELETE/* hi */FROM/**/t');
    expect(s.kind).toBe('write');
    expect(s.writeWithoutWhere).toBe(true);
    const c = classify('DEL/**/ETE FROM t');
    expect(c.error?.message).toMatch(/syntax error/);
    expect(c.statements).toEqual([]);
  });

  it('quoted identifiers keep case; unquoted fold', () => {
    expect(one('SELECT * FROM "Cards"').reads).toEqual(['Cards']);
    expect(one('SELECT * FROM "cards"').reads).toEqual(['cards']);
    expect(one('SELECT * FROM CARDS').reads).toEqual(['cards']);
  });

  it('Unicode-escaped identifiers are decoded', () => {
    const s = one('SELECT U&"\\0070an" FROM U&"c\\0061rds"');
    expect(s.reads).toEqual(['cards']);
    expect(s.columns).toContain('pan');
  });

  it('a data-modifying CTE inside a SELECT is a write', () => {
    const s = one('WITH d AS (DELETE FROM cards RETURNING *) SELECT * FROM d');
    expect(s.kind).toBe('write');
    expect(s.classes).toEqual(['write', 'read']);
    expect(s.writes).toEqual(['cards']);
    expect(s.writeWithoutWhere).toBe(true);
    expect(s.reads).not.toContain('d');
  });

  it('a CTE name in one scope does not hide the real table in another', () => {
    const s = one('SELECT * FROM (WITH cards AS (SELECT 1) SELECT * FROM cards) a, cards');
    expect(s.reads).toEqual(['cards']);
    const t = one('WITH x AS (SELECT * FROM cards) SELECT * FROM x');
    expect(t.reads).toEqual(['cards']);
  });

  it('the target of INSERT, UPDATE, DELETE, MERGE and SELECT INTO is a table even where a CTE has its name', () => {
    // analyze.c setTargetTable: the server writes (and RETURNING reads) the table, not the CTE.
    for (const sql of ['WITH cards AS (SELECT 1) DELETE FROM cards WHERE id > 0 RETURNING pan', 'WITH cards AS (SELECT 1) UPDATE cards SET id = 1 WHERE id > 0',
      'WITH cards AS (SELECT 1) MERGE INTO cards c USING items i ON c.id = i.id WHEN MATCHED THEN DELETE']) {
      expect(one(sql).writes, sql).toEqual(['cards']);
      expect(one(sql).reads, sql).toContain('cards');
    }
    expect(one("WITH cards AS (SELECT 1) INSERT INTO cards VALUES ('x')").writes).toEqual(['cards']);
    expect(one('WITH loot AS (SELECT 1) SELECT pan INTO loot FROM cards').writes).toEqual(['loot']);
    // Elsewhere in it the CTE is what the name means.
    expect(one('WITH cards AS (SELECT 1 AS id) UPDATE items SET id = cards.id FROM cards').reads).toEqual(['items']);
  });

  it('LOCK above ACCESS SHARE and SELECT … FOR UPDATE / SHARE are writes (PostgreSQL asks UPDATE privilege for them)', () => {
    for (const sql of ['LOCK cards', 'LOCK TABLE cards IN ROW SHARE MODE', 'LOCK TABLE cards IN ACCESS EXCLUSIVE MODE NOWAIT', 'SELECT * FROM cards FOR UPDATE',
      'SELECT id FROM cards FOR KEY SHARE OF cards SKIP LOCKED', 'SELECT * FROM (SELECT * FROM cards FOR NO KEY UPDATE) c', 'WITH c AS (SELECT * FROM cards FOR SHARE) SELECT * FROM c']) {
      expect(one(sql).classes, sql).toContain('write');
      expect(one(sql).reads, sql).toEqual(['cards']);
    }
    expect(one('LOCK TABLE cards IN ACCESS SHARE MODE').classes).toEqual(['utility']);
    // VACUUM FULL takes ACCESS EXCLUSIVE too (of every table, when none is named); plain VACUUM and ANALYZE do not.
    for (const sql of ['VACUUM FULL', 'VACUUM FULL cards', 'VACUUM (FULL, ANALYZE) cards', 'VACUUM (FULL true) cards']) expect(one(sql).classes, sql).toEqual(['write', 'utility']);
    for (const sql of ['VACUUM cards', 'ANALYZE', "VACUUM (FULL 'off') cards", 'VACUUM (ANALYZE) cards']) expect(one(sql).classes, sql).toEqual(['utility']);
    // FULL 'on' and 'off' differ in a constant only: neither may take the other's decision.
    expect(one("VACUUM (FULL 'on') cards").readsConstants).toBe(true);
    expect(one("SELECT 'for update' FROM cards").classes).toEqual(['read']);
  });

  it('SELECT … INTO creates and writes a table', () => {
    const s = one('SELECT pan INTO loot FROM cards');
    expect(s.classes).toEqual(['ddl', 'write', 'read']);
    expect(s.writes).toEqual(['loot']);
    expect(s.reads).toEqual(['cards']);
  });

  it('COPY (SELECT pan …) TO STDOUT is a copy-out reading cards', () => {
    const s = one('COPY (SELECT pan FROM cards) TO STDOUT');
    expect(s.kind).toBe('copy_out');
    expect(s.reads).toEqual(['cards']);
    expect(s.columns).toContain('pan');
    const t = one('copy cards to stdout');
    expect(t.columns).toContain('cards.*');
    expect(one('COPY cards FROM STDIN').kind).toBe('copy_in');
    expect(one("COPY cards TO '/tmp/x'").classes).toContain('unknown');
  });

  it('EXPLAIN ANALYZE DELETE is a delete; plain EXPLAIN is a read', () => {
    const s = one('EXPLAIN ANALYZE DELETE FROM cards');
    expect(s.kind).toBe('write');
    expect(s.writes).toEqual(['cards']);
    expect(s.explainAnalyze).toBe(true);
    expect(one('EXPLAIN (ANALYZE, BUFFERS) DELETE FROM cards').kind).toBe('write');
    const p = one('EXPLAIN DELETE FROM cards');
    expect(p.kind).toBe('read');
    expect(p.writes).toEqual([]);
    expect(one('EXPLAIN (ANALYZE false) DELETE FROM cards').kind).toBe('read');
  });

  it('PREPARE carries the prepared statement; EXECUTE names it', () => {
    const c = classify('PREPARE p AS DELETE FROM cards; EXECUTE p');
    expect(c.statements).toHaveLength(2);
    expect(c.statements[0]!.kind).toBe('write');
    expect(c.statements[0]!.prepare?.name).toBe('p');
    expect(c.statements[1]!.execute).toBe('p');
  });

  it('DO and CALL run code', () => {
    expect(one('DO $$ BEGIN DELETE FROM cards; END $$').kind).toBe('function');
    expect(one('CALL purge(1)').kind).toBe('function');
    expect(one('CALL purge(1)').functions).toEqual(['purge']);
  });

  it('CREATE FUNCTION is DDL; calling it is a user function', () => {
    expect(one("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'DELETE FROM cards RETURNING 1'").kind).toBe('ddl');
    expect(one('SELECT f()').userFunctions).toEqual(['f']);
    expect(one("SELECT set_config('search_path', 'evil', false)").userFunctions).toEqual(['set_config']);
  });

  it('a multi-statement string yields every statement', () => {
    const c = classify('SELECT 1; DROP TABLE t');
    expect(c.statements.map((s) => s.kind)).toEqual(['read', 'ddl']);
    expect(c.statements[1]!.text).toBe('DROP TABLE t');
  });

  it('SET search_path is seen as a setting', () => {
    const s = one('SET search_path = evil, public');
    expect(s.kind).toBe('utility');
    // In the server's list syntax, each element quoted (a comma inside one is part of its name).
    expect(s.setting).toEqual({ name: 'search_path', value: '"evil", "public"', local: false });
    expect(one('SET search_path = "a,b", \'c"d\'').setting?.value).toBe('"a,b", "c""d"');
    expect(one('set local search_path to default').setting).toEqual({ name: 'search_path', local: true });
  });

  it('a statement after a comment-only line is found', () => {
    const c = classify('-- just a comment\nDROP TABLE cards');
    expect(c.statements).toHaveLength(1);
    expect(c.statements[0]!.kind).toBe('ddl');
    const d = classify('SELECT 1; -- ok\n/* more */ DELETE FROM cards');
    expect(d.statements.map((s) => s.kind)).toEqual(['read', 'write']);
  });

  it('whole-row references count as every column', () => {
    expect(one('SELECT c FROM cards c').columns).toContain('c.*');
    expect(one('SELECT row_to_json(cards) FROM cards').columns).toContain('cards.*');
  });

  it('INSERT … SELECT and CREATE TABLE AS read their source', () => {
    const s = one('INSERT INTO loot SELECT pan FROM cards');
    expect(s.writes).toEqual(['loot']);
    expect(s.reads).toEqual(['cards']);
    const t = one('CREATE TABLE loot AS SELECT pan FROM cards');
    expect(t.classes).toEqual(['ddl', 'write', 'read']);
    expect(t.writes).toEqual(['loot']);
    expect(t.reads).toEqual(['cards']);
  });

  it('subqueries in WHERE are read', () => {
    expect(one('SELECT 1 FROM a WHERE x IN (SELECT y FROM cards)').reads).toEqual(['a', 'cards']);
  });

  it('unparsable text is an error, and caching returns the same object', () => {
    expect(classify('SELEC 1').error).toBeDefined();
    expect(classify('SELECT 42')).toBe(classify('SELECT 42'));
  });
});

describe('classify: a statement nested deeper than it reads', () => {
  it('is an error that says so (policy denies it as unreadable), not an exception', () => {
    // 2,000 nested subqueries parse (the server's parser takes them) but exhaust the stack of the tree walk.
    const deep = `SELECT ${'(SELECT '.repeat(2_000)}1${')'.repeat(2_000)}`;
    const c = classify(deep);
    expect(c.statements).toEqual([]);
    expect(c.error).toEqual({ message: 'it is nested deeper than pcigate reads (its parse tree exhausted the stack)', cursor: -1 });
    // A few levels are read as any statement is.
    expect(one(`SELECT ${'(SELECT '.repeat(20)}a FROM t${')'.repeat(20)}`).kind).toBe('read');
  });
});

describe('classify: a large object read in chunks by SQL (StatementInfo.loread)', () => {
  it('is a SELECT of loread alone, its descriptor a bind parameter or a constant (then read exactly: not shared by its twins)', () => {
    expect(one('SELECT loread($1, $2) as data').loread).toEqual({ param: 1 });
    expect(one('select pg_catalog.loread($2, $1)').loread).toEqual({ param: 2 });
    expect(one('select loread($1::int4, $2::int4)').loread).toEqual({ param: 1 });
    const lit = one('select loread(7, 16384)');
    expect(lit.loread).toEqual({ value: '7' });
    expect(lit.readsConstants).toBe(true);
    expect(one("select loread('8'::int, 16)").loread).toEqual({ value: '8' });
  });

  it('is not a read of more rows, more columns or of another function', () => {
    for (const sql of ['select loread(fd, 16) from fds', 'select loread($1, 16), 1', 'select loread($1, 16) union all select loread($1, 16)',
      'select lo_get($1, 0, 16)', 'select myschema.loread($1, 16)', 'select loread($1, 16) where $2', 'select loread(lo_open($1, 262144), 16)']) {
      expect(one(sql).loread, sql).toBeUndefined();
    }
  });
});
