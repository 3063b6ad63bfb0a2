/**
 * The names a command word is read as (its file name, its path) and the forms of a deny or hold pattern matched
 * against them; a command name with a glob as the policy's kind of glob. For readAsShell (read-as-shell.ts).
 */
import { globMatches } from '../../policy/ssh-rules.js';

/**
 * A command word with a glob as the policy's kind of glob, without its directory: a brace expansion (from its
 * first `{` to its last `}`) as `*`, a bracket expression as `?` (`/bin/{rm,-rf,/}` → `*`, `/bin/r[m]` → `r?`).
 * Linear in the word, which the client chose.
 */
export function globName(text: string): string {
  const a = text.indexOf('{');
  const b = text.lastIndexOf('}');
  const t = a >= 0 && b > a ? `${text.slice(0, a)}*${text.slice(b + 1)}` : text;
  const lastClose = t.lastIndexOf(']');
  let out = '';
  for (let i = 0; i < t.length; i++) {
    const close = t[i] === '[' && i < lastClose ? t.indexOf(']', i + 1) : -1;
    if (close > 0) { out += '?'; i = close; } else out += t[i];
  }
  return out.slice(out.lastIndexOf('/') + 1);
}

/** Whether a command name glob (globName) may name a program in `programs` (RUNNERS, OPAQUE). */
export function mayName(name: string, programs: ReadonlySet<string>): boolean {
  for (const r of programs) if (globMatches(name, r)) return true;
  return false;
}

/**
 * The names a command word is read as: its file name (`rm` for `/usr/bin/rm`, `bin/rm`, `./rm`), and when it
 * has a directory also the path as written and the path with `//`, `.` and `..` taken out by their text
 * (`/usr/bin/../bin//rm` → `/usr/bin/rm`; a symbolic link may lead elsewhere, which is why the file name is read
 * too). Patterns naming a directory meet the path, patterns without one the file name.
 */
export function commandNames(text: string): string[] {
  // zsh expands a word starting with `=` to the path of the command it names: `=rm` is /usr/bin/rm.
  if (text.startsWith('=') && text.length > 1) return [...new Set([...commandNames(text.slice(1)), text])];
  const file = text.slice(text.lastIndexOf('/') + 1);
  if (!text.includes('/')) return [file];
  const abs = text.startsWith('/');
  const parts: string[] = [];
  for (const seg of text.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..' && parts.length > 0 && parts[parts.length - 1] !== '..') parts.pop();
    else if (!(seg === '..' && abs)) parts.push(seg);
  }
  const lexical = (abs ? '/' : '') + parts.join('/');
  return [...new Set([file, text, lexical])];
}

/**
 * A deny or hold pattern's forms (globs, matched by globMatches in time linear in the reading): the pattern, and when its command name has a directory and a file name with a literal
 * character (`/usr/bin/rm *`, `bin/rm`), the pattern with that directory dropped (`rm *`). Which file a name
 * runs is the remote PATH's and the links' choice, out of pcigate's sight: `rm`, `/bin/rm` and `/usr/bin/rm` may
 * be one program, so a directory in such a pattern cannot narrow it (fail closed). A file name that is all
 * wildcard (`/opt/tools/* *`) keeps its directory: dropped, it would be every command.
 */
const patternCache = new Map<string, string[]>();
export function patternForms(glob: string): string[] {
  let forms = patternCache.get(glob);
  if (!forms) {
    const sp = glob.indexOf(' ');
    const name = sp < 0 ? glob : glob.slice(0, sp);
    const file = name.slice(name.lastIndexOf('/') + 1);
    forms = [glob];
    if (name.includes('/') && /[^*?]/.test(file)) forms.push(file + (sp < 0 ? '' : glob.slice(sp)));
    patternCache.set(glob, forms);
  }
  return forms;
}
