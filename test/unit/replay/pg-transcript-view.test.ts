/** The replay's reading of a Postgres transcript (pg-transcript-view.ts). */
import { describe, expect, it } from 'vitest';
import { statementViews } from '../../../src/replay/pg-transcript-view.js';

describe('statementViews', () => {
  it('shows a statement whose implicit transaction was rolled back afterwards (a rollback line) as rolled back', () => {
    const views = statementViews([
      { t: 'query', n: 1, sql: 'insert into t values (1)' }, { t: 'result', n: 1, result: 'success', sqlstate: null, rows: 1 },
      { t: 'query', n: 2, sql: 'select 1' }, { t: 'result', n: 2, result: 'success', sqlstate: null, rows: 1 },
      { t: 'rollback', statements: [1], sqlstate: '23503', rolled_back: true },
    ], []);
    expect(views.map((v) => [v.n, v.result, v.sqlstate])).toEqual([[1, 'rolled back', '23503'], [2, 'success', null]]);
  });
});
