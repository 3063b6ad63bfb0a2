/**
 * A command line as argv-redact.ts reads it: its words (as written and as their program gets them), its commands
 * (each named by its first word that is no wrapper, wrapper's word, reserved word, assignment or redirection), and
 * what rules claim of it.
 */
import { WRAPPERS } from './argv-programs.js';
import type { Wrapper } from './argv-programs.js';
import type { Heredoc } from './shell-words.js';
import { ASSIGNMENT, RESERVED } from './shell-programs.js';

/** A control operator (`;`, `&&`, `|`, `(`, a newline): it ends a command, and the next word starts one. */
export const SEPARATOR = /^(?:[;&|\n]+|[()])$/;
export const PIPE = /^\|&?$/;
/**
 * A redirection operator (`>`, `2>&`, `<<<`, `<<-`, `&>`: shell-words.ts reads each as a word of its own); the next
 * word is its target. (argv words are no shell line's, and hold none.)
 */
export const REDIRECT = /^(?:\d*[<>]|&>)/;
export const REDIRECT_ALONE = /^(?:\d*[<>]+-?[&|]?|&>>?)$/;
/** A wrapper with no options (a reserved word), and `kubectl exec pod --` once at `--`: the next word is the command's. */
const AFTER_UNTIL: Wrapper = { takesValue: /(?!)/ };

/**
 * A line's words as written and as their program gets them (`bare`: a shell word's quotes removed), and the new
 * values rules give some; `shell`: a shell line's words, whose operators and redirections are no values. A shell
 * line's here-documents, each with the redacted text of its body once a rule gives one.
 */
export interface Line {
  words: readonly string[]; bare: readonly string[]; shell: boolean; claimed: Map<number, string>;
  heredocs: readonly Heredoc[]; bodies: Map<Heredoc, string>;
  /** The words that are assignments before a command's name (`PGPASSWORD=… psql`, `env 'A=b c' psql`). */
  assigns: Set<number>;
}
/**
 * One command among a line's words: its first, its name's (none: `sudo` alone) and the end (after its operator),
 * the last wrapper before its name (`ssh h` with no command reads a script on its input), and where each wrapper is.
 */
export interface Command {
  start: number; name?: number; end: number; wrapper?: string; wrappers: number[];
  /** The program at `name` when that word is not it: a container's entrypoint, run with the words after its image. */
  program?: string;
}

/** Builtins whose arguments are assignments (`export PGPASSWORD='a b'`). */
const DECLARES = /^(?:export|declare|typeset|local|readonly)$/;
/** Options whose value is an assignment (`docker run -e 'A=b c'`, `helm --set`, `--build-arg`, ansible's `-e`). */
const ASSIGNING_OPTION = /^(?:-e|--env|--set|--set-string|--build-arg|--extra-vars|--var|-var|--from-literal|--label|-l)$/;

/**
 * The words of `cmds` that assign a value that may hold blanks (`export PGPASSWORD='a b'`, `env 'A=b c'`, `-e
 * "A=b c"`, `--opt=A=b c`): an assignment before a command's name, a declaring builtin's argument, an assigning
 * option's value (a wrapper's too: `docker run -e "A=b c" img`), an option. Any other word with blanks may be a
 * command line a program runs (`docker run img sh -c "A=x psql … -c 'DROP …'"`, `su -c "…"`) and is read as one, so
 * that an approver sees the command.
 */
export function assigningWords(line: Line, cmds: readonly Command[]): Set<number> {
  const out = new Set<number>(line.assigns);
  for (const c of cmds) {
    for (const p of programsOf(line, c)) {
      const declares = p.at === c.name && DECLARES.test(p.name);
      let prev = '';
      for (const i of p.args) {
        const bare = line.bare[i]!;
        if (declares || bare.startsWith('-') || ASSIGNING_OPTION.test(prev)) out.add(i);
        prev = bare;
      }
    }
  }
  return out;
}

/** A line to read: `words` as written, `bare` as their program gets them. */
export function newLine(words: readonly string[], bare: readonly string[], shell: boolean, heredocs: readonly Heredoc[] = []): Line {
  return { words, bare, shell, claimed: new Map(), heredocs, bodies: new Map(), assigns: new Set() };
}

export const programName = (bare: string) => bare.slice(bare.lastIndexOf('/') + 1);

/** The program command `c` runs (its name's word, or a container's entrypoint). */
export const programOf = (line: Line, c: Command) => c.program ?? programName(line.bare[c.name!]!);

/**
 * The program an image runs when its command starts with an option (`docker run curlimages/curl -u …`): its
 * entrypoint, which the line does not say; its repository's last part is a fair guess (`curl`, `mysql`, `redis`).
 */
const imageProgram = (image: string) => programName(image.replace(/[:@][^/]*$/, ''));

/**
 * The line's commands: each named by its first word that is neither a wrapper (`sudo`, `timeout 10`, `docker exec
 * c`, `ssh h`: WRAPPERS), nor a wrapper's option or word, nor `if`, `FOO=1` or `2>/dev/null`.
 */
