/**
 * Walks a libpg-query raw parse tree and collects what a statement touches: tables read and written,
 * columns, functions, the statement classes it exercises (a data-modifying CTE inside a SELECT is a
 * write), and whether an UPDATE/DELETE is unrestricted. CTE names are scoped like PostgreSQL's
 * parse_cte.c: a CTE is visible to the body of its WITH and to later CTEs (to itself only when
 * RECURSIVE), so `WITH cards AS (…)` in one subquery cannot hide the real `cards` table in another.
 * Where the walk is unsure it errs towards reporting more (a CTE name is never treated as a table only
 * when it is certainly in scope).
 */
import type { PgNode } from './pg-parser.js';
import type { StatementKind } from './statement-kinds.js';

export type Mode = 'read' | 'write';

export interface WalkAcc {
  classes: Set<StatementKind>;
  reads: Set<string>;
  writes: Set<string>;
  /** `col`, `qualifier.col`, `*` or `qualifier.*` as written (qualifier may be an alias). */
  columns: Set<string>;
  functions: Set<string>;
  /** Relation names and aliases in FROM lists: a bare column reference to one of them is a whole row. */
  rowNames: Set<string>;
  writeWithoutWhere: boolean;
  /** `set_config(name, value, is_local)` calls: a setting changed from inside a query (undefined: not a constant). */
  setConfigs: Array<{ name?: string; value?: string; local: boolean }>;
  /** Inside `SELECT … FROM x WHERE name = '<const>'`: the value every row's `name` column has (see nameFilter). */
  nameIs?: string | undefined;
}

export function newAcc(): WalkAcc {
  return {
    classes: new Set(), reads: new Set(), writes: new Set(), columns: new Set(), functions: new Set(),
    rowNames: new Set(), writeWithoutWhere: false, setConfigs: [],
  };
}

type Scope = ReadonlySet<string>;

