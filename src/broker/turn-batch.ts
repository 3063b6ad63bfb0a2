/**
 * Side lookups asked for in the same event-loop turn, run as one: a RowDescription names several tables, a
 * statement several fields, and each would otherwise cost a side query (pg-query-client.ts: a connection each).
 */

/**
 * A lookup of one key that shares `run` with every key asked for in the same turn. `run` answers for every key
 * it is given. The batch closes before its query starts (the next turn), so a key asked later starts another;
 * when `run` fails, every key of its batch fails.
 */
export function turnBatch<K, V>(run: (keys: K[]) => Promise<Map<K, V>>): (key: K) => Promise<V> {
  let batch: { keys: Set<K>; found: Promise<Map<K, V>> } | undefined;
  return (key) => {
    if (!batch) {
      const keys = new Set<K>();
      const found = new Promise<void>((r) => { setImmediate(r); }).then(() => { batch = undefined; return run([...keys]); });
      batch = { keys, found };
    }
    batch.keys.add(key);
    return batch.found.then((m) => m.get(key)!);
  };
}
