/**
 * Programs that take the command they run from data pcigate never sees: xargs's replace string (`xargs -I{} {}`),
 * find's `{}` (`find . -exec {} \;`), GNU parallel's replacement strings (`parallel {} ::: ls`) and parallel without
 * a command (`parallel ::: 'rm -rf /'`), and a program that runs its arguments left without a command for xargs or
 * parallel to append one (`xargs env`). Policy met a placeholder there, never the command. For readAsShell
 * (read-as-shell.ts), which refuses such a command as unreadable.
 */
import { commandPlaces, givenLineAt, NESTED, RUNNERS } from '../../policy/argv/shell-programs.js';
import { shellCommands } from './shell-words.js';

/**
 * A program's options as getopt_long (xargs) or Perl's Getopt::Long with bundling (parallel) read them: short
 * options bundled (`-0I{}`), a required value attached or the next word, an optional one attached only, long
 * options by a unique prefix (`--repl=X`), `--` ending them.
 */
interface OptionTable {
  shortValue: string;
  shortOptional: string;
  /** Short options without a value; undefined: every other letter is one. */
  shortFlag?: string;
  longValue: readonly string[];
  longOptional: readonly string[];
  /** Long options without a value; undefined: every other name is one. */
  longFlag?: readonly string[];
}

/**
 * The options before a program's first other word: each option's values by its letter or long name, and where
 * the first other word is (`args.length` when none). An option the table does not know takes the next word as
 * its value where the table says unknown options may (parallel): a command taken for a value is a command not
 * found, refused (fail closed), where a value taken for the command would be read as one.
 */
function readOptions(args: readonly string[], t: OptionTable): { values: Map<string, string[]>; end: number } {
  const values = new Map<string, string[]>();
  const set = (name: string, value: string) => {
    const list = values.get(name);
    if (list) list.push(value);
    else values.set(name, [value]);
  };
  const longNames = [...t.longValue, ...t.longOptional, ...(t.longFlag ?? [])];
  let k = 0;
  for (; k < args.length; k++) {
    const a = args[k]!;
    if (a === '--') { k++; break; }
    if (!a.startsWith('-') || a === '-') break;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const given = a.slice(2, eq < 0 ? undefined : eq);
      const found = longNames.includes(given) ? [given] : longNames.filter((n) => n.startsWith(given));
      const name = found.length === 1 ? found[0]! : undefined;
      if (eq >= 0) set(name ?? given, a.slice(eq + 1));
      else if (name !== undefined && t.longOptional.includes(name)) set(name, '');
      else if (name !== undefined ? t.longValue.includes(name) : t.longFlag !== undefined) set(name ?? given, args[++k] ?? '');
      continue;
    }
    for (let j = 1; j < a.length; j++) {
      const c = a[j]!;
      const rest = a.slice(j + 1);
      if (t.shortOptional.includes(c)) { set(c, rest); break; }
      if (t.shortValue.includes(c) || (t.shortFlag !== undefined && !t.shortFlag.includes(c))) { set(c, rest !== '' ? rest : args[++k] ?? ''); break; }
    }
  }
  return { values, end: k };
}

/** GNU findutils xargs (`0a:E:e::I:i::l::L:n:opP:rs:txd:`), with BSD xargs's -J, -R and -S. */
const XARGS: OptionTable = {
  shortValue: 'aEILnPsdJRS', shortOptional: 'eil',
  longValue: ['arg-file', 'delimiter', 'max-args', 'max-chars', 'max-procs', 'process-slot-var'],
  longOptional: ['eof', 'replace', 'max-lines'],
};

/** GNU parallel's options (man parallel); any other takes the next word as its value (see readOptions). */
const PARALLEL: OptionTable = {
  shortValue: 'aCdEIjJLnNPSsW', shortOptional: 'eil', shortFlag: '0kmqrtuvXxhVpgo',
  longValue: [
    'arg-file', 'arg-sep', 'arg-file-sep', 'basefile', 'bf', 'basenamereplace', 'bnr', 'basenameextensionreplace', 'bner', 'block',
    'block-size', 'colsep', 'delay', 'delimiter', 'dirnamereplace', 'dnr', 'env', 'extensionreplace', 'er', 'halt', 'halt-on-error',
    'header', 'jobs', 'max-procs', 'joblog', 'load', 'max-args', 'max-chars', 'max-replace-args', 'memfree', 'memsuspend', 'nice',
    'profile', 'recend', 'recstart', 'results', 'res', 'retries', 'return', 'rpl', 'seqreplace', 'slotreplace', 'sshdelay',
    'sshlogin', 'sshloginfile', 'slf', 'tag-string', 'tagstring', 'tmpdir', 'timeout', 'transferfile', 'tf', 'workdir', 'wd',
    'termseq', 'shard', 'bin', 'group-by', 'limit', 'ssh', 'sqlmaster', 'sqlworker', 'sqlandworker', 'template', 'trim', 'match',
    'filter', 'id', 'semaphorename', 'compress-program', 'decompress-program',
  ],
  longOptional: ['replace', 'eof', 'max-lines'],
  longFlag: [
    'keep-order', 'ungroup', 'group', 'line-buffer', 'lb', 'tag', 'files', 'dry-run', 'verbose', 'progress', 'eta', 'bar', 'pipe',
    'pipepart', 'pipe-part', 'null', 'xargs', 'quote', 'shellquote', 'no-run-if-empty', 'round-robin', 'nonall', 'onall', 'semaphore',
    'fg', 'bg', 'wait', 'will-cite', 'citation', 'no-notice', 'plus', 'fifo', 'cat', 'interactive', 'tty', 'open-tty', 'exit',
    'retry-failed', 'resume', 'resume-failed', 'skip-first-line', 'noswap', 'controlmaster', 'record-env', 'number-of-cpus',
    'number-of-cores', 'show-limits', 'version', 'help', 'gnu', 'csv', 'tee', 'ctag', 'color', 'colour',
  ],
};

