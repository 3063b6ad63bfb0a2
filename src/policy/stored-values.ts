/**
 * What a statement stores, and what each stored value is made from: the values an INSERT (VALUES, a query, ON
 * CONFLICT's SET), an UPDATE's SET or a MERGE writes, the rows CREATE TABLE AS, SELECT INTO or a materialized
 * view make, the query a view keeps (and, through an updatable view, its base columns), a generated column's
 * expression and ALTER COLUMN … TYPE … USING's; values kept under another name (RENAME, SET SCHEMA, INHERIT, ATTACH
 * PARTITION) and a trigger's row; anywhere in the statement (a data-modifying WITH, a rule's actions, a BEGIN ATOMIC
 * body). Masking follows a value to the client, not into another table or a view whose columns no
 * rule names: a role whose results are masked is refused a statement that stores values made from a masked
 * column where they would be read back unmasked (ColumnRules.storedRule, the broker's check in pg-hooks.ts).
 */
import type { PgNode } from './pg-parser.js';
import { newAcc, outputReach, walk } from './ast-walk.js';
import type { WalkAcc } from './ast-walk.js';
import { forEachScoped, NO_CTES } from './cte-scope.js';
import type { CteScope } from './cte-scope.js';
import { isObj, nodeOf } from './pg-node.js';

export interface StoredValue {
  /** The column it is stored in when the text names it (UPDATE's `SET c = …`, INSERT's `(c, …)`); table as written. */
  target?: { table: string; column: string };
  /** Column references as written (`col`, `alias.col`, `*`, `alias.*`) in it and in what its FROM and WITH compute. */
  refs: string[];
  /** The tables those read, as written. */
  tables: string[];
  /** It may carry a row's columns without naming them (`*`, `t.*`, a bare row `c`, `row_to_json(c)`). */
  rowValues: boolean;
  /**
   * Its rows keep their column names under another relation's name (RENAME TO, SET SCHEMA, a schema renamed,
   * INHERIT, ATTACH PARTITION): only rules that name the relation (`schema.table.column`) stop matching.
   */
  relocated?: true;
}

type Scope = CteScope;

/** Every value `root` (one statement's parse node) stores; empty for a statement that stores none. */
export function storedValues(root: unknown): StoredValue[] {
  const out: StoredValue[] = [];
  // Each statement with the names its body sees and those its WITH's queries start from (cte-scope.ts): a WITH's
  // names are not tables in the statement it governs, but `WITH cards AS (SELECT secret_code FROM cards)` reads the table.
  forEachScoped(root, (type, f, scope, body) => { if (type !== undefined) stores(type, f, body, out, scope); });
  return out;
}

/** `acc` with what a statement's WITH queries read, each in its own scope (ast-walk's, from `outer`: cte-scope.ts). */
function withQueries(acc: WalkAcc, withClause: unknown, outer: Scope): WalkAcc {
  if (isObj(withClause)) walk({ SelectStmt: { withClause } }, outer, 'read', acc);
  return acc;
}

