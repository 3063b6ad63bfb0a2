/**
 * Server secrets a statement reads: what PostgreSQL itself keeps from every role that is not a superuser, which
 * pcigate's upstream user (privileged) may read for anyone policy lets through. A wildcard allow pattern
 * (`*`, `pg_catalog.*`) never grants one; only an allow pattern naming its relation exactly does
 * (secret-grants.ts).
 *
 * - SECRET_RELATIONS: the relations of pg_catalog a role with no privileges may not SELECT from (PostgreSQL
 *   15: a fresh LOGIN role ran `SELECT * FROM pg_catalog.<each> LIMIT 0`; these failed with 42501), and
 *   pg_user_mappings, a view anyone may read that shows the FDW options (passwords) of mappings to the
 *   privileged. pg_statistic and pg_statistic_ext_data failed too but are not here: the statistics rule
 *   (evaluate.ts) already refuses them to any role short of every table, and masking hides their sampled
 *   values (mask/column-rules.ts).
 * - Settings PostgreSQL shows superusers only (superuser-settings.ts), read by SHOW, SHOW ALL,
 *   current_setting(), or pg_settings: granted by an allow pattern naming `pg_catalog.pg_settings` exactly.
 */
import { nodeOf } from './ast-walk.js';
import type { PgNode } from './pg-parser.js';
import { SUPERUSER_ONLY_SETTINGS } from './superuser-settings.js';

/** What a statement reads that only an exact allow pattern grants: `relation` is that pattern. */
export interface SecretRead {
  relation: string;
  /** For the refusal's reason: what is read and what it holds. */
  what: string;
}

/** Superuser-only relations of pg_catalog and what they hold. */
export const SECRET_RELATIONS: ReadonlyMap<string, string> = new Map([
  ['pg_authid', 'role password hashes'],
  ['pg_shadow', 'role password hashes'],
  ['pg_user_mapping', 'foreign-server user mappings with their passwords'],
  ['pg_user_mappings', 'foreign-server user mappings with their passwords'],
  ['pg_subscription', 'subscription connection strings (subconninfo) with their passwords'],
  ['pg_hba_file_rules', 'the server\'s client authentication rules'],
  ['pg_ident_file_mappings', 'the server\'s user name maps'],
  ['pg_file_settings', 'every setting of the configuration files'],
  ['pg_largeobject', 'the data of every large object, which no table pattern governs'],
  ['pg_config', 'the server\'s build configuration'],
  ['pg_backend_memory_contexts', 'the server\'s memory contexts'],
  ['pg_shmem_allocations', 'the server\'s shared memory allocations'],
  ['pg_replication_origin_status', 'replication origins\' progress'],
]);

/** The pattern that grants reading superuser-only settings. */
export const SETTINGS_GRANT = 'pg_catalog.pg_settings';

/** `pg_catalog.<rel>` when `name` (as the classifier reports it) is a secret relation, unqualified or in pg_catalog. */
function secretRelation(name: string): string | undefined {
  const i = name.lastIndexOf('.');
  const rel = name.slice(i + 1);
  return (i < 0 || name.slice(0, i) === 'pg_catalog') && SECRET_RELATIONS.has(rel) ? `pg_catalog.${rel}` : undefined;
}

/** A string constant's text (through casts); undefined for anything else. */
function constString(v: unknown): string | undefined {
  const n = nodeOf(v);
  if (n?.[0] === 'TypeCast') return constString(n[1].arg);
  const s = n?.[0] === 'A_Const' ? (n[1].sval as PgNode | undefined)?.sval : undefined;
  return typeof s === 'string' ? s : undefined;
}

/** A setting name as the server looks it up (case-insensitively) is superuser-only. */
const superuserOnly = (name: string) => SUPERUSER_ONLY_SETTINGS.has(name.toLowerCase());

/** The last name of a dotted name list, when it is `name` alone or `pg_catalog.name`. */
function catalogName(list: unknown): string | undefined {
  if (!Array.isArray(list) || list.length > 2) return undefined;
  const parts = list.map((x) => nodeOf(x)?.[1].sval);
  if (parts.length === 2 && parts[0] !== 'pg_catalog') return undefined;
  const last = parts[parts.length - 1];
  return typeof last === 'string' ? last : undefined;
}

/** An unwrapped RangeVar naming pg_settings (unqualified: pg_catalog is searched first). */
function isPgSettings(rel: unknown): rel is PgNode {
  const r = rel as PgNode | undefined;
  return r !== undefined && r.relname === 'pg_settings' && (r.schemaname === undefined || r.schemaname === 'pg_catalog');
}