export function commands(line: Line): Command[] {
  const out: Command[] = [];
  let c: Command = { start: 0, end: line.words.length, wrappers: [] };
  let wrap: Wrapper | undefined;
  let left = 0;
  let skipTo = -1;
  let entry: string | undefined;
  let image: string | undefined;
  /** Whether the word after `i` is an option given to what runs (not an operator or a redirection after nothing). */
  const optionNext = (i: number) => line.bare[i + 1]?.startsWith('-') === true
    && !(line.shell && (SEPARATOR.test(line.words[i + 1]!) || REDIRECT.test(line.words[i + 1]!)));
  line.words.forEach((w, i) => {
    const bare = line.bare[i]!;
    if (SEPARATOR.test(w)) {
      out.push({ ...c, end: i + 1 });
      c = { start: i + 1, end: line.words.length, wrappers: [] };
      wrap = undefined;
      left = 0;
      skipTo = -1;
      entry = undefined;
      image = undefined;
      return;
    }
    if (c.name !== undefined || i <= skipTo) return;
    if (wrap?.until) {
      // (`kubectl run x --image=curlimages/curl -- -u …`: given options only, the image runs its entrypoint with them)
      if (bare === wrap.until) {
        [wrap, left] = [AFTER_UNTIL, 0];
        if (image && optionNext(i)) [c.name, c.program] = [i, imageProgram(image)];
      } else if (/^--image(?:=|$)/.test(bare)) image = bare.includes('=') ? bare.slice(bare.indexOf('=') + 1) : line.bare[i + 1];
      return;
    }
    if (wrap && bare.startsWith('-')) {
      skipTo = wrap.takesValue.test(bare) ? i + 1 : i;
      if (/^--entrypoint(?:=|$)/.test(bare)) entry = bare.includes('=') ? bare.slice(bare.indexOf('=') + 1) : line.bare[i + 1];
      return;
    }
    if (line.shell && REDIRECT.test(w)) { skipTo = REDIRECT_ALONE.test(w) ? i + 1 : i; return; }
    if (left > 0) {
      if (--left > 0 || !wrap?.optionsFirst) return;
      // Its last word (a container, an image): what follows is the command, an option too. An image run with
      // --entrypoint, or given words that start with an option, runs its entrypoint with them.
      if (wrap.image && (entry || optionNext(i))) {
        c.name = i;
        c.program = entry ? programName(entry) : imageProgram(bare);
      }
      wrap = undefined;
      return;
    }
    // (An assignment is one when its name and `=` are not quoted, `"A=b c"` is a command; env reads its own.)
    const [found, sub] = wrapperAt(line.bare, i);
    if (found) {
      wrap = found;
      left = found.positionals ?? 0;
      skipTo = sub;
      c.wrapper = programName(bare);
      c.wrappers.push(i);
    } else if (!ASSIGNMENT.test(bare) || !(ASSIGNMENT.test(w) || c.wrapper === 'env')) c.name = i;
    else line.assigns.add(i);
  });
  out.push(c);
  return out;
}

/** The wrapper the word at `at` is (`sudo`, `docker exec`, `if`), and where its subcommand ends; none: [undefined, -1]. */
function wrapperAt(bare: readonly string[], at: number): [Wrapper | undefined, number] {
  const word = bare[at]!;
  for (const w of WRAPPERS.get(programName(word)) ?? (RESERVED.has(word) ? [AFTER_UNTIL] : [])) {
    const end = w.sub ? subcommandEnd(bare, at, w) : at;
    if (end >= 0) return [w, end];
  }
  return [undefined, -1];
}

/**
 * Where the subcommand that makes the program at `at` a wrapper ends (`docker exec`, `docker -H h container exec`,
 * `kubectl -n prod exec`: its options, and their values, may come before and between its words), or -1.
 */
function subcommandEnd(bare: readonly string[], at: number, wrapper: Wrapper): number {
  for (const words of wrapper.sub!) {
    let i = at + 1;
    let k = 0;
    for (; k < words.length && i < bare.length; i++) {
      if (bare[i] === words[k]) k++;
      else if (!bare[i]!.startsWith('-')) break;
      else if (wrapper.globals?.test(bare[i]!)) i++;
    }
    if (k === words.length) return i - 1;
  }
  return -1;
}

/** The arguments (indexes) of command `c`'s program: after its name, to its operator, without a shell line's redirections. */
export function argIndexes(line: Line, c: Command): number[] {
  return argsBetween(line, c.name!, c.end);
}

/** A wrapper of a command, or its program: where it is, its name, and its arguments' indexes. */
export interface Program { at: number; name: string; args: number[] }

/**
 * Command `c`'s wrappers and its program, in order, each with the arguments up to the next (`sshpass -p X ssh h`:
 * sshpass's are `-p X`); the program's name is a container's entrypoint where it runs one.
 */
export function programsOf(line: Line, c: Command): Program[] {
  const heads = c.name === undefined ? c.wrappers : [...c.wrappers, c.name];
  return heads.map((at, k) => ({ at, name: at === c.name ? programOf(line, c) : programName(line.bare[at]!), args: argsBetween(line, at, heads[k + 1] ?? c.end) }));
}

/** The argument words between `at` and `end` (a separator ends them too), without a shell line's redirections. */
export function argsBetween(line: Line, at: number, end: number): number[] {
  const out: number[] = [];
  for (let i = at + 1; i < end && !SEPARATOR.test(line.words[i]!); i++) {
    if (!line.shell || !REDIRECT.test(line.words[i]!)) out.push(i);
    else if (REDIRECT_ALONE.test(line.words[i]!)) i++;
  }
  return out;
}

/** `text` with each run of the characters `secret` marks replaced by `[redacted]`. */
export function maskRuns(text: string, secret: readonly boolean[]): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    if (!secret[i]) out += text[i];
    else if (!secret[i - 1]) out += '[redacted]';
  }
  return out;
}