/** `scope`: the names a statement's body sees (its WITH's too); `outer`: those its WITH's queries start from. */
function stores(type: string, f: PgNode, scope: Scope, out: StoredValue[], outer: Scope): void {
  const table = relName(f.relation);
  const to = (column: unknown) => (typeof column === 'string' ? { table, column } : undefined);
  switch (type) {
    case 'InsertStmt': {
      const cols = Array.isArray(f.cols) ? f.cols.map((c) => nodeOf(c)?.[1].name) : [];
      const shared = withQueries(newAcc(), f.withClause, outer);
      const q = nodeOf(f.selectStmt)?.[1];
      if (q && Array.isArray(q.valuesLists) && (q.op === undefined || q.op === 'SETOP_NONE')) {
        for (const row of q.valuesLists) {
          const items = nodeOf(row)?.[1].items;
          if (!Array.isArray(items)) { out.push(value(row, shared, scope)); continue; }
          items.forEach((item, i) => out.push(value(item, shared, scope, to(cols[i]))));
        }
      } else if (f.selectStmt !== undefined) {
        // Per position when the query's columns are known from its text; else all it reads, for every column.
        const whole = sourcesOf([f.selectStmt], scope);
        const each = outputReach(f.selectStmt, whole.rowNames);
        if (each) each.forEach((o, i) => out.push(merge(o.refs, o.rowValues, whole, shared, to(cols[i]))));
        else out.push(merge([...whole.columns], true, whole, shared));
      }
      const conflict = isObj(f.onConflictClause) ? f.onConflictClause.targetList : undefined;
      // Its SET reads the target's row (`SET body = notes.cvv`) as well as the row proposed (`excluded`).
      if (conflict !== undefined) setList(conflict, withQueries(withTarget(f.relation, [f.selectStmt], scope), f.withClause, outer), scope, to, out);
      return;
    }
    case 'UpdateStmt':
      setList(f.targetList, withQueries(withTarget(f.relation, [f.fromClause], scope), f.withClause, outer), scope, to, out);
      return;
    case 'MergeStmt': {
      const shared = withQueries(withTarget(f.relation, [f.sourceRelation], scope), f.withClause, outer);
      for (const w of Array.isArray(f.mergeWhenClauses) ? f.mergeWhenClauses : []) {
        const c = nodeOf(w)?.[1];
        if (!c) continue;
        if (Array.isArray(c.values)) {
          const cols = Array.isArray(c.targetList) ? c.targetList.map((t) => nodeOf(t)?.[1].name) : [];
          c.values.forEach((item, i) => out.push(value(item, shared, scope, to(cols[i]))));
        } else setList(c.targetList, shared, scope, to, out);
      }
      return;
    }
    case 'CreateStmt': // a generated column stores what its expression makes of the row's other columns
      for (const el of Array.isArray(f.tableElts) ? f.tableElts : []) {
        const col = nodeOf(el);
        if (col?.[0] === 'ColumnDef') for (const e of generated(col[1])) out.push(value(e, sourcesOf([f.relation], scope), scope, to(col[1].colname)));
      }
      return;
    case 'AlterTableStmt':
      for (const cmd of Array.isArray(f.cmds) ? f.cmds : []) {
        const c = nodeOf(cmd)?.[1];
        if (!c) continue;
        const def = nodeOf(c.def);
        // ALTER COLUMN … TYPE … USING expr rewrites the column from the row; a generated column added or changed.
        const exprs = def?.[0] === 'ColumnDef' ? [...generated(def[1]), ...(def[1].raw_default !== undefined ? [def[1].raw_default] : [])]
          : c.subtype === 'AT_SetExpression' && c.def !== undefined ? [c.def] : [];
        const column = typeof c.name === 'string' ? c.name : def?.[1].colname;
        for (const e of exprs) out.push(value(e, sourcesOf([f.relation], scope), scope, to(column)));
        // INHERIT p, ATTACH PARTITION q: the parent's scans return the child's rows, under the parent's name.
        if (c.subtype === 'AT_AddInherit') out.push(relocated(table));
        if (c.subtype === 'AT_AttachPartition' && def?.[0] === 'PartitionCmd' && isObj(def[1].name)) out.push(relocated(relName(def[1].name)));
      }
      return;
    case 'RenameStmt':
      // A column or relation renamed keeps its values under a name a rule may no longer match (RENAME COLUMN cvv
      // TO x; RENAME TO, where a rule names the table): the column as if stored in its new name, a relation's
      // whole rows, a schema's every table (not known from the text: refused while one of its rules masks).
      if (f.renameType === 'OBJECT_COLUMN' && typeof f.subname === 'string' && typeof f.newname === 'string') {
        out.push({ target: { table, column: f.newname }, refs: [f.subname], tables: [table], rowValues: false });
        // A view's column: what is written to it under the new name still goes to its base column (writesThrough).
        out.push({ target: { table, column: f.subname }, refs: [f.newname], tables: [table], rowValues: false });
      } else if (RELATIONS.has(String(f.renameType))) out.push(relocated(table));
      else if (f.renameType === 'OBJECT_SCHEMA' && typeof f.subname === 'string') out.push(relocated(`${f.subname}.*`));
      return;
    case 'AlterObjectSchemaStmt': // SET SCHEMA: a rule's `schema.table.column` no longer matches
      if (isObj(f.relation)) out.push(relocated(table));
      return;
    case 'CreateTrigStmt': {
      // A trigger function may store the row anywhere; tsvector_update_trigger(tsv, …, cvv) stores the columns its
      // arguments name when it runs, also one added after (ALTER TABLE … ADD COLUMN cvv): they count as read here.
      const args = Array.isArray(f.args) ? f.args.map((a) => nodeOf(a)?.[1].sval).filter((x): x is string => typeof x === 'string') : [];
      out.push({ ...rowsOf(table), refs: args });
      return;
    }
    case 'CreateTableAsStmt': // CREATE TABLE AS, CREATE MATERIALIZED VIEW (AS EXECUTE: policy's storedReach)
      if (f.query !== undefined && nodeOf(f.query)?.[0] !== 'ExecuteStmt') out.push(...queryValues(f.query, scope, f.into));
      return;
    case 'ViewStmt':
      out.push(...queryValues(f.query, scope, { rel: f.view, colNames: f.aliases }), ...writesThrough(f.query, relName(f.view), f.aliases));
      return;
    case 'SelectStmt':
      if (f.intoClause !== undefined) out.push(...queryValues({ SelectStmt: { ...f, intoClause: undefined } }, outer, f.intoClause)); // its WITH scoped by the walk
      return;
    default:
  }
}

