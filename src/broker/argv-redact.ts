/**
 * Credentials on a command line, redacted before it is recorded: `pcigate exec`'s argv (pg-exec.ts), an SSH exec
 * request's command (ssh-session.ts) and the approval request it files (ssh-approval.ts). The command itself
 * runs as given.
 */
/** A word naming a credential: password, passwd, pwd, secret, token, api key, private key, credential. */
const SECRET_WORD = String.raw`[\w.-]*(?:pass(?:word)?|passwd|pwd|secret|token|api[_-]?key|private[_-]?key|credential)[\w.-]*`;
/** `--password VALUE`: the flag alone, its value the next argument. */
const SECRET_FLAG = new RegExp(String.raw`^--?${SECRET_WORD}$`, 'i');
/**
 * Flags named for a secret whose next word is not one: a switch (`--no-password`), or a flag whose value names where
 * a secret is (`--password-file PATH`, `--secret-dir DIR`, `--token-env NAME`). Hidden, an approver would not see
 * what a held command works on (`dropdb --no-password production`).
 */
const NOT_A_SECRET_VALUE = /^--?no-|[-_](?:file|dir|path|stdin|fd|env|prompt|cmd|command|length|len|min|max|policy)$/i;
/**
 * `--password=VALUE`, `PGPASSWORD=VALUE`, `password=VALUE` in a connection string, `token: VALUE`, and a JSON
 * body's `"password": "VALUE"` (the key's closing quote before the colon).
 */
