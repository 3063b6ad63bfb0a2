/**
 * ColumnCatalog: a cache of `(table OID, attribute number) → schema.table.column`, shared by every session
 * of one connection so a table's columns are looked up in pg_catalog once, not per session. The proxy's
 * message hook is synchronous, so get() answers from the cache at once and starts a lookup on a miss;
 * entries expire after `ttlMs` (a renamed column or a re-created table is picked up again).
 *
 * A RowDescription names a table OID only for a column of a table, so a pair the lookup cannot find is in a
 * table the catalog's connection cannot see yet (created or altered in a session's open transaction), not
 * "no table column": it stays unresolved (null: every qualified rule of its name applies), and is asked again
 * after `missTtlMs`. Cached as "not a table column", the table's qualified rules would be skipped for `ttlMs`
 * once its transaction commits.
 */

/** `(table OID, attribute number)` → `schema.table.column`, or undefined when not a table column. */
export type ColumnLookup = (tableOid: number, attnum: number) => Promise<string | undefined>;

interface Entry {
  /** null: the lookup found nothing (see the module comment). */
  name: string | undefined | null;
  at: number;
}

export class ColumnCatalog {
  readonly #lookup: ColumnLookup;
  readonly #now: () => number;
  readonly #ttlMs: number;
  readonly #missTtlMs: number;
  readonly #names = new Map<string, Entry>();
  readonly #pending = new Map<string, Promise<void>>();

  /** `now` is the caller's clock (Ctx.clock.now); `ttlMs` defaults to 5 minutes, `missTtlMs` to 1 second. */
  constructor(lookup: ColumnLookup, opts: { now?: () => number; ttlMs?: number; missTtlMs?: number } = {}) {
    this.#lookup = lookup;
    this.#now = opts.now ?? (() => 0);
    this.#ttlMs = opts.ttlMs ?? 300_000;
    this.#missTtlMs = opts.missTtlMs ?? 1000;
  }

  #fresh(e: Entry | undefined): e is Entry {
    return e !== undefined && this.#now() - e.at <= (e.name === null ? this.#missTtlMs : this.#ttlMs);
  }

  /** The cached name; `null` = not known (yet, or not to the catalog's connection: a lookup is started when due). */
  get(oid: number, attnum: number): string | null {
    const e = this.#names.get(`${oid}:${attnum}`);
    if (this.#fresh(e)) return e.name ?? null;
    void this.resolve(oid, attnum);
    return null;
  }

  /** Looks a pair up (once at a time per pair) and caches it; a failed lookup is retried next time. */
  resolve(oid: number, attnum: number): Promise<void> {
    const key = `${oid}:${attnum}`;
    if (this.#fresh(this.#names.get(key))) return Promise.resolve();
    let p = this.#pending.get(key);
    if (!p) {
      p = this.#lookup(oid, attnum).then(
        (name) => { this.#names.set(key, { name: name ?? null, at: this.#now() }); this.#pending.delete(key); },
        () => { this.#pending.delete(key); },
      );
      this.#pending.set(key, p);
    }
    return p;
  }
}
