/**
 * RFC 6962 §2.1 Merkle hash trees (the same definitions as RFC 9162 §2.1): the leaf and node hashes, the
 * tree head over a list of leaves, an incremental accumulator for the writer, and audit (inclusion) and
 * consistency proofs with their verification.
 *
 * Every function here works on *leaf hashes* (32-byte SHA-256 outputs of leafHash), never on the raw
 * record bytes: the log writer and the verifier both hash each line once and keep the 32 bytes.
 */
import { createHash, hash } from 'node:crypto';

const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

/** RFC 6962 §2.1: MTH({}) = SHA-256() — the root of the empty tree. */
export const EMPTY_ROOT: Buffer = createHash('sha256').digest();

/*
 * crypto.hash (Node ≥ 20.12) is a one-shot digest about 2.5× faster than createHash().update().digest()
 * for inputs this small; the prefix byte and the input are laid out in one scratch buffer to use it. The
 * scratch is reused: safe because hashing is synchronous.
 */
const SCRATCH = Buffer.allocUnsafe(4097);

/** RFC 6962 §2.1 leaf hash: SHA-256(0x00 ‖ data). For a log record, data is the line without its `\n`. */
export function leafHash(data: Uint8Array): Buffer {
  if (data.length >= SCRATCH.length) return createHash('sha256').update(LEAF_PREFIX).update(data).digest();
  SCRATCH[0] = 0x00;
  SCRATCH.set(data, 1);
  return hash('sha256', SCRATCH.subarray(0, data.length + 1), 'buffer');
}

/**
 * Hex RFC 6962 leaf of buf[start, end) (a line without its `\n`): SHA-256(0x00 ‖ line) in one crypto.hash call, as
 * hex (see LeafLines.add). The byte before a line is the previous line's `\n`; it is set to 0x00 for the call and put
 * back at once, so the caller's bytes are unchanged when this returns (nothing else runs in between: this is
 * synchronous). The first line of a buffer has no byte before it and goes through a copy.
 */
export function leafHex(buf: Buffer, start: number, end: number): string {
  if (start === 0) {
    const b = Buffer.concat([LEAF_PREFIX, buf.subarray(0, end)]);
    return hash('sha256', b, 'hex');
  }
  const saved = buf[start - 1]!;
  buf[start - 1] = 0;
  try {
    return hash('sha256', buf.subarray(start - 1, end), 'hex');
  } finally {
    buf[start - 1] = saved;
  }
}

/**
 * Where a writer's batches are encoded one after another (LeafLines): a batch takes the free end of the current
 * slab and keeps the bytes it wrote (the unsynced tail holds them until an fdatasync covers them), so a batch of
 * a few records costs no buffer of its own (allocating 16 KiB per batch was ~5% of the append path's CPU). A
 * used-up slab is left to the batches that hold views of it; batches must be encoded one at a time.
 */
export class LineArena {
  buf: Buffer;
  at = 0;

  constructor(readonly slabBytes = 256 * 1024) {
    this.buf = Buffer.allocUnsafe(slabBytes);
  }
}

/** The least free room a batch starts with in an arena's slab; less, and a fresh slab is taken. */
const MIN_FREE = 16 * 1024;

/**
 * The log writer's batch: lines encoded to UTF-8 once, straight into the bytes that are written, each
 * line's leaf hash taken from those bytes in place (the byte before a line, which becomes the previous
 * line's `\n`, holds the 0x00 prefix while it is hashed). Encoding a line for its hash and again for the
 * write, and flattening the string twice, cost more than the hash itself. Given a LineArena the batch is
 * written into its slab; given a size, into a buffer of its own of that size.
 */
export class LeafLines {
  private buf: Buffer;
  private pos = 1; // byte 0 only ever holds the first line's prefix
  /** The arena whose slab `buf` is a view of, until the batch outgrows it or its bytes are taken. */
  private arena: LineArena | undefined;

  constructor(from: number | LineArena = 16_384) {
    if (typeof from === 'number') {
      this.buf = Buffer.allocUnsafe(from);
      return;
    }
    if (from.buf.length - from.at < MIN_FREE) {
      from.buf = Buffer.allocUnsafe(from.slabBytes);
      from.at = 0;
    }
    this.arena = from;
    this.buf = from.buf.subarray(from.at);
  }

