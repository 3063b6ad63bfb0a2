/**
 * Table and column patterns against the names a statement uses. Names arrive normalised by the parser
 * (unquoted folded to lower case), so patterns compare exactly, with `*` as the only wildcard.
 *
 * An unqualified table name is resolved the way PostgreSQL does only at run time (the first schema in
 * search_path holding it), which policy cannot see. So it errs on the strict side both ways: a deny
 * pattern matches the name in any schema, and an allow pattern must cover the name in every schema of
 * the session's search_path — `SET search_path = evil` cannot make `cards` mean something the policy
 * did not allow.
 */

const globCache = new Map<string, RegExp>();

function glob(pattern: string): RegExp {
  let re = globCache.get(pattern);
  if (!re) {
    re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
    globCache.set(pattern, re);
  }
  return re;
}

function split(name: string): { schema?: string; rel: string } {
  const i = name.lastIndexOf('.');
  return i < 0 ? { rel: name } : { schema: name.slice(0, i), rel: name.slice(i + 1) };
}

/** True when the pattern (`t`, `s.t`, `s.*`, `*`) matches the qualified name schema.rel. */
function matchesQualified(pattern: string, schema: string, rel: string): boolean {
  const p = split(pattern);
  if (!glob(p.rel).test(rel)) return false;
  return p.schema === undefined || glob(p.schema).test(schema);
}

/**
 * Schemas policy cannot name: `$user` of a function's own SET search_path clause (current_user at each call,
 * whoever calls), `?` of a path it cannot read. A name in one may be in any schema.
 */
const UNKNOWN_SCHEMAS = new Set(['$user', '?']);

/**
 * Deny-side match: an unqualified name matches a pattern for that name in any schema, and so does a name in
 * a schema policy cannot name (UNKNOWN_SCHEMAS). `schema.*` (a statement on a whole schema: ALTER SCHEMA …
 * RENAME, DROP SCHEMA) matches every pattern that can name a table in that schema.
 */
export function tableMatchesAny(name: string, patterns: readonly string[]): string | undefined {
  const split0 = split(name);
  const n = split0.schema !== undefined && UNKNOWN_SCHEMAS.has(split0.schema) && split0.rel !== '*' ? { rel: split0.rel } : split0;
  for (const pat of patterns) {
    const p = split(pat);
    if (n.rel === '*' && n.schema !== undefined) {
      if (p.schema === undefined || glob(p.schema).test(n.schema)) return pat;
    } else if (n.schema !== undefined ? matchesQualified(pat, n.schema, n.rel) : glob(p.rel).test(n.rel)) return pat;
  }
  return undefined;
}

/**
 * Allow-side match: an unqualified name must be allowed in every schema of `searchPath`. PostgreSQL also
 * looks in pg_catalog, before the path unless the path names it: `pg_authid` is pg_catalog.pg_authid
 * whatever search_path says. Every relation there is named `pg_…`, so such a name must be allowed in
 * pg_catalog too (an allow list of `public.*` does not let `SELECT … FROM pg_authid` through).
 */
export function tableAllowed(name: string, patterns: readonly string[], searchPath: readonly string[]): boolean {
  const n = split(name);
  if (n.schema !== undefined) return patterns.some((p) => matchesQualified(p, n.schema!, n.rel));
  const schemas = searchPath.length > 0 ? searchPath : PUBLIC_ONLY;
  if (!pathCovered(patterns, n.rel, schemas)) return false;
  return !n.rel.startsWith('pg_') || namesCatalog(schemas) || patterns.some((p) => matchesQualified(p, 'pg_catalog', n.rel));
}

const PUBLIC_ONLY: readonly string[] = ['public'];

/** Whether the patterns a relation name matches cover every schema of a path, known up to `upTo` of its schemas. */
interface Coverage { ok: boolean; upTo: number }

/**
 * What one judgement (evaluate: the statements of one string) found of its paths: per allow list (by its
 * patterns), the patterns' globs and, per path, the coverage of each set of patterns a relation name matches (by
 * their indices); per path, whether it names pg_catalog. Within a judgement a path is only grown by appending
 * (PathList) or replaced, so what was found for its first `upTo` schemas stays true, and a longer path is read
 * from there on. Between judgements a caller may change a path's names in place: nothing is kept.
 */
interface PathCovers {
  lists: Map<string, { globs: Array<{ rel: RegExp; schema: RegExp | undefined }>; byPath: Map<readonly string[], Map<string, Coverage>> }>;
  catalog: Map<readonly string[], { upTo: number; named: boolean }>;
}
let covers: PathCovers | undefined;
/** Whether a judgement is running (judgingPaths); its PathCovers is made when a name is first looked up in it. */
let judging = false;

