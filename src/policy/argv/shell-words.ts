/**
 * Shell words as the shell reads a command line (quotes, escapes, operators), each kept with its raw text and where
 * each character of its value is written in it, so that a span redacted in the value (argv-redact.ts) is redacted in
 * the raw text and everything else is kept byte for byte.
 */
const BACKQUOTED_TEXT = String.raw`(?:[^\x60\\]|\\[\s\S])*`;
const BACKQUOTED = `\\x60${BACKQUOTED_TEXT}\\x60`;
/** Command substitutions within double quotes within command substitutions…: past this many, a `$(` is two characters. */
const SUBSTITUTION_DEPTH = 3;
let groups = 0;
/** Parentheses nested within a command substitution (`$(a $(b $(c)))` has two): past this many, its `$` is a character. */
const PAREN_DEPTH = 2;

/**
 * A command substitution `$(…)`, matched atomically: its own quoted parts (`'…'`, `$'…'`, `"…"`, backquotes), `${…}`
 * (a `)` in `${x:-)}` is the expansion's, up to 256 characters as outside one) and
 * parentheses (PAREN_DEPTH levels inside it) are its, so a `"` or `)` in them does not end it. One holding what a
 * regular expression cannot read as the shell does (a comment, a here-document, a `case` whose patterns end in `)`:
 * `#`, `<<` or `case WORD in` outside quotes in it) is not read so: its `$` is a character, as before substitutions
 * were read (an apostrophe in a comment taken for a quote ran on into the words after, and `mysql … -pS3cret` was
 * recorded; a pattern's `)` taken for its end left the command after it an argument). Each `$` is matched
 * atomically as a whole substitution or as the character (a lookahead captured, then the capture; JavaScript has no
 * atomic groups): a substitution never closed is not tried again each way for each `$(` in it (exponential), and
 * each alternative starts with a character of its own (a `c` is read by the one alternative its place gives: after a
 * word's character or not; two that both matched one took 2^k tries for k of them), so no text is read two ways.
 * Past `depth` nested double quotes, none.
 */
function substitutionOrDollar(depth: number, opener = String.raw`\$`): string {
  if (depth === 0) return opener;
  // (made anew for each place: every atomic group needs a name of its own)
  const inner = () => String.raw`[^()'"\\\x60$#<c]|(?<![\w.-])c(?!ase\s+[^\s;&|()<>]+\s+in\b)|(?<=[\w.-])c|\\[\s\S]|\$'(?:[^'\\]|\\[\s\S])*'|\$\{[^}\n]{0,256}\}|\$(?!'|\{[^}\n]{0,256}\})|'[^']*'|${BACKQUOTED}|${doubleQuoted(depth - 1)}|<(?!<)`;
  // (parentheses inside it, `$(a $(b $(c)))`, `$(echo $((1+2)))`, a subshell: nested up to PAREN_DEPTH)
  const parens = (k: number): string => String.raw`\((?:${inner()}${k > 1 ? `|${parens(k - 1)}` : ''})*\)`;
  const substitution = String.raw`${opener}\((?:${inner()}|${parens(PAREN_DEPTH)})*\)`;
  const name = `s${groups++}`;
  return String.raw`(?=(?<${name}>${substitution}|${opener}))\k<${name}>`;
}

/** A double-quoted part, the command substitutions in it read whole (substitutionOrDollar), nested to `depth`. */
function doubleQuoted(depth = SUBSTITUTION_DEPTH): string {
  if (depth === 0) return String.raw`"(?:[^"\\]|\\[\s\S])*"`;
  return String.raw`"(?:[^"\\$]|\\[\s\S]|${substitutionOrDollar(depth)})*"`;
}

/**
 * A redirection operator (`>`, `2>>`, `<<<`, `<<-`, `>&`, `&>`: the word after it is its target), a comment (from a
 * `#` that starts a word to the end of the line), a shell word as written (quoted parts, `${…}` whole, escapes, other
 * characters but blanks and operators; `${…}` up to 256 characters, so that a `${` never closed is not read to the
 * end from each), or an operator. A line continued (`\` and a newline) between words is no
 * word (shellWords skips it). Blanks are spaces, tabs and newlines only (a no-break space is part of
 * a word, as to the shell). A quote left open is a character like another, so a malformed line is still cut at its
 * blanks. A double-quoted part holds the command substitutions in it whole, their own quotes too (`"a $(x -p "S3
 * cret")"` is one word, as to the shell), nested up to SUBSTITUTION_DEPTH.
 */
