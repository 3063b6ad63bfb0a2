/**
 * What argv-redact.ts knows of programs to find the credentials on their command lines: the words that name a
 * secret, the password options and places of common programs, the wrappers a command runs behind (`sudo`,
 * `timeout 10`, `docker exec c`, `ssh host`), and which programs read a secret, SQL or a script on their input.
 */
import { redactStatementSecrets } from '../redact-statement-secrets.js';
import { givenLineAt, readsInput } from './shell-programs.js';

/**
 * What names a credential in a word: password, passwd, pwd, pw at the end after `_`, `.` or `-` (`DB_PW`, plink's `-pw`; not `pwgen`, `PW_HOST`, `pw=rw`), secret, token, api key, private key, credential, a name
 * ending in `_auth` (npm's `_auth`, base64 of `user:password`; `BASIC_AUTH`; not `DISABLE_AUTH`) and yarn's
 * `npmAuthIdent` (`user:password`). Words are tested in two steps (their characters, then this, unanchored): a pattern of the word around the keyword backtracks
 * cubically, and an SSH client chooses the command line (`.pass` repeated over 5 KB stalled every session for 3 s).
 */
export const SECRET_KEYWORD = /pass(?:word)?|passwd|pwd|[_.-]pw$|secret|token|api[_-]?key|private[_-]?key|credential|_auth(?!\w)|authident/i;
/**
 * Words that hold a keyword and name no credential: `--passive-ftp`, `bypass`, `compass`, `tokenizer`, an askpass
 * program (`GIT_ASKPASS=/usr/bin/x`), a switch of authentication (`DISABLE_AUTH`, `require_auth`), and a secret's or
 * a token's identifier, name or ARN (`--secret-id prod/db`: which secret, not the secret).
 */
const NOT_A_SECRET_WORD = /passive|bypass|compass|passage|pass-?through|passthru|askpass|tokeni[sz]\w*|credential[-_.]helper|(?<![a-z0-9])(?:disable|skip|enable|no|use|require|set|with|without|allow)_auth|(?:secret|token|credential|api[_-]?key)s?[-_](?:ids?|names?|arns?|refs?|version(?:[-_]id)?|manager|type)(?![a-z])/gi;
/** Whether `name` names a credential: SECRET_KEYWORD in it, outside words that name none. */
export const namesSecret = (name: string) => SECRET_KEYWORD.test(name.replace(NOT_A_SECRET_WORD, ' '));
/** A name made of word characters, dots and dashes (`PGPASSWORD`, `db.password`, `api-key`) that names a credential. */
export const secretName = (name: string) => /^[\w.-]+$/.test(name) && namesSecret(name);
/** `--password VALUE`: the flag alone, its value the next argument. */
export const secretFlagName = (flag: string) => /^--?[\w.-]+$/.test(flag) && namesSecret(flag);
/**
 * Flags (or settings) named for a secret whose value is not one: a switch (`--no-password`), or a flag whose value
 * names where a secret is (`--password-file PATH`, `--secret-dir DIR`, `--token-env NAME`, `credential_process`;
 * libpq's `PGPASSFILE`: argv-redact.ts assignedSecret).
 * Hidden, an approver would not see what a held command works on (`dropdb --no-password production`).
 */
export const NOT_A_SECRET_VALUE = /^--?(?:no|skip|ask(?:-[a-z]+)?)-|[-_](?:file|dir|path|stdin|fd|env|prompt|cmd|command|process|source|length|len|min|max|policy)$/i;

/** A pattern nothing matches: no option of it takes a value. */
const NONE = /(?!)/;

/** docker's (compose's, podman's, nerdctl's) options that take a value, before or between its subcommand's words. */
const DOCKER_GLOBALS = /^(?:-[Hcln]|--(?:host|context|config|log-level|tlscacert|tlscert|tlskey|connection|url|identity|namespace|address)|-[fp]|--(?:file|project-name|project-directory|env-file|profile|ansi|progress|parallel)|--(?:root|runroot|storage-driver|storage-opt|cgroup-manager|tmpdir|events-backend|runtime|module|network-config-dir|imagestore|volumepath|hooks-dir|conmon|network-cmd-path|data-root|snapshotter|cni-path|cni-netconfpath|hosts-dir))$/;
/**
 * `docker run`'s (and `create`'s, podman's, nerdctl's, `compose run`'s) options that take a value: every one but
 * its switches, which are few (`-dit`, `--rm`, `--init` …), so that one it gained since is read as taking a value.
 */
