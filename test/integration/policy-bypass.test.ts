/**
 * Policy bypass attempts through the real proxy against a real PostgreSQL: each test is a way a client
 * could get the server to run what policy denies, or read a denied table or column, with the `pg` driver
 * or raw protocol bytes. Each one checks what the server actually ran or returned, not only the refusal;
 * `normal work still passes` checks that none of the fixes refuses ordinary statements.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/cli/ctx.js';
import { policySection } from '../../src/config/sections/policy.js';
import { loadParser } from '../../src/policy/pg-parser.js';
import { policyHooksFor } from '../../src/policy/pg-policy-hooks.js';
import { PolicyEngine } from '../../src/policy/policy-engine.js';
import { bytes } from '../harness/pg-bytes.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { RawPgClient } from '../harness/raw-pg-client.js';
import { run, startGate, type Gate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

/** A role that may read and write `public` except the table `secrets` and the column `cards.pan`. */
const policy = policySection.parse({
  roles: { eng: { subjects: ['tester'] } },
  connections: {
    'test-db': {
      roles: {
        eng: {
          classes: ['read', 'write', 'transaction', 'utility'],
          tables: { allow: ['public.*'], deny: ['secrets'] },
          columns: { deny: ['cards.pan'] },
        },
      },
    },
  },
});

beforeAll(async () => {
  await loadParser();
  server = await startPostgres();
  server.psql("create table items (id int primary key, name text); insert into items select g, 'item ' || g from generate_series(1, 10) g;");
  server.psql("create table cards (id int, pan text, last4 text); insert into cards select g, 'PAN-SECRET-' || g, '1111' from generate_series(1, 50) g;");
  server.psql("create table secrets (id int, s text); insert into secrets select g, 'TOPSECRET-' || (g % 3) from generate_series(1, 100) g;");
  server.psql("create schema vault; create table vault.items (id int, name text); insert into vault.items values (1, 'VAULT-ROW');");
  server.psql('analyze;');
  const engine = new PolicyEngine(policy, {});
  gate = await startGate(server, { hooksFor: policyHooksFor({ engine, connection: 'test-db', clock: systemClock(), dbUser: server.superuser }) });
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

async function withClient<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ host: gate.broker.host, port: gate.broker.port, user: gate.broker.user, password: gate.broker.secret, database: gate.broker.database });
  await c.connect();
  try { return await fn(c); } finally { await c.end(); }
}

/** Rows of every result of `sql`, or the error's SQLSTATE and message. */
async function attempt(c: pg.Client, sql: string): Promise<{ rows: unknown[] } | { code: string; message: string }> {
  try {
    const r = await c.query(sql);
    return { rows: (Array.isArray(r) ? r : [r]).flatMap((x: pg.QueryResult) => x.rows) };
  } catch (e) {
    const err = e as pg.DatabaseError;
    return { code: String(err.code), message: err.message };
  }
}

/** Sends each message and collects the frames up to ReadyForQuery, as `letter:payload` (latin1). */
const rawSession = (messages: Buffer[]): Promise<string[]> => RawPgClient.session(gate.broker, messages);

