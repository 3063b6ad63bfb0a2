/**
 * The columns of a `COPY … TO STDOUT`, for the masker. COPY sends no RowDescription: without this, its rows
 * reach the masker with no column names (so SAD columns such as `cvv` and column rules do not apply, only
 * PAN detection does) and, in binary, with no types (an 8-byte timestamp that happens to read as a card
 * number would be withheld). Before such a COPY is forwarded the broker asks the server:
 * - `COPY (query) TO STDOUT`: Parse and Describe of the query (the server analyses it; nothing is planned
 *   or run); result columns from a table are named `schema.table.column` through the column catalog;
 * - `COPY table [(columns)] TO STDOUT`: the table's columns from pg_catalog, in COPY's order (without a
 *   column list: every column but dropped and generated ones, as COPY itself takes them).
 * Where it asks decides what it can trust (pg-hooks chooses):
 * - on the session's own connection, right before the COPY (copyColumnsInSession), when the COPY is a simple
 *   Query of its own: the answer is what the COPY will see, whatever the session did before;
 * - otherwise on a side connection with the broker-held credential (copyColumns), which takes every schema
 *   policy resolves the session's unqualified names in (the paths its SETs may have left it with, also one
 *   earlier in the COPY's own query string, and the server's own: pg-hooks sessionSearchPath). A table the session can see and it cannot (a temporary table, one created in
 *   the session's open transaction) has no columns to announce, and the COPY is refused (fail closed) with
 *   the reason. Worse is a table both see differently, whose columns would be misaligned with their names (a
 *   cvv sent as "note"): changed in the session's open transaction (pg-hooks refuses such a COPY in a
 *   transaction block or after other statements of its query string), or a name the two resolve to
 *   different relations (see ambiguousRelations).
 */
import {
  BackendCode, decodeDataRow, decodeNotice, decodeRowDescription, encodeBind, encodeExecute, encodeParse, encodeTarget, FrontendCode, SYNC,
} from '../pg/protocol/index.js';
import type { FieldDescription, NoticeFields, UpstreamTarget } from '../pg/protocol/index.js';
import type { ColumnCatalog } from '../mask/column-catalog.js';
import { quoteIdent } from '../policy/name-match.js';
import { forEachScoped, namesCte } from '../policy/cte-scope.js';
import { parseStatements, scanTokens } from '../policy/pg-parser.js';
import type { PgNode, RawStmt } from '../policy/pg-parser.js';
import { describeStatement, lookupRows, serverRefusal } from './pg-query-client.js';
import { PREPARE_WAIT_MS } from '../mask/pg-masker.js';

/** A COPY … TO STDOUT statement and how its rows are written. */
export interface CopyOut {
  /** The table form's relation (`"schema"."table"`), or undefined for the query form. */
  relation?: string;
  /** The table form's column list (empty: every column). */
  columns: string[];
  /** The query form's query text. */
  query?: string;
  /**
   * Relations the COPY names without a schema (the table form's, or any in the query form's query that is
   * not a CTE in scope where it stands): the session may resolve them otherwise than the side connection does.
   */
  unqualified: string[];
  /**
   * Functions and types the query form's query names without a schema: a function of another schema can
   * return other columns under the same call (and a type decides how a binary field is read).
   */
  routines?: { functions: string[]; types: string[] };
  binary: boolean;
  csv: boolean;
  delimiter?: string;
  quote?: string;
  escape?: string;
  /** The NULL option's string. */
  null?: string;
  /** The ENCODING option, as written. */
  encoding?: string;
  header: boolean;
}

/** One column of the COPY's rows as the masker needs it. */
export interface CopyColumn {
  name: string;
  /** `schema.table.column`; undefined: not a table column; null: not resolved (every qualified rule applies). */
  qualified: string | undefined | null;
  typeOid: number;
}