/** A relation's name as written (`schema.table` or `table`); `?` when not one. */
function relName(rel: unknown): string {
  if (!isObj(rel) || typeof rel.relname !== 'string') return '?';
  return typeof rel.schemaname === 'string' ? `${rel.schemaname}.${rel.relname}` : rel.relname;
}

/** Relations a RENAME TO gives another name. */
const RELATIONS: ReadonlySet<string> = new Set(['OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_FOREIGN_TABLE']);

/** A relation's whole rows as one value, judged by its columns (PolicySession.storedReach widens it). */
function rowsOf(table: string): StoredValue {
  return { refs: [], tables: [table], rowValues: true };
}

/** A relation's rows under another relation's name (StoredValue.relocated). */
function relocated(table: string): StoredValue {
  return { ...rowsOf(table), relocated: true };
}

/**
 * The rows a query makes into the relation `into` names (`rel`, and `colNames` given in the text), column by
 * column when its text tells them apart (else one value for all). A column's name is the one given, else the
 * output's alias or the column it references, as the server names it: a rule on that name masks what it holds.
 */
function queryValues(query: unknown, scope: Scope, into: unknown): StoredValue[] {
  const whole = sourcesOf([query], scope);
  const each = outputReach(query, whole.rowNames);
  const none = newAcc();
  if (!each) return [merge([...whole.columns], true, whole, none)];
  const rel = isObj(into) && isObj(into.rel) ? into.rel : undefined;
  const table = rel && typeof rel.relname === 'string' ? rel.relname : '?';
  const given = isObj(into) && Array.isArray(into.colNames) ? into.colNames.map((c) => nodeOf(c)?.[1].sval) : [];
  const named = outputNames(query);
  return each.map((o, i) => {
    const column = given[i] ?? named[i];
    return merge(o.refs, o.rowValues, whole, none, typeof column === 'string' ? { table, column } : undefined);
  });
}

/**
 * A view over one relation is updatable: a value written to its column (`insert into v (cvv) …`) is stored in the
 * base column it names. Where the view renames one (`select body as cvv from notes`), the value of the view's
 * column is stored in the base column: masked in full under the view's name, read back from the base it would not
 * be. After a `*` the positions are not known from the text: every name the view gives counts for every column.
 */
function writesThrough(query: unknown, view: string, colNames: unknown): StoredValue[] {
  const f = nodeOf(query)?.[1];
  const from = f && Array.isArray(f.fromClause) && f.fromClause.length === 1 ? nodeOf(f.fromClause[0]) : undefined;
  if (!f || from?.[0] !== 'RangeVar' || !Array.isArray(f.targetList) || (typeof f.op === 'string' && f.op !== 'SETOP_NONE')) return [];
  const base = relName(from[1]);
  const given = Array.isArray(colNames) ? colNames.map((c) => nodeOf(c)?.[1].sval) : [];
  const names = outputNames(query);
  const out: StoredValue[] = [];
  for (const [i, t] of f.targetList.entries()) {
    const last = lastField(nodeOf(t)?.[1].val);
    if (last?.[0] === 'A_Star') {
      const refs = given.filter((x): x is string => typeof x === 'string');
      return refs.length === 0 ? out : [...out, { target: { table: base, column: '*' }, refs, tables: [view], rowValues: false }];
    }
    const source = last?.[0] === 'String' ? last[1].sval : undefined;
    const name = given[i] ?? names[i];
    if (typeof source === 'string' && typeof name === 'string' && source !== name) out.push({ target: { table: base, column: source }, refs: [name], tables: [view], rowValues: false });
  }
  return out;
}

