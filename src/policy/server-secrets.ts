/**
 * Server secrets a statement reads: what PostgreSQL itself keeps from every role that is not a superuser, which
 * pcigate's upstream user (privileged) may read for anyone policy lets through. A wildcard allow pattern
 * (`*`, `pg_catalog.*`) never grants one; only an allow pattern naming its relation exactly does
 * (secret-grants.ts).
 *
 * - SECRET_RELATIONS: the relations of pg_catalog a role with no privileges may not SELECT from (PostgreSQL
 *   15: a fresh LOGIN role ran `SELECT * FROM pg_catalog.<each> LIMIT 0`; these failed with 42501), and
 *   pg_user_mappings and information_schema.user_mapping_options, views anyone may read that show the FDW
 *   options (passwords) of user mappings to the privileged (and information_schema._pg_user_mappings, which a
 *   role with no privileges may not read either), and pg_stat_activity, which shows such a role no other role's
 *   statement text (passwords in ALTER ROLE) but the privileged every session's; pg_stat_statements too, in any
 *   schema (EXTENSION_SECRETS). pg_statistic and pg_statistic_ext_data failed too but are not here: the statistics rule
 *   (evaluate.ts) already refuses them to any role short of every table, and masking hides their sampled
 *   values (mask/column-rules.ts).
 * - Settings PostgreSQL shows superusers only (superuser-settings.ts), read by SHOW, SHOW ALL,
 *   current_setting(), SET … FROM CURRENT (which copies the value into a catalog anyone reads), or pg_settings (but for reads of named settings only: settings-filter.ts): granted by an
 *   allow pattern naming `pg_catalog.pg_settings` exactly.
 */
import { nodeOf } from './ast-walk.js';
import { columnDenied } from './name-match.js';
import type { PgNode } from './pg-parser.js';
import { catalogName, constString } from './const-string.js';
import { isPgSettings, settingsRead } from './settings-filter.js';
import { SUPERUSER_ONLY_SETTINGS } from './superuser-settings.js';

/** What a statement reads that only an exact allow pattern grants: `relation` is that pattern. */
export interface SecretRead {
  relation: string;
  /** For the refusal's reason: what is read and what it holds. */
  what: string;
}

const MAPPINGS = 'foreign-server user mappings with their passwords';

/** Superuser-only relations, by qualified name, and what they hold. */
export const SECRET_RELATIONS: ReadonlyMap<string, string> = new Map([
  ['pg_catalog.pg_authid', 'role password hashes'],
  ['pg_catalog.pg_shadow', 'role password hashes'],
  ['pg_catalog.pg_user_mapping', MAPPINGS],
  ['pg_catalog.pg_user_mappings', MAPPINGS],
  ['information_schema.user_mapping_options', MAPPINGS],
  ['information_schema._pg_user_mappings', MAPPINGS],
  ['pg_catalog.pg_subscription', 'subscription connection strings (subconninfo) with their passwords'],
  ['pg_catalog.pg_hba_file_rules', 'the server\'s client authentication rules'],
  ['pg_catalog.pg_ident_file_mappings', 'the server\'s user name maps'],
  ['pg_catalog.pg_file_settings', 'every setting of the configuration files'],
  ['pg_catalog.pg_largeobject', 'the data of every large object, which no table pattern governs'],
  ['pg_catalog.pg_config', 'the server\'s build configuration'],
  ['pg_catalog.pg_backend_memory_contexts', 'the server\'s memory contexts'],
  ['pg_catalog.pg_shmem_allocations', 'the server\'s shared memory allocations'],
  ['pg_catalog.pg_replication_origin_status', 'replication origins\' progress'],
  // Readable by anyone, but with another role's statement text hidden (pg_read_all_stats): the upstream user
  // sees every session's current or last statement as its client wrote it.
  ['pg_catalog.pg_stat_activity', 'every session\'s statement text (an ALTER ROLE … PASSWORD in clear)'],
]);

/**
 * Secret relations whose other columns PostgreSQL lets anyone read (pg_subscription's by column grants, the
 * view's as they are): a read that reaches no secret column (policy's column references, as columns.deny reads
 * them: `*`, a whole row and an alias list count as every column) is no secret's. psql's \dRs and \deu read so.
 */
const SECRET_COLUMNS: ReadonlyMap<string, string> = new Map([
  ['pg_catalog.pg_subscription', 'subconninfo'],
  ['pg_catalog.pg_user_mappings', 'umoptions'],
]);

/**
 * The functions behind those views, called directly: pg_stat_statements(showtext) in its extension's schema, and
 * pg_catalog's pg_stat_get_activity(pid). Granted as their views are (the pattern naming the view exactly); their
 * calls need the function class besides.
 */
function secretFunction(funcname: unknown): [relation: string, what: string] | undefined {
  if (!Array.isArray(funcname)) return undefined;
  const parts = funcname.map((x) => nodeOf(x)?.[1].sval);
  const extension = EXTENSION_SECRETS.get(String(parts.at(-1)));
  if (extension !== undefined && parts.every((p) => typeof p === 'string')) {
    const relation = parts.join('.');
    return [relation, `${relation}() returns ${extension}`];
  }
  if (catalogName(funcname) === 'pg_stat_get_activity') {
    return ['pg_catalog.pg_stat_activity', `pg_stat_get_activity() returns ${SECRET_RELATIONS.get('pg_catalog.pg_stat_activity')}`];
  }
  return undefined;
}

