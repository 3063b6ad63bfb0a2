/**
 * What a command line gives a program to read on its input (argv-redact.ts): what the echo and printf before it in
 * its pipeline write, a here-string, a here-document's body. Each is redacted as the program reads it
 * (argv-programs.ts inputKind): a secret whole, chpasswd's `user:password` lines, a statement's PASSWORD clauses, a
 * script's own credentials.
 */
import { credentialsFile, inputKind, namedCredentialsFiles, shellLineAt, sqlRedacted } from './argv-programs.js';
import type { InputKind } from './argv-programs.js';
import { argIndexes, commands, maskRuns, newLine, PIPE, programOf, programsOf, SEPARATOR } from './argv-line.js';
import type { Command, Line } from './argv-line.js';
import { redactedSpans, shellWords } from './shell-words.js';

/** Reads a script (a shell's input) as a command line of its own: argv-redact.ts redactCommandLine, depth-bounded. */
export type ScriptReader = (text: string) => string;

/** Command lines within command lines followed to find what reads the input (`ssh h "sh -c 'chpasswd'"`). */
const NESTED_MAX = 4;
/** What a printf format's rounds may write (its length times the rounds) before the arguments left are hidden whole. */
const PRINTF_CHARS_MAX = 256 * 1024;
/** A printf format's parts: a conversion (its argument written in its place), `%%`, an escape, a character. */
const PRINTF = /%%|(%[-+ #0]*(\*|\d*)(?:\.(\*|\d*))?([a-zA-Z]))|\\(?:x[0-9a-fA-F]{1,2}|[0-7]{1,3}|[\s\S])|[\s\S]/g;
/**
 * A word, as written, that is only a variable or a command's output (`"$TOKEN"`, `"$(cat /run/pw)"`): its value is
 * not on the line. (`'$uperS3cret'`, single-quoted, is a literal; so is `"$PW"S3cret`'s tail; and what an echo or
 * printf in `$(…)` writes may be on the line, `"$(echo S3cret)"`, `"$(echo UzNj | base64 -d)"`, `$(echo; echo
 * S3cret)`, `$(eval echo S3cret)`, and so may a here-string's or a here-document's text: hidden, a variable it echoes
 * too.)
 */
const REFERENCE = /^\s*"?\$(?:\w+|\{[^}]*\}|\((?![^)]*(?:(?<![\w.-])(?:echo|printf)(?![\w.-])|<<))[^)]*\))"?\s*$/;
/** printf's and `echo -e`'s escapes of one letter. */
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', a: '\x07', b: '\b', f: '\f', v: '\v', e: '\x1b' };

/**
 * What a program reads on its input, given on the command line, claimed in `line`: what the echo and printf before
 * it in its pipeline write (`echo 'ann:pw' | chpasswd`, `printf 'mysql -p%s' X | sh`), a here-string (`chpasswd <<<
 * 'ann:pw'`) or a here-document (`psql <<EOF`, `bash <<EOF`). The text the echo and printf write is put together and
 * read as the program reads it, and the characters redacted in it are redacted where they were written. Each
 * pipeline's writers are read once, by the first reader after them.
 */
export function inputSecrets(line: Line, cmds: readonly Command[], readScript: ScriptReader): void {
  const starts = pipelineStarts(line.words);
  const unread = new Map<number, number>();
  const reads = cmds.map((c) => commandInput(line, c, 0));
  const groups = new Groups(line, cmds, reads);
  cmds.forEach((c, ci) => {
    // (what cat or tee pass on, or echo and printf write, into a file: its text)
    const fileText = (f: Command, kind: InputKind) => (passesOn(line, f) ? givenInput(line, f, kind, readScript) : new Written(line, f).read(kind, readScript));
    groups.output(ci, fileText);
    const file = writtenFile(line, c);
    const kind = reads[ci] ?? file ?? groups.input(ci);
    if (kind === undefined) return;
    if (file !== undefined && !passesOn(line, c)) return fileText(c, kind);
    givenInput(line, c, kind, readScript);
    const pipe = inputPipe(line.words, c.start);
    if (pipe < 0) return;
    const from = starts[pipe]!;
    const written = new Written(line);
    let k = unread.get(from) ?? firstAt(cmds, from);
    for (; k < ci; k++) {
      const f = cmds[k]!;
      if (f.name === undefined || f.name < from) continue;
      if (passesOn(line, f)) givenInput(line, f, kind, readScript);
      else writes(line, f, written);
    }
    unread.set(from, ci + 1);
    written.read(kind, readScript);
  });
}

/**
 * What a group reads on its input when the command after it is given one (`{ chpasswd; } <<EOF`, `( psql ) <<<
 * …`): what its first command that reads any reads, as in a script. Each group's opening word and each command's
 * next reader are found once for the line (nested groups, each given input, were quadratic).
 */
class Groups {
  /** For each `}` and `)`, its `{` or `(`. */
  readonly #open = new Map<number, number>();
  /** For each command, the first at or after it that reads its input (cmds.length: none). */
  readonly #nextReader: number[];

  constructor(private readonly line: Line, private readonly cmds: readonly Command[], private readonly reads: ReadonlyArray<InputKind | undefined>) {
    const stack: number[] = [];
    line.words.forEach((w, i) => {
      if (w === '{' || w === '(') stack.push(i);
      else if ((w === '}' || w === ')') && stack.length > 0) this.#open.set(i, stack.pop()!);
    });
    this.#nextReader = new Array<number>(cmds.length + 1).fill(cmds.length);
    for (let k = cmds.length - 1; k >= 0; k--) this.#nextReader[k] = reads[k] !== undefined ? k : this.#nextReader[k + 1]!;
  }

  /** What the group that `cmds[ci]` closes reads, if `cmds[ci]` closes one. */
  input(ci: number): InputKind | undefined {
    const first = this.#first(ci);
    if (first === undefined) return undefined;
    const reader = this.#nextReader[first]!;
    return reader < ci ? this.reads[reader] : undefined;
  }

  /**
   * When the group that `cmds[ci]` closes writes into a credentials file (`{ echo …; echo …; } > ~/.pgpass`), each of
   * its commands (`read`) with that file's kind; a group inside it that writes elsewhere is passed over, once.
   */
  output(ci: number, read: (c: Command, kind: InputKind) => void): void {
    const first = this.#first(ci);
    if (first === undefined) return;
    const files = outputFiles(this.line, this.cmds[ci]!);
    if (files.length === 0) return;
    const kind = credentialsFileOf(this.line, files);
    // (every group's members are read once: a group inside it that writes elsewhere is passed over; braces opened in
    // one command share its first, `{ { … } > a; } > b`, so the walked ones are looked up before a command is read)
    for (let k = first; k < ci;) {
      const skip = this.#after.get(k);
      if (skip !== undefined && skip > k) { k = skip; continue; }
      if (kind !== undefined && this.cmds[k]!.name !== undefined) read(this.cmds[k]!, kind);
      k++;
    }
    this.#after.set(first, ci);
  }

  /** Groups already walked: their first command, and the command after them. */
  readonly #after = new Map<number, number>();

  /** The first command of the group that `cmds[ci]` closes, if it closes one. */
  #first(ci: number): number | undefined {
    // (`}` is a reserved word, the first of the command after the group; `)` an operator, the last of the one before)
    const start = this.cmds[ci]!.start;
    const close = this.line.words[start] === '}' ? start : this.line.words[start - 1] === ')' ? start - 1 : -1;
    const open = this.#open.get(close);
    if (open === undefined) return undefined;
    // (`(` ends the command before it; `{` is a word of the command it starts, or of one that starts before it)
    const after = firstAt(this.cmds, open + 1);
    return this.line.words[open] === '(' ? after : after - 1;
  }
}

/** Command `c`'s here-strings and here-documents, claimed as a program reading this kind reads them. */
function givenInput(line: Line, c: Command, kind: InputKind, readScript: ScriptReader): void {
  hereStrings(line, c, kind, readScript);
  for (const h of line.heredocs) if (h.word >= c.start && h.word < c.end) line.bodies.set(h, redactInput(h.text, kind, readScript));
}

/** A standard output redirection: `>`, `>>`, `>|`, `1>`, `&>`, `&>>`, `>&` (not stderr's `2>`). */
const OUT_REDIRECT = /^(?:1?>>?|1?>\||&>>?|>&)$/;

/**
 * The credentials file (argv-programs.ts credentialsFile) command `c` writes text given on the line into: echo or
 * printf, or cat or tee passing on their input, with standard output redirected to it (`cat > ~/.pgpass <<EOF`,
 * `echo … >> ~/.netrc`), or tee's file (`… | tee -a ~/.pgpass`).
 */
function writtenFile(line: Line, c: Command): InputKind | undefined {
  if (c.name === undefined) return undefined;
  const name = programOf(line, c);
  if (!/^(?:echo|printf)$/.test(name) && !passesOn(line, c)) return undefined;
  const files = outputFiles(line, c);
  if (name === 'tee') files.push(...argIndexes(line, c).map((i) => line.bare[i]!).filter((a) => !a.startsWith('-')));
  return credentialsFileOf(line, files);
}

/** The files command `c`'s standard output is redirected to (a shell line's). */
function outputFiles(line: Line, c: Command): string[] {
  const files: string[] = [];
  if (line.shell) for (let i = c.start; i + 1 < c.end; i++) if (OUT_REDIRECT.test(line.words[i]!)) files.push(line.bare[i + 1]!);
  return files;
}

/** The kind of the first of `files` that is a credentials file, by its name or as the line names it (`PGPASSFILE=`). */
function credentialsFileOf(line: Line, files: readonly string[]): InputKind | undefined {
  for (const f of files) {
    const kind = credentialsFile(f) ?? namedFiles(line).get(f);
    if (kind !== undefined) return kind;
  }
  return undefined;
}

/** Each line's named credentials files (argv-programs.ts namedCredentialsFiles), found once. */
const NAMED = new WeakMap<Line, Map<string, InputKind>>();
function namedFiles(line: Line): Map<string, InputKind> {
  let named = NAMED.get(line);
  if (named === undefined) NAMED.set(line, named = namedCredentialsFiles(line.bare));
  return named;
}

/** Whether command `f` writes what it reads on its input into its pipe: `cat` (or `tee FILE`) with no file to read. */
function passesOn(line: Line, f: Command): boolean {
  const name = programOf(line, f);
  const files = argIndexes(line, f).filter((i) => !/^-./.test(line.bare[i]!));
  return (name === 'cat' && files.every((i) => line.bare[i] === '-')) || name === 'tee';
}

/** What command `c` reads on its input that is a secret, SQL or a script (argv-programs.ts inputKind). */
function commandInput(line: Line, c: Command, depth: number): InputKind | undefined {
  // sshpass with none of -p, -f, -d, -e, and sudo -S, read the password on their input (before what they run reads
  // the rest).
  for (const { at, name: wrapper, args } of programsOf(line, c)) {
    if (at === c.name) break;
    const own = args.map((i) => line.bare[i]!);
    if (wrapper === 'sshpass' && !own.some((a) => /^-[pfde]/.test(a))) return 'secret';
    if (wrapper === 'sudo' && own.some((a) => /^-[A-Za-z]*S[A-Za-z]*$|^--stdin$/.test(a))) return 'secret';
  }
  if (c.name === undefined) return c.wrapper === 'ssh' ? 'script' : undefined;
  const name = line.bare[c.name]!;
  const args = argIndexes(line, c).map((i) => line.bare[i]!);
  // A command line in the command's place (`ssh h 'sudo chpasswd'`), or a shell's -c line (`sh -c 'chpasswd'`):
  // what reads its input is the first command in it that reads any.
  if (/\s/.test(name) && c.program === undefined) return scriptInput(name, depth);
  const program = programOf(line, c);
  const given = shellLineAt([program, ...args]);
  return given > 0 ? scriptInput(args[given - 1]!, depth) : inputKind(program, args);
}

/** What the first command of `script` that reads its input reads (commandInput). */
function scriptInput(script: string, depth: number): InputKind | undefined {
  if (depth >= NESTED_MAX) return undefined;
  const { words, heredocs } = shellWords(script);
  const line = newLine(words.map((w) => w.raw), words.map((w) => w.value), true, heredocs);
  for (const c of commands(line)) {
    // (or writes it into a credentials file: `ssh db 'cat >> ~/.pgpass' <<< …`)
    const kind = commandInput(line, c, depth + 1) ?? writtenFile(line, c);
    if (kind !== undefined) return kind;
  }
  return undefined;
}

/** `text` (`raw` as written), read whole as a program's input of this kind, with its secrets redacted. */
function redactInput(text: string, kind: InputKind, readScript: ScriptReader, raw = text): string {
  if (kind === 'sql') return sqlRedacted(text);
  if (kind === 'script') return readScript(text);
  return maskRuns(text, inputMask(text, kind, readScript, REFERENCE.test(raw)));
}

/**
 * The characters of `text` (a program's whole input) that are secret to a program reading this kind: what follows
 * each line's first colon (chpasswd), all but the newlines (a secret read whole; none when it is only a variable),
 * a `.pgpass` line's password or a `.netrc` password token, or what reading it as SQL or a script redacts.
 */
function inputMask(text: string, kind: InputKind, readScript: ScriptReader, reference = false): boolean[] {
  const mask: boolean[] = [];
  if (kind === 'lines') {
    let password = false;
    for (let i = 0; i < text.length; i++) {
      if (text[i] === '\n') password = false;
      else if (password) mask[i] = true;
      else password = text[i] === ':';
    }
  } else if (kind === 'secret') {
    if (!reference) for (let i = 0; i < text.length; i++) mask[i] = text[i] !== '\n';
  } else if (kind === 'pgpass') {
    // `host:port:database:user:password` lines (`\:` and `\\` escaped): what follows the fourth colon; `#` comments.
    let colons = 0;
    let comment = false;
    for (let i = 0; i < text.length; i++) {
      const c = text[i]!;
      if (c === '\n') [colons, comment] = [0, false];
      else if (colons === 0 && (comment || (c === '#' && (i === 0 || text[i - 1] === '\n')))) comment = true;
      else if (colons >= 4) mask[i] = true;
      else if (c === '\\') i++;
      else if (c === ':') colons++;
    }
  } else if (kind === 'netrc') {
    // Tokens, blank-separated or double-quoted (`password "a b"`; a command substitution is one, `$(echo X | rev)`); each
    // keyword takes the next token as its value: `password`'s and `account`'s (an ftp account's password) are secret
    // (`login account password X` hides X).
    let key = '';
    for (const [from, to] of netrcTokens(text)) {
      if (key === 'password' || key === 'account') for (let i = from; i < to; i++) mask[i] = true;
      key = key === '' && /^(?:machine|login|password|account|macdef)$/.test(text.slice(from, to)) ? text.slice(from, to) : '';
    }
  } else {
    for (const [a, b] of redactedSpans(text, kind === 'sql' ? sqlRedacted(text) : readScript(text))) for (let i = a; i < b; i++) mask[i] = true;
  }
  // A credentials file is read as a script too (`tee ~/bin/rotate.pgpass <<EOF` may be one): its format only adds.
  // (A command substitution where the format has a password, `h:1:d:u:$(vault read …)`, is hidden with it: what is
  // given to the command may be the secret, `$(mkpasswd S3cret)`, and in single quotes it is literal text.)
  if (kind === 'pgpass' || kind === 'netrc') for (const [a, b] of redactedSpans(text, readScript(text))) for (let i = a; i < b; i++) mask[i] = true;
  return mask;
}

/**
 * A .netrc text's tokens (where each starts and ends): blank-separated, or double-quoted; a command substitution
 * (`$(…)` with the parentheses and quotes in it counted, `` `…` ``) is part of its token whatever it holds. One pass.
 */
function netrcTokens(text: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let i = 0;
  const quoted = (q: string) => { for (i++; i < text.length && text[i] !== q; i++) if (q === '"' && text[i] === '\\') i++; };
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i]!)) i++;
    if (i >= text.length) break;
    const from = i;
    let depth = 0;
    for (; i < text.length && (depth > 0 || !/\s/.test(text[i]!)); i++) {
      const c = text[i]!;
      if (c === '"' || c === '`' || (c === "'" && depth > 0)) quoted(c);
      else if (c === '\\') i++;
      else if (c === '$' && text[i + 1] === '(') [depth, i] = [depth + 1, i + 1];
      else if (c === '(' && depth > 0) depth++;
      else if (c === ')' && depth > 0) depth--;
    }
    out.push([from, Math.min(i, text.length)]);
  }
  return out;
}