/** The names a query's result columns get from its text: an alias, or a plain column reference's name. */
function outputNames(query: unknown): Array<string | undefined> {
  const f = nodeOf(query)?.[1] ?? (isObj(query) ? query : undefined); // a set operation's arms come unwrapped
  if (!f) return [];
  if (typeof f.op === 'string' && f.op !== 'SETOP_NONE') return outputNames(f.larg); // a UNION's names are its first arm's
  if (!Array.isArray(f.targetList)) return [];
  return f.targetList.map((t) => {
    const rt = nodeOf(t)?.[1];
    if (!rt) return undefined;
    if (typeof rt.name === 'string') return rt.name;
    const last = lastField(rt.val);
    return last?.[0] === 'String' && typeof last[1].sval === 'string' ? last[1].sval : undefined;
  });
}

/** The last part of a plain column reference (`t.col` → col, `t.*` → A_Star); undefined for any other value. */
function lastField(val: unknown): [string, PgNode] | undefined {
  const ref = nodeOf(val);
  const fields = ref?.[0] === 'ColumnRef' && Array.isArray(ref[1].fields) ? ref[1].fields : [];
  return nodeOf(fields[fields.length - 1]);
}

/** A column definition's GENERATED ALWAYS AS (expr) expressions. */
function generated(def: PgNode): unknown[] {
  const out: unknown[] = [];
  for (const c of Array.isArray(def.constraints) ? def.constraints : []) {
    const k = nodeOf(c)?.[1];
    if (k?.contype === 'CONSTR_GENERATED' && k.raw_expr !== undefined) out.push(k.raw_expr);
  }
  return out;
}

/** `SET c = expr, …` (UPDATE, ON CONFLICT DO UPDATE, MERGE's UPDATE): one value per target column. */
function setList(list: unknown, shared: WalkAcc, scope: Scope, to: (c: unknown) => StoredValue['target'], out: StoredValue[]): void {
  if (!Array.isArray(list)) return;
  for (const t of list) {
    const rt = nodeOf(t)?.[1];
    if (!rt) continue;
    // `SET (a, b) = (SELECT …)`: each column gets one of the query's, which the text does not tell: all of them.
    out.push(value(rt.val, shared, scope, to(rt.name)));
  }
}

function sourcesOf(parts: unknown[], scope: Scope): WalkAcc {
  const acc = newAcc();
  walk(parts, scope, 'read', acc);
  return acc;
}

/**
 * sourcesOf(parts), and the target of an INSERT, UPDATE or MERGE, whose row its SET reads: always a table
 * (analyze.c setTargetTable), whatever CTE has its name (`WITH cards AS (SELECT 1) UPDATE cards SET note = cvv`).
 */
function withTarget(relation: unknown, parts: unknown[], scope: Scope): WalkAcc {
  const acc = sourcesOf(parts, scope);
  walk(relation, NO_CTES, 'read', acc);
  return acc;
}

function value(expr: unknown, shared: WalkAcc, scope: Scope, target?: StoredValue['target']): StoredValue {
  const own = sourcesOf([expr], scope);
  return merge([...own.columns], own.starValue || bareRow(own), own, shared, target);
}

function merge(refs: readonly string[], rowValues: boolean, own: WalkAcc, shared: WalkAcc, target?: StoredValue['target']): StoredValue {
  const all = new Set([...refs, ...shared.columns]);
  const star = [...all].some((r) => r === '*' || r.endsWith('.*'));
  return {
    ...(target ? { target } : {}),
    refs: [...all],
    tables: [...new Set([...own.reads, ...shared.reads])],
    rowValues: rowValues || star || shared.starValue || bareRow(shared) || [...all].some((r) => !r.includes('.') && own.rowNames.has(r)),
  };
}

/** A bare reference to a relation name or alias: a whole row as one value. */
function bareRow(acc: WalkAcc): boolean {
  for (const c of acc.columns) if (!c.includes('.') && acc.rowNames.has(c)) return true;
  return false;
}
