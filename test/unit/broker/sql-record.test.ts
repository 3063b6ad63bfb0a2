/** What of a statement reaches the log: passwords redacted, PAN masked, params rendered safely. */
import { beforeAll, describe, expect, it } from 'vitest';
import { isPureRead, statementFacts, redactSql, renderParams, statementKind } from '../../../src/broker/sql-record.js';
import { loadParser } from '../../../src/policy/pg-parser.js';

describe('redactSql', () => {
  it.each([
    ["ALTER ROLE app PASSWORD 'hunter2'", "ALTER ROLE app PASSWORD '[redacted]'"],
    ["create user bob with encrypted password 'p''w'", "create user bob with encrypted password '[redacted]'"],
    ["ALTER USER x PASSWORD E'a\\'b' VALID UNTIL 'infinity'", "ALTER USER x PASSWORD '[redacted]' VALID UNTIL 'infinity'"],
    ['alter role x password $q$s3cret$q$', "alter role x password '[redacted]'"],
    ["select dblink_connect('host=db user=u password=s3cret dbname=x')", "select dblink_connect('host=db user=u password=[redacted] dbname=x')"],
    ["CREATE USER MAPPING FOR u SERVER s OPTIONS (user 'u', password 'pw')", "CREATE USER MAPPING FOR u SERVER s OPTIONS (user 'u', password '[redacted]')"],
    ["select 'postgres://u:topsecret@h/db'", "select 'postgres://u:[redacted]@h/db'"],
  ])('%s', (sql, want) => {
    expect(redactSql(sql)).toBe(want);
  });

  it('masks a PAN literal', () => {
    const out = redactSql("select * from cards where pan = '4111111111111111'");
    expect(out).not.toContain('4111111111111111');
    expect(out).toContain('1111');
  });

  it('leaves ordinary SQL alone', () => {
    expect(redactSql('select password_hash from users where id = $1')).toBe('select password_hash from users where id = $1');
  });
});

describe('a token known by its form in a statement', () => {
  const stripe = `sk_live_${'4eC39HqLyjWDarjt'}`;
  const gh = `ghp_${'a1B2'.repeat(9)}`;
  it('is redacted in the SQL whatever names it, in any literal form, and in a text or declared-text bind parameter', () => {
    // (named for nothing secret, `UPDATE settings SET v = 'sk_live_…'` was recorded as sent)
    expect(redactSql(`UPDATE settings SET v = '${stripe}' WHERE k = 'stripe'`)).toBe("UPDATE settings SET v = '[redacted]' WHERE k = 'stripe'");
    expect(redactSql(`insert into hooks values (E'${gh}', $$Bearer ${gh}$$)`)).toBe("insert into hooks values (E'[redacted]', $$Bearer [redacted]$$)");
    const out = renderParams([{ format: 'text', value: `hook ${gh}` }, { format: 'binary', value: Buffer.from(stripe) }], 'update settings set v = $1, w = $2', [0, 25]);
    expect(out).toEqual(['hook [redacted]', '[redacted]']);
  });

  it('is redacted in a bind parameter with what else a literal\'s text is read for; one that names a secret withholds them all', () => {
    const key = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE\n-----END OPENSSH PRIVATE KEY-----';
    const params = ['postgres://app:pw-9x7@db/x', 'Bearer tok-Ab3xY9', key, 'plain'].map((value) => ({ format: 'text' as const, value }));
    expect(renderParams(params, 'insert into t (a, b, c, d) values ($1, $2, $3, $4)')).toEqual([
      'postgres://app:[redacted]@db/x', 'Bearer [redacted]', '-----BEGIN OPENSSH PRIVATE KEY-----\n[redacted]\n-----END OPENSSH PRIVATE KEY-----', 'plain',
    ]);
    // (a key/value table: the name in one parameter, the secret in the next)
    const pair = ['db_password', 'pw-9x7'].map((value) => ({ format: 'text' as const, value }));
    expect(renderParams(pair, 'insert into settings (k, v) values ($1, $2)')).toEqual(['[redacted]', '[redacted]']);
  });

  it('is redacted after an escape, in a parameter bound as bytes with no type, and wherever a cut falls (found by review)', () => {
    expect(redactSql(`select E'cfg\\n${gh}', '{"k":"a\\n${gh}"}'`)).toBe(`select E'cfg\\n[redacted]', '{"k":"a\\n[redacted]"}'`);
    // (text bound in binary with no declared type was recorded as hex, which reads back to the token)
    expect(renderParams([{ format: 'binary', value: Buffer.from(gh) }], 'update s set v = $1', [0])).toEqual([{ binary: '[redacted]', bytes: gh.length }]);
    // (a token the cut of a long value fell in was too short to be one, and most of it was kept)
    for (let lead = 0; lead < 40; lead++) {
      const value = `${'x '.repeat(lead)}${`${gh} `.repeat(30)}${' pad'.repeat(300)}`;
      expect(JSON.stringify(renderParams([{ format: 'text', value }], 'select $1'))).not.toMatch(/ghp_a1B2/);
    }
  });

  it('is not a word that only starts like one', () => {
    expect(redactSql("select 'sk-not-a-key', 'ghp_short', 'xsk_live_0123456789abcdef'")).toBe("select 'sk-not-a-key', 'ghp_short', 'xsk_live_0123456789abcdef'");
  });
});