const DOCKER_RUN_VALUE = /^-[ditPqT]*[acehlmpuvw]$|^--(?!(?:rm|init|privileged|read-only|detach|interactive|tty|publish-all|no-healthcheck|oom-kill-disable|sig-proxy|disable-content-trust|quiet|help|use-api-socket|no-deps|service-ports|use-aliases|build|remove-orphans|quiet-pull|no-TTY|dry-run|replace|rmi|env-host|http-proxy|read-only-tmpfs|tls-verify|no-hosts|no-hostname|unsetenv-all|passwd|rootfs|insecure-registry|privileged-without-host-devices)$)[^=]+$/;
/** A value that switches something and is no secret: yes/no, true/false, on/off, enabled/disabled, none. */
export const SWITCH_VALUE = /^(?:yes|no|true|false|on|off|enabled|disabled|none)$/i;
/** pulumi's options that take a value (`-s prod`). */
const PULUMI_VALUE = /^-[sC]$|^--(?:stack|cwd|config-file)$/;
/** kubectl's options that take a value, before its subcommand. */
const KUBECTL_GLOBALS = /^(?:-[nsv]|--(?:namespace|context|cluster|user|server|kubeconfig|token|as|as-group|as-uid|request-timeout|certificate-authority|client-certificate|client-key|tls-server-name|cache-dir|profile|profile-output|v))$/;

export type Redact = (value: string) => string;
export const redacted: Redact = () => '[redacted]';
/** `user:password` (`user%password` for Samba, `user,password` for lftp): the part after the first separator. */
const userPassRedacted = (sep: string): Redact => (v) => (v.includes(sep) ? `${v.slice(0, v.indexOf(sep) + 1)}[redacted]` : v);
/** An OpenSSL pass phrase argument: `pass:X` is one; `env:NAME`, `file:PATH`, `fd:N` and `stdin` say where one is. */
const passPhraseRedacted: Redact = (v) => (/^(?:env|file|fd):|^stdin$/.test(v) ? v : v.startsWith('pass:') ? 'pass:[redacted]' : '[redacted]');
/** An OpenSSL `-macopt`/`-kdfopt`/`-pkeyopt` setting: a key (`key:X`, `hexkey:X`); `digest:SHA256` is none. */
const keyOptionRedacted: Redact = (v) => v.replace(/^((?:hex)?key:)[\s\S]+/i, '$1[redacted]');
/**
 * A statement given to a SQL client (`psql -c`, `mysql -e`, a here-document): read as the Postgres proxy reads one
 * (redact-statement-secrets.ts: PASSWORD clauses, connection strings, URLs, and other servers' IDENTIFIED BY and SET
 * PASSWORD).
 */
