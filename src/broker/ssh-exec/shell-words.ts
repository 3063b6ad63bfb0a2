/**
 * A command line split into words as POSIX sh reads it (2.3 Token Recognition, 2.7 Redirection), with what bash,
 * zsh and fish read around a command's words (their redirections, brace expansion, `$'…'`). A reading for policy
 * (read-as-shell.ts), not an interpreter.
 */

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
 * Where the `))` is that ends `$((…))` starting at `cmd[i]` when it holds arithmetic of numbers only, else -1.
 * Such arithmetic is a number; with a name in it bash evaluates the variable's value as arithmetic, and
 * `a[$(cmd)]` there runs cmd (the value can come from an env request).
 */
export function numericArithmeticEnd(cmd: string, i: number): number {
  if (!cmd.startsWith('$((', i)) return -1;
  const end = cmd.indexOf('))', i + 3);
  return end > 0 && /^[0-9\s+\-*/%<>=!&|^~?:,()]*$/.test(cmd.slice(i + 3, end)) ? end : -1;
}

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
    // Arithmetic of numbers only is a number, whatever runs it (as shellSyntaxOffsets reads it).
    const end = numericArithmeticEnd(cmd, i);
    if (end >= 0) { word().text += cmd.slice(i, end + 2); i = end + 1; continue; }
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
