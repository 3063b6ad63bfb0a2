/**
 * Walks a libpg-query raw parse tree and collects what a statement touches: tables read and written,
 * columns, functions, the statement classes it exercises (a data-modifying CTE inside a SELECT is a
 * write), and whether an UPDATE/DELETE is unrestricted. CTE names are scoped like PostgreSQL's
 * parse_cte.c (cte-scope.ts): a CTE is visible to the body of its WITH and to later CTEs (to itself only
 * when RECURSIVE), so `WITH cards AS (…)` in one subquery cannot hide the real `cards` table in another.
 * Where the walk is unsure it errs towards reporting more (a CTE name is never treated as a table only
 * when it is certainly in scope).
 */
import type { PgNode } from './pg-parser.js';
import { isObj, nodeOf } from './pg-node.js';
import { constString } from './const-string.js';
import { namesCte, NO_CTES, withScopes } from './cte-scope.js';
import type { CteScope } from './cte-scope.js';
import type { StatementKind } from './statement-kinds.js';

export { nodeOf };

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
  /**
   * A `*` that is not an output list's own item (`SELECT *`, `SELECT c.*`, `RETURNING *` expand to the columns
   * themselves): `row_to_json(c.*)`, `count(c.*)`, `(SELECT c.*) IS NULL` use every column of a row as one value.
   */
  starValue: boolean;
  /** The ColumnRef nodes that are an output list's own `*` items (expansions, see starValue). */
  expansions: WeakSet<object>;
  /** The statement being classified (markOutputs), whose result columns outputReach reads. */
  root?: unknown;
  /**
   * Names PostgreSQL may read as a call of a one-argument function by attribute notation (see fieldCalls):
   * each field of `(expr).name`, and qualified column references `q.name` as [q, name].
   */
  fieldNames: Set<string>;
  qualifiedRefs: Array<[string, string]>;
  /** FROM items whose whole row is a composite value (tables, CTEs, subqueries, joins, table functions): by name or alias. */
  compositeRows: Set<string>;
  /** FROM items that are functions (RangeFunction): by alias, or the name of each function without one. */
  functionRows: Set<string>;
  /**
   * The columns every function in FROM of a name is known to have, by that name (as functionRows): those its alias
   * lists (`unnest(…) AS src(tbloid)`) or its column definitions declare (`AS r(a int)`). Of a name used by
   * several, only the columns all of them have.
   */
  functionColumns: Map<string, Set<string>>;
}

export function newAcc(): WalkAcc {
  return {
    classes: new Set(), reads: new Set(), writes: new Set(), columns: new Set(), functions: new Set(),
    rowNames: new Set(), writeWithoutWhere: false, setConfigs: [], starValue: false, expansions: new WeakSet(),
    fieldNames: new Set(), qualifiedRefs: [], compositeRows: new Set(['excluded', 'new', 'old']), functionRows: new Set(),
    functionColumns: new Map(),
  };
}

/**
 * The names a statement may call as functions without a FuncCall in its parse tree. PostgreSQL reads
 * `(expr).name` as the field `name` of a composite value, and otherwise as the call `name(expr)` of any
 * function of one argument (parse_func.c ParseFuncOrColumn, attribute notation): `SELECT ('/etc/passwd').pg_read_file`
 * and `SELECT ('s'::regclass).nextval` call those functions. So does `q.name` where `q` is a function in FROM
 * (its whole row is the function's scalar result: `SELECT x.nextval FROM lower('s') x`), or a name this walk does
 * not know as a FROM item. Which of these names are functions is the catalog's to say (the broker asks it);
 * the names of FROM items whose rows are composite are left out for `q.name` (a column, or a function of that
 * row type: see docs/pg-proxy.md), and so is `q.name` where every function in FROM named q has a column `name`
 * by its alias or column definitions: a column is read before a function is tried (parse_expr.c transformColumnRef).
 */
export function fieldCalls(acc: WalkAcc): string[] {
  const out = new Set(acc.fieldNames);
  for (const [q, name] of acc.qualifiedRefs) {
    if (acc.functionRows.has(q) ? !acc.functionColumns.get(q)?.has(name) : !acc.compositeRows.has(q)) out.add(name);
  }
  return [...out].sort();
}

/** A function in FROM named `name` (functionRows), with the columns its alias or column definitions give it. */
function functionRow(acc: WalkAcc, name: string, columns: ReadonlySet<string>): void {
  const known = acc.functionColumns.get(name);
  acc.functionColumns.set(name, acc.functionRows.has(name) ? new Set([...columns].filter((c) => known?.has(c))) : new Set(columns));
  acc.functionRows.add(name);
}

