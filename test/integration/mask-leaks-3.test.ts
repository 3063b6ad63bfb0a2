/**
 * Card numbers a third hunt through the real gate (startConfiguredGate: the hooks `pcigate connect` gives a
 * session; real PostgreSQL, psql, the pg driver, raw protocol) found reaching a client or the data home
 * unmasked: each test fails without its fix.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytes } from '../harness/pg-bytes.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { RawPgClient } from '../harness/raw-pg-client.js';
import { type Gate, dataHome, gateConfig, pgClient, pgQueries, queryDetail, readLog, run, startConfiguredGate, until } from './pg-proxy-setup.js';

const PAN = '4111111111111111';
let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  gate = await startConfiguredGate(server, gateConfig(server, { classes: ['read', 'copy_out', 'utility', 'transaction', 'function'] }));
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

describe('leaks found by the third hunt', () => {
  it('a FATAL the server sends while answering pcigate\'s own question about a COPY (exit_on_error) is masked', async () => {
    // A COPY sent as a simple Query on its own is described on the session's connection first (exchange); with
    // exit_on_error on, the error that Describe meets is FATAL, and it went to the client as the server sent it.
    const c = await RawPgClient.login(gate.broker);
    const seen: Buffer[] = [];
    try {
      c.sock.write(bytes.query('set exit_on_error = on'));
      await c.untilReady();
      c.sock.write(bytes.query(`copy (select '${PAN}'::int) to stdout`));
      seen.push(...await c.until('E'));
    } finally { c.sock.destroy(); }
    const err = seen.at(-1)!.subarray(5).toString('latin1');
    expect(err).toContain('SFATAL');
    expect(err).toContain('value "************1111" is out of range for type integer');
    expect(err).not.toContain(PAN);
    await until(() => readLog(gate.home).some((r) => r.type === 'session.end'));
    expect(dataHome(gate.home).includes(Buffer.from(PAN))).toBe(false);
  });

  it('a card number glued after a word (card4111…) is masked in results, COPY and the log; after an identifier\'s letters or in hex it is not', async () => {
    const c = await pgClient(gate);
    try {
      const r = await c.query(`select 'card${PAN}' as glued, 'PAN:cc${PAN};' as cc, 'GB29NWBK${PAN}' as iban, '0x${PAN}' as hex, '\\x${PAN}'::bytea as b`);
      expect(r.rows).toEqual([{ glued: 'card************1111', cc: 'PAN:cc************1111;', iban: `GB29NWBK${PAN}`, hex: `0x${PAN}`, b: Buffer.from(PAN, 'hex') }]);
    } finally { await c.end(); }
    const copy = await run('psql', ['-X', '-c', `copy (select 'visa${PAN}' as v) to stdout with (format csv)`], gate.env);
    expect(copy.stdout, copy.stderr).toBe('visa************1111\n');
    await until(() => pgQueries(gate.home, 'as glued').length > 0);
    expect(queryDetail(pgQueries(gate.home, 'as glued')[0]!).sql).toContain(`'card************1111' as glued`);
  });

  it('a card number in full-width digits, or grouped by no-break, thin or ideographic spaces, is masked in results, COPY and the log', async () => {
    const fw = (d: string) => d.replace(/\d/g, (x) => String.fromCharCode(0xff10 + Number(x)));
    const [nbsp, thin, ideo] = ['\u00a0', '\u2009', '\u3000'].map((sp) => ['4111', '1111', '1111', '1111'].join(sp)) as [string, string, string];
    const c = await pgClient(gate);
    try {
      const r = await c.query(`select '${fw(PAN)}' as fw, $1::text as nbsp, '${thin}' as thin, '${ideo}' as ideo, to_json('${fw(PAN)}'::text) as j`, [nbsp]);
      const stars = (sp: string) => ['****', '****', '****', '1111'].join(sp);
      expect(r.rows).toEqual([{ fw: `${'＊'.repeat(12)}${fw('1111')}`, nbsp: stars('\u00a0'), thin: stars('\u2009'), ideo: stars('\u3000'), j: `${'＊'.repeat(12)}${fw('1111')}` }]);
    } finally { await c.end(); }
    const copy = await run('psql', ['-X', '-c', `copy (select '${fw(PAN)}' as fw, '${nbsp}' as nbsp) to stdout with (format csv)`], gate.env);
    expect(copy.stdout, copy.stderr).toBe(`${'＊'.repeat(12)}${fw('1111')},****\u00a0****\u00a0****\u00a01111\n`);
    await until(() => pgQueries(gate.home, 'as ideo').length > 0);
    const d = queryDetail(pgQueries(gate.home, 'as ideo')[0]!);
    expect(d.sql).not.toContain(fw(PAN));
    expect(d.sql).toContain(`'****\u2009****\u2009****\u20091111' as thin`);
    expect(d.params).toEqual(['****\u00a0****\u00a0****\u00a01111']);
    const home = dataHome(gate.home);
    for (const p of [fw(PAN), nbsp, thin, ideo]) expect(home.includes(Buffer.from(p)), p).toBe(false);
  });

  it('a CSV COPY of json, jsonb and json[] holding card numbers restores: each document is still JSON (was masked in place, a bare number became ****…)', async () => {
    server.psql(`create table jcsv (id int, doc json, docb jsonb, arr json[]);
      insert into jcsv values (1, '{"p": ${PAN}, "s": "card ${PAN}", "q": "say \\"hi\\""}', '${PAN}', array['{"p": ${PAN}}'::json]);
      create table jcsv_restored (like jcsv);`);
    const direct = { PATH: process.env.PATH ?? '', PGHOST: server.host, PGPORT: String(server.port), PGUSER: server.superuser, PGPASSWORD: server.password, PGDATABASE: server.database };
    for (const opts of ['format csv', `format csv, header, quote '''', escape '\\'`, "format csv, delimiter ';', force_quote *"]) {
      const copy = await run('psql', ['-X', '-c', `copy jcsv to stdout with (${opts})`], gate.env);
      expect(copy.stderr, opts).toBe('');
      expect(copy.stdout, opts).not.toContain(PAN);
      server.psql('truncate jcsv_restored');
      const restore = await run('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-c', `copy jcsv_restored from stdin with (${opts.replace(', force_quote *', '')})`], direct, { input: copy.stdout });
      expect(restore.code, `${opts}: ${restore.stderr}\n${copy.stdout}`).toBe(0);
      expect(server.psql(`select doc::text || ' ' || docb::text || ' ' || arr::text from jcsv_restored`).trim(), opts)
        .toBe(String.raw`{"p": "************1111", "s": "card ************1111", "q": "say \"hi\""} "************1111" {"{\"p\": \"************1111\"}"}`);
    }
  });
});