describe('renderParams', () => {
  it('renders text, binary and NULL, and masks PAN in values', () => {
    const out = renderParams([
      { format: 'text', value: 'abc' },
      { format: 'binary', value: Uint8Array.from([0, 1, 255]) },
      null,
      { format: 'text', value: '4111 1111 1111 1111' },
    ], 'select $1, $2, $3, $4');
    expect(out.slice(0, 3)).toEqual(['abc', { binary: '0001ff', bytes: 3 }, null]);
    expect(out[3]).not.toContain('4111 1111 1111 1111');
  });

  it('renders a binary parameter of a declared type as text, PAN-masked like text', () => {
    const int4 = Buffer.alloc(4); int4.writeInt32BE(42);
    const pan = Buffer.alloc(8); pan.writeBigInt64BE(4111111111111111n);
    const out = renderParams([{ format: 'binary', value: int4 }, { format: 'binary', value: pan }, { format: 'binary', value: Buffer.from('caf\u00e9') }],
      'select $1, $2, $3', [23, 20, 25]);
    expect(out[0]).toBe('42');
    expect(out[1]).toMatch(/^[*]{12}1111$/);
    expect(out[2]).toBe('caf\u00e9');
  });

  it('never shows as hex a binary parameter of unknown type that reads as a PAN (hex of an int8 is readable)', () => {
    const pan = Buffer.alloc(8); pan.writeBigInt64BE(4111111111111111n);
    const small = Buffer.alloc(8); small.writeBigInt64BE(7n);
    // numeric_send of 4111111111111111: ndigits 4, weight 3, sign +, dscale 0, digits 4111 1111 1111 1111
    const numeric = Buffer.from('0004000300000000100f045704570457', 'hex');
    const out = renderParams([pan, small, numeric].map((value) => ({ format: 'binary' as const, value })), 'select $1, $2, $3');
    expect(out).toEqual([{ binary: '[masked]', bytes: 8 }, { binary: '0000000000000007', bytes: 8 }, { binary: '[masked]', bytes: 16 }]);
  });

  it('never shows as hex a card number kept as float8 or money (cents), nor an int8[] holding one, declared or not', () => {
    const f8 = Buffer.alloc(8); f8.writeDoubleBE(4111111111111111);
    const cents = Buffer.alloc(8); cents.writeBigInt64BE(4111111111111111n * 100n);
    const i8 = Buffer.alloc(8); i8.writeBigInt64BE(4111111111111111n);
    // array_send of int8[] {4111111111111111}: ndim 1, no nulls, element int8, dim 1 from 1, one 8-byte element
    const arr = Buffer.concat([Buffer.from('000000010000000000000014000000010000000100000008', 'hex'), i8]);
    const amount = Buffer.alloc(8); amount.writeBigInt64BE(125050n);
    const params = [f8, cents, arr, amount].map((value) => ({ format: 'binary' as const, value }));
    expect(renderParams(params, 'select $1, $2, $3, $4')).toEqual([
      { binary: '[masked]', bytes: 8 }, { binary: '[masked]', bytes: 8 }, { binary: '[masked]', bytes: 32 }, { binary: amount.toString('hex'), bytes: 8 },
    ]);
    // Declared money and int8[]: types the log does not render as text, shown as hex before.
    expect(renderParams(params.slice(1, 3), 'select $1, $2', [790, 1016])).toEqual([{ binary: '[masked]', bytes: 8 }, { binary: '[masked]', bytes: 32 }]);
  });

  it('never shows as hex a binary parameter whose bytes spell a card number in packed BCD (EMV tag 5A, ISO 8583)', () => {
    const bcd = (hex: string) => ({ format: 'binary' as const, value: Buffer.from(hex, 'hex') });
    // The hex of BCD is the card number itself: bare, F-padded (an odd length), inside a TLV, with a digit tag before it.
    const params = [bcd('4111111111111111'), bcd('378282246310005f'), bcd('5a084111111111111111'), bcd('9f0a5a085555555555554444'), bcd('0123456789abcdef0123')];
    expect(renderParams(params, 'select $1, $2, $3, $4, $5')).toEqual([
      { binary: '[masked]', bytes: 8 }, { binary: '[masked]', bytes: 8 }, { binary: '[masked]', bytes: 10 }, { binary: '[masked]', bytes: 12 },
      { binary: '0123456789abcdef0123', bytes: 10 },
    ]);
  });

  it('a card number across the cut of a long statement or text parameter is masked, not left as its first digits', () => {
    const sql = `select '${' '.repeat(65536 - 8 - 12)}4111111111111111'`;
    expect(redactSql(sql)).toBe(`select '${' '.repeat(65536 - 8 - 12)}************…[truncated 5 chars]`);
    expect(renderParams([{ format: 'text', value: `${' '.repeat(1024 - 12)}4111111111111111` }], 'select $1')).toEqual([`${' '.repeat(1024 - 12)}************…[1028 chars]`]);
  });

  it('withholds every parameter of a statement that mentions a password', () => {
    expect(renderParams([{ format: 'text', value: 'x' }], 'select set_password($1)')).toEqual(['[redacted]']);
  });
});