function isObj(v: unknown): v is PgNode {
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

function str(v: unknown): string | undefined {
  const n = nodeOf(v);
  if (n && n[0] === 'String') return typeof n[1].sval === 'string' ? n[1].sval : '';
  return undefined;
}

/** The text of a string or number constant (through casts); undefined for anything computed. */
/** `name` when a WHERE clause is exactly `name = '<constant>'`: every row it lets through has that name. */
function nameFilter(where: unknown): string | undefined {
  const w = nodeOf(where);
  if (w?.[0] !== 'A_Expr' || w[1].kind !== 'AEXPR_OP' || !Array.isArray(w[1].name) || w[1].name.length !== 1) return undefined;
  const op = nodeOf(w[1].name[0]);
  if (op?.[0] !== 'String' || op[1].sval !== '=' || !isBareColumn(w[1].lexpr, 'name')) return undefined;
  return constString(w[1].rexpr);
}

/** A ColumnRef of one unqualified name. */
function isBareColumn(v: unknown, column: string): boolean {
  const n = nodeOf(v);
  if (n?.[0] !== 'ColumnRef' || !Array.isArray(n[1].fields) || n[1].fields.length !== 1) return false;
  const part = nodeOf(n[1].fields[0]);
  return part?.[0] === 'String' && part[1].sval === column;
}

function constString(v: unknown): string | undefined {
  const n = nodeOf(v);
  if (n?.[0] === 'TypeCast') return constString(n[1].arg);
  if (n?.[0] !== 'A_Const') return undefined;
  for (const k of ['sval', 'ival', 'fval', 'boolval'] as const) {
    const inner = n[1][k];
    if (inner && typeof inner === 'object') {
      const val = Object.values(inner as PgNode)[0];
      return val === undefined ? (k === 'ival' ? '0' : k === 'boolval' ? 'false' : '') : String(val);
    }
  }
  return undefined;
}

/** Dotted name from a List of String nodes (function names, DROP object names). */
export function dotted(list: unknown): string {
  if (!Array.isArray(list)) return '';
  return list.map((x) => str(x) ?? '?').join('.');
}

/** Walks any value in `mode` with CTE names `scope` visible. */
export function walk(v: unknown, scope: Scope, mode: Mode, acc: WalkAcc): void {
  if (Array.isArray(v)) {
    for (const x of v) walk(x, scope, mode, acc);
    return;
  }
  if (!isObj(v)) return;
  const n = nodeOf(v);
  if (n) {
    visitNode(n[0], n[1], scope, mode, acc);
    return;
  }
  // Unwrapped RangeVar (fields such as `relation`, `rel` carry one without its { RangeVar: … } wrapper).
  if (typeof v.relname === 'string') {
    table(v, scope, mode, acc);
    return;
  }
  for (const val of Object.values(v)) walk(val, scope, mode, acc);
}

function walkFields(f: PgNode, skip: readonly string[], scope: Scope, mode: Mode, acc: WalkAcc): void {
  for (const [k, val] of Object.entries(f)) if (!skip.includes(k)) walk(val, scope, mode, acc);
}

/** Adds the WITH clause's CTEs to the scope, walking each CTE's query with the names it can see. */
function withScope(withClause: unknown, scope: Scope, acc: WalkAcc): Scope {
  if (!isObj(withClause)) return scope;
  const ctes = Array.isArray(withClause.ctes) ? withClause.ctes : [];
  const recursive = withClause.recursive === true;
  const names = ctes.map((c) => nodeOf(c)?.[1].ctename).filter((x): x is string => typeof x === 'string');
  const seen = new Set(scope);
  if (recursive) for (const name of names) seen.add(name);
  for (const c of ctes) {
    const cte = nodeOf(c)?.[1];
    if (!cte) continue;
    walk(cte.ctequery, new Set(seen), 'read', acc);
    if (typeof cte.ctename === 'string') seen.add(cte.ctename);
  }
  return seen;
}

function table(f: PgNode, scope: Scope, mode: Mode, acc: WalkAcc): void {
  const rel = String(f.relname);
  const schema = typeof f.schemaname === 'string' ? f.schemaname : undefined;
  const alias = isObj(f.alias) && typeof f.alias.aliasname === 'string' ? f.alias.aliasname : undefined;
  if (alias) acc.rowNames.add(alias);
  acc.rowNames.add(rel);
  // `cards AS t(a, b)` renames the table's columns by position: `SELECT b FROM cards AS t(a, b)` reads pan
  // under another name. Which column a new name stands for is in the catalog, so count every column.
  if (renamesColumns(f.alias)) acc.columns.add(`${alias ?? rel}.*`);
  if (!schema && scope.has(rel)) return; // a CTE reference, not a table
  const name = schema ? `${schema}.${rel}` : rel;
  (mode === 'write' ? acc.writes : acc.reads).add(name);
}

/** AlterTableCmd subtypes (parsenodes.h AlterTableType) whose `name` is a column's. */
const COLUMN_COMMAND = /^AT_(AlterColumnType|AlterColumnGenericOptions|DropColumn|ColumnDefault|CookedColumnDefault|SetNotNull|DropNotNull|SetAttNotNull|SetStatistics|SetOptions|ResetOptions|SetStorage|SetCompression|AddIdentity|SetIdentity|DropIdentity|DropExpression|SetExpression)$/;

function renamesColumns(alias: unknown): boolean {
  return isObj(alias) && Array.isArray(alias.colnames) && alias.colnames.length > 0;
}

/** True when a WHERE clause can filter rows at all: it references a column or a subquery. */
function restrictive(where: unknown): boolean {
  let found = false;
  const look = (v: unknown): void => {
    if (found) return;
    if (Array.isArray(v)) { v.forEach(look); return; }
    if (!isObj(v)) return;
    const n = nodeOf(v);
    if (n && (n[0] === 'ColumnRef' || n[0] === 'SubLink' || n[0] === 'CurrentOfExpr' || n[0] === 'ParamRef')) {
      found = true;
      return;
    }
    Object.values(v).forEach(look);
  };
  look(where);
  return found;
}

function targetColumns(list: unknown, acc: WalkAcc): void {
  if (!Array.isArray(list)) return;
  for (const t of list) {
    const rt = nodeOf(t);
    if (rt && rt[0] === 'ResTarget' && typeof rt[1].name === 'string') acc.columns.add(rt[1].name);
  }
}

function visitNode(type: string, f: PgNode, scope: Scope, mode: Mode, acc: WalkAcc): void {
  switch (type) {
    case 'RangeVar':
      table(f, scope, mode, acc);
      return;
    case 'SelectStmt': {
      acc.classes.add('read');
      const s = withScope(f.withClause, scope, acc);
      if (isObj(f.intoClause)) {
        // SELECT … INTO creates and fills a table (parse_analyze turns it into CREATE TABLE AS).
        acc.classes.add('write');
        acc.classes.add('ddl');
        walk(f.intoClause.rel, s, 'write', acc);
      }
      const outer = acc.nameIs;
      acc.nameIs = nameFilter(f.whereClause);
      walkFields(f, ['withClause', 'intoClause'], s, 'read', acc);
      acc.nameIs = outer;
      return;
    }
    case 'InsertStmt': {
      acc.classes.add('write');
      const s = withScope(f.withClause, scope, acc);
      walk(f.relation, s, 'write', acc);
      targetColumns(f.cols, acc);
      walkFields(f, ['withClause', 'relation', 'cols'], s, 'read', acc);
      return;
    }
    case 'UpdateStmt':
    case 'DeleteStmt': {
      acc.classes.add('write');
      const s = withScope(f.withClause, scope, acc);
      walk(f.relation, s, 'write', acc);
      walk(f.relation, s, 'read', acc); // the WHERE and RETURNING read the target's rows too
      if (!restrictive(f.whereClause)) acc.writeWithoutWhere = true;
      if (type === 'UpdateStmt') targetColumns(f.targetList, acc);
      walkFields(f, ['withClause', 'relation'], s, 'read', acc);
      return;
    }
    case 'MergeStmt': {
      acc.classes.add('write');
      const s = withScope(f.withClause, scope, acc);
      walk(f.relation, s, 'write', acc);
      walk(f.relation, s, 'read', acc);
      walkFields(f, ['withClause', 'relation'], s, 'read', acc);
      return;
    }
    case 'ColumnRef': {
      const parts = Array.isArray(f.fields)
        ? f.fields.map((x) => str(x) ?? (nodeOf(x)?.[0] === 'A_Star' ? '*' : '?'))
        : [];
      acc.columns.add(parts.join('.'));
      return;
    }
    case 'FuncCall': {
      const fn = dotted(f.funcname).replace(/^pg_catalog\./, '');
      acc.functions.add(fn);
      if (fn === 'set_config' && Array.isArray(f.args)) {
        // pg_dump: SELECT set_config(name, '…', false) FROM pg_settings WHERE name = '<setting>'.
        const name = constString(f.args[0]) ?? (isBareColumn(f.args[0], 'name') ? acc.nameIs : undefined);
        const value = constString(f.args[1]);
        acc.setConfigs.push({ ...(name !== undefined ? { name: name.toLowerCase() } : {}), ...(value !== undefined ? { value } : {}), local: constString(f.args[2]) !== 'false' });
      }
      walkFields(f, ['funcname'], scope, mode, acc);
      return;
    }
    case 'RenameStmt': {
      // ALTER TABLE cards RENAME COLUMN pan TO x: afterwards `SELECT x` reads pan, so the rename touches pan.
      // ALTER SCHEMA s RENAME: every table of s gets a name no `s.t` pattern matches any more.
      if ((f.renameType === 'OBJECT_COLUMN' || f.renameType === 'OBJECT_ATTRIBUTE') && typeof f.subname === 'string') acc.columns.add(f.subname);
      if (f.renameType === 'OBJECT_SCHEMA' && typeof f.subname === 'string') acc.writes.add(`${f.subname}.*`);
      walkFields(f, [], scope, mode, acc);
      return;
    }
    case 'AlterTableCmd':
      // A command on one column (its type, default, expression, statistics …) touches that column.
      if (typeof f.name === 'string' && COLUMN_COMMAND.test(String(f.subtype))) acc.columns.add(f.name);
      walkFields(f, [], scope, mode, acc);
      return;
    case 'JoinExpr': {
      // USING (col) and NATURAL compare columns no ColumnRef names: `cards JOIN (SELECT '4111…' AS pan) p
      // USING (pan)` tests a denied column's values. NATURAL compares every column both sides share, and a
      // join aliased with column names renames them by position: either counts as every column.
      if (Array.isArray(f.usingClause)) for (const u of f.usingClause) acc.columns.add(str(u) ?? '?');
      if (f.isNatural === true || renamesColumns(f.alias)) acc.columns.add('*');
      walkFields(f, [], scope, mode, acc);
      return;
    }
    case 'CommonTableExpr':
      walk(f.ctequery, scope, 'read', acc);
      return;
    default:
      walkFields(f, [], scope, mode, acc);
  }
}