const SHELL_WORD = new RegExp(String.raw`\d*(?:<<<|<<-?|<>|>>|>\||[<>]&?)|&>>?|#[^\n]*|(?:\$'(?:[^'\\]|\\[\s\S])*'|'[^']*'|${doubleQuoted()}|${BACKQUOTED}|\$\{[^}\n]{0,256}\}|${substitutionOrDollar(SUBSTITUTION_DEPTH)}|\\[\s\S]?|[^ \t\n;&|()<>])+|;;?&?|\|[|&]?|&&?|[()\n]`, 'g');
/** A shell word's parts: single-quoted, double-quoted or backquoted (the text within captured), or an escape or character. */
const WORD_PART = new RegExp(String.raw`\$'(?<ansi>(?:[^'\\]|\\[\s\S])*)'|'(?<single>[^']*)'|"(?<double>${doubleQuoted().slice(1, -1)})"|\x60(?<back>${BACKQUOTED_TEXT})\x60|(?<subst>${substitutionOrDollar(SUBSTITUTION_DEPTH)})|\\[\s\S]|[\s\S]`, 'g');
/** A command substitution or a `$` (substitutionOrDollar), to find the substitutions in a word's value. */
const SUBSTITUTION = new RegExp(substitutionOrDollar(SUBSTITUTION_DEPTH), 'g');

/**
 * The command substitutions in `text` (a word's value) that no other holds: where each starts (its `$`) and ends
 * (after its `)`). One within what the shell read as single-quoted text is found too (the value no longer says).
 */
export function substitutions(text: string): Array<[number, number]> {
  const found: Array<[number, number]> = [];
  if (!text.includes('$(')) return found;
  for (let at = text.indexOf('$'); at >= 0;) {
    const end = substitutionEnd(text, at);
    if (end !== undefined) found.push([at, end]);
    at = text.indexOf('$', end ?? at + 1);
  }
  return found;
}

/** Where the command substitution whose `$` is at `at` in `text` ends (after its `)`); undefined where none is read. */
export function substitutionEnd(text: string, at: number): number | undefined {
  // (one object: a regular expression this size is compiled again for each copy)
  SUBSTITUTION.lastIndex = at;
  const m = SUBSTITUTION.exec(text);
  return m && m.index === at && m[0].length > 1 ? at + m[0].length : undefined;
}

/** A process substitution, `<(…)` or `>(…)`, read as a command substitution is (or its first character). */
const PROCESS_SUBSTITUTION = new RegExp(substitutionOrDollar(SUBSTITUTION_DEPTH, '[<>]'), 'g');

/** Where the process substitution whose `<` or `>` is at `at` in `text` ends (after its `)`); undefined where none is read. */
export function processSubstitutionEnd(text: string, at: number): number | undefined {
  PROCESS_SUBSTITUTION.lastIndex = at;
  const m = PROCESS_SUBSTITUTION.exec(text);
  return m && m.index === at && m[0].length > 1 ? at + m[0].length : undefined;
}

