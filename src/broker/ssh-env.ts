/**
 * SSH `env` requests (RFC 4254 §6.4): a client may ask for environment variables before its shell, command or
 * subsystem starts, and sshd sets the ones its AcceptEnv names. Some change what runs rather than how it looks:
 * `LD_PRELOAD` loads a library into every program, `BASH_ENV` and `ENV` make the shell read a file before the
 * command, `PATH` picks which `rm` runs, `IFS` or `SHELLOPTS` change how the command line is read. An allowed
 * command is only what it looks like when the client cannot set those.
 *
 * So pcigate decides each env request itself, whatever the upstream sshd would accept: only names the
 * connection's `allow.env` globs match (default `LANG` and `LC_*`, the variables Debian's sshd_config accepts)
 * are passed on, and names in UNSAFE_ENV are refused even when a glob matches them. A locale variable's value
 * must look like a locale name (`en_US.UTF-8`, `C`, `de_DE@euro`): glibc reads a value with a `/` as a path to
 * locale files. Every request is recorded (`ssh.request`, kind `env`) with its name, never its value (a token
 * or password is as likely there as anything): the value's size only.
 */
import { globMatches } from '../policy/ssh-rules.js';

/** Names refused whatever `allow.env` says: they change which program runs or how the shell reads the command. */
export const UNSAFE_ENV = [
  'LD_*', 'DYLD_*', 'BASH_ENV', 'ENV', 'PATH', 'IFS', 'SHELLOPTS', 'BASHOPTS', 'BASH_FUNC_*', 'PS4', 'PROMPT_COMMAND',
  'CDPATH', 'GLOBIGNORE', 'HOME', 'SHELL', 'USER', 'LOGNAME', 'MAIL', 'TMPDIR', 'LOCPATH', 'GCONV_PATH', 'NLSPATH',
  'HOSTALIASES', 'RESOLV_HOST_CONF', 'MALLOC_*', 'GLIBC_TUNABLES', 'PYTHON*', 'PERL5*', 'PERLLIB', 'PERLIO*',
  'RUBY*', 'NODE_OPTIONS', 'NODE_PATH', 'JAVA_TOOL_OPTIONS', '_JAVA_OPTIONS', 'JDK_JAVA_OPTIONS', 'GIT_*', 'SSH_*',
  'LESSOPEN', 'LESSCLOSE', 'PAGER', 'EDITOR', 'VISUAL', 'SUDO_*', 'TERMINFO', 'TERMINFO_DIRS', 'TERMCAP',
] as const;

export const DEFAULT_ENV_ALLOW = ['LANG', 'LC_*'] as const;

const LOCALE_NAME = /^(LANG|LANGUAGE|LC_[A-Z_]+)$/;
const LOCALE_VALUE = /^[A-Za-z0-9_.@+=:-]*$/;

export interface EnvDecision {
  action: 'allow' | 'deny';
  rule: string;
  reason: string;
}

/** Decides one env request against the connection's `allow.env` globs (case sensitive, as names are). */
export function decideEnv(allow: readonly string[], name: string, value: string): EnvDecision {
  // globMatches, not a RegExp: the name is the client's (up to a packet, 35 kB), and a RegExp of an allow.env
  // glob with three wildcards took seconds on 4 kB.
  if (UNSAFE_ENV.some((g) => globMatches(g, name))) {
    return { action: 'deny', rule: 'ssh.env.unsafe', reason: `environment variable ${name} changes what the remote side runs; pcigate never passes it on` };
  }
  const i = allow.findIndex((g) => globMatches(g, name));
  if (i < 0) return { action: 'deny', rule: 'ssh.env.default', reason: `environment variable ${name} is not in allow.env` };
  if (/[\x00-\x1f\x7f]/.test(value)) return { action: 'deny', rule: 'ssh.env.value', reason: `the value of ${name} holds a control character` };
  if (LOCALE_NAME.test(name) && !LOCALE_VALUE.test(value)) return { action: 'deny', rule: 'ssh.env.value', reason: `the value of ${name} is not a locale name` };
  return { action: 'allow', rule: `ssh.env[${i}]`, reason: `environment variable ${name} matches allow.env '${allow[i]}'` };
}
