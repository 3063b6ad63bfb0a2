/**
 * Work still under way that an end waits for: records being written, sessions running, decisions being made. An end
 * waits also for what begins while it waits (a decision that starts as the session ends), so `settled` loops until
 * nothing is left. Rejections are the adder's to handle (catch before add); `settled` only waits.
 */
export class Pending {
  readonly #set = new Set<Promise<unknown>>();

  get size(): number {
    return this.#set.size;
  }

  /** `p`, kept until it settles; returned as given. */
  add<T>(p: Promise<T>): Promise<T> {
    this.#set.add(p);
    const done = () => { this.#set.delete(p); };
    p.then(done, done);
    return p;
  }

  /** The promises under way now (a settle that reports rejections reads them). */
  snapshot(): Array<Promise<unknown>> {
    return [...this.#set];
  }

  /** Resolves once nothing is under way, including what was added meanwhile. */
  async settled(): Promise<void> {
    while (this.#set.size > 0) await Promise.allSettled([...this.#set]);
  }
}