/**
 * Column names a RangeFunction surely has: its alias list's (`AS r(a, b)`), or without one its column definitions'
 * (`AS r(a int)`, ROWS FROM's `f() AS (a int)`). An alias list renames columns by position, a defined one too.
 */
function rangeFunctionColumns(f: PgNode): Set<string> {
  const out = new Set<string>();
  if (isObj(f.alias) && Array.isArray(f.alias.colnames) && f.alias.colnames.length > 0) {
    for (const c of f.alias.colnames) { const name = str(c); if (name !== undefined) out.add(name); }
    return out;
  }
  const defs = (list: unknown) => { if (Array.isArray(list)) for (const d of list) { const c = nodeOf(d); if (c?.[0] === 'ColumnDef' && typeof c[1].colname === 'string') out.add(c[1].colname); } };
  defs(f.coldeflist);
  if (Array.isArray(f.functions)) for (const item of f.functions) { const items = nodeOf(item)?.[1].items; if (Array.isArray(items)) defs(nodeOf(items[1])?.[1].items); }
  return out;
}

type Scope = CteScope;

function str(v: unknown): string | undefined {
  const n = nodeOf(v);
  if (n && n[0] === 'String') return typeof n[1].sval === 'string' ? n[1].sval : '';
  return undefined;
}

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

/**
 * A string, number or boolean constant as text, through any cast (`false` reads `'false'`): for flags and option
 * values (set_config's is_local, SET's values, EXPLAIN's options). Not for a name or value whose text must be the
 * server's: constString (const-string.ts) refuses casts that change text.
 */