function currentCovers(): PathCovers | undefined {
  if (!judging) return undefined;
  return (covers ??= { lists: new Map(), catalog: new Map() });
}

/**
 * Runs one judgement (`fn`, synchronous) with tableAllowed remembering what it found of each path: the names
 * of a string's statements mostly match the same patterns, so each set of patterns is checked against a path
 * once, not once per name (n names on a path of n schemas were n² glob tests: 4,000 of each, 6.8 s).
 */
export function judgingPaths<T>(fn: () => T): T {
  // Nothing is made for a judgement with no unqualified name to look up (most statements on the hot path).
  if (judging) return fn();
  judging = true;
  try {
    return fn();
  } finally {
    judging = false;
    covers = undefined;
  }
}

/** Whether every schema of `schemas` has a pattern allowing `rel` in it. */
function pathCovered(patterns: readonly string[], rel: string, schemas: readonly string[]): boolean {
  const covers = currentCovers();
  if (!covers) return schemas.every((s) => patterns.some((p) => matchesQualified(p, s, rel)));
  const listKey = patterns.join('\u0000');
  let list = covers.lists.get(listKey);
  if (!list) {
    const globs = patterns.map((p) => { const q = split(p); return { rel: glob(q.rel), schema: q.schema === undefined ? undefined : glob(q.schema) }; });
    covers.lists.set(listKey, list = { globs, byPath: new Map() });
  }
  const { globs } = list;
  const matching: number[] = [];
  for (let i = 0; i < globs.length; i++) if (globs[i]!.rel.test(rel)) matching.push(i);
  let sets = list.byPath.get(schemas);
  if (!sets) list.byPath.set(schemas, sets = new Map());
  const key = matching.join(',');
  let c = sets.get(key);
  if (!c || c.upTo > schemas.length) sets.set(key, c = { ok: true, upTo: 0 });
  for (; c.ok && c.upTo < schemas.length; c.upTo++) {
    const s = schemas[c.upTo]!;
    c.ok = matching.some((i) => { const g = globs[i]!.schema; return g === undefined || g.test(s); });
  }
  return c.ok;
}

/** Whether a path names pg_catalog. */
function namesCatalog(schemas: readonly string[]): boolean {
  const covers = currentCovers();
  if (!covers) return schemas.includes('pg_catalog');
  let c = covers.catalog.get(schemas);
  if (!c || c.upTo > schemas.length) covers.catalog.set(schemas, c = { upTo: 0, named: false });
  for (; !c.named && c.upTo < schemas.length; c.upTo++) c.named = schemas[c.upTo] === 'pg_catalog';
  return c.named;
}

/**
 * The column deny pattern that a referenced column hits, if any. `refs` are as the classifier reports
 * them (`col`, `alias.col`, `*`, `alias.*`); qualifiers may be aliases, so a `table.col` pattern applies
 * whenever the statement touches that table. A star (or whole-row) reference cannot be proven not to
 * include a denied column, so it hits every pattern that applies to the statement.
 */
export function columnDenied(refs: readonly string[], tables: readonly string[], patterns: readonly string[]): { pattern: string; ref: string } | undefined {
  for (const pat of patterns) {
    const parts = pat.split('.');
    const col = parts[parts.length - 1]!;
    const tablePat = parts.length > 1 ? parts.slice(0, -1).join('.') : undefined;
    if (tablePat !== undefined && !tables.some((t) => tableMatchesAny(t, [tablePat]) !== undefined)) continue;
    for (const ref of refs) {
      const last = ref.slice(ref.lastIndexOf('.') + 1);
      if (last === '*' || glob(col).test(last)) return { pattern: pat, ref };
    }
  }
  return undefined;
}

/** search_path when nothing set it: what policy assumes the server starts with (its default is "$user", public). */
export const DEFAULT_SEARCH_PATH: readonly string[] = ['public'];

/**
 * The schemas of a search_path value as SET gives it (`undefined`: RESET or DEFAULT), `$user` read as
 * `users` (current_user: every role it may be, in order; left out when unknown). An empty path leaves
 * pg_catalog only.
 */
export function searchPathSchemas(value: string | undefined, users?: string | readonly string[]): string[] {
  if (value === undefined) return [...DEFAULT_SEARCH_PATH];
  const out: string[] = [];
  for (const name of pathNames(value)) {
    if (name === '$user') { if (users !== undefined) out.push(...(typeof users === 'string' ? [users] : users)); continue; }
    out.push(name);
  }
  return out.length > 0 ? [...new Set(out)] : ['pg_catalog'];
}

