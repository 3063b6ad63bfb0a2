/**
 * Statement classification from the real PostgreSQL parse tree (never from substrings or regexes, so
 * case, comments inside statements, quoting and `U&"…"` escapes cannot disguise a statement). A query
 * string is split into its statements as the server would split it; each gets its classes, tables,
 * columns and functions. Text that does not parse yields `error` and policy denies it (fail closed).
 * Results are cached per distinct SQL text.
 */
import { Buffer } from 'node:buffer';
import { isSplittingEncoding, isUtf8Name } from '../pg/protocol/startup-params.js';
import { constText, dotted, fieldCalls, markOutputs, newAcc, nodeOf, outputReach, walk } from './ast-walk.js';
import { storedValues } from './stored-values.js';
import type { StoredValue } from './stored-values.js';
import type { OutputReach, WalkAcc } from './ast-walk.js';
import { parseStatements } from './pg-parser.js';
import type { ParseFailure, PgNode, RawStmt } from './pg-parser.js';
import { quotedPathList, searchPathSchemas } from './name-match.js';
import { SAFE_FUNCTIONS } from './safe-functions.js';
import { secretReads } from './server-secrets.js';
import type { SecretRead } from './server-secrets.js';
import { kindOfNode, strictestFirst } from './statement-kinds.js';
import type { StatementKind } from './statement-kinds.js';

/** A `SET`/`RESET` statement's effect, for the session (search_path, pcigate.reason, role). */
export interface SettingChange {
  /** GUC name in lower case; undefined for `RESET ALL`. */
  name?: string;
  /** The new value as text; undefined for RESET / SET … TO DEFAULT. */
  value?: string;
  local: boolean;
}

export interface StatementInfo {
  /** The statement's own text (one statement of a multi-statement string). Unmasked: keep in memory. */
  text: string;
  /** Top-level parse node, e.g. `DeleteStmt`. */
  node: string;
  /** The strictest of `classes`. */
  kind: StatementKind;
  /** Every class the statement exercises, strictest first (a `WITH d AS (DELETE …) SELECT` is write + read). */
  classes: StatementKind[];
  /** Tables read / written, `schema.table` when qualified, else `table` (resolved later via search_path). */
  reads: string[];
  writes: string[];
  columns: string[];
  /**
   * A whole row is used as one value somewhere (`row_to_json(c)`, `c::text`, `(c).*`, a `*` in a subquery):
   * every column of it may reach a result without being named (masking's derived columns, pg-masker.ts).
   */
  rowValues?: true;
  /** Per result column, what it is made from (ast-walk.ts outputReach); absent when not known from the text. */
  outputs?: OutputReach[];
  /** The values it stores in a table or view, and what each is made from (stored-values.ts); absent when none. */
  stores?: StoredValue[];
  /** Every function called, without a `pg_catalog.` prefix. */
  functions: string[];
  /** Functions that are not known side-effect-free built-ins (see safe-functions.ts). */
  userFunctions: string[];
  /**
   * Server secrets it reads (server-secrets.ts: a superuser-only catalog, a superuser-only setting), which only
   * an allow pattern naming each exactly grants (secret-grants.ts); absent when none.
   */
  secrets?: SecretRead[];
  /**
   * Names the server may read as calls of one-argument functions written as fields (`(expr).name`, `x.name` of a
   * function in FROM: ast-walk.ts fieldCalls); absent when none. Whether one is a function is the catalog's to
   * say: policy judges the names it finds to be functions as calls (PolicySession.decide's `calls`).
   */
  fieldCalls?: string[];
  /** An UPDATE/DELETE without a row-restricting WHERE, or TRUNCATE. */
  writeWithoutWhere: boolean;
  /** EXPLAIN ANALYZE: the inner statement runs, and is classified as such. */
  explainAnalyze?: boolean;
  setting?: SettingChange;
  /** PREPARE name AS …: the prepared statement's own classification. */
  prepare?: { name: string; statement: StatementInfo };
  /** EXECUTE name: resolved against the session's prepared statements by policy. */
  execute?: string;
  /** CREATE TABLE … AS EXECUTE name: the statement's own classes and tables, plus the executed one's. */
  executeInto?: string;
  /** DEALLOCATE name, or `*` for DEALLOCATE ALL. */
  deallocate?: string;
  /**
   * DECLARE name CURSOR [WITH HOLD] FOR …: the statement's own classification is the cursor query's.
   * `bound`: not a DECLARE but a portal a protocol Bind made (PolicySession.portal), never decided.
   */
  declare?: { name: string; hold: boolean; bound?: boolean };
  /** FETCH/MOVE … name: resolved against the cursors policy saw declared (a portal can be made otherwise). */
  fetch?: string;
  /**
   * The language of a body policy cannot read (a DO block, or a function or procedure created with a body
   * in plpgsql, C, Python …): the server runs it as code that may read or write any table.
   */
  opaqueBody?: string;
  /**
   * The classification read a constant's value (EXPLAIN's ANALYZE 'on', a function's body): a text that
   * differs from this one only in constants may classify otherwise, so it must not share its decision.
   */
  readsConstants?: boolean;
  /** CLOSE name, or `*` for CLOSE ALL. */
  closeCursor?: string;
  /** What a transaction statement does to the transaction block: ends it (commit, rollback) and/or opens one. */
  tx?: { end?: 'commit' | 'rollback' | 'rollback_to'; begin?: boolean };
  /**
   * Why, after this statement, the server would read SQL text differently from policy's parser (see
   * {@link misreadingSetting}); such a statement is refused whatever the role.
   */
  misreads?: string;
  /**
   * Schemas an unqualified name may resolve in after this statement, beyond what a SET search_path says:
   * PostgreSQL skips a schema of the path that does not exist or that the user may not use (USAGE), and
   * looks again at every statement. CREATE SCHEMA (named, or by AUTHORIZATION after a role: `"$user"`),
   * ALTER SCHEMA … RENAME TO / OWNER TO, GRANT … ON SCHEMA name theirs; `*` (any schema the path names)
   * for what can change it unseen: role membership (GRANT role, ALTER ROLE, ALTER ROLE/DATABASE … SET),
   * SET ROLE / SESSION AUTHORIZATION, CREATE EXTENSION (may create its schema).
   */
  pathChange?: string[];
  /**
   * SET ROLE / SET SESSION AUTHORIZATION (or set_config of `role`, `session_authorization`) to a role: the
   * role current_user may be from then on (`none`: back to the session user). `?` when its value is not a
   * constant policy can read.
   */
  setsRole?: string;
  /**
   * ALTER ROLE/DATABASE … SET search_path (or RESET it): the search_path sessions will start with from now
   * on, as set (`null`: reset, or a default role or session authorization, whose `"$user"` differs: not
   * known here).
   */
  defaultPath?: string | null;
  /**
   * A transaction statement that runs no code of the database's (BEGIN, SAVEPOINT, RELEASE, ROLLBACK): no
   * trigger, so no setting can change unseen behind it (policy-engine.ts mayChangeSettingsUnseen).
   */
  runsNoCode?: true;
  /**
   * `SELECT loread(fd, n)`, alone (no FROM, no other result column): a large object read in chunks by SQL, as the
   * npm package pg-large-object does. Its descriptor: a bind parameter (1-based) or a constant. Masking reads such
   * chunks as one stream per descriptor (src/mask/lo-read.ts).
   */
  loread?: { param: number } | { value: string };
}