describe('settings that make the server read SQL text differently from policy', () => {
  it('standard_conforming_strings = off is refused: a denied table read hidden in a string literal does not run', async () => {
    await withClient(async (c) => {
      for (const sql of ['SET standard_conforming_strings = off', "SET standard_conforming_strings TO 'false'", 'SET LOCAL standard_conforming_strings = 0']) {
        expect(await attempt(c, sql), sql).toMatchObject({ code: '42501', message: expect.stringContaining('rule sql_text') });
      }
      expect((await c.query('SHOW standard_conforming_strings')).rows).toEqual([{ standard_conforming_strings: 'on' }]);
      // With it off the server would run two statements here; policy reads one SELECT of a literal.
      const r = await attempt(c, "SELECT 'a\\'' ; SELECT * FROM secrets LIMIT 1; -- '");
      expect(JSON.stringify(r)).not.toContain('TOPSECRET');
      expect(r).toEqual({ rows: [{ '?column?': "a\\' ; SELECT * FROM secrets LIMIT 1; -- " }] });
    });
  });

  it('a client_encoding other than UTF8 is refused: SJIS would hide a denied read behind a backslash byte', async () => {
    const sjisQuery = Buffer.concat([Buffer.from("SELECT E'"), Buffer.from([0x95, 0x5c]), Buffer.from("'; SELECT * FROM secrets LIMIT 1; --'"), Buffer.from([0])]);
    const frames = await rawSession([bytes.query("SET client_encoding = 'SJIS'"), bytes.query("SET NAMES 'big5'"), bytes.query('SHOW client_encoding'), bytes.msg('Q', sjisQuery)]);
    const text = frames.join('\n');
    expect(frames.filter((f) => f.startsWith('E:') && f.includes('rule sql_text'))).toHaveLength(2);
    expect(frames.find((f) => f.startsWith('D:'))).toContain('UTF8');
    expect(text).not.toContain('TOPSECRET');
  });

  it('UTF8 spelled any way PostgreSQL accepts, encodings that keep ASCII bytes ASCII, on, RESET and DEFAULT still pass', async () => {
    await withClient(async (c) => {
      for (const sql of ["SET client_encoding = 'utf-8'", "SET NAMES 'UNICODE'", "SET client_encoding = 'LATIN1'", "SET client_encoding = 'SQL_ASCII'",
        'SET client_encoding TO DEFAULT', 'RESET client_encoding',
        'SET standard_conforming_strings = on', "SET standard_conforming_strings = 'yes'", 'RESET standard_conforming_strings', 'RESET ALL', 'DISCARD ALL']) {
        expect(await attempt(c, sql), sql).toEqual({ rows: [] });
      }
    });
  });
});

describe('cursors', () => {
  const secretsPortal = (portal: string) => Buffer.concat([bytes.parse('', 'SELECT * FROM secrets LIMIT 2'), bytes.bind(portal, '', []), bytes.sync()]);

  it('SQL FETCH/MOVE of a portal a protocol Bind made (never Executed, so never decided) is refused', async () => {
    const frames = await rawSession([bytes.query('BEGIN'), secretsPortal('p1'), bytes.query('FETCH ALL FROM p1'), bytes.query('ROLLBACK'),
      bytes.query('BEGIN'), secretsPortal('p2'), bytes.query('MOVE FORWARD 1 IN p2; FETCH 1 FROM p2'), bytes.query('ROLLBACK')]);
    expect(frames.join('\n')).not.toContain('TOPSECRET');
    // Refused as what was bound into it (the proxy reports named Binds), or as a cursor policy never saw declared.
    expect(frames.filter((f) => f.startsWith('E:') && f.includes('C42501') && /tables\.deny|did not see declared/.test(f))).toHaveLength(2);
  });

  it('a cursor name from a finished transaction does not vouch for a portal bound under it later', async () => {
    const frames = await rawSession([bytes.query('BEGIN; DECLARE c CURSOR FOR SELECT 1; COMMIT'), bytes.query('BEGIN'), bytes.query('DECLARE d CURSOR FOR SELECT 2'),
      bytes.query('COMMIT'), bytes.query('BEGIN'), secretsPortal('c'), bytes.query('FETCH ALL FROM c'), secretsPortal('d'), bytes.query('FETCH ALL FROM d'), bytes.query('ROLLBACK')]);
    expect(frames.join('\n')).not.toContain('TOPSECRET');
  });

  it('declared cursors work as before: DECLARE, FETCH, MOVE, CLOSE, WITH HOLD across COMMIT; a cursor over a denied table is refused', async () => {
    await withClient(async (c) => {
      await c.query('BEGIN');
      await c.query('DECLARE c NO SCROLL CURSOR FOR SELECT id FROM items ORDER BY id');
      expect((await c.query('FETCH FORWARD 2 FROM c')).rows).toEqual([{ id: 1 }, { id: 2 }]);
      await c.query('MOVE 1 IN c');
      expect((await c.query('FETCH c')).rows).toEqual([{ id: 4 }]);
      await c.query('CLOSE c');
      expect(await attempt(c, 'DECLARE s CURSOR FOR SELECT * FROM secrets')).toMatchObject({ code: '42501' });
      await c.query('ROLLBACK');
      await c.query('DECLARE h CURSOR WITH HOLD FOR SELECT name FROM items WHERE id = 5');
      expect((await c.query('FETCH ALL FROM h')).rows).toEqual([{ name: 'item 5' }]);
      await c.query('CLOSE h');
      // Declared and fetched in one string, then fetched again in the block it opened.
      expect(await attempt(c, 'BEGIN; DECLARE x CURSOR FOR SELECT g AS n FROM generate_series(7, 8) g; FETCH x')).toEqual({ rows: [{ n: 7 }] });
      expect((await c.query('FETCH x')).rows).toEqual([{ n: 8 }]);
      await c.query('COMMIT');
    });
    // psql with FETCH_COUNT reads a result through DECLARE _psql_cursor / FETCH FORWARD n / CLOSE.
    const r = await run('psql', ['-X', '-At', '-v', 'FETCH_COUNT=3', '-v', 'ON_ERROR_STOP=1', '-c', 'SELECT id FROM items ORDER BY id'], gate.env);
    expect(r.stdout.trim().split('\n')).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
  });
});

