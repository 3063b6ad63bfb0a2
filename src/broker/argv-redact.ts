/**
 * Credentials on a command line, redacted before it is recorded: `pcigate exec`'s argv (pg-exec.ts), an SSH exec
 * request's command (ssh-session.ts) and the approval request it files (ssh-approval.ts). The command itself
 * runs as given.
 */
import { redactedSpans, SHELL_WORD, shellWord } from './shell-words.js';

/**
 * What names a credential in a word: password, passwd, pwd, secret, token, api key, private key, credential. Words are
 * tested in two steps (their characters, then this, unanchored): a pattern of the word around the keyword backtracks
 * cubically, and an SSH client chooses the command line (`.pass` repeated over 5 KB stalled every session for 3 s).
 */
const SECRET_KEYWORD = /pass(?:word)?|passwd|pwd|secret|token|api[_-]?key|private[_-]?key|credential/i;
/** A name made of word characters, dots and dashes (`PGPASSWORD`, `db.password`, `api-key`) that names a credential. */
const secretName = (name: string) => /^[\w.-]+$/.test(name) && SECRET_KEYWORD.test(name);
/** `--password VALUE`: the flag alone, its value the next argument. */
const secretFlagName = (flag: string) => /^--?[\w.-]+$/.test(flag) && SECRET_KEYWORD.test(flag);
/**
 * Flags (or settings) named for a secret whose value is not one: a switch (`--no-password`), or a flag whose value
 * names where a secret is (`--password-file PATH`, `--secret-dir DIR`, `--token-env NAME`, `credential_process`).
 * Hidden, an approver would not see what a held command works on (`dropdb --no-password production`).
 */
const NOT_A_SECRET_VALUE = /^--?(?:no|skip|ask(?:-[a-z]+)?)-|[-_](?:file|dir|path|stdin|fd|env|prompt|cmd|command|process|source|length|len|min|max|policy)$/i;
/**
 * `--password=VALUE`, `PGPASSWORD=VALUE`, `password=VALUE` in a connection string, `token: VALUE`, and a JSON
 * body's `"password": "VALUE"` (the key's closing quote before the colon).
 */