export interface Classification {
  sql: string;
  statements: StatementInfo[];
  /** Set when the text does not parse; `statements` is then empty. */
  error?: ParseFailure;
}

function setting(f: PgNode): SettingChange {
  const kind = String(f.kind ?? '');
  const name = typeof f.name === 'string' ? f.name.toLowerCase() : undefined;
  const local = f.is_local === true;
  if (kind !== 'VAR_SET_VALUE') return { name, local };
  const args = Array.isArray(f.args) ? f.args.map((a) => constText(a) ?? '?') : [];
  // search_path's elements are names, each whole (a comma in one included): kept apart as the server keeps them.
  return { name, value: name === 'search_path' ? quotedPathList(args) : args.join(', '), local };
}

/** Values parse_bool (src/backend/utils/adt/bool.c) reads as true: any prefix of true/yes, on, 1. */
const TRUE_VALUE = /^(t|tr|tru|true|y|ye|yes|on|1)$/;

/**
 * The parser policy uses (libpg-query) reads text as UTF-8 with standard_conforming_strings on. A
 * session that turns either off makes the server split the same bytes into other statements: with
 * `standard_conforming_strings = off`, `SELECT 'a\'' ; DELETE FROM t; -- '` is one string literal to
 * policy and a SELECT and a DELETE to the server; with a client_encoding such as SJIS, BIG5 or GBK a
 * backslash byte can be the second half of a character, so the bytes `E'`, 0x95, `\'; DELETE …` are one
 * literal to policy (a stray byte, an escaped quote) and a character, a closing quote and a DELETE to
 * the server (which encodings: isSplittingEncoding, src/pg/protocol/startup-params.ts, which the proxy
 * uses for the startup packet too). So those SETs are refused. A RESET goes back to the session's start value: that the
 * startup packet's client_encoding is none of those is for the proxy to check.
 */
function misreadingSetting(s: SettingChange): string | undefined {
  if (s.value === undefined) return undefined;
  if (s.name === 'standard_conforming_strings' && !TRUE_VALUE.test(s.value.trim().toLowerCase())) {
    return 'standard_conforming_strings other than on would make the server read backslashes in string literals where policy reads none';
  }
  if (s.name === 'client_encoding' && isSplittingEncoding(s.value)) {
    return `client_encoding ${s.value} would make the server read a byte policy reads as ASCII (a backslash) as the end of a character`;
  }
  return undefined;
}

/**
 * Settings that switch off or route around the server's own controls, so setting one is a privilege
 * change, as SET ROLE is (class dcl): its audit trail (`log_*`, `pgaudit.*`, `track_activities`),
 * triggers and foreign keys (`session_replication_role = replica` skips every ordinary trigger, audit
 * triggers too), integrity checks (`zero_damaged_pages`, `ignore_*`, `allow_system_table_mods`),
 * large-object permissions, libraries loaded into sessions. pcigate connects with an account that may set
 * them all. Going back to the default (RESET, DEFAULT) is not a change of that kind.
 */
const CONTROL_SETTING = /^(session_replication_role|log_[a-z_]+|pgaudit\..+|track_activities|track_functions|allow_system_table_mods|zero_damaged_pages|ignore_checksum_failure|ignore_invalid_pages|ignore_system_indexes|lo_compat_privileges|session_preload_libraries|local_preload_libraries)$/;