describe('denied columns under other names', () => {
  it('a column alias list on the table, or on a join, cannot rename a denied column; USING and NATURAL cannot test it', async () => {
    await withClient(async (c) => {
      for (const sql of ['SELECT b FROM cards AS t(a, b) LIMIT 2', 'SELECT t.b FROM public.cards t(a, b) LIMIT 2',
        'SELECT y FROM (cards JOIN items USING (id)) AS j(x, y, z) LIMIT 2',
        "SELECT c.id FROM cards c JOIN (SELECT 'PAN-SECRET-3'::text AS pan) p USING (pan)",
        "SELECT c.id FROM cards c NATURAL JOIN (SELECT 'PAN-SECRET-4'::text AS pan) p"]) {
        const r = await attempt(c, sql);
        expect(r, sql).toMatchObject({ code: '42501', message: expect.stringContaining('columns.deny') });
      }
    });
  });

  it('aliases, USING and NATURAL joins that touch no denied column still run', async () => {
    await withClient(async (c) => {
      expect(await attempt(c, 'SELECT a, b FROM items AS t(a, b) WHERE a = 2')).toEqual({ rows: [{ a: 2, b: 'item 2' }] });
      expect(await attempt(c, 'SELECT last4 FROM cards JOIN items USING (id) WHERE id = 3')).toEqual({ rows: [{ last4: '1111' }] });
      expect(await attempt(c, 'SELECT name FROM items NATURAL JOIN (SELECT 4 AS id) k')).toEqual({ rows: [{ name: 'item 4' }] });
      expect(await attempt(c, 'SELECT a FROM (VALUES (1, 2)) AS v(a, b)')).toEqual({ rows: [{ a: 1 }] });
    });
  });
});

describe('allow lists and the schemas PostgreSQL searches', () => {
  it('an unqualified pg_… name is looked up in pg_catalog first: an allow list of public.* does not cover pg_authid', async () => {
    await withClient(async (c) => {
      for (const sql of ['SELECT rolname, rolpassword FROM pg_authid', 'SELECT count(*) FROM pg_class']) {
        expect(await attempt(c, sql), sql).toMatchObject({ code: '42501', message: expect.stringContaining('looked up in pg_catalog, then search_path public') });
      }
      expect(await attempt(c, 'SELECT count(*)::int AS n FROM items')).toEqual({ rows: [{ n: 10 }] });
    });
  });
});

