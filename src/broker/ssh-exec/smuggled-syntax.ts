/**
 * An exec command is a line for the remote user's shell: sshd runs it as `$SHELL -c COMMAND` (RFC 4254
 * §6.5 leaves it to the server; OpenSSH's session.c does this). The SSH policy matches the command's text
 * with globs (src/policy/ssh-rules.ts), and `echo *` matches `echo x; rm -rf /` as well as `echo x`: what
 * the wildcard stood for would run a second command. So a command that a pattern with a wildcard allowed
 * (or held) is refused when the text the wildcard matched holds shell syntax that can start another command
 * or write a file: an unquoted `;` `&` `|` `<` `>` `(` `)` or line break, a backtick, `$(` or `${` outside
 * single quotes (command substitution; `${…}` can run code through bash's `@P`, and so can `$((…))` or `$[…]`
 * naming a variable; arithmetic of numbers only is allowed in `$((…))`), bash's `$'…'` and a `\'` inside single quotes (fish's escaped
 * quote: read otherwise by bash or fish than by sh), or a NUL byte (sshd drops
 * the whole connection for one). Text inside single quotes, or double quotes without substitution, is one
 * argument and stays allowed (`sh -c "echo a; echo b"` under `sh -c *`); a pattern's own literal text is the
 * administrator's and is not judged. The reading is POSIX sh's; where another shell reads more syntax the
 * check sees more text as unquoted, never less, so it refuses more (fail closed).
 */
import { globWildcardSpans } from '../../policy/ssh-rules.js';
import { Lookahead } from './lookahead.js';
import { numericArithmeticEnd } from './shell-words.js';

/** Offsets in `cmd` of characters that are shell syntax able to start a command, as POSIX sh reads the line. */
export function shellSyntaxOffsets(cmd: string): number[] {
  const at: number[] = [];
  const look = new Lookahead(cmd);
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
    // Arithmetic of numbers only is harmless (numericArithmeticEnd says why one with a name is not).
    const end = numericArithmeticEnd(look, i);
    if (end >= 0) { i = end + 1; continue; }
    // bash's old `$[…]` is arithmetic too (`$[X]` evaluates X's value, as `$((X))` does).
    if (c === '`' || (c === '$' && (cmd[i + 1] === '(' || cmd[i + 1] === '{' || cmd[i + 1] === '['))) { at.push(i); continue; }
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

const describe = (c: string) => (c === '\n' ? 'a line break' : c === '\r' ? 'a carriage return' : c === '\0' ? 'a NUL byte' : `'${c}'`);

/**
 * Why `command` must not run although `pattern` matched it (see the file comment), or undefined. `command`
 * is the text the policy matched (trimmed, as decideSsh matches it).
 */
export function smuggledSyntax(command: string, pattern: string): string | undefined {
  if (command.includes('\0')) return 'the command holds a NUL byte';
  if (!/[*?]/.test(pattern)) return undefined;
  // Without backtracking: a RegExp with a capture group per wildcard took time to the power of their number
  // (34 s of the event loop for an 8 kB command under `echo *=*,*:* end`, half an hour for a 35 kB exec request).
  const spans = globWildcardSpans(pattern, command);
  if (!spans) return undefined;
  // Any split of the text among the wildcards is one the shell runs alike; the greedy one is judged. A syntax
  // character a literal part of the pattern accounts for in one split is accounted for in every split, unless
  // the text holds more of them than the pattern names, and then a greedy wildcard holds the extra ones.
  const bad = shellSyntaxOffsets(command).find((i) => spans.some(([a, b]) => i >= a && i < b));
  if (bad === undefined) return undefined;
  return `the text matched by a wildcard of pattern '${pattern}' holds shell syntax (${describe(command[bad]!)} at offset ${bad}) that could run another command; pcigate does not run it (quote it as one argument, or ask for a pattern that names the whole command)`;
}