/** A list of DefElem nodes (statement options) by name. */
function defElems(list: unknown): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (Array.isArray(list)) {
    for (const o of list) {
      const d = nodeOf(o);
      if (d && d[0] === 'DefElem' && typeof d[1].defname === 'string') out.set(d[1].defname, d[1].arg);
    }
  }
  return out;
}

/**
 * `SELECT set_config('search_path', 'vault', false)` is a SET from inside a query (for a role that may call
 * it: the function class, or functions.allow): judged as that SET would be (dcl for the server's controls
 * and roles, refused where it makes the server misread text, search_path tracked). A name or value
 * policy cannot read where it matters makes the statement unclassifiable.
 */
function setConfigEffects(acc: WalkAcc, extra: Partial<StatementInfo>, stored: boolean): Partial<StatementInfo> {
  // Its name and value are constants: a text differing only in them must not share this decision.
  const out: Partial<StatementInfo> = acc.setConfigs.length > 0 ? { readsConstants: true } : {};
  for (const c of acc.setConfigs) {
    if (stored && (c.name === undefined || CALLER_STATE.has(c.name))) {
      // Stored to run later in whoever uses it, who sees no SET: refused as a function body that does so is.
      out.misreads ??= `${c.name ?? 'a setting'} set by an expression this statement stores (a view, a DEFAULT, a rule, a row policy, a function body) changes the search_path or current_user of every session that runs it, where policy cannot see it`;
      continue;
    }
    if (c.name === undefined) { acc.classes.add('unknown'); continue; }
    const s: SettingChange = { name: c.name, ...(c.value !== undefined ? { value: c.value } : {}), local: c.local };
    if (c.name === 'role' || c.name === 'session_authorization' || CONTROL_SETTING.test(c.name)) acc.classes.add('dcl');
    if (c.name === 'role' || c.name === 'session_authorization') {
      // As SET ROLE: "$user" in the path, and which schemas may be used, follow the new current_user.
      out.setsRole ??= c.value ?? '?';
      out.pathChange = ['*'];
    }
    if (c.value === undefined && ['standard_conforming_strings', 'client_encoding', 'search_path', 'role', 'session_authorization'].includes(c.name)) { acc.classes.add('unknown'); continue; }
    const misreads = misreadingSetting(s);
    if (misreads && !extra.misreads && !out.misreads) out.misreads = misreads;
    if (c.name === 'search_path') {
      if (extra.setting || out.setting) acc.classes.add('unknown');
      else out.setting = s;
    }
  }
  return out;
}

/** Whether a statement's boolean option `name` (EXPLAIN's ANALYZE, VACUUM's FULL) is on: named without a value, or true. */
function optionOn(options: unknown, name: string): boolean {
  if (!Array.isArray(options)) return false;
  return options.some((o) => {
    const d = nodeOf(o)?.[1];
    if (!d || String(d.defname).toLowerCase() !== name) return false;
    const arg = d.arg === undefined ? 'true' : (constText(d.arg) ?? (nodeOf(d.arg)?.[0] === 'String' ? String((nodeOf(d.arg)?.[1] as PgNode).sval) : 'true'));
    return !['false', 'off', '0', 'no'].includes(arg.toLowerCase());
  });
}

/**
 * Settings that, set in a session by code it runs unseen, move that session's unqualified names: the server
 * reports none of them to the client (see bodySetsCallerState).
 */
const CALLER_STATE = new Set(['search_path', 'role', 'session_authorization']);

/**
 * Whether a statement of node `node` (class `base`) stores the expressions it holds to run later, in the
 * session of whoever uses what it made (a view, a DEFAULT, a rule, a row policy, a BEGIN ATOMIC body), rather
 * than running them now. CREATE TABLE AS / MATERIALIZED VIEW run their query now (a REFRESH runs it with its
 * settings restored at the end).
 */
function storesExpressions(node: string, base: StatementKind): boolean {
  return (base === 'ddl' || base === 'dcl') && node !== 'CreateTableAsStmt';
}

function outputsOf(acc: WalkAcc): { outputs?: OutputReach[] } {
  const outputs = acc.root === undefined ? undefined : outputReach(acc.root, acc.rowNames);
  return outputs ? { outputs } : {};
}

/** StatementInfo.stores: none for a plain EXPLAIN (it runs nothing; EXPLAIN ANALYZE is classified as its statement). */
function storesOf(node: string, acc: WalkAcc): { stores?: StoredValue[] } {
  if (acc.root === undefined || node === 'ExplainStmt') return {};
  const stores = storedValues(acc.root);
  return stores.length > 0 ? { stores } : {};
}

/**
 * PostgreSQL's trusted procedural languages (and SQL): code in them runs with the caller's privileges inside the
 * server. Any other language (C, `internal`, plpython3u, plperlu, pltclu, plsh …) reaches the server's files and
 * processes as the OS user the server runs as: a function or DO block in one is `dcl` (superuser's work, as
 * granting roles is), since pcigate's upstream user may create it where the role could not.
 */
const TRUSTED_LANGUAGES: ReadonlySet<string> = new Set(['sql', 'plpgsql', 'plperl', 'pltcl', 'plv8']);