describe('planner statistics', () => {
  /** Every table allowed but secrets, every column but cards.pan (the default allow list). */
  const denyOnly = policySection.parse({
    roles: { eng: { subjects: ['tester'] } },
    connections: { 'test-db': { roles: { eng: { classes: ['read', 'write', 'transaction', 'utility'], tables: { deny: ['secrets'] }, columns: { deny: ['cards.pan'] } } } } },
  });
  let statsGate: Gate;
  beforeAll(async () => {
    statsGate = await startGate(server, { hooksFor: policyHooksFor({ engine: new PolicyEngine(denyOnly, {}), connection: 'test-db', clock: systemClock(), dbUser: server.superuser }) });
  });
  afterAll(async () => { await statsGate?.close(); });

  it('pg_stats and pg_statistic, which hold sampled values of denied tables and columns, are refused to a role with denies', async () => {
    // What the refused statements would have shown: the server holds the denied values in its statistics.
    expect(server.psql("select most_common_vals from pg_stats where tablename = 'secrets' and attname = 's'")).toContain('TOPSECRET');
    const c = new pg.Client({ host: statsGate.broker.host, port: statsGate.broker.port, user: statsGate.broker.user, password: statsGate.broker.secret, database: statsGate.broker.database });
    await c.connect();
    try {
      for (const sql of ["SELECT most_common_vals::text FROM pg_stats WHERE tablename = 'secrets'", "SELECT histogram_bounds::text FROM pg_catalog.pg_stats WHERE attname = 'pan'",
        'SELECT stavalues1::text FROM pg_statistic', 'SELECT * FROM pg_stats_ext']) {
        const r = await attempt(c, sql);
        expect(r, sql).toMatchObject({ code: '42501', message: expect.stringContaining('sampled values') });
      }
      // Catalogs that hold no sampled values still read (pg_statistic_ext: definitions, which psql's \d shows).
      expect(await attempt(c, "SELECT relname FROM pg_class WHERE relname = 'cards'")).toEqual({ rows: [{ relname: 'cards' }] });
      expect(await attempt(c, 'SELECT count(*)::int AS n FROM pg_catalog.pg_statistic_ext')).toEqual({ rows: [{ n: 0 }] });
    } finally {
      await c.end();
    }
  });
});

describe('search_path the server may have', () => {
  it('a SET search_path earlier in the same string, or one the server undid (SET LOCAL outside a block), does not move what an unqualified name means', async () => {
    for (const steps of [['SET search_path = vault; SELECT * FROM items'], ['SET LOCAL search_path = vault; SELECT * FROM items'],
      ['SET search_path = vault', 'SET LOCAL search_path = public', 'SELECT * FROM items'],
      ['BEGIN', 'SET search_path = vault', 'COMMIT', 'BEGIN', 'SET search_path = public', 'ROLLBACK', 'SELECT * FROM items']]) {
      await withClient(async (c) => {
        const results = [];
        for (const sql of steps) results.push(await attempt(c, sql));
        expect(JSON.stringify(results), steps.join(' / ')).not.toContain('VAULT-ROW');
        expect(results.at(-1), steps.join(' / ')).toMatchObject({ code: '42501', message: expect.stringContaining('tables.allow') });
      });
    }
  });

  it('search_path set to allowed schemas, and qualified names, still work', async () => {
    await withClient(async (c) => {
      for (const sql of ['SET search_path = public', 'SET search_path TO DEFAULT', 'RESET search_path', 'SET LOCAL search_path = public', 'RESET ALL']) {
        expect(await attempt(c, sql), sql).toEqual({ rows: [] });
        expect(await attempt(c, 'SELECT count(*)::int AS n FROM items'), sql).toEqual({ rows: [{ n: 10 }] });
      }
      expect(await attempt(c, "SET search_path = vault; SELECT name FROM public.items WHERE id = 1")).toEqual({ rows: [{ name: 'item 1' }] });
    });
  });
});

