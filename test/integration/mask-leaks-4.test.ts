/**
 * Card numbers a fourth hunt through the real gate (startConfiguredGate: the hooks `pcigate connect` gives a
 * session; real PostgreSQL, psql, the pg driver) found reaching a client or the data home unmasked: each test
 * fails without its fix.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytes } from '../harness/pg-bytes.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { RawPgClient } from '../harness/raw-pg-client.js';
import { type Gate, dataHome, gateConfig, pgClient, pgQueries, readLog, run, startConfiguredGate, until } from './pg-proxy-setup.js';

const PAN = '4111111111111111';
const PAN2 = '5500000000000004';
let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  gate = await startConfiguredGate(server, gateConfig(server, { classes: ['read', 'copy_out', 'utility', 'transaction'] }));
  server.psql(`create table cards4 (id int, pan text, pan2 text, said text); insert into cards4 values (7, '${PAN}', '${PAN2}', 'said "${PAN}"');
    create table json4 (j json, jt text);
    insert into json4 values ('{"nb": "4111\\u00a01111\\u00a01111\\u00a01111", "en": "4111\\u20131111\\u20131111\\u20131111", "fw": "\\uff14${'\\uff11'.repeat(15)}", "plain": "4111\\u0020${PAN.slice(4)}", "not": "\\\\u00a0 \\u00e9 4111"}');
    update json4 set jt = j::text;
    create table wide4 (nb text, en text, fw text);
    insert into wide4 values ('4111' || chr(160) || '1111' || chr(160) || '1111' || chr(160) || '1111', '4111' || chr(8211) || '1111' || chr(8211) || '1111' || chr(8211) || '1111', translate('${PAN}', '0123456789', '０１２３４５６７８９'));
    create table bytea4 as select convert_to(nb, 'UTF8') as nb, convert_to(fw, 'UTF8') as fw from wide4`);
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

describe('leaks found by the fourth hunt', () => {
  it('a COPY whose DELIMITER, QUOTE or ESCAPE is a letter (or a CSV DELIMITER a digit or a point) is refused: glued to it a card number was not found (7X4111…X5500…, e"4111…e"", 7.0004111… a decimal fraction)', async () => {
    // The server itself writes a CSV DELIMITER '.' (it refuses only a text one).
    expect(server.psql(`copy (select 1, 2) to stdout (format csv, delimiter '.')`)).toBe('1.2\n');
    for (const opts of [`delimiter 'X'`, `format csv, delimiter 'x'`, `format csv, delimiter '7'`, `format csv, delimiter '.'`, `format csv, quote 'q', force_quote *`, `format csv, escape 'e'`]) {
      const r = await run('psql', ['-X', '-c', `copy cards4 to stdout with (${opts})`], gate.env);
      expect(r.stdout, opts).toBe('');
      expect(r.stderr, opts).toMatch(/pcigate: this COPY … TO STDOUT was not run: (DELIMITER|QUOTE|ESCAPE) '.' would be written right beside the digits of a field/);
    }
    // Without the refusal: a card number kept zero-padded (char(19), lpad) after `7.` read as a fraction's digits, not found.
    const padded = await run('psql', ['-X', '-c', `copy (select 7, '000${PAN}') to stdout (format csv, delimiter '.')`], gate.env);
    expect(padded.stdout, padded.stderr).toBe('');
    // Other punctuation stays usable, and masked as ever.
    const ok = await run('psql', ['-X', '-c', `copy cards4 to stdout with (format csv, delimiter '|', quote '''', escape '\\', force_quote *)`], gate.env);
    expect(ok.stdout, ok.stderr).toBe(`'7'|'************1111'|'************0004'|'said "************1111"'\n`);
    const denied = readLog(gate.home).filter((r) => r.type === 'pg.query' && r.outcome === 'denied');
    expect(denied.length).toBeGreaterThanOrEqual(7);
  });

  it('under a client_encoding other than UTF-8 a card number in no-break spaces, en dashes or full-width digits is masked in rows, errors and COPY (was sent in the encoding\'s bytes, unread)', async () => {
    // Each frame as latin1: the bytes the client got. A hidden digit is `*` in every byte it takes (`**` for a full-width one in EUC_JP).
    const cases: Array<[string, string, string, string]> = [
      ['LATIN1', 'nb', '4111\xa01111\xa01111\xa01111', '****\xa0****\xa0****\xa01111'],
      ['KOI8R', 'nb', '4111\x9a1111\x9a1111\x9a1111', '****\x9a****\x9a****\x9a1111'],
      ['WIN1252', 'en', '4111\x961111\x961111\x961111', '****\x96****\x96****\x961111'],
      ['EUC_JP', 'fw', '\xa3\xb4' + '\xa3\xb1'.repeat(15), '**'.repeat(12) + '\xa3\xb1'.repeat(4)],
    ];
    for (const [encoding, column, clear, masked] of cases) {
      const frames = await RawPgClient.session(gate.broker, [
        bytes.query(`set client_encoding = '${encoding}'`),
        bytes.query(`select ${column} from wide4`),
        bytes.query(`select ${column}::int from wide4`),
        bytes.query(`copy (select ${column}, 'x' as x from wide4) to stdout`),
      ]);
      const all = frames.join('\n');
      expect(all, encoding).not.toContain(clear);
      expect(frames.filter((f) => f.startsWith('D:')), encoding).toEqual([`D:\0\x01\0\0\0${String.fromCharCode(masked.length)}${masked}`]);
      expect(frames.find((f) => f.startsWith('E:')), encoding).toContain(`invalid input syntax for type integer: "${masked}"`);
      expect(frames.filter((f) => f.startsWith('d:')), encoding).toEqual([`d:${masked}\tx\n`]);
    }
    // The transcript's samples are read as UTF-8: the no-break space's byte became U+FFFD between the digit groups.
    await until(() => dataHome(gate.home).toString('utf8').includes('\ufffd1111'));
    expect(dataHome(gate.home).toString('utf8')).not.toContain('4111\ufffd1111');
  });

  it('from a SQL_ASCII database (no conversion: the bytes as stored) a card number grouped by LATIN1 no-break spaces is masked, whatever the client_encoding', async () => {
    server.psql(`create database sqlascii4 encoding 'SQL_ASCII' lc_collate 'C' lc_ctype 'C' template template0`, 'postgres');
    server.psql(`create table stored4 (note text); insert into stored4 values (E'card 4111\\xa01111\\xa01111\\xa01111')`, 'sqlascii4');
    const db = { ...server, database: 'sqlascii4' };
    const g = await startConfiguredGate(db, gateConfig(db, { classes: ['read'] }));
    try {
      const frames = await RawPgClient.session(g.broker, [bytes.query('select note from stored4'), bytes.query(`set client_encoding = 'UTF8'`), bytes.query('select note from stored4')]);
      const rows = frames.filter((f) => f.startsWith('D:'));
      expect(rows).toHaveLength(2);
      for (const r of rows) expect(r).toContain('card ****\xa0****\xa0****\xa01111');
      expect(frames.join('\n')).not.toContain('4111\xa01111');
    } finally { await g.close(); }
  });

  it('a bytea holding a card number as UTF-8 text in full-width digits or grouped by no-break spaces is masked in its hex print and still decodes', async () => {
    const sql = 'select nb, fw from bytea4';
    const c = await pgClient(gate);
    try {
      const r = await c.query(sql);
      expect(r.rows[0].nb.toString('utf8')).toBe('****\u00a0****\u00a0****\u00a01111');
      expect(r.rows[0].fw.toString('utf8')).toBe(`${'＊'.repeat(12)}${translate('1111')}`);
    } finally { await c.end(); }
    const copy = await run('psql', ['-X', '-c', `copy (${sql}) to stdout`], gate.env);
    expect(copy.stdout).not.toContain(Buffer.from('4111\u00a01111').toString('hex'));
    expect(copy.stdout).not.toContain(Buffer.from(translate('4111')).toString('hex'));
    // bytea_output = escape writes the bytes beyond ASCII in octal (`4111\302\240…`, `\357\274\224…`): masked too.
    const e = await pgClient(gate);
    try {
      await e.query(`set bytea_output = 'escape'`);
      const r = await e.query(sql);
      expect(r.rows[0].nb.toString('utf8')).toBe('****\u00a0****\u00a0****\u00a01111');
      expect(r.rows[0].fw.toString('utf8')).toBe(`${'＊'.repeat(12)}${translate('1111')}`);
    } finally { await e.end(); }
    const escCopy = await run('psql', ['-X', '-q', '-c', `set bytea_output = 'escape'`, '-c', `copy (${sql}) to stdout`], gate.env);
    expect(escCopy.stdout, escCopy.stderr).toBe(`****\\\\302\\\\240****\\\\302\\\\240****\\\\302\\\\2401111\t${'\\\\357\\\\274\\\\212'.repeat(12)}${'\\\\357\\\\274\\\\221'.repeat(4)}\n`);
  });

  it('under LATIN1 a text bind parameter grouped by no-break spaces is masked in the log (its A0 bytes, read as UTF-8, were U+FFFD between the digits)', async () => {
    const nb = Buffer.from('4111\xa01111\xa01111\xa01111', 'latin1');
    const frames = await RawPgClient.session(gate.broker, [bytes.query(`set client_encoding = 'LATIN1'`),
      Buffer.concat([bytes.parse('', 'select $1::text as latin_param', []), bytes.bind('', '', [nb]), bytes.execute(), bytes.sync()])]);
    expect(frames.find((f) => f.startsWith('D:'))).toContain('****\xa0****\xa0****\xa01111');
    await until(() => pgQueries(gate.home, 'as latin_param').length > 0);
    expect(pgQueries(gate.home, 'as latin_param')[0]!.detail).toMatchObject({ params: ['****\ufffd****\ufffd****\ufffd1111'] });
  });

  it('a json document written as Python\'s json.dumps or PHP\'s json_encode write it (\\u00a0, \\u2013, \\uff14 escapes) is masked and still parses, in rows, arrays and COPY', async () => {
    const stars = (sep: string) => ['****', '****', '****', '1111'].join(sep);
    const masked = { nb: stars('\u00a0'), en: stars('\u2013'), fw: `${'＊'.repeat(12)}${'１'.repeat(4)}`, plain: '**** ********1111', not: '\\u00a0 é 4111' };
    const c = await pgClient(gate);
    try {
      const r = await c.query('select j, array[j, j] as arr from json4');
      expect(r.rows[0].j).toEqual(masked);
      expect(r.rows[0].arr).toEqual([masked, masked]);
      // Kept in a text column (as many applications keep JSON), or in a whole row's text (its backslashes doubled).
      const t = await c.query('select jt, json4 as rec from json4');
      expect(JSON.parse(t.rows[0].jt)).toEqual(masked);
      expect(t.rows[0].rec).toContain('****\\\\u00a0****\\\\u00a0****\\\\u00a01111');
      expect(t.rows[0].rec).not.toMatch(/4111\\\\u00a0|\\\\uff14\\\\uff11/);
      // A literal in the SQL: masked in the result and in the log's copy of the text.
      const lit = await c.query(`select '{"nb": "4111\\u00a01111\\u00a01111\\u00a01111"}'::json as lit`);
      expect(lit.rows[0].lit).toEqual({ nb: masked.nb });
    } finally { await c.end(); }
    for (const opts of ['format text', 'format csv']) {
      const copy = await run('psql', ['-X', '-c', `copy json4 (j) to stdout with (${opts})`], gate.env);
      expect(copy.stderr, opts).toBe('');
      expect(copy.stdout, opts).toContain('\\uff0a');
      const doc = opts === 'format csv' ? copy.stdout.trim().slice(1, -1).replace(/""/g, '"') : copy.stdout.trim().replace(/\\\\/g, '\\');
      expect(JSON.parse(doc), opts).toEqual(masked);
      const text = await run('psql', ['-X', '-c', `copy json4 (jt) to stdout with (${opts})`], gate.env);
      expect(text.stdout, opts).toContain('\\uff0a');
      expect(text.stdout, opts).not.toMatch(/4111\\+u00a01111|\\+uff14\\+uff11/);
    }
    await until(() => pgQueries(gate.home, 'as lit').length >= 1);
    expect(pgQueries(gate.home, 'as lit')[0]!.detail).toMatchObject({ sql: `select '{"nb": "****\\u00a0****\\u00a0****\\u00a01111"}'::json as lit` });
    expect(dataHome(gate.home).toString('utf8')).not.toMatch(/4111\\\\u00a01111|\\\\uff14\\\\uff11/);
  });

  it('a text bind parameter sent in binary without a type, in full-width digits or grouped by no-break spaces, is not written to the log as hex', async () => {
    const fw = Buffer.from(translate(PAN));
    const nb = Buffer.from('4111\u00a01111\u00a01111\u00a01111');
    const frames = await RawPgClient.session(gate.broker, [Buffer.concat([bytes.parse('', 'select $1::text as bin_fw, $2::text as bin_nb', []), bytes.bind('', '', [fw, nb], [1]), bytes.execute(), bytes.sync()])]);
    expect(frames.find((f) => f.startsWith('D:'))).toContain('****\xc2\xa0****\xc2\xa0****\xc2\xa01111');
    await until(() => pgQueries(gate.home, 'as bin_fw').length > 0);
    expect(pgQueries(gate.home, 'as bin_fw')[0]!.detail).toMatchObject({ params: [{ binary: '[masked]', bytes: 48 }, { binary: '[masked]', bytes: 22 }] });
    const home = dataHome(gate.home);
    for (const v of [fw, nb]) expect(home.includes(Buffer.from(v.toString('hex')))).toBe(false);
  });
});

/** `digits` in full-width digits. */
function translate(digits: string): string {
  return digits.replace(/\d/g, (x) => String.fromCharCode(0xff10 + Number(x)));
}

