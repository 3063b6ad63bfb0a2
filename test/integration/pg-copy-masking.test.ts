/**
 * COPY … TO STDOUT through a gate wired as `pcigate connect` wires it (pgHooksFor: policy, masking), against
 * a real PostgreSQL, with psql: the broker announces the COPY's columns to the masker, so SAD columns and
 * column rules apply to COPY rows in text, csv and binary, and binary fields are masked as their types
 * (a timestamp whose bytes happen to read as a card number comes back intact). A simple-Query COPY (psql,
 * postgres.js) is planned on the session's own connection, so uncommitted DDL, temporary tables, set_config
 * and another schema's function of the same name are seen as the COPY sees them; an extended-protocol COPY
 * (pg with queryMode 'extended') is planned on a side connection and refused wherever that could see its
 * table otherwise, never forwarded with one column's rules on another. COPY's QUOTE, ESCAPE, DELIMITER, NULL
 * and HEADER options are read as the server writes them.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../harness/cli.js';
import { bytes } from '../harness/pg-bytes.js';
import { RawPgClient } from '../harness/raw-pg-client.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, gateConfig, pgQueries, queryDetail, run, startConfiguredGate } from './pg-proxy-setup.js';

const PAN = '4111111111111111';
let server: PostgresServer;
let gate: Gate;
/** Microseconds since 2000-01-01 of the timestamps below: many read as Maestro numbers (56–69…, Luhn-valid). */
const ROWS = 400;

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create table cards (id int primary key, pan text, cvv text, account_no text, seen timestamptz, pan_b bigint,
      doubled int generated always as (id * 2) stored, note text);
    insert into cards (id, pan, cvv, account_no, seen, pan_b, note)
      select g, '${PAN}', lpad(g::text, 3, '0'), 'AC-' || lpad(g::text, 12, '0'), timestamptz '2019-03-01 00:00:00+00' + g * interval '1 hour 7 minutes 13.123457 seconds', ${PAN}, 'n' || g
      from generate_series(1, ${ROWS}) g;`);
  const config = gateConfig(server, { classes: ['read', 'write', 'ddl', 'copy_out', 'utility', 'transaction', 'function'], rules: [{ name: 'account', columns: ['public.cards.account_no'], format: 'last4' }] });
  gate = await startConfiguredGate(server, config);
}, 120_000);

afterAll(async () => {
  await gate?.close().catch(() => undefined);
  await server?.stop();
});

const psql = (sql: string) => run('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-c', sql], gate.env);

/**
 * `setup` then `copy` as an extended-protocol statement (Parse/Bind/Describe/Execute/Sync) on one connection
 * through the gate: planned on the side connection. pg drops the COPY's rows; the record tells what was masked.
 */
async function extendedCopy(copy: string, setup: string[] = []): Promise<pg.QueryResult> {
  const c = new pg.Client({ host: gate.broker.host, port: gate.broker.port, user: gate.broker.user, password: gate.broker.secret, database: gate.broker.database });
  await c.connect();
  try {
    for (const q of setup) await c.query(q);
    return await c.query({ text: copy, queryMode: 'extended' } as pg.QueryConfig);
  } finally {
    await c.end();
  }
}

describe('COPY TO STDOUT through pcigate connect', () => {
  it('text form of a table: the cvv (SAD) and the ruled column are masked, the bigint card number withheld, the generated column is not in the rows', async () => {
    const r = await psql('copy cards to stdout');
    expect(r.code, r.stderr).toBe(0);
    const first = r.stdout.split('\n')[0]!.split('\t');
    // A masked number would not read back into a bigint column: written as NULL.
    expect(first).toEqual(['1', '************1111', '***', '**-********0001', expect.stringMatching(/^2019-03-01 /), '\\N', 'n1']);
    expect(r.stdout).not.toContain(PAN);
    expect(r.stdout.split('\n').filter(Boolean)).toHaveLength(ROWS);
    const q = pgQueries(gate.home, 'copy cards to stdout').map(queryDetail).at(-1)!;
    expect(q.masked).toMatchObject({ sad: ROWS, account: ROWS });
  });

  it('query form, csv with a header and a column list in another order', async () => {
    const r = await psql(`copy (select c.cvv as code, c.id, c.account_no from cards c where c.id <= 2 order by c.id) to stdout with (format csv, header)`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('code,id,account_no\n***,1,**-********0001\n***,2,**-********0002\n');
    const t = await psql('copy cards (account_no, id) to stdout (format csv)');
    expect(t.stdout.split('\n')[0]).toBe('**-********0001,1');
  });

  it('binary: ruled and SAD fields are NULL, card numbers NULL, every timestamp intact (re-imported and compared)', async () => {
    const file = path.join(tempDir('copy-bin-'), 'cards.bin');
    const r = await psql(`\\copy (select id, seen, pan_b, cvv, account_no, note from cards order by id) to '${file}' with (format binary)`);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(file).includes(Buffer.from(PAN))).toBe(false);
    server.psql(`create table back (id int, seen timestamptz, pan_b bigint, cvv text, account_no text, note text);`);
    server.psql(`\\copy back from '${file}' with (format binary)`);
    const diff = server.psql(`select count(*) filter (where b.seen is distinct from c.seen) || ' ' || count(*) filter (where b.pan_b is not null or b.cvv is not null or b.account_no is not null)
      || ' ' || count(*) filter (where b.note = c.note) from back b join cards c using (id)`).trim();
    expect(diff).toBe(`0 0 ${ROWS}`);
    const q = pgQueries(gate.home, 'format binary').map(queryDetail).at(-1)!;
    expect(q.masked).toEqual({ pan: ROWS, sad: ROWS, account: ROWS, binary_null: 3 * ROWS });
  });

  it('follows the session\'s search_path: set in the same query string, or by an earlier statement, and reset', async () => {
    server.psql(`create schema app; create table app.wallet (cvv text, id int); insert into app.wallet values ('321', 7);`);
    const same = await psql('set search_path to app, public; copy wallet to stdout');
    expect(same.code, same.stderr).toBe(0);
    expect(same.stdout).toBe('SET\n***\t7\n');
    const later = await run('psql', ['-X', '-v', 'ON_ERROR_STOP=1'], gate.env, { input: 'set search_path = app;\ncopy wallet to stdout (format csv);\nreset search_path;\ncopy cards (id, cvv) to stdout (format csv);\n' });
    expect(later.code, later.stderr).toBe(0);
    const rows = later.stdout.split('\n').filter((l) => l.includes(','));
    expect(rows.slice(0, 2)).toEqual(['***,7', '1,***']);
    expect(rows).toHaveLength(1 + ROWS);
  });

  // In the session a name resolves as the COPY resolves it: that table's own rules. A side connection does not
  // know which schema's rules apply: every qualified rule applies to every column (the account rule's last4 to
  // id, counted as `account`).
  it('a name in several schemas with the same columns (tenant schemas): its own rules in the session; every qualified rule aside', async () => {
    server.psql(`create schema t1; create schema t2; create table t1.acct (id int, cvv text); create table t2.acct (id int, cvv text);
      insert into t1.acct values (1, '111'); insert into t2.acct values (2, '222');`);
    const r = await run('psql', ['-X', '-v', 'ON_ERROR_STOP=1'], gate.env, { input: 'set search_path to t2;\ncopy acct to stdout;\ncopy (select a.id, a.cvv from acct a) to stdout;\n' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('SET\n2\t***\n2\t***\n');
    await extendedCopy('copy (select a.id, a.cvv from acct a) to stdout', ['set search_path to t2']);
    expect(pgQueries(gate.home, 'from acct a) to stdout').map(queryDetail).at(-1)!.masked).toEqual({ sad: 1, account: 1 });
  });

  it('quoted identifiers (spaces, quotes, capitals, unicode), a dropped column in the middle, a column list', async () => {
    server.psql(`create schema "My Schéma"; create table "My Schéma"."Ca""rds" (id int, gone text, "CVV code" text, "Note" text);
      alter table "My Schéma"."Ca""rds" drop column gone; insert into "My Schéma"."Ca""rds" values (1, '654', 'n');`);
    const r = await psql(`copy "My Schéma"."Ca""rds" to stdout`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('1\t***\tn\n');
    const l = await psql(`copy "My Schéma"."Ca""rds" ("Note", "CVV code") to stdout (format csv)`);
    expect(l.stdout).toBe('n,***\n');
  });

  it('a temporary table: masked by its columns in the session; refused aside (the side connection cannot see it), nothing forwarded', async () => {
    const r = await run('psql', ['-X', '-v', 'ON_ERROR_STOP=1'], gate.env, { input: 'create temp table t as select cvv, id from cards;\ncopy t to stdout;\ncopy (select * from t) to stdout (format csv);\n' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/^\d{3}\b/m);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('***'))).toHaveLength(2 * ROWS);
    await expect(extendedCopy('copy t to stdout', ['create temp table t as select cvv from cards'])).rejects.toMatchObject({
      code: '0A000', message: expect.stringMatching(/pcigate: this COPY … TO STDOUT was not run: its columns could not be determined.*"t" does not exist/),
    });
    const q = pgQueries(gate.home, 'copy t to stdout').map(queryDetail).at(-1)!;
    expect(q).toMatchObject({ rule: 'masking.copy_columns', sqlstate: '0A000' });
  });

  it('a refused extended-protocol COPY, again and again: each client gets one error and nothing after it', async () => {
    // Before 167be36 the abort pcigate sent after such a refusal sometimes reached the client as a second
    // error after its query had ended (pg: an unhandled 'error' event), a few times in 300 here.
    const stray: string[] = [];
    for (let i = 0; i < 300; i++) {
      const c = new pg.Client({ host: gate.broker.host, port: gate.broker.port, user: gate.broker.user, password: gate.broker.secret, database: gate.broker.database });
      c.on('error', (e) => { stray.push(`${i}: ${e.message}`); });
      await c.connect();
      try {
        await c.query('create temp table t as select cvv from cards');
        const e = await c.query({ text: 'copy t to stdout', queryMode: 'extended' } as pg.QueryConfig).then(() => undefined, (x: pg.DatabaseError) => x);
        expect(e?.code).toBe('0A000');
      } finally {
        await c.end().catch(() => undefined);
      }
    }
    expect(stray).toEqual([]);
  }, 120_000);

  it('a COPY the server refuses while its columns are asked gets the server\'s own error, and its transaction fails as it would have', async () => {
    const r = await run('psql', ['-X'], gate.env, { input: 'begin;\ncopy no_such_table to stdout;\nselect 1;\nrollback;\ncopy (select cvv from cards where id = 1) to stdout;\n' });
    expect(r.stderr).toMatch(/ERROR: {2}relation "no_such_table" does not exist/);
    expect(r.stderr).toMatch(/current transaction is aborted/);
    expect(r.stdout).toBe('BEGIN\nROLLBACK\n***\n');
    const q = pgQueries(gate.home, 'copy no_such_table to stdout').map(queryDetail).at(-1)!;
    expect(q).toMatchObject({ rule: 'masking.copy_columns', sqlstate: '42P01' });
  });

  // A side connection sees neither the session's open transaction nor its temporary tables nor a search_path
  // set with set_config(): in each case below the session's own `swap` has cvv (SAD, by its name) as its
  // third column while the committed public.swap has it second, so a plan from the side connection would send
  // the real cvv as "note", unmasked (a SELECT * of the same table would mask it). psql's COPY is planned in
  // the session and masked right; the same COPY through the extended protocol is planned aside and refused.
  describe('a COPY whose table the side connection would see otherwise: masked right in the session, refused aside', () => {
    beforeAll(() => {
      server.psql(`create table swap (id int, cvv text, note text); insert into swap values (1, '987', 'hello');
        create schema s2; create table s2.swap (id int, note text, cvv text); insert into s2.swap values (1, 'hello', '987');`);
    });
    // The copy goes through a column with a SAD name (pg-stored-values: storing cvv in an unmasked column is refused).
    const reordered = 'alter table swap add column c2_cvv text;\nupdate swap set c2_cvv = cvv;\nalter table swap drop column cvv;\nalter table swap rename column c2_cvv to cvv;\n';
    const refused = (r: { code: number | null; stdout: string; stderr: string }) => {
      expect(r.stdout).not.toContain('987');
      expect(r.stderr).toMatch(/pcigate: this COPY … TO STDOUT was not run/);
    };
    const refusedAside = (copy: string, setup: string[], why: RegExp) =>
      expect(extendedCopy(copy, setup)).rejects.toMatchObject({ code: '0A000', message: expect.stringMatching(why) });

    it('uncommitted DDL in a transaction block (the columns moved): masked as moved in the session; refused aside', async () => {
      const r = await run('psql', ['-X', '-v', 'ON_ERROR_STOP=1'], gate.env, { input: `begin;\n${reordered}copy swap to stdout;\ncopy (select * from swap) to stdout;\nrollback;\ncopy public.swap to stdout;\n` });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).not.toContain('987');
      expect(r.stdout.match(/^1\thello\t\*\*\*$/gm)).toHaveLength(2);
      expect(r.stdout).toContain('1\t***\thello');
      await refusedAside('copy swap to stdout', ['begin', ...reordered.trim().split('\n')], /inside a transaction block/);
    });

    it('a transaction block that ran only reads, SET and transaction control: the COPY runs aside too, masked (psycopg\'s and JDBC\'s default)', async () => {
      const r = await run('psql', ['-X', '-v', 'ON_ERROR_STOP=1'], gate.env, { input: 'begin isolation level repeatable read;\nselect count(*) from public.swap;\nset work_mem = \'8MB\';\nsavepoint a;\ncopy public.swap to stdout;\ncopy public.swap to stdout;\ncommit;\n' });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.match(/1\t\*\*\*\thello/g)).toHaveLength(2);
      expect(r.stdout).not.toContain('987');
      await extendedCopy('copy public.swap to stdout', ['begin', 'select count(*) from public.swap', 'savepoint a']);
      expect(pgQueries(gate.home, 'copy public.swap to stdout').map(queryDetail).at(-1)!.masked).toEqual({ sad: 1 });
    });

    it('the in-session column lookup cannot be steered by an operator of the session\'s own ahead of pg_catalog', async () => {
      // An `=` on oids that is always true would list every table's columns as swap's: cvv would leave as "note".
      server.psql(`create schema evil; create function evil.yes(oid, oid) returns bool language sql as 'select true';
        create operator evil.= (leftarg = oid, rightarg = oid, function = evil.yes);`);
      const r = await run('psql', ['-X', '-v', 'ON_ERROR_STOP=1'], gate.env, { input: 'set search_path = evil, pg_catalog, public;\ncopy swap to stdout;\n' });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('SET\n1\t***\thello\n');
    });

    // The session cannot be asked while the client has extended-protocol messages in flight without their Sync
    // (pcigate's Sync would end the client's batch): the COPY is planned aside, as an extended one is.
    it('a COPY sent behind an unsynced extended-protocol batch is planned aside (refused: what the batch did is not known yet); the session stays in step', async () => {
      const r = await RawPgClient.login(gate.broker);
      r.sock.write(bytes.query('create temp table swap (id int, note text, cvv text); insert into swap (id, note, cvv) select id, note, cvv from public.swap'));
      await r.untilReady();
      // Described (Describe P): rows with no description of their own are refused under column rules.
      r.sock.write(Buffer.concat([bytes.parse('', 'select 1'), bytes.bind('', '', []), bytes.describe('P', ''), bytes.execute(), bytes.flush(), bytes.query('copy swap to stdout')]));
      const got = await r.untilReady();
      const text = Buffer.concat(got).toString();
      expect(text).toMatch(/this COPY … TO STDOUT was not run: the session's transaction state is not known/);
      expect(text).not.toContain('987');
      r.sock.write(Buffer.concat([bytes.sync(), bytes.query('copy swap to stdout')]));
      await r.untilReady();
      const after = Buffer.concat(await r.untilReady()).toString();
      expect(after).toContain('1\thello\t***');
      expect(after).not.toContain('987');
      r.sock.end(bytes.terminate());
    });

    it('uncommitted DDL earlier in the same query string (an implicit transaction): refused', async () => {
      const r = await psql(`${reordered.replace(/\n/g, ' ')} copy swap to stdout`);
      refused(r);
      expect(server.psql('select count(*) from information_schema.columns where table_name = \'swap\' and table_schema = \'public\' and column_name = \'c2\'').trim()).toBe('0');
    });

    it('a temporary table that shadows the committed one: masked as the temporary one in the session; refused aside', async () => {
      const shadow = ['create temp table swap (id int, note text, cvv text)', 'insert into swap (id, note, cvv) select id, note, cvv from public.swap'];
      const r = await run('psql', ['-X', '-v', 'ON_ERROR_STOP=1'], gate.env, { input: `${shadow.join(';\n')};\ncopy swap to stdout;\ncopy (select * from swap) to stdout;\n` });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).not.toContain('987');
      expect(r.stdout.match(/^1\thello\t\*\*\*$/gm)).toHaveLength(2);
      await refusedAside('copy swap to stdout', shadow, /several relations named "swap" with different columns/);
    });

    it('a search_path set with set_config (which the policy does not see): followed in the session; refused aside, and named by schema it runs', async () => {
      const setConfig = "select set_config('search_path', 's2, public', false)";
      const r = await run('psql', ['-X', '-v', 'ON_ERROR_STOP=1'], gate.env, { input: `${setConfig};\ncopy swap to stdout;\n` });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('1\thello\t***');
      expect(r.stdout).not.toContain('987');
      await refusedAside('copy swap to stdout', [setConfig], /several relations named "swap"/);
      await extendedCopy('copy s2.swap to stdout', [setConfig]);
      expect(pgQueries(gate.home, 'copy s2.swap to stdout').map(queryDetail).at(-1)!.masked).toEqual({ sad: 1 });
    });

    it('a function (or type) of the same name in another schema: the session\'s in the session; refused aside', async () => {
      server.psql(`create function public.f() returns table (id int, cvv text, note text) language sql as 'select id, cvv, note from public.swap';
        create function s2.f() returns table (id int, note text, cvv text) language sql as 'select id, note, cvv from public.swap';`);
      const setConfig = "select set_config('search_path', 's2, public', false)";
      const r = await run('psql', ['-X', '-v', 'ON_ERROR_STOP=1'], gate.env, { input: `${setConfig};\ncopy (select * from f()) to stdout;\ncopy (select null::swap is null) to stdout;\n` });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('1\thello\t***\nt\n');
      await refusedAside('copy (select * from f()) to stdout', [setConfig], /the function "f" exists in several schemas/);
      await refusedAside('copy (select null::swap is null) to stdout', [setConfig], /the type "swap" exists in several schemas/);
    });
  });

  describe('COPY options that change how fields are written', () => {
    it('CSV with its own QUOTE: fields are split as the server quoted them, so a cvv cannot hide in a neighbour', async () => {
      // With QUOTE '$' the server leaves `"` alone; a parser that knows only `"` read `",987,"` as one field
      // and split $a,b$ and $c,d$ in two each: five fields, as planned, with the cvv in the first.
      const r = await psql(`copy (select '"' as a, cvv, '"' as b, 'a,b' as c, 'c,d' as d from public.swap) to stdout (format csv, quote '$')`);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('",***,",$a,b$,$c,d$\n');
      const e = await psql(`copy (select 'x"y,z' as a, cvv from public.swap) to stdout (format csv, escape '\\')`);
      expect(e.code, e.stderr).toBe(0);
      expect(e.stdout).toBe('"x\\"y,z",***\n');
    });

    it('text with a printable DELIMITER: a delimiter inside a value (written \\-escaped) does not split it', async () => {
      const r = await psql(`copy (select 'a,b' as note, cvv, 'c\\d' as e from public.swap) to stdout (delimiter ',')`);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('a\\,b,***,c\\\\d\n');
    });

    it('text with HEADER: the header line is column names, not masked as a row', async () => {
      const r = await psql('copy public.swap to stdout (header)');
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('id\tcvv\tnote\n1\t***\thello\n');
    });

    it('a NULL option: a NULL is written as the session asked, not masked as a value', async () => {
      const r = await psql(`copy (select id, null::text as cvv, cvv as pin from public.swap) to stdout (null 'NIL')`);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('1\tNIL\t***\n');
      const c = await psql(`copy (select id, null::text as cvv, 'NIL' as pin from public.swap) to stdout (format csv, null 'NIL', force_quote (pin))`);
      expect(c.stdout).toBe('1,NIL,"***"\n');
      const b = await psql(`copy (select id, null::text as cvv from public.swap) to stdout (null '\\N', delimiter ',')`);
      expect(b.stdout).toBe('1,\\N\n');
    });

    it('an ENCODING other than UTF8 is refused: in SJIS a byte of a character can read as \\ or as the delimiter', async () => {
      const r = await psql(`copy public.swap to stdout (encoding 'SJIS')`);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/pcigate: this COPY … TO STDOUT was not run: .*ENCODING/);
      const u = await psql(`copy public.swap to stdout (encoding 'utf8')`);
      expect(u.stdout).toBe('1\t***\thello\n');
    });
  });

  it('postgres.js (its COPY is a simple Query): masked outside a transaction, in one that changed nothing, and after a write in it', async () => {
    const sql = postgres({ host: gate.broker.host, port: gate.broker.port, username: gate.broker.user, password: gate.broker.secret, database: gate.broker.database, max: 1, onnotice: () => {} });
    try {
      let text = '';
      for await (const chunk of await sql`copy (select id, cvv from public.cards where id <= 2 order by id) to stdout`.readable()) text += String(chunk);
      expect(text).toBe('1\t***\n2\t***\n');
      const copyIn = (write: boolean) => sql.begin(async (tx) => {
        await tx`select 1`;
        if (write) await tx`update public.cards set note = note where id = 1`;
        let t = '';
        for await (const chunk of await tx`copy (select id, cvv from public.cards where id = 1) to stdout`.readable()) t += String(chunk);
        return t;
      });
      expect(await copyIn(false)).toBe('1\t***\n');
      expect(await copyIn(true)).toBe('1\t***\n');
    } finally { await sql.end(); }
  });
});