describe("settings that switch off the server's own controls", () => {
  beforeAll(() => {
    server.psql(`create table orders (id int, total int); create table audit_trail (what text);
      create function audit_orders() returns trigger language plpgsql as $$ begin insert into audit_trail values ('order ' || new.id); return new; end $$;
      create trigger orders_audit after insert on orders for each row execute function audit_orders();`);
  });

  it('session_replication_role = replica (which skips audit triggers), log_* and pgaudit.* are dcl: refused to a role without it', async () => {
    await withClient(async (c) => {
      for (const sql of ['SET session_replication_role = replica', "SET log_statement = 'none'", "SET LOCAL log_min_duration_statement = -1", "SET pgaudit.log = 'none'"]) {
        expect(await attempt(c, sql), sql).toMatchObject({ code: '42501', message: expect.stringContaining('role may not run dcl statements') });
      }
      expect(await attempt(c, 'SHOW session_replication_role')).toEqual({ rows: [{ session_replication_role: 'origin' }] });
      await c.query('INSERT INTO orders VALUES (1, 100)');
    });
    // The insert was audited by the server's own trigger.
    expect(server.psql('select what from audit_trail').trim()).toBe('order 1');
  });

  it('ordinary settings, and going back to a default, still pass', async () => {
    await withClient(async (c) => {
      for (const sql of ["SET work_mem = '64MB'", 'SET client_min_messages = warning', "SET TIME ZONE 'UTC'", "SET application_name = 'report'", 'SET statement_timeout = 5000',
        'RESET session_replication_role', 'SET session_replication_role TO DEFAULT', 'SET LOCAL lock_timeout = 1000']) {
        expect(await attempt(c, sql), sql).toEqual({ rows: [] });
      }
    });
  });
});

describe('normal work', () => {
  it("psql's catalog commands (\\d, \\dt, \\df, \\dn, \\du, \\l, \\dx, \\d+, \\dconfig) run for a role without the function class", async () => {
    const readers = policySection.parse({
      roles: { eng: { subjects: ['tester'] } },
      connections: { 'test-db': { roles: { eng: { classes: ['read', 'transaction', 'utility'], tables: { deny: ['secrets'] }, columns: { deny: ['cards.pan'] } } } } },
    });
    const g = await startGate(server, { hooksFor: policyHooksFor({ engine: new PolicyEngine(readers, {}), connection: 'test-db', clock: systemClock(), dbUser: server.superuser }) });
    try {
      const commands = ['\\d', '\\d items', '\\d+ cards', '\\dt', '\\dt+', '\\df', '\\dn', '\\du', '\\l', '\\dx', '\\di', '\\dconfig work_mem'];
      const r = await run('psql', ['-X', '-v', 'ON_ERROR_STOP=1', ...commands.flatMap((x) => ['-c', x])], g.env);
      expect(r.stderr, r.stderr).toBe('');
      expect(r.stdout).toContain('Table "public.items"');
      expect(r.stdout).toContain('work_mem');
    } finally {
      await g.close();
    }
  });
});

/** A migration role: may change the schema, write and run functions, but never touch secrets or cards.pan. */
const builders = policySection.parse({
  roles: { eng: { subjects: ['tester'] } },
  connections: { 'test-db': { roles: { eng: { classes: ['read', 'write', 'ddl', 'function', 'transaction', 'utility'], tables: { deny: ['secrets'] }, columns: { deny: ['cards.pan'] } } } } },
});
let builderGate: Promise<Gate> | undefined;
/** The gate for `builders`, started on first use and closed after all tests. */
function codeGate(): Promise<Gate> {
  builderGate ??= startGate(server, { hooksFor: policyHooksFor({ engine: new PolicyEngine(builders, {}), connection: 'test-db', clock: systemClock(), dbUser: server.superuser }) });
  return builderGate;
}
afterAll(async () => { await (await builderGate)?.close(); });

