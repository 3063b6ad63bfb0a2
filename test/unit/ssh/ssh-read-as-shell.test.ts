/**
 * readAsShell (src/broker/ssh-exec/): deny and hold patterns against a command read as the remote
 * shell reads it. Each evasion here ran rm under `deny: ["rm *"]` before.
 */
import { describe, expect, it } from 'vitest';
import { readAsShell, shellCommands, smuggledSyntax } from '../../../src/broker/ssh-exec/index.js';
import { subscriptHoldsCode } from '../../../src/broker/ssh-exec/read-as-shell.js';

const exec = { deny: ['rm *', 'shutdown*'], hold: ['systemctl restart *'] };
const rule = (cmd: string, action: 'allow' | 'hold' = 'allow') => readAsShell(cmd, exec, action)?.rule;

describe('readAsShell', () => {
  it('splits and unquotes as sh does', () => {
    expect(shellCommands(`a 'b c' "d\\"e" f\\ g; h|i`).map((c) => c.map((w) => w.text))).toEqual([['a', 'b c', 'd"e', 'f g'], ['h'], ['i']]);
    expect(shellCommands('echo $HOME "x$(y)" \'$z\' *.log')[0]!.map((w) => [w.dynamic, w.glob])).toEqual([[false, false], [true, false], [true, false], [false, false], [false, true]]);
  });

  it('refuses quoting, paths, wrappers and nested shells that run a denied command', () => {
    for (const cmd of [
      "r''m -rf /", '"rm" -rf /', '\\rm -rf /', 'r\\m -rf /', '/bin/rm -rf /', './rm -rf /', 'env rm -rf /', 'env -i X=1 rm -rf /',
      'command rm -rf /', 'sudo -u root rm -rf /', 'nice -n 5 rm -rf /', 'nohup rm -rf /', 'X=1 rm -rf /', 'xargs rm -rf',
      "sh -c 'rm -rf /'", 'bash -c "rm -rf /"', "sh -c \"sh -c 'rm -rf /'\"", "find / -exec rm -rf {} +", '/bin/r? -rf /', '/bin/r* -rf /',
      'busybox rm -rf /', "sudo /sbin/shut''down now", "sh -c 'echo ok; rm -rf /'", "sh -c 'while true; do rm -rf /; done'",
      "sh -c 'if true; then rm -rf /; fi'", "sh -c '{ rm -rf /; }'", "sh -c '! rm -rf /'",
    ]) {
      expect({ cmd, rule: rule(cmd) }).toMatchObject({ cmd, rule: expect.stringMatching(/^ssh\.exec\.deny\[[01]\]$/) });
    }
  });

  it('refuses a computed word where it may name the command', () => {
    for (const cmd of ['$X -rf /', '`echo rm` -rf /', 'env $X -rf /', 'sh -c "$X"', "sh -c 'echo; $CMD'", '"$(echo rm)" -rf /']) {
      expect({ cmd, rule: rule(cmd) }).toEqual({ cmd, rule: 'ssh.exec.unreadable' });
    }
  });

  it('holds what a hold pattern matches once read, only when policy would have run it', () => {
    expect(rule('systemctl "restart" app')).toBe('ssh.exec.hold[0]');
    expect(rule('sudo systemctl restart app')).toBe('ssh.exec.hold[0]');
    expect(rule('systemctl "restart" app', 'hold')).toBeUndefined();
    expect(rule("rm -rf /", 'hold')).toBe('ssh.exec.deny[0]');
  });

  it('leaves ordinary commands alone', () => {
    for (const cmd of ['echo $HOME', 'ls -la *.log', 'ls *', 'grep rm notes.txt', "echo 'a; rm -rf /'", 'systemctl status app', "sh -c 'echo $HOME'", 'echo rm -rf /', 'df -h', 'sh -c "echo started-$((40+2)); sleep 1"', 'sh -c "kill -TERM $$"', 'sh -c "exit $?"',
      // Assignments of data, substitutions and arithmetic of numbers, a script file.
      'X=1 make build', 'X=$HOME make build', 'PATH="$HOME/bin:$PATH" make', 'MSG="built by $USER" make', "X='a b'; echo \"$X\"",
      'echo "today: $(date)"', 'ls -la "$(pwd)"', `sh -c 'test -n "$(ls)"'`, 'echo $((1+2)) $[3*4]', 'echo ${X:-default} ${#X}',
      'for i in 1 2 3; do echo $i; done', '. ./env.sh', 'source env.sh', "printf '%s' \"$X\""]) {
      expect({ cmd, rule: rule(cmd) }).toEqual({ cmd, rule: undefined });
    }
    // No deny or hold pattern: nothing to read against.
    expect(readAsShell("r''m -rf /", { deny: [], hold: [] }, 'allow')).toBeUndefined();
  });

  it('counts a command name glob that may name a program running its arguments as that program', () => {
    // Only a deny pattern without a wildcard in its command name: `/usr/bin/en? rm -rf /` ran rm under it.
    const rmOnly = { deny: ['rm *'], hold: [] };
    for (const cmd of ['/usr/bin/en? rm -rf /', "/bin/da?h -c 'rm -rf /'", "/bin/s[h] -c 'rm -rf /'", "/bin/*sh -c 'rm -rf /'", 'su?o rm -rf /', 'X=1 e* rm -rf /']) {
      expect({ cmd, rule: readAsShell(cmd, rmOnly, 'allow')?.rule }).toEqual({ cmd, rule: 'ssh.exec.deny[0]' });
    }
    // A glob that is an argument runs nothing.
    for (const cmd of ['ls -la *.log', 'cat /var/log/*.log', 'ls * $HOME']) expect(readAsShell(cmd, rmOnly, 'allow')).toBeUndefined();
  });

  it('counts a brace expansion in the command name as every name it may produce (bash expands it)', () => {
    // bash runs `{rm,-rf,/}` as `rm -rf /` and `r{m,} -rf /` as `rm r -rf /`.
    const rmOnly = { deny: ['rm *'], hold: [] };
    for (const cmd of ['{rm,-rf,/}', 'r{m,} -rf /', '/bin/{rm,-rf,/}', '{r..r}m -rf /', "{sh,-c,'rm -rf /'}", 'sudo {rm,-rf,/}']) {
      expect({ cmd, rule: readAsShell(cmd, rmOnly, 'allow')?.rule }).toEqual({ cmd, rule: 'ssh.exec.deny[0]' });
    }
    for (const cmd of ['find . -name x -exec ls {} +', 'sudo cp app.conf{,.bak}', 'echo {a,b}', 'ls {}']) {
      expect({ cmd, rule: readAsShell(cmd, rmOnly, 'allow')?.rule }).toEqual({ cmd, rule: undefined });
    }
  });

  it('reads what eval, watch and ssh join from their arguments as one command line', () => {
    // `eval "echo x;rm" -rf /` runs `echo x; rm -rf /`: each word was read alone, never their join.
    for (const cmd of ['eval "echo x;rm" -rf /', "watch -n1 'echo;rm' -rf /", 'ssh localhost "true;rm" -rf /', 'sudo eval "x;rm" -rf /']) {
      expect({ cmd, rule: rule(cmd) }).toEqual({ cmd, rule: 'ssh.exec.deny[0]' });
    }
    for (const cmd of ["eval 'echo hi'", "sh -c 'echo a; echo b' rm", 'watch -n1 "df -h; uptime"']) expect({ cmd, rule: rule(cmd) }).toEqual({ cmd, rule: undefined });
  });

  it("reads bash's coproc and function bodies", () => {
    for (const cmd of ['coproc rm -rf /', 'X=1 coproc rm -rf /', 'coproc X { rm -rf /; }', 'function f { rm -rf /; }; f']) {
      expect({ cmd, rule: rule(cmd) }).toEqual({ cmd, rule: 'ssh.exec.deny[0]' });
    }
  });

  it("refuses bash's $'…' and $\"…\" quoting where it may hide a command", () => {
    // bash reads `$'\''` as one quote character and the `;` after it as unquoted: under `echo *` this ran rm,
    // while a POSIX reading saw the `;` inside quotes.
    const hidden = "echo $'\\'' ; rm -rf / ; ''";
    expect(smuggledSyntax(hidden, 'echo *')).toMatch(/shell syntax/);
    // `$'\x72m'` and `$"rm"` are rm to bash.
    for (const cmd of ["$'\\x72m' -rf /", '$"rm" -rf /', "env $'\\x72m' -rf /"]) expect({ cmd, rule: rule(cmd) }).toEqual({ cmd, rule: 'ssh.exec.unreadable' });
    // A `$` inside double quotes, or one before a quote there, is literal in every shell.
    expect(smuggledSyntax('echo "costs 5$" \'ok\'', 'echo *')).toBeUndefined();
    for (const cmd of ['echo "costs 5$"', "echo '$'", 'grep "x$" notes']) expect({ cmd, rule: rule(cmd) }).toEqual({ cmd, rule: undefined });
  });

  it("refuses a backslash before a single quote inside single quotes (fish reads it as an escaped quote)", () => {
    // fish ends '\'' one quote later than sh: `; rm -rf / ;` is quoted to sh and unquoted to fish.
    expect(smuggledSyntax("echo '\\'' ; rm -rf / ; '\\''", 'echo *')).toMatch(/shell syntax/);
    expect(smuggledSyntax("echo 'it'\\''s'", 'echo *')).toBeUndefined();
  });

  it("refuses bash's $[…] arithmetic in a wildcard's text, as $((…)) naming a variable is", () => {
    // `$[X]` evaluates X's value (an env request can set it) as arithmetic, where `a[$(cmd)]` runs cmd.
    expect(smuggledSyntax('echo $[X]', 'echo *')).toMatch(/shell syntax \('\$' at offset 5\)/);
  });

  it('finds what the wildcards of a pattern matched in a long command', () => {
    // A RegExp with a capture group per wildcard took 34 s on this 8 kB command (time to the power of the
    // wildcards; bench/complexity measures how it grows now).
    const cmd = `echo a=b,c:d; rm -rf /${'=,'.repeat(4_000)} end`;
    expect(smuggledSyntax(cmd, 'echo *=*,*:* end')).toMatch(/\(';' at offset 12\)/);
    expect(smuggledSyntax(cmd.replace(';', ''), 'echo *=*,*:* end')).toBeUndefined();
  });

  it("skips bash's append and array assignments before the command", () => {
    // bash runs rm after `X+=1` and after `a[0]=1`; they were read as the command's name.
    for (const cmd of ['X+=1 rm -rf /', 'a[0]=1 rm -rf /', 'X=1 Y+=2 rm -rf /']) expect({ cmd, rule: rule(cmd) }).toEqual({ cmd, rule: 'ssh.exec.deny[0]' });
  });

  it('skips redirections wherever they are when finding the command', () => {
    // The redirection's target (or its file descriptor) was read as the command's name: these ran rm.
    for (const cmd of [
      '>/tmp/x rm -rf /', '2>&1 rm -rf /', '</dev/null rm -rf /', '>>log rm -rf /', '> /tmp/x rm -rf /', '2>/dev/null 1>&2 rm -rf /',
      '>|x rm -rf /', '<<<x rm -rf /', '<>x rm -rf /', '{fd}>x rm -rf /', '>$LOG rm -rf /', 'X=1 >x Y=2 rm -rf /', '&>x rm -rf /',
      "sh -c '>/tmp/x rm -rf /'", 'sudo 2>x rm -rf /', 'if >x rm -rf /; then :; fi', "eval 'echo x;rm' >/dev/null -rf /",
      // zsh reads `>! x` as a redirection to x, sh as one to `!`: both readings are read.
      '>! /tmp/x rm -rf /', '>! rm -rf /', ">! x sh -c 'rm -rf /'",
    ]) {
      expect({ cmd, rule: rule(cmd) }).toEqual({ cmd, rule: 'ssh.exec.deny[0]' });
    }
    // A quoted number is a word, not a file descriptor: `"2">x rm` runs a program named 2.
    expect(shellCommands('"2">x rm 2>y')[0]!.map((w) => [w.text, w.redirect])).toEqual([['2', false], ['x', true], ['rm', false], ['2', true], ['y', true]]);
    // A redirection's target is never run: neither read as the command nor refused when computed.
    for (const cmd of ['>rm echo hi', 'echo hi >rm', 'sudo ls >$OUT', 'cat <(ls) >x']) expect({ cmd, rule: rule(cmd) }).toEqual({ cmd, rule: undefined });
    expect(rule('cat <(rm -rf /)')).toBe('ssh.exec.deny[0]');
  });

  it('matches patterns naming a directory against the path as written and the file name', () => {
    // The reading kept only the file name, so a pattern with a directory never matched a reading.
    const paths = { deny: ['/usr/bin/rm *', 'bin/shred *', '/opt/tools/* *'], hold: [] };
    const r = (cmd: string) => readAsShell(cmd, paths, 'allow')?.rule;
    for (const cmd of ['"/usr/bin/rm" -rf /', 'sudo /usr/bin/rm -rf /', '/usr/bin//rm -rf /', '/usr/bin/../bin/rm -rf /', 'rm -rf /', '/bin/rm -rf /', "r''m -rf /", '/usr/bin/r? -rf /']) {
      expect({ cmd, rule: r(cmd) }).toEqual({ cmd, rule: 'ssh.exec.deny[0]' });
    }
    for (const cmd of ['sudo shred x', '/usr/bin/shred x', './bin/shred x']) expect({ cmd, rule: r(cmd) }).toEqual({ cmd, rule: 'ssh.exec.deny[1]' });
    // A directory and a wildcard file name match commands written with that directory only (dropped, it is every command).
    for (const cmd of ['sudo /opt/tools/wipe all', '"/opt/tools/wipe" all', '/opt//tools/./wipe all', '/opt/x/../tools/wipe all']) {
      expect({ cmd, rule: r(cmd) }).toEqual({ cmd, rule: 'ssh.exec.deny[2]' });
    }
    for (const cmd of ['wipe all', 'ls /opt/tools', 'rmdir x']) expect({ cmd, rule: r(cmd) }).toEqual({ cmd, rule: undefined });
  });

  it('reads the command that privilege, namespace, sandbox and scheduling wrappers run', () => {
    // These ran rm under deny 'rm *': the wrapper was read as the command and rm as its argument.
    for (const cmd of [
      'pkexec rm -rf /', 'unshare -m rm -rf /', 'nsenter -t 1 -m rm -rf /', 'setpriv --reuid=0 rm -rf /', 'firejail rm -rf /',
      'chrt -f 1 rm -rf /', "sg wheel 'rm -rf /'", "sg wheel -c 'rm -rf /'", 'setarch x86_64 rm -rf /', 'prlimit --nofile=10 rm -rf /',
      'numactl -N0 rm -rf /', "capsh -- -c 'rm -rf /'", 'bwrap --bind / / rm -rf /', 'fakeroot rm -rf /', 'cgexec -g cpu:x rm -rf /',
      'systemd-nspawn -D / rm -rf /', 'ssh-agent rm -rf /', 'dbus-run-session rm -rf /', 'xvfb-run rm -rf /', '/usr/bin/pkexec rm -rf /',
    ]) {
      expect({ cmd, rule: rule(cmd) }).toEqual({ cmd, rule: 'ssh.exec.deny[0]' });
    }
    // Already read before: kept so.
    for (const cmd of [
      "su -c 'rm -rf /'", "su root -c 'rm -rf /'", 'runuser -u app -- rm -rf /', 'doas rm -rf /', 'stdbuf -o0 rm -rf /', 'flock /tmp/l rm -rf /',
      "flock /tmp/l -c 'rm -rf /'", 'watch rm -rf /', 'parallel rm ::: -rf', 'systemd-run rm -rf /', "script -c 'rm -rf /'", 'ionice -c3 rm -rf /',
      'taskset 1 rm -rf /', 'chroot / rm -rf /', 'timeout 5 rm -rf /',
    ]) {
      expect({ cmd, rule: rule(cmd) }).toEqual({ cmd, rule: 'ssh.exec.deny[0]' });
    }
  });

  it('refuses at, batch, tmux and screen as unreadable: they run commands pcigate cannot read', () => {
    // `at now` reads its command from its input; tmux send-keys and screen's stuff type it into a shell.
    for (const cmd of ['at now', 'batch', 'sudo at now + 1 minute', 'tmux send-keys -t 0 r m Space -rf Space / Enter', "screen -X stuff 'r\\155 -rf /\n'", '/usr/bin/tmux new -d']) {
      expect({ cmd, rule: rule(cmd) }).toEqual({ cmd, rule: 'ssh.exec.unreadable' });
    }
    expect(readAsShell('a? now', { deny: ['rm *'], hold: [] }, 'allow')?.rule).toBe('ssh.exec.unreadable');
    // Without deny or hold patterns there is nothing to read against.
    expect(readAsShell('at now', { deny: [], hold: [] }, 'allow')).toBeUndefined();
    for (const cmd of ['echo at', 'grep screen notes', 'cat /etc/at.deny']) expect({ cmd, rule: rule(cmd) }).toEqual({ cmd, rule: undefined });
  });

  it('refuses command lines nested deeper than it reads', () => {
    // Six `sh -c` deep the innermost line was not read, and rm ran under deny 'rm *'.
    const q = (t: string) => `'${t.replace(/'/g, `'\\''`)}'`;
    let cmd = 'rm -rf /';
    for (let d = 1; d <= 8; d++) {
      cmd = `sh -c ${q(cmd)}`;
      expect({ d, rule: rule(cmd) }).toEqual({ d, rule: d <= 5 ? 'ssh.exec.deny[0]' : 'ssh.exec.unreadable' });
    }
    expect(rule("sh -c 'sh -c \"sh -c \\\"echo hi; ls\\\"\"'")).toBeUndefined();
    // A redirection makes a word a command line of its own too: `rm</dev/null` runs rm.
    expect(readAsShell("sh -c 'rm</dev/null'", { deny: ['rm*'], hold: [] }, 'allow')?.rule).toBe('ssh.exec.deny[0]');
  });

  it("reads fish's and zsh's words before a command and zsh's =name", () => {
    // fish runs rm after not/and/or, zsh after noglob/nocorrect/-, `=rm` is rm's path and `repeat 2` runs rm twice.
    for (const cmd of ['not rm -rf /', 'true; and rm -rf /', 'false; or rm -rf /', 'noglob rm -rf /', 'nocorrect rm -rf /', '- rm -rf /', '=rm -rf /', 'sudo =rm -rf /', 'repeat 2 rm -rf /']) {
      expect({ cmd, rule: rule(cmd) }).toEqual({ cmd, rule: 'ssh.exec.deny[0]' });
    }
    for (const cmd of ['echo =rm', 'echo and rm']) expect({ cmd, rule: rule(cmd) }).toEqual({ cmd, rule: undefined });
  });

  it('refuses a shell that reads its commands from its input as unreadable', () => {
    // `echo 'rm -rf /' | sh` (or lines sent on the channel after `bash`) ran rm under deny 'rm *'.
    for (const cmd of ["echo 'rm -rf /' | sh", 'bash', 'bash -l', 'sh -s a b', 'sh -', 'sudo -u root bash', 'timeout 5 sh', 'env X=1 bash --norc', 'su', 'su - root', 'sudo su -', 'sudo -i', 'sudo -u root -s', '/bin/sh <script', "echo 'rm -rf /' | xargs sh -c", "echo 'rm -rf /' | parallel", 'parallel --jobs=2']) {
      expect({ cmd, rule: rule(cmd) }).toEqual({ cmd, rule: 'ssh.exec.unreadable' });
    }
    // A command name glob that may name a shell counts as one ('shutdown*' would meet any glob name first).
    for (const cmd of ['/bin/?h', '/bin/[bd]ash -l']) expect({ cmd, rule: readAsShell(cmd, { deny: ['rm *'], hold: [] }, 'allow')?.rule }).toEqual({ cmd, rule: 'ssh.exec.unreadable' });
    // A command or a script is given: read (the script's content is not seen, as documented), and a shell's name as an argument runs nothing.
    for (const cmd of ["sh -c 'echo hi'", "bash -lc 'uptime'", 'bash deploy.sh', "su -c 'uptime' app", 'sudo -i systemctl status app', 'find / -name sh', 'sudo apt install bash', 'which bash', 'echo sh', 'parallel gzip ::: a b', "xargs sh -c 'gzip x' _", 'xargs -0 gzip']) {
      expect({ cmd, rule: rule(cmd) }).toEqual({ cmd, rule: undefined });
    }
  });

  it('refuses xargs, find -exec and parallel where the command they run is a placeholder for data', () => {
    // The command is the input or the file found: policy met `{}` or `CMD`, and these ran rm under deny 'rm *'.
    const rmOnly = { deny: ['rm *'], hold: [] };
    const r = (cmd: string) => readAsShell(cmd, rmOnly, 'allow')?.rule;
    for (const cmd of [
      'xargs -I{} {}', 'xargs -I CMD CMD -rf /', 'xargs -ICMD CMD -rf /', 'xargs -0I{} {} -rf /', 'xargs -i {} -rf /', 'xargs -i{} {} -rf /',
      'xargs --replace {} -rf /', 'xargs --replace=X X -rf /', 'xargs --repl=X X -rf /', 'xargs -I{} /usr/bin/{} -rf /', 'xargs -I{} sudo -u root {} -rf /',
      'xargs -i sh -c {}', "xargs -I{} sh -c 'echo {}'", "xargs -I% bash -lc 'cd /srv && %'", 'sudo xargs -I{} {}', "sh -c 'xargs -I{} {} -rf /'",
      'xargs env', 'xargs sudo -u app', 'xargs nice -n 5',
      'find . -exec {} \\;', 'find . -execdir {} +', 'find . -ok {} \\;', 'find . -okdir {} \\;', 'find . -name x -exec env {} -rf / \\;',
      "find . -exec sh -c 'gzip {}' \\;", 'find . -exec ls {} \\; -exec {} \\;',
      "parallel ::: 'echo ok'", 'parallel -j2 ::: cmd1 cmd2', 'parallel -j 2 ::: ls', 'parallel :::: cmds.txt', 'parallel -a cmds.txt', 'parallel --arg-sep ,, ,, ls',
      "parallel --colsep '\\x27' ::: \"echo x'; rm -rf /'\"", "parallel ::: 'echo x; rm' ::: '-rf /'", 'parallel {} ::: ls', 'parallel {1} ::: ls', "parallel 'echo; {}' ::: ls",
      "parallel \"sh -c 'echo {}'\" ::: x", 'parallel -I @@ @@ ::: ls', 'parallel env ::: ls', 'parallel -j 2',
    ]) {
      expect({ cmd, rule: r(cmd) }).toEqual({ cmd, rule: 'ssh.exec.unreadable' });
    }
    // A command name glob that may be xargs is taken to be it.
    expect(r('/usr/bin/xarg? -I{} {} -rf /')).toBe('ssh.exec.unreadable');
    // The placeholder as an argument, or a named command: read as that command, a denied one still denied.
    for (const cmd of ['xargs -I{} rm {}', 'find . -exec rm {} \\;', 'find . -execdir rm -f {} +', 'parallel rm ::: a b', 'parallel rm {} ::: a', 'xargs --replace rm {}', 'xargs sudo rm -f', 'xargs find /srv -exec rm {} +']) {
      expect({ cmd, rule: r(cmd) }).toEqual({ cmd, rule: 'ssh.exec.deny[0]' });
    }
    for (const cmd of [
      'xargs -I{} echo {}', 'xargs -I{} cp {} /backup', 'xargs -0 gzip', 'xargs', 'xargs -n1', "xargs sh -c 'gzip x' _", 'xargs -I{} grep -c {} notes',
      'find . -exec ls {} +', "find . -exec sh -c 'ls -l' _ {} \\;", 'find . -name {} -print', 'find /srv -exec ls -l {} \\; -print',
      'parallel echo ::: a b', 'parallel -j2 gzip ::: a b', "parallel 'gzip {}' ::: a b", 'parallel --colsep , echo {1} ::: a,b',
      'parallel -k gzip :::: files.txt',
      // Data appended to a named command, to a shell's line as its $1 …, or placed by -I and {}.
      'xargs grep foo', 'xargs -0 ls', 'find . -print0 | xargs -0 wc -l', "xargs sh -c 'for f; do gzip \"$f\"; done' _",
      'xargs -I{} sudo chown app {}', 'xargs -I{} find /srv -name {}', "parallel 'sudo chown app {}' ::: a",
    ]) {
      expect({ cmd, rule: r(cmd) }).toEqual({ cmd, rule: undefined });
    }
  });

  // `echo '-exec rm -rf / ;' | xargs find /srv -name x` ran rm under deny 'rm *': the arguments xargs (or parallel)
  // appends are data, and find (env, sudo, nice, chroot, ssh, xargs …) runs them as a command. Each of these was allowed.
  it.each([
    'xargs find /srv -name x', 'xargs -0 find /srv -type f', 'xargs -n1 find /srv', 'find . -print0 | xargs -0 find /srv -name x',
    'xargs sudo find /srv', 'xargs env X=1 gzip', 'xargs sudo chown app', 'xargs nice -n 5 gzip', 'xargs timeout 5 gzip', 'xargs nohup gzip',
    'xargs xargs echo', 'xargs parallel echo', 'xargs chroot /srv', 'xargs flock /tmp/lock', 'xargs ssh host', 'xargs bash deploy.sh',
    'parallel find /srv -name ::: x', 'parallel env X=1 gzip ::: a', 'parallel sudo chown app ::: a',
    // A shell's line expanding its positional parameters into the command, one word the reading does not take for a line.
    "xargs sh -c '$1' _", "xargs bash -c '\"$@\"' _",
  ])('refuses %s: data appended to a program that runs its arguments as a command', (cmd) => {
    expect(readAsShell(cmd, { deny: ['rm *'], hold: [] }, 'allow')?.rule).toBe('ssh.exec.unreadable');
  });

  // Under deny 'rm *' `X='rm -rf /' sh -c '$X'` ran rm: the value assigned before the command was not read, and
  // neither was the one-word -c line that runs it. Each of these was allowed before.
  it.each([
    // A value written out before the command (or to a builtin or program that keeps it) is read as a command line.
    [`X='rm -rf /' sh -c '$X'`, 'ssh.exec.deny[0]'], [`export X='rm -rf /'; sh -c '$X'`, 'ssh.exec.deny[0]'],
    [`GIT_SSH_COMMAND='rm -rf /' git fetch`, 'ssh.exec.deny[0]'], [`make CC='rm -rf /'`, 'ssh.exec.deny[0]'],
    [`alias x='rm -rf /'; x`, 'ssh.exec.unreadable'], [`X='rm -rf /' bash -i`, 'ssh.exec.deny[0]'],
    [`GIT_SSH_COMMAND="$HOME"';rm -rf /' git fetch`, 'ssh.exec.unreadable'],
    // A shell's -c line, a -c option's value and a word holding a `$` left to a later shell are lines, one word too.
    [`sh -c '\${X}'`, 'ssh.exec.unreadable'], [`sh -c '\${X:-rm}'`, 'ssh.exec.unreadable'], [`bash -lc '$X'`, 'ssh.exec.unreadable'],
    [`sh -ec '$X'`, 'ssh.exec.unreadable'], [`sh -c -- '$X'`, 'ssh.exec.unreadable'], [`sudo sh -c '$X'`, 'ssh.exec.unreadable'],
    [`nice sh -c '$X'`, 'ssh.exec.unreadable'], [`busybox sh -c '$X'`, 'ssh.exec.unreadable'], [`su -c '$X'`, 'ssh.exec.unreadable'],
    [`eval '$X'`, 'ssh.exec.unreadable'], [`ssh host '$X'`, 'ssh.exec.unreadable'], [`watch '$X'`, 'ssh.exec.unreadable'],
    [`exec '$X'`, 'ssh.exec.unreadable'], [`command -p '$X'`, 'ssh.exec.unreadable'],
    [`sh -c "shut''down"`, 'ssh.exec.deny[1]'], [`sh -c 'shut\\down'`, 'ssh.exec.deny[1]'], [`sh -c '/sbin/shutdow?'`, 'ssh.exec.deny[1]'],
    [`trap 'rm -rf /' EXIT`, 'ssh.exec.deny[0]'],
    // Command substitutions inside double quotes and backticks run their commands.
    ['echo "$(rm -rf /)"', 'ssh.exec.deny[0]'], ['echo "`rm -rf /`"', 'ssh.exec.deny[0]'], ['echo `rm -rf /`', 'ssh.exec.deny[0]'],
    [`sh -c 'echo "$(rm -rf /)"'`, 'ssh.exec.deny[0]'], ["sh -c 'echo `rm -rf /`'", 'ssh.exec.deny[0]'],
    ['echo "${X:-$(rm -rf /)}"', 'ssh.exec.deny[0]'], ['echo "$(case x in x) rm -rf / ;; esac)"', 'ssh.exec.unreadable'],
    // bash evaluates a variable's value as code: arithmetic (`a[$(cmd)]`), prompts, indirection, sourced files.
    [`X='a[$(rm -rf /)]'; echo $((X))`, 'ssh.exec.unreadable'], [`X='a[$(rm -rf /)]'; echo $[X]`, 'ssh.exec.unreadable'],
    ['echo $(( X ))', 'ssh.exec.unreadable'], ['((X))', 'ssh.exec.unreadable'], ['let X', 'ssh.exec.unreadable'],
    [`declare -i X='a[$(rm)]'`, 'ssh.exec.unreadable'], ['echo ${X@P}', 'ssh.exec.unreadable'], [`sh -c 'echo \${X@P}'`, 'ssh.exec.unreadable'],
    ['echo ${!X}', 'ssh.exec.unreadable'], [`[[ -v 'a[$(rm -rf /)]' ]]`, 'ssh.exec.unreadable'], ["printf -v 'a[`rm -rf /`]' x", 'ssh.exec.unreadable'],
    // After arithmetic of numbers, which is read as a number, the next one on the line is read on its own.
    ['echo $((1+2)) $((X))', 'ssh.exec.unreadable'], ['echo $[1] $[X]', 'ssh.exec.unreadable'], ['((1+2)); ((X))', 'ssh.exec.unreadable'],
    ['echo ${s:1}', 'ssh.exec.unreadable'], ['echo ${a[1]}', 'ssh.exec.unreadable'], ['echo ${s:-a} ${X@P}', 'ssh.exec.unreadable'],
    [`PS4='$(rm -rf /)' bash -xc :`, 'ssh.exec.unreadable'], [`BASH_ENV='$(rm -rf /)' bash -c :`, 'ssh.exec.unreadable'],
    [`ENV=/tmp/x sh -c 'echo'`, 'ssh.exec.unreadable'], ['read PS4; set -x', 'ssh.exec.unreadable'], [`PROMPT_COMMAND='rm -rf /' bash -i`, 'ssh.exec.unreadable'],
    // A shell or `.` given its input as the script, and an assignment with a path no longer hiding what follows it.
    ['. <(echo rm -rf /)', 'ssh.exec.unreadable'], ['source /dev/stdin', 'ssh.exec.unreadable'], ['bash /dev/stdin', 'ssh.exec.unreadable'],
    ['sh /dev/fd/3', 'ssh.exec.unreadable'], ['X=a/b bash -i', 'ssh.exec.unreadable'],
    // A name made to run another program, history rerun, zsh's `$=X`.
    ['alias ls=rm; ls -rf /', 'ssh.exec.unreadable'], ['hash -p /bin/rm ls; ls -rf /', 'ssh.exec.unreadable'],
    [`history -s 'rm -rf /'; fc -s`, 'ssh.exec.unreadable'], ['read X; $=X', 'ssh.exec.unreadable'],
  ])('refuses %s: a value, a one-word line or an evaluation that runs a command', (cmd, expected) => {
    expect(rule(cmd)).toBe(expected);
  });

  it('reads command substitutions inside quotes as commands following the one they are in', () => {
    expect(shellCommands('echo "a $(b "c d")" `e f`').map((c) => c.map((w) => w.text))).toEqual([['echo', 'a $(b "c d")', '`e f`'], ['b', 'c d'], ['e', 'f']]);
  });

  it('reads nested command substitutions as far as it reads them, and refuses deeper ones', () => {
    expect(rule(`echo "${'$(echo "'.repeat(20_000)}"`)).toBe('ssh.exec.unreadable');
    // Ordinary substitutions are still read (10 kB of them).
    expect(rule('echo "$(date)" `date` '.repeat(500))).toBeUndefined();
  });

  it('reads a long line of unclosed arithmetic, each looked ahead from once (src/broker/ssh-exec/lookahead.ts)', () => {
    // Each `$((`, `((` and `$[` looked for its end through the rest of the line: 240 kB of `$((` took 0.4 s, and
    // the time grew with the square of the line (bench/complexity measures it).
    for (const open of ['$((', '((', '$[']) expect(rule(`echo ${open.repeat(80_000)}`), open).toBe('ssh.exec.unreadable');
    expect(rule(`echo ${'$((1'.repeat(60_000)}))`)).toBe('ssh.exec.unreadable');
    expect(rule(`echo ${'$((1+2)) '.repeat(20_000)}`)).toBeUndefined();
    expect(smuggledSyntax(`echo ${'$((1)) '.repeat(20_000)}`, 'echo *')).toBeUndefined();
    expect(smuggledSyntax(`echo ${'$((1)) '.repeat(20_000)}$((X))`, 'echo *')).toMatch(/\('\$' at offset 140005\)/);
  });

  it('finds a command substitution in a subscript left as text as the RegExp it replaces does, in one pass', () => {
    // The RegExp read from each name to the end of the word and back: 35 kB of `'$a[a[…'` took 0.3 s.
    const oracle = /[A-Za-z_][A-Za-z0-9_]*\[[^\]]*(?:\$[({[]|`)/;
    let seed = 11;
    const rand = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x80000000; };
    const alphabet = ['a', 'Z', '_', '1', '[', ']', '$', '(', '{', '`', ' ', '-', '$('];
    for (let n = 0; n < 20_000; n++) {
      let t = '';
      for (let k = Math.floor(rand() * 16); k > 0; k--) t += alphabet[Math.floor(rand() * alphabet.length)];
      expect(subscriptHoldsCode(t), JSON.stringify(t)).toBe(oracle.test(t));
    }
    expect(rule(`echo '$${'a['.repeat(17_000)}'`)).toBeUndefined();
    expect(rule(`[[ -v '${'a['.repeat(17_000)}$(rm -rf /)]' ]]`)).toBe('ssh.exec.unreadable');
  });

  it('reads a long command within a bound of work, refusing one with too many words after a runner', () => {
    // Every word after `env` starts a reading to the end of the line: 17,000 of them (a 35 kB exec request, as
    // large as ssh2 takes) cost seconds of the event loop, per request, before the work was bounded.
    const hostile = `grep env ${'a '.repeat(17_000)}`;
    const r = readAsShell(hostile, { deny: ['rm *', '*reboot*'], hold: [] }, 'allow');
    expect(r?.rule).toBe('ssh.exec.unreadable');
    // An ordinary long command is still read, and what it runs still found.
    const files = Array.from({ length: 200 }, (_, i) => `/srv/data/file-${i}.csv`).join(' ');
    expect(rule(`sudo chown app ${files}`)).toBeUndefined();
    expect(rule(`sudo chown app ${files}; sudo rm -rf /`)).toBe('ssh.exec.deny[0]');
  });
});
