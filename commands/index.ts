/**
 * The command registry: names, one-line summaries (sentence case, no period) and lazy imports.
 * Help and the completion generator read it; main() imports only the command that runs.
 */
import type { RegistryEntry } from '../src/cli/command.js';

export const registry: RegistryEntry[] = [
];

/** The command groups (`keys`, `config`) derived from two-word names. */
export function groups(): Map<string, RegistryEntry[]> {
  const out = new Map<string, RegistryEntry[]>();
  for (const e of registry) {
    const sp = e.name.indexOf(' ');
    if (sp < 0) continue;
    const g = e.name.slice(0, sp);
    out.set(g, [...(out.get(g) ?? []), e]);
  }
  return out;
}
