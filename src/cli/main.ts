/**
 * main(): finds the command in the registry, builds its commander definition, runs it, and turns the
 * outcome into an exit code from the one table (src/cli/exit-codes.ts). Only the command that runs is
 * imported. Errors: PcigateError → its message, hint and exit row; commander's parse errors → usage (2)
 * with a "did you mean"; a file-system refusal (ENOSPC, EDQUOT, EROFS, EACCES, EPERM) → its message and a
 * hint (1); anything else → "internal error" (1). The stack only under PCIGATE_DEBUG.
 */
import { Command, CommanderError, Option } from 'commander';
import { groups, registry } from '../../commands/index.js';
import { PcigateError, UsageError } from '../errors.js';
import type { CommandSpec, GlobalOptions, OptionSpec, RegistryEntry } from './command.js';
import type { Ctx } from './ctx.js';
import { EXIT } from './exit-codes.js';
import { makeOutput } from './output.js';
import { suggest } from './suggest.js';
import { VERSION } from './version.js';


const GLOBAL_OPTIONS: OptionSpec[] = [
  { flags: '--config <file>', description: 'configuration file (default: $PCIGATE_CONFIG, ./pcigate.yaml, $XDG_CONFIG_HOME/pcigate/config.yaml)' },
  { flags: '--home <dir>', description: 'data home (default: $PCIGATE_HOME, audit.dir, $XDG_DATA_HOME/pcigate)' },
  { flags: '--json', description: 'print results as JSON on stdout' },
  { flags: '-q, --quiet', description: 'print only results and errors' },
];
const VALUE_GLOBALS = new Set(['--config', '--home']);

export async function main(argv: string[], ctx: Ctx): Promise<number> {
  const rawJson = argv.includes('--json');
  const out = makeOutput(ctx, { json: rawJson, quiet: argv.includes('--quiet') || argv.includes('-q') });
  try {
    return await dispatch(argv, ctx);
  } catch (err) {
    return report(err, ctx, out);
  }
}

async function dispatch(argv: string[], ctx: Ctx): Promise<number> {
  const words = positionalsBeforeDashDash(argv);
  if (argv.includes('--version') || argv.includes('-V')) {
    if (words.length === 0) { ctx.stdout.write(`${VERSION}\n`); return EXIT.ok; }
  }
  const grp = groups();
  const first = words[0];
  if (first === undefined || first === 'help') {
    const topic = first === 'help' ? words.slice(1).join(' ') : '';
    if (topic) return dispatch([topic.split(' '), '--help'].flat(), ctx);
    ctx.stdout.write(topLevelHelp());
    return argv.includes('--help') || argv.includes('-h') || first === 'help' ? EXIT.ok : EXIT.usage;
  }
  const two = words.length > 1 ? `${first} ${words[1]}` : undefined;
  const entry = registry.find((e) => e.name === two) ?? registry.find((e) => e.name === first);
  if (!entry) {
    const members = grp.get(first);
    if (members) {
      if (words[1] === undefined) {
        ctx.stdout.write(groupHelp(first, members));
        return argv.includes('--help') || argv.includes('-h') ? EXIT.ok : EXIT.usage;
      }
      throw unknownCommand(`${first} ${words[1]}`, members.map((m) => m.name));
    }
    throw unknownCommand(first, [...registry.map((e) => e.name.split(' ')[0]!), 'help']);
  }
  const { spec } = await entry.load();
  return runCommand(entry, spec, argv, ctx);
}

function unknownCommand(name: string, candidates: string[]): UsageError {
  const unique = [...new Set(candidates)];
  const guess = suggest(name, unique);
  return new UsageError(`unknown command '${name}'${guess ? `. Did you mean '${guess}'?` : ''}`, {
    hint: "Run 'pcigate --help' for the list of commands.",
  });
}

async function runCommand(entry: RegistryEntry, spec: CommandSpec, argv: string[], ctx: Ctx): Promise<number> {
  const nameParts = entry.name.split(' ');
  const program = new Command('pcigate').exitOverride().showSuggestionAfterError(true).enablePositionalOptions();
  let errText = '';
  const writers = {
    writeOut: (s: string) => { ctx.stdout.write(s); },
    writeErr: (s: string) => { errText += s; },
    outputError: (s: string) => { errText += s; },
  };
  program.configureOutput(writers);
  for (const o of GLOBAL_OPTIONS) program.addOption(toOption(o));
  let parent = program;
  for (const part of nameParts.slice(0, -1)) {
    parent = parent.command(part).exitOverride().configureOutput(writers).enablePositionalOptions();
    for (const o of GLOBAL_OPTIONS) parent.addOption(toOption(o));
  }
  const cmd = parent.command(nameParts[nameParts.length - 1]!).description(entry.summary).exitOverride().configureOutput(writers);
  if (spec.description) cmd.description(`${entry.summary}\n\n${reflowed(spec.description)}`);
  for (const a of spec.args ?? []) {
    const n = a.variadic ? `${a.name}...` : a.name;
    cmd.argument(a.required ? `<${n}>` : `[${n}]`, a.description);
  }
  for (const o of spec.options ?? []) cmd.addOption(toOption(o));
  for (const o of GLOBAL_OPTIONS) cmd.addOption(toOption(o));
  if (spec.passThrough) cmd.passThroughOptions().allowExcessArguments(true);
  cmd.addHelpText('after', examplesText(spec.examples));

  let result: number = EXIT.ok;
  cmd.action(async (...actionArgs: unknown[]) => {
    const command = actionArgs[actionArgs.length - 1] as Command;
    const opts = command.optsWithGlobals() as Record<string, unknown>;
    const global: GlobalOptions = {
      config: (opts.config as string | undefined) ?? undefined,
      home: (opts.home as string | undefined) ?? ctx.env.PCIGATE_HOME ?? undefined,
      json: Boolean(opts.json),
      quiet: Boolean(opts.quiet),
    };
    const out = makeOutput(ctx, { json: global.json, quiet: global.quiet });
    result = await spec.run(ctx, { args: command.args, opts, global, out });
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') return EXIT.ok;
      const msg = errText.replace(/^error: /, '').trim() || err.message.replace(/^error: /, '');
      throw new UsageError(msg, { hint: `Run 'pcigate ${entry.name} --help' for usage.` });
    }
    throw err;
  }
  return result;
}