/** Secret relations by their unqualified name. */
const BY_NAME = new Map([...SECRET_RELATIONS.keys()].map((q) => [q.slice(q.indexOf('.') + 1), q]));

/**
 * pg_stat_statements' view, in whatever schema its extension was created (public, usually): like pg_stat_activity,
 * every role's statements to the privileged (pg_read_all_stats), and a utility statement's text as written (an
 * ALTER ROLE … PASSWORD in clear before PostgreSQL 16 normalised them). Its exact pattern is the name as written.
 */
const EXTENSION_SECRETS: ReadonlyMap<string, string> = new Map([
  ['pg_stat_statements', 'every role\'s statement text as the server kept it (a utility statement\'s, an ALTER ROLE … PASSWORD, in clear)'],
]);

/** The pattern that grants reading superuser-only settings. */
export const SETTINGS_GRANT = 'pg_catalog.pg_settings';

/**
 * The qualified name of the secret relation `name` (as the classifier reports it) is, if it is one: qualified as
 * listed, or unqualified (pg_catalog is searched first; an information_schema name only resolves there when the
 * path names it, but a table of that name elsewhere is taken for it: fail closed).
 */
function secretRelation(name: string): string | undefined {
  return SECRET_RELATIONS.has(name) ? name : name.includes('.') ? undefined : BY_NAME.get(name);
}

/** A setting name as the server looks it up (case-insensitively) is superuser-only. */
const superuserOnly = (name: string) => SUPERUSER_ONLY_SETTINGS.has(name.toLowerCase());

/**
 * The server secrets of a statement: its raw parse node (`stmt`), and the tables it reads and writes and its
 * column references as the classifier found them. `readsConstants`: the answer hangs on a constant (a setting name in quotes), so a text
 * differing from this one only in constants must not share its decision.
 */
export function secretReads(stmt: unknown, tables: readonly string[], columns: readonly string[]): { secrets: SecretRead[]; readsConstants: boolean } {
  const out = new Map<string, SecretRead>();
  const add = (relation: string, what: string) => { if (!out.has(what)) out.set(what, { relation, what }); };
  for (const t of tables) {
    const extension = EXTENSION_SECRETS.get(t.slice(t.lastIndexOf('.') + 1));
    if (extension !== undefined) add(t, `${t} holds ${extension}`);
    const rel = secretRelation(t);
    const column = rel === undefined ? undefined : SECRET_COLUMNS.get(rel);
    if (rel && (column === undefined || columnDenied(columns, [], [column]) !== undefined)) add(rel, `${rel} holds ${SECRET_RELATIONS.get(rel)}`);
  }
  let readsConstants = false;
  const harmless = new WeakSet<object>();
  const settings = (what: string) => add(SETTINGS_GRANT, `${what} reads settings PostgreSQL shows superusers only`);
  const look = (v: unknown): void => {
    if (Array.isArray(v)) { v.forEach(look); return; }
    if (typeof v !== 'object' || v === null) return;
    const n = nodeOf(v);
    const [type, f] = n ?? ['', v as PgNode];
    const fn = type === 'FuncCall' ? secretFunction(f.funcname) : undefined;
    if (type === 'VariableShowStmt' && typeof f.name === 'string') {
      if (f.name.toLowerCase() === 'all') settings('SHOW ALL');
      else if (superuserOnly(f.name)) settings(`SHOW ${f.name.toLowerCase()}`);
    } else if (type === 'FuncCall' && catalogName(f.funcname) === 'current_setting' && !harmless.has(f)) {
      const name = Array.isArray(f.args) ? constString(f.args[0]) : undefined;
      if (name === undefined) settings('current_setting() of a name policy cannot read');
      else {
        readsConstants = true;
        if (superuserOnly(name)) settings(`current_setting('${name.toLowerCase()}')`);
      }
    } else if (fn) {
      add(...fn);
    } else if (type === 'SelectStmt' || type === 'UpdateStmt') {
      // Rows of named settings none of which is superuser-only hold no secret, nor does current_setting() of their names.
      const read = settingsRead(type, f);
      if (read?.readsConstants) readsConstants = true;
      if (read?.harmless) for (const x of [read.rel, ...read.nameCalls]) harmless.add(x);
    } else if ((type === 'VariableSetStmt' || !n) && f.kind === 'VAR_SET_CURRENT' && typeof f.name === 'string' && superuserOnly(f.name)) {
      // SET x FROM CURRENT copies the value where anyone reads it: a function's (pg_proc.proconfig), a role's or
      // a database's (ALTER ROLE / DATABASE … SET, pg_db_role_setting). Its setstmt there is a bare node.
      settings(`SET ${f.name.toLowerCase()} FROM CURRENT`);
    } else if ((type === 'RangeVar' || !n) && isPgSettings(f) && !harmless.has(f)) {
      settings('a read of pg_settings not limited to named settings that are not superuser-only');
    }
    for (const val of Object.values(f)) look(val);
  };
  look(stmt);
  return { secrets: [...out.values()], readsConstants };
}