async function withClientOf<T>(gp: Promise<Gate>, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const g = await gp;
  const c = new pg.Client({ host: g.broker.host, port: g.broker.port, user: g.broker.user, password: g.broker.secret, database: g.broker.database });
  await c.connect();
  try { return await fn(c); } finally { await c.end(); }
}

describe('code the server runs later', () => {
  let g: Gate;
  beforeAll(async () => { g = await codeGate(); });
  const client = <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => withClientOf(codeGate(), fn);

  it('a function body policy cannot read, or a DO block, is refused to a role with denies; a SQL body is read like the statement it is', async () => {
    await client(async (c) => {
      expect(await attempt(c, 'CREATE TABLE loot (s text)')).toEqual({ rows: [] });
      const steal = [
        "CREATE FUNCTION steal() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO loot SELECT s FROM secrets; RETURN NULL; END $$",
        "CREATE FUNCTION steal_sql() RETURNS SETOF text LANGUAGE sql AS 'SELECT s FROM secrets'",
        "CREATE FUNCTION steal_pan() RETURNS SETOF text LANGUAGE sql AS $$ SELECT pan FROM cards $$",
        'DO $$ BEGIN INSERT INTO loot SELECT s FROM secrets; END $$',
      ];
      for (const sql of steal) expect(await attempt(c, sql), sql).toMatchObject({ code: '42501', message: expect.stringMatching(/tables\.deny|columns\.deny/) });
      // What the first would have done: a trigger on an allowed table copying the denied one on every insert.
      expect(await attempt(c, 'CREATE TRIGGER t AFTER INSERT ON items FOR EACH STATEMENT EXECUTE FUNCTION steal()')).toMatchObject({ code: '42883' });
      expect(await attempt(c, 'SELECT count(*)::int AS n FROM loot')).toEqual({ rows: [{ n: 0 }] });
      // Functions over allowed tables still go through.
      expect(await attempt(c, "CREATE FUNCTION item_name(i int) RETURNS text LANGUAGE sql AS 'SELECT name FROM items WHERE id = i'")).toEqual({ rows: [] });
      expect(await attempt(c, 'SELECT item_name(3) AS n')).toEqual({ rows: [{ n: 'item 3' }] });
      expect(await attempt(c, 'CREATE FUNCTION two() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 2; END')).toEqual({ rows: [] });
      expect(await attempt(c, 'DROP FUNCTION item_name(int); DROP FUNCTION two(); DROP TABLE loot')).toEqual({ rows: [] });
    });
  });

  it('CREATE TABLE … AS EXECUTE is decided as the statement it executes: a protocol-prepared one policy never decided is refused', async () => {
    const c = await RawPgClient.login(g.broker);
    const frames: string[] = [];
    try {
      for (const m of [Buffer.concat([bytes.parse('p', 'SELECT * FROM secrets'), bytes.sync()]), bytes.query('CREATE TEMP TABLE loot AS EXECUTE p'),
        bytes.query('EXPLAIN ANALYZE CREATE TEMP TABLE loot2 AS EXECUTE p'), bytes.query("SELECT string_agg(s, ',') FROM loot")]) {
        c.sock.write(m);
        for (const f of await c.untilReady()) frames.push(`${String.fromCharCode(f[0]!)}:${f.subarray(5).toString('latin1')}`);
      }
    } finally {
      c.sock.destroy();
    }
    expect(frames.join('\n')).not.toContain('TOPSECRET');
    expect(frames.filter((f) => f.startsWith('E:') && f.includes('C42501'))).toHaveLength(2);
    await client(async (pc) => {
      expect(await attempt(pc, 'PREPARE ok AS SELECT id FROM items WHERE id < 3')).toEqual({ rows: [] });
      expect(await attempt(pc, 'CREATE TEMP TABLE mine AS EXECUTE ok')).toEqual({ rows: [] });
      expect(await attempt(pc, 'SELECT count(*)::int AS n FROM mine')).toEqual({ rows: [{ n: 2 }] });
    });
  });

  it('set_config from inside a query is judged as the SET it is', async () => {
    await client(async (c) => {
      expect(await attempt(c, "SELECT set_config('standard_conforming_strings', 'off', false)")).toMatchObject({ code: '42501', message: expect.stringContaining('rule sql_text') });
      expect(await attempt(c, "SELECT set_config('session_replication_role', 'replica', false)")).toMatchObject({ code: '42501', message: expect.stringContaining('dcl') });
      expect(await attempt(c, 'SHOW session_replication_role')).toEqual({ rows: [{ session_replication_role: 'origin' }] });
      expect(await attempt(c, "SELECT set_config('application_name', 'report', false) AS v")).toEqual({ rows: [{ v: 'report' }] });
    });
  });

  it('renaming a denied column (or changing it) is touching it: the new name would read it', async () => {
    await client(async (c) => {
      for (const sql of ['ALTER TABLE cards RENAME COLUMN pan TO card_no', 'ALTER TABLE cards ALTER COLUMN pan TYPE varchar(40)', 'ALTER TABLE cards ALTER COLUMN pan DROP NOT NULL']) {
        expect(await attempt(c, sql), sql).toMatchObject({ code: '42501', message: expect.stringContaining('columns.deny') });
      }
      expect(await attempt(c, 'SELECT card_no FROM cards LIMIT 1')).toMatchObject({ code: '42703' });
      expect(await attempt(c, 'ALTER TABLE items RENAME COLUMN name TO title; ALTER TABLE items RENAME COLUMN title TO name')).toEqual({ rows: [] });
    });
  });
});

