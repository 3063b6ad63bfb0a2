/**
 * Within one judgement (judgingPaths: the statements of one string), tableAllowed remembers, per allow list and
 * search path, which sets of patterns cover the path, and reads a path grown in place (PathList) from where it
 * stopped: n names on a path of n schemas were n² glob tests. The checks below hold it to the function it
 * replaced, which read every schema for every name, inside a judgement and outside one.
 */
import { describe, expect, it } from 'vitest';
import { judgingPaths, PathList, tableAllowed } from '../../../src/policy/name-match.js';

/** tableAllowed as it was: every schema of the path, every pattern, for each name. */
function oracle(name: string, patterns: readonly string[], searchPath: readonly string[]): boolean {
  const glob = (p: string) => new RegExp(`^${p.split('*').map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  const split = (x: string) => { const i = x.lastIndexOf('.'); return i < 0 ? { rel: x } : { schema: x.slice(0, i), rel: x.slice(i + 1) }; };
  const n = split(name);
  const qualified = (pattern: string, schema: string) => { const p = split(pattern); return glob(p.rel).test(n.rel) && (p.schema === undefined || glob(p.schema).test(schema)); };
  const schemas = n.schema !== undefined ? [n.schema] : searchPath.length > 0 ? searchPath : ['public'];
  const allowedIn = (s: string) => patterns.some((p) => qualified(p, s));
  if (!schemas.every(allowedIn)) return false;
  return n.schema !== undefined || !n.rel.startsWith('pg_') || schemas.includes('pg_catalog') || allowedIn('pg_catalog');
}

describe('tableAllowed on a search path', () => {
  it('refuses a name once the path grows in place by a schema its patterns do not cover', () => judgingPaths(() => {
    const patterns = ['x*.*', 'public.orders'];
    const path = new PathList(['x1', 'x2']);
    expect(tableAllowed('cards', patterns, path.items)).toBe(true);
    expect(tableAllowed('orders', patterns, path.items)).toBe(true);
    path.add(['public']);
    expect(tableAllowed('cards', patterns, path.items)).toBe(false);
    expect(tableAllowed('orders', patterns, path.items)).toBe(true);
    path.add(['x3', 'evil']);
    expect(tableAllowed('orders', patterns, path.items)).toBe(false);
  }));

  it('sees a name of a path changed in place between judgements', () => {
    const path = ['x1', 'x2'];
    expect(judgingPaths(() => tableAllowed('cards', ['x*.*'], path))).toBe(true);
    path[1] = 'public';
    expect(judgingPaths(() => tableAllowed('cards', ['x*.*'], path))).toBe(false);
  });

  it('allows n names on a path of n schemas the patterns cover, and refuses them all when one schema is not', () => judgingPaths(() => {
    const schemas = Array.from({ length: 4000 }, (_, i) => `x${i}`);
    const names = Array.from({ length: 4000 }, (_, i) => `t${i}`);
    expect(names.every((t) => tableAllowed(t, ['x*.*'], schemas))).toBe(true);
    const withOther = [...schemas, 'other'];
    expect(names.some((t) => tableAllowed(t, ['x*.*'], withOther))).toBe(false);
  }));

  it('decides as the function it replaced on random allow lists, names and paths grown in place', () => {
    const patternPool = ['public.*', 'x*.*', '*.orders', 'a*.t*', 't1', '*', 'pg_catalog.pg_class', 's.*', '*.pg_*', 'x1.t*', 'orders', 'pg_*'];
    const schemaPool = ['public', 'x1', 'x2', 'a', 'ab', 's', 'pg_catalog', 'evil', '$user', 'x1'];
    const namePool = ['orders', 't1', 't2', 'pg_class', 'pg_authid', 'x1.t1', 'public.orders', 'evil.t1', 'pg_catalog.pg_class', 'cards', 'a.t1'];
    let seed = 20_261_205;
    const rand = (n: number) => Math.floor(((seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff) / 0x80000000) * n);
    let checks = 0;
    let allowed = 0;
    for (let round = 0; round < 400; round++) judgingPaths(() => {
      const patterns = Array.from({ length: 1 + rand(4) }, () => patternPool[rand(patternPool.length)]!);
      const path = new PathList([]);
      for (let step = 0; step < 30; step++) {
        if (rand(3) === 0) path.add(Array.from({ length: 1 + rand(2) }, () => schemaPool[rand(schemaPool.length)]!));
        const name = namePool[rand(namePool.length)]!;
        const got = tableAllowed(name, patterns, path.items);
        expect(got, `${name} ${JSON.stringify(patterns)} ${JSON.stringify(path.items)}`).toBe(oracle(name, patterns, path.items));
        // Outside a judgement nothing is remembered.
        expect(tableAllowed(name, patterns, [...path.items])).toBe(got);
        checks++;
        if (got) allowed++;
      }
    });
    expect(checks).toBe(12_000);
    // Both answers are well represented.
    expect(allowed).toBeGreaterThan(2000);
    expect(checks - allowed).toBeGreaterThan(2000);
  });
});
