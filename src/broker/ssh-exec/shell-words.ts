/**
 * A command line split into words as POSIX sh reads it (2.3 Token Recognition, 2.7 Redirection), with what bash,
 * zsh and fish read around a command's words (their redirections, brace expansion, `$'…'`). A reading for policy
 * (read-as-shell.ts), not an interpreter.
 */
import { Lookahead } from './lookahead.js';

/**
 * One word of a command line as the shell will see it: `text` with quotes and backslashes removed; `dynamic`
 * when the shell computes part of it (a `$` expansion or a backtick), `glob` when an unquoted `*`, `?` or `[`
 * makes it a pattern the shell expands to file names, or a brace expansion (bash's `{a,b}`, `{a..z}`) to words.
 * `redirect` when it is a redirection's file descriptor or target (`2`, `1` and `/tmp/x` in `2>&1 >/tmp/x`),
 * which the shell opens and never runs; `'maybe'` when only some shells read it so: zsh's `>! x` and fish's
 * `>? x` name x as the target, while sh's target is `!` or `?` and x is a word of the command.
 */
export interface ShellWord {
  text: string; dynamic: boolean; glob: boolean; redirect: boolean | 'maybe';
  /**
   * The shell evaluates a variable's value as code here (bash): arithmetic naming a variable (`$((X))`, `$[X]`,
   * `${s:X}`, `${a[X]}`) evaluates X's value as arithmetic, where `a[$(cmd)]` runs cmd; `${X@P}` expands X's
   * value as a prompt, `$(cmd)` in it included; `${!X}` reads the variable X names, a subscript included.
   */
  evaluates?: true;
  /**
   * A `$` or backtick in the word's text that this shell took as a character (inside single quotes, or escaped:
   * `'$X'`, `\\$X`): code for a shell that reads the text later (`sh -c '$X'`, an assignment's value that a
   * program runs).
   */
  quotedCode?: true;
}

/** How deep command substitutions inside quotes or backticks are read (`"$(echo "$(…)")"`); deeper is refused. */
const MAX_SUBSTITUTION_DEPTH = 8;

/**
 * Where the `)` is that ends the command substitution whose text starts at `cmd[from]` (after its `$(`), read
 * with its quotes, escapes and nested parentheses; -1 when the line ends first. `case … in x)` is not parsed:
 * its `)` ends the substitution early, and what follows would be read as quoted text, so the caller refuses a
 * substitution holding `case` (fail closed).
 */
function substitutionEnd(cmd: string, from: number, nesting = 0): number {
  if (nesting > MAX_SUBSTITUTION_DEPTH) return -1;
  let depth = 0;
  let state: 'plain' | 'single' | 'double' = 'plain';
  for (let i = from; i < cmd.length; i++) {
    const c = cmd[i]!;
    if (state === 'single') { if (c === "'") state = 'plain'; continue; }
    if (c === '\\') { i++; continue; }
    if (c === '`') { const e = backtickEnd(cmd, i); if (e < 0) return -1; i = e; continue; }
    if (state === 'double') {
      if (c === '"') state = 'plain';
      else if (c === '$' && cmd[i + 1] === '(') { const e = substitutionEnd(cmd, i + 2, nesting + 1); if (e < 0) return -1; i = e; }
      continue;
    }
    if (c === "'") state = 'single';
    else if (c === '"') state = 'double';
    else if (c === '(') depth++;
    else if (c === ')' && depth-- === 0) return i;
  }
  return -1;
}

/** Where the backtick is that ends the command substitution opened by the backtick at `cmd[i]` (-1: none). */
function backtickEnd(cmd: string, i: number): number {
  for (let k = i + 1; k < cmd.length; k++) {
    if (cmd[k] === '\\') k++;
    else if (cmd[k] === '`') return k;
  }
  return -1;
}

