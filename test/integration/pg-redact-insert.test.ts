/**
 * An INSERT without a column list through `pcigate connect`'s hooks, against a real server: which value is a
 * password's is the table's to say, so the record redacts by the columns the catalog shows, and every value where
 * it cannot know them (a table changed in the open transaction).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { APPROVER, expectNowhere, gateConfig, heldGate, homeFiles, pendingRequest, readLog, run, sessionEnds, sqlScript, startConfiguredGate, until, type Gate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql('CREATE TABLE users (id int, name text, password text, password_changed_at date)');
  gate = await startConfiguredGate(server, gateConfig(server, { classes: ['read', 'write', 'ddl', 'transaction', 'utility'], role: { functions: { allow: ['add_user'] } } }));
});
afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

const sqlOf = (r: { detail?: unknown }) => String((r.detail as { sql?: string } | undefined)?.sql ?? '');

describe('an INSERT without a column list', () => {
  it("redacts the password column's values by the table's columns; every value of a table changed in the open transaction", async () => {
    const first = await run('psql', ['-X', '-At', '-c', "INSERT INTO users VALUES (1, 'bob', 'hunter2-a', '2026-01-01'), (2, 'al', 'hunter2-b', NULL)"], gate.env);
    expect(first.stderr).toBe('');
    // psql -f sends each statement on its own: the INSERT after the ALTER in its open transaction.
    const script = sqlScript([
      'BEGIN;',
      'ALTER TABLE users ADD COLUMN api_key text;',
      "INSERT INTO users VALUES (3, 'cy', 'hunter2-c', NULL, 'k3y-c');",
      'COMMIT;',
      // In a function's body: its table is not looked up before the statement, so every value.
      "CREATE FUNCTION add_user() RETURNS void LANGUAGE sql AS $$ INSERT INTO users VALUES (4, 'dd', 'hunter2-d', NULL, 'k3y-d') $$;",
      'SELECT add_user();',
      'SELECT * FROM users WHERE id = 1;',
      // A row value, its JSON, a key/value table, a cursor's rows, a column name that holds a password.
      'SELECT u FROM users u WHERE id = 2;',
      'SELECT row_to_json(u) FROM users u WHERE id = 2;',
      'SELECT u::text FROM users u WHERE id = 2;',
      'CREATE TABLE conf (k text, v text);',
      "INSERT INTO conf VALUES ('api_key', 'k3y-conf');",
      'SELECT * FROM conf;',
      'SELECT ARRAY[k, v] FROM conf;',
      'BEGIN;',
      'DECLARE c CURSOR FOR SELECT id, password AS p FROM users WHERE id = 3;',
      'FETCH ALL FROM c;',
      'COMMIT;',
      `SELECT 1 AS "password 'hunter2-e'";`,
      "SELECT count(*) FROM users WHERE password LIKE 'hunter2-%';",
    ]);
    const r = await run('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-f', script], gate.env);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n').at(-1)).toBe('4');
    await until(() => sessionEnds(gate.home) === 2);
    const inserts = readLog(gate.home).filter((x) => x.type === 'pg.query' && sqlOf(x).startsWith('INSERT INTO users')).map(sqlOf);
    expect(inserts).toEqual([
      "INSERT INTO users VALUES (1, 'bob', '[redacted]', '2026-01-01'), (2, 'al', '[redacted]', NULL)",
      // The catalog's connection does not see the column added in the open transaction: every value.
      "INSERT INTO users VALUES ('[redacted]', '[redacted]', '[redacted]', NULL, '[redacted]');",
    ]);
    expect(readLog(gate.home).filter((x) => x.type === 'pg.query' && sqlOf(x).startsWith('CREATE FUNCTION')).map(sqlOf))
      .toEqual(["CREATE FUNCTION add_user() RETURNS void LANGUAGE sql AS $$ INSERT INTO users VALUES ('[redacted]', '[redacted]', '[redacted]', NULL, '[redacted]') $$;"]);
    // The transcript's sample of a row: a column whose name says secret is withheld (password, api_key), others kept.
    const rows = homeFiles(gate.home).filter((f) => f.file.endsWith('.pg.jsonl')).flatMap((f) => f.text.trim().split('\n').map((l) => JSON.parse(l) as { t: string; values?: unknown[] }));
    const sampled = rows.filter((x) => x.t === 'row').map((x) => x.values);
    expect(sampled).toContainEqual(['1', 'bob', '[redacted]', '2026-01-01', null]);
    // The row value, as it is, as JSON and as text; the key/value row and the pair as an array; the cursor's rows.
    expect(sampled.filter((v) => v?.length === 1 && v[0] === '[redacted]').length).toBeGreaterThanOrEqual(4);
    expect(sampled).toContainEqual(['[redacted]', '[redacted]']);
    expect(rows.filter((x) => x.t === 'columns').map((x) => (x as { names?: string[] }).names)).toContainEqual(['[redacted]']);
    expectNowhere(gate.home, [/hunter2-[abcde]|k3y-(?:[cd]|conf)/]);
  });
});

describe('a held INSERT without a column list', () => {
  it("shows the approver its password column's value redacted, by the table's columns; the approved statement runs whole", async () => {
    const { gate: held, store } = await heldGate(server, { role: { approval_tables: ['users'] } });
    try {
      const insert = run('psql', ['-X', '-At', '-c', "INSERT INTO users VALUES (9, 'dee', 'hunter2-held', NULL)"], held.env);
      const req = await pendingRequest(store);
      expect(req.sql).toBe("INSERT INTO users VALUES (9, 'dee', '***', NULL)");
      await store.approve(req.id, APPROVER);
      expect((await insert).stderr).not.toMatch(/ERROR/);
      expect(server.psql("SELECT password FROM users WHERE id = 9").trim()).toBe('hunter2-held');
      await until(() => sessionEnds(held.home) > 0);
      expectNowhere(held.home, ['hunter2-held']);
    } finally { await held.close(); }
  });
});
