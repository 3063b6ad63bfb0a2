/**
 * A first-in first-out queue whose shift costs O(1) amortized, for queues a peer can make long: a client that
 * pipelines 160K Syncs (781 KiB) puts 160K entries in the relay's expectation queue. Array.prototype.shift
 * moves every element left once an array is large (V8 trims in place only small ones), so draining such a
 * queue is quadratic, and every session shares the one event loop.
 *
 * The head is an index into the array instead. The slots before it are dropped when the queue empties, or
 * once they are most of the array: each entry is moved at most once per halving, so O(1) amortized.
 */
export class Fifo<T> implements Iterable<T> {
  private items: Array<T | undefined> = [];
  private head = 0;

  /** Dead slots before the head kept at most (beyond half the array they are dropped). */
  static readonly COMPACT_AFTER = 1024;

  get length(): number {
    return this.items.length - this.head;
  }

  /** The entry `i` places from the head (0 is the next one out); a negative `i` counts from the tail, as Array.at. */
  at(i: number): T | undefined {
    const k = i < 0 ? this.items.length + i : this.head + i;
    return k >= this.head ? this.items[k] : undefined;
  }

  push(x: T): void {
    this.items.push(x);
  }

  shift(): T | undefined {
    if (this.head === this.items.length) return undefined;
    const x = this.items[this.head];
    this.dropHead();
    return x;
  }

  /**
   * Removes and returns the entry `i` places from the head: the ones before it move back one slot, so this
   * costs O(i), not O(length) as Array.splice(i, 1) does.
   */
  removeAt(i: number): T | undefined {
    if (i < 0 || i >= this.length) return undefined;
    const k = this.head + i;
    const x = this.items[k];
    for (let j = k; j > this.head; j--) this.items[j] = this.items[j - 1];
    this.dropHead();
    return x;
  }

  /** Removes every entry and returns them in order (Array.splice(0)). */
  drain(): T[] {
    const all = this.items.slice(this.head) as T[];
    this.items = [];
    this.head = 0;
    return all;
  }

  some(test: (x: T) => boolean): boolean {
    return this.findIndex(test) >= 0;
  }

  /** The place from the head of the first entry that passes `test`, or -1. */
  findIndex(test: (x: T) => boolean): number {
    for (let k = this.head; k < this.items.length; k++) if (test(this.items[k] as T)) return k - this.head;
    return -1;
  }

  *[Symbol.iterator](): Iterator<T> {
    for (let k = this.head; k < this.items.length; k++) yield this.items[k] as T;
  }

  /** Frees the head slot (the entry is not kept alive) and moves past it, compacting when it is time. */
  private dropHead(): void {
    this.items[this.head] = undefined;
    this.head++;
    if (this.head === this.items.length) {
      // Empty: the usual case between batches, and free.
      this.items.length = 0;
      this.head = 0;
    } else if (this.head > Fifo.COMPACT_AFTER && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
