/**
 * set_config of search_path or the role in an expression a statement stores to run later (a view, a DEFAULT,
 * a rule, a row policy, a BEGIN ATOMIC body) is refused (StatementInfo.misreads, rule sql_text), as a quoted
 * LANGUAGE sql body doing so is; run now (a SELECT, CREATE TABLE AS) it is the SET policy tracks.
 * Integration: test/integration/policy-stored-settings.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { classify } from '../../../src/policy/classify.js';
import { loadParser } from '../../../src/policy/pg-parser.js';

beforeAll(async () => { await loadParser(); });

const first = (sql: string) => classify(sql).statements[0]!;

describe('set_config of search_path or the role in a stored expression', () => {
  for (const sql of [
    "CREATE VIEW v AS SELECT set_config('search_path', 'vault', false) AS x",
    "CREATE FUNCTION f() RETURNS text LANGUAGE sql BEGIN ATOMIC SELECT set_config('search_path', 'vault', false); END",
    "CREATE TABLE t (a text DEFAULT set_config('search_path', 'vault', true))",
    "ALTER TABLE t ALTER COLUMN a SET DEFAULT set_config('role', 'admin', false)",
    "CREATE RULE r AS ON INSERT TO t DO ALSO SELECT set_config('session_authorization', 'admin', false)",
    "CREATE POLICY p ON t USING (set_config('search_path', 'vault', false) IS NOT NULL)",
    "CREATE VIEW v AS SELECT set_config(current_user, 'vault', false) AS x",
  ]) {
    it(`refused: ${sql}`, () => {
      expect(first(sql).misreads).toMatch(/changes the search_path or current_user of every session that runs it/);
    });
  }

  for (const sql of [
    "SELECT set_config('search_path', 'vault', false)",
    "CREATE TABLE t2 AS SELECT set_config('search_path', 'vault', false) AS x",
    "CREATE VIEW v AS SELECT set_config('application_name', 'x', false) AS x",
  ]) {
    it(`not refused: ${sql}`, () => {
      expect(first(sql).misreads).toBeUndefined();
    });
  }
});
