import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  EMPTY_ROOT, LeafLines, LineArena, MerkleAccumulator, consistencyProof, inclusionProof, leafHash, nodeHash, rootOf,
  verifyConsistency, verifyInclusion,
} from '../../../recorder/merkle.js';

// An independent Merkle Tree Hash written straight from RFC 6962 §2.1, on the raw entries (not on leaf
// hashes), with its own SHA-256 calls, so a shared mistake in merkle.ts cannot hide here.
const sha = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
// MTH memoised by the identity of the entries in the slice (the slices below always come from `entries`),
// so the literal recursion stays cheap enough to run for every size and index.
const memo = new Map<string, Buffer>();
function mth(d: Buffer[]): Buffer {
  if (d.length === 0) return sha();
  if (d.length === 1) return sha(Buffer.from([0]), d[0]!);
  const key = `${entries.indexOf(d[0]!)}:${d.length}`;
  const hit = memo.get(key);
  if (hit) return hit;
  let k = 1;
  while (k << 1 < d.length) k <<= 1;
  const r = sha(Buffer.from([1]), mth(d.slice(0, k)), mth(d.slice(k)));
  memo.set(key, r);
  return r;
}
// RFC 6962 §2.1.1 PATH and §2.1.2 PROOF/SUBPROOF, literally.
function path(m: number, d: Buffer[]): Buffer[] {
  if (d.length === 1) return [];
  let k = 1;
  while (k << 1 < d.length) k <<= 1;
  return m < k ? [...path(m, d.slice(0, k)), mth(d.slice(k))] : [...path(m - k, d.slice(k)), mth(d.slice(0, k))];
}
function subproof(m: number, d: Buffer[], b: boolean): Buffer[] {
  if (m === d.length) return b ? [] : [mth(d)];
  let k = 1;
  while (k << 1 < d.length) k <<= 1;
  return m <= k ? [...subproof(m, d.slice(0, k), b), mth(d.slice(k))] : [...subproof(m - k, d.slice(k), false), mth(d.slice(0, k))];
}

const entries: Buffer[] = Array.from({ length: 70 }, (_, i) => Buffer.from(`{"seq":${i},"type":"test"}`));
const leaves = entries.map((e) => leafHash(e));