/** Extensions that install an untrusted procedural language (CREATE EXTENSION of one is dcl). */
const UNTRUSTED_LANGUAGE_EXTENSIONS: ReadonlySet<string> = new Set(['plperlu', 'plpythonu', 'plpython2u', 'plpython3u', 'pltclu', 'plsh', 'plr', 'pljavau']);

/**
 * Whether a `LANGUAGE` option (absent: `dflt`) names a trusted language. The name as the server looks it up: an
 * unquoted one arrives folded to lower case, a quoted `"SQL"` is another language than `sql`.
 */
function trustedLanguage(option: unknown, dflt: string): boolean {
  const name = option === undefined ? dflt : nodeOf(option)?.[1].sval;
  return typeof name === 'string' && TRUSTED_LANGUAGES.has(name);
}

function finish(text: string, node: string, base: StatementKind, acc: WalkAcc, extra: Partial<StatementInfo> = {}): StatementInfo {
  acc.classes.add(base);
  extra = { ...extra, ...setConfigEffects(acc, extra, storesExpressions(node, base)) };
  const columns = new Set(acc.columns);
  // A bare reference to a relation name or alias is a whole-row value (`SELECT c FROM cards c`,
  // `row_to_json(cards)`): it carries every column, so it counts as `c.*` too.
  let rowValues = acc.starValue;
  for (const c of acc.columns) if (!c.includes('.') && acc.rowNames.has(c)) { columns.add(`${c}.*`); rowValues = true; }
  const functions = [...acc.functions].sort();
  const classes = strictestFirst(acc.classes);
  const fields = fieldCalls(acc);
  return {
    text,
    node,
    kind: classes[0] ?? base,
    classes,
    reads: [...acc.reads].sort(),
    writes: [...acc.writes].sort(),
    columns: [...columns].sort(),
    functions,
    userFunctions: functions.filter((fn) => !SAFE_FUNCTIONS.has(fn)),
    writeWithoutWhere: acc.writeWithoutWhere,
    ...(fields.length > 0 ? { fieldCalls: fields } : {}),
    ...(rowValues ? { rowValues: true as const } : {}),
    ...outputsOf(acc),
    ...storesOf(node, acc),
    ...(node === 'SelectStmt' ? loreadOf(acc.root) : {}),
    ...extra,
  };
}

/**
 * StatementInfo.loread of a SELECT: its one result column a call of `loread` (or `pg_catalog.loread`) with two
 * arguments, and nothing else that could make more than one row or another column. A constant descriptor makes
 * the classification read a constant (a text differing only in it must not share it).
 */
function loreadOf(root: unknown): Pick<StatementInfo, 'loread' | 'readsConstants'> {
  const f = nodeOf(root)?.[1];
  if (!f || f.op !== 'SETOP_NONE' || f.fromClause !== undefined || f.whereClause !== undefined || f.valuesLists !== undefined ||
    f.withClause !== undefined || f.groupClause !== undefined || f.havingClause !== undefined || !Array.isArray(f.targetList) || f.targetList.length !== 1) return {};
  const call = nodeOf((nodeOf(f.targetList[0])?.[1] as PgNode | undefined)?.val);
  if (call?.[0] !== 'FuncCall' || !/^(pg_catalog\.)?loread$/.test(dotted(call[1].funcname)) || !Array.isArray(call[1].args) || call[1].args.length !== 2 ||
    call[1].agg_star === true || call[1].agg_distinct === true || call[1].over !== undefined || call[1].agg_filter !== undefined) return {};
  const fd = call[1].args[0];
  let param = nodeOf(fd);
  // `$1::int`, as a driver that types its parameters writes it.
  while (param?.[0] === 'TypeCast') param = nodeOf(param[1].arg);
  if (param?.[0] === 'ParamRef' && typeof param[1].number === 'number') return { loread: { param: param[1].number } };
  const value = constText(fd);
  return value === undefined ? {} : { loread: { value }, readsConstants: true };
}

const sval = (v: unknown): string | undefined => {
  const n = nodeOf(v);
  return n && n[0] === 'String' && typeof n[1].sval === 'string' ? n[1].sval : undefined;
};

/** StatementInfo.pathChange of a DDL or DCL statement (node `type`, fields `f`). */
function pathChange(type: string, f: PgNode): string[] | undefined {
  const role = (r: unknown) => (r && typeof r === 'object' && typeof (r as PgNode).rolename === 'string' ? [String((r as PgNode).rolename)] : ['*']);
  switch (type) {
    case 'CreateSchemaStmt':
      return typeof f.schemaname === 'string' ? [f.schemaname] : role(f.authrole);
    case 'RenameStmt':
      return f.renameType === 'OBJECT_SCHEMA' && typeof f.newname === 'string' ? [f.newname] : undefined;
    case 'AlterOwnerStmt':
      return f.objectType === 'OBJECT_SCHEMA' ? [sval(f.object) ?? '*'] : undefined;
    case 'GrantStmt':
      if (f.objtype !== 'OBJECT_SCHEMA' || f.is_grant !== true) return undefined;
      return Array.isArray(f.objects) ? f.objects.map((o) => sval(o) ?? '*') : ['*'];
    case 'GrantRoleStmt':
      return f.is_grant === true ? ['*'] : undefined;
    case 'AlterRoleStmt': {
      // What a role may use: its memberships (ALTER GROUP … ADD USER), whether it inherits them, superuser.
      // A password, a validity date or a connection limit changes no schema it resolves in.
      const o = defElems(f.options);
      return o.has('rolemembers') || o.has('inherit') || o.has('superuser') ? ['*'] : undefined;
    }
    case 'AlterRoleSetStmt': case 'AlterDatabaseSetStmt': case 'CreateExtensionStmt':
      return ['*'];
    default:
      return undefined;
  }
}