  /**
   * Appends `line` (without its `\n`); returns leafHash(line's UTF-8 bytes) as lowercase hex: the form the next
   * line's `prev` and the accumulator take, and cheaper than a Buffer from crypto.hash (Node 20 makes each Buffer
   * result its own backing store: ~1.1 µs for a 600-byte line's leaf as a Buffer turned to hex, ~0.55 µs as hex).
   */
  add(line: string): string {
    const room = this.pos + line.length * 3 + 1; // UTF-8 takes at most 3 bytes per UTF-16 code unit
    if (room > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(room, this.buf.length * 2));
      this.buf.copy(bigger, 0, 0, this.pos);
      this.buf = bigger;
      this.arena = undefined; // what it wrote in the slab is copied, and that room is free for the next batch
    }
    const start = this.pos;
    const n = this.buf.write(line, start, 'utf8');
    this.buf[start - 1] = 0x00;
    const leaf = hash('sha256', this.buf.subarray(start - 1, start + n), 'hex');
    this.buf[start - 1] = 0x0a;
    this.pos = start + n + 1;
    return leaf;
  }

  /** Every line added, each ended by `\n` (a view of this batch's buffer: no copy). Taken once: no add() after it. */
  bytes(): Buffer {
    if (this.pos === 1) return Buffer.alloc(0);
    this.buf[this.pos - 1] = 0x0a;
    if (this.arena) {
      // The slab's bytes up to here are this batch's now: the next batch starts after them.
      this.arena.at += this.pos;
      this.arena = undefined;
    }
    return this.buf.subarray(1, this.pos);
  }
}

/** RFC 6962 §2.1 interior node hash: SHA-256(0x01 ‖ left ‖ right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  if (left.length !== 32 || right.length !== 32) return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
  SCRATCH[0] = 0x01;
  SCRATCH.set(left, 1);
  SCRATCH.set(right, 33);
  return hash('sha256', SCRATCH.subarray(0, 65), 'buffer');
}

/** nodeHash of two 32-byte hashes given and returned as lowercase hex (the accumulator's form). */
function nodeHex(left: string, right: string): string {
  SCRATCH[0] = 0x01;
  SCRATCH.write(left, 1, 'hex');
  SCRATCH.write(right, 33, 'hex');
  return hash('sha256', SCRATCH.subarray(0, 65), 'hex');
}

/** The largest power of two strictly smaller than n (n ≥ 2): RFC 6962's split point k. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** Exact for every safe integer (a power of two is exactly representable, so log2 is an integer). */
function isPowerOfTwo(n: number): boolean {
  return n >= 1 && Number.isInteger(Math.log2(n));
}

/**
 * Leaf hashes by index: an array, or anything that hands out leaf i (a verifier's flat buffer of a million
 * leaves need not become a million objects).
 */
export interface Leaves {
  readonly length: number;
  at(i: number): Uint8Array | undefined;
}

/** MTH(D[lo:hi]) by the RFC's recursion; O(hi − lo). */
function subtreeRoot(leaves: Leaves, lo: number, hi: number): Buffer {
  const n = hi - lo;
  if (n === 0) return EMPTY_ROOT;
  if (n === 1) return Buffer.from(leaves.at(lo) as Uint8Array);
  const k = splitPoint(n);
  return nodeHash(subtreeRoot(leaves, lo, lo + k), subtreeRoot(leaves, lo + k, hi));
}

/** RFC 6962 §2.1 Merkle Tree Hash over the given leaf hashes (the first `size` of them, default all). */
export function rootOf(leaves: readonly Uint8Array[], size: number = leaves.length): Buffer {
  if (size < 0 || size > leaves.length) throw new RangeError(`merkle: size ${size} outside 0..${leaves.length}`);
  const acc = new MerkleAccumulator();
  for (let i = 0; i < size; i++) acc.append(leaves[i] as Uint8Array);
  return acc.root();
}

/**
 * An append-only compact range (the "Merkle mountain" frontier): the roots of the perfect subtrees that
 * make up the tree so far, largest first. append() is O(log n) hashes amortised O(1); root() folds the
 * frontier right to left, which yields exactly RFC 6962's MTH because the RFC splits at the largest power
 * of two, i.e. along the same perfect subtrees.
 */
export class MerkleAccumulator {
  /**
   * Frontier hashes as lowercase hex: the writer's leaves come as hex (LeafLines.add), and crypto.hash gives hex
   * at less than half the cost of a Buffer (see LeafLines.add): ~0.6 µs an append where Buffers took ~0.9 µs.
   */
  private readonly hashes: string[] = [];
  /** Leaf count of each frontier subtree, matching `hashes`; always decreasing powers of two. */
  private readonly counts: number[] = [];
  private n = 0;

  get size(): number {
    return this.n;
  }

  /** Adds one leaf hash (32 bytes) at index `size`. */
  append(leaf: Uint8Array): void {
    if (leaf.length !== 32) throw new RangeError(`merkle: a leaf hash is 32 bytes, not ${leaf.length}`);
    this.appendHex(Buffer.from(leaf.buffer, leaf.byteOffset, 32).toString('hex'));
  }

