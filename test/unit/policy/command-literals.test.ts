/**
 * A command line the server runs, given in a statement (COPY … PROGRAM, a `*_command` setting), is read as the shell
 * reads it (src/policy/argv/argv-redact.ts): its credentials are redacted in the statement's record and in what
 * approvers are shown, the rest of the command kept. Literals in other places keep their text.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../../src/policy/pg-parser.js';
import { redactArgv, redactCommandLine } from '../../../src/policy/argv/argv-redact.js';
import { redactStatementSecrets, statementSecretSpans } from '../../../src/policy/redact-statement-secrets.js';

beforeAll(async () => {
  await loadParser();
});

describe('a command line in a statement', () => {
  it.each([
    ["COPY cards TO PROGRAM 'curl -s -u ops:Hunter2Prog -T - https://backup.example/c'", "COPY cards TO PROGRAM 'curl -s -u ops:[redacted] -T - https://backup.example/c'"],
    ["copy t from program 'openssl enc -d -aes256 -pbkdf2 -k Hunter2Prog -in /srv/t.enc' with (format csv)", "copy t from program 'openssl enc -d -aes256 -pbkdf2 -k [redacted] -in /srv/t.enc' with (format csv)"],
    ['COPY (SELECT id FROM t) TO PROGRAM $x$mysql -pHunter2Prog -e "load data local infile \'/dev/stdin\'" db$x$', 'COPY (SELECT id FROM t) TO PROGRAM $x$mysql -p[redacted] -e "load data local infile \'/dev/stdin\'" db$x$'],
    ["COPY t TO PROGRAM 'sshpass -p ''Hunter2 Prog'' ssh backup@h \"cat > t.csv\"'", "COPY t TO PROGRAM 'sshpass -p ''[redacted]'' ssh backup@h \"cat > t.csv\"'"],
    ["ALTER SYSTEM SET archive_command = 'gzip < %p | curl -u arch:Hunter2Prog -T - https://h/%f'", "ALTER SYSTEM SET archive_command = 'gzip < %p | curl -u arch:[redacted] -T - https://h/%f'"],
    ["ALTER SYSTEM SET restore_command TO 'sshpass -p Hunter2Prog scp h:%f %p'", "ALTER SYSTEM SET restore_command TO 'sshpass -p [redacted] scp h:%f %p'"],
  ])('%s', (sql, want) => {
    expect(redactStatementSecrets(sql)).toBe(want);
  });

  it('is read in a body and in dynamic SQL too', () => {
    expect(redactStatementSecrets("DO $$ BEGIN EXECUTE 'COPY t TO PROGRAM ''curl -u ops:Hunter2Prog https://h'''; END $$"))
      .toBe("DO $$ BEGIN EXECUTE 'COPY t TO PROGRAM ''curl -u ops:[redacted] https://h'''; END $$");
    expect(redactStatementSecrets("CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $f$ COPY t TO PROGRAM 'mysql -pHunter2Prog db' $f$"))
      .toBe("CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $f$ COPY t TO PROGRAM 'mysql -p[redacted] db' $f$");
  });

  it('puts the caller\'s mark in the credential\'s place', () => {
    expect(redactStatementSecrets("COPY t TO PROGRAM 'curl -u ops:Hunter2Prog https://h'", '***')).toBe("COPY t TO PROGRAM 'curl -u ops:*** https://h'");
  });

  it('marks a credential once, read by the command line\'s reader alone', () => {
    const sql = "COPY t TO PROGRAM 'curl -H ''Authorization: Bearer tok-Ab3xY9'' -d ''{\"password\":\"Hunter2Prog\"}'' https://h'";
    const out = redactStatementSecrets(sql);
    expect(out).not.toMatch(/tok-Ab3xY9|Hunter2Prog/);
    expect(out).not.toContain(']]');
    expect(out).toBe("COPY t TO PROGRAM 'curl -H ''Authorization: [redacted]'' -d ''{\"password\":[redacted]}'' https://h'");
  });

  it('hides the credential from what quotes the statement (statementSecretSpans)', () => {
    const sql = "COPY t TO PROGRAM 'curl -u ops:Hunter2Prog https://h'";
    const spans = statementSecretSpans(sql);
    expect(spans.length).toBeGreaterThan(0);
    expect(spans.some(([a, b]) => sql.slice(a, b).includes('Hunter2Prog'))).toBe(true);
  });

  it("is read inside a command line's SQL too (psql -c over SSH exec, pcigate exec's argv)", () => {
    expect(redactCommandLine(`psql -h db -c "COPY t TO PROGRAM 'curl -u ops:Hunter2Prog https://h'"`)).toBe(`psql -h db -c "COPY t TO PROGRAM 'curl -u ops:[redacted] https://h'"`);
    expect(redactArgv(['psql', '-c', "ALTER SYSTEM SET archive_command = 'sshpass -p Hunter2Prog scp %p h:'"])).toEqual(['psql', '-c', "ALTER SYSTEM SET archive_command = 'sshpass -p [redacted] scp %p h:'"]);
  });

  it.each([
    // a server file, not a program; a literal that only mentions a program; a command with no credential
    "COPY t TO '/srv/curl -u ops:b.csv'",
    "SELECT 'to program ''curl -u ops:b''' AS note",
    "COPY t TO PROGRAM 'gzip > /srv/t.csv.gz'",
    "SET application_name = 'curl -u ops:b'",
  ])('keeps %s', (sql) => {
    expect(redactStatementSecrets(sql)).toBe(sql);
  });
});