/** A double-quoted part's text: command substitutions (kept as written) and what lies between them. */
const DOUBLE_PART = new RegExp(String.raw`(?<subst>${substitutionOrDollar(SUBSTITUTION_DEPTH)})|(?:[^$\\]|\\[\s\S])+`, 'g');
/** bash's `$'…'` escapes: a character by its code (`\x41`, `\101`) or one letter (`\n`, `\'`). */
const ANSI_C_ESCAPE = /\\(?:x([0-9a-fA-F]{1,2})|([0-7]{1,3})|([\s\S]))|[\s\S]/g;
const ANSI_C: Record<string, string> = { n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', e: '\x1b', E: '\x1b', f: '\f', v: '\v' };
const ansiC = (m: RegExpMatchArray): string => (m[1] !== undefined ? String.fromCharCode(parseInt(m[1], 16))
  : m[2] !== undefined ? String.fromCharCode(parseInt(m[2], 8)) : m[3] !== undefined ? ANSI_C[m[3]] ?? m[3] : m[0]);

/** A shell word: where it is, as written, its value, and where each of the value's characters is written in it. */
export interface ShellWord {
  at: number; raw: string; value: string; from: number[]; to: number[];
  /** Where the command substitutions the shell runs are in `value` (not one in single quotes: that is text). */
  subs: Array<[number, number]>;
}

/**
 * `raw`'s value as the shell gives it (quotes removed, escapes resolved, bash's `$'…'` decoded; a backquoted part's text is kept as the
 * script it is), each character's place in `raw` kept so that a redaction of the value can be made in `raw`.
 */
export function shellWord(raw: string, at: number): ShellWord {
  const w: ShellWord = { at, raw, value: '', from: [], to: [], subs: [] };
  const substitution = (text: string, offset: number) => {
    const start = w.value.length;
    add(text, offset);
    w.subs.push([start, w.value.length]);
  };
  const add = (text: string, offset: number, escapes = /[\s\S]/g, decode = (m: RegExpMatchArray) => m[1] ?? m[0]) => {
    for (const m of text.matchAll(escapes)) {
      if (m[1] === '\n' && escapes !== ANSI_C_ESCAPE) continue; // a line continued
      w.value += decode(m);
      w.from.push(offset + m.index);
      w.to.push(offset + m.index + m[0].length);
    }
  };
  // (exec on the module's objects, not matchAll: matchAll copies the expression, and a copy of one this size is
  // compiled again, which took most of the time of reading a long command line; neither matches empty text)
  WORD_PART.lastIndex = 0;
  for (let m = WORD_PART.exec(raw); m; m = WORD_PART.exec(raw)) {
    const { ansi, single, double, back, subst } = m.groups!;
    if (ansi !== undefined) add(ansi, m.index + 2, ANSI_C_ESCAPE, ansiC);
    else if (single !== undefined) add(single, m.index + 1);
    else if (double !== undefined) {
      // (a command substitution in it is kept as written: its escapes are its script's, not the quotes')
      DOUBLE_PART.lastIndex = 0;
      for (let d = DOUBLE_PART.exec(double); d; d = DOUBLE_PART.exec(double)) {
        if (d.groups!.subst !== undefined) (d[0].length > 1 ? substitution : add)(d[0], m.index + 1 + d.index);
        else add(d[0], m.index + 1 + d.index, /\\([\\"$`\n])|[\s\S]/g);
      }
    }
    else if (back !== undefined) add(back, m.index + 1, /\\([\\$`\n])|[\s\S]/g);
    else if (subst !== undefined) (subst.length > 1 ? substitution : add)(subst, m.index); // (kept as the script it is)
    else add(m[0], m.index, /\\([\s\S])|[\s\S]/g);
  }
  return w;
}

/** A comment's text (after its `#`) and where it is. */
export interface Comment { at: number; text: string }

/** A here-document: the index of its `<<` word, and where its body is in the command line (without its last line). */
export interface Heredoc { word: number; at: number; text: string }

/** `<<EOF`, `<<-'EOF'`, `2<< EOF` (the delimiter then the next word); not a here-string (`<<<`). */
const HEREDOC = /^\d*<<(-?)(?!<)([\s\S]*)$/;

/**
 * A command line's shell words and its here-documents: after the newline that ends a line with `<<DELIM`, the lines
 * up to one that is DELIM (tabs before it stripped for `<<-`) are the body, read as text and not as words. A body
 * never closed runs to the end of the text.
 */
export function shellWords(text: string): { words: ShellWord[]; heredocs: Heredoc[]; comments: Comment[] } {
  const words: ShellWord[] = [];
  const heredocs: Heredoc[] = [];
  const comments: Comment[] = [];
  const pending: Array<{ word: number; delimiter: string; tabs: boolean }> = [];
  let delimiterNext: { word: number; tabs: boolean } | undefined;
  const re = SHELL_WORD;
  re.lastIndex = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[0] === '\\\n') continue; // a line continued: no word
    if (m[0].startsWith('#')) {
      comments.push({ at: m.index + 1, text: m[0].slice(1) }); // a comment: no word
      continue;
    }
    const w = shellWord(m[0], m.index);
    const index = words.push(w) - 1;
    const op = HEREDOC.exec(w.raw);
    if (delimiterNext) {
      pending.push({ ...delimiterNext, delimiter: w.value });
      delimiterNext = undefined;
    } else if (op && op[2] === '') delimiterNext = { word: index, tabs: op[1] === '-' };
    else if (op) pending.push({ word: index, delimiter: shellWord(op[2]!, 0).value, tabs: op[1] === '-' });
    if (w.raw !== '\n') continue;
    let at = re.lastIndex;
    for (const p of pending.splice(0)) {
      for (let line = at; ;) {
        const end = text.indexOf('\n', line);
        const last = text.slice(line, end < 0 ? text.length : end);
        const closes = (p.tabs ? last.replace(/^\t+/, '') : last) === p.delimiter;
        if (closes || end < 0) {
          heredocs.push({ word: p.word, at, text: text.slice(at, closes ? line : text.length) });
          re.lastIndex = end < 0 ? text.length : end;
          at = end < 0 ? text.length : end + 1;
          break;
        }
        line = end + 1;
      }
    }
  }
  return { words, heredocs, comments };
}

/**
 * Where `after` (`before` with spans replaced by `[redacted]`) replaced them: the spans of `before`, each as early as
 * it can be (any such reading gives `after`). A redaction that wrote a literal's quotes anew (`$$x$$` or `E'x'` as
 * `'[redacted]'`) is read with the quotes next to each mark taken as the redaction's. Should `after` read neither
 * way, the whole of `before`.
 */
export function redactedSpans(before: string, after: string): Array<[number, number]> {
  if (before === after) return [];
  const kept = after.split('[redacted]');
  const requoted = kept.map((k, i) => k.slice(i > 0 && k.startsWith("'") ? 1 : 0, i < kept.length - 1 && k.endsWith("'") ? -1 : undefined));
  return aligned(before, kept) ?? aligned(before, requoted) ?? [[0, before.length]];
}

/** The spans of `before` between the `kept` texts, in order, or undefined when `before` does not read so. */
function aligned(before: string, kept: readonly string[]): Array<[number, number]> | undefined {
  const spans: Array<[number, number]> = [];
  let at = kept[0]!.length;
  for (let k = 1; k < kept.length; k++) {
    const end = k === kept.length - 1 ? before.length - kept[k]!.length : before.indexOf(kept[k]!, at);
    if (end < at) return undefined;
    spans.push([at, end]);
    at = end + kept[k]!.length;
  }
  const reads = spans.length > 0 && before.startsWith(kept[0]!) && before.endsWith(kept.at(-1)!);
  return reads ? spans : undefined;
}
