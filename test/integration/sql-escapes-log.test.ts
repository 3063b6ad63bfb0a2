/**
 * A card number spelt with SQL string escapes (U&'\0034…', its six-digit form, a UESCAPE character, E'\x34…',
 * E'\064…'), or in a constant continued on the next line, in a statement through the real gate (startConfiguredGate; real PostgreSQL, the pg driver): the server
 * reads it as the card number, and the log recorded the statement's text with it spelt in clear.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, dataHome, gateConfig, pgClient, pgQueries, queryDetail, startConfiguredGate, until } from './pg-proxy-setup.js';

const PAN = '4111111111111111';
const spell = (digits: string, esc: (cp: number) => string) => [...digits].map((d) => esc(d.codePointAt(0)!)).join('');
const FORMS: Record<string, [(cp: number) => string, (spelt: string) => string]> = {
  u4: [(cp) => `\\${cp.toString(16).padStart(4, '0')}`, (s) => `U&'${s}'`],
  u6: [(cp) => `\\+${cp.toString(16).padStart(6, '0')}`, (s) => `U&'${s}'`],
  uescape: [(cp) => `!${cp.toString(16).padStart(4, '0')}`, (s) => `U&'${s}' UESCAPE '!'`],
  hex: [(cp) => `\\x${cp.toString(16)}`, (s) => `E'${s}'`],
  octal: [(cp) => `\\${cp.toString(8).padStart(3, '0')}`, (s) => `E'${s}'`],
  // Plain digits in a constant continued on the next line: one constant to PostgreSQL. (With a comment before the line
  // break it is one too, but policy's parser, libpg-query, refuses that: sql-escapes.test.ts has it.)
  continued: [(cp) => String.fromCharCode(cp), (s) => `'${s.slice(0, 8)}'\n  '${s.slice(8)}'`],
};

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  gate = await startConfiguredGate(server, gateConfig(server, { classes: ['read'] }));
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

it('the log records such a statement with the escapes of the hidden digits spelling `*`, and nowhere the card number', async () => {
  const c = await pgClient(gate);
  try {
    for (const [name, [esc, literal]] of Object.entries(FORMS)) {
      // The server reads the literal as the card number; the rows come back masked (the result masker).
      const r = await c.query(`select ${literal(spell(PAN, esc))} as ${name}`);
      expect(r.rows, name).toEqual([{ [name]: '************1111' }]);
    }
  } finally { await c.end(); }
  await until(() => Object.keys(FORMS).every((name) => pgQueries(gate.home, ` as ${name}`).length > 0));
  for (const [name, [esc]] of Object.entries(FORMS)) {
    const sql = queryDetail(pgQueries(gate.home, ` as ${name}`)[0]!).sql;
    expect(sql, name).not.toContain(spell(PAN.slice(0, 12), esc));
    // What the log kept is still SQL, and PostgreSQL reads its literal as the masked card number.
    expect(server.psql(sql), name).toBe(`************1111\n`);
  }
  // Every file of the data home (log, transcripts): neither the card number nor any escaped spelling of its first 12 digits,
  // as written or as JSON escapes its backslashes.
  const home = dataHome(gate.home);
  expect(home.includes(Buffer.from(PAN))).toBe(false);
  for (const [name, [esc]] of Object.entries(FORMS)) {
    const spelt = spell(PAN.slice(0, 12), esc);
    expect(home.includes(Buffer.from(spelt)), name).toBe(false);
    expect(home.includes(Buffer.from(JSON.stringify(spelt).slice(1, -1))), name).toBe(false);
  }
});
