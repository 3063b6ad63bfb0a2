/**
 * An exec command is a line for the remote user's shell: sshd runs it as `$SHELL -c COMMAND` (RFC 4254
 * §6.5 leaves it to the server; OpenSSH's session.c does this). The SSH policy matches the command's text
 * with globs (src/policy/ssh-rules.ts), and `echo *` matches `echo x; rm -rf /` as well as `echo x`: what
 * the wildcard stood for would run a second command. So a command that a pattern with a wildcard allowed
 * (or held) is refused when the text the wildcard matched holds shell syntax that can start another command
 * or write a file: an unquoted `;` `&` `|` `<` `>` `(` `)` or line break, a backtick, `$(` or `${` outside
 * single quotes (command substitution; `${…}` can run code through bash's `@P`, and so can `$((…))` naming
 * a variable; arithmetic of numbers only is allowed), bash's `$'…'` and a `\'` inside single quotes (fish's escaped
 * quote: read otherwise by bash or fish than by sh), or a NUL byte (sshd drops
 * the whole connection for one). Text inside single quotes, or double quotes without substitution, is one
 * argument and stays allowed (`sh -c "echo a; echo b"` under `sh -c *`); a pattern's own literal text is the
 * administrator's and is not judged. The reading is POSIX sh's; where another shell reads more syntax the
 * check sees more text as unquoted, never less, so it refuses more (fail closed).
 *
 * readAsShell reads a command's words as sh does, with what bash, zsh and fish add before or around a command's
 * name (their keywords, redirections, `=rm`); csh, tcsh and shells outside the sh family are not modelled
 * (docs/ssh.md, Which login shells).
 */
import { globMatches } from '../policy/ssh-rules.js';

/** Offsets in `cmd` of characters that are shell syntax able to start a command, as POSIX sh reads the line. */
export function shellSyntaxOffsets(cmd: string): number[] {
  const at: number[] = [];
  let state: 'plain' | 'single' | 'double' = 'plain';
  for (let i = 0; i < cmd.length; i++) {
    const c = cmd[i]!;
    if (c === '\0') { at.push(i); continue; }
    if (state === 'single') {
      // fish reads `\'` inside single quotes as an escaped quote: where sh's quote ends, fish's goes on, and
      // the next quote that sh opens is one that fish closes. Refused rather than read two ways.
      if (c === '\\' && cmd[i + 1] === "'") at.push(i);
      else if (c === "'") state = 'plain';
      continue;
    }
    if (c === '\\') { i++; continue; } // an escaped character (or a line continuation) is literal
    if (c === '$' && cmd.startsWith('$((', i)) {
      // Arithmetic of numbers only is harmless; with a name in it bash evaluates the variable's value as
      // arithmetic, and `a[$(cmd)]` there runs cmd (the value can come from an env request).
      const end = cmd.indexOf('))', i + 3);
      if (end > 0 && /^[0-9\s+\-*/%<>=!&|^~?:,()]*$/.test(cmd.slice(i + 3, end))) { i = end + 1; continue; }
    }
    if (c === '`' || (c === '$' && (cmd[i + 1] === '(' || cmd[i + 1] === '{'))) { at.push(i); continue; }
    if (state === 'double') {
      if (c === '"') state = 'plain';
      continue;
    }
    // bash's ANSI-C quoting: inside `$'…'` a backslash escapes a quote, so `$'\''` ends where a POSIX reading
    // opens a quote, and what follows is unquoted to bash and quoted here. Refused rather than read two ways.
    if (c === '$' && cmd[i + 1] === "'") { at.push(i); continue; }
    if (c === "'") state = 'single';
    else if (c === '"') state = 'double';
    else if (';&|<>()\n\r'.includes(c)) at.push(i);
  }
  return at;
}

/** A glob of the SSH policy (`*` any run, `?` one character) with each wildcard as a capture group. */
function globWithCaptures(glob: string): RegExp {
  let re = '';
  for (const ch of glob) {
    if (ch === '*') re += '(.*)';
    else if (ch === '?') re += '(.)';
    else re += ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 'sd');
}