export function constText(v: unknown): string | undefined {
  const n = nodeOf(v);
  if (n?.[0] === 'TypeCast') return constText(n[1].arg);
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

/** The scope of a WITH's statement (cte-scope.ts withScopes), after walking each CTE's query in its own. */
function withScope(withClause: unknown, scope: Scope, acc: WalkAcc): Scope {
  const w = withScopes(withClause, scope);
  for (const c of w.ctes) walk(c.query, c.scope, 'read', acc);
  return w.body;
}

function table(f: PgNode, scope: Scope, mode: Mode, acc: WalkAcc): void {
  const rel = String(f.relname);
  const schema = typeof f.schemaname === 'string' ? f.schemaname : undefined;
  const alias = isObj(f.alias) && typeof f.alias.aliasname === 'string' ? f.alias.aliasname : undefined;
  if (alias) acc.rowNames.add(alias);
  acc.rowNames.add(rel);
  acc.compositeRows.add(alias ?? rel);
  // `cards AS t(a, b)` renames the table's columns by position: `SELECT b FROM cards AS t(a, b)` reads pan
  // under another name. Which column a new name stands for is in the catalog, so count every column.
  if (renamesColumns(f.alias)) acc.columns.add(`${alias ?? rel}.*`);
  if (namesCte(f, scope)) return; // a CTE reference, not a table
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

/**
 * Marks the `*` items of the output list of a statement's rows (see starValue): the root SELECT's (each arm of
 * a UNION, INTERSECT or EXCEPT), RETURNING's, and the query's of a DECLARE CURSOR or COPY. Such an item
 * expands to columns the server describes as the table's; a `*` anywhere else (a subquery's, a CTE's) may
 * feed an expression, so it is a starValue.
 */
export function markOutputs(node: unknown, acc: WalkAcc): void {
  acc.root ??= node;
  const n = nodeOf(node);
  const [type, f] = n ?? ['SelectStmt', node as PgNode];
  if (!isObj(f)) return;
  switch (type) {
    case 'SelectStmt':
      if (typeof f.op === 'string' && f.op !== 'SETOP_NONE') {
        markOutputs(f.larg, acc);
        markOutputs(f.rarg, acc);
      } else markExpansions(f.targetList, acc);
      return;
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
      markExpansions(returning(f), acc);
      return;
    case 'DeclareCursorStmt':
    case 'CopyStmt':
      if (f.query !== undefined) markOutputs(f.query, acc);
      return;
    default:
  }
}

/** What one result column of a statement is made from (see outputReach). */
export interface OutputReach {
  /** Column references as written (`col`, `alias.col`), in its expression and in what its FROM and WITH compute. */
  refs: string[];
  /** It may carry a whole row as one value (`row_to_json(c)`), or a subquery's `*` it reads from. */
  rowValues: boolean;
}

/**
 * Per result column of a statement's rows, in order, what it is made from: its own expression's column
 * references, plus everything the statement's FROM and WITH compute (a subquery's or CTE's column may be
 * anything they name). For the root SELECT (a UNION's arms merged by position), RETURNING, and the query of a
 * DECLARE CURSOR or COPY. Undefined when the positions are not known from the text: an output list with a `*`
 * or `(x).*` item (its width is the table's or the row type's), VALUES, or a statement that returns no rows. `rowNames`: the statement's
 * relation names and aliases (a bare reference to one is a whole row).
 */
export function outputReach(node: unknown, rowNames: ReadonlySet<string>): OutputReach[] | undefined {
  const n = nodeOf(node);
  const [type, f] = n ?? ['SelectStmt', node as PgNode];
  if (!isObj(f)) return undefined;
  switch (type) {
    case 'SelectStmt': {
      if (typeof f.op === 'string' && f.op !== 'SETOP_NONE') {
        const l = outputReach(f.larg, rowNames);
        const r = outputReach(f.rarg, rowNames);
        if (!l || !r || l.length !== r.length) return undefined;
        return l.map((x, i) => ({ refs: [...new Set([...x.refs, ...r[i]!.refs])], rowValues: x.rowValues || r[i]!.rowValues }));
      }
      return outputEntries(f.targetList, [f.fromClause, f.withClause], rowNames);
    }
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
      return outputEntries(returning(f), [f.fromClause, f.usingClause, f.withClause, type === 'InsertStmt' ? f.selectStmt : undefined], rowNames);
    case 'DeclareCursorStmt':
    case 'CopyStmt':
      return f.query === undefined ? undefined : outputReach(f.query, rowNames);
    default:
      return undefined;
  }
}

function outputEntries(list: unknown, sources: unknown[], rowNames: ReadonlySet<string>): OutputReach[] | undefined {
  if (!Array.isArray(list) || list.length === 0) return undefined;
  const from = newAcc();
  walk(sources, new Set(), 'read', from);
  const out: OutputReach[] = [];
  for (const t of list) {
    const rt = nodeOf(t);
    if (!rt || rt[0] !== 'ResTarget') return undefined;
    const val = nodeOf(rt[1].val);
    if (val && val[0] === 'ColumnRef' && Array.isArray(val[1].fields) && nodeOf(val[1].fields[val[1].fields.length - 1])?.[0] === 'A_Star') return undefined;
    // `(x).*` expands to as many columns as x's row type has, none for `(SELECT) e`: beside a two-column
    // `(p).*` the counts agree and every column between them is another's (its cvv taken for the text's `e`).
    if (val && val[0] === 'A_Indirection' && Array.isArray(val[1].indirection) && nodeOf(val[1].indirection[val[1].indirection.length - 1])?.[0] === 'A_Star') return undefined;
    const acc = newAcc();
    walk(rt[1].val, new Set(), 'read', acc);
    const own = [...acc.columns];
    const bare = (c: string) => !c.includes('.') && rowNames.has(c);
    out.push({
      refs: [...new Set([...own, ...from.columns])],
      rowValues: acc.starValue || from.starValue || own.some(bare) || [...from.columns].some(bare),
    });
  }
  return out;
}

/** An INSERT, UPDATE or DELETE's RETURNING list (the parser's `returningClause.exprs`). */
function returning(f: PgNode): unknown {
  return isObj(f.returningClause) ? f.returningClause.exprs : f.returningList;
}

function markExpansions(list: unknown, acc: WalkAcc): void {
  if (!Array.isArray(list)) return;
  for (const t of list) {
    const rt = nodeOf(t);
    const ref = rt && rt[0] === 'ResTarget' ? nodeOf(rt[1].val) : undefined;
    if (ref && ref[0] === 'ColumnRef' && Array.isArray(ref[1].fields) && nodeOf(ref[1].fields[ref[1].fields.length - 1])?.[0] === 'A_Star') acc.expansions.add(ref[1]);
  }
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
        walk(f.intoClause.rel, NO_CTES, 'write', acc);
      }
      // FOR UPDATE / NO KEY UPDATE / SHARE / KEY SHARE lock the rows it reads against writers until the
      // transaction ends; PostgreSQL asks UPDATE privilege for it (analyze.c applyLockingClause, ACL_SELECT_FOR_UPDATE): a write.
      if (Array.isArray(f.lockingClause) && f.lockingClause.length > 0) acc.classes.add('write');
      const outer = acc.nameIs;
      acc.nameIs = nameFilter(f.whereClause);
      walkFields(f, ['withClause', 'intoClause'], s, 'read', acc);
      acc.nameIs = outer;
      return;
    }
    case 'InsertStmt': {
      acc.classes.add('write');
      const s = withScope(f.withClause, scope, acc);
      // The target is always a table (analyze.c setTargetTable), never a CTE of the same name: `WITH secrets AS
      // (SELECT 1) DELETE FROM secrets` deletes from the table secrets. So it is walked with no CTE in scope.
      walk(f.relation, NO_CTES, 'write', acc);
      targetColumns(f.cols, acc);
      walkFields(f, ['withClause', 'relation', 'cols'], s, 'read', acc);
      return;
    }
    case 'UpdateStmt':
    case 'DeleteStmt': {
      acc.classes.add('write');
      const s = withScope(f.withClause, scope, acc);
      walk(f.relation, NO_CTES, 'write', acc);
      walk(f.relation, NO_CTES, 'read', acc); // the WHERE and RETURNING read the target's rows too
      if (!restrictive(f.whereClause)) acc.writeWithoutWhere = true;
      if (type === 'UpdateStmt') targetColumns(f.targetList, acc);
      walkFields(f, ['withClause', 'relation'], s, 'read', acc);
      return;
    }
    case 'MergeStmt': {
      acc.classes.add('write');
      const s = withScope(f.withClause, scope, acc);
      walk(f.relation, NO_CTES, 'write', acc);
      walk(f.relation, NO_CTES, 'read', acc);
      walkFields(f, ['withClause', 'relation'], s, 'read', acc);
      return;
    }
    case 'ColumnRef': {
      const parts = Array.isArray(f.fields)
        ? f.fields.map((x) => str(x) ?? (nodeOf(x)?.[0] === 'A_Star' ? '*' : '?'))
        : [];
      acc.columns.add(parts.join('.'));
      if (parts[parts.length - 1] === '*' && !acc.expansions.has(f)) acc.starValue = true;
      // `q.name`: q's column, or name(q) (fieldCalls). With more parts the first names a schema: a relation's row.
      if (parts.length === 2 && parts[1] !== '*') acc.qualifiedRefs.push([parts[0]!, parts[1]!]);
      return;
    }
    case 'A_Indirection':
      // `(expr).name`: a field, or the function call name(expr) (fieldCalls).
      if (Array.isArray(f.indirection)) for (const x of f.indirection) { const name = str(x); if (name !== undefined) acc.fieldNames.add(name); }
      walkFields(f, [], scope, mode, acc);
      return;
    case 'RangeFunction': {
      const alias = isObj(f.alias) && typeof f.alias.aliasname === 'string' ? f.alias.aliasname : undefined;
      const columns = rangeFunctionColumns(f);
      if (alias !== undefined) functionRow(acc, alias, columns);
      else if (Array.isArray(f.functions)) {
        for (const item of f.functions) {
          // ROWS FROM (f(…), g(…)) and f(…): a List of [call, column definitions] per function.
          const items = nodeOf(item)?.[1].items;
          const call = Array.isArray(items) ? nodeOf(items[0]) : undefined;
          if (call?.[0] === 'FuncCall' && Array.isArray(call[1].funcname)) functionRow(acc, str(call[1].funcname[call[1].funcname.length - 1]) ?? '?', columns);
        }
      }
      walkFields(f, [], scope, mode, acc);
      return;
    }
    case 'RangeSubselect':
    case 'RangeTableFunc':
    case 'JsonTable':
      if (isObj(f.alias) && typeof f.alias.aliasname === 'string') acc.compositeRows.add(f.alias.aliasname);
      walkFields(f, [], scope, mode, acc);
      return;
    case 'FuncCall': {
      const fn = dotted(f.funcname).replace(/^pg_catalog\./, '');
      acc.functions.add(fn);
      if (fn === 'set_config' && Array.isArray(f.args)) {
        // pg_dump: SELECT set_config(name, '…', false) FROM pg_settings WHERE name = '<setting>'.
        const name = constString(f.args[0]) ?? (isBareColumn(f.args[0], 'name') ? acc.nameIs : undefined);
        const value = constString(f.args[1]);
        acc.setConfigs.push({ ...(name !== undefined ? { name: name.toLowerCase() } : {}), ...(value !== undefined ? { value } : {}), local: constText(f.args[2]) !== 'false' });
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
      if (isObj(f.alias) && typeof f.alias.aliasname === 'string') acc.compositeRows.add(f.alias.aliasname);
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