const ASSIGNMENT_CANDIDATE = /(?<![\w.-])([\w.-]+)(["']?\s*[=:]\s*)('[^']*'|"[^"]*"|[^\s'";&]+)/g;
/** An HTTP Authorization header (`-H 'Authorization: Bearer …'`): its whole value, to the end of the word's quote. */
const AUTH_HEADER = /(\b(?:proxy-)?authorization\s*:\s*)([^'"\n]+)/gi;
/**
 * `postgres://user:secret@host`: the password part of a URL (up to 1 KiB: bounded, as every place a match may start
 * in a client's text is read on from there, `a://b:c` repeated was quadratic).
 */
const URL_PASSWORD = /((?<![a-z0-9+.-])[a-z][a-z0-9+.-]*:\/\/[^\s:/@'"]{0,256}:)([^\s@'"]{1,1024})(@)/gi;

type Redact = (value: string) => string;
const redacted: Redact = () => '[redacted]';
/** `user:password`: the part after the first colon (curl prompts when there is none). */
const userPassRedacted: Redact = (v) => (v.includes(':') ? `${v.slice(0, v.indexOf(':') + 1)}[redacted]` : v);
/** An OpenSSL pass phrase argument: `pass:X` is one; `env:NAME`, `file:PATH`, `fd:N` and `stdin` say where one is. */
const passPhraseRedacted: Redact = (v) => (/^(?:env|file|fd):|^stdin$/.test(v) ? v : v.startsWith('pass:') ? 'pass:[redacted]' : '[redacted]');
/** An OpenSSL `-macopt`/`-kdfopt`/`-pkeyopt` setting: a key (`key:X`, `hexkey:X`); `digest:SHA256` is none. */
const keyOptionRedacted: Redact = (v) => v.replace(/^((?:hex)?key:)[\s\S]+/i, '$1[redacted]');

/** Common programs that take a password on the command line in a form no word says is one. */
interface ProgramSecrets {
  program: RegExp;
  /** `-p X`, `-pX` (a short flag) or `--flag=X`: the value is the secret. */
  value?: string[];
  /** Only `-pX` is: the MySQL clients' `-p` alone prompts, and the word after it is a database. */
  attached?: string[];
  userPass?: string[];
  passPhrase?: string[];
  keyOption?: string[];
  /** Its options are whole words, never run into their value: OpenSSL's `-kfile` is not `-k` with `file`. */
  wholeOptions?: boolean;
  /** Which arguments (after the program's name, as it gets them) are a password by their place. */
  positional?: (args: readonly string[]) => number[];
}
const PROGRAM_SECRETS: readonly ProgramSecrets[] = [
  { program: /^(?:mysql|mariadb)[\w-]*$/, attached: ['-p'] },
  { program: /^sshpass$/, value: ['-p'] },
  { program: /^curl$/, userPass: ['-u', '--user', '-U', '--proxy-user'], value: ['--oauth2-bearer'] },
  { program: /^redis-cli$/, value: ['-a'] },
  { program: /^htpasswd$/, positional: htpasswdPassword },
  {
    program: /^openssl$/, wholeOptions: true, passPhrase: ['-pass', '-passin', '-passout', '-password', '-dpass'],
    value: ['-k', '-K', '-hmac', '-psk'], keyOption: ['-macopt', '-kdfopt', '-pkeyopt'], positional: opensslPasswd,
  },
  { program: /^aws$/, positional: awsSecretSetting },
];

/** `-C cost` and `-r rounds`: htpasswd's options that take a value. */
const HTPASSWD_VALUE = /^-[A-Za-z]*[Cr]$/;
/** `htpasswd -b FILE USER PASSWORD`, `-nb USER PASSWORD` (`b` among its one-letter flags): the last positional word. */
function htpasswdPassword(args: readonly string[]): number[] {
  const flags = args.filter((a) => /^-[A-Za-z]+$/.test(a)).join('');
  const words = positionals(args, HTPASSWD_VALUE);
  return flags.includes('b') && words.length >= (flags.includes('n') ? 2 : 3) ? [words.at(-1)!] : [];
}

/** `openssl passwd`'s options that take a value (`-salt xyz`): not a password. */
const OPENSSL_PASSWD_VALUE = /^-(?:salt|in|rand|writerand|provider|provider-path|propquery)$/;
/** `openssl passwd [options] PASSWORD…`: its positional words, unless `-stdin` or `-in FILE` gives the passwords. */
function opensslPasswd(args: readonly string[]): number[] {
  if (args[0] !== 'passwd' || args.some((a) => /^-(?:stdin|in)(?:=|$)/.test(a))) return [];
  return positionals(args, OPENSSL_PASSWD_VALUE).filter((i) => i > 0);
}

/** An aws option that takes a value (`--profile ci`): any `--name` but its switches (`--debug`, `--no-paginate` …). */
const AWS_VALUE = /^--(?!debug$|no-|cli-auto-prompt$)[^=]+$/;
/** `aws configure set NAME VALUE`: the value, when the setting (`default.aws_session_token`'s last part) is a secret. */
function awsSecretSetting(args: readonly string[]): number[] {
  const at = args.findIndex((a, i) => a === 'configure' && args[i + 1] === 'set');
  const [name, value] = at < 0 ? [] : positionals(args.slice(at + 2), AWS_VALUE).map((i) => i + at + 2);
  const setting = name === undefined ? '' : args[name]!.slice(args[name]!.lastIndexOf('.') + 1);
  return value !== undefined && secretName(setting) && !NOT_A_SECRET_VALUE.test(setting) ? [value] : [];
}

/** The indexes of `args`' positional words: neither an option (`-x`) nor the value of one `takesValue` matches. */
function positionals(args: readonly string[], takesValue: RegExp): number[] {
  const out: number[] = [];
  for (let i = 0; i < args.length; i++) {
    if (!/^-./.test(args[i]!)) out.push(i);
    else if (takesValue.test(args[i]!)) i++;
  }
  return out;
}

/** A control operator (`;`, `&&`, `|`, `(`, a newline): it ends a command, and the next word starts one. */
const SEPARATOR = /^(?:[;&|\n]+|[()])$/;
const PIPE = /^\|&?$/;
/** A redirection (`>out`, `2>&1`, `<<<word`); alone (`>`, `2>>`, `<<<`), the next word is its target. */
const REDIRECT = /^(?:\d*[<>]|&>)/;
const REDIRECT_ALONE = /^(?:\d*[<>]+[&|]?|&>>?)$/;
const NONE = /(?!)/;
/**
 * Words before a command that are not its name, each with its options that take the next word (`sudo -u postgres
 * psql`, `env -u HOME`, `nice -n 5`); the shell's reserved words (`if mysql …`, `! psql …`, `{ …`) are such too,
 * as are assignments (`PGPASSWORD=… psql`).
 */
const BEFORE_COMMAND = new Map<string, RegExp>([
  ['sudo', /^-[A-Za-z]*[CDghpRrTtUu]$|^--(?:user|group|host|prompt|chdir|chroot|role|type|other-user|close-from|command-timeout)$/],
  ['env', /^-[CSu]$|^--(?:chdir|split-string|unset)$/],
  ['exec', /^-a$/], ['time', /^-[fo]$/], ['nice', /^-n$/], ['xargs', /^-[adEILnPs]$/],
  ...['nohup', 'command', 'if', 'then', 'else', 'elif', 'while', 'until', 'do', '!', '{'].map((w) => [w, NONE] as const),
]);
const ASSIGNMENT = /^[A-Za-z_]\w*=/;

/**
 * A line's words as written and as their program gets them (`bare`: a shell word's quotes removed), and the new
 * values rules give some; `shell`: a shell line's words, whose operators and redirections are no values.
 */
interface Line { words: readonly string[]; bare: readonly string[]; shell: boolean; claimed: Map<number, string> }
/** One command among a line's words: its first, its name's (none: `sudo` alone) and the end (after its operator). */
interface Command { start: number; name?: number; end: number }

const programName = (bare: string) => bare.slice(bare.lastIndexOf('/') + 1);

/** `bare` (one word of `rules`' program) with its password redacted; `then` is told when the next word is it. */
function programSecret(rules: ProgramSecrets, bare: string, then: (f: Redact) => void): string {
  const options: Array<[string[] | undefined, Redact]> = [
    [rules.value, redacted], [rules.userPass, userPassRedacted], [rules.passPhrase, passPhraseRedacted], [rules.keyOption, keyOptionRedacted],
  ];
  for (const [flags, redact] of options) {
    for (const f of flags ?? []) {
      const short = !f.startsWith('--') && !rules.wholeOptions;
      if (bare === f) { then(redact); return bare; }
      if (!short && bare.startsWith(`${f}=`)) return `${f}=${redact(bare.slice(f.length + 1))}`;
      if (short && bare.startsWith(f) && bare.length > f.length) return `${f}${redact(bare.slice(f.length))}`;
    }
  }
  for (const f of rules.attached ?? []) if (bare.startsWith(f) && bare.length > f.length) return `${f}[redacted]`;
  return bare;
}

/**
 * Whether `flag` takes a secret as its next word. libpq's `--password` is a switch (it prompts; the next word is a
 * database), but a password typed after it by mistake would be kept in clear: the word is redacted all the same.
 */
function secretFlag(flag: string): boolean {
  return secretFlagName(flag) && !NOT_A_SECRET_VALUE.test(flag);
}

/** The line's commands: each named by its first word that is not `sudo`, its options, `if`, `FOO=1`, `2>/dev/null` …. */
function commands(line: Line): Command[] {
  const out: Command[] = [];
  let c: Command = { start: 0, end: line.words.length };
  let options: RegExp | undefined;
  let skip = false;
  line.words.forEach((w, i) => {
    const bare = line.bare[i]!;
    const before = BEFORE_COMMAND.get(programName(bare));
    if (SEPARATOR.test(w)) {
      out.push({ ...c, end: i + 1 });
      c = { start: i + 1, end: line.words.length };
      options = undefined;
      skip = false;
    } else if (c.name !== undefined) return;
    else if (skip) skip = false;
    else if (before) options = before;
    else if (options && bare.startsWith('-')) skip = options.test(bare);
    else if (line.shell && REDIRECT.test(w)) skip = REDIRECT_ALONE.test(w);
    else if (!ASSIGNMENT.test(bare)) c.name = i;
  });
  out.push(c);
  return out;
}

/** Command `c`'s arguments (indexes): after its name, up to its operator, without a shell line's redirections. */
function argIndexes(line: Line, c: Command): number[] {
  const out: number[] = [];
  for (let i = c.name! + 1; i < c.end && !SEPARATOR.test(line.words[i]!); i++) {
    if (!line.shell || !REDIRECT.test(line.words[i]!)) out.push(i);
    else if (REDIRECT_ALONE.test(line.words[i]!)) i++;
  }
  return out;
}

/** Command `c`'s program's own password options and places (PROGRAM_SECRETS), claimed in `line`. */
function programSecrets(line: Line, c: Command): void {
  const rules = c.name === undefined ? undefined : PROGRAM_SECRETS.find((r) => r.program.test(programName(line.bare[c.name!]!)));
  if (!rules) return;
  const args = argIndexes(line, c);
  let next: Redact | undefined;
  for (const i of args) {
    const bare = line.bare[i]!;
    if (next) {
      if (!bare.startsWith('-')) line.claimed.set(i, next(bare));
      next = undefined;
      continue;
    }
    const out = programSecret(rules, bare, (f) => { next = f; });
    if (out !== bare) line.claimed.set(i, out);
  }
  for (const k of rules.positional?.(args.map((i) => line.bare[i]!)) ?? []) line.claimed.set(args[k]!, '[redacted]');
}

/**
 * chpasswd's input as an earlier echo or printf of its pipeline writes it: `user:password` lines, what follows a
 * line's first colon the password. A newline ends a line, and so does `\n` (as printf, echo -e and dash's echo read it).
 */
class PasswdLines {
  #password = false;
  /** Writes `text`, marking its password characters in `mask` from `at`. */
  write(text: string, mask: boolean[] = [], at = 0): boolean[] {
    for (let i = 0; i < text.length; i++) {
      if (text[i] === '\n' || text.startsWith('\\n', i)) {
        this.#password = false;
        if (text[i] === '\\') i++;
      } else if (this.#password) mask[at + i] = true;
      else this.#password = text[i] === ':';
    }
    return mask;
  }
}

/** Programs that read `user:password` lines on their input. */
const READS_PASSWORDS = /^chg?passwd$/;
/** Rounds of a printf format followed before the arguments left are hidden whole. */
const PRINTF_ROUNDS_MAX = 16;
/** Programs reading passwords (chpasswd) whose pipelines are followed per command line: each walks its pipeline. */
const PASSWORD_READERS_MAX = 8;
/** A printf format's parts: a conversion (its argument written in its place), an escape, a character. */
const PRINTF = /%%|(%[-+ #0]*\d*(?:\.\d*)?[a-zA-Z])|\\[\s\S]|[\s\S]/g;

/**
 * chpasswd's passwords given on the command line: in what an earlier echo or printf of its pipeline writes (`echo
 * 'ann:pw' | chpasswd`, `printf 'ann:%s\n' pw | sudo chpasswd`), or in a here-string (`chpasswd <<< 'ann:pw'`).
 */
function pipedPasswords(line: Line, cmds: readonly Command[]): void {
  let readers = 0;
  for (const c of cmds) {
    if (c.name === undefined || !READS_PASSWORDS.test(programName(line.bare[c.name]!))) continue;
    // (A line of thousands of chpasswd is no real command: past a few, the rest are not followed.)
    if (++readers > PASSWORD_READERS_MAX) break;
    hereStrings(line, c);
    if (!PIPE.test(line.words[c.start - 1] ?? '')) continue;
    const lines = new PasswdLines();
    const from = pipelineStart(line.words, c.start - 1);
    for (const f of cmds) if (f.name !== undefined && f.name >= from && f.end <= c.start) written(line, f, lines);
  }
}

/** Where the pipeline through the `|` at `at` starts: back past other `|`s and whole `( … )` / `{ …; }` groups. */
function pipelineStart(words: readonly string[], at: number): number {
  let depth = 0;
  for (let j = at - 1; j >= 0; j--) {
    const w = words[j]!;
    if (w === ')' || w === '}') depth++;
    else if (w === '(' || w === '{') {
      if (depth === 0) return j + 1;
      depth--;
    } else if (depth === 0 && SEPARATOR.test(w) && !PIPE.test(w)) return j + 1;
  }
  return 0;
}

/** Command `c`'s words, if it is echo or printf, as chpasswd reads what they write: their passwords claimed. */
function written(line: Line, c: Command, lines: PasswdLines): void {
  const name = programName(line.bare[c.name!]!);
  if (name !== 'echo' && name !== 'printf') return;
  const args = argIndexes(line, c);
  const texts = args.map((i) => line.bare[i]!);
  const masks = name === 'echo' ? echoWrites(texts, lines) : printfWrites(texts, lines);
  masks.forEach((m, k) => {
    if (m.some(Boolean)) line.claimed.set(args[k]!, maskRuns(texts[k]!, m));
  });
}

/** `echo [-neE] WORDS…`: the words, then a newline unless `-n`. */
function echoWrites(args: readonly string[], lines: PasswdLines): boolean[][] {
  let options = true;
  let newline = true;
  const masks = args.map((a) => {
    options &&= /^-[neE]+$/.test(a);
    if (options && a.includes('n')) newline = false;
    return options ? [] : lines.write(a);
  });
  if (newline) lines.write('\n');
  return masks;
}

/** `printf FORMAT ARGS…`: the format, again while its conversions take arguments, each argument in its place. */
function printfWrites(args: readonly string[], lines: PasswdLines): boolean[][] {
  let at = 0;
  while (args[at] === '--' || args[at] === '-v') at += args[at] === '-v' ? 2 : 1;
  if (at >= args.length) return [];
  const format = args[at]!;
  const given = args.slice(at + 1);
  const fmt: boolean[] = [];
  const masks: boolean[][] = [];
  for (let round = 0; ; round++) {
    // A format used again for many arguments: past a few rounds each argument left is hidden whole (the client
    // chooses the line; walking a long format once per round was quadratic).
    if (round >= PRINTF_ROUNDS_MAX) {
      for (const g of given.slice(masks.length)) masks.push(g.split('').map(() => true));
      break;
    }
    const before = masks.length;
    for (const m of format.matchAll(PRINTF)) {
      if (m[1]) masks.push(lines.write(given[masks.length] ?? ''));
      else lines.write(m[0], fmt, m.index);
    }
    if (masks.length === before || masks.length >= given.length) break;
  }
  return [...args.slice(0, at).map(() => []), fmt, ...masks.slice(0, given.length)];
}

/** `chpasswd <<< 'ann:pw'`: the here-string is its input. */
function hereStrings(line: Line, c: Command): void {
  for (let i = c.name! + 1; i < c.end; i++) {
    const at = line.words[i] === '<<<' ? i + 1 : i;
    const text = at === i ? line.bare[i]!.slice(3) : line.bare[at];
    if (!line.words[i]!.startsWith('<<<') || text === undefined) continue;
    const out = maskRuns(text, new PasswdLines().write(text));
    line.claimed.set(at, at === i ? `<<<${out}` : out);
  }
}

/** `text` with each run of the characters `secret` marks replaced by `[redacted]`. */
function maskRuns(text: string, secret: readonly boolean[]): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    if (!secret[i]) out += text[i];
    else if (!secret[i - 1]) out += '[redacted]';
  }
  return out;
}

/**
 * Redacts the words of one command line (argv, or a shell line's words): the value after a flag named for a secret
 * (`--password X`), each command's program's own password options and places (PROGRAM_SECRETS), and the
 * passwords written into chpasswd. A command's program is its first word after `sudo`, `env`, `FOO=1`, `if` ….
 */
function redactWords(words: readonly string[], bare: readonly string[], shell: boolean): string[] {
  const line: Line = { words, bare, shell, claimed: new Map() };
  const cmds = commands(line);
  for (const c of cmds) programSecrets(line, c);
  pipedPasswords(line, cmds);
  const done: string[] = [];
  words.forEach((w, i) => {
    // (the previous word as redacted: a password that reads like a flag's name is not one)
    const afterFlag = i > 0 && secretFlag(done[i - 1]!) && !bare[i]!.startsWith('-')
      && !(shell && (SEPARATOR.test(w) || REDIRECT.test(w)));
    done.push(line.claimed.get(i) ?? (afterFlag ? '[redacted]' : bare[i]!));
  });
  return done;
}

/**
 * A shell command line with its words' credentials redacted, and each quoted word whose value holds a space
 * (`sh -c 'mysql -pX db'`, `ssh h "curl -u ann:X …"`) read as a command line of its own. A redacted span of a
 * word's value is written `[redacted]` in its place, keeping the quotes it crossed; the rest is kept as written.
 */
function redactScript(text: string): string {
  let out = '';
  let copied = 0;
  for (const s of scriptSpans(text)) {
    out += `${text.slice(copied, s.start)}[redacted]${s.quotes}`;
    copied = s.end;
  }
  return out + text.slice(copied);
}

/** A redacted part of a command line: where it is, and the quotes it crossed (written after `[redacted]`). */
interface Span { start: number; end: number; quotes: string }

/**
 * The parts of `text` (a shell command line) to redact, in order. A nested script's own parts are found in the
 * word's value and mapped back onto the word as written (so a redaction crossing the nested script's quotes hides
 * that part only, never the whole script from an approver).
 */
function scriptSpans(text: string): Span[] {
  const words = [...text.matchAll(SHELL_WORD)].map((m) => shellWord(m[0], m.index));
  const values = redactWords(words.map((w) => w.raw), words.map((w) => w.value), true);
  const spans: Span[] = [];
  let skipTo = -1;
  words.forEach((w, i) => {
    if (i <= skipTo) return;
    const nested = values[i] === w.value && w.value !== w.raw && /\s/.test(w.value);
    const parts = nested ? merged([...scriptSpans(w.value).map((s): [number, number] => [s.start, s.end]), ...redactedSpans(w.value, secretText(w.value))])
      : redactedSpans(w.value, values[i]!);
    for (const [from, to] of parts) {
      const start = w.at + (from < to ? w.from[from]! : (w.to[from - 1] ?? 0));
      const end = from < to ? w.at + w.to[to - 1]! : start;
      let quotes = '';
      for (let k = from + 1; k < to; k++) quotes += w.raw.slice(w.to[k - 1], w.from[k]).replace(/[^'"`]/g, '');
      spans.push({ start, end, quotes });
    }
    // A password running on through an operator into more text with no blank (`-u ann:pa&ss`, `-pab;cd`): the shell
    // splits it, but it is what was typed as the password, so it is hidden up to the next blank. (An operator alone
    // before a blank, `echo ann:pw; …`, ends the command.)
    const last = spans.at(-1);
    if (parts.length === 0 || !last || last.end !== w.at + w.raw.length) return;
    let j = i + 1;
    for (let at = last.end; j < words.length && words[j]!.at === at; j++) at = words[j]!.at + words[j]!.raw.length;
    if (words.slice(i + 1, j).every((x) => SEPARATOR.test(x.raw))) return;
    last.end = words[j - 1]!.at + words[j - 1]!.raw.length;
    skipTo = j - 1;
  });
  return spans;
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
 * is (`--token-file=/x`, `PasswordAuthentication=no`: a yes/no is no secret); a value redacted already, by a nested
 * script's reading, is left as it is (`[redacted]}` is no value).
 */
function assignedSecret(name: string, value: string): boolean {
  return SECRET_KEYWORD.test(name) && !NOT_A_SECRET_VALUE.test(name) && !/^(?:yes|no|true|false|on|off)$/i.test(value) && !value.startsWith('[redacted]');
}

/** The credentials a word's text tells wherever it is: a URL's password, an Authorization header, `NAME=VALUE`. */
function secretText(text: string): string {
  return text.replace(URL_PASSWORD, '$1[redacted]$3').replace(AUTH_HEADER, '$1[redacted]')
    .replace(ASSIGNMENT_CANDIDATE, (all: string, name: string, sep: string, value: string) => (assignedSecret(name, value) ? `${name}${sep}[redacted]` : all));
}

/**
 * The child's argv as the audit log and the recording's title keep it: a CI step's command line often
 * carries a credential (`--password X`, `PGPASSWORD=X`, `postgres://u:X@h`, `--token=X`, `mysql -pX`,
 * `curl -u user:X`, `sshpass -p X`), which the log must never hold (ARCHITECTURE.md §4), so such values are
 * `[redacted]`; the child itself gets them as given. An argument holding spaces (`sh -c 'mysql -pX db'`) is
 * read as a shell command line of its own too.
 */
export function redactArgv(argv: readonly string[]): string[] {
  return redactWords(argv, argv, false).map((a) => secretText(/\s/.test(a) ? redactScript(a) : a));
}

/** A command line given as one string (an SSH exec request), its credentials redacted as {@link redactArgv}'s. */
export function redactCommandLine(command: string): string {
  return secretText(redactScript(command));
}