  /** Adds one leaf hash given as 64 lowercase hex digits (LeafLines.add's). */
  appendHex(leaf: string): void {
    let h = leaf;
    let c = 1;
    while (this.counts.length > 0 && this.counts[this.counts.length - 1] === c) {
      this.counts.pop();
      h = nodeHex(this.hashes.pop() as string, h);
      c *= 2;
    }
    this.hashes.push(h);
    this.counts.push(c);
    this.n++;
  }

  /** MTH of all leaves appended so far. */
  root(): Buffer {
    if (this.hashes.length === 0) return EMPTY_ROOT;
    let r = this.hashes[this.hashes.length - 1] as string;
    for (let i = this.hashes.length - 2; i >= 0; i--) r = nodeHex(this.hashes[i] as string, r);
    return Buffer.from(r, 'hex');
  }

  /** An independent copy (e.g. to compute a checkpoint off the append path). */
  clone(): MerkleAccumulator {
    const c = new MerkleAccumulator();
    c.hashes.push(...this.hashes);
    c.counts.push(...this.counts);
    c.n = this.n;
    return c;
  }
}

/**
 * RFC 6962 §2.1.1 audit path PATH(m, D[n]) for leaf `index` in the tree of the first `size` leaves.
 * Ordered from the leaf's sibling up to the root's child, as verifyInclusion expects.
 */
export function inclusionProof(leaves: Leaves, index: number, size: number): Buffer[] {
  if (!(size >= 1 && size <= leaves.length)) throw new RangeError(`merkle: size ${size} outside 1..${leaves.length}`);
  if (!(index >= 0 && index < size)) throw new RangeError(`merkle: index ${index} outside 0..${size - 1}`);
  const path = (m: number, lo: number, hi: number): Buffer[] => {
    const n = hi - lo;
    if (n === 1) return [];
    const k = splitPoint(n);
    if (m < k) return [...path(m, lo, lo + k), subtreeRoot(leaves, lo + k, hi)];
    return [...path(m - k, lo + k, hi), subtreeRoot(leaves, lo, lo + k)];
  };
  return path(index, 0, size);
}

/**
 * RFC 9162 §2.1.3.2 (the algorithmic form of RFC 6962 §2.1.1): true when `proof` links leaf hash `leaf`
 * at `index` to `root` of a tree with `size` leaves.
 */
export function verifyInclusion(leaf: Uint8Array, index: number, size: number, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r: Buffer = Buffer.from(leaf);
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(root);
}

/**
 * RFC 6962 §2.1.2 consistency proof PROOF(m, D[n]) between the tree of the first m leaves and the tree of
 * the first n leaves (0 < m ≤ n ≤ leaves.length). Empty when m = n.
 */
export function consistencyProof(leaves: Leaves, m: number, n: number): Buffer[] {
  if (!(n >= 1 && n <= leaves.length)) throw new RangeError(`merkle: size ${n} outside 1..${leaves.length}`);
  if (!(m >= 1 && m <= n)) throw new RangeError(`merkle: old size ${m} outside 1..${n}`);
  const sub = (mm: number, lo: number, hi: number, complete: boolean): Buffer[] => {
    const size = hi - lo;
    if (mm === size) return complete ? [] : [subtreeRoot(leaves, lo, hi)];
    const k = splitPoint(size);
    if (mm <= k) return [...sub(mm, lo, lo + k, complete), subtreeRoot(leaves, lo + k, hi)];
    return [...sub(mm - k, lo + k, hi, false), subtreeRoot(leaves, lo, lo + k)];
  };
  return sub(m, 0, n, true);
}

/**
 * RFC 9162 §2.1.4.2 (the algorithmic form of RFC 6962 §2.1.2): true when `proof` shows that the tree of
 * size m with root `rootM` is a prefix of the tree of size n with root `rootN`. m = 0 is consistent with
 * anything given an empty proof (every tree extends the empty one).
 */
export function verifyConsistency(m: number, n: number, rootM: Uint8Array, rootN: Uint8Array, proof: readonly Uint8Array[]): boolean {
  if (!Number.isSafeInteger(m) || !Number.isSafeInteger(n) || m < 0 || m > n) return false;
  if (m === 0) return proof.length === 0;
  if (m === n) return proof.length === 0 && Buffer.from(rootM).equals(rootN);
  if (proof.length === 0) return false;
  const path = [...proof];
  // When m is a power of two the old root is itself a node of the new tree and the proof omits it.
  if (isPowerOfTwo(m)) path.unshift(rootM);
  let fn = m - 1;
  let sn = n - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr: Buffer = Buffer.from(path[0] as Uint8Array);
  let sr: Buffer = fr;
  for (let i = 1; i < path.length; i++) {
    const c = path[i] as Uint8Array;
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return fr.equals(rootM) && sr.equals(rootN) && sn === 0;
}
