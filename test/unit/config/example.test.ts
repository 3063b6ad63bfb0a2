import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/parse-config.js';
import { configSchema } from '../../../src/config/schema.js';
import { keysAt } from '../../../src/config/schema-walk.js';

const EXAMPLE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'docs', 'pcigate.example.yaml');
const text = readFileSync(EXAMPLE, 'utf8');

/** Keys the schema accepts at `at` (recursively into objects) that the example does not show. */
function missing(data: unknown, at: string[], exempt: Set<string>): string[] {
  const out: string[] = [];
  let here: unknown = data;
  for (const seg of at) here = (here as Record<string, unknown>)[seg];
  for (const key of keysAt(configSchema, at, data)) {
    const dotted = [...at, key].join('.');
    if (exempt.has(key)) continue;
    const v = (here as Record<string, unknown>)[key];
    if (v === undefined) { out.push(dotted); continue; }
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && keysAt(configSchema, [...at, key], data).length > 0) {
      out.push(...missing(data, [...at, key], exempt));
    }
  }
  return out;
}

describe('docs/pcigate.example.yaml', () => {
  it('is a valid configuration', () => {
    expect(() => parseConfigText(text, EXAMPLE)).not.toThrow();
  });

  it('shows every key of the connections and audit sections and every top-level section', () => {
    const data = parse(text) as unknown;
    // socket is the commented alternative to host (they are mutually exclusive).
    const exempt = new Set(['socket']);
    expect(missing(data, [], new Set(['connections', 'identity', 'audit', 'masking', 'policy']))).toEqual([]);
    expect(missing(data, ['audit'], exempt)).toEqual([]);
    expect(missing(data, ['connections', 'prod-db'], exempt)).toEqual([]);
    expect(missing(data, ['connections', 'bastion'], exempt)).toEqual([]);
    expect(text).toMatch(/# socket: /);
  });

  it('shows every key of the identity, masking and policy sections', () => {
    const data = parse(text) as unknown;
    // resource is shown commented (most providers need none).
    expect(missing(data, ['identity'], new Set(['resource']))).toEqual([]);
    expect(text).toMatch(/# resource: /);
    expect(missing(data, ['masking'], new Set())).toEqual([]);
    expect(missing(data, ['policy'], new Set())).toEqual([]);
    expect(missing(data, ['policy', 'connections', 'prod-db'], new Set())).toEqual([]);
    expect(missing(data, ['policy', 'connections', 'prod-db', 'roles', 'support'], new Set())).toEqual([]);
    const roles = (data as { policy: { roles: Record<string, object> } }).policy.roles;
    const shown = new Set(Object.values(roles).flatMap((r) => Object.keys(r)));
    expect(keysAt(configSchema, ['policy', 'roles', 'support'], data).filter((k) => !shown.has(k))).toEqual([]);
  });

  it('comments every key that has a value', () => {
    // A key line with a value carries a comment on it or on the line above; `name:` opening a block is exempt.
    const lines = text.split('\n');
    const bare = lines.flatMap((l, i) => {
      if (!/^\s*[a-z_][a-z0-9_-]*:\s*\S/.test(l) || l.includes('#')) return [];
      return /#/.test(lines[i - 1] ?? '') ? [] : [`${i + 1}: ${l.trim()}`];
    });
    expect(bare).toEqual([]);
  });
});
