/**
 * Credentials on a command line, redacted before it is recorded: `pcigate exec`'s argv (pg-exec.ts), an SSH exec
 * request's command (ssh-session.ts) and the approval request it files (ssh-approval.ts). The command itself
 * runs as given.
 */
import { inputSecrets } from './argv-input.js';
import { assigningWords, commands, newLine, programName, programsOf, REDIRECT, REDIRECT_ALONE, SEPARATOR } from './argv-line.js';
import type { Command, Line } from './argv-line.js';
import { namesSecret, NOT_A_SECRET_VALUE, PROGRAM_SECRETS, programSecret, redacted, rulesHold, secretFlagName, SWITCH_VALUE } from './argv-programs.js';
import type { ProgramSecrets, Redact } from './argv-programs.js';
import { firstAtLeast } from '../../sorted-index.js';
import { AUTH_SCHEMES, KNOWN_TOKEN, PEM_BEGIN } from '../redact-content.js';
import { processSubstitutionEnd, redactedSpans, shellWords, substitutionEnd, substitutions } from './shell-words.js';
import type { Heredoc } from './shell-words.js';

/**
 * `--password=VALUE`, `PGPASSWORD=VALUE`, `password=VALUE` in a connection string, `token: VALUE`, and a JSON
 * body's `"password": "VALUE"` (the key's closing quote before the colon): a name and what joins it to its value.
 * The value is read by assignedValue.
 */