interface CopyStmtNode {
  relation?: { schemaname?: string; relname: string };
  query?: PgNode;
  attlist?: Array<{ String?: { sval: string } }>;
  is_from?: boolean;
  is_program?: boolean;
  filename?: string;
  options?: Array<{ DefElem?: { defname: string; arg?: PgNode } }>;
}

/**
 * The COPY … TO STDOUT statements in `sql`, and whether the query string holds other statements than those
 * and SET/RESET/SHOW. Such statements run in the same (implicit) transaction before the COPY, which the side
 * connection cannot see: `alter table t …; copy t to stdout` would be planned with t's old columns.
 * `alone`: the string is that one COPY (its columns can be asked in the session right before it).
 */
export function copyOutQuery(sql: string): { copies: CopyOut[]; others: boolean; alone: boolean } {
  if (!/copy/i.test(sql)) return { copies: [], others: false, alone: false };
  const parsed = parseStatements(sql);
  if ('error' in parsed) return { copies: [], others: false, alone: false };
  const bytes = Buffer.from(sql, 'utf8');
  const out: CopyOut[] = [];
  let others = false;
  for (const raw of parsed.stmts) {
    const c = raw.stmt.CopyStmt as CopyStmtNode | undefined;
    if (!c || c.is_from === true || c.is_program === true || c.filename !== undefined) {
      if (!('VariableSetStmt' in raw.stmt) && !('VariableShowStmt' in raw.stmt)) others = true;
      continue;
    }
    const opts = copyOptions(c.options ?? []);
    if (c.query) {
      const names = unqualifiedNames(c.query);
      out.push({ query: parenthesized(stmtText(raw, bytes)), columns: [], unqualified: names.relations, routines: { functions: names.functions, types: names.types }, ...opts });
    } else if (c.relation) {
      const r = c.relation;
      out.push({
        relation: `${r.schemaname ? `${quoteIdent(r.schemaname)}.` : ''}${quoteIdent(r.relname)}`, columns: (c.attlist ?? []).map((a) => a.String?.sval ?? ''),
        unqualified: r.schemaname ? [] : [r.relname], ...opts,
      });
    }
  }
  return { copies: out, others, alone: parsed.stmts.length === 1 && out.length === 1 };
}

/**
 * The names without a schema in a parse tree: relations (RangeVar nodes, wrapped or not, carry `relname`)
 * but for a CTE's name where that CTE is in scope (policy/cte-scope.ts: a RangeVar of that name there refers to
 * it in both connections alike; elsewhere, as in the CTE's own query or beside a subquery that declares it, the
 * name is a table's and resolves through the search_path), functions (FuncCall's `funcname`) and types
 * (TypeName's `names`, with its `typemod`).
 */
function unqualifiedNames(node: PgNode): { relations: string[]; functions: string[]; types: string[] } {
  const names = new Set<string>();
  const functions = new Set<string>();
  const types = new Set<string>();
  const single = (list: unknown): string | undefined => {
    if (!Array.isArray(list) || list.length !== 1) return undefined;
    const s = (list[0] as { String?: { sval?: string } }).String?.sval;
    return typeof s === 'string' ? s : undefined;
  };
  forEachScoped(node, (_type, o, scope) => {
    if (typeof o.relname === 'string' && o.schemaname === undefined && !namesCte(o, scope)) names.add(o.relname);
    const f = single(o.funcname);
    if (f !== undefined) functions.add(f);
    const t = Array.isArray(o.names) && 'typemod' in o ? single(o.names) : undefined;
    if (t !== undefined) types.add(t);
  });
  return { relations: [...names], functions: [...functions], types: [...types] };
}

/** A statement's own text in its query string. */
function stmtText(raw: RawStmt, bytes: Buffer): string {
  const at = raw.stmt_location ?? 0;
  return bytes.subarray(at, raw.stmt_len === undefined ? bytes.length : at + raw.stmt_len).toString('utf8').trim();
}

