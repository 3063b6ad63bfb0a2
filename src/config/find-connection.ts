/**
 * Looking up a connection by the name a user typed (`pcigate connect prod-db`, `policy explain prod-db`).
 * An unknown name is a usage error (exit 2) with a "did you mean" from the configured names, and a
 * connection of the wrong kind says which kind it is.
 */
import { suggest } from '../cli/suggest.js';
import { UsageError } from '../errors.js';
import type { PcigateConfig } from './schema.js';
import type { Connection } from './sections/connections.js';

/** The connection `name`, optionally required to be of `kind`; throws UsageError otherwise. */
export function findConnection<K extends Connection['kind']>(
  config: PcigateConfig,
  name: string,
  kind?: K,
): Extract<Connection, { kind: K }> {
  const names = Object.keys(config.connections);
  const c = Object.hasOwn(config.connections, name) ? config.connections[name] : undefined;
  if (!c) {
    const guess = suggest(name, names);
    throw new UsageError(`unknown connection '${name}'${guess ? `. Did you mean '${guess}'?` : ''}`, {
      hint: names.length > 0
        ? `Configured connections: ${names.join(', ')}.`
        : "No connections are configured: add one under 'connections:' (see docs/pcigate.example.yaml).",
    });
  }
  if (kind !== undefined && c.kind !== kind) {
    throw new UsageError(`connection '${name}' is a ${c.kind} connection, not ${kind}`);
  }
  return c as Extract<Connection, { kind: K }>;
}
