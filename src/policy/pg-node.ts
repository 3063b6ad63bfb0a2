/**
 * Reading libpg-query's raw parse trees (pg_query's JSON output): every Node is an object of one key, its type,
 * holding the node's fields, except where a field's type is fixed (a statement's `relation` is a bare RangeVar,
 * a set operation's arms bare SelectStmts).
 */
import type { PgNode } from './pg-parser.js';

/** A parse-tree object (a node or a node's fields), not an array. */
export function isObj(v: unknown): v is PgNode {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `{ NodeType: {…} }` → [type, fields]; libpg-query wraps every Node this way. */
export function nodeOf(v: unknown): [string, PgNode] | undefined {
  if (!isObj(v)) return undefined;
  const keys = Object.keys(v);
  if (keys.length !== 1) return undefined;
  const k = keys[0]!;
  const inner = v[k];
  if (!/^[A-Z]/.test(k) || !isObj(inner)) return undefined;
  return [k, inner];
}