/**
 * The names of a search_path value, read as PostgreSQL reads it (varlena.c SplitIdentifierString, the GUC's list
 * syntax): comma-separated; a double-quoted name is taken as written, `""` a quote in it, commas too (`"a,b"` is one
 * schema); an unquoted one ends at a comma or a blank and is downcased (ASCII letters); a name is cut to 63 bytes
 * (NAMEDATALEN). A value the server would reject (an open quote, an empty unquoted name, a stray character) is read
 * by commas as before: the server keeps its old path then, and policy, which judges names in every path the session
 * may have, only gains schemas to check.
 */
function pathNames(value: string): string[] {
  return (splitIdentifiers(value) ?? value.split(',').map((raw) => raw.trim().replace(/^"(.*)"$/, '$1'))).filter((n) => n !== '');
}

/** scanner_isspace: the blanks the list syntax skips. */
const LIST_BLANK = new Set([' ', '\t', '\n', '\r', '\f', '\v']);

function splitIdentifiers(value: string): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  const blanks = () => { while (i < value.length && LIST_BLANK.has(value[i]!)) i++; };
  blanks();
  if (i === value.length) return out;
  for (;;) {
    let name = '';
    if (value[i] === '"') {
      for (i++; ; i++) {
        if (i >= value.length) return undefined; // no closing quote
        if (value[i] !== '"') { name += value[i]; continue; }
        if (value[i + 1] !== '"') break;
        name += '"';
        i++;
      }
      i++;
    } else {
      const from = i;
      while (i < value.length && value[i] !== ',' && !LIST_BLANK.has(value[i]!)) i++;
      if (i === from) return undefined; // an empty unquoted name
      name = value.slice(from, i).replace(/[A-Z]+/g, (m) => m.toLowerCase());
    }
    out.push(truncateIdentifier(name));
    blanks();
    if (i === value.length) return out;
    if (value[i] !== ',') return undefined;
    i++;
    blanks();
  }
}

/** An identifier cut to NAMEDATALEN − 1 bytes of UTF-8, on a character boundary, as the server cuts it. */
function truncateIdentifier(name: string): string {
  if (Buffer.byteLength(name, 'utf8') <= 63) return name;
  let out = '';
  let bytes = 0;
  for (const ch of name) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (bytes + n > 63) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/**
 * A SET's list of names as the search_path value the server makes of it (guc.c flatten_set_variable_args quotes
 * each element of a GUC_LIST_QUOTE setting): `SET search_path = "a,b", public` and `SET search_path = 'a,b'` each
 * name one schema `a,b`, which the value keeps apart from a list of `a` and `b`.
 */
export function quotedPathList(names: readonly string[]): string {
  return names.map((n) => (n === '?' ? n : quoteIdent(n))).join(', ');
}

/** An identifier double-quoted for SQL (or a list setting), `"` written `""`: read back as exactly `name`. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Whether a search_path value names `"$user"`, whose schema follows current_user (SET ROLE). */
export function pathNamesUser(value: string | undefined): boolean {
  return value !== undefined && pathNames(value).includes('$user');
}

/**
 * The role current_user may be after a SET ROLE / SET SESSION AUTHORIZATION to `role`
 * (StatementInfo.setsRole), or undefined when it is the session user again (`none`) or not known (`?`,
 * which policy refuses as unclassifiable).
 */
export function roleSet(role: string | undefined): string | undefined {
  return role === undefined || role === '?' || role.toLowerCase() === 'none' ? undefined : role;
}

/** `a` with the schemas of `b` it lacks appended. */
export function unionPath(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])];
}

/**
 * A list of names without repeats, grown in place: `new PathList(a).add(b).add(c).items` is
 * `unionPath(unionPath(a, b), c)`, each add costing the length of what it adds only.
 */
export class PathList {
  readonly items: string[];
  private readonly seen: Set<string>;

  constructor(names: readonly string[]) {
    this.seen = new Set(names);
    this.items = [...this.seen];
  }

  has(name: string): boolean {
    return this.seen.has(name);
  }

  /** Appends the names of `names` not in the list yet; returns the list's names (the same array each time). */
  add(names: readonly string[]): string[] {
    for (const n of names) if (!this.seen.has(n)) { this.seen.add(n); this.items.push(n); }
    return this.items;
  }
}

/**
 * The schemas of `unresolved` (named by a search_path the session may have, skipped by the server so far:
 * missing, or not usable) that a statement's StatementInfo.pathChange may make resolve: all for `*`,
 * else those it names.
 */
export function pathGains(change: readonly string[], unresolved: readonly string[]): string[] {
  return change.includes('*') ? [...unresolved] : unresolved.filter((s) => change.includes(s));
}

/** The first element of a PolicySession.approvalPath that is not known for certain (no schema name holds a NUL). */
export const UNCERTAIN_PATH = '\u0000uncertain';