const SECRET_ASSIGN = new RegExp(String.raw`(\b${SECRET_WORD}["']?\s*[=:]\s*)('[^']*'|"[^"]*"|[^\s'";&]+)`, 'gi');
/** An HTTP Authorization header (`-H 'Authorization: Bearer …'`): its whole value, to the end of the word's quote. */
const AUTH_HEADER = /(\b(?:proxy-)?authorization\s*:\s*)([^'"\n]+)/gi;
/** `postgres://user:secret@host`: the password part of a URL. */
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@'"]*:)([^\s@'"]+)(@)/gi;

/**
 * Options of common programs that take a password on the command line in a form no word says is one:
 * `value`: `-p X`, `-pX` (short) or `--flag=X` is the secret; `attached`: only `-pX` is (the MySQL clients'
 * `-p` alone prompts, and the word after it is a database); `userPass`: the value is `user:password` and the
 * part after the first colon is the secret (curl prompts when there is none).
 */
const PROGRAM_SECRETS: ReadonlyArray<{ program: RegExp; value?: string[]; attached?: string[]; userPass?: string[] }> = [
  { program: /^(?:mysql|mariadb)[\w-]*$/, attached: ['-p'] },
  { program: /^sshpass$/, value: ['-p'] },
  { program: /^curl$/, userPass: ['-u', '--user', '-U', '--proxy-user'], value: ['--oauth2-bearer'] },
  { program: /^redis-cli$/, value: ['-a'] },
];
type ProgramSecrets = (typeof PROGRAM_SECRETS)[number];

/** A word that ends a command, so the next word starts one (`;`, `&&`, `|`, `(`, `then`, …). */
const SEPARATOR = /(?:^|[;&|({])$|^(?:then|do|else|elif|!)$/;
/** Words before a command that are not its name: `sudo`, `env`, `PGPASSWORD=… psql`. */
const BEFORE_COMMAND = /^(?:sudo|env|exec|nohup|time|command|xargs|nice)$|^[A-Za-z_]\w*=/;

const unquoted = (word: string) => word.replace(/^['"]|['"]$/g, '');

/** `word`'s quotes stripped (a shell script's `"ann:pw"`), `f` applied, and put back. */
function inQuotes(word: string, f: (bare: string) => string): string {
  const m = /^(['"]?)([\s\S]*?)(['"]?)$/.exec(word)!;
  return `${m[1]}${f(m[2]!)}${m[3]}`;
}

const userPassRedacted = (v: string) => (v.includes(':') ? `${v.slice(0, v.indexOf(':') + 1)}[redacted]` : v);

/** `bare` (one word of `rules`' program) with its password redacted; `then` is told when the next word is it. */
function programSecret(rules: ProgramSecrets, bare: string, then: (f: (v: string) => string) => void): string {
  for (const [flags, redact] of [[rules.value, () => '[redacted]'], [rules.userPass, userPassRedacted]] as const) {
    for (const f of flags ?? []) {
      if (bare === f) { then(redact); return bare; }
      if (f.startsWith('--') && bare.startsWith(`${f}=`)) return `${f}=${redact(bare.slice(f.length + 1))}`;
      if (!f.startsWith('--') && bare.startsWith(f) && bare.length > f.length) return `${f}${redact(bare.slice(f.length))}`;
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
  return SECRET_FLAG.test(flag) && !NOT_A_SECRET_VALUE.test(flag);
}

/**
 * Redacts the words of one command line (argv, or a shell script's words): the value after a flag named for a
 * secret (`--password X`), and the program's own password options (PROGRAM_SECRETS), the program being the
 * first word of each command (after `;`, `&&`, `|`, variable assignments, `sudo`, `env` …).
 */
function redactWords(words: readonly string[]): string[] {
  let atCommand = true;
  let rules: ProgramSecrets | undefined;
  let next: ((v: string) => string) | undefined;
  const done: string[] = [];
  for (const w of words) {
    const bare = unquoted(w);
    let out = w;
    if (next) {
      if (!bare.startsWith('-')) out = inQuotes(w, next);
      next = undefined;
    } else if (done.length > 0 && secretFlag(unquoted(done.at(-1)!)) && !bare.startsWith('-')) {
      // (the previous word as redacted: a password that reads like a flag's name is not one)
      out = '[redacted]';
    } else if (atCommand) {
      if (!BEFORE_COMMAND.test(bare)) {
        const program = bare.slice(bare.lastIndexOf('/') + 1);
        rules = PROGRAM_SECRETS.find((r) => r.program.test(program));
        atCommand = false;
      }
    } else if (rules) {
      const r = rules;
      out = inQuotes(w, (b) => programSecret(r, b, (f) => { next = f; }));
    }
    if (SEPARATOR.test(bare)) { atCommand = true; rules = undefined; }
    done.push(out);
  }
  return done;
}

/**
 * The child's argv as the audit log and the recording's title keep it: a CI step's command line often
 * carries a credential (`--password X`, `PGPASSWORD=X`, `postgres://u:X@h`, `--token=X`, `mysql -pX`,
 * `curl -u user:X`, `sshpass -p X`), which the log must never hold (ARCHITECTURE.md §4), so such values are
 * `[redacted]`; the child itself gets them as given. An argument holding spaces (`sh -c 'mysql -pX db'`) is
 * read as a command line of its own too.
 */
export function redactArgv(argv: readonly string[]): string[] {
  return redactWords(argv).map((a) => {
    const words = /\s/.test(a) ? a.split(/(\s+)/) : undefined;
    const script = words ? mergeWords(words, redactWords(words.filter((_, i) => i % 2 === 0))) : a;
    return script.replace(URL_PASSWORD, '$1[redacted]$3').replace(AUTH_HEADER, '$1[redacted]').replace(SECRET_ASSIGN, '$1[redacted]');
  });
}

/** A command line given as one string (an SSH exec request), its credentials redacted as {@link redactArgv}'s. */
export function redactCommandLine(command: string): string {
  return redactArgv([command])[0]!;
}

/** `parts` (words at even indexes, the spaces between them at odd ones) with the words replaced by `words`. */
function mergeWords(parts: readonly string[], words: readonly string[]): string {
  return parts.map((p, i) => (i % 2 === 0 ? words[i / 2]! : p)).join('');
}