describe('merkle (RFC 6962 §2.1)', () => {
  it('hashes leaves and nodes with the domain-separation prefixes', () => {
    expect(leafHash(Buffer.from('x')).equals(sha(Buffer.from([0]), Buffer.from('x')))).toBe(true);
    expect(nodeHash(leaves[0]!, leaves[1]!).equals(sha(Buffer.from([1]), leaves[0]!, leaves[1]!))).toBe(true);
    expect(EMPTY_ROOT.toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(rootOf([]).equals(EMPTY_ROOT)).toBe(true);
    // the one-shot fast paths agree with the streaming hash at every size boundary and for UTF-8 strings
    for (const n of [0, 1, 31, 32, 33, 4095, 4096, 4097, 10000]) {
      const d = Buffer.alloc(n, n & 0xff);
      expect(leafHash(d).equals(sha(Buffer.from([0]), d)), `leaf of ${n} bytes`).toBe(true);
    }
    // The writer's batch: each line's leaf hash, and the bytes written (lines ended by \n), for UTF-8
    // text, empty lines, and a batch that outgrows its first buffer.
    const lines = ['', 'plain', '{"sql":"sélect ü — 💳"}', 'x'.repeat(5000), '', '€'.repeat(3000)];
    for (const start of [1, 64, 16_384]) {
      const batch = new LeafLines(start);
      for (const line of lines) expect(batch.add(line), `${line.slice(0, 20)} from ${start}`).toBe(sha(Buffer.from([0]), Buffer.from(line, 'utf8')).toString('hex'));
      expect(batch.bytes().equals(Buffer.from(lines.map((l) => `${l}\n`).join(''), 'utf8'))).toBe(true);
    }
    expect(new LeafLines().bytes().length).toBe(0);
    // Batches one after another in one arena (the writer's): each batch's bytes stay as written while later
    // batches are encoded after them (the unsynced tail rewrites them after a failed fdatasync), a batch that
    // outgrows the slab moves out of it, one never taken leaves its room to the next, and a used-up slab is
    // replaced. A slab of 20 KiB: the third batch below no longer fits the first.
    const arena = new LineArena(20 * 1024);
    const kept: Array<[Buffer, string]> = [];
    const batches = [['a', 'bb'], ['{"x":"ü"}'], ['y'.repeat(3000), 'z'], ['w'.repeat(30_000)], [], ['€€', 'q']];
    for (const [k, ls] of batches.entries()) {
      if (k === 1) new LeafLines(arena).add('never taken');
      const batch = new LeafLines(arena);
      for (const line of ls) expect(batch.add(line)).toBe(sha(Buffer.from([0]), Buffer.from(line, 'utf8')).toString('hex'));
      const text = ls.map((l) => `${l}\n`).join('');
      kept.push([batch.bytes(), text]);
      for (const [b, t] of kept) expect(b.toString('utf8')).toBe(t);
    }
    expect(nodeHash(Buffer.alloc(3, 1), Buffer.alloc(40, 2)).equals(sha(Buffer.from([1]), Buffer.alloc(3, 1), Buffer.alloc(40, 2)))).toBe(true);
  });

  it('rootOf and the accumulator equal the RFC MTH for every size 1..70', () => {
    const acc = new MerkleAccumulator();
    for (let n = 1; n <= 70; n++) {
      acc.append(leaves[n - 1]!);
      const want = mth(entries.slice(0, n));
      expect(acc.size).toBe(n);
      expect(acc.root().toString('hex'), `size ${n}`).toBe(want.toString('hex'));
      expect(rootOf(leaves, n).toString('hex')).toBe(want.toString('hex'));
    }
    const c = acc.clone();
    c.append(leaves[0]!);
    // appendHex (the writer's) builds the same tree from the leaves' hex, and a leaf hash not 32 bytes is refused
    const h = new MerkleAccumulator();
    for (const [i, l] of leaves.entries()) {
      h.appendHex(l.toString('hex'));
      if (i % 7 === 0) expect(h.root().equals(mth(entries.slice(0, i + 1))), `hex size ${i + 1}`).toBe(true);
    }
    expect(() => h.append(Buffer.alloc(31))).toThrow(/32 bytes/);
    expect(acc.size).toBe(70);
    expect(acc.root().equals(mth(entries))).toBe(true);
  });

  it('inclusion proofs match PATH and verify for every size 1..70 and index', () => {
    // Failures are collected and asserted once: ~2,500 cases × 6 checks through expect() is slow on a busy machine.
    const roots = Array.from({ length: 71 }, (_, n) => mth(entries.slice(0, n)));
    const failures: string[] = [];
    const check = (ok: boolean, what: string) => { if (!ok) failures.push(what); };
    for (let n = 1; n <= 70; n++) {
      const root = roots[n]!;
      for (let i = 0; i < n; i++) {
        const proof = inclusionProof(leaves, i, n);
        const want = path(i, entries.slice(0, n));
        check(proof.length === want.length && proof.every((p, j) => p.equals(want[j]!)), `PATH n=${n} i=${i}`);
        check(verifyInclusion(leaves[i]!, i, n, proof, root), `verifies n=${n} i=${i}`);
        // wrong leaf, wrong index, wrong size, tampered proof: all refused
        check(!verifyInclusion(leaves[(i + 1) % 70]!, i, n, proof, root), `wrong leaf n=${n} i=${i}`);
        if (n > 1) check(!verifyInclusion(leaves[i]!, (i + 1) % n, n, proof, root), `wrong index n=${n} i=${i}`);
        if (n < 70) check(!verifyInclusion(leaves[i]!, i, n + 1, proof, roots[n + 1]!), `wrong size n=${n} i=${i}`);
        if (proof.length > 0) {
          const bad = proof.map((p) => Buffer.from(p));
          bad[bad.length - 1]![0]! ^= 1;
          check(!verifyInclusion(leaves[i]!, i, n, bad, root), `tampered n=${n} i=${i}`);
          check(!verifyInclusion(leaves[i]!, i, n, proof.slice(0, -1), root), `short n=${n} i=${i}`);
        }
      }
      check(!verifyInclusion(leaves[0]!, n, n, [], root), `index = size n=${n}`);
    }
    expect(failures).toEqual([]);
  });

  it('consistency proofs match PROOF and verify for every m ≤ n ≤ 40', () => {
    const roots = Array.from({ length: 42 }, (_, n) => mth(entries.slice(0, n)));
    const shifted = Array.from({ length: 42 }, (_, n) => mth(entries.slice(1, n + 1)));
    for (let n = 1; n <= 40; n++) {
      const rootN = roots[n]!;
      for (let m = 1; m <= n; m++) {
        const rootM = roots[m]!;
        const proof = consistencyProof(leaves, m, n);
        expect(proof.map((p) => p.toString('hex'))).toEqual(subproof(m, entries.slice(0, n), true).map((p) => p.toString('hex')));
        expect(verifyConsistency(m, n, rootM, rootN, proof), `m=${m} n=${n}`).toBe(true);
        if (m < n) {
          // a different old root (a fork), a different new root, a tampered or truncated proof
          expect(verifyConsistency(m, n, shifted[m]!, rootN, proof)).toBe(false);
          expect(verifyConsistency(m, n, rootM, shifted[n]!, proof)).toBe(false);
          const bad = proof.map((p) => Buffer.from(p));
          bad[0]![5]! ^= 0x80;
          expect(verifyConsistency(m, n, rootM, rootN, bad)).toBe(false);
          expect(verifyConsistency(m, n, rootM, rootN, proof.slice(0, -1))).toBe(false);
          expect(verifyConsistency(m, n, rootM, rootN, [])).toBe(false);
        }
      }
    }
    expect(verifyConsistency(0, 5, EMPTY_ROOT, mth(entries.slice(0, 5)), [])).toBe(true);
    expect(verifyConsistency(3, 2, leaves[0]!, leaves[1]!, [])).toBe(false);
  });
});
