/**
 * Masking of computed result columns (no source table column in RowDescription): what each result column is made
 * of, read from the statement (classify: rowValues, outputs), and the rule that gives (ColumnRules.forDerived);
 * a name rule matches a column's source name too (forColumn). The proxy path is in
 * test/integration/pg-derived-masking.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ColumnRules } from '../../../src/mask/column-rules.js';
import { classify } from '../../../src/policy/classify.js';
import { loadParser } from '../../../src/policy/pg-parser.js';

beforeAll(async () => { await loadParser(); });

const one = (sql: string) => classify(sql).statements[0]!;
const rules = new ColumnRules({ format: 'last4', sad_columns: [], rules: [
  { name: 'account', columns: ['account_no'], format: 'last4' },
  { name: 'code', columns: ['public.cards.secret_code'], format: 'full' },
] });
const reach = (refs: string[], tables: string[] = ['cards'], rowValues = false) => ({ refs, tables, rowValues });

describe('classify: whole rows used as values (rowValues)', () => {
  it.each([
    'select row_to_json(k) from cards k',
    'select k::text from cards k',
    'select count(k.*) from cards k',
    'select (k).cvv from cards k',
    'select x from (select * from cards) s',
    'select b from (select * from cards) s(a, b)',
    'with c as (select * from cards) select id from c',
  ])('%s uses a whole row', (sql) => {
    expect(one(sql).rowValues).toBe(true);
  });

  it.each([
    'select * from cards',
    'select k.* from cards k',
    'select k.*, c.name from cards k join customers c on c.id = k.customer_id',
    'select * from cards union all select * from old_cards',
    'delete from cards where id = 1 returning *',
    'declare c cursor for select * from cards',
    'copy (select * from cards) to stdout',
    'select count(*) from cards',
  ])('%s does not (its stars are the output itself)', (sql) => {
    expect(one(sql).rowValues).toBeUndefined();
  });
});

describe('classify: what each result column is made of (outputs)', () => {
  it('names each column\'s own references, plus what FROM and WITH compute', () => {
    expect(one("select id, cvv || '', now() from cards").outputs).toEqual([
      { refs: ['id'], rowValues: false }, { refs: ['cvv'], rowValues: false }, { refs: [], rowValues: false },
    ]);
    expect(one('select upper(s.x), 1 from (select account_no as x from cards) s').outputs).toEqual([
      { refs: ['s.x', 'account_no'], rowValues: false }, { refs: ['account_no'], rowValues: false },
    ]);
    expect(one('select row_to_json(k), k.id from cards k').outputs?.map((o) => o.rowValues)).toEqual([true, false]);
  });

  it('merges the arms of a UNION by position, and reads RETURNING, a cursor\'s and a COPY\'s query', () => {
    expect(one('select a from t union select upper(b) from u').outputs).toEqual([{ refs: ['a', 'b'], rowValues: false }]);
    expect(one("update cards set note = 'x' where id = 1 returning cvv || ''").outputs).toEqual([{ refs: ['cvv'], rowValues: false }]);
    expect(one('declare c cursor for select lower(cvv) from cards').outputs).toEqual([{ refs: ['cvv'], rowValues: false }]);
    expect(one('copy (select lower(cvv) from cards) to stdout').outputs).toEqual([{ refs: ['cvv'], rowValues: false }]);
  });

  it('is not known when a `*` item makes the positions unknown', () => {
    expect(one('select *, cvv || \'\' from cards').outputs).toBeUndefined();
    expect(one('select 1 union select * from t').outputs).toBeUndefined();
  });
});

describe('ColumnRules', () => {
  it("takes a SAD name, or a part of a name, for SAD; not a check's outcome or a flag named after one", () => {
    const sad = { name: 'sad', format: 'full' };
    for (const name of ['cvv', 'CVV2', 'card_cvv', 'cvv_code', 'pin_block_enc', 'track2']) expect(rules.forColumn(name, undefined), name).toEqual(sad);
    for (const name of ['cvv_result', 'cvc_check', 'pin_verified', 'cvv2_match', 'pin_status']) expect(rules.forColumn(name, undefined), name).toBeUndefined();
    // The source column still says so (SELECT cvv AS cvv_result), and so does what a computed one is made of.
    expect(rules.forColumn('cvv_result', 'public.cards.cvv')).toEqual(sad);
    expect(rules.forDerived(reach(['cvv']))).toEqual(sad);
    expect(rules.forDerived(reach(['cvv_result']))).toBeUndefined();
    // A name configured as SAD is SAD, whatever it ends with.
    const configured = new ColumnRules({ format: 'last4', sad_columns: ['cvv_check'], rules: [] });
    expect(configured.forColumn('cvv_check', undefined)).toEqual(sad);
  });

  it('a name rule matches the source column under an alias', () => {
    expect(rules.forColumn('x', 'public.cards.account_no')).toEqual({ name: 'account', format: 'last4' });
    expect(rules.forColumn('x', 'public.cards.note')).toBeUndefined();
  });

  it('a computed column takes the least revealing rule of the ruled columns it is made of', () => {
    expect(rules.forDerived(reach(['id', 'note']))).toBeUndefined();
    // In full: the digits last4 keeps would be the ones the computation chose ('000000' || substr(account_no, 1, 4)).
    expect(rules.forDerived(reach(['k.account_no']))).toEqual({ name: 'account', format: 'full' });
    expect(rules.forDerived(reach(['account_no', 'secret_code']))).toEqual({ name: 'code', format: 'full' });
    expect(rules.forDerived(reach(['k.cvv_code']))).toEqual({ name: 'sad', format: 'full' });
  });

  it('a qualified rule applies only when the statement names its table', () => {
    expect(rules.forDerived(reach(['secret_code'], ['public.cards']))).toEqual({ name: 'code', format: 'full' });
    expect(rules.forDerived(reach(['secret_code'], ['other']))).toBeUndefined();
  });

  it('a whole row of unknown columns, or an unreadable statement, is masked in full', () => {
    expect(rules.forDerived(reach([], ['cards'], true))).toEqual({ name: 'sad', format: 'full' });
    expect(rules.forDerived('unknown')).toEqual({ name: 'sad', format: 'full' });
  });
});

describe('planner statistics (pg_stats) hold sampled values of every column', () => {
  const clear = new ColumnRules({ format: 'last4', sad_columns: [], rules: [] }, ['clear']);
  it('their value columns are masked in full, under any grant, by source, computed or as a whole row', () => {
    expect(clear.forColumn('m', 'pg_catalog.pg_stats.most_common_vals')).toEqual({ name: 'statistics', format: 'full' });
    expect(clear.forColumn('h', 'pg_catalog.pg_statistic.stavalues3')).toEqual({ name: 'statistics', format: 'full' });
    expect(clear.forDerived(reach(['histogram_bounds'], ['pg_stats']))).toEqual({ name: 'statistics', format: 'full' });
    expect(clear.forDerived(reach(['s.*', 'pg_catalog.pg_stats.most_common_elems'], ['pg_catalog.pg_stats']))).toEqual({ name: 'statistics', format: 'full' });
  });

  it('the same names elsewhere, and pg_stats\' other columns, are not', () => {
    expect(clear.forColumn('most_common_vals', 'public.report.most_common_vals')).toBeUndefined();
    expect(clear.forColumn('null_frac', 'pg_catalog.pg_stats.null_frac')).toBeUndefined();
    expect(clear.forDerived(reach(['histogram_bounds'], ['report']))).toBeUndefined();
  });
});