/**
 * The setting names a WHERE clause lets through when it is exactly `name = '<const>'` or `name IN ('<const>', …)`
 * (pg_dump: `SELECT set_config(name, …) FROM pg_settings WHERE name = 'restrict_nonsystem_relation_kind'`).
 */
function namesFiltered(where: unknown): string[] | undefined {
  const w = nodeOf(where);
  if (w?.[0] !== 'A_Expr' || catalogName(w[1].name) === undefined) return undefined;
  const col = nodeOf(w[1].lexpr);
  if (col?.[0] !== 'ColumnRef' || !Array.isArray(col[1].fields) || col[1].fields.length !== 1 || nodeOf(col[1].fields[0])?.[1].sval !== 'name') return undefined;
  const op = catalogName(w[1].name);
  const values = w[1].kind === 'AEXPR_OP' && op === '=' ? [w[1].rexpr]
    : w[1].kind === 'AEXPR_IN' && op === '=' ? nodeOf(w[1].rexpr)?.[1].items : undefined;
  if (!Array.isArray(values)) return undefined;
  const names = values.map(constString);
  return names.every((n): n is string => n !== undefined) ? names : undefined;
}

/**
 * A SELECT or UPDATE whose only relation is pg_settings: that RangeVar, and the setting names its WHERE lets
 * through if it names them.
 */
function settingsRead(type: string, f: PgNode): { rel: object; names: string[] | undefined } | undefined {
  const rel = type === 'SelectStmt' && Array.isArray(f.fromClause) && f.fromClause.length === 1 ? nodeOf(f.fromClause[0])?.[1]
    : type === 'UpdateStmt' && !(Array.isArray(f.fromClause) && f.fromClause.length > 0) ? f.relation : undefined;
  return isPgSettings(rel) ? { rel, names: namesFiltered(f.whereClause) } : undefined;
}

/**
 * The server secrets of a statement: its raw parse node (`stmt`), and the tables it reads and writes as the
 * classifier found them. `readsConstants`: the answer hangs on a constant (a setting name in quotes), so a text
 * differing from this one only in constants must not share its decision.
 */
export function secretReads(stmt: unknown, tables: readonly string[]): { secrets: SecretRead[]; readsConstants: boolean } {
  const out = new Map<string, SecretRead>();
  const add = (relation: string, what: string) => { if (!out.has(what)) out.set(what, { relation, what }); };
  for (const t of tables) {
    const rel = secretRelation(t);
    if (rel) add(rel, `${rel} holds ${SECRET_RELATIONS.get(rel.slice('pg_catalog.'.length))}`);
  }
  let readsConstants = false;
  const harmless = new WeakSet<object>();
  const settings = (what: string) => add(SETTINGS_GRANT, `${what} reads settings PostgreSQL shows superusers only`);
  const look = (v: unknown): void => {
    if (Array.isArray(v)) { v.forEach(look); return; }
    if (typeof v !== 'object' || v === null) return;
    const n = nodeOf(v);
    const [type, f] = n ?? ['', v as PgNode];
    if (type === 'VariableShowStmt' && typeof f.name === 'string') {
      if (f.name.toLowerCase() === 'all') settings('SHOW ALL');
      else if (superuserOnly(f.name)) settings(`SHOW ${f.name.toLowerCase()}`);
    } else if (type === 'FuncCall' && catalogName(f.funcname) === 'current_setting') {
      const name = Array.isArray(f.args) ? constString(f.args[0]) : undefined;
      if (name === undefined) settings('current_setting() of a name policy cannot read');
      else {
        readsConstants = true;
        if (superuserOnly(name)) settings(`current_setting('${name.toLowerCase()}')`);
      }
    } else if (type === 'SelectStmt' || type === 'UpdateStmt') {
      // Rows of named settings none of which is superuser-only hold no secret.
      const read = settingsRead(type, f);
      if (read?.names !== undefined) {
        readsConstants = true;
        if (!read.names.some(superuserOnly)) harmless.add(read.rel);
      }
    } else if ((type === 'RangeVar' || !n) && isPgSettings(f) && !harmless.has(f)) {
      settings('a read of pg_settings not limited to named settings that are not superuser-only');
    }
    for (const val of Object.values(f)) look(val);
  };
  look(stmt);
  return { secrets: [...out.values()], readsConstants };
}