/**
 * Why a statement of a SQL function body, run at a call that policy judges as a function call only, would
 * change the caller's session where policy cannot follow: a SET (LOCAL too: it lasts to the end of the
 * caller's transaction; a plain SET outlasts even the function's own SET clause) or set_config of
 * search_path, after which the caller's unqualified names resolve elsewhere (`SELECT f(); SELECT * FROM
 * items` would read vault.items where policy judged public.items), or of the role or session
 * authorization, which change what `"$user"` in the path names and which schemas may be used. Unlike
 * standard_conforming_strings, the server reports neither of these to the client (no ParameterStatus), so
 * the proxy could not even end the session. A RESET goes back to the session's starting value, which policy
 * already resolves names in. Policy could instead track a call of such a function as the SET, but only for
 * functions it saw created here, and a call can hide in a view, a default or a trigger: refusing the
 * CREATE, as for the misreading settings, keeps every call visible.
 */
function bodySetsCallerState(inner: StatementInfo): string | undefined {
  const s = inner.setting;
  if (s?.value !== undefined && s.name === 'search_path') return 'a function body that sets search_path changes the caller\'s search_path after the call, where policy cannot see it (give the function its own SET search_path clause instead)';
  if (inner.setsRole) return 'a function body that sets the role or session authorization changes the caller\'s current_user (and so "$user" in its search_path) after the call, where policy cannot see it';
  return undefined;
}

/** The schemas of a CREATE FUNCTION's own `SET search_path = …` clause (proconfig), if it has one. */
function functionPath(set: unknown): string[] | undefined {
  const n = nodeOf(set);
  if (!n || n[0] !== 'VariableSetStmt') return undefined;
  const s = setting(n[1]);
  if (s.name !== 'search_path') return undefined;
  // FROM CURRENT keeps the creator's path, which policy already judges in; a value it cannot read: none.
  if (String(n[1].kind) === 'VAR_SET_CURRENT') return undefined;
  return s.value === undefined || s.value.includes('?') ? ['?'] : searchPathSchemas(s.value, '$user');
}

/**
 * A body's table name as it resolves under the function's own search_path (`path`): an unqualified name is
 * looked up there and in pg_catalog (first, unless the path names it), never in the caller's path. `$user`
 * stays a schema named `$user`, which no allow pattern but `*` covers (the caller's role is not known here).
 */
function inPath(t: string, path: string[] | undefined): string[] {
  if (!path || t.includes('.')) return [t];
  const out = path.map((s) => `${s}.${t}`);
  if (t.startsWith('pg_') && !path.includes('pg_catalog')) out.push(`pg_catalog.${t}`);
  return out;
}

/**
 * EXPLAIN's one result column, the plan: text the planner writes (node names, the query's own expressions and
 * constants, estimates), no value read from a table (ANALYZE adds counts and times), so a column rule does not
 * apply to it; a card number in the query's text is still masked by content.
 */
const PLAN_OUTPUT: OutputReach[] = [{ refs: [], rowValues: false }];

/** Classifies one raw statement node; `text` is its source text. */
export function classifyNode(stmt: PgNode, text: string): StatementInfo {
  const info = classifyKinds(stmt, text);
  const found = secretReads(stmt, [...info.reads, ...info.writes], info.columns);
  // A PREPARE's or EXPLAIN ANALYZE's own statement found them already; a quoted function body's came with it.
  const secrets = [...(info.secrets ?? []), ...found.secrets.filter((s) => !info.secrets?.some((x) => x.what === s.what))];
  if (secrets.length === 0 && !found.readsConstants) return info;
  return { ...info, ...(secrets.length > 0 ? { secrets } : {}), ...(found.readsConstants ? { readsConstants: true } : {}) };
}

