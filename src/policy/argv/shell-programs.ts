/**
 * What the programs before and around a command's name do with the words after them: which run their arguments
 * as a command (RUNNERS), which run commands pcigate cannot read (OPAQUE), which read their commands from their
 * input (readsInput), and which words are not a command's name (RESERVED, ASSIGNMENT). Tables for readAsShell
 * (read-as-shell.ts).
 */

/** Programs that run their arguments as a command or a command line (`env rm …`, `sh -c '…'`, `find -exec`). */
export const RUNNERS: ReadonlySet<string> = new Set([
  'env', 'command', 'exec', 'builtin', 'eval', 'sudo', 'doas', 'su', 'runuser', 'nice', 'nohup', 'timeout', 'time', 'xargs',
  'stdbuf', 'setsid', 'ionice', 'chroot', 'taskset', 'busybox', 'strace', 'ltrace', 'watch', 'flock', 'unbuffer', 'find',
  'sh', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'ash', 'csh', 'tcsh', 'fish', 'ssh', 'script', 'systemd-run', 'parallel',
  // Privileges, namespaces, sandboxes, scheduling and resource limits: each runs the command it is given.
  'pkexec', 'unshare', 'nsenter', 'setpriv', 'firejail', 'chrt', 'sg', 'setarch', 'linux32', 'linux64', 'prlimit',
  'numactl', 'capsh', 'bwrap', 'fakeroot', 'cgexec', 'systemd-nspawn', 'ssh-agent', 'dbus-run-session', 'xvfb-run',
  // bash keywords whose words hold a command: `coproc rm …`, `function f { rm …; }`, and zsh's `repeat 3 rm …`
  // (read like a runner's).
  'coproc', 'function', 'repeat',
  // bash's trap runs its first argument as a command line when the signal comes (`trap 'rm -rf /' EXIT`).
  'trap',
]);

/**
 * Programs that run a command pcigate cannot read from their arguments: at and batch read it from their input
 * or a file (`echo 'rm -rf /' | at now`), tmux and screen from keystrokes they type into a shell
 * (`tmux send-keys`, `screen -X stuff`), their own command language and configuration files. Where one may be
 * the command, the line is refused as unreadable while the connection has deny or hold patterns.
 */
export const OPAQUE: ReadonlySet<string> = new Set(['at', 'batch', 'tmux', 'screen', 'fc']);

/**
 * Words that may come before a command's name and are not it: POSIX sh's reserved words (2.4), bash's `time`,
 * fish's `not`, `and`, `or` and `begin`, zsh's precommand modifiers `noglob`, `nocorrect` and `-`. In a shell
 * without them such a word is a program's name that hardly exists; read as a keyword, the command after it is read.
 */
export const RESERVED: ReadonlySet<string> = new Set(['!', '{', '}', 'if', 'then', 'else', 'elif', 'fi', 'do', 'done', 'while', 'until', 'time', 'not', 'and', 'or', 'begin', 'noglob', 'nocorrect', '-']);

/** A variable assignment before a command's name: `X=1`, and bash's `X+=1` and `a[0]=1`. */
export const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=/;

/** Shells that read their commands from their input when given neither `-c` nor a script. */
const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'ash', 'csh', 'tcsh', 'fish']);

/** The programs readsInput knows. */
export const INPUT_READERS: ReadonlySet<string> = new Set([...SHELLS, 'su', 'sudo', 'parallel', '.', 'source']);

/** A script's path that is the shell's input or a pipe's end: `-`, /dev/stdin, /dev/fd/N, /proc/…/fd/N. */
const INPUT_FILE = /^(?:-|\/dev\/stdin|\/dev\/fd\/\d+|\/proc\/[^/]+\/fd\/\d+)$/;

/**
 * Whether the program `names[i]` (file names of a command's words, redirections left out) runs commands read
 * from its input: `sh`, `bash -l`, `sh -s`, `su` or `su - root` without `-c`, `sudo -i` or `sudo -u root -s`
 * without a command, `sh -c` without its line (`xargs sh -c`). `echo 'rm -rf /' | sh`, or lines sent after it on
 * the channel, run what no reading saw. (`parallel` without a command is commandFromInput's, input-commands.ts.)
 */
