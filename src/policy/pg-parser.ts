/**
 * The real PostgreSQL parser (libpg-query: the server's own grammar compiled to WASM). The WASM module is
 * loaded once per process; after that, parsing is synchronous so a statement decision never yields the
 * event loop between a frontend message and its verdict.
 */
import { loadModule, parseSync, scanSync } from 'libpg-query';
import { PolicyError } from '../errors.js';

/** A parse tree node as libpg-query emits it: `{ NodeType: { …fields } }`, or a plain value. */
export type PgNode = Record<string, unknown>;

export interface RawStmt {
  stmt: PgNode;
  /** Byte offset of the statement in the UTF-8 query text. */
  stmt_location?: number;
  /** Byte length; absent for the last statement (it runs to the end). */
  stmt_len?: number;
}

export interface ParseFailure {
  message: string;
  /** 0-based character position where the parser gave up, or -1. */
  cursor: number;
}

let loaded: Promise<void> | undefined;
let ready = false;

/** Loads the parser's WASM module; idempotent. Call once at start-up, before {@link parseStatements}. */
export function loadParser(): Promise<void> {
  loaded ??= loadModule().then(() => { ready = true; });
  return loaded;
}

/** True once {@link loadParser} has finished. */
export function parserReady(): boolean {
  return ready;
}

/**
 * Parses `sql` with the PostgreSQL 18 raw grammar (src/backend/parser/gram.y). Identifiers arrive
 * normalised as the server would: unquoted folded to lower case, quoted kept, `U&"…"` decoded.
 * Returns the raw statements, or a ParseFailure for text the server would reject too.
 */
export function parseStatements(sql: string): { stmts: RawStmt[] } | { error: ParseFailure } {
  if (!ready) throw new PolicyError('the SQL parser is not loaded; call loadParser() first');
  try {
    const res = parseSync(sql) as unknown as { stmts?: RawStmt[] };
    return { stmts: res.stmts ?? [] };
  } catch (e) {
    const err = e as { message?: string; sqlDetails?: { cursorPosition?: number } };
    return { error: { message: String(err.message ?? e), cursor: err.sqlDetails?.cursorPosition ?? -1 } };
  }
}

/** A lexical token of the server's scanner: byte offsets [start, end) in the UTF-8 text. */
export interface SqlToken {
  start: number;
  end: number;
  text: string;
}

/** The tokens of `sql` as the server's scanner reads them (strings, quoted names and comments understood). */
export function scanTokens(sql: string): SqlToken[] {
  if (!ready) throw new PolicyError('the SQL parser is not loaded; call loadParser() first');
  const res = scanSync(sql) as unknown as { tokens?: SqlToken[] };
  return res.tokens ?? [];
}