/** classifyNode but for the server secrets read. */
function classifyKinds(stmt: PgNode, text: string): StatementInfo {
  const n = nodeOf(stmt);
  if (!n) return finish(text, 'Unknown', 'unknown', newAcc());
  const [type, f] = n;
  const acc = newAcc();
  markOutputs(stmt, acc);
  const none = new Set<string>();
  const base = kindOfNode(type);
  switch (type) {
    case 'ExplainStmt': {
      // Whether it runs its statement can hang on a constant: EXPLAIN (ANALYZE 'on') vs (ANALYZE 'off').
      const readsConstants = Array.isArray(f.options) && f.options.length > 0;
      if (optionOn(f.options, 'analyze')) {
        // EXPLAIN ANALYZE executes its statement: it is exactly as dangerous as the statement itself.
        const inner = classifyNode(f.query as PgNode, text);
        return { ...inner, text, node: type, explainAnalyze: true, readsConstants, outputs: PLAN_OUTPUT };
      }
      // Plain EXPLAIN only plans; what the query names is read at most (planning may still fold
      // immutable functions, so functions are kept).
      walk(f.query, none, 'read', acc);
      for (const w of acc.writes) acc.reads.add(w);
      acc.writes.clear();
      acc.classes.clear();
      acc.writeWithoutWhere = false;
      return finish(text, type, 'read', acc, { readsConstants, outputs: PLAN_OUTPUT });
    }
    case 'CopyStmt': {
      const from = f.is_from === true;
      if (f.relation) {
        walk(f.relation, none, from ? 'write' : 'read', acc);
        if (!from) {
          const rel = f.relation as PgNode;
          if (Array.isArray(f.attlist) && f.attlist.length > 0) for (const a of f.attlist) acc.columns.add(String(nodeOf(a)?.[1].sval ?? '?'));
          else acc.columns.add(`${String(rel.relname)}.*`);
        }
      }
      walk(f.query, none, 'read', acc);
      walk(f.whereClause, none, 'read', acc);
      // COPY to or from a server file or program runs as the server: never a plain copy.
      if (typeof f.filename === 'string' || f.is_program === true) acc.classes.add('unknown');
      return finish(text, type, from ? 'copy_in' : 'copy_out', acc);
    }
    case 'PrepareStmt': {
      // Deciding PREPARE as if it ran means nothing can be prepared that could not be run directly.
      const inner = classifyNode(f.query as PgNode, text);
      return { ...inner, text, node: type, prepare: { name: String(f.name ?? ''), statement: inner } };
    }
    case 'ExecuteStmt':
      walk(f.params, none, 'read', acc);
      return finish(text, type, 'utility', acc, { execute: String(f.name ?? '') });
    case 'CreateFunctionStmt': {
      walk(stmt, none, 'write', acc);
      const opts = defElems(f.options);
      if (!trustedLanguage(opts.get('language'), 'sql')) acc.classes.add('dcl');
      const body = opts.get('as');
      const bodyText = Array.isArray(nodeOf(body)?.[1].items) ? (nodeOf(body)![1].items as unknown[]).map((x) => String(nodeOf(x)?.[1].sval ?? '')) : [];
      if (bodyText.length === 0) return finish(text, type, base, acc); // BEGIN ATOMIC (sql_body, walked above) or none
      // The body and a quoted language are constants: AS 'SELECT 1' and AS 'SELECT * FROM secrets' share a key.
      const lang = String(nodeOf(opts.get('language'))?.[1].sval ?? 'sql').toLowerCase();
      // A LANGUAGE sql body is SQL text (AS 'obj_file', 'link_symbol' is C): what it touches is what its
      // statements touch, and they run whenever the function is called, by a trigger, a default, a view.
      const parsed = lang === 'sql' && bodyText.length === 1 ? parseStatements(bodyText[0]!) : undefined;
      if (!parsed || 'error' in parsed) return finish(text, type, base, acc, { opaqueBody: lang, readsConstants: true });
      // A body that sets what makes the server misread text (SET standard_conforming_strings = off,
      // set_config('client_encoding', 'SJIS', false)) does so for the rest of the caller's session: the
      // proxy ends the session on the ParameterStatus that reports it, but statements the client pipelined
      // behind the call may be forwarded before that arrives. Refused as the SET itself is. So is one that
      // sets search_path or the role (see bodySetsCallerState): no message tells the proxy of those at all.
      // A function's own SET clause (proconfig) is no such thing: the server restores it when the call ends.
      // But the body runs under it: its unqualified names resolve in that path, not the caller's.
      const ownPath = functionPath(opts.get('set'));
      let misreads: string | undefined;
      // What the body reads of the server's secrets, its calls of current_setting() too: read at every call.
      const secrets: SecretRead[] = [];
      for (const b of parsed.stmts) {
        const inner = classifyNode(b.stmt, bodyText[0]!);
        secrets.push(...(inner.secrets ?? []));
        misreads ??= inner.misreads ?? bodySetsCallerState(inner);
        if (misreads) return finish(text, type, base, acc, { misreads, readsConstants: true });
        for (const c of inner.classes) acc.classes.add(c);
        for (const t of inner.reads) for (const q of inPath(t, ownPath)) acc.reads.add(q);
        for (const t of inner.writes) for (const q of inPath(t, ownPath)) acc.writes.add(q);
        for (const c of inner.columns) acc.columns.add(c);
        for (const fn of inner.functions) acc.functions.add(fn);
        for (const name of inner.fieldCalls ?? []) acc.fieldNames.add(name);
        if (inner.opaqueBody || inner.execute !== undefined || inner.fetch !== undefined) return finish(text, type, base, acc, { opaqueBody: 'sql', readsConstants: true });
      }
      return finish(text, type, base, acc, { readsConstants: true, ...(secrets.length > 0 ? { secrets } : {}) });
    }
    case 'DoStmt': {
      walk(stmt, none, 'read', acc);
      const lang = String(nodeOf(defElems(f.args).get('language'))?.[1].sval ?? 'plpgsql').toLowerCase();
      if (!trustedLanguage(defElems(f.args).get('language'), 'plpgsql')) acc.classes.add('dcl');
      return finish(text, type, base, acc, { opaqueBody: lang });
    }
    case 'DeclareCursorStmt':
      walk(f.query, none, 'read', acc);
      // CURSOR_OPT_HOLD (parsenodes.h): the cursor outlives its transaction.
      return finish(text, type, base, acc, { declare: { name: String(f.portalname ?? ''), hold: (Number(f.options ?? 0) & 0x20) !== 0 } });
    case 'FetchStmt':
      return finish(text, type, base, acc, { fetch: String(f.portalname ?? '') });
    case 'ClosePortalStmt':
      return finish(text, type, base, acc, { closeCursor: typeof f.portalname === 'string' ? f.portalname : '*' });
    case 'TransactionStmt': {
      const kind = String(f.kind ?? '');
      const chain = f.chain === true;
      const tx: StatementInfo['tx'] = kind === 'TRANS_STMT_BEGIN' || kind === 'TRANS_STMT_START' ? { begin: true }
        : kind === 'TRANS_STMT_COMMIT' || kind === 'TRANS_STMT_PREPARE' ? { end: 'commit', begin: chain }
          : kind === 'TRANS_STMT_ROLLBACK' ? { end: 'rollback', begin: chain }
            : kind === 'TRANS_STMT_ROLLBACK_TO' ? { end: 'rollback_to' } : undefined;
      // COMMIT (and END, PREPARE TRANSACTION, COMMIT PREPARED) fires deferred triggers; the others run nothing.
      const noCode = !/^TRANS_STMT_(COMMIT|PREPARE|COMMIT_PREPARED)$/.test(kind);
      return finish(text, type, base, acc, { ...(tx ? { tx } : {}), ...(noCode ? { runsNoCode: true as const } : {}) });
    }
    case 'DeallocateStmt':
      return finish(text, type, 'utility', acc, { deallocate: f.isall === true || f.name === undefined ? '*' : String(f.name) });
    case 'AlterSystemStmt': {
      // The server's default for every session once the configuration is reloaded, which a backend applies
      // after reading its next command and before parsing it: that command is read otherwise, and the
      // ParameterStatus that would end the session comes only after it ran. Refused as the SET is. So is any
      // client_encoding but UTF-8, or its RESET (RESET ALL too) to a default policy does not know: a session
      // whose client did not send one (source: default) takes it, and reads its next command in it, reported
      // only after it ran, so policy would have read a LATIN1 `n\xfamero` as UTF-8.
      const set = nodeOf({ VariableSetStmt: f.setstmt })?.[1];
      const s = set ? setting(set) : undefined;
      const encoding = s && (s.name === undefined || s.name === 'client_encoding') && !(s.value !== undefined && isUtf8Name(s.value))
        ? `ALTER SYSTEM of client_encoding (${s.value ?? 'RESET'}) would have sessions that did not set their own read their next command in it before the server reports it, where policy reads UTF-8`
        : undefined;
      const misreads = (s ? misreadingSetting(s) : undefined) ?? encoding;
      // The server's configuration for every session: archive_command, shared_preload_libraries and the like
      // run OS commands or load code as the server once reloaded. Superuser's work (dcl), never plain DDL.
      acc.classes.add('dcl');
      // Read from the value: a text differing only in it must not share this decision (PolicyEngine.lookup).
      return finish(text, type, base, acc, { readsConstants: true, ...(misreads ? { misreads } : {}) });
    }
    case 'VariableSetStmt': {
      const s = setting(f);
      const dcl = s.name === 'role' || s.name === 'session_authorization' || (s.value !== undefined && CONTROL_SETTING.test(s.name ?? ''));
      const misreads = misreadingSetting(s);
      const role = s.name === 'role' || s.name === 'session_authorization';
      return finish(text, type, dcl ? 'dcl' : 'utility', acc, {
        setting: s, ...(misreads ? { misreads } : {}), ...(role ? { pathChange: ['*'] } : {}), ...(role && s.value !== undefined ? { setsRole: s.value } : {}),
      });
    }
    case 'CreateTableAsStmt': {
      acc.classes.add('write');
      walk(f.query, none, 'read', acc);
      walk((f.into as PgNode | undefined)?.rel, none, 'write', acc);
      const exec = nodeOf(f.query);
      return finish(text, type, 'ddl', acc, exec?.[0] === 'ExecuteStmt' ? { executeInto: String(exec[1].name ?? '') } : {});
    }
    case 'VacuumStmt': {
      walk(f.rels, none, 'read', acc);
      // VACUUM FULL rewrites each table (every one, when none is named) under an ACCESS EXCLUSIVE lock, holding
      // everyone off it as LOCK does, and PostgreSQL asks the owner's privilege for it: a write.
      if (optionOn(f.options, 'full')) acc.classes.add('write');
      // FULL 'on' and FULL 'off' differ only in a constant: not one decision (PolicyEngine.lookup).
      return finish(text, type, base, acc, Array.isArray(f.options) && f.options.length > 0 ? { readsConstants: true } : {});
    }
    case 'LockStmt':
      // A mode above ACCESS SHARE (1, what a SELECT takes; LOCK alone is ACCESS EXCLUSIVE, 8) holds writers, or
      // everyone, off the table until the transaction ends; PostgreSQL asks UPDATE, DELETE or TRUNCATE privilege
      // for it (lockcmds.c LockTableAclCheck): a write. ACCESS SHARE (pg_dump's) stays a utility.
      walk(f.relations, none, 'read', acc);
      if (Number(f.mode ?? 8) > 1) acc.classes.add('write');
      return finish(text, type, base, acc);
    case 'TruncateStmt':
      walk(f.relations, none, 'write', acc);
      acc.writeWithoutWhere = true;
      return finish(text, type, 'write', acc);
    case 'CallStmt': {
      // funccall is an unwrapped FuncCall.
      const call = (f.funccall ?? {}) as PgNode;
      acc.functions.add(dotted(call.funcname).replace(/^pg_catalog\./, ''));
      walk(call.args, none, 'read', acc);
      return finish(text, type, 'function', acc);
    }
    case 'DropStmt': {
      // DROP SCHEMA s [CASCADE] drops every table of s without naming one.
      if (Array.isArray(f.objects) && f.removeType === 'OBJECT_SCHEMA') {
        for (const o of f.objects) { const n = nodeOf(o); if (n && n[0] === 'String') acc.writes.add(`${String(n[1].sval)}.*`); }
      }
      if (Array.isArray(f.objects) && /^OBJECT_(TABLE|VIEW|MATVIEW|FOREIGN_TABLE|SEQUENCE|INDEX)$/.test(String(f.removeType))) {
        for (const o of f.objects) {
          const l = nodeOf(o);
          if (l && l[0] === 'List') acc.writes.add(dotted(l[1].items));
        }
      }
      return finish(text, type, 'ddl', acc);
    }
    default: {
      // DDL and DCL name the objects they change: every relation they mention counts as written.
      walk(stmt, none, base === 'ddl' || base === 'dcl' ? 'write' : 'read', acc);
      // ALTER FUNCTION … SET/RESET search_path (or RESET ALL) moves where a body policy judged when it was
      // created (in its own SET clause's path, or the creator's) resolves its names: a body policy does not
      // see here, so unclassifiable (denied, or held with require_approval unclassifiable).
      if (type === 'AlterFunctionStmt' && Array.isArray(f.actions) && f.actions.some((a) => {
        const d = nodeOf(a);
        const v = d && d[0] === 'DefElem' && d[1].defname === 'set' ? nodeOf(d[1].arg) : undefined;
        return v !== undefined && v[0] === 'VariableSetStmt' && (v[1].name === undefined || String(v[1].name).toLowerCase() === 'search_path');
      })) acc.classes.add('unknown');
      // A language made or renamed, or an untrusted one installed, decides what later LANGUAGE names run as: the
      // server's OS user (trustedLanguage goes by name). Superuser's work, as CREATE FUNCTION … LANGUAGE c is.
      if ((type === 'RenameStmt' && f.renameType === 'OBJECT_LANGUAGE') || (type === 'CreateExtensionStmt' && UNTRUSTED_LANGUAGE_EXTENSIONS.has(String(f.extname)))) acc.classes.add('dcl');
      const path = pathChange(type, f);
      const set = type === 'AlterRoleSetStmt' || type === 'AlterDatabaseSetStmt' ? nodeOf({ VariableSetStmt: f.setstmt })?.[1] : undefined;
      const s = set ? setting(set) : undefined;
      // A default role (or session authorization) makes "$user" in the path name another schema in sessions
      // that start later: not known until the server is asked again, as after a RESET of the path.
      const defaultPath = s && (s.name === 'role' || s.name === 'session_authorization') ? null
        : s && (s.name === undefined || s.name === 'search_path') ? s.value ?? null : undefined;
      return finish(text, type, base, acc, { ...(path ? { pathChange: path } : {}), ...(defaultPath !== undefined ? { defaultPath } : {}) });
    }
  }
}

