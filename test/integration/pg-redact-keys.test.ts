/**
 * pgcrypto keys through `pcigate connect`'s hooks, against a real server, where the key is not written in its place
 * in the call: an EXECUTE of a statement prepared with the key's place for a parameter, a key from a subquery or set
 * by an earlier statement of the text, and a key bound to a held statement (what the approver is shown). And a
 * password column met by a value in an expression (lower(password) = …, a row in an array, coalesce): every literal
 * of its statement is redacted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { APPROVER, expectNowhere, gateConfig, heldGate, pendingRequest, pgClient, readLog, run, sessionEnds, sqlScript, startConfiguredGate, until, type Gate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql("CREATE EXTENSION IF NOT EXISTS pgcrypto; CREATE TABLE cards (id int, pan bytea); INSERT INTO cards VALUES (1, pgp_sym_encrypt('card-one', 'k3y-main'))");
  gate = await startConfiguredGate(server, gateConfig(server, { classes: ['read', 'write', 'transaction', 'utility'], role: { functions: { allow: PGCRYPTO } } }));
});
afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

const PGCRYPTO = ['pgp_sym_decrypt', 'pgp_sym_encrypt', 'current_setting'];
const sqlOf = (r: { detail?: unknown }) => String((r.detail as { sql?: string } | undefined)?.sql ?? '');

/** Runs `lines` as one psql script through the gate (no error); its output lines and, once its session ended, the SQL of every pg.query so far. */
async function psqlThrough(lines: string[]): Promise<{ out: string[]; queries: string[] }> {
  const ends = () => sessionEnds(gate.home);
  const before = ends();
  const r = await run('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-f', sqlScript(lines)], gate.env);
  expect(r.stderr).toBe('');
  await until(() => ends() > before);
  return { out: r.stdout.trim().split('\n'), queries: readLog(gate.home).filter((x) => x.type === 'pg.query').map(sqlOf) };
}

describe('a pgcrypto key not written in its place', () => {
  it("redacts an EXECUTE's arguments, and every literal of a text whose key comes from elsewhere in it", async () => {
    const { out, queries } = await psqlThrough([
      'PREPARE dec(text) AS SELECT pgp_sym_decrypt(pan, $1) FROM cards WHERE id = 1;',
      "EXECUTE dec('k3y-main');",
      'PREPARE add(int) AS SELECT $1 + 1;',
      'EXECUTE add(41);',
      "SELECT pgp_sym_decrypt(c.pan, k.v) FROM cards c, (SELECT 'k3y-' || 'main' AS v) k WHERE c.id = 1;",
      "SET app.k = 'k3y-main' \\; SELECT pgp_sym_decrypt(pan, current_setting('app.k')) FROM cards WHERE id = 1;",
    ]);
    expect(out.filter((l) => !/^(?:PREPARE|SET)$/.test(l))).toEqual(['card-one', '42', 'card-one', 'card-one']);
    expect(queries).toContain("EXECUTE dec('[redacted]');");
    expect(queries).toContain("EXECUTE add('[redacted]');");
    expect(queries).toContain("SELECT pgp_sym_decrypt(c.pan, k.v) FROM cards c, (SELECT '[redacted]' || '[redacted]' AS v) k WHERE c.id = '[redacted]';");
    expect(queries).toContain("SET app.k = '[redacted]' ; SELECT pgp_sym_decrypt(pan, current_setting('[redacted]')) FROM cards WHERE id = '[redacted]';");
    expectNowhere(gate.home, [/k3y-main|'k3y-'/]);
  });
});

describe('a statement that names a password column', () => {
  it('records none of its literals, wherever the value meets the column; the statements run as sent', async () => {
    server.psql("CREATE TABLE logins (id int, name text, password text DEFAULT 'pw-default'); INSERT INTO logins VALUES (1, 'bob', 'pw-bob-1')");
    const { out, queries } = await psqlThrough([
      "SELECT id FROM logins WHERE lower(password) = 'pw-bob-1' AND name = 'bob';",
      "SELECT id FROM logins WHERE (name, password) = ANY (ARRAY[ROW('bob'::text, 'pw-bob-1'::text)]);",
      "SELECT count(*) FROM logins WHERE password BETWEEN 'pw-bob-0' AND 'pw-bob-2';",
      "UPDATE logins SET name = 'bob' WHERE coalesce(password, 'pw-none') = 'pw-bob-1';",
      "SELECT id FROM logins WHERE name = 'bob';",
    ]);
    expect(out).toEqual(['1', '1', '1', 'UPDATE 1', '1']);
    expect(queries).toContain("SELECT id FROM logins WHERE lower(password) = '[redacted]' AND name = '[redacted]';");
    expect(queries).toContain("SELECT id FROM logins WHERE (name, password) = ANY (ARRAY[ROW('[redacted]'::text, '[redacted]'::text)]);");
    expect(queries).toContain("UPDATE logins SET name = '[redacted]' WHERE coalesce(password, '[redacted]') = '[redacted]';");
    // A statement that names no secret keeps its values.
    expect(queries).toContain("SELECT id FROM logins WHERE name = 'bob';");
    expectNowhere(gate.home, [/pw-bob|pw-none/]);
  });
});

describe('a held statement with a key bound as a parameter', () => {
  it('shows the approver the parameter withheld; the approved statement runs with it', async () => {
    const { gate: held, store } = await heldGate(server, { role: { approval_tables: ['cards'], functions: { allow: PGCRYPTO } } });
    const client = await pgClient(held);
    try {
      const update = client.query('UPDATE cards SET pan = pgp_sym_encrypt($1, $2)', ['card-two', 'k3y-held']);
      const req = await pendingRequest(store);
      expect(req.params).toEqual(['[redacted]', '[redacted]']);
      await store.approve(req.id, APPROVER);
      expect((await update).rowCount).toBe(1);
      expect(server.psql("SELECT pgp_sym_decrypt(pan, 'k3y-held') FROM cards").trim()).toBe('card-two');
    } finally {
      await client.end();
      await held.close();
    }
    await until(() => sessionEnds(held.home) > 0);
    expectNowhere(held.home, ['k3y-held']);
  });
});