/** The text between the statement's first `(` and its matching `)`: COPY's query. */
function parenthesized(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  let depth = 0;
  let from = -1;
  for (const t of scanTokens(text)) {
    if (t.text === '(') {
      if (depth++ === 0) from = t.end;
    } else if (t.text === ')' && --depth === 0) {
      return bytes.subarray(from, t.start).toString('utf8');
    }
  }
  throw new Error('COPY query without its closing parenthesis');
}

function copyOptions(options: NonNullable<CopyStmtNode['options']>): Pick<CopyOut, 'binary' | 'csv' | 'delimiter' | 'quote' | 'escape' | 'null' | 'encoding' | 'header'> {
  let format = 'text';
  const text: Pick<CopyOut, 'delimiter' | 'quote' | 'escape' | 'null' | 'encoding'> = {};
  let header = false;
  for (const o of options) {
    const d = o.DefElem;
    if (!d) continue;
    const arg = d.arg as { String?: { sval: string }; Boolean?: { boolval?: boolean }; Integer?: { ival?: number } } | undefined;
    if (d.defname === 'format' && arg?.String) format = arg.String.sval.toLowerCase();
    else if ((d.defname === 'delimiter' || d.defname === 'quote' || d.defname === 'escape' || d.defname === 'null' || d.defname === 'encoding') && arg?.String) text[d.defname] = arg.String.sval;
    else if (d.defname === 'header') {
      // HEADER alone, a boolean, 1/0, or on/off/true/false/match as a word.
      header = arg === undefined || arg.Boolean?.boolval === true || arg.Integer?.ival === 1 ||
        (arg.String !== undefined && ['true', 'on', '1', 'match'].includes(arg.String.sval.toLowerCase()));
    }
  }
  return { binary: format === 'binary', csv: format === 'csv', header, ...text };
}

/**
 * A SQL string literal of `s` for the side connections' lookups, whatever the connection's standard_conforming_strings:
 * an escape string (E'…', always read with backslash escapes) with backslashes and quotes doubled. A plain '…' with
 * quotes doubled is a literal only while that setting is on, and a role may turn it off for its own later sessions
 * (ALTER ROLE CURRENT_USER SET standard_conforming_strings = off): `\'` in a client's name would then end it, and
 * the rest of the name run as SQL on the side connection (found by review; test/integration/quote-literal.test.ts).
 */
