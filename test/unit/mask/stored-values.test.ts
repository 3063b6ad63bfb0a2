/**
 * What a statement stores and what each stored value is made from (classify `stores`, stored-values.ts), and
 * the rule a role's masking gives it (ColumnRules.storedRule). The proxy path is in
 * test/integration/pg-stored-values.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ColumnRules } from '../../../src/mask/column-rules.js';
import type { StoredReach } from '../../../src/mask/column-rules.js';
import { classify } from '../../../src/policy/classify.js';
import { loadParser } from '../../../src/policy/pg-parser.js';

beforeAll(async () => { await loadParser(); });

const stores = (sql: string) => classify(sql).statements[0]!.stores;
const config = { format: 'last4' as const, sad_columns: [], rules: [
  { name: 'account', columns: ['account_no'], format: 'full' as const },
  { name: 'code', columns: ['public.cards.secret_code'], format: 'last4' as const },
] };
const rules = new ColumnRules(config);
/** The rule for `sql`'s stored values as the text gives them (no catalog: a whole row stays one). */
const ruleOf = (sql: string, r = rules) => r.storedRule((stores(sql) ?? []).map((v): StoredReach => ({
  ...(v.target ? { target: v.target } : {}), ...(v.relocated ? { relocated: v.relocated } : {}), reach: { refs: v.refs, tables: v.tables, rowValues: v.rowValues },
})))?.name;

describe('classify: stored values', () => {
  it('none for statements that store nothing', () => {
    for (const sql of ['select cvv from cards', 'delete from cards where cvv = $1', 'explain insert into t select cvv from cards', 'copy cards to stdout']) {
      expect(stores(sql)).toBeUndefined();
    }
  });

  it('per target column where the text names it, with what it reads', () => {
    expect(stores('update cards set note = upper(cvv), cvv = null where id = 1')).toEqual([
      { target: { table: 'cards', column: 'note' }, refs: ['cvv'], tables: ['cards'], rowValues: false },
      { target: { table: 'cards', column: 'cvv' }, refs: [], tables: ['cards'], rowValues: false },
    ]);
    expect(stores('insert into notes (id, body) select id, account_no from cards')).toEqual([
      { target: { table: 'notes', column: 'id' }, refs: ['id'], tables: ['cards'], rowValues: false },
      { target: { table: 'notes', column: 'body' }, refs: ['account_no'], tables: ['cards'], rowValues: false },
    ]);
  });

  it('a star or a bare row is a whole row; a CTE name is not a table', () => {
    expect(stores('with s as (select cvv from cards) insert into t select * from s')).toEqual([{ refs: ['*', 'cvv'], tables: ['cards'], rowValues: true }]);
    expect(stores('insert into t select c from cards c')![0]!.rowValues).toBe(true);
  });

  it('inside a data-modifying WITH, a rule\'s action and a BEGIN ATOMIC body', () => {
    expect(stores('with d as (insert into t select cvv from cards returning 1) select 1')).toHaveLength(1);
    expect(stores('create rule r as on insert to cards do also insert into log values (new.cvv)')![0]!.refs).toEqual(['new.cvv']);
    expect(stores('create function f() returns void language sql begin atomic insert into log select cvv from cards; end')![0]!.refs).toEqual(['cvv']);
  });
});

