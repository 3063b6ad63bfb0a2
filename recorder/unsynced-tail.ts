/**
 * UnsyncedTail: the bytes of the current segment that write(2) has handed to the kernel but no fdatasync has
 * yet covered, in the `os` durability mode (docs/log-format.md "Failure semantics").
 *
 * They are kept in memory until an fdatasync covers them, because after a failed fdatasync Linux may
 * already have dropped the dirty pages (and a later fdatasync then succeeds without them): the only safe
 * repair is to cut the file back to the last length known durable and write those bytes again. The tail is
 * bounded by what arrives in one `audit.sync_interval`.
 */
import type { FileHandle } from 'node:fs/promises';
import { writeAllTo } from './durable-fs.js';

export class UnsyncedTail {
  private chunks: Buffer[] = [];
  private pendingBytes = 0;

  /** @param durableBytes the segment length an fdatasync has covered. */
  constructor(public durableBytes: number) {}

  /** True while written bytes wait for an fdatasync. */
  get pending(): boolean {
    return this.chunks.length > 0;
  }

  /** Bytes written but not yet covered. */
  get bytes(): number {
    return this.pendingBytes;
  }

  /** Records bytes that a write just appended to the segment. */
  add(buf: Buffer): void {
    this.chunks.push(buf);
    this.pendingBytes += buf.length;
  }

  /**
   * fdatasync(2) of the segment: on success the bytes written before it started count as durable (bytes
   * written while it ran stay pending). Writes may run concurrently; repair() may not.
   */
  async sync(fh: FileHandle): Promise<void> {
    const n = this.chunks.length;
    const covered = this.pendingBytes;
    await fh.datasync();
    this.chunks.splice(0, n);
    this.pendingBytes -= covered;
    this.durableBytes += covered;
  }

  /**
   * After a failed fdatasync: truncate the segment to its durable length (its reserved room goes with it), write
   * the pending bytes again where they were and fdatasync them. Throws when the disk still fails (the caller keeps
   * failing closed and retries).
   */
  async repair(fh: FileHandle): Promise<void> {
    await fh.truncate(this.durableBytes);
    let at = this.durableBytes;
    for (const c of this.chunks) {
      await writeAllTo(fh, c, at);
      at += c.length;
    }
    await fh.datasync();
    this.durableBytes += this.pendingBytes;
    this.chunks = [];
    this.pendingBytes = 0;
  }

  /** A new segment starts (the old one was synced first): nothing of it is pending. */
  reset(durableBytes: number): void {
    this.chunks = [];
    this.pendingBytes = 0;
    this.durableBytes = durableBytes;
  }
}
