/**
 * Reads of pg_settings that hold no superuser-only setting (server-secrets.ts): a SELECT or UPDATE whose only
 * relation is pg_settings and whose WHERE lets through named settings only, none of them superuser-only. The
 * forms clients send: pg_dump's `SELECT set_config(name, …) FROM pg_settings WHERE name = '<setting>'`, and
 * psql's `\dconfig <pattern>`:
 * `SELECT s.name, pg_catalog.current_setting(s.name) FROM pg_catalog.pg_settings s
 *  WHERE pg_catalog.lower(s.name) OPERATOR(pg_catalog.~) '^(work_mem)$' COLLATE pg_catalog.default`.
 */
import { catalogName, constString } from './const-string.js';
import { nodeOf } from './pg-node.js';
import type { PgNode } from './pg-parser.js';
import { SUPERUSER_ONLY_SETTINGS } from './superuser-settings.js';

export interface SettingsRead {
  /** The pg_settings RangeVar (unwrapped). */
  rel: object;
  /**
   * Whether it lets superuser-only rows through hangs on the WHERE's constants (a name, a pattern, and whether it
   * is one policy can read at all): a text differing only in them must not share the decision.
   */
  readsConstants: true;
  /** No row it lets through is a superuser-only setting's. */
  harmless: boolean;
  /** The FuncCall nodes (unwrapped) of its own output list that are current_setting() of its rows' name. */
  nameCalls: object[];
}

/** An unwrapped RangeVar naming pg_settings (unqualified: pg_catalog is searched first). */
export function isPgSettings(rel: unknown): rel is PgNode {
  const r = rel as PgNode | undefined;
  return r !== undefined && r.relname === 'pg_settings' && (r.schemaname === undefined || r.schemaname === 'pg_catalog');
}

/**
 * A regular expression PostgreSQL (ARE) and JavaScript read alike: lower-case letters, digits and `_`, with
 * `^ $ ( ) | . * ?` only (no `(?`, ARE's embedded options; a JavaScript syntax error counts as unknown).
 */
function plainRegex(src: string): RegExp | undefined {
  if (!/^[a-z0-9_^$().*?|]*$/.test(src) || src.includes('(?')) return undefined;
  try { return new RegExp(src); } catch { return undefined; }
}

/**
 * Which setting names a WHERE clause may let through (a test of a name; names folded to lower case), when it is
 * `name = '<c>'`, `name IN ('<c>', …)` or `[lower(]name[)] ~ '<plain regex>'`; `name` is the rows' column
 * (unqualified, or qualified by `own`, the relation's alias or name).
 */
function nameTest(where: unknown, own: string): ((name: string) => boolean) | undefined {
  const w = nodeOf(where)?.[0] === 'A_Expr' ? nodeOf(where)![1] : undefined;
  const op = catalogName(w?.name);
  if (!w || op === undefined) return undefined;
  const lowered = nodeOf(w.lexpr)?.[0] === 'FuncCall' && catalogName(nodeOf(w.lexpr)![1].funcname) === 'lower' ? (nodeOf(w.lexpr)![1].args as unknown[] | undefined) : undefined;
  if (op === '~' && w.kind === 'AEXPR_OP' && isNameColumn(lowered?.length === 1 ? lowered[0] : w.lexpr, own)) {
    const src = constString(w.rexpr);
    const re = src === undefined ? undefined : plainRegex(src);
    return re && ((name) => re.test(name));
  }
  if (op !== '=' || !isNameColumn(w.lexpr, own)) return undefined;
  const values = w.kind === 'AEXPR_OP' ? [w.rexpr] : w.kind === 'AEXPR_IN' ? nodeOf(w.rexpr)?.[1].items : undefined;
  const names = Array.isArray(values) ? values.map((v) => constString(v)?.toLowerCase()) : [undefined];
  return names.every((n) => n !== undefined) ? (name) => names.includes(name) : undefined;
}

/** A ColumnRef of the rows' `name`: unqualified, or qualified by `own`. */
function isNameColumn(v: unknown, own: string): boolean {
  const n = nodeOf(v);
  const fields = n?.[0] === 'ColumnRef' && Array.isArray(n[1].fields) ? n[1].fields.map((x) => nodeOf(x)?.[1].sval) : [];
  return (fields.length === 1 && fields[0] === 'name') || (fields.length === 2 && fields[0] === own && fields[1] === 'name');
}

/** current_setting(<the rows' name>) calls in `v`, not descending into subqueries (their names are their own). */
function nameCalls(v: unknown, own: string, out: object[]): object[] {
  if (Array.isArray(v)) { for (const x of v) nameCalls(x, own, out); return out; }
  if (typeof v !== 'object' || v === null) return out;
  const n = nodeOf(v);
  if (n && (n[0] === 'SubLink' || n[0] === 'SelectStmt')) return out;
  if (n?.[0] === 'FuncCall' && catalogName(n[1].funcname) === 'current_setting' && Array.isArray(n[1].args) && isNameColumn(n[1].args[0], own)) out.push(n[1]);
  for (const x of Object.values(n ? n[1] : v)) nameCalls(x, own, out);
  return out;
}

/** The read of pg_settings a SELECT or UPDATE node (`type`, fields `f`) makes as its only relation, if it does. */
export function settingsRead(type: string, f: PgNode): SettingsRead | undefined {
  const rel = type === 'SelectStmt' && Array.isArray(f.fromClause) && f.fromClause.length === 1 ? nodeOf(f.fromClause[0])?.[1]
    : type === 'UpdateStmt' && !(Array.isArray(f.fromClause) && f.fromClause.length > 0) ? f.relation : undefined;
  if (!isPgSettings(rel)) return undefined;
  const alias = rel.alias as PgNode | undefined;
  const own = typeof alias?.aliasname === 'string' ? alias.aliasname : 'pg_settings';
  // An alias's column list renames the columns in order: `s(a, b, c, d, e, f, g, name)` calls vartype `name`.
  const test = alias?.colnames === undefined ? nameTest(f.whereClause, own) : undefined;
  const harmless = test !== undefined && ![...SUPERUSER_ONLY_SETTINGS].some(test);
  return { rel, readsConstants: true, harmless, nameCalls: harmless && type === 'SelectStmt' ? nameCalls(f.targetList, own, []) : [] };
}