describe('ColumnRules.storedRule', () => {
  it.each([
    ['insert into notes select id, cvv from cards', 'sad'],
    ['insert into notes select id, account_no || \'\' from cards', 'account'],
    ['create view v as select secret_code as s from cards', 'code'],
    ['update cards set secret_code = reverse(secret_code)', 'code'], // its own column, but last4 keeps chosen digits
    ['update cards set note = account_no', 'account'],
    ['create table t as select * from cards', 'sad'], // a whole row the catalog did not widen: may hold anything
    ['create table t as select secret_code from cards', 'code'], // t.secret_code: the qualified rule names cards'
    ['create view v as select cvv as x from cards union select \'1\'', 'sad'],
    ['create table t (cvv text, x text generated always as (cvv || \'\') stored)', 'sad'],
    ['alter table cards add column y text generated always as (upper(account_no)) stored', 'account'],
    ['alter table cards alter column note type text using cvv', 'sad'],
    // A rename keeps the values under a name a rule may no longer match (a whole row: not widened here).
    ['alter table cards rename column cvv to x', 'sad'],
    ['alter view v rename column account_no to a', 'account'],
    // Moved or renamed, a table's columns keep their names: only a rule naming the table stops matching (columns
    // not widened here: any such rule).
    ['alter table cards rename to c2', 'code'],
    ['alter table cards set schema s2', 'code'],
    ['alter schema public rename to p2', 'code'],
    ['alter table cards inherit p', 'code'],
    ['alter table p attach partition cards for values in (1)', 'code'],
    ['create trigger g before update on cards for each row execute function tsvector_update_trigger(v, \'simple\', cvv)', 'sad'],
    // An updatable view's column writes its base column: a SAD name over an unruled one.
    ['create view v as select id, body as cvv from notes', 'sad'],
    ['create view v (id, cvv) as select * from notes', 'sad'],
    ['alter table v rename column body to cvv', 'sad'],
  ])('%s breaks rule %s', (sql, rule) => {
    expect(ruleOf(sql)).toBe(rule);
  });

  it.each([
    'update cards set cvv = null, account_no = upper(account_no) where id = 1',
    'update cards set card_cvv = cvv', // SAD into SAD
    'insert into notes select id, note from cards',
    'insert into cards (account_no) values ($1)',
    'create temp table t as select cvv, id from cards', // its column is named cvv: masked wherever it is read
    'create view v (card_cvv) as select cvv from cards',
    'alter table cards alter column cvv type int using cvv::int',
    'alter table cards add column z text default \'a\'',
    'alter table cards rename column cvv to card_cvv',
    'alter table notes rename column body to text',
    'create view v as select n.id, n.body as text from notes n',
    'create view v (card_id, cvv) as select id, cvv from cards',
  ])('%s breaks none', (sql) => {
    expect(ruleOf(sql)).toBeUndefined();
  });

  it('a trigger\'s arguments count as columns it reads: one may be added to its table afterwards', () => {
    const [v] = stores('create trigger g before insert on t for each row execute function tsvector_update_trigger(v, \'simple\', cvv)')!;
    expect(rules.storedRule([{ reach: { refs: [...v!.refs, 't.id', 't.v'], tables: v!.tables, rowValues: false } }])?.name).toBe('sad');
  });

  it('a whole row widened to its columns is judged by them', () => {
    const widened = (cols: string[]) => rules.storedRule([{ reach: { refs: ['*', ...cols.map((c) => `orders.${c}`)], tables: ['orders'], rowValues: false } }]);
    expect(widened(['id', 'total'])).toBeUndefined();
    expect(widened(['id', 'cvv2'])?.name).toBe('sad');
    expect(rules.storedRule('unknown')?.name).toBe('sad');
  });

  it('a rule naming a schema hides a target only in that schema as written (unqualified may be a temp table)', () => {
    const q = new ColumnRules({ ...config, rules: [{ name: 'ref', columns: ['public.refs.ref_code'], format: 'full' as const }] });
    expect(ruleOf('insert into refs (ref_code) select ref_code from public.refs', q)).toBe('ref');
    expect(ruleOf('insert into pg_temp.refs (ref_code) select ref_code from public.refs', q)).toBe('ref');
    expect(ruleOf('insert into public.refs (ref_code) select ref_code from public.refs', q)).toBeUndefined();
    const any = new ColumnRules({ ...config, rules: [{ name: 'ref', columns: ['refs.ref_code'], format: 'full' as const }] });
    expect(ruleOf('insert into refs (ref_code) select ref_code from public.refs', any)).toBeUndefined();
  });

  it('an unmask grant lifts a rule it unmasks for the role, never a SAD name', () => {
    const clear = new ColumnRules(config, ['clear']);
    expect(ruleOf('insert into notes select id, account_no from cards', clear)).toBeUndefined();
    expect(ruleOf('insert into notes select id, cvv from cards', clear)).toBe('sad');
  });
});

describe('ColumnRules.storedRule: relations renamed or moved', () => {
  const byName = new ColumnRules({ format: 'last4', sad_columns: [], rules: [{ name: 'account', columns: ['account_no'], format: 'full' }] });
  const widened = (r: ColumnRules, cols: string[], table = 'cards') => r.storedRule([{ relocated: true, reach: { refs: cols.map((c) => `${table}.${c}`), tables: [table], rowValues: false } }])?.name;

  it('SAD names and name rules still match under the new name: not refused', () => {
    for (const sql of ['alter table cards rename to cards_old', 'alter table cards set schema archive', 'alter schema public rename to p2', 'alter table cards_2024 inherit cards']) {
      expect(ruleOf(sql, byName)).toBeUndefined();
    }
  });

  it('a rule naming the table is refused by the columns the table has', () => {
    expect(widened(rules, ['id', 'secret_code'])).toBe('code');
    expect(widened(rules, ['id', 'cvv', 'account_no'])).toBeUndefined();
    expect(widened(rules, ['secret_code'], 'notes')).toBeUndefined();
  });
});