/** In a `${…}`'s body: `${X@P}` (transformations), `${a[X]}` (a subscript), `${s:X}` (an offset: `:` not followed by - = + ?, which are defaults). */
const EVALUATING_BODY = /@|\[|:(?![-=+?])/g;

/** Whether a `${…}` at `cmd[i]` evaluates a variable's value as code (ShellWord.evaluates). */
function evaluatingExpansion(look: Lookahead, i: number): boolean {
  const cmd = look.text;
  if (cmd.startsWith('$[', i)) { // bash's old `$[…]` arithmetic
    const end = look.next(']', i + 2);
    return end < 0 || !look.numbersOnly(i + 2, end);
  }
  if (cmd.startsWith('$((', i)) return numericArithmeticEnd(look, i) < 0;
  if (!cmd.startsWith('${', i)) return false;
  const end = look.next('}', i + 2);
  const stop = end < 0 ? cmd.length : end;
  // `${!X}` (indirection), or the body holds one of EVALUATING_BODY.
  if (i + 2 < stop && cmd[i + 2] === '!') return true;
  const at = look.next(EVALUATING_BODY, i + 2);
  return at >= 0 && at < stop;
}

/** Characters that mean nothing more inside double quotes than themselves (not `\`, `$`, a backtick or `"`). */
const DOUBLE_QUOTED_TEXT = /[^\\$`"]*/y;

/**
 * A redirection operator's characters after its first `<` or `>` (POSIX sh 2.7; bash's `<<<`, zsh's `>!` and
 * `>&|`, fish's `>?`). `&>` is not one: sh ends the command at the `&`, and the `>` after it starts one of these.
 */
const REDIRECT_OP = /<<<|<<-|<<|<>|<&|<|>>?&?[!|?]?|>/y;

/**
 * Where the `))` is that ends `$((…))` starting at `look.text[i]` when it holds arithmetic of numbers only, else -1.
 * Such arithmetic is a number; with a name in it bash evaluates the variable's value as arithmetic, and
 * `a[$(cmd)]` there runs cmd (the value can come from an env request).
 */
export function numericArithmeticEnd(look: Lookahead, i: number): number {
  if (!look.text.startsWith('$((', i)) return -1;
  const end = look.next('))', i + 3);
  return end > 0 && look.numbersOnly(i + 3, end) ? end : -1;
}

/**
 * Splits a command line as POSIX sh does, into simple commands (at unquoted `;` `&` `|` `(` `)` and line
 * breaks) of words (at unquoted blanks and redirection operators), removing quotes. A reading for policy, not an
 * interpreter: where it is unsure it marks the word dynamic, and the caller refuses what it cannot read.
 */
export function shellCommands(cmd: string, depth = 0): ShellWord[][] {
  const commands: ShellWord[][] = [];
  const look = new Lookahead(cmd);
  // A command substitution inside double quotes or backticks (`echo "$(rm -rf /)"`, `` echo `rm -rf /` ``) runs
  // its commands as one outside them does: they are read as commands of this line. One that cannot be read (too
  // deep, unterminated, or holding a `case` whose `)` would end it early) is a computed command of its own.
  const substitution = (inner: string, ends: boolean) => {
    if (!ends || depth >= MAX_SUBSTITUTION_DEPTH || /\bcase\b/.test(inner)) substituted.push([{ text: inner, dynamic: true, glob: false, redirect: false }]);
    else substituted.push(...shellCommands(inner, depth + 1));
  };
  // They follow the command they are in (which stays where it stands in the line).
  const substituted: ShellWord[][] = [];
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
  const endCommand = () => {
    endWord();
    target = false;
    if (words.length) commands.push(words);
    words = [];
    commands.push(...substituted.splice(0));
  };
  let state: 'plain' | 'single' | 'double' = 'plain';
  for (let i = 0; i < cmd.length; i++) {
    const c = cmd[i]!;
    // Quoted text is added a run at a time, not a character at a time (a client's 1 MiB line was then mostly work
    // for the garbage collector).
    if (state === 'single') {
      const end = look.next("'", i);
      const stop = end < 0 ? cmd.length : end;
      if (stop > i) {
        const run = cmd.slice(i, stop);
        word().text += run;
        if (run.includes('$') || run.includes('`')) word().quotedCode = true;
      }
      if (end >= 0) state = 'plain';
      i = stop;
      continue;
    }
    if (c === '\\') {
      const n = cmd[i + 1];
      i++;
      if (n === undefined || n === '\n') continue; // a line continuation
      quoted = true;
      // Inside double quotes a backslash escapes only $ ` " \; elsewhere it stays.
      if (state === 'double' && !'$`"\\'.includes(n)) word().text += '\\';
      if (n === '$' || n === '`') word().quotedCode = true;
      word().text += n;
      continue;
    }
    // Arithmetic of numbers only is a number, whatever runs it (as shellSyntaxOffsets reads it).
    const end = numericArithmeticEnd(look, i);
    if (end >= 0) { word().text += cmd.slice(i, end + 2); i = end + 1; continue; }
    // $$ $? $! $# $- are numbers or the shell's flags, never text a client chose.
    if (c === '$' && /[$?!#-]/.test(cmd[i + 1] ?? '')) { word().text += cmd.slice(i, i + 2); i++; continue; }
    if (c === '$' && evaluatingExpansion(look, i)) word().evaluates = true;
    if (c === '`') {
      const e = backtickEnd(cmd, i);
      const stop = e < 0 ? cmd.length : e;
      // Inside backticks a backslash escapes only $ ` and \ (POSIX sh 2.6.3).
      substitution(cmd.slice(i + 1, stop).replace(/\\([$`\\])/g, '$1'), e >= 0);
      word().dynamic = true;
      word().text += cmd.slice(i, stop + 1);
      i = stop;
      continue;
    }
    if (state === 'double' && c === '$' && cmd[i + 1] === '(') {
      const e = substitutionEnd(cmd, i + 2);
      const stop = e < 0 ? cmd.length : e;
      substitution(cmd.slice(i + 2, stop), e >= 0);
      word().dynamic = true;
      word().text += cmd.slice(i, stop + 1);
      i = stop;
      continue;
    }
    // zsh's `$=X`, `$~X` and `$^X` expand X (split, as a glob, distributed): computed as `$X` is.
    if (c === '$' && /[A-Za-z_0-9{(@*[=~^]/.test(cmd[i + 1] ?? '')) { word().dynamic = true; word().text += c; continue; }
    // bash's `$'…'` (escapes decoded: `$'\x72m'` is rm) and `$"…"` (translated) are text the shell computes.
    if (state === 'plain' && c === '$' && (cmd[i + 1] === "'" || cmd[i + 1] === '"')) { word().dynamic = true; word().text += c; continue; }
    if (state === 'double') {
      if (c === '"') { state = 'plain'; continue; }
      // This character (what the cases above left of it is text), and the text up to the next one they read.
      DOUBLE_QUOTED_TEXT.lastIndex = i + 1;
      const run = DOUBLE_QUOTED_TEXT.exec(cmd)![0];
      word().text += c + run;
      i += run.length;
      continue;
    }
    // bash's `((X))` (and `for ((…))`) evaluates X's value as arithmetic (ShellWord.evaluates), unless it
    // holds numbers only: the `((` is kept as a word of its own so that the reading sees it.
    if (c === '(' && cmd[i + 1] === '(' && state === 'plain') {
      const end = look.next('))', i + 2);
      if (end < 0 || !look.numbersOnly(i + 2, end)) { endCommand(); commands.push([{ text: '((', dynamic: false, glob: false, redirect: false, evaluates: true }]); }
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
