/**
 * Masking through the real proxy against a real PostgreSQL (issue 4): PANs in text, varchar, char, bigint,
 * numeric, json, jsonb and text[] columns in text and binary result formats, an aliased and a computed
 * column, a unique-violation detail, RAISE NOTICE, a NOTIFY payload, COPY TO STDOUT in text, csv and
 * binary, CVV columns hidden, a qualified rule resolved through pg_catalog; then the data home (log and
 * transcripts) scanned: zero findings.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ColumnCatalog } from '../../src/mask/column-catalog.js';
import { PgMasker } from '../../src/mask/pg-masker.js';
import type { MaskCounts } from '../../src/mask/pan-masker.js';
import { scanPaths } from '../../src/mask/scan-files.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { tempDir } from '../harness/cli.js';
import { testCtx } from '../harness/test-ctx.js';
import { run, startGate, until, type Gate } from './pg-proxy-setup.js';

const PAN = '4111111111111111';
const AMEX = '378282246310005';
let server: PostgresServer;
let gate: Gate;
let side: pg.Client;
const counts: MaskCounts = {};
let lookups = 0;

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create table cards (id int primary key, pan text unique, pan_v varchar(20), pan_c char(16), pan_b bigint, pan_n numeric,
    j json, jb jsonb, arr text[], cvv text, number text, note text);
    insert into cards values (1, '${PAN}', '${PAN}', '${PAN}', ${PAN}, ${PAN}, '{"pan": ${PAN}}', '{"pan": "${PAN}"}', '{a,${PAN}}', '123', 'ACCT-00042', 'amex ${AMEX} on file');`);
  side = new pg.Client({ host: server.host, port: server.port, user: server.superuser, password: server.password, database: server.database });
  await side.connect();
  const lookup = async (oid: number) => {
    lookups++;
    const r = await side.query<{ attnum: number; name: string }>(
      `select a.attnum, n.nspname || '.' || c.relname || '.' || a.attname as name from pg_attribute a join pg_class c on c.oid = a.attrelid
       join pg_namespace n on n.oid = c.relnamespace where a.attrelid = $1 and a.attnum > 0`, [oid]);
    return new Map(r.rows.map((x) => [x.attnum, x.name]));
  };
  const catalog = new ColumnCatalog(lookup, { now: () => Date.now() });
  gate = await startGate(server, {
    hooksFor: () => {
      const masker = new PgMasker({ config: { format: 'last4', networks: 'major', sad_columns: [], rules: [{ name: 'account', columns: ['public.cards.number'], format: 'full' }] }, catalog });
      return {
        // The masker's side of COPY: its columns announced (COPY sends no RowDescription). The broker's own
        // announcement, from a Describe on a side connection, is tested in pg-copy-masking.test.ts.
        onStatement: async (stmt) => {
          const m = /^\s*copy\s+(\w+)\s*(?:\(([^)]*)\))?\s+to\s+stdout(.*)$/is.exec(stmt.sql);
          if (m) {
            const table = m[1]!;
            const names = m[2] ? m[2].split(',').map((x) => x.trim()) : (await side.query<{ attname: string }>(
              `select attname from pg_attribute where attrelid = $1::regclass and attnum > 0 and not attisdropped order by attnum`, [table])).rows.map((r) => r.attname);
            masker.expectCopy(stmt, names.map((n) => ({ name: n, qualified: `public.${table}.${n}` })), { csv: /csv/i.test(m[3]!), header: /header/i.test(m[3]!) });
          }
          return { action: 'allow' };
        },
        onBackendMessage: (frame, stmt) => {
          const out = masker.onBackendMessage(frame, stmt);
          for (const [k, v] of Object.entries(masker.takeCounts())) counts[k] = (counts[k] ?? 0) + v;
          return out;
        },
      };
    },
  });
}, 120_000);

afterAll(async () => {
  await side?.end();
  await gate?.close();
  await server?.stop();
});

async function withClient<T>(fn: (c: pg.Client, notices: string[]) => Promise<T>): Promise<T> {
  const c = new pg.Client({ host: gate.broker.host, port: gate.broker.port, user: gate.broker.user, password: gate.broker.secret, database: gate.broker.database });
  const notices: string[] = [];
  c.on('notice', (n) => notices.push(`${n.message ?? ''} ${n.detail ?? ''}`));
  await c.connect();
  try { return await fn(c, notices); } finally { await c.end(); }
}

const noPan = (v: unknown) => {
  const s = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : Buffer.isBuffer(x) ? x.toString('latin1') : x));
  expect(s).not.toContain(PAN);
  expect(s).not.toContain(AMEX);
  expect(s.replace(/[ -]/g, '')).not.toMatch(/4111111111111111|378282246310005/);
};

describe('masking through the proxy', () => {
  // These hooks offer no prepareRows (pcigate connect's do: the proxy then waits for the lookup), so the masker
  // plans the first rows before it is done.
  it('first sight of a table, while its columns are looked up: qualified rules apply to all (fail closed)', async () => {
    await withClient(async (c) => {
      const r = await c.query('select * from cards');
      expect(r.rows[0]).toMatchObject({ pan: '****************', note: '**** *************** ** ****' });
      await until(() => lookups >= 1);
      await new Promise((res) => setTimeout(res, 200));
    });
  });

  it('text format: every column type masked (a number column\'s card number withheld), CVV hidden, JSON still parses', async () => {
    await withClient(async (c) => {
      const r = await c.query('select * from cards');
      const row = r.rows[0] as Record<string, unknown>;
      noPan(row);
      expect(row.pan).toBe('************1111');
      expect(row.pan_v).toBe('************1111');
      expect(row.pan_c).toBe('************1111');
      // A number column cannot hold a masked number: the value is withheld (NULL), as in binary format.
      expect(row.pan_b).toBeNull();
      expect(row.pan_n).toBeNull();
      expect(row.j).toEqual({ pan: '************1111' });
      expect(row.jb).toEqual({ pan: '************1111' });
      expect(row.arr).toEqual(['a', '************1111']);
      expect(row.cvv).toBe('***');
      expect(row.number).toBe('****-*****');
      expect(row.note).toBe('amex ***********0005 on file');
    });
  });

  it('a card number kept as double precision, printed as 4.111111111111111e+15, is withheld (NULL)', async () => {
    await withClient(async (c) => {
      const r = await c.query('select pan_b::float8 as f8, 250.75::float8 as amount from cards');
      expect(r.rows[0]).toEqual({ f8: null, amount: 250.75 });
    });
  });

  it('a float print of a card number: withheld with extra_float_digits = 0 (15 digits + Luhn give it away), masked as text, in JSON and in COPY', async () => {
    await withClient(async (c) => {
      await c.query('set extra_float_digits = 0');
      const direct = await side.query('select 4111111111111111::float8::text as t'); // what the server prints
      expect(direct.rows[0].t).toBe('4.111111111111111e+15'); // side keeps pg's default; the gate's session prints one digit fewer
      const r = await c.query(`select pan_b::float8 as f8, pan_b::float8::text as t, json_build_object('f', pan_b::float8) as j, 250.75::float8 as amount from cards`);
      expect(r.rows[0]).toEqual({ f8: null, t: '*.************11e+15', j: { f: '*.************11e+15' }, amount: 250.75 });
      await c.query('reset extra_float_digits');
      const t = await c.query(`select 'card ' || pan_b::float8 as t from cards`);
      expect(t.rows[0].t).toBe('card *.*************11e+15');
    });
    const copy = await run('psql', ['-X', '-c', 'copy (select id, pan_b::float8 from cards) to stdout with (format csv)'], gate.env);
    expect(copy.code, copy.stderr).toBe(0);
    expect(copy.stdout).toBe('1,*.*************11e+15\n');
  });

  it('aliases and computed columns do not dodge masking', async () => {
    await withClient(async (c) => {
      const r = await c.query(`select pan as x, pan || '' as y, number as z, cvv as w, substr(pan, 1, 16) as s from cards`);
      expect(r.rows[0]).toEqual({ x: '************1111', y: '************1111', z: '****-*****', w: '***', s: '************1111' });
    });
  });

  it('binary result format: text-like masked, bigint/numeric PANs become NULL, jsonb valid', async () => {
    await withClient(async (c) => {
      const r = await c.query({ text: 'select pan, pan_v, pan_b, pan_n, jb, arr, cvv, id from cards where id = $1', values: [1], binary: true } as pg.QueryConfig);
      const row = r.rows[0] as Record<string, unknown>;
      noPan(row);
      expect(row.pan).toBe('************1111');
      expect(row.pan_b).toBeNull();
      expect(row.pan_n).toBeNull();
      expect(row.cvv).toBe('***');
      expect(row.id).toBe(1);
    });
  });

  it('binary result format: records, whole rows, arrays and floats carry no PAN in any layout', async () => {
    server.psql('drop domain if exists card_no_d; create domain card_no_d as bigint');
    const int8 = Buffer.alloc(8); int8.writeBigInt64BE(BigInt(PAN));
    const f8 = Buffer.alloc(8); f8.writeDoubleBE(Number(PAN));
    // numeric_send's digits of 4111111111111111: 4111 1111 1111 1111 in base 10000
    const numDigits = Buffer.from('100f045704570457', 'hex');
    const clean = (v: unknown) => {
      if (Buffer.isBuffer(v)) {
        for (const p of [int8, f8, numDigits, Buffer.from(PAN)]) expect(v.includes(p), v.toString('hex')).toBe(false);
      } else noPan(v);
    };
    // A client in binary mode keeps every value as the bytes that arrived; a per-query `binary` would decode
    // them as UTF-8 and hide an int8's bytes.
    const c = new pg.Client({ host: gate.broker.host, port: gate.broker.port, user: gate.broker.user, password: gate.broker.secret, database: gate.broker.database, binary: true } as pg.ClientConfig);
    await c.connect();
    try {
      const r = await c.query({
        text: `select c as whole_row, row(c.id, c.pan_b, c.note) as rec, row(row(c.pan_n, 'x')) as nested, array[c.pan_b::float8, 2.5] as farr,
          array[2.5::float8, 3] as farr_clean, c.pan_b::float8 as f8, c.pan_b::card_no_d as domain_val, array[row(c.pan_b)] as rec_arr,
          row(c.id, 'plain') as rec_clean, c.id from cards c where id = $1`,
        values: [1],
        types: { getTypeParser: () => (v: unknown) => v },
      } as pg.QueryConfig);
      const row = r.rows[0] as Record<string, Buffer | null>;
      expect(Object.values(row).filter((v) => v !== null).every((v) => Buffer.isBuffer(v))).toBe(true);
      for (const v of Object.values(row)) clean(v);
      expect(row.id!.readInt32BE(0)).toBe(1);
      // A PAN element or field the container cannot keep its length without: the whole value is NULL.
      expect({ whole_row: row.whole_row, rec: row.rec, nested: row.nested, farr: row.farr, f8: row.f8, domain_val: row.domain_val, rec_arr: row.rec_arr })
        .toEqual({ whole_row: null, rec: null, nested: null, farr: null, f8: null, domain_val: null, rec_arr: null });
      // Containers without a PAN arrive as the server sent them.
      expect(row.farr_clean!.readDoubleBE(row.farr_clean!.length - 8)).toBe(3);
      expect(row.rec_clean!.toString('latin1')).toContain('plain');
    } finally { await c.end(); }
  });

  it('unique-violation detail, RAISE NOTICE and NOTIFY payloads are masked', async () => {
    await withClient(async (c, notices) => {
      const err = await c.query(`insert into cards (id, pan) values (2, '${PAN}')`).then(() => undefined, (e: pg.DatabaseError) => e);
      expect(err?.code).toBe('23505');
      expect(err?.detail).toBe('Key (pan)=(************1111) already exists.');
      noPan({ m: err?.message, d: err?.detail });
      await c.query(`do $$ begin raise notice 'card % here', '${PAN}'; end $$`);
      expect(notices.join('|')).toContain('card ************1111 here');
      noPan(notices);
      const got = new Promise<string>((resolve) => c.on('notification', (n) => resolve(n.payload ?? '')));
      await c.query('listen ch');
      await c.query(`notify ch, 'pay ${PAN}'`);
      expect(await got).toBe('pay ************1111');
    });
  });

  it('COPY TO STDOUT in text, csv and binary through psql', async () => {
    const text = await run('psql', ['-X', '-c', 'copy cards (id, pan, note) to stdout'], gate.env);
    expect(text.code).toBe(0);
    expect(text.stdout).toBe('1\t************1111\tamex ***********0005 on file\n');
    const csv = await run('psql', ['-X', '-c', 'copy (select id, pan, pan_b from cards) to stdout with (format csv, header)'], gate.env);
    expect(csv.stdout).toBe('id,pan,pan_b\n1,************1111,************1111\n');
    // Binary output to a file, read as bytes: psql's stdout reaches the test as a UTF-8 string, which would
    // mangle an int8's bytes (so a check on it could not fail).
    const file = path.join(tempDir('mask-copy-'), 'plain.bin');
    const bin = await run('psql', ['-X', '-c', `\\copy (select id, pan, pan_b, pan_n from cards) to '${file}' with (format binary)`], gate.env);
    expect(bin.code, bin.stderr).toBe(0);
    const raw = readFileSync(file);
    noPan(raw.toString('latin1'));
    expect(raw.toString('latin1')).toContain('************1111');
    const i64 = Buffer.alloc(8);
    i64.writeBigInt64BE(BigInt(PAN));
    expect(raw.includes(i64), raw.toString('hex')).toBe(false);
  });

  it('binary COPY of records, arrays and floats: no PAN in any layout reaches the file', async () => {
    const file = path.join(tempDir('mask-copy-'), 'out.bin');
    const r = await run('psql', ['-X', '-c', `\\copy (select row(pan_b, 'x'), array[pan_n], pan_b::float8, row(id, 'kept'), id from cards) to '${file}' with (format binary)`], gate.env);
    expect(r.code, r.stderr).toBe(0);
    const raw = readFileSync(file);
    const int8 = Buffer.alloc(8); int8.writeBigInt64BE(BigInt(PAN));
    const f8 = Buffer.alloc(8); f8.writeDoubleBE(Number(PAN));
    for (const p of [int8, f8, Buffer.from('100f045704570457', 'hex'), Buffer.from(PAN)]) expect(raw.includes(p), raw.toString('hex')).toBe(false);
    expect(raw.includes(Buffer.from('kept'))).toBe(true);
  });

  it('COPY of a table: CVV and ruled columns hidden in text, csv and binary', async () => {
    const text = await run('psql', ['-X', '-c', 'copy cards (id, pan, cvv, number) to stdout'], gate.env);
    expect(text.stdout).toBe('1\t************1111\t***\t****-*****\n');
    const csv = await run('psql', ['-X', '-c', 'copy cards (id, cvv) to stdout with (format csv, header)'], gate.env);
    expect(csv.stdout).toBe('id,cvv\n1,***\n');
    const bin = await run('psql', ['-X', '-c', 'copy cards (id, cvv) to stdout with (format binary)'], gate.env);
    expect(bin.code).toBe(0);
    expect(bin.stdout).not.toContain('123');
  });

  it('counted per rule, and the data home (log, transcripts) holds no PAN', async () => {
    expect(counts.pan).toBeGreaterThan(5);
    expect(counts.sad).toBeGreaterThan(0);
    expect(counts.account).toBeGreaterThan(0);
    expect(lookups).toBeGreaterThan(0);
    const report = await scanPaths(testCtx(), [gate.home]);
    expect(report.errors).toEqual([]);
    expect(report.files).toBeGreaterThan(0);
    expect(report.findings).toEqual([]);
  });
});
