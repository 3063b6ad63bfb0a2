/**
 * ColumnCatalog: a cache of `(table OID, attribute number) → schema.table.column`, shared by every session
 * of one connection so a table's columns are looked up in pg_catalog once, not per session. The proxy's
 * message hook is synchronous, so get() answers from the cache at once and starts a lookup on a miss;
 * entries expire after `ttlMs` (a renamed column or a re-created table is picked up again).
 *
 * Looked up a table at a time (all its columns). A RowDescription names a table OID only for a column of a
 * table, so a pair the lookup cannot find is in a table (or a column) the catalog's connection cannot see yet,
 * created or altered in a session's open transaction, not "no table column": it stays unresolved (null:
 * every qualified rule applies), and is asked again after `missTtlMs`. Cached as "not a table column", the
 * table's qualified rules would be skipped for `ttlMs` once its transaction commits.
 */

/**
 * One table's columns: attribute number → `schema.table.column`; empty when the table is not visible to the
 * lookup's connection. Lookups of several tables that start together may share one query (pg-hooks batches).
 */
export type ColumnLookup = (tableOid: number) => Promise<ReadonlyMap<number, string>>;

interface Entry {
  columns: ReadonlyMap<number, string>;
  at: number;
}

export class ColumnCatalog {
  readonly #lookup: ColumnLookup;
  readonly #now: () => number;
  readonly #ttlMs: number;
  readonly #missTtlMs: number;
  readonly #tables = new Map<number, Entry>();
  readonly #pending = new Map<number, Promise<void>>();

  /** `now` is the caller's clock (Ctx.clock.now); `ttlMs` defaults to 5 minutes, `missTtlMs` to 1 second. */
  constructor(lookup: ColumnLookup, opts: { now?: () => number; ttlMs?: number; missTtlMs?: number } = {}) {
    this.#lookup = lookup;
    this.#now = opts.now ?? (() => 0);
    this.#ttlMs = opts.ttlMs ?? 300_000;
    this.#missTtlMs = opts.missTtlMs ?? 1000;
  }

  /**
   * Whether the cached table answers for `attnum`: within the TTL, or for a column it does not have (not
   * visible to the lookup: the whole table, or a column added in an open transaction) within `missTtlMs`.
   */
  #fresh(e: Entry | undefined, attnum: number): e is Entry {
    return e !== undefined && this.#now() - e.at <= (e.columns.has(attnum) ? this.#ttlMs : this.#missTtlMs);
  }

  /** Whether get() answers from the cache for this pair (no lookup due). */
  known(oid: number, attnum: number): boolean {
    return this.#fresh(this.#tables.get(oid), attnum);
  }

  /** The cached name; `null` = not known (yet, or not to the catalog's connection: a lookup is started when due). */
  get(oid: number, attnum: number): string | null {
    const e = this.#tables.get(oid);
    if (this.#fresh(e, attnum)) return e.columns.get(attnum) ?? null;
    void this.resolve(oid, attnum);
    return null;
  }

  /**
   * Resolves every pair (a result's columns) not cached, waiting at most `maxMs`: after that, or when a lookup
   * fails, those columns stay unresolved (null: every qualified rule applies). A catalog table locked by
   * someone else must not stall a result for good.
   */
  resolveAll(pairs: ReadonlyArray<readonly [number, number]>, maxMs: number): Promise<void> | null {
    const missing = pairs.filter(([oid, attnum]) => oid !== 0 && !this.known(oid, attnum));
    if (missing.length === 0) return null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    return Promise.race([
      Promise.all(missing.map(([oid, attnum]) => this.resolve(oid, attnum))).then(() => undefined),
      new Promise<void>((r) => { timer = setTimeout(r, maxMs); timer.unref?.(); }),
    ]).finally(() => clearTimeout(timer));
  }

  /** Looks the pair's table up (once at a time per table) and caches its columns; a failed lookup is retried next time. */
  resolve(oid: number, attnum: number): Promise<void> {
    if (this.#fresh(this.#tables.get(oid), attnum)) return Promise.resolve();
    let p = this.#pending.get(oid);
    if (!p) {
      p = this.#lookup(oid).then(
        (columns) => { this.#tables.set(oid, { columns, at: this.#now() }); this.#pending.delete(oid); },
        () => { this.#pending.delete(oid); },
      );
      this.#pending.set(oid, p);
    }
    return p;
  }
}
