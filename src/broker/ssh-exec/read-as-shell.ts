/**
 * readAsShell reads a command's words as sh does, with what bash, zsh and fish add before or around a command's
 * name (their keywords, redirections, `=rm`); csh, tcsh and shells outside the sh family are not modelled
 * (docs/ssh.md, Which login shells).
 */
import { globMatches } from '../../policy/ssh-rules.js';
import { commandNames, globName, mayName, patternForms } from './command-names.js';
import { commandFromInput, DATA_COMMANDS } from './input-commands.js';
import { ASSIGNMENT, INPUT_READERS, inCommandPlace, NESTED, OPAQUE, readsInput, RESERVED, RUNNERS } from './shell-programs.js';
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
 * `parallel ::: 'cmd'`). A command name with an unquoted glob counts as every name the glob matches. Where in
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
    // xargs, find -exec and parallel given a placeholder (`{}`) or nothing where the command is: it is data.
    const texts = plain.map((w) => w.text);
    for (let i = 0; i < plain.length; i++) {
      const progs = plain[i]!.glob ? DATA_COMMANDS.filter((p) => mayName(globName(plain[i]!.text), new Set([p]))) : DATA_COMMANDS.filter((p) => p === names[i]);
      if (progs.length === 0 || !named(words.indexOf(plain[i]!)) || !inCommandPlace(names, i)) continue;
      for (const prog of progs) {
        const reason = commandFromInput(texts, names.map((n, k) => (k === i ? prog : n)), i);
        if (reason) return { action: 'deny', rule: 'ssh.exec.unreadable', reason };
      }
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
