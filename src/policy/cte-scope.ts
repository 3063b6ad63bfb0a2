/**
 * Which names of a statement are its CTEs, where: the one scoping rule the policy walk (ast-walk.ts), the
 * stored-values walk (stored-values.ts) and COPY planning (broker/pg-copy-plan.ts) read a parse tree with.
 * PostgreSQL's rules (parse_cte.c transformWithClause, parse_relation.c scanNameSpaceForCTE):
 * - a CTE is visible in the main statement of its WITH, and in the queries of the CTEs after it in that WITH;
 *   in its own query only when the WITH is RECURSIVE (which makes every CTE of it visible in every one);
 * - a WITH inside a subquery or a CTE's query adds its names there only; an inner CTE shadows an outer one
 *   of its name (both are CTEs: which one does not matter here);
 * - a schema-qualified name (`public.cards`) never names a CTE, and the target of INSERT, UPDATE, DELETE and
 *   MERGE (analyze.c setTargetTable) or SELECT INTO's new table is always a table, whatever CTE has its name.
 * Outside its scope a CTE's name is the table of that name: `WITH cards AS (SELECT * FROM cards)` reads the
 * table cards, and so does `cards` beside a subquery that declares a CTE named cards.
 */
import type { PgNode } from './pg-parser.js';
import { isObj, nodeOf } from './pg-node.js';

/** The CTE names visible at a point of a statement. */
export interface CteScope {
  has(name: string): boolean;
}

/** No CTE in scope: a statement's top level, or a name that is always a table (see TARGETS). */
export const NO_CTES: CteScope = new Set();

/** A WITH clause's CTE queries, each with the names it sees, and the names the statement it governs sees. */
export interface WithScopes {
  ctes: Array<{ query: unknown; scope: CteScope }>;
  body: CteScope;
}

/**
 * The names one WITH adds to `outer`: those of its first `visible` CTEs. Every CTE of a WITH and its body share
 * one map of the WITH's names, each to the first position that declares it, instead of each taking a copy of
 * the names before it: a copy per CTE made a WITH of n CTEs cost n² (2000 CTEs, 49 KiB of SQL, took 0.6 s).
 * A lookup walks one step per WITH this one is nested in, which the parser's depth limit bounds.
 */
class WithNames implements CteScope {
  constructor(private readonly outer: CteScope, private readonly first: ReadonlyMap<string, number>, private readonly visible: number) {}

  has(name: string): boolean {
    const i = this.first.get(name);
    return (i !== undefined && i < this.visible) || this.outer.has(name);
  }
}

/** The scopes of `withClause` (a WithClause's fields; anything else: none) within `outer`. */
export function withScopes(withClause: unknown, outer: CteScope): WithScopes {
  if (!isObj(withClause) || !Array.isArray(withClause.ctes)) return { ctes: [], body: outer };
  const list = withClause.ctes.map((c) => nodeOf(c)?.[1]).filter(isObj);
  const first = new Map<string, number>();
  list.forEach((c, i) => { if (typeof c.ctename === 'string' && !first.has(c.ctename)) first.set(c.ctename, i); });
  // RECURSIVE: every CTE sees all of them; else each sees those before it. The body sees all.
  const all = new WithNames(outer, first, list.length);
  const ctes = list.map((c, i) => ({ query: c.ctequery, scope: withClause.recursive === true ? all : new WithNames(outer, first, i) }));
  return { ctes, body: all };
}

/** Whether a RangeVar's fields name a CTE in `scope`: never with a schema. */
export function namesCte(rangeVar: PgNode, scope: CteScope): boolean {
  return typeof rangeVar.relname === 'string' && typeof rangeVar.schemaname !== 'string' && scope.has(rangeVar.relname);
}

/** The field of a statement node whose relation is always a table (walked with NO_CTES). */
const TARGETS: Readonly<Record<string, string>> = {
  InsertStmt: 'relation', UpdateStmt: 'relation', DeleteStmt: 'relation', MergeStmt: 'relation', SelectStmt: 'intoClause',
};

/**
 * Calls `visit` for every object of a parse tree, depth first: with its node type (undefined for an unwrapped
 * one: a field's RangeVar, a set operation's arm), its fields, the CTE names in scope where it stands, and those
 * in scope in its body (with its own WITH's: `scope` when it has none). Its WITH's CTE queries are then visited
 * each in its own scope (withScopes), a target relation (TARGETS) with no CTE, its other fields in its body's scope.
 */
export function forEachScoped(root: unknown, visit: (type: string | undefined, f: PgNode, scope: CteScope, body: CteScope) => void, scope: CteScope = NO_CTES): void {
  if (Array.isArray(root)) { for (const x of root) forEachScoped(x, visit, scope); return; }
  if (!isObj(root)) return;
  const [type, f] = nodeOf(root) ?? [undefined, root];
  const w = withScopes(f.withClause, scope);
  visit(type, f, scope, w.body);
  const target = type === undefined ? undefined : TARGETS[type];
  for (const [k, val] of Object.entries(f)) {
    if (k === 'withClause') for (const c of w.ctes) forEachScoped(c.query, visit, c.scope);
    else forEachScoped(val, visit, k === target ? NO_CTES : w.body);
  }
}