const describe = (c: string) => (c === '\n' ? 'a line break' : c === '\r' ? 'a carriage return' : c === '\0' ? 'a NUL byte' : `'${c}'`);

/**
 * Why `command` must not run although `pattern` matched it (see the file comment), or undefined. `command`
 * is the text the policy matched (trimmed, as decideSsh matches it).
 */
export function smuggledSyntax(command: string, pattern: string): string | undefined {
  if (command.includes('\0')) return 'the command holds a NUL byte';
  if (!/[*?]/.test(pattern)) return undefined;
  const m = globWithCaptures(pattern).exec(command);
  if (!m?.indices) return undefined;
  const spans = m.indices.slice(1).filter((s): s is [number, number] => s !== undefined);
  // Any split of the text among the wildcards is one the shell runs alike; the greedy one is judged. A syntax
  // character a literal part of the pattern accounts for in one split is accounted for in every split, unless
  // the text holds more of them than the pattern names, and then a greedy wildcard holds the extra ones.
  const bad = shellSyntaxOffsets(command).find((i) => spans.some(([a, b]) => i >= a && i < b));
  if (bad === undefined) return undefined;
  return `the text matched by a wildcard of pattern '${pattern}' holds shell syntax (${describe(command[bad]!)} at offset ${bad}) that could run another command; pcigate does not run it (quote it as one argument, or ask for a pattern that names the whole command)`;
}

/**
 * One word of a command line as the shell will see it: `text` with quotes and backslashes removed; `dynamic`
 * when the shell computes part of it (a `$` expansion or a backtick), `glob` when an unquoted `*`, `?` or `[`
 * makes it a pattern the shell expands to file names, or a brace expansion (bash's `{a,b}`, `{a..z}`) to words.
 * `redirect` when it is a redirection's file descriptor or target (`2`, `1` and `/tmp/x` in `2>&1 >/tmp/x`),
 * which the shell opens and never runs; `'maybe'` when only some shells read it so: zsh's `>! x` and fish's
 * `>? x` name x as the target, while sh's target is `!` or `?` and x is a word of the command.
 */
export interface ShellWord { text: string; dynamic: boolean; glob: boolean; redirect: boolean | 'maybe' }

/**
 * A redirection operator's characters after its first `<` or `>` (POSIX sh 2.7; bash's `<<<`, zsh's `>!` and
 * `>&|`, fish's `>?`). `&>` is not one: sh ends the command at the `&`, and the `>` after it starts one of these.
 */
const REDIRECT_OP = /<<<|<<-|<<|<>|<&|<|>>?&?[!|?]?|>/y;

/**
 * Splits a command line as POSIX sh does, into simple commands (at unquoted `;` `&` `|` `(` `)` and line
 * breaks) of words (at unquoted blanks and redirection operators), removing quotes. A reading for policy, not an
 * interpreter: where it is unsure it marks the word dynamic, and the caller refuses what it cannot read.
 */
