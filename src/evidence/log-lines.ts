/**
 * Where each record line of the log is, and its RFC 6962 leaf (docs/log-format.md "Records"), without its
 * bytes: an evidence run keeps per line a segment number, a byte offset and a length in typed arrays and the
 * 32-byte leaf in one flat buffer, and reads back the few lines it hands out (samples) from their segment.
 * Holding every line instead kept every segment's bytes alive: the whole log in memory.
 */
import { VerificationError } from '../errors.js';
import { leafHash } from '../../recorder/merkle.js';
import type { Leaves } from '../../recorder/merkle.js';
import { grow, segmentBytes } from '../../recorder/verify-scan.js';
import type { SegmentSource } from '../../recorder/verify-types.js';

/** Record lines by index (the order they were added: file order), with their leaves as {@link Leaves}. */
export class LogLines implements Leaves {
  private n = 0;
  private seg = new Int32Array(1024);
  private offsets = new Float64Array(1024);
  private lengths = new Int32Array(1024);
  private leaves = new Uint8Array(1024 * 32);

  /** `segments` in the order their numbers in {@link add} refer to; re-read from these (recorder/verify-load.ts). */
  constructor(readonly segments: readonly SegmentSource[]) {}

  get length(): number {
    return this.n;
  }

  /** Adds the line `line` found at `offset` of segment `seg` (without its `\n`); returns its index. */
  add(seg: number, offset: number, line: Uint8Array): number {
    const i = this.n++;
    if (i === this.seg.length) {
      const cap = i * 2;
      this.seg = grow(this.seg, cap);
      this.offsets = grow(this.offsets, cap);
      this.lengths = grow(this.lengths, cap);
      this.leaves = grow(this.leaves, cap * 32);
    }
    this.seg[i] = seg;
    this.offsets[i] = offset;
    this.lengths[i] = line.length;
    this.leaves.set(leafHash(line), i * 32);
    return i;
  }

  /** The 32-byte leaf of line i (a view, not a copy), undefined past the end. */
  at(i: number): Uint8Array | undefined {
    return i >= 0 && i < this.n ? this.leaves.subarray(i * 32, i * 32 + 32) : undefined;
  }

  /** Byte offset of line i in its segment. */
  offset(i: number): number {
    return this.offsets[i]!;
  }

  /** Bytes of line i, without its `\n`. */
  bytes(i: number): number {
    return this.lengths[i]!;
  }

  /**
   * The exact bytes of the given lines (copies), read again from their segments, one segment at a time,
   * each segment once. The source reads a segment up to the size it had when first read, so records a
   * broker appended since do not move anything; a line whose bytes no longer hash to its leaf, or a segment
   * now too short or gone, throws VerificationError naming the segment: the log changed while evidence was
   * being built, and what was loaded is no longer what is there.
   */
  async read(indices: Iterable<number>): Promise<Map<number, Buffer>> {
    const bySeg = new Map<number, number[]>();
    for (const i of indices) {
      if (!(i >= 0 && i < this.n)) throw new RangeError(`log line ${i} outside 0..${this.n - 1}`);
      const g = this.seg[i]!;
      const list = bySeg.get(g);
      if (list) list.push(i);
      else bySeg.set(g, [i]);
    }
    const out = new Map<number, Buffer>();
    for (const g of [...bySeg.keys()].sort((a, b) => a - b)) {
      const source = this.segments[g]!;
      // Each segment's bytes are only looked at here: the previous one is garbage once the next is read.
      const bytes = await segmentBytes(source);
      for (const i of bySeg.get(g)!) {
        const from = this.offsets[i]!;
        const to = from + this.lengths[i]!;
        const line = to <= bytes.length ? Buffer.from(bytes.subarray(from, to)) : undefined;
        if (!line || !leafHash(line).equals(this.at(i)!)) {
          throw new VerificationError(
            `the segment ${source.name} changed while the evidence was being built: ${line ? `the line at byte ${from} is no longer the one read before` : `it is now ${bytes.length} bytes, the line at byte ${from} is gone`}`,
            { hint: 'the log was modified, replaced or cut during the run: run `pcigate verify`, then build the bundle again' },
          );
        }
        out.set(i, line);
      }
    }
    return out;
  }
}
