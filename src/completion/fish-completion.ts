/**
 * The fish completion script (fish `complete`): commands and group sub-commands with their summaries,
 * each command's flags (long and short, with choices), and connection names from
 * `pcigate completion --connections` for commands whose first argument is a connection.
 */
import type { CompletionFlag, CompletionModel } from './completion-model.js';
import { groupWords, topWords } from './completion-model.js';

function sq(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function flagLine(cond: string, f: CompletionFlag): string {
  const parts = ['complete -c pcigate', `-n ${sq(cond)}`];
  for (const n of f.names) parts.push(n.startsWith('--') ? `-l ${n.slice(2)}` : `-s ${n.slice(1)}`);
  if (f.value) parts.push(f.file ? '-r -F' : '-r -f');
  if (f.choices.length) parts.push(`-a ${sq(f.choices.join(' '))}`);
  parts.push(`-d ${sq(f.description)}`);
  return parts.join(' ');
}

/** Renders the fish script. */
export function fishCompletion(m: CompletionModel): string {
  const groups = groupWords(m);
  const tops = topWords(m);
  const lines = [
    '# fish completion for pcigate (generated from the command registry by `pcigate completion fish`; do not edit)',
    '# Install: pcigate completion fish > ~/.config/fish/completions/pcigate.fish',
    '',
    'complete -c pcigate -f',
    ...tops.map((t) => `complete -c pcigate -n '__fish_use_subcommand' -a ${sq(t.word)} -d ${sq(t.summary)}`),
    ...m.globals.map((f) => flagLine('true', f)),
  ];
  for (const [g, members] of groups) {
    const subs = members.map((c) => c.name.slice(g.length + 1));
    for (const c of members) {
      lines.push(`complete -c pcigate -n ${sq(`__fish_seen_subcommand_from ${g}; and not __fish_seen_subcommand_from ${subs.join(' ')}`)} -a ${sq(c.name.slice(g.length + 1))} -d ${sq(c.summary)}`);
    }
  }
  for (const c of m.commands) {
    const words = c.name.split(' ');
    const cond = words.map((w) => `__fish_seen_subcommand_from ${w}`).join('; and ');
    for (const f of c.flags) lines.push(flagLine(cond, f));
    if (c.connectionArg) lines.push(`complete -c pcigate -n ${sq(cond)} -a '(pcigate completion --connections 2>/dev/null)' -d 'connection'`);
  }
  return `${lines.join('\n')}\n`;
}