/**
 * The text the echo and printf of a pipeline write, each character with the word (an index in the line) and the
 * span of its value it was written from, so that a redaction of the text is made in the words.
 */
class Written {
  /** (with `from`: what that command, echo or printf, writes) */
  constructor(private readonly line: Line, from?: Command) {
    if (from) writes(line, from, this);
  }

  readonly #chars: string[] = [];
  readonly #from: Array<[word: number, from: number, to: number] | undefined> = [];
  /** Words whose text is only a variable or a command's output: never hidden. */
  readonly #references = new Set<number>();
  /** Words hidden whole: a printf format's arguments past PRINTF_ROUNDS_MAX rounds. */
  readonly #whole: number[] = [];

  text(): string {
    return this.#chars.join('');
  }

  /** `char`, written from `word`'s value between `from` and `to` (none: a blank or newline echo adds). */
  put(char: string, word?: number, from = 0, to = from + 1): void {
    this.#chars.push(char);
    this.#from.push(word === undefined ? undefined : [word, from, to]);
  }

  /** `word`'s value `text` (`raw` as written), character by character. */
  putWord(word: number, raw: string, text: string): void {
    if (REFERENCE.test(raw)) this.#references.add(word);
    for (let i = 0; i < text.length; i++) this.put(text[i]!, word, i);
  }