export function readsInput(names: readonly string[], i: number, texts: readonly string[] = names): boolean {
  const name = names[i]!;
  const args = names.slice(i + 1);
  const opt = (a: string) => /^[-+]/.test(a);
  if (SHELLS.has(name)) {
    const k = args.findIndex((a) => !opt(a));
    const opts = k < 0 ? args : args.slice(0, k);
    // The -c line is read as nested; without one it is what xargs or parallel appends from their input.
    if (opts.some((a) => /^-[A-Za-z]*c|^--command$/.test(a))) return k < 0;
    return k < 0 || opts.some((a) => /^-[A-Za-z]*s/.test(a)) || INPUT_FILE.test(texts[i + 1 + k]!);
  }
  // `. FILE` and `source FILE` run FILE's commands in this shell: the input named as a file, or no file left
  // once bash's `<(…)` is taken apart (`. <(echo 'rm -rf /')`, read as a command of its own), runs what no
  // reading saw. (A script file is not read, as `bash deploy.sh`'s is not.)
  if (name === '.' || name === 'source') return args.length === 0 || INPUT_FILE.test(texts[i + 1]!);
  if (name === 'su') return !args.some((a) => /^-[A-Za-z]*c|^--(session-)?command/.test(a));
  if (name === 'sudo') {
    let shell = false;
    for (let k = 0; k < args.length; k++) {
      const a = args[k]!;
      if (!opt(a)) return false; // a command, read as such
      if (/^-[A-Za-z]*[is]|^--(login|shell)$/.test(a)) shell = true;
      if (/^-[A-Za-z]*[ugUhpCDrtT]$|^--(user|group|other-user|host|prompt|close-from|chdir|role|type|command-timeout)$/.test(a)) k++;
    }
    return shell;
  }
  return false;
}

/**
 * Where the command line the shell `names[i]` is given stands (`sh -c 'gzip x' _`, `bash -lc '…'`: the index of
 * that line's word), or -1: anything else, a shell without `-c` (`bash deploy.sh`: the script, and what it does
 * with its arguments, is not seen) or `-c` without its line. What comes after the line are its positional
 * parameters ($0, $1 …), not a command.
 */
export function givenLineAt(names: readonly string[], i: number): number {
  if (!SHELLS.has(names[i]!)) return -1;
  const args = names.slice(i + 1);
  const k = args.findIndex((a) => !/^[-+]/.test(a));
  return k >= 0 && args.slice(0, k).some((a) => /^-[A-Za-z]*c|^--command$/.test(a)) ? i + 1 + k : -1;
}

/**
 * Whether `names[i]` stands where a command's name does: first, or after a program that runs its arguments with
 * only options, their values, numbers, assignments and such programs between (`sudo -u root sh`, `timeout 5 sh`,
 * `env X=1 bash`), not as an argument (`find / -name sh`, `apt install bash`).
 */
export function inCommandPlace(names: readonly string[], i: number): boolean {
  for (let k = i - 1; k >= 0 && !RUNNERS.has(names[k]!); k--) if (!notAName(names, k)) return false;
  return true;
}

/**
 * inCommandPlace for each of `names[from]` to `names[to - 1]`, with `names[from]` a command's name (what xargs or
 * find -exec runs), and last (`places[to - from]`) whether a command's name would stand after them (`env -i`).
 * One pass, where asking inCommandPlace of each word walks back over the words before it (time growing with the
 * square of the words, which the client chose).
 */
export function commandPlaces(names: readonly string[], from: number, to: number): boolean[] {
  const places: boolean[] = [];
  let open = true; // only words that are not a name since a program that runs its arguments
  for (let k = from; k <= to; k++) {
    places.push(open);
    // names[from] is the name itself, never the value of the option before it (`-I{} rm`, `-exec rm`).
    if (k < to) open = RUNNERS.has(names[k]!) || (open && k > from && notAName(names, k));
  }
  return places;
}

/** An option, its value, a number, an assignment or a reserved word: not a command's name (inCommandPlace). */
function notAName(names: readonly string[], k: number): boolean {
  const a = names[k]!;
  const value = k > 0 && /^-/.test(names[k - 1]!);
  return /^[-+]/.test(a) || value || /^[0-9.]+[smhd]?$/.test(a) || ASSIGNMENT.test(a) || RESERVED.has(a);
}

/** A word after a program that runs its arguments that is a command line of its own (blanks, operators). */
export const NESTED = /[\s;&|()<>]/;