function toOption(o: OptionSpec): Option {
  const opt = new Option(o.flags, o.description);
  if (o.choices) opt.choices(o.choices);
  if (o.repeatable) opt.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
  if (o.default !== undefined) opt.default(o.default);
  return opt;
}

function examplesText(examples: Array<[string, string]>): string {
  if (examples.length === 0) return '';
  return `\nExamples:\n${examples.map(([what, line]) => `  # ${what}\n  $ ${line}`).join('\n\n')}\n`;
}

/** Positional words before `--`, skipping global options and their values. */
function positionalsBeforeDashDash(argv: string[]): string[] {
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (a.startsWith('-')) {
      if (VALUE_GLOBALS.has(a)) i++;
      if (words.length > 0) break; // flags of the command itself follow: stop at the first one
      continue;
    }
    words.push(a);
    if (words.length === 2) break;
  }
  return words;
}

export function topLevelHelp(): string {
  const width = Math.max(...registry.map((e) => e.name.length));
  const lines = registry.map((e) => `  ${e.name.padEnd(width)}  ${e.summary}`);
  return [
    'pcigate — session broker and audit toolkit for PCI DSS environments',
    '',
    'Usage: pcigate [--config FILE] [--home DIR] [--json] [--quiet] <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Global options:',
    ...GLOBAL_OPTIONS.map((o) => `  ${o.flags.padEnd(18)}  ${o.description}`),
    `  ${'--version'.padEnd(18)}  print the version`,
    `  ${'-h, --help'.padEnd(18)}  help for pcigate or a command`,
    '',
    "Run 'pcigate <command> --help' for a command's flags and examples. NO_COLOR turns colour off.",
    '',
  ].join('\n');
}

function groupHelp(group: string, members: RegistryEntry[]): string {
  const width = Math.max(...members.map((e) => e.name.length));
  return [`Usage: pcigate ${group} <command>`, '', 'Commands:', ...members.map((e) => `  ${e.name.padEnd(width)}  ${e.summary}`), ''].join('\n');
}

/** File-system refusals a command can meet anywhere, reported as what they are rather than as internal errors. */
const ERRNO_HINTS: Record<string, string> = {
  ENOSPC: 'the file system is full; free space there and run the command again',
  EDQUOT: 'the disk quota is used up; free space there and run the command again',
  EROFS: 'that file system is mounted read-only',
  EACCES: 'check the permissions of that path (and of the data home, 0700)',
  EPERM: 'check the permissions of that path (and of the data home, 0700)',
};

function report(err: unknown, ctx: Ctx, out: ReturnType<typeof makeOutput>): number {
  if (err instanceof PcigateError) {
    out.warn(`pcigate: ${err.message}`);
    if (err.hint) out.warn(`hint: ${err.hint}`);
    if (ctx.env.PCIGATE_DEBUG && err.stack) out.warn(err.stack);
    return err.exit;
  }
  const e = err as NodeJS.ErrnoException;
  const hint = typeof e?.code === 'string' ? ERRNO_HINTS[e.code] : undefined;
  if (hint) {
    // The machine said no (a full disk, a read-only or forbidden path): not a fault of pcigate's.
    out.warn(`pcigate: ${e.message}`);
    out.warn(`hint: ${hint}`);
    if (ctx.env.PCIGATE_DEBUG && e.stack) out.warn(e.stack);
    return EXIT.error;
  }
  out.warn(`pcigate: internal error: ${e?.message ?? String(err)}`);
  if (ctx.env.PCIGATE_DEBUG && e?.stack) out.warn(e.stack);
  return EXIT.error;
}

/**
 * A command's description as paragraphs: its source lines are cut at the code's width, and commander wraps each
 * line again at the terminal's, so a line ending mid-sentence was shown as a short line of its own. A line that
 * starts with a blank or a dash (a list, an example) and a blank line (a paragraph's end) stay as written.
 */
export function reflowed(description: string): string {
  return description.replace(/([^\n])\n(?=[^\n\s-])/g, '$1 ');
}