export function shellCommands(cmd: string): ShellWord[][] {
  const commands: ShellWord[][] = [];
  let words: ShellWord[] = [];
  let w: ShellWord | undefined;
  // The next word is a redirection's target; `quoted`: the open word has a quote or backslash (`"2">x` is a word).
  let target: boolean | 'maybe' = false;
  let quoted = false;
  const word = () => {
    if (!w) { w = { text: '', dynamic: false, glob: false, redirect: target }; target = false; }
    return w;
  };
  // An unquoted `{` seen in the word: with a `,` or `..` before a later `}` bash expands it to several words
  // (`{rm,-rf,/}` runs `rm -rf /`, `r{m,}` is `rm r`), so the word is a pattern of names, as a glob is.
  let brace = false;
  const endWord = () => {
    if (w) {
      const a = brace ? w.text.indexOf('{') : -1;
      const b = w.text.lastIndexOf('}');
      if (a >= 0 && b > a && (w.text.slice(a, b).includes(',') || w.text.slice(a, b).includes('..'))) w.glob = true;
      words.push(w);
    }
    w = undefined;
    brace = false;
    quoted = false;
  };
  const endCommand = () => { endWord(); target = false; if (words.length) commands.push(words); words = []; };
  let state: 'plain' | 'single' | 'double' = 'plain';
  for (let i = 0; i < cmd.length; i++) {
    const c = cmd[i]!;
    if (state === 'single') {
      if (c === "'") state = 'plain';
      else word().text += c;
      continue;
    }
    if (c === '\\') {
      const n = cmd[i + 1];
      i++;
      if (n === undefined || n === '\n') continue; // a line continuation
      quoted = true;
      // Inside double quotes a backslash escapes only $ ` " \; elsewhere it stays.
      if (state === 'double' && !'$`"\\'.includes(n)) word().text += '\\';
      word().text += n;
      continue;
    }
    if (c === '$' && cmd.startsWith('$((', i)) {
      // Arithmetic of numbers only is a number, whatever runs it (as shellSyntaxOffsets reads it).
      const end = cmd.indexOf('))', i + 3);
      if (end > 0 && /^[0-9\s+\-*/%<>=!&|^~?:,()]*$/.test(cmd.slice(i + 3, end))) { word().text += cmd.slice(i, end + 2); i = end + 1; continue; }
    }
    // $$ $? $! $# $- are numbers or the shell's flags, never text a client chose.
    if (c === '$' && /[$?!#-]/.test(cmd[i + 1] ?? '')) { word().text += cmd.slice(i, i + 2); i++; continue; }
    if (c === '`' || (c === '$' && /[A-Za-z_0-9{(@*]/.test(cmd[i + 1] ?? ''))) { word().dynamic = true; word().text += c; continue; }
    // bash's `$'…'` (escapes decoded: `$'\x72m'` is rm) and `$"…"` (translated) are text the shell computes.
    if (state === 'plain' && c === '$' && (cmd[i + 1] === "'" || cmd[i + 1] === '"')) { word().dynamic = true; word().text += c; continue; }
    if (state === 'double') {
      if (c === '"') state = 'plain';
      else word().text += c;
      continue;
    }
    if (c === "'") { word(); quoted = true; state = 'single'; } else if (c === '"') { word(); quoted = true; state = 'double'; } else if (';&|()\n\r'.includes(c)) endCommand();
    else if (c === ' ' || c === '\t') endWord();
    else if (c === '<' || c === '>') {
      // A redirection (`>/tmp/x rm -rf /`, `2>&1 rm …`) may come anywhere, before the command's name too: its
      // file descriptor (digits, or bash's `{fd}`, written against the operator) and its target are not the
      // command. `<(…)` and `>(…)` are bash's process substitution: the `(` starts a command of its own.
      if (w && !quoted && /^(?:[0-9]+|\{[A-Za-z_][A-Za-z0-9_]*\})$/.test(w.text)) w.redirect = true;
      endWord();
      REDIRECT_OP.lastIndex = i;
      const op = REDIRECT_OP.exec(cmd)![0];
      i += op.length - 1;
      // zsh's `>!` and fish's `>?` before a blank: their target is the next word, sh's is the `!` or `?`.
      target = /[!?]$/.test(op) && (cmd[i + 1] === ' ' || cmd[i + 1] === '\t') ? 'maybe' : true;
    } else {
      if ('*?['.includes(c)) word().glob = true;
      if (c === '{') brace = true;
      word().text += c;
    }
  }
  endCommand();
  return commands;
}

/** What `readAsShell` found: the command is refused or held by a pattern once read as the shell reads it. */
export interface ShellReading { action: 'deny' | 'hold'; rule: string; reason: string }

/** Programs that run their arguments as a command or a command line (`env rm …`, `sh -c '…'`, `find -exec`). */
const RUNNERS = new Set([
  'env', 'command', 'exec', 'builtin', 'eval', 'sudo', 'doas', 'su', 'runuser', 'nice', 'nohup', 'timeout', 'time', 'xargs',
  'stdbuf', 'setsid', 'ionice', 'chroot', 'taskset', 'busybox', 'strace', 'ltrace', 'watch', 'flock', 'unbuffer', 'find',
  'sh', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'ash', 'csh', 'tcsh', 'fish', 'ssh', 'script', 'systemd-run', 'parallel',
  // Privileges, namespaces, sandboxes, scheduling and resource limits: each runs the command it is given.
  'pkexec', 'unshare', 'nsenter', 'setpriv', 'firejail', 'chrt', 'sg', 'setarch', 'linux32', 'linux64', 'prlimit',
  'numactl', 'capsh', 'bwrap', 'fakeroot', 'cgexec', 'systemd-nspawn', 'ssh-agent', 'dbus-run-session', 'xvfb-run',
  // bash keywords whose words hold a command: `coproc rm …`, `function f { rm …; }`, and zsh's `repeat 3 rm …`
  // (read like a runner's).
  'coproc', 'function', 'repeat',
]);

/**
 * Programs that run a command pcigate cannot read from their arguments: at and batch read it from their input
 * or a file (`echo 'rm -rf /' | at now`), tmux and screen from keystrokes they type into a shell
 * (`tmux send-keys`, `screen -X stuff`), their own command language and configuration files. Where one may be
 * the command, the line is refused as unreadable while the connection has deny or hold patterns.
 */
const OPAQUE = new Set(['at', 'batch', 'tmux', 'screen']);

/**
 * Words that may come before a command's name and are not it: POSIX sh's reserved words (2.4), bash's `time`,
 * fish's `not`, `and`, `or` and `begin`, zsh's precommand modifiers `noglob`, `nocorrect` and `-`. In a shell
 * without them such a word is a program's name that hardly exists; read as a keyword, the command after it is read.
 */
const RESERVED = new Set(['!', '{', '}', 'if', 'then', 'else', 'elif', 'fi', 'do', 'done', 'while', 'until', 'time', 'not', 'and', 'or', 'begin', 'noglob', 'nocorrect', '-']);

/** A variable assignment before a command's name: `X=1`, and bash's `X+=1` and `a[0]=1`. */
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=/;

/** Shells that read their commands from their input when given neither `-c` nor a script. */
const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'ash', 'csh', 'tcsh', 'fish']);

/** The programs readsInput knows. */
const INPUT_READERS: ReadonlySet<string> = new Set([...SHELLS, 'su', 'sudo', 'parallel']);

/**
 * Whether the program `names[i]` (file names of a command's words, redirections left out) runs commands read
 * from its input: `sh`, `bash -l`, `sh -s`, `su` or `su - root` without `-c`, `sudo -i` or `sudo -u root -s`
 * without a command, `sh -c` without its line (`xargs sh -c`), `parallel` with options only.
 * `echo 'rm -rf /' | sh`, or lines sent after it on the channel, run what no reading saw.
 */
function readsInput(names: readonly string[], i: number): boolean {
  const name = names[i]!;
  const args = names.slice(i + 1);
  const opt = (a: string) => /^[-+]/.test(a);
  if (SHELLS.has(name)) {
    const k = args.findIndex((a) => !opt(a));
    const opts = k < 0 ? args : args.slice(0, k);
    // The -c line is read as nested; without one it is what xargs or parallel appends from their input.
    if (opts.some((a) => /^-[A-Za-z]*c|^--command$/.test(a))) return k < 0;
    return k < 0 || opts.some((a) => /^-[A-Za-z]*s/.test(a));
  }
  // GNU parallel given only options runs each line of its input as a command.
  if (name === 'parallel') return args.every(opt);
  if (name === 'su') return !args.some((a) => /^-[A-Za-z]*c|^--(session-)?command/.test(a));
  if (name === 'sudo') {
    let shell = false;
    for (let k = 0; k < args.length; k++) {
      const a = args[k]!;
      if (!opt(a)) return false; // a command, read as such
      if (/^-[A-Za-z]*[is]|^--(login|shell)$/.test(a)) shell = true;
      if (/^-[A-Za-z]*[ugUhpCDrtT]$|^--(user|group|other-user|host|prompt|close-from|chdir|role|type|command-timeout)$/.test(a)) k++;
    }
    return shell;
  }
  return false;
}

/**
 * Whether `names[i]` stands where a command's name does: first, or after a program that runs its arguments with
 * only options, their values, numbers, assignments and such programs between (`sudo -u root sh`, `timeout 5 sh`,
 * `env X=1 bash`), not as an argument (`find / -name sh`, `apt install bash`).
 */
function inCommandPlace(names: readonly string[], i: number): boolean {
  for (let k = i - 1; k >= 0 && !RUNNERS.has(names[k]!); k--) {
    const a = names[k]!;
    const value = k > 0 && /^-/.test(names[k - 1]!);
    if (!(/^[-+]/.test(a) || value || /^[0-9.]+[smhd]?$/.test(a) || ASSIGNMENT.test(a) || RESERVED.has(a))) return false;
  }
  return true;
}

/** How deep a command line quoted inside a command line (`sh -c "sh -c '…'"`) is read; a deeper one is refused. */
const MAX_DEPTH = 4;

/** A word after a program that runs its arguments that is a command line of its own (blanks, operators). */
const NESTED = /[\s;&|()<>]/;

/**
 * Characters of readings matched against the patterns for one command, nested command lines included. Each
 * word after a program that runs its arguments starts a reading that runs to the end of the command, so the
 * work grows with the square of the words: 17,000 words after `env` (an exec request of 35 kB) held the event
 * loop for seconds. A command that needs more is refused as unreadable (fail closed); an ordinary one needs
 * a few kilobytes.
 */
export const MAX_READ_CHARS = 1 << 20;

/**
 * Deny and hold patterns match a command's text, and the shell reads text otherwise: `r''m -rf /`, `\rm`,
 * `"rm"`, `/bin/rm`, `env rm`, `sudo rm`, `nice rm`, `sh -c 'rm -rf /'` all run rm, and `/bin/r? -rf /` may.
 * So a command that policy would run (or hold) is read as the shell reads it — quotes removed, the command
 * name read as its file name and as its path (commandNames, patternForms), redirections skipped (`>/tmp/x rm`, `2>&1 rm`) — from its first word, and from every word after a program that runs its arguments
 * (RUNNERS: env, sudo, nice, xargs, find -exec, sh …; such a word holding blanks is also read as a command line
 * of its own, as `sh -c` runs it, and so are the words after it joined, as `eval`, `watch` and `ssh` run them). Any reading that a deny pattern
 * matches is refused, one a hold pattern matches is held (when policy would have run it). A word the shell
 * computes (`$X`, `` `…` ``) cannot be read: where it may name the command (the first word, or any after a
 * program in RUNNERS — `sh -c "$X"` runs X's value as code) the command is refused while the connection has
 * deny or hold patterns. A command name with an unquoted glob counts as every name the glob matches. Where in
 * doubt it refuses (`sudo grep rm notes` is refused under `rm *`). It cannot see a program that runs code given
 * in another language (`python -c`, `awk 'BEGIN{system(…)}'`, `perl -e`), nor what a script does: allow lists
 * naming whole commands are the control to prefer, and an allowed interpreter runs anything.
 */
export function readAsShell(command: string, exec: { deny: readonly string[]; hold: readonly string[] }, action: 'allow' | 'hold', depth = 0, budget = { left: MAX_READ_CHARS }): ShellReading | undefined {
  const lists = ([['deny', 'deny'], ['hold', 'hold']] as const).filter(([l]) => exec[l].length > 0 && (l === 'deny' || action === 'allow'));
  if (lists.length === 0) return undefined;
  for (const words of shellCommands(command)) {
    // The words joined once; a reading is the command's name and the rest of this line (ends[i] on).
    const line = words.map((x) => x.text).join(' ');
    const ends: number[] = [];
    for (let i = 0, at = 0; i < words.length; i++) { at += words[i]!.text.length; ends.push(at); at++; }
    // Leading assignments (X=1 cmd, bash's X+=1 and a[0]=1), reserved words (`do rm …` in a loop) and
    // redirections (`>/tmp/x rm …`, `2>&1 rm …`) are not the command.
    let first = 0;
    while (first < words.length && (words[first]!.redirect || ASSIGNMENT.test(words[first]!.text) || RESERVED.has(words[first]!.text))) first++;
    const base = (w: ShellWord) => w.text.slice(w.text.lastIndexOf('/') + 1);
    // Words that may be run as a command: the first, and any after a program that runs its arguments. A command
    // name with a glob counts as every name it matches, so one that may match such a program is one
    // (`/usr/bin/en? rm -rf /`, `/bin/s[h] -c '…'`).
    const runAt = words.findIndex((w, i) => (i >= first || w.redirect === 'maybe') && w.redirect !== true && (RUNNERS.has(base(w)) || (i === first && w.glob && mayName(globName(w.text), RUNNERS))));
    // A redirection's target is never run; one that only some shells read as a target (zsh's `>! x`) may be.
    const named = (i: number) => i === first || words[i]!.redirect === 'maybe' || (runAt >= 0 && i > runAt && words[i]!.redirect !== true);
    for (const [i, w] of words.entries()) {
      if (w.dynamic && named(i)) {
        return { action: 'deny', rule: 'ssh.exec.unreadable', reason: `the word '${w.text}' is computed by the shell ($ or \`) where it may name the command to run, so pcigate cannot tell what runs against this connection's deny and hold patterns; pcigate does not run it (write the value out)` };
      }
    }
    for (let i = 0; i < words.length; i++) {
      if (!named(i)) continue;
      const nameGlob = words[i]!.glob ? globName(words[i]!.text) : '';
      for (const name of commandNames(words[i]!.text)) {
        budget.left -= name.length + line.length - ends[i]!;
        if (budget.left < 0) {
          return { action: 'deny', rule: 'ssh.exec.unreadable', reason: `reading the command as the shell reads it takes more than ${MAX_READ_CHARS} characters (1 MiB) of readings (each word after a program that runs its arguments is read to the end of the line), more than pcigate reads against this connection's deny and hold patterns; pcigate does not run it (split it into shorter commands)` };
        }
        const reading = name + line.slice(ends[i]!);
        for (const [list, act] of lists) {
          const k = exec[list].findIndex((p) => {
            if (patternForms(p).some((form) => globMatches(form, reading))) return true;
            if (!words[i]!.glob) return false;
            // A glob in the command name: any name it matches could be the one the pattern names.
            const patternName = p.split(' ')[0] ?? '';
            return /[*?]/.test(patternName) || globMatches(nameGlob, patternName.slice(patternName.lastIndexOf('/') + 1));
          });
          if (k >= 0) {
            return { action: act, rule: `ssh.exec.${list}[${k}]`, reason: `read as the shell reads it ('${reading}'), the command matches ${list} pattern '${exec[list][k]}'` };
          }
        }
      }
    }
    // After the readings, so that a deny pattern a reading matched is the reason given.
    for (const [i, w] of words.entries()) {
      if (named(i) && (OPAQUE.has(base(w)) || (w.glob && mayName(globName(w.text), OPAQUE)))) {
        return { action: 'deny', rule: 'ssh.exec.unreadable', reason: `'${w.text}' may be the command, and it runs commands given to it later (its input, a file or keystrokes) that pcigate cannot read against this connection's deny and hold patterns; pcigate does not run it` };
      }
    }
    const plain = words.filter((w) => w.redirect !== true);
    const names = plain.map(base);
    for (let i = 0; i < plain.length; i++) {
      // A command name glob that may name such a program (`/bin/?h`) is taken to be it, reading its input.
      const may = plain[i]!.glob && mayName(globName(plain[i]!.text), INPUT_READERS);
      if (!named(words.indexOf(plain[i]!)) || !(may || readsInput(names, i)) || !inCommandPlace(names, i)) continue;
      return { action: 'deny', rule: 'ssh.exec.unreadable', reason: `'${plain[i]!.text}' here runs a shell that reads its commands from its input (no -c and no script), which pcigate cannot read against this connection's deny and hold patterns; pcigate does not run it (give the command with -c)` };
    }
    if (runAt >= 0) {
      const after = words.slice(runAt + 1).filter((w) => w.redirect !== true);
      const nested = after.filter((w) => NESTED.test(w.text));
      // Nested deeper than it is read: what the innermost line runs is unseen, so it is not run (fail closed).
      if (nested.length > 0 && depth >= MAX_DEPTH) {
        return { action: 'deny', rule: 'ssh.exec.unreadable', reason: `the command nests command lines given to programs that run their arguments more than ${MAX_DEPTH} deep (sh -c '…' within sh -c '…'), deeper than pcigate reads against this connection's deny and hold patterns; pcigate does not run it` };
      }
      for (const w of nested) {
        const inner = readAsShell(w.text, exec, action, depth + 1, budget);
        if (inner) return inner;
      }
      // eval, watch and ssh join their arguments with spaces into one command line (`eval "echo x;rm" -rf /`
      // runs `rm -rf /`): the join is read too.
      if (after.length > 1 && nested.length > 0) {
        const inner = readAsShell(after.map((w) => w.text).join(' '), exec, action, depth + 1, budget);
        if (inner) return inner;
      }
    }
  }
  return undefined;
}

/**
 * A command word with a glob as the policy's kind of glob, without its directory: a brace expansion (from its
 * first `{` to its last `}`) as `*`, a bracket expression as `?` (`/bin/{rm,-rf,/}` → `*`, `/bin/r[m]` → `r?`).
 * Linear in the word, which the client chose.
 */
function globName(text: string): string {
  const a = text.indexOf('{');
  const b = text.lastIndexOf('}');
  const t = a >= 0 && b > a ? `${text.slice(0, a)}*${text.slice(b + 1)}` : text;
  const lastClose = t.lastIndexOf(']');
  let out = '';
  for (let i = 0; i < t.length; i++) {
    const close = t[i] === '[' && i < lastClose ? t.indexOf(']', i + 1) : -1;
    if (close > 0) { out += '?'; i = close; } else out += t[i];
  }
  return out.slice(out.lastIndexOf('/') + 1);
}

/** Whether a command name glob (globName) may name a program in `programs` (RUNNERS, OPAQUE). */
function mayName(name: string, programs: ReadonlySet<string>): boolean {
  for (const r of programs) if (globMatches(name, r)) return true;
  return false;
}

/**
 * The names a command word is read as: its file name (`rm` for `/usr/bin/rm`, `bin/rm`, `./rm`), and when it
 * has a directory also the path as written and the path with `//`, `.` and `..` taken out by their text
 * (`/usr/bin/../bin//rm` → `/usr/bin/rm`; a symbolic link may lead elsewhere, which is why the file name is read
 * too). Patterns naming a directory meet the path, patterns without one the file name.
 */
function commandNames(text: string): string[] {
  // zsh expands a word starting with `=` to the path of the command it names: `=rm` is /usr/bin/rm.
  if (text.startsWith('=') && text.length > 1) return [...new Set([...commandNames(text.slice(1)), text])];
  const file = text.slice(text.lastIndexOf('/') + 1);
  if (!text.includes('/')) return [file];
  const abs = text.startsWith('/');
  const parts: string[] = [];
  for (const seg of text.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..' && parts.length > 0 && parts[parts.length - 1] !== '..') parts.pop();
    else if (!(seg === '..' && abs)) parts.push(seg);
  }
  const lexical = (abs ? '/' : '') + parts.join('/');
  return [...new Set([file, text, lexical])];
}

/**
 * A deny or hold pattern's forms (globs, matched by globMatches in time linear in the reading): the pattern, and when its command name has a directory and a file name with a literal
 * character (`/usr/bin/rm *`, `bin/rm`), the pattern with that directory dropped (`rm *`). Which file a name
 * runs is the remote PATH's and the links' choice, out of pcigate's sight: `rm`, `/bin/rm` and `/usr/bin/rm` may
 * be one program, so a directory in such a pattern cannot narrow it (fail closed). A file name that is all
 * wildcard (`/opt/tools/* *`) keeps its directory: dropped, it would be every command.
 */
const patternCache = new Map<string, string[]>();
function patternForms(glob: string): string[] {
  let forms = patternCache.get(glob);
  if (!forms) {
    const sp = glob.indexOf(' ');
    const name = sp < 0 ? glob : glob.slice(0, sp);
    const file = name.slice(name.lastIndexOf('/') + 1);
    forms = [glob];
    if (name.includes('/') && /[^*?]/.test(file)) forms.push(file + (sp < 0 ? '' : glob.slice(sp)));
    patternCache.set(glob, forms);
  }
  return forms;
}