export const sqlRedacted: Redact = (v) => redactStatementSecrets(v);
/** sqlplus's `user/password@db` (not `/nolog`, nor `/ as sysdba`: no user before the slash). */
const logonRedacted: Redact = (v) => v.replace(/^([^/@\s]+\/)(?:"[^"]*"|[^@\s]+)/, '$1[redacted]');

/** Common programs that take a password on the command line in a form no word says is one. */
export interface ProgramSecrets {
  program: RegExp;
  /** The rule holds for this subcommand only: the program's first positional words (`docker login`). */
  sub?: string[];
  /** Its options that take a value before its subcommand (`docker --config /x login`). */
  globals?: RegExp;
  /** `-p X`, `-pX` (a short flag) or `--flag=X`: the value is the secret. */
  value?: string[];
  /** Only `-pX` is: the MySQL clients' `-p` alone prompts, and the word after it is a database. */
  attached?: string[];
  /** `user:password` (`userSep`, `:` unless said): what follows the separator. */
  userPass?: string[];
  userSep?: string;
  passPhrase?: string[];
  keyOption?: string[];
  /** A statement (`psql -c '…'`): a PASSWORD clause in it. */
  sql?: string[];
  /** Its options are whole words, never run into their value: OpenSSL's `-kfile` is not `-k` with `file`. */
  wholeOptions?: boolean;
  /**
   * Its one-letter options that take a value, for a program that reads its options as getopt does: they may be
   * bundled (`curl -sSu ann:X`: `-s`, `-S`, then `-u`'s value), and the first one that takes a value takes the rest.
   */
  bundles?: string;
  /** Which arguments (after the program's name, as it gets them) are a password by their place. */
  positional?: (args: readonly string[]) => number[];
  /** How such an argument is redacted (whole, unless said). */
  positionalRedact?: Redact;
  /** Its options named for a secret that take no value (`pulumi config set --secret KEY VALUE`): the next word is none. */
  switches?: string[];
}

export const PROGRAM_SECRETS: readonly ProgramSecrets[] = [
  { program: /^(?:mysql|mariadb)[\w-]*$/, attached: ['-p'], sql: ['-e', '--execute'] },
  { program: /^psql$/, sql: ['-c', '--command'], bundles: 'cdfFhLopPRTUv' },
  { program: /^sshpass$/, value: ['-p'], bundles: 'fdpP' },
  {
    program: /^curl$/, userPass: ['-u', '--user', '-U', '--proxy-user'], value: ['--oauth2-bearer'],
    bundles: 'AbcCdDeEFHKmoPQrTtuUwxXyYz',
  },
  { program: /^redis-cli$/, value: ['-a'] },
  { program: /^htpasswd$/, positional: htpasswdPassword },
  {
    program: /^openssl$/, wholeOptions: true, passPhrase: ['-pass', '-passin', '-passout', '-password', '-dpass'],
    value: ['-k', '-K', '-hmac', '-psk'], keyOption: ['-macopt', '-kdfopt', '-pkeyopt'], positional: opensslPasswd,
  },
  { program: /^aws$/, positional: (args) => settingValue(args, ['configure', 'set'], AWS_VALUE) ?? [] },
  // `npm config set //registry/:_authToken X`, `yarn config set npmAuthToken X`, `git config --global NAME VALUE`
  { program: /^(?:npm|pnpm|yarn)$/, positional: (args) => settingValue(args, ['config', 'set'], NPM_VALUE) ?? settingValue(args, ['set'], NPM_VALUE) ?? [] },
  // (an alias is a command line, read as one: `!git push https://u:X@h`)
  { program: /^git$/, positional: (args) => settingValue(args, ['config', 'set'], GIT_CONFIG_VALUE, /^alias\./) ?? settingValue(args, ['config'], GIT_CONFIG_VALUE, /^alias\./) ?? [] },
  // `pulumi config set --secret KEY VALUE`, `pulumi env set ENV KEY VALUE --secret`: the value whatever the key (there
  // --secret is a switch; in `config set-all --secret k=v` it takes the pair, as any flag so named).
  { program: /^pulumi$/, sub: ['config', 'set'], globals: PULUMI_VALUE, switches: ['--secret'], positional: (args) => pulumiSecret(args, 2) },
  { program: /^pulumi$/, sub: ['env', 'set'], globals: PULUMI_VALUE, switches: ['--secret'], positional: (args) => pulumiSecret(args, 3) },
  { program: /^glab$/, sub: ['auth', 'login'], value: ['-t'] },
  // GitHub's CLI: `gh secret set NAME --body X` (its input is the secret when neither --body nor a file gives it).
  { program: /^gh$/, sub: ['secret', 'set'], globals: /^-R$|^--repo$/, value: ['-b', '--body'] },
  { program: /^az$/, sub: ['login'], value: ['-p', '--password'] },
  { program: /^az$/, sub: ['acr', 'login'], value: ['-p', '--password'] },
  // OpenLDAP's clients: -w is the bind password (-W prompts); ldappasswd's -s and -a are the new and old ones.
  { program: /^ldappasswd$/, value: ['-w', '-s', '-a'], bundles: 'aDdeEfHhOopsRtTUwXyY' },
  { program: /^ldap[a-z]+$/, value: ['-w'], bundles: 'abdDeEfFHhlOopPRsSTUwXyYz' },
  { program: /^(?:sqlcmd|bcp)$/, value: ['-P'], sql: ['-Q', '-q'] },
  { program: /^sqlplus$/, positional: sqlplusLogon, positionalRedact: logonRedacted },
  { program: /^(?:mongo|mongosh)$/, value: ['-p'] },
  { program: /^ipmitool$/, value: ['-P'] },
  // net-snmp: -A and -X are SNMPv3's pass phrases, -c a community string.
  { program: /^snmp(?!d$|trapd$)[a-z]*$/, value: ['-A', '-X', '-c'] },
  // A password hash is no password, but it is a credential to crack.
  { program: /^(?:useradd|usermod)$/, value: ['-p'], bundles: 'bcdefgGkKpPRsuUZ' },
  { program: /^(?:smbclient|rpcclient|smbcacls|smbcquotas|smbget|smbtree|smbtar|net)$/, userPass: ['-U', '--user'], userSep: '%' },
  { program: /^lftp$/, userPass: ['-u', '--user'], userSep: ',' },
  { program: /^(?:xfreerdp|wlfreerdp|sdl-freerdp)3?$/, attached: ['/p:'] },
  { program: /^(?:docker|podman|nerdctl)$/, sub: ['login'], globals: DOCKER_GLOBALS, value: ['-p'] },
  { program: /^helm$/, sub: ['registry', 'login'], value: ['-p'] },
  { program: /^vault$/, sub: ['login'], positional: vaultToken },
  { program: /^rabbitmqctl$/, positional: rabbitmqPassword },
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
/** npm's, pnpm's and yarn's options that take a value (`--location user`); `-g`, `--global`, `--json` take none. */
const NPM_VALUE = /^--(?:location|userconfig|globalconfig|registry|scope|workspace|cwd|prefix|cache|loglevel|dir|filter|otp|tag|reporter|store-dir|modules-dir|virtual-store-dir)$|^-[LwCF]$/;
/** `git config`'s options that take a value (`-f FILE`, `--type bool`), and git's own before `config` (`-C dir`). */
const GIT_CONFIG_VALUE = /^-[fCc]$|^--(?:file|blob|type|default|comment|value|git-dir|work-tree|namespace)$/;

/**
 * `aws configure set NAME VALUE`, `npm config set NAME VALUE…`, `git config NAME VALUE`: each value (an index in `args`)
 * whose setting names a secret (`default.aws_session_token`, `//registry/:_authToken`: its last part after a dot,
 * colon or slash), or undefined when `args` are not that subcommand.
 */
function settingValue(args: readonly string[], sub: readonly string[], takesValue: RegExp, exempt?: RegExp): number[] | undefined {
  const words = positionals(args, takesValue);
  // (its first words: `git add config x` is no setting; the option patterns pass over the program's own options)
  if (!sub.every((w, j) => args[words[j]!] === w)) return undefined;
  // (npm takes several: `npm config set a 1 //r/:_authToken X`; a `name=value` word is an assignment, read as one)
  const out: number[] = [];
  const rest = words.slice(sub.length);
  for (let k = 0; k < rest.length; k += args[rest[k]!]!.includes('=') ? 1 : 2) {
    const name = args[rest[k]!]!;
    const value = rest[k + 1];
    const setting = name.slice(Math.max(...[...'.:/'].map((c) => name.lastIndexOf(c))) + 1);
    if (value !== undefined && !name.includes('=') && secretName(setting) && !NOT_A_SECRET_VALUE.test(setting) && !exempt?.test(name)
      && !SWITCH_VALUE.test(args[value]!)) out.push(value);
  }
  return out;
}

/** `pulumi config set [--secret] KEY VALUE` (`env set ENV KEY VALUE`): the value with --secret, or when the key names a secret. */
function pulumiSecret(args: readonly string[], key: number): number[] {
  const words = positionals(args, PULUMI_VALUE);
  if (words[key + 1] === undefined) return [];
  return args.includes('--secret') || secretName(args[words[key]!]!) ? [words[key + 1]!] : [];
}

/** `sqlplus [-s] [-L] user/password@db [@script]`: its first positional word (`-R level`, `-M opts` take one). */
function sqlplusLogon(args: readonly string[]): number[] {
  return positionals(args, /^-[RM]$/i).slice(0, 1);
}

/** `vault login`'s flags that take a value, when it is written as the next word (`-method userpass`). */
const VAULT_VALUE = /^--?(?:method|path|address|namespace|ns|format|field|ca-cert|ca-path|client-cert|client-key|tls-server-name|wrap-ttl|mfa|header)$/;
/** `vault login TOKEN`: the token (`-method=… username=ann password=X` is read as assignments; `-` reads stdin). */
function vaultToken(args: readonly string[]): number[] {
  const token = positionals(args, VAULT_VALUE)[1];
  return token !== undefined && args[token] !== '-' && !args[token]!.includes('=') ? [token] : [];
}

/** `rabbitmqctl add_user USER PASSWORD`, `change_password USER PASSWORD`, `authenticate_user USER PASSWORD`. */
function rabbitmqPassword(args: readonly string[]): number[] {
  const words = positionals(args, /^(?:-[npt]|--(?:node|timeout|vhost))$/);
  const sub = words[0] === undefined ? '' : args[words[0]]!;
  return /^(?:add_user|change_password|authenticate_user)$/.test(sub) && words[2] !== undefined ? [words[2]] : [];
}

/** The indexes of `args`' positional words: neither an option (`-x`) nor the value of one `takesValue` matches. */
export function positionals(args: readonly string[], takesValue: RegExp): number[] {
  const out: number[] = [];
  for (let i = 0; i < args.length; i++) {
    if (!/^-./.test(args[i]!)) out.push(i);
    else if (takesValue.test(args[i]!)) i++;
  }
  return out;
}

/** Whether `rules` hold for a command with these arguments: its subcommand, if the rule names one. */
export function rulesHold(rules: ProgramSecrets, args: readonly string[]): boolean {
  if (!rules.sub) return true;
  const words = positionals(args, rules.globals ?? NONE);
  return rules.sub.every((s, k) => words[k] !== undefined && args[words[k]!] === s);
}

/** How the value of `rules`' option `flag` is redacted, if it is a secret. */
function optionRedact(rules: ProgramSecrets, flag: string): Redact | undefined {
  if (rules.value?.includes(flag)) return redacted;
  if (rules.userPass?.includes(flag)) return userPassRedacted(rules.userSep ?? ':');
  if (rules.passPhrase?.includes(flag)) return passPhraseRedacted;
  if (rules.keyOption?.includes(flag)) return keyOptionRedacted;
  if (rules.sql?.includes(flag)) return sqlRedacted;
  return undefined;
}

/** `bare` (one word of `rules`' program) with its password redacted; `then` is told when the next word is it. */
export function programSecret(rules: ProgramSecrets, bare: string, then: (f: Redact) => void): string {
  if (rules.bundles && /^-[A-Za-z0-9]{2}/.test(bare)) return bundledSecret(rules, bare, then);
  const flags = [rules.value, rules.userPass, rules.passPhrase, rules.keyOption, rules.sql].flatMap((f) => f ?? []);
  for (const f of flags) {
    const redact = optionRedact(rules, f)!;
    const short = !f.startsWith('--') && !rules.wholeOptions;
    if (bare === f) { then(redact); return bare; }
    if (!short && bare.startsWith(`${f}=`)) return `${f}=${redact(bare.slice(f.length + 1))}`;
    if (short && bare.startsWith(f) && bare.length > f.length) return `${f}${redact(bare.slice(f.length))}`;
  }
  for (const f of rules.attached ?? []) if (bare.startsWith(f) && bare.length > f.length) return `${f}[redacted]`;
  return bare;
}

/** `-sSu ann:X`, `-sSuann:X`: one-letter options bundled as getopt reads them; the first that takes a value ends them. */
function bundledSecret(rules: ProgramSecrets, bare: string, then: (f: Redact) => void): string {
  for (let k = 1; k < bare.length; k++) {
    if (!rules.bundles!.includes(bare[k]!)) continue;
    const redact = optionRedact(rules, `-${bare[k]}`);
    if (!redact) return bare;
    if (k === bare.length - 1) { then(redact); return bare; }
    return bare.slice(0, k + 1) + redact(bare.slice(k + 1));
  }
  return bare;
}

/**
 * A word a command runs behind (`sudo -u postgres psql`, `timeout 10 psql`, `docker exec db psql`, `ssh h psql`):
 * its options that take the next word, how many words it takes before the command, or the word after which the
 * command starts (`kubectl exec pod -- psql`); with `sub`, only when its next word is that (`docker exec`). A program
 * may be a wrapper in more than one way (`docker exec C`, `docker run [options] IMAGE`): the first whose `sub` holds.
 */
export interface Wrapper {
  takesValue: RegExp;
  positionals?: number;
  until?: string;
  /** Only a wrapper with one of these subcommands (`docker exec`, `docker compose exec`); else the program itself. */
  sub?: string[][];
  /** Options that take a value before or between its subcommand's words (`docker -H h exec`, `kubectl -n x exec`). */
  globals?: RegExp;
  /** Its options come before its words (`docker exec [options] C -x …`: `-x` is the command's). */
  optionsFirst?: boolean;
  /** Its word is an image, which runs its entrypoint (`--entrypoint X`) when given no command (`docker run`). */
  image?: boolean;
}
/**
 * The wrappers known. The shell's reserved words (`if mysql …`, `! psql …`, `{ …`: shell-programs.ts's RESERVED) precede a
 * command too, as do assignments (`PGPASSWORD=… psql`), which the reader skips by their form.
 */
const WRAPPER_LIST: Array<[string, Wrapper | Wrapper[]]> = [
  ['sudo', { takesValue: /^-[A-Za-z]*[CDghpRrTtUu]$|^--(?:user|group|host|prompt|chdir|chroot|role|type|other-user|close-from|command-timeout)$/ }],
  ['doas', { takesValue: /^-[A-Za-z]*[uC]$/ }],
  ['runuser', { takesValue: /^-[ugG]$|^--(?:user|group|supp-group)$/ }],
  ['env', { takesValue: /^-[CSu]$|^--(?:chdir|split-string|unset)$/ }],
  ['exec', { takesValue: /^-a$/ }], ['time', { takesValue: /^-[fo]$/ }], ['nice', { takesValue: /^-n$/ }],
  ['xargs', { takesValue: /^-[adEILnPs]$/ }], ['stdbuf', { takesValue: /^-[ioe]$/ }], ['ionice', { takesValue: /^-[cnpPu]$/ }],
  ['watch', { takesValue: /^-n$|^--interval$/ }],
  ['timeout', { takesValue: /^-[sk]$|^--(?:signal|kill-after)$/, positionals: 1 }],
  ['chroot', { takesValue: /^--(?:userspec|groups)$/, positionals: 1 }],
  ['ssh', { takesValue: /^-[46AaCfGgKkMNnqsTtVvXxYy]*[BbcDEeFIiJLlmOopQRSWw]$/, positionals: 1 }],
  ['sshpass', { takesValue: /^-[fdpP]$/ }],
  ...['docker', 'podman', 'nerdctl'].map((w): [string, Wrapper[]] => [w, [{
    sub: [['exec'], ['container', 'exec'], ['compose', 'exec']], globals: DOCKER_GLOBALS,
    takesValue: /^-[dit]*[euw]$|^--(?:env|env-file|user|workdir|detach-keys|index)$/, positionals: 1, optionsFirst: true,
  }, {
    // (the image, or compose's service, then the command it runs)
    sub: [['run'], ['create'], ['container', 'run'], ['container', 'create'], ['compose', 'run']], globals: DOCKER_GLOBALS,
    takesValue: DOCKER_RUN_VALUE, positionals: 1, optionsFirst: true, image: true,
  }]]),
  ...['docker-compose', 'podman-compose'].map((w): [string, Wrapper[]] => [w, [{
    sub: [['exec']], globals: DOCKER_GLOBALS, takesValue: /^-[dT]*[euw]$|^--(?:env|user|workdir|index)$/, positionals: 1, optionsFirst: true,
  }, { sub: [['run']], globals: DOCKER_GLOBALS, takesValue: DOCKER_RUN_VALUE, positionals: 1, optionsFirst: true, image: true }]]),
  // (`kubectl run pod --image=x -- mysql …`, `kubectl debug pod -it --image=x -- sh`: the command after `--`)
  ...['kubectl', 'oc'].map((w): [string, Wrapper] => [w, { sub: [['exec'], ['run'], ['debug']], globals: KUBECTL_GLOBALS, takesValue: NONE, until: '--' }]),
  ...['nohup', 'setsid', 'command', 'builtin', 'unbuffer', 'eval'].map((w): [string, Wrapper] => [w, { takesValue: NONE }]),
];
export const WRAPPERS = new Map<string, readonly Wrapper[]>(WRAPPER_LIST.map(([name, w]) => [name, Array.isArray(w) ? w : [w]]));

/**
 * Where a shell's `-c` line is among `names` (a program's file name, then its arguments), or -1: `sh -c '…'`, `bash
 * -o pipefail -lc '…'` (`-o`/`-O` take a word), shell-programs.ts's givenLineAt read past their values.
 */
export function shellLineAt(names: readonly string[]): number {
  const kept = names.filter((a, i) => !(i > 1 && /^[-+][oO]$/.test(names[i - 1]!)) && !/^[-+][oO]$/.test(a));
  const at = givenLineAt(kept, 0);
  return at < 0 ? -1 : names.indexOf(kept[at]!, at);
}

/**
 * What a program reads on its input that must not be recorded: a secret whole, `user:password` lines, SQL, a script;
 * or what is written into a credentials file (`cat > ~/.pgpass <<EOF`): `.pgpass` lines, `.netrc` tokens.
 */
export type InputKind = 'secret' | 'lines' | 'sql' | 'script' | 'pgpass' | 'netrc';

/**
 * Where a line names a credentials file by the variable or option that points a program at it: libpq's `PGPASSFILE`,
 * the `NETRC` that Go, Python's netrc and others read, and curl's `--netrc-file`.
 */
const NAMES_CREDENTIALS_FILE: ReadonlyArray<[RegExp, InputKind]> = [
  [/^PGPASSFILE=(.+)$/, 'pgpass'], [/^NETRC=(.+)$/, 'netrc'], [/^--netrc-file=(.+)$/, 'netrc'],
  // (libpq's own keyword in a connection string: `psql "host=db passfile=/run/pw"`, `passfile='/run/pw'`, a URI's
  // `?passfile=/run/pw`)
  [/(?:^|[\s?&])passfile=['"]?([^\s'"&]+)/, 'pgpass'],
];

/** The credentials files `bare` (a line's words as their programs get them) names, by path, and their kinds. */
export function namedCredentialsFiles(bare: readonly string[]): Map<string, InputKind> {
  const named = new Map<string, InputKind>();
  bare.forEach((w, i) => {
    if (w === '--netrc-file' && i + 1 < bare.length) named.set(bare[i + 1]!, 'netrc');
    for (const [re, kind] of NAMES_CREDENTIALS_FILE) {
      const m = re.exec(w);
      if (m) named.set(m[1]!, kind);
    }
  });
  return named;
}

/**
 * The credentials file a file name is: libpq's `.pgpass` (`PGPASSFILE`'s often `*.pgpass`), ftp's and curl's
 * `.netrc`, and the file `$PGPASSFILE` or `$NETRC` names, whatever its name.
 */
export function credentialsFile(file: string): InputKind | undefined {
  // (`$PGPASSFILE`, `${PGPASSFILE}`, `${PGPASSFILE:?unset}`, `${NETRC:-~/.netrc}`)
  // (a default that names a variable itself, `${PGPASSFILE:-${HOME}/.pgpass}`, one level deep)
  const variable = /^\$(?:(PGPASSFILE|NETRC)|\{(PGPASSFILE|NETRC)(?:[:?=+-](?:[^{}]|\{[^{}]*\})*)?\})$/.exec(file);
  if (variable) return (variable[1] ?? variable[2]) === 'NETRC' ? 'netrc' : 'pgpass';
  const name = file.slice(file.lastIndexOf('/') + 1);
  if (/^(?:\.?pgpass|.+\.pgpass)$/i.test(name)) return 'pgpass';
  if (/^[._]?netrc$/i.test(name)) return 'netrc';
  return undefined;
}

/** What `name` (a program, with `args`) reads on its input, of the kinds {@link InputKind} names. */
export function inputKind(name: string, args: readonly string[]): InputKind | undefined {
  const has = (re: RegExp) => args.some((a) => re.test(a));
  if (/^chg?passwd$/.test(name)) return 'lines';
  if (has(/^--password-stdin$/)) return 'secret';
  if (name === 'passwd' && has(/^--stdin$/)) return 'secret';
  if (name === 'smbpasswd' && has(/^-[a-zA-Z]*s$/)) return 'secret';
  if (name === 'htpasswd' && has(/^-[A-Za-z]*i[A-Za-z]*$/)) return 'secret';
  if (name === 'openssl' && (args.some((a, i) => /^-pass(?:in)?$/.test(a) && /^(?:stdin|fd:0)$/.test(args[i + 1] ?? '')) || (args[0] === 'passwd' && has(/^-stdin$/)))) return 'secret';
  if (name === 'gpg' && args.some((a, i) => (a === '--passphrase-fd' && args[i + 1] === '0') || a === '--passphrase-fd=0')) return 'secret';
  // (a key file of `-` is the input too)
  const keyFile = args.findIndex((a) => /^(?:-d|--key-file)(?:=|$)/.test(a));
  const keyFromInput = keyFile < 0 || /^(?:-d|--key-file)=?-$/.test(args[keyFile]!) || args[keyFile + 1] === '-';
  if (name === 'cryptsetup' && has(/^(?:open|luksOpen|luksFormat|luksAddKey|luksChangeKey)$/) && keyFromInput) return 'secret';
  if (name === 'vault' && args[0] === 'login' && args.includes('-')) return 'secret';
  // GitHub's and GitLab's CLIs: `gh auth login --with-token`, `gh secret set NAME` given no --body or file, `glab auth
  // login --stdin`.
  const words = positionals(args, /^-[Rbf]$|^--(?:repo|body|env-file|hostname|org|env|app|repos|visibility)$/).map((i) => args[i]);
  const sub = (...w: string[]) => w.every((x, k) => words[k] === x);
  if (name === 'gh' && sub('auth', 'login') && has(/^--with-token$/)) return 'secret';
  if (name === 'gh' && sub('secret', 'set') && !has(/^(?:-[bf]|--body|--env-file)(?:=|$)|^-[bf]./)) return 'secret';
  if (name === 'glab' && sub('auth', 'login') && has(/^--stdin$/)) return 'secret';
  // `pulumi config set [--secret] KEY` with no value reads it on its input
  const pulumi = positionals(args, PULUMI_VALUE).map((i) => args[i]!);
  if (name === 'pulumi' && pulumi[0] === 'config' && pulumi[1] === 'set' && pulumi.length === 3 && (has(/^--secret$/) || secretName(pulumi[2]!))) return 'secret';
  if (/^(?:psql|mysql|mariadb|sqlcmd|sqlplus|sqlite3|clickhouse-client)$/.test(name)) return 'sql';
  // (a shell given neither -c nor a script, `su` without -c, `.`/`source` of the input: shell-programs.ts's readsInput)
  if (readsInput([name, ...args], 0)) return 'script';
  return undefined;
}