export const quoteLiteral = (s: string) => `E'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;

/**
 * The columns the COPY writes, asked of the server (see the module comment) with the session's
 * `searchPath` (schema names; undefined: the connection's default). Throws when they cannot be known.
 */
export async function copyColumns(target: UpstreamTarget, catalog: ColumnCatalog, copy: CopyOut, schemas?: readonly string[]): Promise<CopyColumn[]> {
  const searchPath = schemas === undefined ? undefined : `SET search_path TO ${schemas.length > 0 ? schemas.map(quoteIdent).join(', ') : "''"}`;
  // The two name checks are independent lookups: run side by side.
  const [ambiguous] = await Promise.all([ambiguousRelations(target, copy.unqualified), copy.routines ? refuseAmbiguousRoutines(target, copy.routines) : undefined]);
  if (copy.query !== undefined) {
    const d = await describeStatement(target, copy.query, searchPath);
    if (d.error) throw new Error(serverRefusal(d.error));
    return describedColumns(catalog, d.fields, ambiguous);
  }
  const rows = await lookupRows(target, `${searchPath !== undefined ? `${searchPath};\n` : ''}${TABLE_COLUMNS.replace('$1', quoteLiteral(copy.relation!))}`);
  return tableColumns(copy, rows, catalog, ambiguous.size > 0);
}

/**
 * A relation's columns in order (name, type, attgenerated, table OID, attnum), for the relation as `$1` names
 * it (regclass: resolved by the search_path of the connection that runs it). Everything it uses is named in
 * pg_catalog, operators too: in the session (copyColumnsInSession) a search_path that puts pg_catalog after a
 * schema of the session's own could otherwise hand it another `=`.
 */
const TABLE_COLUMNS = `SELECT a.attname, a.atttypid::pg_catalog.int4, a.attgenerated::pg_catalog.text, a.attrelid::pg_catalog.int8, a.attnum
  FROM pg_catalog.pg_attribute a
  WHERE a.attrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
  ORDER BY a.attnum`;

/**
 * Result columns named as a SELECT's are: by table OID and attribute number through the column catalog, which
 * holds committed names (a session's uncommitted RENAME of a ruled or SAD column cannot take its rule off it;
 * a column the catalog does not know, in a table only the session sees so far, gets every qualified rule), or
 * unresolved for the tables in `unresolved` (ambiguousRelations).
 */
async function describedColumns(catalog: ColumnCatalog, fields: readonly FieldDescription[], unresolved: ReadonlySet<number> = new Set()): Promise<CopyColumn[]> {
  await catalog.resolveAll(fields.map((f) => [f.tableOid, f.column] as const), PREPARE_WAIT_MS);
  return fields.map((f) => ({
    name: f.name, typeOid: f.typeOid,
    qualified: f.tableOid === 0 ? undefined : unresolved.has(f.tableOid) ? null : catalog.get(f.tableOid, f.column),
  }));
}

/**
 * The table form's columns from TABLE_COLUMNS' rows, named through the catalog as describedColumns names them
 * (all unresolved with `unresolved`): COPY's list, or all but generated ones.
 */
async function tableColumns(copy: CopyOut, rows: (string | null)[][], catalog: ColumnCatalog, unresolved: boolean): Promise<CopyColumn[]> {
  const key = (row: (string | null)[]) => [Number(row[3]), Number(row[4])] as const;
  if (!unresolved) await catalog.resolveAll(rows.map(key), PREPARE_WAIT_MS);
  const all = rows.map((row) => ({
    name: row[0]!, qualified: unresolved ? null : catalog.get(...key(row)), typeOid: Number(row[1]), generated: row[2] !== '',
  }));
  if (copy.columns.length === 0) return all.filter((c) => !c.generated).map(({ generated: _, ...c }) => c);
  return copy.columns.map((name) => {
    const c = all.find((x) => x.name === name);
    if (!c) throw new Error(`column "${name}" of ${copy.relation} does not exist`);
    return { name: c.name, qualified: c.qualified, typeOid: c.typeOid };
  });
}

/** The session's own server connection (SessionControl.exchange). */
export type Exchange = (messages: Buffer) => Promise<Buffer[]> | null;

/** The server refused pcigate's question in the session: the COPY would have met the same error. */
export class SessionRefusal extends Error {
  constructor(readonly fields: NoticeFields) {
    super(serverRefusal(fields));
  }
}

/**
 * The columns the COPY writes, asked on the session's own connection right before the COPY is forwarded
 * (SessionControl.exchange), so they are the columns it will write: its transaction's uncommitted changes,
 * its temporary tables, its search_path however set, its functions and types all count, and no name is
 * ambiguous. Query form: Parse and Describe of the query; table form: TABLE_COLUMNS for the relation as the
 * COPY names it. Either way named as describedColumns names them.
 * Undefined when the session cannot be asked now; throws SessionRefusal when the server refuses.
 */
export async function copyColumnsInSession(exchange: Exchange, catalog: ColumnCatalog, copy: CopyOut): Promise<CopyColumn[] | undefined> {
  const messages = copy.query !== undefined
    ? [encodeParse({ name: '', sql: copy.query, paramTypes: [] }), encodeTarget(FrontendCode.Describe, 'S', ''), SYNC]
    : [encodeParse({ name: '', sql: TABLE_COLUMNS, paramTypes: [] }), encodeBind({ params: [copy.relation!] }), encodeExecute(), SYNC];
  // The unnamed statement and portal are the client's to lose: the COPY, a simple Query, replaces both.
  const asked = exchange(Buffer.concat(messages));
  if (!asked) return undefined;
  let fields: FieldDescription[] = [];
  const rows: (string | null)[][] = [];
  for (const f of await asked) {
    const payload = f.subarray(5);
    if (f[0] === BackendCode.ErrorResponse) throw new SessionRefusal(decodeNotice(payload));
    if (f[0] === BackendCode.RowDescription) fields = decodeRowDescription(payload).fields;
    else if (f[0] === BackendCode.DataRow) rows.push(decodeDataRow(payload).values.map((v) => (v === null ? null : v.toString('utf8'))));
  }
  return copy.query === undefined ? tableColumns(copy, rows, catalog, false) : describedColumns(catalog, fields);
}

/**
 * A name without a schema resolves through the session's search_path, which the side connection may not
 * share: the policy sees SET, not set_config() nor a SET undone by ROLLBACK; and a temporary table (in the
 * session's pg_temp, searched first) shadows a committed one of the same name. So every relation of that
 * name in any schema — other sessions' temporary ones too: pg_class lists them — is a candidate. One
 * candidate: it is the one (or the COPY fails in the session as well). Several with the same columns (names,
 * types, generated) in the same order, as tenant schemas have: the plan holds whichever runs, but not which
 * schema's column rules apply, so each column is left unresolved (every qualified rule of its name applies).
 * Several that differ: refused — the plan could put one table's names on another's columns.
 * Returns the OIDs of the candidates of ambiguous names.
 */
async function ambiguousRelations(target: UpstreamTarget, names: readonly string[]): Promise<Set<number>> {
  const out = new Set<number>();
  if (names.length === 0) return out;
  const rows = await lookupRows(target, `SELECT c.relname, count(DISTINCT l.cols)::int, string_agg(c.oid::int8::text, ',')
    FROM pg_catalog.pg_class c CROSS JOIN LATERAL (SELECT coalesce(json_agg(json_build_array(a.attname, a.atttypid::int, a.attgenerated::text) ORDER BY a.attnum)::text, '') AS cols
      FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) l
    WHERE c.relname IN (${names.map(quoteLiteral).join(', ')}) AND c.relkind NOT IN ('i', 'I', 't', 'c') GROUP BY c.relname HAVING count(*) > 1`);
  for (const [name, layouts, oids] of rows) {
    if (Number(layouts) > 1) {
      throw new Error(`there are several relations named ${quoteIdent(name!)} with different columns (in other schemas, or a temporary table); name its schema`);
    }
    for (const oid of (oids ?? '').split(',')) out.add(Number(oid));
  }
  return out;
}

/**
 * Functions and types named without a schema resolve through the session's search_path too (see
 * ambiguousRelations): one that exists in several schemas could be another in the session — a function
 * returning a cvv as its third column where the side connection's returns it second. Refused when any does
 * (pg_catalog's own functions and types are usually the only ones of their names).
 */
async function refuseAmbiguousRoutines(target: UpstreamTarget, r: { functions: string[]; types: string[] }): Promise<void> {
  if (r.functions.length === 0 && r.types.length === 0) return;
  const list = (names: string[]) => (names.length > 0 ? names.map(quoteLiteral).join(', ') : 'NULL');
  const rows = await lookupRows(target, `SELECT 'function', proname FROM pg_catalog.pg_proc WHERE proname IN (${list(r.functions)}) GROUP BY proname HAVING count(DISTINCT pronamespace) > 1
    UNION ALL SELECT 'type', typname FROM pg_catalog.pg_type WHERE typname IN (${list(r.types)}) GROUP BY typname HAVING count(DISTINCT typnamespace) > 1`);
  const hit = rows[0];
  if (hit) throw new Error(`the ${hit[0]} ${quoteIdent(hit[1]!)} exists in several schemas, and the session may call another than the lookup; name its schema`);
}