/** parallel's options naming a replacement string of its own (`-I`, `--rpl 'TAG perl'`: its first word). */
const PARALLEL_REPLACE = ['I', 'i', 'replace', 'extensionreplace', 'er', 'basenamereplace', 'bnr', 'dirnamereplace', 'dnr', 'basenameextensionreplace', 'bner', 'seqreplace', 'slotreplace', 'rpl'];

/** parallel's own replacement strings: `{}`, `{.}`, `{/}`, `{//}`, `{/.}`, `{#}`, `{%}`, `{3}`, `{3.}`, --plus's `{..}`…, `{= perl =}`. */
const PARALLEL_BUILTIN = /\{[^{}\s]*\}|\{=/;

const why = (prog: string, text: string) => `'${prog}' runs a command taken from data pcigate does not see (its input, its arguments or the files it finds: '${text}' stands where a command or a command line is, and is replaced by that data), which pcigate cannot read against this connection's deny and hold patterns; pcigate does not run it (name the command)`;

/** The programs commandFromInput reads. */
export const DATA_COMMANDS: readonly string[] = ['xargs', 'find', 'parallel'];

/**
 * Why the command the program `names[i]` runs (xargs, parallel, find; `texts` its words with quotes removed,
 * redirections left out, `names` their file names) is data pcigate does not see, or undefined.
 *
 * - xargs: the replace string (-I R, -IR, -i, --replace[=R], BSD -J R) in a word where a command's name stands
 *   (`xargs -I{} {}`: BusyBox's xargs replaces it in the program's name, GNU's 4.9 does not; `xargs -I{} sudo {}`
 *   with either), or in a command line a program runs (`xargs -I{} sh -c {}`,
 *   `sh -c 'echo {}'`: the input pasted into shell code); without one, any program that runs its arguments as a
 *   command taking the input as its arguments (`xargs env`, `xargs sudo -u app`, `xargs find . -name x` fed
 *   `-exec rm -rf / ;`, `xargs sudo chown app`): xargs appends the input there. Only a shell given its line
 *   (`xargs sh -c 'gzip "$1"' _`) is read: the input is that line's positional parameters.
 * - find -exec, -execdir, -ok, -okdir: `{}`, the file found, in such a place (`find . -exec {} \;`).
 * - parallel: no command before its arguments (`:::`, `::::`, `:::+`, `::::+`, the --arg-sep and --arg-file-sep
 *   strings) or input lines: it runs those as commands. They are refused, not read as `sh -c` lines are: parallel
 *   composes each command from them — one word of each group joined (`::: 'echo x; rm' ::: '-rf /'`), several
 *   joined (-n, -X), split at --colsep, a Perl regular expression that may match a quote character (`--colsep
 *   '\x27' ::: "echo x'; rm -rf /'"` runs `echo x ; rm -rf / `, which no reading of the word or of the line
 *   sees), or lines of a `::::` file pcigate never sees. With a command, parallel joins its words with blanks
 *   and a shell reads the join: a replacement string where that line has a command's name (`parallel {} ::: ls`,
 *   `parallel 'echo; {}'`) or inside a command line quoted within it (`"sh -c 'echo {}'"`: parallel's quoting
 *   of the value ends those quotes), or, without a replacement string, a program that runs its arguments taking
 *   the appended ones (`parallel env ::: rm`, `parallel find . -name` fed `-exec rm -rf / ;`), as with xargs.
 */
export function commandFromInput(texts: readonly string[], names: readonly string[], i: number): string | undefined {
  const prog = names[i]!;
  const args = texts.slice(i + 1);
  if (prog === 'xargs') {
    const { values, end } = readOptions(args, XARGS);
    const c = i + 1 + end;
    if (c >= texts.length) return undefined; // echo
    // Each replace string given is checked (xargs keeps the last; an empty one is in every word: refused).
    const rs = ['I', 'i', 'replace', 'J'].flatMap((o) => (values.get(o) ?? []).map((v) => (v === '' && o !== 'I' && o !== 'J' ? '{}' : v)));
    return placeholderRun('xargs', texts, names, c, texts.length, rs.length > 0 ? (w) => rs.some((r) => w.includes(r)) : undefined);
  }
  if (prog === 'find') {
    for (let k = i + 1; k < texts.length; k++) {
      if (!['-exec', '-execdir', '-ok', '-okdir'].includes(texts[k]!)) continue;
      let end = k + 1;
      while (end < texts.length && texts[end] !== ';' && !(texts[end] === '+' && texts[end - 1] === '{}')) end++;
      const found = placeholderRun('find', texts, names, k + 1, end, (w) => w.includes('{}'));
      if (found) return found;
      k = end;
    }
    return undefined;
  }
  if (prog === 'parallel') {
    const { values, end } = readOptions(args, PARALLEL);
    const seps = [':::', '::::', ...(values.get('arg-sep') ?? []), ...(values.get('arg-file-sep') ?? [])];
    const isSep = (w: string) => seps.includes(w) || (w.endsWith('+') && seps.includes(w.slice(0, -1)));
    const c = i + 1 + end;
    let stop = c;
    while (stop < texts.length && !isSep(texts[stop]!)) stop++;
    if (stop === c) {
      return `'parallel' here has no command before its arguments (:::, ::::) or input lines, and runs those as commands it composes (groups combined, -n, --colsep, :::: files), which pcigate does not read against this connection's deny and hold patterns; pcigate does not run it (name the command: parallel CMD ::: ARGS)`;
    }
    const own = PARALLEL_REPLACE.flatMap((o) => (values.get(o) ?? []).map((v) => (o === 'rpl' ? v.trim().split(/\s/)[0]! : v))).filter((v) => v !== '');
    const has = (w: string) => PARALLEL_BUILTIN.test(w) || own.some((r) => w.includes(r));
    const line = texts.slice(c, stop).join(' ');
    for (const words of shellCommands(line)) {
      const plain = words.filter((w) => w.redirect !== true).map((w) => w.text);
      const found = placeholderRun('parallel', plain, plain.map((w) => w.slice(w.lastIndexOf('/') + 1)), 0, plain.length, has);
      if (found) return found;
    }
    // Without a replacement string parallel appends the arguments: after a program that runs its arguments, a command.
    if (!has(line)) return placeholderRun('parallel', texts, names, c, stop, undefined);
  }
  return undefined;
}

/**
 * Why the command `texts[from]…texts[to - 1]` runs (its words; `from` its name) is data: a word `holds` a
 * placeholder where a command's name stands or in a command line a program runs (a word with blanks or operators,
 * or one after a `-c` option once a program that runs its arguments came); without placeholders (`holds`
 * undefined: the program appends its data), the words ending where a command's name would be (`env`, `sudo -u app`).
 */
function placeholderRun(prog: string, texts: readonly string[], names: readonly string[], from: number, to: number, holds: ((w: string) => boolean) | undefined): string | undefined {
  const places = commandPlaces(names, from, to);
  if (holds === undefined) {
    if (from >= to) return undefined;
    if (places[to - from]) {
      return `'${prog}' appends the data it reads after '${texts.slice(from, to).join(' ')}', which runs it as a command, and pcigate cannot read it against this connection's deny and hold patterns; pcigate does not run it (name the command)`;
    }
    // The data goes into the arguments of a program that runs its arguments as a command (RUNNERS): find takes
    // `-exec rm -rf / ;` from it, chroot, flock or ssh their command after an operand pcigate would read as the
    // command's name, sudo and env their options (`env -S 'rm -rf /'`). Only a shell given its line (-c) is let
    // through: the data are that line's positional parameters, and readAsShell reads the line, a `$1` where it
    // names a command refused as computed — when it reads it as a line (NESTED), so a one-word line that the
    // shell expands (`sh -c '$1' _`, `'"$@"'`) is not let through. With -I/-i the words fix where the data goes (holds).
    for (let j = from; j < to; j++) {
      if (!places[j - from] || !RUNNERS.has(names[j]!)) continue;
      const line = givenLineAt(names, j);
      if (line >= 0 && line < to && (NESTED.test(texts[line]!) || !/[$`]/.test(texts[line]!))) continue;
      return `'${prog}' appends the data it reads to the arguments of '${texts.slice(j, to).join(' ')}', and '${texts[j]}' runs its arguments as a command (find -exec, env, sudo, nice, timeout, a shell, xargs …): the data can be that command, which pcigate cannot read against this connection's deny and hold patterns; pcigate does not run it (name the command, or give the data its place: xargs -I{}, parallel's {})`;
    }
    return undefined;
  }
  let runner = false;
  for (let j = from; j < to; j++) {
    const w = texts[j]!;
    const code = NESTED.test(w) || (runner && j > from && /^-[A-Za-z]*c$|^--command$/.test(texts[j - 1]!));
    if ((places[j - from] || code) && holds(w)) return why(prog, w);
    if (places[j - from] && RUNNERS.has(names[j]!)) runner = true;
  }
  return undefined;
}
