/**
 * The completion model: every command of the registry with its flags (from each CommandSpec), read once
 * and rendered into bash, zsh and fish scripts. Connection names are not baked in: the scripts ask
 * `pcigate completion --connections` at completion time, so they follow the config.
 */
import type { CommandSpec, OptionSpec, RegistryEntry } from '../cli/command.js';

export interface CompletionFlag {
  /** `-f`, `--file`. */
  names: string[];
  /** The flag takes a value (`<path>`). */
  value: boolean;
  /** Complete the value as a file path. */
  file: boolean;
  choices: string[];
  description: string;
}

export interface CompletionCommand {
  /** `verify`, or `keys init`. */
  name: string;
  summary: string;
  flags: CompletionFlag[];
  /** Its first argument is a connection name from the config. */
  connectionArg: boolean;
}

export interface CompletionModel {
  commands: CompletionCommand[];
  globals: CompletionFlag[];
}

/** Global options every command takes (as src/cli/main.ts declares them), plus --help. */
export const GLOBAL_FLAGS: OptionSpec[] = [
  { flags: '--config <file>', description: 'configuration file' },
  { flags: '--home <dir>', description: 'data home' },
  { flags: '--json', description: 'print results as JSON on stdout' },
  { flags: '-q, --quiet', description: 'print only results and errors' },
  { flags: '-h, --help', description: 'display help for command' },
];

/** Value names that mean a path on disk. */
const FILE_VALUES = /^<(file|path|dir|out|directory)>$/;

/** Parses Commander flag syntax (`-f, --file <path>`). */
export function flagOf(o: OptionSpec): CompletionFlag {
  const tokens = o.flags.split(/[\s,|]+/).filter(Boolean);
  const names = tokens.filter((t) => t.startsWith('-'));
  const valueTok = tokens.find((t) => t.startsWith('<') || t.startsWith('['));
  return {
    names,
    value: Boolean(valueTok),
    file: Boolean(valueTok && FILE_VALUES.test(valueTok.replace(/\.\.\.|…/g, ''))),
    choices: [...(o.choices ?? [])],
    description: o.description.split('\n')[0]!,
  };
}

/** Loads every command's spec (lazily imported) and builds the model, in registry order. */
export async function buildCompletionModel(registry: readonly RegistryEntry[], extra: Record<string, CommandSpec> = {}): Promise<CompletionModel> {
  const commands: CompletionCommand[] = [];
  for (const e of registry) {
    const spec = extra[e.name] ?? (await e.load()).spec;
    const first = spec.args?.[0]?.name;
    commands.push({
      name: e.name,
      summary: e.summary,
      flags: (spec.options ?? []).map(flagOf),
      connectionArg: first === 'name' || first === 'conn' || first === 'connection',
    });
  }
  return { commands, globals: GLOBAL_FLAGS.map(flagOf) };
}

/** Top-level words: single commands and group names, in first-seen order. */
export function topWords(m: CompletionModel): Array<{ word: string; summary: string }> {
  const seen = new Map<string, string>();
  for (const c of m.commands) {
    const [w, sub] = c.name.split(' ');
    if (!seen.has(w!)) seen.set(w!, sub ? `${w} commands` : c.summary);
  }
  seen.set('help', 'Show help for a command');
  return [...seen].map(([word, summary]) => ({ word, summary }));
}

/** Sub-command words of each group. */
export function groupWords(m: CompletionModel): Map<string, CompletionCommand[]> {
  const out = new Map<string, CompletionCommand[]>();
  for (const c of m.commands) {
    const sp = c.name.indexOf(' ');
    if (sp < 0) continue;
    const g = c.name.slice(0, sp);
    out.set(g, [...(out.get(g) ?? []), c]);
  }
  return out;
}
