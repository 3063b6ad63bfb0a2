/**
 * A string constant's text as the server reads it, for every place policy reads a name or value out of a
 * statement: a setting named in current_setting(), set_config() or a pg_settings filter, and set_config's value.
 */
import { nodeOf } from './pg-node.js';
import type { PgNode } from './pg-parser.js';

/**
 * Collations under which `=` is equality of the bytes (PostgreSQL's own, deterministic). A collation a role
 * creates may be nondeterministic (`deterministic = false`): `name = 'primaryconninfo' COLLATE loose` is then
 * true of primary_conninfo, a name policy does not read as equal.
 */
const BYTEWISE_COLLATIONS: ReadonlySet<string> = new Set(['default', 'C', 'POSIX', 'ucs_basic']);

/**
 * A string constant's text as the server reads it, through a cast to text and COLLATE of a bytewise collation;
 * undefined for anything else. Another cast may change the text (char(n) trims trailing spaces, varchar(n) cuts
 * it short, a domain may be either), so `'primary_conninfo   '::char(20)` is no constant here: its text is not
 * the name read.
 */
export function constString(v: unknown): string | undefined {
  const n = nodeOf(v);
  if (n?.[0] === 'TypeCast') return isText(n[1].typeName) ? constString(n[1].arg) : undefined;
  if (n?.[0] === 'CollateClause') return BYTEWISE_COLLATIONS.has(catalogName(n[1].collname) ?? '') ? constString(n[1].arg) : undefined;
  const s = n?.[0] === 'A_Const' ? (n[1].sval as PgNode | undefined)?.sval : undefined;
  return typeof s === 'string' ? s : undefined;
}

/** A TypeName of `text` or `pg_catalog.text`, no modifiers, not an array. */
function isText(typeName: unknown): boolean {
  const t = typeName as PgNode | undefined;
  return catalogName(t?.names) === 'text' && t?.typmods === undefined && t?.arrayBounds === undefined && t?.setof !== true;
}

/** The last name of a dotted name list, when it is `name` alone or `pg_catalog.name`. */
export function catalogName(list: unknown): string | undefined {
  if (!Array.isArray(list) || list.length > 2) return undefined;
  const parts = list.map((x) => nodeOf(x)?.[1].sval);
  if (parts.length === 2 && parts[0] !== 'pg_catalog') return undefined;
  const last = parts[parts.length - 1];
  return typeof last === 'string' ? last : undefined;
}