  /**
   * `text` with its backslash escapes read as printf's format, `%b` and `echo -e` read them: `\n`, `\t`, `\\`, a
   * character by its code (`\x3a`, `\072`, `\0072`).
   */
  putEscaped(word: number, text: string, at = 0): void {
    for (const m of text.matchAll(/\\(?:x([0-9a-fA-F]{1,2})|0?([0-7]{1,3})|([\s\S]))|[\s\S]/g)) {
      const code = m[1] !== undefined ? parseInt(m[1], 16) : m[2] !== undefined ? parseInt(m[2], 8) : undefined;
      const escaped = code !== undefined ? String.fromCharCode(code) : m[3] === undefined ? m[0] : ESCAPES[m[3]] ?? m[0];
      this.put(escaped, word, at + m.index, at + m.index + m[0].length);
    }
  }

  hideWhole(word: number): void {
    this.#whole.push(word);
  }

  /** The text read as a program reading this kind reads it, its secrets claimed in the words they were written from. */
  read(kind: InputKind, readScript: ScriptReader): void {
    this.#claim(inputMask(this.text(), kind, readScript));
  }

  /** Claims in the line each word with the characters `mask` (over text()) marks hidden. */
  #claim(mask: readonly boolean[]): void {
    const line = this.line;
    const hidden = new Map<number, boolean[]>();
    mask.forEach((secret, k) => {
      const at = this.#from[k];
      if (!secret || !at || this.#references.has(at[0])) return;
      const m = hidden.get(at[0]) ?? [];
      for (let j = at[1]; j < at[2]; j++) m[j] = true;
      hidden.set(at[0], m);
    });
    for (const [word, m] of hidden) line.claimed.set(word, maskRuns(line.bare[word]!, m));
    for (const word of this.#whole) line.claimed.set(word, '[redacted]');
  }
}

/** Command `f`'s output, if it is echo or printf, written into `w`. */
function writes(line: Line, f: Command, w: Written): void {
  const name = programOf(line, f);
  if (name === 'echo') echoWrites(line, argIndexes(line, f), w);
  else if (name === 'printf') printfWrites(line, argIndexes(line, f), w);
}

/** `echo [-neE] WORDS…`: the words and a blank between each, then a newline unless `-n`; escapes read with `-e`. */
function echoWrites(line: Line, args: readonly number[], w: Written): void {
  let k = 0;
  let newline = true;
  let escapes = false;
  for (; k < args.length && /^-[neE]+$/.test(line.bare[args[k]!]!); k++) {
    for (const o of line.bare[args[k]!]!.slice(1)) {
      if (o === 'n') newline = false;
      else escapes = o === 'e';
    }
  }
  args.slice(k).forEach((i, j) => {
    if (j > 0) w.put(' ');
    if (escapes) w.putEscaped(i, line.bare[i]!);
    else w.putWord(i, line.words[i]!, line.bare[i]!);
  });
  if (newline) w.put('\n');
}

/** `printf FORMAT ARGS…`: the format, again while its conversions take arguments, each argument in its place. */
function printfWrites(line: Line, args: readonly number[], w: Written): void {
  let at = 0;
  while (line.bare[args[at]!] === '--' || line.bare[args[at]!] === '-v') at += line.bare[args[at]!] === '-v' ? 2 : 1;
  if (at >= args.length) return;
  const formatWord = args[at]!;
  const format = line.bare[formatWord]!;
  const given = args.slice(at + 1);
  let next = 0;
  // (what the rounds write is read again as the reader reads it: at most twice the words it is given, or 256 KiB)
  const budget = Math.min(PRINTF_CHARS_MAX, 2 * given.reduce((n, g) => n + line.bare[g]!.length + 1, format.length));
  const rounds = Math.max(1, Math.floor(budget / (format.length || 1)));
  for (let round = 0; round < rounds; round++) {
    let conversions = 0;
    for (const m of format.matchAll(PRINTF)) {
      if (m[1]) {
        conversions++;
        // (a `*` width or precision takes an argument of its own, written nowhere)
        next += (m[2] === '*' ? 1 : 0) + (m[3] === '*' ? 1 : 0);
        const g = given[next++];
        if (g !== undefined && m[4] === 'b') w.putEscaped(g, line.bare[g]!);
        else if (g !== undefined) w.putWord(g, line.words[g]!, line.bare[g]!);
      } else if (m[0].length === 1) w.put(m[0], formatWord, m.index);
      else if (m[0] === '%%') w.put('%', formatWord, m.index, m.index + 2);
      else w.putEscaped(formatWord, m[0], m.index);
    }
    if (conversions === 0 || next >= given.length) return;
  }
  // A long format used again for many arguments: past what its rounds may write, each argument left is hidden whole
  // (the client chooses the line; walking a long format once per argument was quadratic).
  for (const g of given.slice(next)) w.hideWhole(g);
}

/** `chpasswd <<< 'ann:pw'` (or `<<<'ann:pw' chpasswd`): the here-string is its input. */
function hereStrings(line: Line, c: Command, kind: InputKind, readScript: ScriptReader): void {
  for (let i = c.start; i + 1 < c.end; i++) {
    if (!/^\d*<<<$/.test(line.words[i]!)) continue;
    const text = line.bare[i + 1]!;
    // (a single-quoted `'$x'` is a literal: whether it is a variable is read in the word as written)
    const out = redactInput(text, kind, readScript, line.words[i + 1]!);
    if (out !== text) line.claimed.set(i + 1, out);
  }
}

/**
 * For each word, where the pipeline it is in starts: after the last operator that is not a pipe, out of whole
 * `( … )` and `{ …; }` groups (their commands write into the pipe after them), or after the group it is in.
 */
function pipelineStarts(words: readonly string[]): number[] {
  const starts: number[] = [];
  const outer: number[] = [];
  let start = 0;
  words.forEach((w, i) => {
    if (w === '(' || w === '{') {
      outer.push(start);
      start = i + 1;
    } else if (w === ')' || w === '}') start = outer.pop() ?? 0;
    else if (SEPARATOR.test(w) && !PIPE.test(w)) start = i + 1;
    starts.push(start);
  });
  return starts;
}

/** The pipe a command starting at `start` reads (`| chpasswd`, `| (chpasswd)`), or -1. */
function inputPipe(words: readonly string[], start: number): number {
  let j = start - 1;
  while (j >= 0 && (words[j] === '(' || words[j] === '{')) j--;
  return j >= 0 && PIPE.test(words[j]!) ? j : -1;
}

/** The index of the first of `cmds` (in order) that starts at or after word `from`. */
function firstAt(cmds: readonly Command[], from: number): number {
  let lo = 0;
  let hi = cmds.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cmds[mid]!.start < from) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
