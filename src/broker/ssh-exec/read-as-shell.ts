/**
 * readAsShell reads a command's words as sh does, with what bash, zsh and fish add before or around a command's
 * name (their keywords, redirections, `=rm`); csh, tcsh and shells outside the sh family are not modelled
 * (docs/ssh.md, Which login shells).
 */
import { globMatches } from '../../policy/ssh-rules.js';
import { commandNames, globName, mayName, patternForms } from './command-names.js';
import { commandFromInput, DATA_COMMANDS } from './input-commands.js';
import { ASSIGNMENT, givenLineAt, INPUT_READERS, inCommandPlace, NESTED, OPAQUE, readsInput, RESERVED, RUNNERS } from '../../policy/argv/shell-programs.js';
import { shellCommands } from './shell-words.js';
import type { ShellWord } from './shell-words.js';

/** What `readAsShell` found: the command is refused or held by a pattern once read as the shell reads it. */
export interface ShellReading { action: 'deny' | 'hold'; rule: string; reason: string }

/** How deep a command line quoted inside a command line (`sh -c "sh -c '…'"`) is read; a deeper one is refused. */
const MAX_DEPTH = 4;

/**
 * Characters of readings matched against the patterns for one command, nested command lines included. Each
 * word after a program that runs its arguments starts a reading that runs to the end of the command, so the
 * work grows with the square of the words: 17,000 words after `env` (an exec request of 35 kB) held the event
 * loop for seconds. A command that needs more is refused as unreadable (fail closed); an ordinary one needs
 * a few kilobytes.
 */
export const MAX_READ_CHARS = 1 << 20;

const tooDeep: ShellReading = { action: 'deny', rule: 'ssh.exec.unreadable', reason: `the command nests command lines given to programs that run their arguments more than ${MAX_DEPTH} deep (sh -c '…' within sh -c '…'), deeper than pcigate reads against this connection's deny and hold patterns; pcigate does not run it` };

/**
 * Variables whose value a shell runs, sources or expands as a prompt: bash's PS0 (interactive) and PS4 (`set -x`:
 * `PS4='$(rm -rf /)' bash -xc :`), PS1-PS3, PROMPT_COMMAND, BASH_ENV and sh's ENV (expanded, then sourced:
 * `BASH_ENV='$(rm -rf /)' bash -c :`), zsh's PROMPT, RPROMPT and PROMPT4. Assigned, read or declared anywhere in
 * a command (`PS4=…`, `export PS4`, `read PS4`, `env BASH_ENV=… sh`), the line is refused.
 */
const CODE_VARIABLE = /^(?:PS[0-4]|PROMPT_COMMAND|BASH_ENV|ENV|PROMPT[0-4]?|RPROMPT|RPS1)(?:\[|\+?=|$)/;

/** Builtins that declare variables: with -i, every assignment they make is arithmetic. */
const DECLARING = new Set(['declare', 'typeset', 'local', 'export', 'readonly']);

/** Builtins whose operands are names or arithmetic (`let X`, `declare -i X=Y`, `read PS4`). */
const NAME_BUILTINS = new Set(['let', ...DECLARING, 'read', 'readarray', 'mapfile', 'printf', 'getopts', 'unset']);

/**
 * Whether `text` holds a name with a subscript (`a[`) in which a command substitution opens (`$(`, `${`, `$[`, a
 * backtick) before a `]` closes it, as `/[A-Za-z_][A-Za-z0-9_]*\[[^\]]*(?:\$[({[]|`)/` tells, in one pass: that
 * RegExp read from each name to the end of the word and back, and a client's 35 kB word of `'$a[a[a[…'` took
 * 0.3 s of the event loop (time growing with the square of the word).
 */
export function subscriptHoldsCode(text: string): boolean {
  let open = false; // after a name's `[`, with no `]` since
  let named = false; // the run of name characters just before this place holds a letter or `_`
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (open) {
      const n = text[i + 1];
      if (c === '`' || (c === '$' && (n === '(' || n === '{' || n === '['))) return true;
    }
    if (c === ']') open = false;
    else if (c === '[' && named) open = true;
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c === '_') named = true;
    else if (!(c >= '0' && c <= '9')) named = false;
  }
  return false;
}

