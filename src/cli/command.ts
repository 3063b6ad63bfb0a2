/**
 * What a file in commands/ exports: a declarative spec (flags, arguments, examples) that help and the
 * completion generator read, and a run() that calls one function in src/ or recorder/, renders the result
 * and returns an exit code.
 */
import type { Ctx } from './ctx.js';
import type { Output } from './output.js';

export interface GlobalOptions {
  /** --config FILE, or undefined to use the search order in src/config. */
  config?: string;
  /** --home DIR, PCIGATE_HOME, or undefined to let the command decide (see resolveHome). */
  home?: string;
  json: boolean;
  quiet: boolean;
}

export interface OptionSpec {
  /** Commander flag syntax, e.g. `--port <n>`, `--json`, `-f, --file <path>`. */
  flags: string;
  description: string;
  default?: string | boolean | string[];
  choices?: readonly string[];
  /** Option may be given several times; the value is an array. */
  repeatable?: boolean;
}

export interface ArgSpec {
  name: string;
  description: string;
  required?: boolean;
  variadic?: boolean;
}

export interface CommandInput {
  args: string[];
  opts: Record<string, unknown>;
  global: GlobalOptions;
  out: Output;
}

export interface CommandSpec {
  /** Longer text under the summary in --help. */
  description?: string;
  args?: ArgSpec[];
  options?: OptionSpec[];
  /** [what it does, the command line], shown as `# what` / `$ pcigate …`. */
  examples: Array<[string, string]>;
  /** Everything after the positional arguments (and after `--`) is passed through untouched. */
  passThrough?: boolean;
  run(ctx: Ctx, input: CommandInput): Promise<number>;
}

export interface RegistryEntry {
  /** `verify`, or `keys init` for a command in a group. */
  name: string;
  summary: string;
  load: () => Promise<{ spec: CommandSpec }>;
}
