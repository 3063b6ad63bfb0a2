/**
 * The columns of a `COPY … TO STDOUT`, for the masker. COPY sends no RowDescription: without this, its rows
 * reach the masker with no column names (so SAD columns such as `cvv` and column rules do not apply, only
 * PAN detection does) and, in binary, with no types (an 8-byte timestamp that happens to read as a card
 * number would be withheld). Before such a COPY is forwarded the broker asks the server on a side
 * connection with the broker-held credential:
 * - `COPY (query) TO STDOUT`: Parse and Describe of the query (the server analyses it; nothing is planned
 *   or run); result columns from a table are named `schema.table.column` through the column catalog;
 * - `COPY table [(columns)] TO STDOUT`: the table's columns from pg_catalog, in COPY's order (without a
 *   column list: every column but dropped and generated ones, as COPY itself takes them).
 * The side connection takes the session's search_path as the policy session tracks it from the session's
 * SET statements (also one earlier in the COPY's own query string). A table the session can see and it
 * cannot (a temporary table, one created in the session's open transaction) has no columns to announce,
 * and the COPY is refused (fail closed) with the reason.
 */
import type { UpstreamTarget } from '../pg/protocol/index.js';
import type { ColumnCatalog } from '../mask/column-catalog.js';
import { parseStatements, scanTokens } from '../policy/pg-parser.js';
import type { PgNode, RawStmt } from '../policy/pg-parser.js';
import { describeStatement, simpleQuery } from './pg-query-client.js';

/** A COPY … TO STDOUT statement and how its rows are written. */
export interface CopyOut {
  /** The table form's relation (`"schema"."table"`), or undefined for the query form. */
  relation?: string;
  /** The table form's column list (empty: every column). */
  columns: string[];
  /** The query form's query text. */
  query?: string;
  binary: boolean;
  csv: boolean;
  delimiter?: string;
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

/** The COPY … TO STDOUT statements in `sql`, in order (usually none). SQL that does not parse has none. */
export function copyOutStatements(sql: string): CopyOut[] {
  if (!/copy/i.test(sql)) return [];
  const parsed = parseStatements(sql);
  if ('error' in parsed) return [];
  const bytes = Buffer.from(sql, 'utf8');
  const out: CopyOut[] = [];
  for (const raw of parsed.stmts) {
    const c = raw.stmt.CopyStmt as CopyStmtNode | undefined;
    if (!c || c.is_from === true || c.is_program === true || c.filename !== undefined) continue;
    const opts = copyOptions(c.options ?? []);
    if (c.query) {
      out.push({ query: parenthesized(stmtText(raw, bytes)), columns: [], ...opts });
    } else if (c.relation) {
      const r = c.relation;
      out.push({ relation: `${r.schemaname ? `${quoteIdent(r.schemaname)}.` : ''}${quoteIdent(r.relname)}`, columns: (c.attlist ?? []).map((a) => a.String?.sval ?? ''), ...opts });
    }
  }
  return out;
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

function copyOptions(options: NonNullable<CopyStmtNode['options']>): Pick<CopyOut, 'binary' | 'csv' | 'delimiter' | 'header'> {
  let format = 'text';
  let delimiter: string | undefined;
  let header = false;
  for (const o of options) {
    const d = o.DefElem;
    if (!d) continue;
    const arg = d.arg as { String?: { sval: string }; Boolean?: { boolval?: boolean }; Integer?: { ival?: number } } | undefined;
    if (d.defname === 'format' && arg?.String) format = arg.String.sval.toLowerCase();
    else if (d.defname === 'delimiter' && arg?.String) delimiter = arg.String.sval;
    else if (d.defname === 'header') {
      // HEADER alone, a boolean, 1/0, or on/off/true/false/match as a word.
      header = arg === undefined || arg.Boolean?.boolval === true || arg.Integer?.ival === 1 ||
        (arg.String !== undefined && ['true', 'on', '1', 'match'].includes(arg.String.sval.toLowerCase()));
    }
  }
  return { binary: format === 'binary', csv: format === 'csv', header, ...(delimiter !== undefined ? { delimiter } : {}) };
}

const quoteIdent = (s: string) => `"${s.replace(/"/g, '""')}"`;
const quoteLiteral = (s: string) => `'${s.replace(/'/g, "''")}'`;

/**
 * The columns the COPY writes, asked of the server (see the module comment) with the session's
 * `searchPath` (schema names; undefined: the connection's default). Throws when they cannot be known.
 */
export async function copyColumns(target: UpstreamTarget, catalog: ColumnCatalog, copy: CopyOut, schemas?: readonly string[]): Promise<CopyColumn[]> {
  const searchPath = schemas === undefined ? undefined : `SET search_path TO ${schemas.length > 0 ? schemas.map(quoteIdent).join(', ') : "''"}`;
  if (copy.query !== undefined) {
    const d = await describeStatement(target, copy.query, searchPath);
    if (d.error) throw new Error(`${d.error.message ?? 'the server refused the query'} (${d.error.code ?? 'no SQLSTATE'})`);
    await Promise.all(d.fields.filter((f) => f.tableOid !== 0).map((f) => catalog.resolve(f.tableOid, f.column)));
    return d.fields.map((f) => ({ name: f.name, qualified: f.tableOid === 0 ? undefined : catalog.get(f.tableOid, f.column), typeOid: f.typeOid }));
  }
  const r = await simpleQuery(target, `${searchPath !== undefined ? `${searchPath};\n` : ''}SELECT a.attname, a.atttypid::int, n.nspname || '.' || c.relname || '.' || a.attname, a.attgenerated <> '' FROM pg_catalog.pg_attribute a
    JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE a.attrelid = ${quoteLiteral(copy.relation!)}::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`);
  if (r.error) throw new Error(`${r.error.message ?? 'the server refused the lookup'} (${r.error.code ?? 'no SQLSTATE'})`);
  const all = (r.results.at(-1)?.rows ?? []).map(([name, type, qualified, generated]) => ({ name: name!, qualified: qualified!, typeOid: Number(type), generated: generated === 't' }));
  if (copy.columns.length === 0) return all.filter((c) => !c.generated).map(({ generated: _, ...c }) => c);
  return copy.columns.map((name) => {
    const c = all.find((x) => x.name === name);
    if (!c) throw new Error(`column "${name}" of ${copy.relation} does not exist`);
    return { name: c.name, qualified: c.qualified, typeOid: c.typeOid };
  });
}