/** The statement text of a raw statement: libpg-query reports byte offsets into the UTF-8 text. */
function stmtText(buf: Buffer, s: RawStmt): string {
  const start = s.stmt_location ?? 0;
  const end = s.stmt_len ? start + s.stmt_len : buf.length;
  return buf.subarray(start, end).toString('utf8').trim();
}

const CACHE_MAX = 4096;
const cache = new Map<string, Classification>();

/**
 * Classifies every statement of `sql` (a simple-protocol Query string or an extended-protocol Parse).
 * Cached per distinct text; the returned object is shared and must not be mutated.
 * The parser must be loaded first (loadParser in pg-parser.ts).
 */
export function classify(sql: string): Classification {
  const hit = cache.get(sql);
  if (hit) return hit;
  // libpg-query rejects '' ("Query cannot be empty") where PostgreSQL answers EmptyQueryResponse, as it
  // does for blanks and comments, which the parser gives as no statements: '' is no statements too.
  const parsed = sql === '' ? { stmts: [] } : parseStatements(sql);
  let result: Classification;
  if ('error' in parsed) {
    result = { sql, statements: [], error: parsed.error };
  } else {
    const buf = Buffer.from(sql, 'utf8');
    try {
      result = { sql, statements: parsed.stmts.map((s) => classifyNode(s.stmt, stmtText(buf, s))) };
    } catch (e) {
      // The parse tree is walked recursively: a statement nested deeper than the stack allows (1,000 nested
      // subqueries, 4 KB) is not read, and says so, rather than surfacing as an internal error.
      if (!(e instanceof RangeError)) throw e;
      result = { sql, statements: [], error: { message: 'it is nested deeper than pcigate reads (its parse tree exhausted the stack)', cursor: -1 } };
    }
  }
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string);
  cache.set(sql, result);
  return result;
}

/** Empties the classification cache (benchmarks measure a cold parse with it). */
export function clearClassifyCache(): void {
  cache.clear();
}
