/**
 * RFC 6962 §2.1 roots of many prefixes of one leaf sequence in a single pass — the verifier's hot-path
 * twin of recorder/merkle.ts MerkleAccumulator (same compact-range algorithm: the frontier of perfect
 * subtrees, folded right to left), with the node hash SHA-256(0x01 ‖ left ‖ right) taken by one-shot
 * crypto.hash over a reused 65-byte buffer and the frontier kept in one flat buffer. On the 1M-record
 * benchmark this is several times cheaper than createHash per node. test/unit/recorder/verify-roots.test.ts
 * checks it against merkle.ts rootOf.
 */
import { hash } from 'node:crypto';
import { EMPTY_ROOT } from './merkle.js';

/**
 * Roots of the first n leaves for every n in `wanted` (0 ≤ n ≤ count). `leafAt(q)` returns leaf q
 * (32 bytes), or undefined when it is missing: sizes beyond a missing leaf get no root.
 */
export function prefixRoots(count: number, leafAt: (q: number) => Uint8Array | undefined, wanted: Iterable<number>): Map<number, Buffer> {
  const want = [...new Set(wanted)].filter((n) => Number.isSafeInteger(n) && n >= 0 && n <= count).sort((a, b) => a - b);
  const out = new Map<number, Buffer>();
  // Frontier: at most 53 perfect subtrees for any safe-integer size.
  const frontier = Buffer.alloc(64 * 32);
  const sizes: number[] = [];
  const scratch = Buffer.alloc(65);
  scratch[0] = 0x01;
  const node = (leftAt: number, right: Uint8Array): Buffer => {
    frontier.copy(scratch, 1, leftAt, leftAt + 32);
    scratch.set(right, 33);
    return hash('sha256', scratch, 'buffer') as unknown as Buffer;
  };
  const root = (): Buffer => {
    if (sizes.length === 0) return Buffer.from(EMPTY_ROOT);
    let r: Buffer = Buffer.from(frontier.subarray((sizes.length - 1) * 32, sizes.length * 32));
    for (let k = sizes.length - 2; k >= 0; k--) r = node(k * 32, r);
    return r;
  };
  let k = 0;
  for (let q = 0; k < want.length; q++) {
    while (k < want.length && want[k] === q) out.set(want[k++]!, root());
    if (q >= count) break;
    const leaf = leafAt(q);
    if (!leaf) break;
    let h: Uint8Array = leaf;
    let c = 1;
    while (sizes.length > 0 && sizes[sizes.length - 1] === c) {
      sizes.pop();
      h = node(sizes.length * 32, h);
      c *= 2;
    }
    frontier.set(h, sizes.length * 32);
    sizes.push(c);
  }
  return out;
}