const ASSIGNMENT_NAME = /(?<![\w.-])([\w.-]+)(["']?\s*[=:]\s*)/g;
/**
 * An HTTP Authorization header (`-H 'Authorization: Bearer …'`, `"Authorization": "Bearer …"`, curl's `-HAuthorization:…`
 * glued): its credentials, a known scheme and one token, quoted or not (not the rest of the line: `-H Authorization:x
 * https://evil/x; rm -rf /srv` hid all of it from an approver). Where the value is known to be the header's
 * (headerValueEnd), all of it.
 */
const AUTH_HEADER = new RegExp(String.raw`((?:(?<!\w)|(?<=-H))(?:proxy-)?authorization\\?["']?\s*:\s*\\?["']?)((?:(?:${AUTH_SCHEMES})[ \t]+)?(?:\\?"[^\s"]+"|'[^\s']+'|[^\s'"]+))`, 'gi');
/**
 * `postgres://user:secret@host`: the password part of a URL, to the last `@` before the host (`p@ss@host`), or one
 * made by a command substitution, blanks and slashes and all (`https://u:$(cat /run/tok)@h`; to the last `@` before a
 * `?`, `#` or `/` after it). Up to 1 KiB: bounded, as every place a match may start in a client's text is read on
 * from there (`a://b:c` repeated was quadratic).
 */
const URL_PASSWORD = /((?<![a-z0-9+.-])[a-z][a-z0-9+.-]*:\/\/[^\s:/@'"]{0,256}:)([^\s/'"$]{0,256}\$\([^()\n]{1,256}\)[^\s/'"?#]{0,256}|[^\s/'"]{1,1024})(@)/gi;

/**
 * Whether `flag` takes a secret as its next word. libpq's `--password` is a switch (it prompts; the next word is a
 * database), but a password typed after it by mistake would be kept in clear: the word is redacted all the same.
 */
function secretFlag(flag: string): boolean {
  return secretFlagName(flag) && !NOT_A_SECRET_VALUE.test(flag);
}

/** Command `c`'s program's own password options and places (PROGRAM_SECRETS), claimed in `line`. */
function programSecrets(line: Line, c: Command): void {
  for (const { at, name, args } of programsOf(line, c)) {
    const bare = args.map((i) => line.bare[i]!);
    const word = line.words[at]!; // (as written: a backquoted part's value has lost its quotes)
    if (!(line.shell && /[$`]/.test(word) && at === c.name && c.program === undefined)) {
      const rules = PROGRAM_SECRETS.find((r) => r.program.test(name) && rulesHold(r, bare));
      if (rules) claimProgramSecrets(line, rules, args, bare);
      continue;
    }
    // (each program it may be: `$(command -v psql || command -v mysql) -pS3cret` is mysql's -p as well as psql's port)
    const applied = new Set<ProgramSecrets>();
    for (const candidate of [name, ...madeNames(word)]) {
      const rules = PROGRAM_SECRETS.find((r) => r.program.test(candidate) && rulesHold(r, bare));
      if (rules && !applied.has(rules)) { applied.add(rules); claimProgramSecrets(line, rules, args, bare); }
    }
    // It may be a wrapper (`$SUDO mysql -pS3cret`, `${SUDO:-sudo} -u pg mysql …`, `$RUN psql …`): the first of its
    // next words that names a program with password options is read as that program, with the words after it.
    for (let k = 0; k < Math.min(args.length, MADE_WRAPPER_WORDS); k++) {
      const after = bare.slice(k + 1);
      const rules = PROGRAM_SECRETS.find((r) => r.program.test(programName(bare[k]!)) && rulesHold(r, after));
      if (!rules) continue;
      if (!applied.has(rules)) claimProgramSecrets(line, rules, args.slice(k + 1), after);
      break;
    }
  }
}

/** How many words after a program name the shell makes are looked at for the program it may wrap. */
const MADE_WRAPPER_WORDS = 4;

/** A name within a program's name the shell makes: `$MYSQL_BIN`, `${PSQL:-/usr/bin/psql}`, `$(which redis-cli)`. */
const NAME_PART = /[A-Za-z][\w.+-]*/g;
/** What such a name's words say after the program (`MYSQL_BIN`, `PSQL_CMD`): none of its name. */
const NAME_SUFFIX = /[_-](?:bin|binary|cmd|command|exe|exec|path|prog|program|client|cli)$/;

/**
 * The programs a name the shell makes may be (`$MYSQL -pS3cret`, `$(which mysql) -pS3cret`, `` `command -v psql` ``):
 * not known until it runs, so each word in it is tried as a program's name, lower-cased, with and without a suffix
 * (`MYSQL_BIN` as `mysql_bin`, `mysql`; `REDIS_CLI` as `redis-cli`), after the name as written (`$HOME/bin/mysql`), and
 * each whose rules hold is applied, as that program's would be. A name that says nothing of its program (`$CMD
 * -pS3cret`) is not read (docs/log-format.md).
 */
function madeNames(word: string): string[] {
  const out = new Set<string>();
  for (const m of word.match(NAME_PART) ?? []) {
    const w = m.toLowerCase();
    for (const v of [w, w.replace(NAME_SUFFIX, '')]) {
      out.add(v);
      out.add(v.replace(/_/g, '-'));
    }
  }
  return [...out];
}

/** The secrets `rules` find in a program's arguments `args` (indexes in `line`; `bare`, their values), claimed. */
function claimProgramSecrets(line: Line, rules: ProgramSecrets, args: readonly number[], bare: readonly string[]): void {
  let next: Redact | undefined;
  args.forEach((i, k) => {
    // (the option takes the next word whatever it is: `redis-cli -a -x` gives -x as the password)
    if (next) {
      line.claimed.set(i, next(bare[k]!));
      next = undefined;
      return;
    }
    // (a switch named for a secret: the next word is shown, unless a rule's place says otherwise below)
    if (rules.switches?.includes(bare[k]!) && k + 1 < args.length) line.claimed.set(args[k + 1]!, bare[k + 1]!);
    const out = programSecret(rules, bare[k]!, (f) => { next = f; });
    if (out !== bare[k]) line.claimed.set(i, out);
  });
  for (const k of rules.positional?.(bare) ?? []) line.claimed.set(args[k]!, (rules.positionalRedact ?? redacted)(bare[k]!));
}

/**
 * Redacts the words of one command line (argv, or a shell line's words): the value after a flag named for a secret
 * (`--password X`), each command's program's own password options and places (PROGRAM_SECRETS), and what is
 * written into a program's input. A command's program is its first word after `sudo`, `env`, `FOO=1`, `if` ….
 */
function redactWords(words: readonly string[], bare: readonly string[], shell: boolean, heredocs: readonly Heredoc[] = []): { words: string[]; bodies: Map<Heredoc, string> } {
  const line = newLine(words, bare, shell, heredocs);
  const cmds = commands(line);
  for (const c of cmds) programSecrets(line, c);
  inputSecrets(line, cmds, readScript);
  const assigning = assigningWords(line, cmds);
  const done: string[] = [];
  words.forEach((w, i) => {
    // (the previous word as redacted: a password that reads like a flag's name is not one)
    const afterFlag = i > 0 && secretFlag(done[i - 1]!) && !bare[i]!.startsWith('-')
      && !(shell && (SEPARATOR.test(w) || REDIRECT.test(w)));
    done.push(line.claimed.get(i) ?? (afterFlag ? '[redacted]' : assignedWord(bare[i]!, assigning.has(i))));
  });
  return { words: done, bodies: line.bodies };
}

/** `NAME=VALUE` as one word, or an option's (`--env=NAME=VALUE`). */
const WORD_ASSIGNMENT = /^(--?[\w.-]+=)?([\w.-]+)=([\s\S]+)$/;

/**
 * `word` (its value, as its program gets it) with the value it assigns to a name naming a secret redacted, blanks
 * and all where the word assigns (`'PGPASSWORD=a b'`, `export PGPASSWORD='a b'`, `-e 'DB_PASSWORD=a b'`:
 * assigningWords); a word with blanks elsewhere may be a command line (`bash -lc "PGPASSWORD=x psql …"`), read as one.
 */
function assignedWord(word: string, assignment: boolean): string {
  const m = WORD_ASSIGNMENT.exec(word);
  if (!m || (!assignment && /\s/.test(outsideSubstitutions(m[3]!)))) return word;
  return assignedSecret(m[2]!, m[3]!) ? `${m[1] ?? ''}${m[2]}=[redacted]` : word;
}

/** `text` without the command substitutions in it (a blank in one does not make `password=$(cat x)` a command line). */
function outsideSubstitutions(text: string): string {
  let out = '';
  let at = 0;
  for (const [x, y] of substitutions(text)) {
    out += text.slice(at, x);
    at = y;
  }
  return out + text.slice(at);
}

/**
 * A shell command line with its words' credentials redacted, and each quoted word whose value holds a space
 * (`sh -c 'mysql -pX db'`, `ssh h "curl -u ann:X …"`) read as a command line of its own. A redacted span of a
 * word's value is written `[redacted]` in its place, keeping the quotes it crossed; the rest is kept as written.
 */
function redactScript(text: string): string {
  let out = '';
  let copied = 0;
  for (const s of bothReadings(text)) {
    // (spans of two readings may overlap: the part past what is hidden already is hidden with it)
    if (s.end <= copied) continue;
    out += s.start >= copied ? `${text.slice(copied, s.start)}[redacted]${s.quotes}` : '';
    if (!s.skeleton) collected?.push(text.slice(Math.max(s.start, copied), s.end));
    copied = s.end;
  }
  return out + text.slice(copied);
}

/**
 * A command line's parts to redact (scriptSpans), in order, and where it is an ssh option's value whose command line
 * follows its name (`ProxyCommand=sshpass -p X …`), that command line's too: the same words may be a shell's
 * assignment and command (`ProxyCommand=x psql …`), so both readings are kept; their spans may overlap.
 */
function bothReadings(text: string): Span[] {
  const lead = commandOptionLead(text);
  if (lead === 0) return scriptSpans(text);
  const asOption = scriptSpans(text.slice(lead)).map((s) => ({ ...s, start: lead + s.start, end: lead + s.end }));
  return [...scriptSpans(text), ...asOption].sort((a, b) => a.start - b.start);
}

/** Scripts read within scripts (`bash <<A` in `bash <<B`…): past a few, the body is hidden whole (each is read again). */
const SCRIPT_DEPTH_MAX = 4;
let scriptDepth = 0;

/** A program's input read as a script: as a command line of its own, hidden whole past SCRIPT_DEPTH_MAX. */
function readScript(text: string): string {
  if (scriptDepth >= SCRIPT_DEPTH_MAX) return /\S/.test(text) ? `[redacted]${text.endsWith('\n') ? '\n' : ''}` : text;
  scriptDepth++;
  try {
    return redactCommandLine(text);
  } finally {
    scriptDepth--;
  }
}

/** A redacted part of a command line: where it is, and the quotes it crossed (written after `[redacted]`). */
interface Span {
  start: number; end: number; quotes: string;
  /** A word hidden in an opened substitution (withSubstitutions): not collected alone. */
  skeleton?: true;
}

/**
 * The parts of `text` (a shell command line) to redact, in order. A nested script's own parts are found in the
 * word's value and mapped back onto the word as written (so a redaction crossing the nested script's quotes hides
 * that part only, never the whole script from an approver).
 */
function scriptSpans(text: string): Span[] {
  const { words, heredocs, comments } = shellWords(text);
  const { words: values, bodies } = redactWords(words.map((w) => w.raw), words.map((w) => w.value), true, heredocs);
  const spans: Span[] = [];
  words.forEach((w, i) => {
    const nested = values[i] === w.value && w.value !== w.raw && /\s/.test(w.value);
    // (a quoted word's value is read for what its text tells too: `-d "{\"password\":\"x\"}"`, `https://a:'p&ss'@h`,
    // which the text as typed hides behind its quotes and escapes)
    const parts = withSubstitutions(w.value, w.subs, nested, nested ? merged([...innerReadings(w.value), ...redactedSpans(w.value, secretText(w.value)), ...headerArgument(w.value)])
      : redactedSpans(w.value, w.value !== w.raw ? secretText(values[i]!, false) : values[i]!));
    for (const [from, to, skeleton] of parts) {
      const start = w.at + (from < to ? w.from[from]! : (w.to[from - 1] ?? 0));
      const end = from < to ? w.at + w.to[to - 1]! : start;
      let quotes = '';
      for (let k = from + 1; k < to; k++) quotes += w.raw.slice(w.to[k - 1], w.from[k]).replace(/[^'"`]/g, '');
      spans.push(skeleton ? { start, end, quotes, skeleton } : { start, end, quotes });
      // (as the shell reads it too: a reason quotes a reading, `-pS3"cret` for `-p"S3\"cret"`)
      if (!skeleton) collected?.push(w.value.slice(from, to));
    }
  });
  // A here-document no rule reads otherwise is read as a script (`cat > deploy.sh <<EOF`, `ssh h <<EOF`), and so is
  // a comment (`# --password X`, a command kept for later).
  const texts: Array<{ at: number; text: string; out?: string | undefined }> = [...heredocs.map((h) => ({ at: h.at, text: h.text, out: bodies.get(h) })), ...comments];
  for (const t of texts) {
    for (const [from, to] of redactedSpans(t.text, t.out ?? readScript(t.text))) {
      spans.push({ start: t.at + from, end: t.at + to, quotes: '' });
      collected?.push(t.text.slice(from, to));
    }
    // (an ssh config's command lines, `  ProxyCommand sshpass -p X ssh bastion`, written by a here-document)
    for (const m of t.text.matchAll(COMMAND_OPTION_LINE)) {
      const at = t.at + m.index + m[0].length - m[1]!.length;
      for (const s of scriptSpans(m[1]!)) spans.push({ ...s, start: at + s.start, end: at + s.end });
    }
  }
  // A secret made by a command substitution the words could not read whole (its `$` a character: one holding a
  // comment, a here-document or a `case`, or never closed) is hidden to the substitution's end as well.
  // (each read on to its end: past UNREAD_MAX of them in a line, the rest run to the line's end, so that a line of
  // many such `$(` is not read once for each)
  let unread = 0;
  for (const s of spans) {
    if (text[s.end - 1] !== '$' || text[s.end] !== '(') continue;
    s.end = ++unread > UNREAD_MAX ? text.length : unreadSubstitutionEnd(text, s.end);
  }
  return spans.sort((a, b) => a.start - b.start);
}

/** Substitutions read by unreadSubstitutionEnd in one command line: past this many, the rest are hidden to its end. */
const UNREAD_MAX = 16;

/**
 * Where a command substitution whose `(` is at `open` ends, read roughly: parentheses counted outside quotes, escapes
 * and comments. A here-document or a `case` in it (whose body and patterns this reading cannot tell from the rest),
 * a backquote, `$'…'`, `${…}` or a substitution inside double quotes (whose quoting it does not follow), or no `)` to
 * close it: the end of the text. Ending too late hides more than the secret; never less.
 */
function unreadSubstitutionEnd(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\') i++;
    // (a backquote, `$'…'`, `${…}` or a substitution in double quotes: quoting this reading does not follow)
    else if (ch === '`' || (ch === '$' && (text[i + 1] === "'" || text[i + 1] === '{'))) return text.length;
    else if (ch === "'") i = closing(text, i, "'");
    else if (ch === '"') {
      const close = closing(text, i, '"');
      if (/\$\(|`/.test(text.slice(i, close))) return text.length;
      i = close;
    }
    else if (ch === '#' && /[\s(;&|]/.test(text[i - 1] ?? ' ')) i = closing(text, i, '\n') - 1;
    else if ((ch === '<' && text[i + 1] === '<') || (ch === 'c' && /^case\s/.test(text.slice(i, i + 5)) && !/[\w.-]/.test(text[i - 1] ?? ' '))) return text.length;
    else if (ch === '(') depth++;
    else if (ch === ')' && --depth === 0) return i + 1;
  }
  return text.length;
}

/** Where the `quote` that closes the one at `at` is (a backslash escapes within double quotes), or the text's end. */
function closing(text: string, at: number, quote: string): number {
  for (let i = at + 1; i < text.length; i++) {
    if (quote === '"' && text[i] === '\\') i++;
    else if (text[i] === quote) return i;
  }
  return text.length;
}

/**
 * An ssh option whose value is a command line (`-o 'ProxyCommand=sshpass -p X ssh bastion -W %h:%p'`): read as a
 * shell would read the value, not the option's name as an assignment before it.
 */
const COMMAND_OPTION = /^\s*(?:-o\s*)?(?:ProxyCommand|LocalCommand|RemoteCommand|KnownHostsCommand)(?:\s*=\s*|\s+)/i;
const commandOptionLead = (value: string) => COMMAND_OPTION.exec(value)?.[0].length ?? 0;
/** Such an option on a line of an ssh config's text, and its command line. */
const COMMAND_OPTION_LINE = /^[ \t]*(?:ProxyCommand|LocalCommand|RemoteCommand|KnownHostsCommand)(?:[ \t]*=[ \t]*|[ \t]+)(.*)$/gim;

/**
 * `parts` (the spans of a word's value to redact) with the command substitutions in it: a span that ends within one
 * it does not start in runs on to its end (what the shell puts there is the secret, `"password=$(vault read …)"`,
 * `-p$(cat /run/pw)`), and unless the word was read as a script whole (`nested`, which reads them so), each one's
 * script is read as a command line of its own (`echo $(mysql -pS3cret -e …)`). One the shell runs (`run`: not in single
 * quotes) that a span holds whole is opened (opened()).
 */
function withSubstitutions(value: string, run: ReadonlyArray<[number, number]>, nested: boolean, parts: Array<[number, number]>): Array<[number, number, true?]> {
  const subs = substitutions(value);
  if (subs.length === 0) return parts;
  // (and on through the rest of its word: `Bearer $(cat /run/tok)S3cret`, cut at the blank, is one token)
  const out = parts.map(([a, b]): [number, number] => {
    const y = a < b ? subs.find(([x, z]) => a <= x && x < b && b < z)?.[1] : undefined;
    return [a, y === undefined ? b : wordEnd(value, y)];
  });
  if (!nested) for (const [x, y] of subs) for (const [a, b] of innerReadings(value.slice(x + 2, y - 1))) out.push([x + 2 + a, x + 2 + b]);
  return opened(merged(out), value, run);
}

/**
 * `spans` (sorted, apart) with each command substitution one holds whole shown as its commands' names and its
 * operators, every other word of it hidden (commandSkeleton): what gives a secret is shown to an approver as
 * `PGPASSWORD=$(curl [redacted] | sh)`, `-p$(cat [redacted])`, not as `[redacted]`, and what it was given (the
 * secret, `$(echo S3cret)`; a path, a URL) is not.
 */
function opened(spans: Array<[number, number]>, value: string, run: ReadonlyArray<[number, number]>): Array<[number, number, true?]> {
  if (run.length === 0 || !openingHere()) return spans;
  const out: Array<[number, number, true?]> = [];
  let k = 0; // (both sorted, and the substitutions apart: each is looked at once)
  for (const [a, b] of spans) {
    while (k < run.length && run[k]![0] < a) k++;
    let at = a;
    for (; k < run.length && run[k]![1] <= b; k++) {
      const [x, y] = run[k]!;
      if (at < x) out.push([at, x]);
      // (its hidden words are not collected one by one: a reason quoting the command has the span's text hidden whole)
      for (const [p, q] of commandSkeleton(value.slice(x + 2, y - 1))) out.push([x + 2 + p, x + 2 + q, true]);
      at = y;
    }
    if (at === a) { out.push([a, b]); continue; }
    collected?.push(value.slice(a, b));
    if (at < b) out.push([at, b]);
  }
  return out;
}

/**
 * Whether a substitution may be opened where the line is being read: only in a command line a shell runs as given
 * (redactCommandLine's, not redactArgv's: an argument is no shell's, `password=Xk$(9q)Lm` is its text), and at its
 * own level, not in a text read as a script within it (a single-quoted word, a comment, a here-document's body: what
 * looks like a substitution there may be a secret's text). A double-quoted word's substitutions are its line's.
 */
const openingHere = () => shellLine && innerDepth === 0 && scriptDepth === 0;
/** Set while redactCommandLine reads a line (opened). */
let shellLine = false;

/**
 * A command's name as shown in a substitution that gives a secret: a program's name as programs are named, lower-case
 * (`cat`, `vault`, `/usr/bin/op`, `./get-pw.sh`), unquoted. Another word there (`$(echo x; S3cret)`) may be the secret.
 */
const PLAIN_NAME = /^(?:[\w.~+-]*\/)*[a-z][a-z0-9._+-]{0,63}$/;

/**
 * The spans of `script` (a command substitution's) to hide when what it prints is a secret: every word but its
 * commands' plain names (`cat`, `/usr/bin/vault`) where each is its command's first word, operators and lone
 * redirection operators; here-documents and comments whole; all of it when it holds a parenthesis. A run of hidden
 * words is one span (how many there were is not shown either). What it shows reads the same again (openedSecret).
 */
function commandSkeleton(script: string): Array<[number, number]> {
  // (a parenthesis in it may make data of what follows read as a command: `a=(S3cret)`, `@(S3cret)`, `<(…) S3cret`,
  // `$((…))`: hidden whole)
  if (/[()]/.test(script)) return /\S/.test(script) ? [[0, script.length]] : [];
  const { words, heredocs, comments } = shellWords(script);
  const line = newLine(words.map((w) => w.raw), words.map((w) => w.value), true, heredocs);
  // (a name that is not its command's first word, after a wrapper or an assignment, goes with them: read again, as
  // the line's own reading reads the opened text, `sudo [redacted] cat` would make `[redacted]` the command)
  const names = new Set<number>();
  for (const c of commands(line)) if (c.name === c.start && c.wrappers.length === 0 && PLAIN_NAME.test(words[c.start]!.raw)) names.add(c.start);
  const spans: Array<[number, number]> = [];
  words.forEach((w, i) => {
    if (!names.has(i) && !SEPARATOR.test(w.raw) && !REDIRECT_ALONE.test(w.raw)) spans.push([w.at, w.at + w.raw.length]);
  });
  for (const t of [...heredocs, ...comments]) if (/\S/.test(t.text)) spans.push([t.at, t.at + t.text.length]);
  const out: Array<[number, number]> = [];
  for (const [a, b] of spans.sort((p, q) => p[0] - q[0])) {
    const last = out.at(-1);
    if (last && /^[ \t]*$/.test(script.slice(last[1], a))) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/**
 * A secret's text, read again in a line a word's reading wrote (secretText): `[redacted]`, but a command substitution
 * in it that reading opened (`$(cat [redacted])`, withSubstitutions) stays open, read again the same way, and so do
 * the double quotes around it. Only that reading knows whether the shell runs a substitution (single-quoted, it is
 * the secret's text): one not opened is hidden with the rest.
 */
function openedSecret(secret: string): string {
  let out = '';
  let at = 0;
  const between = (t: string) => (t === '' || t === '"' ? t : '[redacted]');
  for (const [x, y] of substitutions(secret)) {
    if (!secret.slice(x, y).includes('[redacted]')) continue;
    out += between(secret.slice(at, x));
    const script = secret.slice(x + 2, y - 1);
    let shown = '';
    let copied = 0;
    for (const [a, b] of commandSkeleton(script)) {
      shown += `${script.slice(copied, a)}[redacted]`;
      copied = b;
    }
    out += `$(${shown}${script.slice(copied)})`;
    at = y;
  }
  return out + between(secret.slice(at));
}

/** Where the run of characters from `at` that `stop` does not match (blanks, by default) ends. */
function wordEnd(text: string, at: number, stop = /\s/): number {
  let i = at;
  while (i < text.length && !stop.test(text[i]!)) i++;
  return i;
}

/** Command lines read within words within command lines (a quoted word, a substitution): past this many, hidden whole. */
const INNER_DEPTH_MAX = 12;
let innerDepth = 0;
/** The readings innerReadings made in the command line being redacted (redactCommandLine, redactArgv), by depths and text. */
let innerMemo: Map<string, Array<[number, number]>> | undefined;

/**
 * The spans of `text` (a word's value, or a substitution's script) to redact, read as a command line of its own
 * (bothReadings). An ssh option's command line is read twice, as an option and as a command line, and so is every
 * text within it: each reading is kept for the line, or `$(ProxyCommand=a "ProxyCommand=b $(…` took twice as long
 * for each level (minutes at 300 bytes). Nested past INNER_DEPTH_MAX, the text is hidden whole.
 */
function innerReadings(text: string): Array<[number, number]> {
  if (innerDepth >= INNER_DEPTH_MAX) return /\S/.test(text) ? [[0, text.length]] : [];
  const key = `${scriptDepth}\0${innerDepth}\0${text}`; // (both depths: past either's limit, text is hidden whole)
  const known = innerMemo?.get(key);
  if (known) return known;
  innerDepth++;
  try {
    const spans = bothReadings(text).map((s): [number, number] => [s.start, s.end]);
    innerMemo?.set(key, spans);
    return spans;
  } finally {
    innerDepth--;
  }
}

/** `spans` sorted and overlapping ones joined. */
function merged(spans: Array<[number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [a, b] of spans.sort((x, y) => x[0] - y[0])) {
    const last = out.at(-1);
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/**
 * Whether `name=value` gives a credential: the name says so, and it is not a switch or a setting that says where one
 * is (`--token-file=/x`, `PasswordAuthentication=no`: a yes/no, enabled/disabled or none is no secret); a value redacted already, by a nested
 * script's reading, is left as it is (`[redacted]}` is no value).
 */
function assignedSecret(name: string, value: string): boolean {
  // (libpq's PGPASSFILE and passfile name where passwords are: shown when the value reads as a path, `/…`, `~/…`,
  // `./…`, `$HOME/…`, or is an expansion's operator, `${PGPASSFILE:?unset}` read as the name and `?unset}`; not when
  // the shell makes it, `$(…)`, nor `passfile=S3cret`)
  if ((name === 'PGPASSFILE' || name === 'passfile') && /^['"]?(?:[~.]?\/|\$\{?[A-Za-z_]|[?=+-])/.test(value) && !/[`(]/.test(value)) return false;
  return namesSecret(name) && !NOT_A_SECRET_VALUE.test(name) && !SWITCH_VALUE.test(value) && !/^['"]?\[redacted\]/.test(value);
}

/**
 * The credentials a word's text tells wherever it is: a URL's password, an Authorization header, a token known by its
 * form, `NAME=VALUE`.
 */
function secretText(text: string, shell = true): string {
  const hidden = (prefix: string, secret: string, suffix = '') => {
    const shown = openedSecret(secret);
    if (shown !== secret) collected?.push(secret);
    return `${prefix}${shown}${suffix}`;
  };
  const urls = substitutedUrlPasswords(text.replace(URL_PASSWORD, (_: string, a: string, secret: string, at: string) => hidden(a, secret, at)), hidden);
  return privateKeys(assignments(authHeaders(urls, hidden, shell).replace(KNOWN_TOKEN, (token: string) => hidden('', token)), shell));
}

/** Where a URL's user part ends and its password starts (`postgres://ann:`). */
const URL_USER = /(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*:\/\/[^\s:/@'"]{0,256}:/gi;
/** How far a password made by command substitutions is read for its `@`, as URL_PASSWORD reads a plain one: 1 KiB. */
const SUBSTITUTED_PASSWORD_MAX = 1024;

/**
 * `text` with each URL password that a command substitution makes given to `hidden`: whatever the substitutions hold
 * (nested ones, quotes, a comment, lines: `https://u:$(echo "$(cat /t)")@h`, `` https://u:`cat /t`@h ``,
 * `https://u:$(a)$(b)@h`), read as the shell reads them (substitutionAt) to the `@` after them. URL_PASSWORD's expression reads only a plain one, and reads first: what it hid is shown as it showed it.
 */
function substitutedUrlPasswords(text: string, hidden: (prefix: string, secret: string, suffix: string) => string): string {
  let out = '';
  let copied = 0;
  URL_USER.lastIndex = 0;
  for (let m = URL_USER.exec(text); m; m = URL_USER.exec(text)) {
    const from = m.index + m[0].length;
    // (read in a window: a line of many `https://u:$(` never closed is not read to its end for each)
    const w = text.slice(from, from + SUBSTITUTED_PASSWORD_MAX);
    let substituted = false;
    let at = -1;
    for (let p = 0; p < w.length;) {
      const c = w[p]!;
      if (c === '@') {
        at = p;
        break;
      }
      const closed = c === '$' || c === '`' ? substitutionAt(w, p) : undefined;
      if (closed !== undefined) {
        p = closed;
        substituted = true;
      } else if (c === '\\') p += 2;
      // (a quote ends what is read here: the shell's quoting is read by the words, whose values are read too;
      // `"http://localhost:$(cat port)"; … "dev@corp"` has no password)
      else if (/[\s/?#"';&|<>()]/.test(c)) break;
      else p++;
    }
    if (!substituted || at < 0) continue;
    out += `${text.slice(copied, m.index)}${hidden(m[0], w.slice(0, at), '@')}`;
    copied = from + at + 1;
    URL_USER.lastIndex = copied;
  }
  return out + text.slice(copied);
}

/**
 * `text` with each Authorization header's credentials (AUTH_HEADER) given to `hidden`: a token cut at a blank inside a
 * command substitution runs on to its end and the rest of its word (`Bearer $(cat /run/tok)S3cret` is one token).
 */
function authHeaders(text: string, hidden: (prefix: string, secret: string) => string, shell: boolean): string {
  let out = '';
  let copied = 0;
  let quotes: ShellQuotes | undefined;
  let next: NextOf | undefined;
  AUTH_HEADER.lastIndex = 0;
  for (let m = AUTH_HEADER.exec(text); m; m = AUTH_HEADER.exec(text)) {
    const from = m.index + m[1]!.length;
    const read = tokenEnd(text, from, m.index + m[0].length);
    const end = Math.max(read, headerValueEnd(text, m.index, m[1]!, read, next ??= new NextOf(text), () => (shell ? (quotes ??= new ShellQuotes(text)) : undefined)));
    out += `${text.slice(copied, m.index)}${hidden(m[1]!, text.slice(from, end))}`;
    copied = end;
    AUTH_HEADER.lastIndex = end;
  }
  return out + text.slice(copied);
}

/**
 * Where an Authorization header starting at `at` (its name and colon: `prefix`) ends when the whole of its value is
 * known to be the header's, blanks and all: in the quotes that hold it (`"Authorization: Bot S3cret"`,
 * `{"Authorization": "sso-key K:S3cret"}`: to the quote that closes them), or on a line it starts (a here-document's
 * `Authorization: DPoP S3cret`, an argument `Authorization: SharedKey a:S3cret`; to the line's end). A scheme
 * AUTH_HEADER does not know left its token shown after it. Elsewhere (`-H Authorization:x https://evil/x`: unquoted, the
 * shell splits the line at the blank) the value is what AUTH_HEADER read: `read`, returned as it is, as when nothing
 * but blanks would be added. `quotes`: the text's shell quotes, when it is a shell line.
 */
function headerValueEnd(text: string, at: number, prefix: string, read: number, next: NextOf, quotes: () => ShellQuotes | undefined): number {
  const lineEnd = Math.min(next.of('\n', read), next.of('\r', read));
  // (the header's name may run on before `authorization`: `X-Authorization`, `X-Amz-Authorization`)
  let name = at;
  while (name > 0 && at - name < 64 && /[\w-]/.test(text[name - 1]!)) name--;
  const before = text[name - 1];
  const q = quotes();
  let end = read;
  if (prefix.at(-1) === '"' || prefix.at(-1) === "'") {
    // The value is quoted (`"Authorization": "…"`, `Authorization: '…'`): to the quote that closes it. On a shell line,
    // a quote the shell reads is its own (opening: to its close; closing the header's quotes, `-H 'Authorization:
    // '"$AUTH"`: no more); one inside other quotes (a JSON body's) closes before they do, or it is not known to.
    const qp = at + prefix.length - 1;
    const needle = prefix.at(-2) === '\\' ? prefix.slice(-2) : prefix.at(-1)!;
    const opened = q?.closeOf.get(qp);
    if (opened !== undefined) end = opened < 0 ? lineEnd : Math.min(opened, lineEnd);
    else if (!q?.closes(qp)) {
      const close = next.of(needle, qp + 1);
      const held = q?.enclosing(qp); // (-1: quotes never closed, which run to the line's end)
      if (close <= (held === undefined || held < 0 ? lineEnd : Math.min(held, lineEnd))) end = close;
    }
  } else if (before === '"' || before === "'") {
    // (on a shell line, only a quote that opens there holds the header: `echo "a"Authorization:x b` is not held; in
    // other text an escaped quote, `\"Authorization: Bot S3cret\"`, is closed by one)
    const close = q ? q.closeOf.get(name - 1) : next.of(text[name - 2] === '\\' ? `\\${before}` : before, read);
    if (close !== undefined) end = close < 0 ? lineEnd : close <= lineEnd ? close : end;
  } else if (name === at) {
    // A header starting a line is data (a here-document's request or YAML, an argument): no shell command is named
    // `Authorization:`. (`-H Authorization:x https://…` after a line continuation is a shell line's words.)
    const from = Math.max(0, at - 64);
    if (LINE_HEADER.test(text.slice(from, at)) || (from === 0 && TEXT_HEADER.test(text.slice(0, at)))) end = lineEnd;
  }
  while (end > read && /\s/.test(text[end - 1]!)) end--;
  return end;
}

/**
 * An argument that is an Authorization header, or curl's option given one (`-HAuthorization: …`, `--header=…`): to its
 * value (a quoted one is read to its quote as in any text: `Authorization: "[redacted]"`).
 */
const ARGUMENT_HEADER = /^(?:-H[ \t]*|--header=)?[ \t]*(?:proxy-)?authorization[ \t]*:[ \t]*(?=[^\s"'])/i;

/** The value of a word that is an Authorization header (ARGUMENT_HEADER: `"-H Authorization: Bot S3cret"`), as a span. */
function headerArgument(value: string): Array<[number, number]> {
  const m = ARGUMENT_HEADER.exec(value);
  return m ? [[m[0].length, value.length]] : [];
}

/** What may stand before a header that starts a line: a line break (or, TEXT_HEADER, the text's start) and blanks. */
const LINE_HEADER = /[\r\n][ \t]*$/;
const TEXT_HEADER = /^[ \t]*$/;

/**
 * Where `needle` is next found in a text from a place on, for readers whose places only grow (authHeaders): each
 * search's answer is kept and serves every later place up to it, so a line of many headers is read once, not once
 * for each (the text's length when it is not found).
 */
class NextOf {
  readonly #found = new Map<string, { from: number; at: number }>();
  constructor(private readonly text: string) {}

  of(needle: string, from: number): number {
    const known = this.#found.get(needle);
    if (known && from >= known.from && from <= known.at) return known.at;
    const i = this.text.indexOf(needle, from);
    const at = i < 0 ? this.text.length : i;
    this.#found.set(needle, { from, at });
    return at;
  }
}

/** Where an Authorization token from `from`, read to `end`, ends (throughSubstitutions: on to a blank or quote). */
function tokenEnd(text: string, from: number, end: number): number {
  return throughSubstitutions(text, from, end, (at) => wordEnd(text, at, /[\s'"]/));
}

/**
 * Where a secret read from `from` to `end` ends when a command substitution in it was cut there (at a blank in it):
 * at the substitution's end (where the words cannot read it, roughly: unreadSubstitutionEnd), and on as `rest` reads
 * from there (what follows it in its word is the secret's too).
 */
function throughSubstitutions(text: string, from: number, end: number, rest: (at: number) => number): number {
  // (an escaped one is text: `\``, also when the escape is just before `from`)
  for (let p = text[from - 1] === '\\' ? from + 1 : from; p < end; p++) {
    if (text[p] === '\\') {
      p++;
      continue;
    }
    const closed = substitutionAt(text, p);
    if (closed === undefined) continue;
    if (closed > end) end = Math.max(closed, rest(closed));
    p = closed - 1; // (what is inside it is its own)
  }
  return end;
}

/**
 * Where the substitution that opens at `at` ends (after its `)` or backquote), if one opens there: a command
 * substitution, `$(…)`, or a process substitution, `<(…)` or `>(…)` (`PGPASSFILE=<(echo h:5432:db:u:S3cret)`), read as
 * the words read one (substitutionEnd) or, where they cannot, roughly (unreadSubstitutionEnd); a backquoted one only
 * when another backquote closes it on its line (one that none closes is text).
 */
function substitutionAt(text: string, at: number): number | undefined {
  const c = text[at];
  if (c === '`') {
    for (let i = at + 1; i < text.length && text[i] !== '\n'; i++) {
      if (text[i] === '\\') i++;
      else if (text[i] === '`') return i + 1;
    }
    return undefined;
  }
  if ((c !== '$' && c !== '<' && c !== '>') || text[at + 1] !== '(') return undefined;
  return (c === '$' ? substitutionEnd(text, at) : processSubstitutionEnd(text, at)) ?? unreadSubstitutionEnd(text, at + 1);
}

/**
 * `text` with each PEM or PGP private key's body (PEM_BEGIN: `-----BEGIN OPENSSH PRIVATE KEY-----`, written by a
 * here-document) redacted, to its END line (to the end of the text when its END line is missing).
 */
function privateKeys(text: string): string {
  let out = '';
  let copied = 0;
  const begins = new RegExp(PEM_BEGIN.source, 'g');
  for (let m = begins.exec(text); m; m = begins.exec(text)) {
    const at = m.index + m[0].length;
    const end = text.indexOf(`-----END ${m[1]}-----`, at);
    const stop = end < 0 ? text.length : end;
    collected?.push(text.slice(at, stop).trim());
    out += `${text.slice(copied, at)}[redacted]${end < 0 ? '' : '\n'}`;
    copied = stop;
    begins.lastIndex = stop;
  }
  return out + text.slice(copied);
}

/**
 * `text` with the value of each assignment naming a secret redacted. A name that names none is passed over and its
 * value read on for more (`--from-literal=password=X`, `--env=DB_PASSWORD=X`).
 */
function assignments(text: string, shell: boolean): string {
  let out = '';
  let copied = 0;
  let quotes: ShellQuotes | undefined;
  const names = new RegExp(ASSIGNMENT_NAME.source, 'g');
  for (let m = names.exec(text); m; m = names.exec(text)) {
    if (!namesSecret(m[1]!)) continue;
    const at = m.index + m[0].length;
    const value = text.slice(at, valueEnd(text, at, shell ? (quotes ??= new ShellQuotes(text)) : undefined));
    // (a value read and not taken is not read again for each name in it: `pwd_file=x,` repeated was quadratic)
    names.lastIndex = Math.max(names.lastIndex, at + value.length);
    if (value === '' || !assignedSecret(m[1]!, value)) continue;
    const shown = openedSecret(value);
    out += `${text.slice(copied, at)}${shown}`;
    if (shown !== value) collected?.push(value); // (not one a reading opened already: its hidden parts are collected)
    copied = at + value.length;
    names.lastIndex = copied;
  }
  return out + text.slice(copied);
}

/** Where an assignment's value starting at `at` ends (assignedValue), through a command substitution in it. */
function valueEnd(text: string, at: number, quotes?: ShellQuotes): number {
  return throughSubstitutions(text, at, assignedValue(text, at, quotes), (c) => assignedValue(text, c, quotes));
}

/**
 * Where an assignment's value starting at `at` ends: at a blank, `;` or `&`, through every quoted part
 * (`ab"cd"`; a quote never closed runs to the end), but a comma or closing bracket right after a quote ends it (a
 * JSON body's `"password":"x","user":"ann"`). On a shell line (`quotes`), a quote the shell reads as closing ends it
 * (`-H 'X-Token:S3cret' https://x`: the value is S3cret), and a quote inside the other kind's quotes is a JSON
 * body's, paired before they close. Each quote is looked for once, so the text is read in linear time.
 */
function assignedValue(text: string, at: number, quotes?: ShellQuotes): number {
  let i = at;
  while (i < text.length) {
    const c = text[i]!;
    if (c === "'" || c === '"') {
      const close = quotes?.closeOf.get(i);
      if (quotes?.closes(i)) return i;
      if (close !== undefined) {
        if (close < 0) return text.length;
        i = close + 1;
        continue;
      }
      const limit = quotes?.closingAfter(i) ?? text.length;
      const pair = text.indexOf(c, i + 1);
      if (pair < 0 || pair > limit) return limit;
      i = pair + 1;
    } else if (/[\s;&]/.test(c) || (/[,}\]]/.test(c) && /['"]/.test(text[i - 1] ?? ''))) return i;
    else i++;
  }
  return i;
}

/** A shell line's quotes: each opening quote's closing one (-1: never closed), and where quotes close, in order. */
class ShellQuotes {
  readonly closeOf = new Map<number, number>();
  readonly #closing: number[] = [];
  readonly #opening: number[] = [];

  constructor(text: string) {
    let open = -1;
    for (let i = 0; i < text.length; i++) {
      const c = text[i]!;
      if (open < 0 && c === '\\') i++;
      else if (open < 0 && (c === "'" || c === '"')) {
        open = i;
        this.#opening.push(i);
      }
      else if (open >= 0 && text[open] === '"' && c === '\\') i++;
      else if (open >= 0 && c === text[open]) {
        this.closeOf.set(open, i);
        this.#closing.push(i);
        open = -1;
      }
    }
    if (open >= 0) this.closeOf.set(open, -1);
  }

  /** Where the quoted part holding `i` (after its opening quote) closes (-1: never), if one holds it. */
  enclosing(i: number): number | undefined {
    const k = firstAtLeast(this.#opening, i) - 1;
    if (k < 0) return undefined;
    const close = this.closeOf.get(this.#opening[k]!)!;
    return close < 0 || close >= i ? close : undefined;
  }

  /** Whether the quote at `i` closes a quoted part. */
  closes(i: number): boolean {
    return this.#closing[firstAtLeast(this.#closing, i)] === i;
  }

  /** Where the first quoted part to close after `i` closes, if any does. */
  closingAfter(i: number): number | undefined {
    return this.#closing[firstAtLeast(this.#closing, i + 1)];
  }
}

/** The texts redacted while {@link commandSecrets} reads a command line. */
let collected: string[] | undefined;

/**
 * The credentials `redactCommandLine(command)` hides, as written and without their quotes and backslashes, longest
 * first: for text that quotes a command line's words or readings of it (a policy decision's reason, `read as the
 * shell reads it ('mysql -pX')`), which {@link redactSecretsIn} redacts.
 */
export function commandSecrets(command: string): string[] {
  collected = [];
  try {
    // (a line too deep to read is all secret: a reason quoting it falls back)
    if (redactCommandLine(command) === UNREADABLE) return [command];
    const found = collected.flatMap((t) => [t, t.replace(/['"\\]/g, '')]).filter((t) => t !== '' && t !== '[redacted]');
    return [...new Set(found)].sort((a, b) => b.length - a.length);
  } finally {
    collected = undefined;
  }
}

/**
 * `text` with every occurrence of each of `secrets` (commandSecrets') replaced by `[redacted]`. A secret of a few
 * characters would be replaced wherever those characters stand in prose (`re[redacted]d` for `-pa`): when one is in
 * `text`, `instead` is given in its place, if there is one.
 */
export function redactSecretsIn(text: string, secrets: readonly string[], instead?: string): string {
  if (instead !== undefined && secrets.some((s) => s.length < 4 && text.includes(s))) return instead;
  return secrets.reduce((t, secret) => t.split(secret).join('[redacted]'), text);
}

/**
 * The child's argv as the audit log and the recording's title keep it: a CI step's command line often
 * carries a credential (`--password X`, `PGPASSWORD=X`, `postgres://u:X@h`, `--token=X`, `mysql -pX`,
 * `curl -u user:X`, `sshpass -p X`), which the log must never hold (ARCHITECTURE.md §4), so such values are
 * `[redacted]`; the child itself gets them as given. An argument holding spaces (`sh -c 'mysql -pX db'`) is
 * read as a shell command line of its own too.
 */
export function redactArgv(argv: readonly string[]): string[] {
  return readable(() => remembering(() => redactWords(argv, argv, false).words.map((a) => {
    // (an argument is one word: a header in it holds the rest, `-HAuthorization: Bot S3cret`)
    const header = ARGUMENT_HEADER.exec(a);
    if (header) return `${header[0]}[redacted]`;
    if (!/\s/.test(a)) return secretText(a, false);
    return secretText(redactScript(a));
  })), () => argv.map(() => UNREADABLE));
}

/** A command line given as one string (an SSH exec request), its credentials redacted as {@link redactArgv}'s. */
export function redactCommandLine(command: string): string {
  const read = () => remembering(() => secretText(redactScript(command)));
  // (read within another reading: that one's level and its fallback are the line's)
  if (scriptDepth > 0 || innerMemo !== undefined) return read();
  shellLine = true;
  try {
    return readable(read, () => UNREADABLE);
  } finally {
    shellLine = false;
  }
}

/** What a command line (or argument) too deep to read is recorded as: hidden whole. */
const UNREADABLE = '[redacted]';

/**
 * `read()`, or `whole()` where the line is too deep for the readings' expressions: their backtracking stack runs out
 * (a RangeError) on some lines of a few hundred KB (a quote never closed, 600 KB of it). Fail closed: nothing of it is
 * shown. The readings' state is their own again (each depth and memo is reset as its reading unwinds).
 */
function readable<T>(read: () => T, whole: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof RangeError) return whole();
    throw e;
  }
}

/** `f()` with innerReadings' readings kept until the outermost such call returns (innerMemo). */
function remembering<T>(f: () => T): T {
  const outermost = innerMemo === undefined;
  if (outermost) innerMemo = new Map();
  try {
    return f();
  } finally {
    if (outermost) innerMemo = undefined;
  }
}
