/**
 * ColumnCatalog: a cache of `(table OID, attribute number) → schema.table.column`, shared by every session
 * of one connection so a table's columns are looked up in pg_catalog once, not per session. The proxy's
 * message hook is synchronous, so get() answers from the cache at once and starts a lookup on a miss;
 * entries expire after `ttlMs` (a renamed column or a re-created table is picked up again).
 */

/** `(table OID, attribute number)` → `schema.table.column`, or undefined when not a table column. */
export type ColumnLookup = (tableOid: number, attnum: number) => Promise<string | undefined>;

interface Entry {
  name: string | undefined;
  at: number;
}

export class ColumnCatalog {
  readonly #lookup: ColumnLookup;
  readonly #now: () => number;
  readonly #ttlMs: number;
  readonly #names = new Map<string, Entry>();
  readonly #pending = new Map<string, Promise<void>>();

  /** `now` is the caller's clock (Ctx.clock.now); `ttlMs` defaults to 5 minutes. */
  constructor(lookup: ColumnLookup, opts: { now?: () => number; ttlMs?: number } = {}) {
    this.#lookup = lookup;
    this.#now = opts.now ?? (() => 0);
    this.#ttlMs = opts.ttlMs ?? 300_000;
  }

  /** The cached name; `undefined` = not a table column; `null` = not known yet (a lookup is started). */
  get(oid: number, attnum: number): string | undefined | null {
    const e = this.#names.get(`${oid}:${attnum}`);
    if (e && this.#now() - e.at <= this.#ttlMs) return e.name;
    void this.resolve(oid, attnum);
    return null;
  }

  /** Looks a pair up (once at a time per pair) and caches it; a failed lookup is retried next time. */
  resolve(oid: number, attnum: number): Promise<void> {
    const key = `${oid}:${attnum}`;
    const e = this.#names.get(key);
    if (e && this.#now() - e.at <= this.#ttlMs) return Promise.resolve();
    let p = this.#pending.get(key);
    if (!p) {
      p = this.#lookup(oid, attnum).then(
        (name) => { this.#names.set(key, { name, at: this.#now() }); this.#pending.delete(key); },
        () => { this.#pending.delete(key); },
      );
      this.#pending.set(key, p);
    }
    return p;
  }
}