describe('decisions shared between texts that differ in constants', () => {
  it("EXPLAIN (ANALYZE 'on') is not decided as EXPLAIN (ANALYZE 'off') was: the DELETE it runs is refused to a role without write", async () => {
    const readers = policySection.parse({
      roles: { eng: { subjects: ['tester'] } },
      connections: { 'test-db': { roles: { eng: { classes: ['read', 'transaction', 'utility'] } } } },
    });
    const g = await startGate(server, { hooksFor: policyHooksFor({ engine: new PolicyEngine(readers, {}), connection: 'test-db', clock: systemClock(), dbUser: server.superuser }) });
    const c = new pg.Client({ host: g.broker.host, port: g.broker.port, user: g.broker.user, password: g.broker.secret, database: g.broker.database });
    await c.connect();
    try {
      expect(JSON.stringify(await attempt(c, "EXPLAIN (ANALYZE 'off', COSTS 'off') DELETE FROM items WHERE id = 9"))).toContain('Delete on items');
      expect(await attempt(c, "EXPLAIN (ANALYZE 'on', COSTS 'off') DELETE FROM items WHERE id = 9")).toMatchObject({ code: '42501', message: expect.stringContaining('write') });
    } finally {
      await c.end();
      await g.close();
    }
    expect(server.psql('select count(*) from items where id = 9').trim()).toBe('1');
  });

  it('CREATE OR REPLACE FUNCTION with another body is decided by that body', async () => {
    await withClientOf(codeGate(), async (c) => {
      expect(await attempt(c, "CREATE OR REPLACE FUNCTION body_swap() RETURNS SETOF text LANGUAGE sql AS 'SELECT name FROM items'")).toEqual({ rows: [] });
      expect(await attempt(c, "CREATE OR REPLACE FUNCTION body_swap() RETURNS SETOF text LANGUAGE sql AS 'SELECT s FROM secrets'")).toMatchObject({ code: '42501', message: expect.stringContaining('tables.deny') });
      expect(await attempt(c, 'DROP FUNCTION body_swap()')).toEqual({ rows: [] });
    });
  });
});