/**
 * The word through which the shell evaluates a value as code in this command (`words`, `first` the index of its
 * name), or undefined: an expansion that evaluates (ShellWord.evaluates: `$((X))`, `$[X]`, `${X@P}`, `${!X}`,
 * `${s:X}`, bash's `((X))`); `let`, `declare -i` (an integer's assignments are arithmetic) and `[[ X -eq Y ]]`
 * (its operands are arithmetic); an array element assigned by a subscript not of numbers (`a[X]=1`, where X is
 * arithmetic); a subscript holding a command substitution left as text; a variable a shell runs, sources or
 * expands as a prompt (CODE_VARIABLE) assigned or named to a builtin that sets it; alias and hash -p, which make
 * a name run another program. In bash, `X='a[$(rm -rf /)]'; let X` runs rm: the value is code, and it can be
 * built at run time (`X=$(printf …)`, `read X`) where no reading sees it, so these sites are refused, not the
 * values.
 */
function evaluatesValue(words: readonly ShellWord[], first: number): string | undefined {
  const name = words[first]?.text ?? '';
  const builtin = NAME_BUILTINS.has(name);
  for (const [i, w] of words.entries()) {
    if (w.evaluates) return w.text;
    if (w.redirect === true) continue;
    const sub = /^[A-Za-z_][A-Za-z0-9_]*\[([^\]]*)\]\+?=/.exec(w.text);
    if (sub && !/^[0-9]*$/.test(sub[1]!)) return w.text;
    // A name with a subscript holding a command substitution this shell left as text, which a builtin given the
    // name evaluates (`[[ -v 'a[$(cmd)]' ]]`, `printf -v 'a[$(cmd)]'`, `read`, `unset`, `declare`).
    if (w.quotedCode && subscriptHoldsCode(w.text)) return w.text;
    if (CODE_VARIABLE.test(w.text) && (ASSIGNMENT.test(w.text) || (builtin && i > first))) return w.text;
  }
  if (name === 'let') return name;
  // alias and hash -p make a name run another program (`alias ls=rm`, `hash -p /bin/rm ls`: `ls -rf /` runs rm).
  if (name === 'alias' && words.some((w) => w.text.includes('='))) return name;
  if (name === 'hash' && words.some((w) => /^-[A-Za-z]*p/.test(w.text))) return `${name} -p`;
  if (DECLARING.has(name) && words.slice(first + 1).some((w) => /^-[A-Za-z]*i/.test(w.text))) return `${name} -i`;
  if (name === '[[') {
    const op = words.find((w) => /^-(?:eq|ne|lt|le|gt|ge)$/.test(w.text));
    if (op) return `[[ … ${op.text} … ]]`;
  }
  return undefined;
}

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
 * deny or hold patterns; so is a command xargs, find -exec or parallel take from data (commandFromInput: `xargs -I{} {}`,
 * `parallel ::: 'cmd'`). A shell's -c line, a -c option's value and a word holding a `$`, backtick, quote or
 * backslash left as text are read as lines even when one word (`sh -c '$X'`); an assignment's value written out
 * is read as a line (`X='rm -rf /' sh -c '$X'`); the places where bash evaluates a value as code are refused
 * (evaluatesValue). A command name with an unquoted glob counts as every name the glob matches. Where in
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
    // An assignment is kept whole (`X=a/b` is not a name `b`): words after it are still in a command's place.
    const base = (w: ShellWord) => (ASSIGNMENT.test(w.text) ? w.text : w.text.slice(w.text.lastIndexOf('/') + 1));
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
    const evaluated = evaluatesValue(words, first);
    if (evaluated !== undefined) {
      return { action: 'deny', rule: 'ssh.exec.unreadable', reason: `'${evaluated}' has the shell evaluate a value as code (arithmetic, where 'a[$(cmd)]' runs cmd, a prompt, a variable the shell runs or sources, or a name made to run another program: alias, hash -p), and the value can come from the line itself, so pcigate cannot tell what runs against this connection's deny and hold patterns; pcigate does not run it (write the value out)` };
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
    // An assignment's value written out is read as a command line (`X='rm -rf /' sh -c '$X'`,
    // `GIT_SSH_COMMAND='rm -rf /' git fetch`, `alias x='rm -rf /'`, `make CC='rm -rf /'`): a program or a later
    // shell may run it, and where it does (`$X`, `sh -c '$X'`) the reading sees only the name. A value the shell
    // computes (`X=$HOME`, `X=$(date)`) is data, its command substitutions read as commands of their own, unless
    // it also holds blanks or operators (`X="$HOME"';rm -rf /'`: its text is read, a computed first word refused).
    for (const w of words) {
      const eq = w.redirect === true ? null : ASSIGNMENT.exec(w.text);
      if (!eq || (w.dynamic && w.quotedCode !== true && !NESTED.test(w.text.slice(eq[0].length)))) continue;
      if (depth >= MAX_DEPTH) return tooDeep;
      const inner = readAsShell(w.text.slice(eq[0].length), exec, action, depth + 1, budget);
      if (inner) return inner;
    }
    // After the readings, so that a deny pattern a reading matched is the reason given.
    for (const [i, w] of words.entries()) {
      if (named(i) && (OPAQUE.has(base(w)) || (w.glob && mayName(globName(w.text), OPAQUE)))) {
        return { action: 'deny', rule: 'ssh.exec.unreadable', reason: `'${w.text}' may be the command, and it runs commands given to it later (its input, a file or keystrokes) that pcigate cannot read against this connection's deny and hold patterns; pcigate does not run it` };
      }
    }
    // The words but redirection targets, and where each is among the words (not words.indexOf per word: a client's
    // 35 kB line of 17,000 words took ~90 ms of the event loop in that search alone).
    const plainAt = words.flatMap((w, k) => (w.redirect === true ? [] : [k]));
    const plain = plainAt.map((k) => words[k]!);
    const names = plain.map(base);
    const texts = plain.map((w) => w.text);
    for (let i = 0; i < plain.length; i++) {
      // A command name glob that may name such a program (`/bin/?h`) is taken to be it, reading its input.
      const may = plain[i]!.glob && mayName(globName(plain[i]!.text), INPUT_READERS);
      if (!named(plainAt[i]!) || !(may || readsInput(names, i, texts)) || !inCommandPlace(names, i)) continue;
      return { action: 'deny', rule: 'ssh.exec.unreadable', reason: `'${plain[i]!.text}' here runs a shell that reads its commands from its input (no -c and no script, or the input named as its script: /dev/stdin, <(…)), which pcigate cannot read against this connection's deny and hold patterns; pcigate does not run it (give the command with -c)` };
    }
    // xargs, find -exec and parallel given a placeholder (`{}`) or nothing where the command is: it is data.
    for (let i = 0; i < plain.length; i++) {
      const progs = plain[i]!.glob ? DATA_COMMANDS.filter((p) => mayName(globName(plain[i]!.text), new Set([p]))) : DATA_COMMANDS.filter((p) => p === names[i]);
      if (progs.length === 0 || !named(plainAt[i]!) || !inCommandPlace(names, i)) continue;
      for (const prog of progs) {
        const reason = commandFromInput(texts, names.map((n, k) => (k === i ? prog : n)), i);
        if (reason) return { action: 'deny', rule: 'ssh.exec.unreadable', reason };
      }
    }
    if (runAt >= 0) {
      const after = words.slice(runAt + 1).filter((w) => w.redirect !== true);
      // A word after a program that runs its arguments is read as a command line of its own when it is one
      // (blanks, operators), when it holds a `$`, backtick, quote or backslash that this shell left to a later
      // one (`eval '$X'`, `su -c '$X'`, `ssh host '"$@"'`), and whatever it holds when it is a shell's -c line or
      // follows a -c option (`sh -c '$X'`, `sh -c "shut''down"`, `su -c '/sbin/shutdow?'`): a one-word line
      // is a line too.
      const lines = new Set<ShellWord>();
      for (let j = 0; j < plain.length; j++) {
        const at = givenLineAt(names, j);
        if (at >= 0) lines.add(plain[at]!);
        // (find's -exec is no -c.)
        if (j > 0 && /^-[A-Za-z]*c$|^--(session-)?command$/.test(texts[j - 1]!) && texts[j - 1] !== '-exec') lines.add(plain[j]!);
      }
      const nested = after.filter((w) => NESTED.test(w.text) || /[$`'"\\]/.test(w.text) || lines.has(w));
      // Nested deeper than it is read: what the innermost line runs is unseen, so it is not run (fail closed).
      if (nested.length > 0 && depth >= MAX_DEPTH) return tooDeep;
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
