/**
 * severalStatements (src/broker/pg-hooks.ts): whether a query string may hold more than one statement, a `;`
 * anywhere before its last non-blank character. Read without a trimmed copy now: the same answers as the
 * definition (trim, drop one final `;`, look for another) for every string, blanks of every kind included.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { severalStatements } from '../../../src/broker/pg-hooks.js';

const byDefinition = (sql: string): boolean => sql.includes(';') && sql.trim().replace(/;\s*$/, '').includes(';');

describe('severalStatements', () => {
  it('reads the usual texts', () => {
    expect(severalStatements('SELECT abalance FROM pgbench_accounts WHERE aid = $1;')).toBe(false);
    expect(severalStatements('select 1;  \n\t')).toBe(false);
    expect(severalStatements('select 1')).toBe(false);
    expect(severalStatements('select 1; select 2')).toBe(true);
    expect(severalStatements('select 1;;')).toBe(true);
    expect(severalStatements("select ';' ")).toBe(true); // a `;` in a literal counts too
    expect(severalStatements(';\u00a0\u2028')).toBe(false);
  });

  it('answers as its definition for any text', () => {
    const piece = fc.constantFrom(';', ' ', '\n', '\t', '\u00a0', '\u3000', '\ufeff', 'a', "'", 'x;y', '\ud83d\ude00');
    fc.assert(fc.property(fc.array(piece, { maxLength: 12 }).map((p) => p.join('')), (sql) => severalStatements(sql) === byDefinition(sql)), { numRuns: 5000 });
  });
});
