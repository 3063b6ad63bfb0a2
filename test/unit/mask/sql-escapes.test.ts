/**
 * Card numbers spelt with SQL string escapes (U&'…' Unicode escapes, E'…' hex, octal and Unicode escapes) in the
 * statement text the log records (redactSql): masked, the statement still reading as SQL.
 */
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { redactSql } from '../../../src/broker/sql-record.js';
import { maskText, PanMasker } from '../../../src/mask/pan-masker.js';

const PAN = '4111111111111111';
/** Each digit of `digits` written with `esc` (its code point in, e.g. `\\${hex4}`). */
const spell = (digits: string, esc: (cp: number) => string) => [...digits].map((d) => esc(d.codePointAt(0)!)).join('');
const hex = (n: number, w: number) => n.toString(16).padStart(w, '0');
const oct = (n: number, w: number) => n.toString(8).padStart(w, '0');
/** The card number with its first 12 digits written as `star` and the last 4 as `keep` would write them. */
const masked = (star: string, keep: (cp: number) => string) => star.repeat(12) + spell('1111', keep);

describe('card numbers in SQL string escapes', () => {
  const u4 = (cp: number) => `\\${hex(cp, 4)}`;
  const u6 = (cp: number) => `\\+${hex(cp, 6)}`;
  const bang = (cp: number) => `!${hex(cp, 4)}`;
  const x2 = (cp: number) => `\\x${hex(cp, 2)}`;
  const o3 = (cp: number) => `\\${oct(cp, 3)}`;
  const o2 = (cp: number) => `\\${oct(cp, 2)}`;
  const eu = (cp: number) => `\\u${hex(cp, 4)}`;
  const eU = (cp: number) => `\\U${hex(cp, 8)}`;
  it.each([
    ['U&\\XXXX', `SELECT U&'${spell(PAN, u4)}'`, `SELECT U&'${masked('\\002a', u4)}'`],
    ['U&\\+XXXXXX', `SELECT U&'${spell(PAN, u6)}' AS c`, `SELECT U&'${masked('\\+00002a', u6)}' AS c`],
    ['UESCAPE !', `SELECT U&'${spell(PAN, bang)}' UESCAPE '!'`, `SELECT U&'${masked('!002a', bang)}' UESCAPE '!'`],
    ['UESCAPE on the next line', `select u&'card ${spell(PAN, bang)} ok'\n  uescape '!'`, `select u&'card ${masked('!002a', bang)} ok'\n  uescape '!'`],
    ['E\\xHH', `SELECT E'${spell(PAN, x2)}'`, `SELECT E'${masked('\\x2a', x2)}'`],
    ['E\\ooo', `SELECT E'${spell(PAN, o3)}'`, `SELECT E'${masked('\\052', o3)}'`],
    ['E\\oo', `SELECT E'${spell(PAN, o2)}'`, `SELECT E'${masked('\\52', o2)}'`],
    ['E\\uXXXX', `SELECT E'${spell(PAN, eu)}'`, `SELECT E'${masked('\\u002a', eu)}'`],
    ['E\\UXXXXXXXX', `SELECT E'${spell(PAN, eU)}'`, `SELECT E'${masked('\\U0000002a', eU)}'`],
    ['escapes and plain digits mixed', `insert into t values (U&'41\\0031\\00311111 1111 \\0031111')`, `insert into t values (U&'**\\002a\\002a**** **** \\0031111')`],
    ['E, grouped by spaces', `SELECT E'\\x34\\x31\\x31\\x31 \\061\\061\\061\\061 1111 \\u0031111'`, `SELECT E'\\x2a\\x2a\\x2a\\x2a \\052\\052\\052\\052 **** \\u0031111'`],
    ['full-width digits in U&', `SELECT U&'${spell('４１１１１１１１１１１１１１１１', u4)}'`, `SELECT U&'${'\\ff0a'.repeat(12)}${spell('１１１１', u4)}'`],
    ['full-width digits in E bytes', `SELECT E'${'\\xef\\xbc\\x94'}${'\\xef\\xbc\\x91'.repeat(15)}'`, `SELECT E'${'\\xef\\xbc\\x8a'.repeat(12)}${'\\xef\\xbc\\x91'.repeat(4)}'`],
    ['an octal escape of 3 digits above 377 (PostgreSQL keeps the low byte)', `SELECT E'\\464${'\\061'.repeat(15)}'`, `SELECT E'\\052${'\\052'.repeat(11)}${'\\061'.repeat(4)}'`],
    ['\\8 (any other character after a backslash is itself)', `SELECT E'4539${'\\8'.repeat(11)}\\60'`, `SELECT E'****${'\\*'.repeat(8)}\\8\\8\\8\\60'`],
    // A string constant continued on the next line (whitespace with a line break, a comment, between two quotes) is one.
    ['a plain card number continued on the next line', `SELECT '4111 1111'\n  ' 1111 1111'`, `SELECT '**** ****'\n  ' **** 1111'`],
    ['U&, continued, then UESCAPE', `SELECT U&'${spell(PAN.slice(0, 6), bang)}'\r\n'${spell(PAN.slice(6), bang)}' UESCAPE '!'`, `SELECT U&'${'!002a'.repeat(6)}'\r\n'${'!002a'.repeat(6)}${spell('1111', bang)}' UESCAPE '!'`],
    ['E, continued after a comment', `SELECT E'${spell(PAN.slice(0, 8), x2)}' -- the rest:\n'${spell(PAN.slice(8), x2)}'`, `SELECT E'${'\\x2a'.repeat(8)}' -- the rest:\n'${'\\x2a'.repeat(4)}${spell('1111', x2)}'`],
  ])('%s', (_name, sql, want) => {
    expect(redactSql(sql)).toBe(want);
    expect(maskText(sql)).toBe(want);
  });

  it.each([
    ["SELECT U&'d\\0061t\\+000061', E'\\x41\\101\\u0042', '1111'", 'escapes of letters'],
    ["SELECT U&'\\0031\\0032\\0033\\0034\\0035\\0036\\0037\\0038\\0039\\0030\\0031\\0032\\0033\\0034\\0035\\0036'", 'not Luhn-valid'],
    ["SELECT E'\\\\x34\\\\x31' || 'x'", 'an escaped backslash: no escape follows'],
    ['select 1 from t where id = 1234 and z = \'\\x\'', 'a lone \\x'],
    ["SELECT '4111 1111',\n ' 1111 1111'", 'two constants, not one continued'],
  ])('leaves %s alone (%s)', (sql) => {
    expect(redactSql(sql)).toBe(sql);
  });

  it.each([
    "SELECT 1234567890123, 'a'\n",
    "SELECT 1234567890123, U&'a'\n",
    "SELECT E'\\x34', 1234567890123, 'a' ",
  ])('reads %j then a run of dashes and no quote in time linear in its length', (head) => {
    // Read in exponentially many ways, 40 dashes held the event loop for seconds; 200 would never end. The vm
    // timeout turns a run that does not end into a failure (a linear read takes well under a millisecond).
    const sql = `${head}${'-'.repeat(200)} x`;
    const masked = vm.runInNewContext('mask()', { mask: () => maskText(sql) }, { timeout: 20_000 }) as string;
    expect(masked).toBe(sql);
  });

  it('reads a U&\'\' literal cut before its closing quote (the log keeps 64 KiB of a statement) to the end', () => {
    expect(maskText(`SELECT U&'${spell(PAN, u4)}`)).toBe(`SELECT U&'${masked('\\002a', u4)}`);
    const sql = `SELECT '${'x'.repeat(64 * 1024 - 200)}', U&'${spell(PAN, u4)}${' y'.repeat(150)}'`;
    const logged = redactSql(sql);
    expect(logged).toContain(`U&'${masked('\\002a', u4)} y y`);
    expect(logged).toMatch(/…\[truncated \d+ chars\]$/);
  });

  it('a UESCAPE character applies to its own literal only', () => {
    // `!0034` outside the literal with `UESCAPE '!'` is text, not an escape.
    const other = `SELECT U&'!0041' UESCAPE '!', '${spell(PAN, bang)}'`;
    expect(redactSql(other)).toBe(other);
  });

  it('counts each card number once and applies the masker style', () => {
    const sql = `SELECT U&'${spell(PAN, u4)}', E'${spell('5555555555554444', x2)}'`;
    const counts = {};
    new PanMasker().maskText(sql, counts);
    expect(counts).toEqual({ pan: 2 });
    expect(new PanMasker({ style: { format: 'first6last4' } }).maskText(`SELECT U&'${spell(PAN, u4)}'`)).toBe(`SELECT U&'${spell('411111', u4)}${'\\002a'.repeat(6)}${spell('1111', u4)}'`);
    const key = Buffer.from('k');
    const hmac = new PanMasker({ style: { format: 'hmac', hmacKey: key } });
    expect(hmac.maskText(`SELECT U&'${spell(PAN, u4)}' x`)).toBe(hmac.maskText(`SELECT '${PAN}' x`).replace("SELECT '", "SELECT U&'"));
  });
});
