/** The verifier's single-pass prefix roots agree with recorder/merkle.ts rootOf (RFC 6962 MTH) at every size. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { rootOf } from '../../../recorder/merkle.js';
import { longestIncreasing } from '../../../recorder/verify-order.js';
import { prefixRoots } from '../../../recorder/verify-roots.js';

const leaves = Array.from({ length: 70 }, (_, i) => createHash('sha256').update(`leaf ${i}`).digest());

describe('prefixRoots', () => {
  it('matches rootOf for every prefix 0…70 in one pass', () => {
    const sizes = Array.from({ length: 71 }, (_, i) => i);
    const roots = prefixRoots(leaves.length, (q) => leaves[q], sizes);
    for (const n of sizes) expect(roots.get(n)?.toString('hex'), `size ${n}`).toBe(rootOf(leaves, n).toString('hex'));
  });

  it('gives no root past a missing leaf, and ignores sizes beyond the count', () => {
    const roots = prefixRoots(10, (q) => (q === 6 ? undefined : leaves[q]), [3, 6, 7, 10, 11]);
    expect(roots.get(3)).toEqual(rootOf(leaves, 3));
    expect(roots.get(6)).toEqual(rootOf(leaves, 6));
    expect(roots.has(7)).toBe(false);
    expect(roots.has(10)).toBe(false);
    expect(roots.has(11)).toBe(false);
  });
});

describe('longestIncreasing', () => {
  it('keeps one longest increasing run and flags the rest', () => {
    const flags = (v: number[]) => [...longestIncreasing(v)];
    expect(flags([0, 1, 2, 3])).toEqual([1, 1, 1, 1]);
    expect(flags([0, 2, 1, 3])).toEqual([1, 0, 1, 1]);
    expect(flags([0, 9, 1, 2, 3])).toEqual([1, 0, 1, 1, 1]);
    expect(flags([5, 0, 1, 2])).toEqual([0, 1, 1, 1]);
  });
});