describe('statementKind', () => {
  it.each([
    ['SELECT 1', 'select', 'read'],
    ['  -- c\n/* x */ insert into t values (1)', 'insert', 'write'],
    ['with x as (select 1) delete from t', 'with', 'write'],
    ['with x as (select 1) select * from x', 'with', 'read'],
    ['ALTER ROLE a PASSWORD \'x\'', 'alter', 'ddl'],
    ['', '', 'empty'],
  ])('%s', (sql, command, kind) => {
    expect(statementKind(sql)).toEqual({ command, kind });
  });
});

describe('isPureRead', () => {
  beforeAll(loadParser);

  it.each([
    ['select abalance from pgbench_accounts where aid = $1', true],
    ['SELECT count(*) FROM t', true],
    ['select nextval(\'s\')', false],
    ['select my_writing_function(1)', false],
    ['select * into newtable from t', false],
    ['select * from t for update', false],
    ['update t set x = 1', false],
    ['select 1; delete from t', false],
    ['select pg_terminate_backend(123)', false],
    ["select 'nextval(' as text", true],
    // A name's call is found wherever the name starts: after digits or a dot, with blanks before its `(`.
    // (`9count (1)` the server refuses: no pure read whatever its words.)
    ['select 1.my_writing_function(1)', false], ['select 9count (1)', false], ['select 9 as a, count (1)', true], ['select x.count\u00a0(1)', false],
    ['select count\t(1), sum (2), max(3)', true], ['select count(1), y(2)', false],
    // Calls the words miss, the parser sees: quoted, a comment before the `(`, after an E'' string's \', in
    // U&"…"; a text the server would refuse is none; FETCH runs its cursor's query.
    ['select "my_writer"(1)', false], ["select my_writer/**/('c')", false], ["select E'\\'', my_writer('e'), 'x'", false],
    ['select U&"my_writer"(1)', false], ['select (t).my_writer from t', false], ['selec 1', false], ['fetch 10 from c', false],
    ['show work_mem', true], ['table t', true], ['values (1)', true],
  ])('%s → %s', (sql, want) => {
    expect(isPureRead(sql)).toBe(want);
  });

  it('reads a long name that no ( follows once, and still finds the call after it', () => {
    // The RegExp it was read each such run again from every letter in it: 256 KiB took 42 s (bench/complexity).
    expect(isPureRead(`SELECT ${'a'.repeat(262_144)}, (1)`)).toBe(true);
    expect(isPureRead(`SELECT ${'a.'.repeat(131_072)}, my_writing_function(1)`)).toBe(false);
  });

  it('reads a SELECT of one 10 MB string (the regular expression it used overflowed V8\'s stack)', () => {
    const big = 'x'.repeat(10_000_000);
    expect(isPureRead(`select length('${big}')`)).toBe(true);
    expect(statementFacts(`select length('${big}')`).kind).toBe('read');
    expect(isPureRead(`select my_writing_function('${big}')`)).toBe(false);
  });
});

describe('statementFacts', () => {
  it('one shape, many texts: kind and pure-read once per shape, the SQL redacted per text', () => {
    const a = statementFacts("select * from orders where note = 'card 4111111111111111' and id = 1");
    const b = statementFacts("select * from orders where note = 'card 5555555555554444' and id = 2");
    expect(a.sql).toBe("select * from orders where note = 'card ************1111' and id = 1");
    expect(b.sql).toBe("select * from orders where note = 'card ************4444' and id = 2");
    expect([a.command, a.kind, a.pureRead]).toEqual(['select', 'read', true]);
    expect([b.command, b.kind, b.pureRead]).toEqual(['select', 'read', true]);
    expect(statementFacts("alter role x password 'hunter2'").sql).toBe("alter role x password '[redacted]'");
    expect(statementFacts("alter role y password 'swordfish'").sql).toBe("alter role y password '[redacted]'");
  });

  it('no word inside a constant decides the kind', () => {
    expect(statementFacts("with x as (select 'delete me' as t) select * from x").kind).toBe('read');
    expect(statementFacts("with x as (select 1) delete from t where note = 'select'").kind).toBe('write');
    expect(statementFacts("select 'for update' from t").pureRead).toBe(true);
    expect(statementFacts('select * from t where id = 5 for update').pureRead).toBe(false);
  });
});

