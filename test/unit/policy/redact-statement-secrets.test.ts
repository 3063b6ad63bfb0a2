/**
 * redactStatementSecrets finds each secret in one pass: as RegExps, `password$t1$password$t2$…` (dollar quotes
 * never closed, each tag another), `a.a.a.…a x://` and `x://:bx://:b…` (a URL without `@`) were read from
 * each candidate to the end of the text, about a second per 64 KiB statement, and safeStatementText (a held
 * statement, no cap) grew with the square beyond. What is redacted is what those RegExps redacted: they are
 * the oracle below, on random text built from the tokens they react to.
 */
import { describe, expect, it } from 'vitest';
import { redactSql } from '../../../src/broker/sql-record.js';
import { safeStatementText } from '../../../src/policy/approvals.js';
import { redactStatementSecrets } from '../../../src/policy/redact-statement-secrets.js';

/** The RegExps redactStatementSecrets was, unchanged: right but for their time on long text. */
function oracle(text: string, mark = '[redacted]'): string {
  const literal = String.raw`(?:[EeUu]&?'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*'|\$(?<tag>[A-Za-z_]*)\$[\s\S]*?\$\k<tag>\$)`;
  let s = text;
  if (/password/i.test(s)) {
    s = s.replace(new RegExp(String.raw`(password\s*)${literal}`, 'gi'), (_m, kw: string) => `${kw}'${mark}'`);
    s = s.replace(/(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s'"]+)/gi, (_m, kw: string) => `${kw}${mark}`);
  }
  if (s.includes('://')) {
    s = s.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@'"]*:)([^\s@'"]+)(@)/gi, (_m, a: string, _p: string, at: string) => `${a}${mark}${at}`);
  }
  return s;
}

/** `password$q$password$r$…`: n characters of dollar quotes, every tag another, none closed. */
function distinctTags(n: number): string {
  let s = '';
  for (let i = 0; s.length < n; i++) s += `password$${i.toString(26).replace(/[0-9]/g, (d) => 'qrstuvwxyz'[Number(d)]!)}$`;
  return s;
}

describe('redactStatementSecrets', () => {
  it('redacts each spelling as the RegExps did, where they stopped and where they backtracked to', () => {
    for (const [sql, want] of [
      ["ALTER ROLE app PASSWORD 'hunter2'", "ALTER ROLE app PASSWORD '[redacted]'"],
      ["ALTER ROLE app PASSWORD'p''w' VALID UNTIL 'infinity'", "ALTER ROLE app PASSWORD'[redacted]' VALID UNTIL 'infinity'"],
      ["alter role x password E'a\\'b''c'", "alter role x password '[redacted]'"],
      ["alter role x password U&'d\\0061t' login", "alter role x password '[redacted]' login"],
      ['alter role x password $q$s3cret$q$', "alter role x password '[redacted]'"],
      // The closing tag in another case closed it (the backreference ignored case); `$a$a$` does not close `$a$`.
      ['PASSWORD $a$x$A$ y', "PASSWORD '[redacted]' y"],
      ['password $a$a$', 'password $a$a$'],
      ['password $$$$', "password '[redacted]'"],
      // Never closed: up to the first quote of the last doubled one.
      ["password E'a''b", "password '[redacted]''b"],
      ["password 'a''a''a''", "password '[redacted]''"],
      ["password E'password E'password E'", "password '[redacted]'password E'"],
      ["passwordU&'x' passwordu'y'", "password'[redacted]' password'[redacted]'"],
      ["CREATE USER MAPPING FOR u SERVER s OPTIONS (user 'u', sslpassword 'pw')", "CREATE USER MAPPING FOR u SERVER s OPTIONS (user 'u', sslpassword '[redacted]')"],
      ["select dblink_connect('host=db password = s3cret dbname=x')", "select dblink_connect('host=db password = [redacted] dbname=x')"],
      ["password='a\\'b' x", 'password=[redacted] x'],
      // A URL's scheme starts at any letter after a non-word character, and its password holds ':' and '/'.
      ["select 'postgres://u:topsecret@h/db'", "select 'postgres://u:[redacted]@h/db'"],
      ['1.x://u:p@h', '1.x://u:[redacted]@h'],
      ['postgres://u:pa:ss/w@h pg://:p@h', 'postgres://u:[redacted]@h pg://:[redacted]@h'],
      ['x://:bx://:bx://:b@h', 'x://:[redacted]@h'],
    ] as const) {
      expect(redactStatementSecrets(sql), sql).toBe(want);
      expect(redactStatementSecrets(sql), sql).toBe(oracle(sql));
    }
  });

  it('redacts long hostile statements whole, as the RegExps did', () => {
    const tags = distinctTags(64 * 1024);
    expect(redactStatementSecrets(tags)).toBe(tags);
    expect(redactStatementSecrets(`${tags}$Q$ ok`)).toBe("password'[redacted]' ok");
    const dots = 'a.'.repeat(32 * 1024);
    expect(redactStatementSecrets(`${dots} x://`)).toBe(`${dots} x://`);
    expect(redactStatementSecrets(`${dots}x://u:p@h`)).toBe(`${dots}x://u:[redacted]@h`);
    expect(redactStatementSecrets(`${'1.'.repeat(32 * 1024)}x://u:p@h`)).toBe(`${'1.'.repeat(32 * 1024)}x://u:[redacted]@h`);
    const noAt = 'x://:b'.repeat(11_000);
    expect(redactStatementSecrets(noAt)).toBe(noAt);
    expect(redactStatementSecrets(`${noAt}@h`)).toBe('x://:[redacted]@h');
    expect(redactStatementSecrets("password E'".repeat(6000))).toBe("password '[redacted]'".repeat(3000));
    const escapes = `password='${'\\x'.repeat(32 * 1024)}`;
    expect(redactStatementSecrets(escapes)).toBe(escapes);
    expect(redactStatementSecrets(`${escapes}' x`)).toBe('password=[redacted] x');
    expect(redactStatementSecrets(`password '${"a''".repeat(20_000)}`)).toBe("password '[redacted]''");
  });

  it('redacts a held statement of any length (safeStatementText has no cap)', () => {
    const tags = distinctTags(512 * 1024);
    expect(safeStatementText(tags)).toBe(tags);
    expect(safeStatementText(`${tags}$q$;`)).toBe("password'***';");
    expect(safeStatementText(`${'a.'.repeat(256 * 1024)} x://:p@h`)).toBe(`${'a.'.repeat(256 * 1024)} x://:***@h`);
    expect(safeStatementText(`${'x://:b'.repeat(100_000)}@h`)).toBe('x://:***@h');
    // A quoted value the RegExp's backtracking stack ran out on (a RangeError from 8 MiB on).
    expect(safeStatementText(`password='${'a'.repeat(9 * 1024 * 1024)}' ok`)).toBe('password=*** ok');
    // The audit log's text, cut at 64 KiB.
    expect(redactSql(`${'a.'.repeat(30_000)} x://u:p@h`)).toBe(`${'a.'.repeat(30_000)} x://u:[redacted]@h`);
  });

  it('matches the RegExps on random statements built from the tokens they react to', () => {
    const tokens = [
      'password', 'PASSWORD', 'PassWord', 'sslpassword', ' ', '  ', '\t', '\n', '\r', '\u00a0', '\u2028', "'", "''", '"',
      "E'", "e'", "U&'", "u&'", 'E', 'U', '&', '\\', "\\'", '\\\n', '\\\r', '$', '$$', '$a$', '$A$', '$tag$', '$b$', '$_$',
      '=', ' = ', "='", '://', ':', '//', '/', '@', 'x://', 'pg://u:', 'p:w@', 'a', 'Z', '1', '.', '+', '-', '_', ';', 'é',
      'ſ', '\u212a', '\ud83d',
    ];
    let seed = 20_261_205;
    const rand = () => ((seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff) / 0x80000000);
    let redacted = 0;
    for (let n = 0; n < 20_000; n++) {
      let sql = '';
      for (let k = 1 + Math.floor(rand() * 24); k > 0; k--) sql += tokens[Math.floor(rand() * tokens.length)];
      const want = oracle(sql, '***');
      if (want !== sql) redacted++;
      expect(redactStatementSecrets(sql, '***'), JSON.stringify(sql)).toBe(want);
    }
    expect(redacted).toBeGreaterThan(2000);
  });
});
