/**
 * PolicyEngine: the policy section bound to the connections, with a decision cache per (connection,
 * role set, search_path, SQL text with its constants replaced: literal-key.ts) so a repeated statement,
 * or one that differs only in its constants, costs a map lookup. PolicySession: one proxied
 * session's view (search_path, prepared statements, pcigate.reason, activity times) that the broker
 * keeps next to the proxy and feeds every statement through.
 *
 * Wiring in the broker (E), after `await loadParser()` once at start-up:
 * ```ts
 * const engine = new PolicyEngine(config.policy, config.connections);
 * const ps = engine.openSession(identity, 'prod-db', ctx.clock.now());
 * hooks.onStatement = (stmt) => {
 *   const d = ps.decide(stmt.sql, ctx.clock.now());
 *   if (d.action === 'allow') return { action: 'allow' };
 *   if (d.action === 'deny') return { action: 'deny', rule: d.rule, message: d.reason };
 *   return holdForApproval(…);   // see approval-hold.ts
 * };
 * ```
 */
import type { PolicyConfig } from '../config/sections/policy.js';
import { classify } from './classify.js';
import type { Classification, StatementInfo } from './classify.js';

/** What one statement, or one of its result columns, is made from (mask/column-rules.ts ColumnReach). */
export type ColumnReachOf = { refs: string[]; tables: string[]; rowValues: boolean } | 'unknown';

/** A whole row replaced by its tables' columns (`table.col`) when `columnsOf` knows every one of them. */
function widenRows(refs: string[], tables: string[], rowValues: boolean, columnsOf: ((table: string) => readonly string[] | undefined) | undefined): ColumnReachOf {
  if (!rowValues) return { refs, tables, rowValues };
  const cols = tables.map((t) => columnsOf?.(t));
  if (tables.length === 0 || cols.some((x) => x === undefined)) return { refs, tables, rowValues };
  return { refs: [...refs, ...cols.flatMap((x, i) => x!.map((col) => `${tables[i]}.${col}`))], tables, rowValues: false };
}
import type { AllowedHours } from './time-window.js';
import { checkSessionLimits, connectionPolicy, matchRoles } from './evaluate.js';
import type { ConnectionFacts, Decision, PolicyIdentity, SessionView } from './evaluate.js';
import { literalKey } from './literal-key.js';
import { evaluateWithSecrets } from './secret-grants.js';
import { DEFAULT_SEARCH_PATH, UNCERTAIN_PATH, PathList, pathGains, pathNamesUser, roleSet, searchPathSchemas, unionPath } from './name-match.js';
import type { ServerPath } from './server-path.js';
import { isUtf8Name } from '../pg/protocol/startup-params.js';

/** The parts of a connection's config entry policy reads. */
export type ConnectionsLike = Record<string, { require_mfa?: boolean; approvers?: string[] }>;

const CACHE_MAX = 4096;

/** A cached decision; `exact` set: only for that very text (its key is shared by texts it may differ from). */
export interface Cached {
  readonly d: Decision;
  /** The classification decided on (of this text, or of one that differs from it only in constants). */
  readonly c: Classification;
  /** The statements change the session's state: PolicySession.applied must see them. */
  readonly effects: boolean;
  readonly exact?: string;
}

/** Whether two optional lists hold the same names in the same order. */
function sameNames(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class PolicyEngine {
  readonly policy: PolicyConfig;
  private readonly connections: ConnectionsLike;
  private readonly cache = new Map<string, Map<string, Cached>>();
  private readonly roleKeys = new WeakMap<PolicyIdentity, string>();

  constructor(policy: PolicyConfig, connections: ConnectionsLike = {}) {
    this.policy = policy;
    this.connections = connections;
  }

  facts(connection: string): ConnectionFacts {
    const c = this.connections[connection];
    return { name: connection, require_mfa: c?.require_mfa ?? false, approvers: c?.approvers ?? [] };
  }

  /**
   * The decision for `sql` by `identity` on `connection` in the state `session` (defaults: fresh session).
   * Cached unless it depends on the session's prepared statements (EXECUTE).
   */
  decide(identity: PolicyIdentity, connection: string, sql: string, session: SessionView = { searchPath: DEFAULT_SEARCH_PATH, prepared: new Map() }): Decision {
    return this.lookup(identity, connection, sql, session).d;
  }

  /**
   * decide(), and whether the statements change the session's state (SET, PREPARE, DEALLOCATE, DISCARD).
   * The cache is keyed by the text with its constants replaced (literal-key.ts), so statements that differ
   * only in their constants share one parse and one decision. Only statements whose classification cannot
   * depend on a constant's value share: none that fails to parse, sets a setting (the value is the point),
   * prepares, executes or deallocates, or whose classification read a constant (EXPLAIN's options: ANALYZE
   * 'on' runs the statement, 'off' does not; a function's quoted body: StatementInfo.readsConstants); any
   * other entry is used by its own text only. (The other way
   * round, a text the grammar rejects for a constant's value alone, `FLOAT(0)`, meets the decision of
   * its well-formed twin, `FLOAT(5)`: same tables, columns, functions and classes; the server rejects it.)
   */
  lookup(identity: PolicyIdentity, connection: string, sql: string, session: SessionView): Cached {
    // Two levels, so the hot path hashes the SQL text once and builds no long key strings: the context
    // (connection, role set, MFA, search_path) picks a map, the SQL text's key picks the decision.
    const ctxKey = this.contextKey(identity, connection, session);
    let bySql = this.cache.get(ctxKey);
    // A text without constants (a prepared statement's, with $n) is its own key: found without a scan. An
    // entry under a text is that text's own (no text holds a NUL, so no other text's key is a text).
    const direct = bySql?.get(sql);
    if (direct) return direct;
    const key = literalKey(sql) ?? sql;
    const hit = key === sql ? undefined : bySql?.get(key);
    if (hit && (hit.exact === undefined || hit.exact === sql)) return hit;
    const c: Classification = classify(sql);
    const { d, effects } = this.judge(identity, connection, c, session);
    const exact = effects || c.error !== undefined || c.statements.some((s) => s.readsConstants === true);
    const entry: Cached = exact ? { d, effects, c, exact: sql } : { d, effects, c };
    if (!c.statements.some((s) => s.execute !== undefined || s.executeInto !== undefined || s.fetch !== undefined)) {
      if (!bySql) { bySql = new Map(); this.cache.set(ctxKey, bySql); }
      if (bySql.size >= CACHE_MAX) bySql.delete(bySql.keys().next().value as string);
      bySql.set(key, entry);
    }
    return entry;
  }

  /**
   * lookup() for a text some of whose field names (StatementInfo.fieldCalls, also those of the prepared statement
   * it EXECUTEs or the bound portal it FETCHes) the catalog says are functions: each such name is judged as a
   * call of that function (the `function` class unless functions.allow names it). Not cached: the catalog may
   * answer otherwise next time.
   */
  lookupCalling(identity: PolicyIdentity, connection: string, sql: string, session: SessionView, calls: readonly string[]): Cached {
    const c0 = classify(sql);
    const called = (st: StatementInfo | undefined) => (st?.fieldCalls ?? []).filter((n) => calls.includes(n));
    const c: Classification = {
      ...c0,
      statements: c0.statements.map((st) => {
        const cursor = st.fetch !== undefined ? session.cursors?.get(st.fetch) : undefined;
        const names = [...new Set([...called(st), ...called(st.execute !== undefined ? session.prepared.get(st.execute) : undefined),
          ...called(st.executeInto !== undefined ? session.prepared.get(st.executeInto) : undefined), ...called(cursor?.declare?.bound ? cursor : undefined)])];
        return names.length === 0 ? st : { ...st, functions: [...new Set([...st.functions, ...names])].sort(), userFunctions: [...new Set([...st.userFunctions, ...names])].sort() };
      }),
    };
    return { ...this.judge(identity, connection, c, session), c };
  }

  /** The decision on `c`, and whether its statements change the session's state (PolicySession.applied). */
  private judge(identity: PolicyIdentity, connection: string, c: Classification, session: SessionView): { d: Decision; effects: boolean } {
    const decided = evaluateWithSecrets(this.policy, identity, this.facts(connection), c, session);
    const d: Decision = mayChangeSettingsUnseen(c) ? { ...decided, settles: true } : decided;
    const effects = c.statements.some((s) => s.setting !== undefined || s.prepare !== undefined || s.deallocate !== undefined || s.node === 'DiscardStmt'
      || s.declare !== undefined || s.closeCursor !== undefined || s.tx !== undefined || s.pathChange !== undefined || s.defaultPath !== undefined);
    return { d, effects };
  }

  /**
   * The decision cache's context key (connection, role set, MFA, search_path, …), kept per session object with
   * what it was made from: a session's next statement mostly finds it unchanged, and comparing short lists of
   * names costs less than joining them into a new key and hashing that (building the key was ~40% of a cached
   * decision's CPU). Lists are compared by their names, not by reference: a session replaces its arrays freely.
   */
  private contextKey(identity: PolicyIdentity, connection: string, session: SessionView): string {
    const mfa = Boolean(identity.mfa); // as evaluate reads it (truthy), whatever a caller put there
    const pathNamesUser = Boolean(session.pathNamesUser);
    const m = this.contexts.get(session);
    if (m && m.identity === identity && m.connection === connection && m.mfa === mfa && m.pathNamesUser === pathNamesUser
      && m.dbUser === session.dbUser && sameNames(m.searchPath, session.searchPath) && sameNames(m.resolveIn, session.resolveIn)
      && sameNames(m.unresolvedPath, session.unresolvedPath) && sameNames(m.users, session.users)) return m.key;
    // Lists as JSON: a name may hold a comma (`"a,b"` is one schema), and must not read as two.
    const list = (names: readonly string[] | undefined) => (names === undefined ? '' : JSON.stringify(names));
    const key = `${connection}\u0000${this.roleKey(identity)}\u0000${mfa ? 1 : 0}\u0000${list(session.searchPath)}\u0000${list(session.resolveIn)}\u0000${list(session.unresolvedPath)}\u0000${JSON.stringify(session.dbUser ?? null)}\u0000${list(session.users)}\u0000${pathNamesUser ? 1 : 0}`;
    this.contexts.set(session, {
      identity, connection, mfa, pathNamesUser, dbUser: session.dbUser, key,
      // Copies: the session may change its arrays in place.
      searchPath: [...session.searchPath], resolveIn: session.resolveIn && [...session.resolveIn],
      unresolvedPath: session.unresolvedPath && [...session.unresolvedPath], users: session.users && [...session.users],
    });
    return key;
  }

  private readonly contexts = new WeakMap<SessionView, {
    identity: PolicyIdentity; connection: string; mfa: boolean; pathNamesUser: boolean; dbUser: string | undefined; key: string;
    searchPath: readonly string[]; resolveIn: readonly string[] | undefined; unresolvedPath: readonly string[] | undefined; users: readonly string[] | undefined;
  }>();

  /** The identity's role set as a cache key, memoised per identity object (a session keeps one). */
  private roleKey(identity: PolicyIdentity): string {
    let k = this.roleKeys.get(identity);
    if (k === undefined) {
      k = JSON.stringify(matchRoles(this.policy, identity)); // JSON: a role's name may hold a comma
      this.roleKeys.set(identity, k);
    }
    return k;
  }

  /** Approval settings for a connection: who may approve, how many, expiry, window, wait. */
  approvalSettings(connection: string): ApprovalSettings {
    const found = connectionPolicy(this.policy, connection);
    const a = found?.cp.approvals;
    return {
      groups: [...new Set([...(this.connections[connection]?.approvers ?? []), ...(a?.groups ?? [])])],
      subjects: a?.subjects ?? [],
      minApprovals: a?.min_approvals ?? 1,
      expiresMs: a?.expires ?? 3_600_000,
      windowMs: a?.window ?? 0,
      waitMs: a?.wait ?? 300_000,
    };
  }

  /** Session limits in ms, for the broker's timers (idle timeout per PCI DSS 8.2.8). */
  sessionLimits(connection: string): { maxDurationMs: number; idleTimeoutMs: number; requireApproval: boolean; allowedHours?: AllowedHours } {
    const s = connectionPolicy(this.policy, connection)?.cp.session;
    return {
      maxDurationMs: s?.max_duration ?? 8 * 3_600_000, idleTimeoutMs: s?.idle_timeout ?? 15 * 60_000, requireApproval: s?.require_approval ?? false,
      ...(s?.allowed_hours ? { allowedHours: s.allowed_hours } : {}),
    };
  }

  /** The unmask (mask format) grants of the identity's roles on a connection, for the masking area. */
  unmaskGrants(identity: PolicyIdentity, connection: string): string[] {
    const cp = connectionPolicy(this.policy, connection)?.cp;
    if (!cp) return [];
    return matchRoles(this.policy, identity).map((r) => cp.roles[r]?.unmask).filter((u): u is string => u !== undefined && u !== 'none');
  }

  /**
   * `searchPath`: the session's search_path from its startup parameters, when the client sent one; else
   * `serverPath`, the server's own (which must be known before the session's first decide).
   */
  openSession(identity: PolicyIdentity, connection: string, now: number, opts: SessionOpts = {}): PolicySession {
    return new PolicySession(this, identity, connection, now, opts);
  }
}

const NON_ASCII = /[^\u0000-\u007f]/;

const isSqlAscii = (encoding: string) => /^sql_ascii$/i.test(encoding.trim());

/**
 * Statements that run no code of the database's: no trigger, DEFAULT, view, operator or cast of a user's.
 * SET, RESET and SET ROLE change settings themselves, in the open (policy tracks them).
 */
const NO_CODE_NODES = new Set(['VariableSetStmt', 'VariableShowStmt', 'DeallocateStmt', 'DiscardStmt', 'ListenStmt', 'UnlistenStmt', 'ClosePortalStmt']);

/**
 * Whether `c` may run code that changes the session's settings without a statement policy sees
 * (standard_conforming_strings, client_encoding, search_path): the proxy then decides no later statement
 * whose text could read otherwise until the server has answered this one (Statement.settlesFirst). Not only
 * a DO block, CALL or a call of a function that is not a known-safe built-in: an INSERT fires triggers and
 * fills DEFAULTs, a SELECT reads views and calls user operators and casts, COMMIT fires deferred triggers,
 * none of which the text shows. So every statement but those of NO_CODE_NODES and the transaction
 * statements that fire nothing (StatementInfo.runsNoCode); an empty text runs nothing.
 */
function mayChangeSettingsUnseen(c: Classification): boolean {
  if (c.error !== undefined) return true;
  return c.statements.some((st) => !NO_CODE_NODES.has(st.node) && st.runsNoCode !== true);
}

export interface SessionOpts { dbUser?: string; reason?: string; searchPath?: string; serverPath?: ServerPath }

export interface ApprovalSettings {
  groups: string[];
  subjects: string[];
  minApprovals: number;
  expiresMs: number;
  windowMs: number;
  waitMs: number;
}

/** A cursor a session knows: its statement, with how it was declared (or bound). */
type SessionCursor = StatementInfo & { declare: NonNullable<StatementInfo['declare']> };

/**
 * A change to one of a session's maps that an undo log (`log`, while one is kept: PolicySession.undo) can take
 * back: the log notes what `name` held before its first change (undefined: absent); later changes keep that.
 */
function changeNoted<V>(log: Map<string, V | undefined> | undefined, map: Map<string, V>, name: string, value?: V): void {
  if (log && !log.has(name)) log.set(name, map.get(name));
  if (value === undefined) map.delete(name);
  else map.set(name, value);
}

/** changeNoted for every entry: the map emptied. */
function clearNoted<V>(log: Map<string, V | undefined> | undefined, map: Map<string, V>): void {
  for (const name of [...map.keys()]) changeNoted(log, map, name);
}

/** One session's policy state. Call decide() for every statement, in order. */
export class PolicySession {
  /** The search_path the last SET gave (what the session has when every SET took effect). */
  searchPath: string[] = [...DEFAULT_SEARCH_PATH];
  /** The schemas of every search_path the session may have: policy resolves unqualified names in all of them. */
  resolveIn: string[] = [...DEFAULT_SEARCH_PATH];
  /** See SessionView.users: the upstream user, and every role a SET ROLE / SESSION AUTHORIZATION policy allowed named. */
  users: string[] = [];
  /** See SessionView.pathNamesUser. */
  pathNamesUser = false;
  readonly prepared = new Map<string, StatementInfo>();
  /** Cursors declared by statements policy allowed, as long as the server keeps them (see {@link applied}). */
  readonly cursors = new Map<string, StatementInfo & { declare: NonNullable<StatementInfo['declare']> }>();
  /** Whether the server is in a transaction block, as far as the statements policy saw (and txStatus) tell. */
  private inBlock = false;
  /** The reason given with `connect --reason` or `SET pcigate.reason = '…'`; recorded with approvals. */
  reason?: string;
  readonly startedAt: number;
  lastActivity: number;

  constructor(
    readonly engine: PolicyEngine,
    readonly identity: PolicyIdentity,
    readonly connection: string,
    now: number,
    private readonly opts: SessionOpts = {},
  ) {
    this.startedAt = now;
    this.lastActivity = now;
    if (opts.reason) this.reason = opts.reason;
    if (opts.dbUser !== undefined) this.users = [opts.dbUser];
    if (opts.searchPath !== undefined) {
      this.pathNamesUser = pathNamesUser(opts.searchPath);
      // As a SET at the start: the server took it from the startup packet.
      this.searchPath = searchPathSchemas(opts.searchPath, opts.dbUser);
      this.resolveIn = unionPath(this.resolveIn, this.searchPath);
      this.pathSet = true;
      this.pathCertain = true;
    } else {
      this.syncServerPath();
    }
  }

  /** client_encoding as the server reported it (ParameterStatus): at the session's start, and since. */
  private encodingReported = 'UTF8';
  private encodingAtStart: string | undefined;
  /**
   * A statement policy allowed may have set a client_encoding other than UTF-8, or a transaction's end may
   * have brought one back, and the server may not have answered it yet. Only a decision made once the server
   * has answered everything sent before it (decide's `txStatus` known) forgets it: a report does not, since
   * it may answer an earlier statement than the one that set this (pipelined), and no report comes when the
   * value ends as it was (`BEGIN; SET LOCAL client_encoding …; COMMIT` in one string).
   */
  private encodingPending: string | undefined;
  /** The last encoding other than UTF-8 the session had or set: a transaction's end may bring it back. */
  private encodingOther: string | undefined;
  /** server_encoding as the server reported it at the start: SQL_ASCII's bytes are read in it. */
  private serverEncoding = 'UTF8';

  /**
   * Whether text in client_encoding `encoding` reaches the server as policy reads it (UTF-8). SQL_ASCII turns
   * conversion off: the server reads the bytes in its own encoding, which is UTF-8 only on a UTF8 (or
   * SQL_ASCII) server; in a LATIN1 database `n\xfamero` sent as SQL_ASCII is número to the server.
   */
  private utf8Like(encoding: string): boolean {
    return isUtf8Name(encoding) || (isSqlAscii(encoding) && (isUtf8Name(this.serverEncoding) || isSqlAscii(this.serverEncoding)));
  }

  /**
   * A setting the server reported (ParameterStatus, GUC_REPORT): at the start, after a SET, or after code
   * policy does not read set it (the proxy decides no text with a non-ASCII byte behind such code until its
   * ReadyForQuery, before which this comes).
   */
  reported(name: string, value: string): void {
    if (name === 'server_encoding') this.serverEncoding = value;
    if (name !== 'client_encoding') return;
    this.encodingAtStart ??= value;
    this.encodingReported = value;
    // SQL_ASCII kept too: whether it reads as UTF-8 depends on server_encoding, which may be reported after.
    if (!isUtf8Name(value)) this.encodingOther = value;
  }

  /**
   * The client_encoding, other than UTF-8, the server may read the next text in: policy reads text as UTF-8,
   * so there a byte of 0x80 or more is another character (LATIN1's `n\xfamero` is número to the server and
   * n\uFFFDmero to policy, and `columns.deny: [número]` did not match). ASCII reads the same in every encoding
   * a session may have (the splitting ones are refused: classify.ts misreadingSetting). SQL_ASCII passes the
   * bytes as they are, which the server then reads in its own encoding ({@link utf8Like}).
   */
  private misreadingEncoding(): string | undefined {
    return this.encodingPending ?? (this.utf8Like(this.encodingReported) ? undefined : this.encodingReported);
  }

  /**
   * Whether the server may read `sql` otherwise than policy if it read it now (a Parse being forwarded, which
   * the server converts from client_encoding when it reads it, whatever the encoding is at its Execute).
   */
  readsOtherwise(sql: string): boolean {
    return this.misreadingEncoding() !== undefined && NON_ASCII.test(sql);
  }

  /** SET client_encoding, or a RESET that goes back to the start's (RESET ALL, DISCARD ALL too). */
  private encodingSet(value: string | undefined): void {
    const next = value ?? this.encodingAtStart ?? 'UTF8';
    // Until the server reports otherwise (a SET that does not take effect leaves this: fail closed).
    if (!this.utf8Like(next)) this.encodingPending = this.encodingOther = next;
  }

  /** Whether the session's path is its own (startup parameter, a SET) rather than the server's. */
  private pathSet = false;
  /**
   * Whether `searchPath` is surely the server's: the client's startup parameter, or a SET of it alone in its string,
   * outside a transaction block, not LOCAL, since. Not after a SET LOCAL, a SET in a block (a rollback undoes it), a
   * SET with other statements in its string (one failing after it), a RESET or DISCARD, a role change while the path
   * names "$user", nor for the server's own path (its order is not known: ServerPath). What an approval binds
   * (approvalPath).
   */
  private pathCertain = false;
  private serverVersion = -1;

  /**
   * The server's path as it is now (ServerPath: only grows) joins the schemas names may resolve in, also
   * after a SET (RESET, a SET LOCAL or a rolled-back SET leave or bring back the server's path).
   */
  private syncServerPath(): void {
    const sp = this.opts.serverPath;
    if (!sp || sp.version === this.serverVersion) return;
    this.serverVersion = sp.version;
    if (!this.pathSet) this.searchPath = sp.present.length > 0 ? [...sp.present] : [...DEFAULT_SEARCH_PATH];
    this.resolveIn = unionPath(this.resolveIn, sp.present);
    if (sp.namesUser && !this.pathNamesUser) this.namesUser();
  }

  /**
   * A path the session may have names `"$user"`: the schema of every role set so far may resolve (the
   * upstream user's is the server path's to say: ServerPath, or the SET that named it).
   */
  private namesUser(): void {
    this.pathNamesUser = true;
    this.resolveIn = unionPath(this.resolveIn, this.users.filter((u) => u !== this.dbUser));
  }

  /** See SessionView.unresolvedPath: the schemas the server's path names but skips so far. */
  get unresolvedPath(): readonly string[] | undefined {
    return this.opts.serverPath?.absent;
  }

  /**
   * Decides `sql` now: session limits first (max duration, idle timeout, allowed hours), then the
   * statement rules. An allowed statement updates the session state (search_path, prepared statements,
   * reason) as it will on the server; a held one does so through {@link applied} once it runs. `txStatus`:
   * the server's transaction status when it has answered everything sent before `sql` (Statement.txStatus),
   * else undefined (pipelined). `calls`: names of {@link fieldCalls} that are functions, judged as calls of them.
   */
  decide(sql: string, now: number, txStatus?: 'I' | 'T' | 'E', calls?: readonly string[]): Decision {
    this.undo = undefined;
    const limit = checkSessionLimits(this.engine.policy, this.connection, this, now);
    if (limit) return { ...limit, statements: [], roles: matchRoles(this.engine.policy, this.identity) };
    this.lastActivity = now;
    if (txStatus !== undefined) {
      this.transactionStatus(txStatus);
      // The server has answered everything before this statement, with a ParameterStatus before its
      // ReadyForQuery for any change of client_encoding (GUC_REPORT): the last report is what it has now.
      this.encodingPending = undefined;
    }
    const encoding = this.misreadingEncoding();
    if (encoding !== undefined && NON_ASCII.test(sql)) {
      return {
        action: 'deny', rule: 'client_encoding', statements: [], roles: matchRoles(this.engine.policy, this.identity),
        reason: `the session's client_encoding is ${encoding}, but pcigate reads SQL text as UTF-8: a text with characters other than ASCII could name a table or column policy did not judge; use client_encoding UTF8`,
      };
    }
    this.syncServerPath();
    const { d, effects, c } = calls !== undefined && calls.length > 0 ? this.engine.lookupCalling(this.identity, this.connection, sql, this, calls)
      : this.engine.lookup(this.identity, this.connection, sql, this);
    // Kept for columnReach: a text that differs only in constants shares the parse (literal-key.ts), and
    // reading `sql` again would parse every distinct text a second time (pgbench's simple protocol).
    if (this.recent.size >= 64) this.recent.delete(this.recent.keys().next().value as string);
    this.recent.set(sql, c);
    if (d.action === 'allow' && effects) this.applied(sql);
    return d;
  }

  /**
   * The cursors, prepared statements and transaction block as they were before the last statement decided was
   * applied (see refusedAfterAllow); cleared by the next decision. Of the maps, the entries changed since, each
   * as it was (undefined: absent), not copies of them: a copy per statement made n PREPAREs cost n² (8000 took
   * 7.8 s). Every change to them while it is kept goes through changeNoted, so a restore gives back exactly
   * what the maps held, as the copies did.
   */
  private undo: { cursors: Map<string, SessionCursor | undefined>; prepared: Map<string, StatementInfo | undefined>; inBlock: boolean } | undefined;

  /**
   * The statement decided last, which policy allowed and applied, was refused after all (by the broker: a COPY it
   * could not plan, masking.stored_values, a record the audit log could not take): the server never ran it, so
   * the names it made are not the server's. Taken as they stood, a refused `PREPARE p AS select 1` made policy read
   * the server's earlier p (`select cvv || ''`) as `select 1`, and its CVV came back unmasked. Its search_path
   * and settings stay taken: policy already judges names in every path the session may have (resolveIn).
   */
  refusedAfterAllow(): void {
    const u = this.undo;
    if (!u) return;
    this.undo = undefined;
    for (const [k, v] of u.cursors) if (v === undefined) this.cursors.delete(k); else this.cursors.set(k, v);
    for (const [k, v] of u.prepared) if (v === undefined) this.prepared.delete(k); else this.prepared.set(k, v);
    this.inBlock = u.inBlock;
  }

  /**
   * The names `sql` (decided last: no second parse) may call as functions written as fields (StatementInfo.fieldCalls),
   * with those of the prepared statement it EXECUTEs and of the portal a protocol Bind made that it FETCHes (decided
   * as that statement). The caller asks the catalog which are functions and decides again with them (decide's `calls`).
   */
  fieldCalls(sql: string): string[] {
    const c = this.classified(sql);
    const out = new Set<string>();
    const add = (st: StatementInfo | undefined) => { for (const n of st?.fieldCalls ?? []) out.add(n); };
    for (const st of c.statements) {
      add(st);
      if (st.execute !== undefined) add(this.prepared.get(st.execute));
      if (st.executeInto !== undefined) add(this.prepared.get(st.executeInto));
      const cursor = st.fetch !== undefined ? this.cursors.get(st.fetch) : undefined;
      if (cursor?.declare.bound) add(cursor);
    }
    return [...out].sort();
  }

  /** The classifications of the statements decided last, by text (see decide). */
  private readonly recent = new Map<string, Classification>();

  /** `sql` classified: from the statements decided last when it is one of them (no parse), else parsed. */
  private classified(sql: string): Classification {
    return this.recent.get(sql) ?? classify(sql);
  }

  /**
   * A named portal the client bound (protocol Bind) or closed (Close P), as the proxy tells it
   * (SessionHooks.onPortal): SQL FETCH/MOVE read it by name as they read a cursor, so a FETCH of it is
   * decided as the statement bound into it. `sql` null: the name holds nothing policy can classify (closed,
   * or a text not known yet), and a FETCH of it is refused. Such a portal, like a cursor without HOLD, ends
   * with its transaction.
   */
  portal(name: string, sql: string | null): void {
    const bound = sql === null ? [] : classify(sql).statements;
    if (bound.length !== 1) { changeNoted(this.undo?.cursors, this.cursors, name); return; }
    changeNoted(this.undo?.cursors, this.cursors, name, { ...bound[0]!, declare: { name, hold: false, bound: true } });
  }

  /**
   * The server's transaction status as the proxy knows it before a statement (ReadyForQuery): idle means
   * no transaction block, so the cursors of any earlier one are gone.
   */
  transactionStatus(status: 'I' | 'T' | 'E'): void {
    this.inBlock = status !== 'I';
    if (!this.inBlock) this.dropCursors(false);
  }

  /** Forgets the cursors a transaction's end closes: all but WITH HOLD ones, or all of them (a rollback). */
  private dropCursors(holdToo: boolean): void {
    for (const [name, c] of this.cursors) if (holdToo || !c.declare.hold) changeNoted(this.undo?.cursors, this.cursors, name);
  }

  /** StatementInfo.loread of `sql` when it is that one statement (decided last: no second parse). */
  loread(sql: string): StatementInfo['loread'] {
    const c = this.classified(sql);
    return c.statements.length === 1 ? c.statements[0]!.loread : undefined;
  }

  /**
   * What the statements of `sql` name, for masking the columns its rows compute (ColumnRules.forDerived): column
   * references as written, tables, and whether a whole row is used as a value — for the whole text (`all`) and,
   * when it is one statement that returns rows, per result column (`outputs`, see ast-walk.ts outputReach). A
   * FETCH names what its cursor's query names, an EXECUTE what its prepared statement's does (as this session
   * knows them now). `unknown` when the text does not parse or names a cursor or prepared statement this session
   * does not know. A whole row is replaced by its tables' columns when `columnsOf` knows every one of them.
   */
  columnReach(sql: string, columnsOf?: (table: string) => readonly string[] | undefined): { all: ColumnReachOf; outputs?: ColumnReachOf[] } {
    const c = this.classified(sql);
    if (c.error) return { all: 'unknown' };
    // A cursor or prepared statement the same text makes before it is used is the text's own (outside a
    // transaction block the session forgets such a cursor once the text has run: asked later, it is gone).
    // Those the text makes itself, looked up first (no copy of the session's maps for every statement).
    const ownCursors = new Map<string, StatementInfo & { declare: NonNullable<StatementInfo['declare']> }>();
    const ownPrepared = new Map<string, StatementInfo>();
    const cursor = (name: string) => ownCursors.get(name) ?? this.cursors.get(name);
    const preparedAs = (name: string) => ownPrepared.get(name) ?? this.prepared.get(name);
    // A WITH HOLD cursor's rows were made when its transaction committed: a table's columns looked up now may
    // not be the ones its whole rows carry (a column dropped since), so those are masked in full.
    let held = false;
    const infos: StatementInfo[] = [];
    const resolve = (st: StatementInfo): boolean => {
      infos.push(st);
      for (const name of [st.execute, st.executeInto]) {
        if (name === undefined) continue;
        const p = preparedAs(name);
        if (!p || !resolve(p)) return false;
      }
      if (st.fetch !== undefined) {
        const cur = cursor(st.fetch);
        if (!cur || !resolve(cur)) return false;
        if (cur.declare.hold) held = true;
      }
      return true;
    };
    const rowsOf = (st: StatementInfo): StatementInfo | undefined => (st.fetch !== undefined ? cursor(st.fetch)
      : st.execute !== undefined ? preparedAs(st.execute) : st.node === 'DeclareCursorStmt' || st.node === 'PrepareStmt' ? undefined : st);
    const withRows: StatementInfo[] = [];
    for (const st of c.statements) {
      if (st.declare && !st.declare.bound) ownCursors.set(st.declare.name, { ...st, declare: st.declare });
      if (st.prepare) ownPrepared.set(st.prepare.name, st.prepare.statement);
      if (!resolve(st)) return { all: 'unknown' };
      const rows = rowsOf(st);
      if (rows?.outputs !== undefined) withRows.push(rows);
    }
    const tablesOf = (st: StatementInfo) => [...st.reads, ...st.writes];
    const widen = (refs: string[], tables: string[], rowValues: boolean) => widenRows(refs, tables, rowValues, held ? undefined : columnsOf);
    const all = widen([...new Set(infos.flatMap((st) => st.columns))], [...new Set(infos.flatMap(tablesOf))], infos.some((st) => st.rowValues === true));
    // Per column only when the rows come from one statement: the one with result columns, or the cursor a FETCH
    // reads or the prepared statement an EXECUTE runs (a DECLARE or PREPARE itself returns none).
    if (withRows.length !== 1) return { all };
    const only = withRows[0]!;
    return { all, outputs: only.outputs!.map((o) => widen(o.refs, tablesOf(only), o.rowValues)) };
  }

  /**
   * The values the statements of `sql` store in a table or view (StatementInfo.stores: INSERT, UPDATE, MERGE,
   * CREATE TABLE AS, SELECT INTO, a view), each with what it is made from, a whole row widened to its tables'
   * columns as columnReach does. An EXECUTE stores what its prepared statement does; CREATE TABLE AS EXECUTE the
   * rows of the one it runs. Empty for most statements; `unknown` when the text does not parse, or runs a prepared
   * statement this session does not know.
   */
  storedReach(sql: string, columnsOf?: (table: string) => readonly string[] | undefined): Array<{ target?: { table: string; column: string }; relocated?: true; reach: ColumnReachOf }> | 'unknown' {
    const c = this.classified(sql);
    if (c.error) return 'unknown';
    if (!c.statements.some((st) => st.stores || st.execute !== undefined || st.executeInto !== undefined)) return [];
    const ownPrepared = new Map<string, StatementInfo>();
    const out: Array<{ target?: { table: string; column: string }; relocated?: true; reach: ColumnReachOf }> = [];
    for (const st of c.statements) {
      if (st.prepare) ownPrepared.set(st.prepare.name, st.prepare.statement);
      const runs = (name: string | undefined) => (name === undefined ? undefined : ownPrepared.get(name) ?? this.prepared.get(name));
      if ((st.execute !== undefined && !runs(st.execute)) || (st.executeInto !== undefined && !runs(st.executeInto))) return 'unknown';
      const stores = [...(st.stores ?? []), ...(runs(st.execute)?.stores ?? [])];
      const into = runs(st.executeInto);
      if (into) {
        const tables = [...into.reads, ...into.writes];
        const rows = into.outputs ?? [{ refs: into.columns, rowValues: true }];
        stores.push(...rows.map((o) => ({ refs: o.refs, tables, rowValues: o.rowValues })), ...(into.stores ?? []));
      }
      for (const v of stores) out.push({ ...(v.target ? { target: v.target } : {}), ...(v.relocated ? { relocated: true as const } : {}), reach: widenRows(v.refs, v.tables, v.rowValues, columnsOf) });
    }
    return out;
  }

  /**
   * Whether the rows `sql` returns may hold any column of what it reads, whatever its output columns are named: it
   * gives a whole row as a value (`u`, `u::text`, `row_to_json(u)`), runs a cursor's or a prepared statement's query
   * (FETCH, EXECUTE), or does not parse. For the transcript's sample (pg-session-recorder.ts).
   */
  rowsMayHoldAnyColumn(sql: string): boolean {
    const c = this.classified(sql);
    return c.error !== undefined || c.statements.some((st) => st.rowValues === true || st.fetch !== undefined || st.execute !== undefined || st.executeInto !== undefined);
  }

  /**
   * The tables whose columns columnReach and storedReach need to read a whole row `sql` uses as a value
   * (`row_to_json(c)`, `INSERT … SELECT *`): none for most statements (a cheap test first: the text's
   * classification is cached).
   */
  wholeRowTables(sql: string): string[] {
    const c = this.classified(sql);
    const runs = (st: StatementInfo) => st.fetch !== undefined || st.execute !== undefined || st.executeInto !== undefined;
    const tables = new Set<string>();
    if (c.statements.some((st) => st.rowValues || runs(st))) {
      const r = this.columnReach(sql);
      for (const x of [r.all, ...(r.outputs ?? [])]) if (x !== 'unknown' && x.rowValues) for (const t of x.tables) tables.add(t);
    }
    if (c.statements.some((st) => st.stores?.some((v) => v.rowValues) || runs(st))) {
      const r = this.storedReach(sql);
      if (r !== 'unknown') for (const { reach } of r) if (reach !== 'unknown' && reach.rowValues) for (const t of reach.tables) tables.add(t);
    }
    return [...tables];
  }

  /**
   * Records the session-state effects of `sql`, which has been (or is about to be) run.
   *
   * Cursors are remembered only while the server surely keeps them, since a FETCH of a name policy does
   * not know is refused, but a FETCH of a name it remembers wrongly would read whatever portal the server
   * has under it (a protocol Bind can make one): a cursor without HOLD lives until its transaction block
   * ends (any COMMIT, ROLLBACK or ROLLBACK TO forgets cursors, a rollback those WITH HOLD too, which it
   * may undo), or to the end of its query string outside one. A declaration that fails on the server
   * fails its transaction block, which only a rollback, which forgets it, leaves.
   */
  applied(sql: string): void {
    this.undo = { cursors: new Map(), prepared: new Map(), inBlock: this.inBlock };
    // resolveIn and users: copied once when first changed, then grown in place (a copy for every SET in the
    // string made n of them cost n²). A fresh array: one handed out before this call does not change.
    let resolveIn: PathList | undefined;
    const resolveGains = (names: readonly string[]) => { this.resolveIn = (resolveIn ??= new PathList(this.resolveIn)).add(names); };
    let users: { list: string[]; seen: Set<string> } | undefined;
    const statements = classify(sql).statements;
    for (const st of statements) {
      const alone = statements.length === 1 && !this.inBlock;
      if (st.tx?.end) {
        this.dropCursors(st.tx.end !== 'commit');
        if (st.tx.end !== 'rollback_to') this.inBlock = false;
      }
      if (st.tx?.begin) this.inBlock = true;
      if (st.declare) changeNoted(this.undo?.cursors, this.cursors, st.declare.name, { ...st, declare: st.declare });
      if (st.closeCursor === '*' || st.node === 'DiscardStmt') clearNoted(this.undo?.cursors, this.cursors);
      // DISCARD ALL is RESET ALL too (the path only: resolveIn still holds the default).
      if (st.node === 'DiscardStmt' && /^DISCARD\s+ALL/i.test(st.text)) { this.searchPath = [...DEFAULT_SEARCH_PATH]; this.pathCertain = false; }
      else if (st.closeCursor !== undefined) changeNoted(this.undo?.cursors, this.cursors, st.closeCursor);
      if (st.prepare) changeNoted(this.undo?.prepared, this.prepared, st.prepare.name, st.prepare.statement);
      if (st.deallocate === '*' || (st.node === 'DiscardStmt')) clearNoted(this.undo?.prepared, this.prepared);
      else if (st.deallocate !== undefined) changeNoted(this.undo?.prepared, this.prepared, st.deallocate);
      if (st.pathChange) {
        // Before it runs, for every session of the listener (see ServerPath).
        const gained = pathGains(st.pathChange, this.unresolvedPath ?? []);
        resolveGains(gained);
        this.opts.serverPath?.mayResolve(gained);
      }
      if (st.defaultPath !== undefined) this.opts.serverPath?.defaultChanged(st.defaultPath);
      // SET ROLE / SESSION AUTHORIZATION: "$user" may name the role from now on (also after a rollback or a
      // RESET ROLE, which policy does not follow: it keeps every role the session may be).
      const role = roleSet(st.setsRole);
      if (role !== undefined && this.pathNamesUser) this.pathCertain = false;
      if (role !== undefined && !(users ??= { list: [...this.users], seen: new Set(this.users) }).seen.has(role)) {
        users.seen.add(role);
        users.list.push(role);
        this.users = users.list;
        if (this.pathNamesUser) resolveGains([role]);
      }
      if (st.node === 'DiscardStmt' && /^DISCARD\s+ALL/i.test(st.text)) this.encodingSet(undefined);
      // COMMIT, ROLLBACK or ROLLBACK TO undoes a SET LOCAL (a rollback any SET) of client_encoding, which the
      // server reports only at its ReadyForQuery, and ROLLBACK runs no code, so a text behind it is not held.
      if (st.tx?.end && this.encodingOther !== undefined && !this.utf8Like(this.encodingOther)) this.encodingPending = this.encodingOther;
      const s = st.setting;
      if (!s) continue;
      if (s.name === undefined || s.name === 'client_encoding') this.encodingSet(s.value);
      if (s.name === undefined || s.name === 'search_path') {
        // RESET ALL too. Whether the SET takes effect, and for how long, is the server's to say (SET LOCAL,
        // a rollback, an error later in its string): the paths before it stay possible.
        this.searchPath = s.name === undefined ? [...DEFAULT_SEARCH_PATH] : searchPathSchemas(s.value, this.users);
        resolveGains(this.searchPath);
        // namesUser gives resolveIn a new array: the list starts from it again.
        if (pathNamesUser(s.value) && !this.pathNamesUser) { this.namesUser(); resolveIn = undefined; }
        this.pathSet = true;
        this.pathCertain = alone && !s.local && s.name !== undefined && s.value !== undefined && !pathNamesUser(s.value);
        continue;
      }
      if (s.name === 'pcigate.reason' && s.value) this.reason = s.value;
    }
    // Outside a transaction block the string was its own (implicit) one: its cursors without HOLD are gone.
    if (!this.inBlock) this.dropCursors(false);
  }

  /**
   * What an approval of a statement in this session binds of its search_path (approvals.ts statementHmac): the path
   * when it is surely the server's (pathCertain), else the marker UNCERTAIN_PATH and every schema names may
   * resolve in, sorted. A session where the path may differ binds differently from one where it is known.
   */
  get approvalPath(): string[] {
    return this.pathCertain ? [...this.searchPath] : [UNCERTAIN_PATH, ...unionPath(this.resolveIn, this.searchPath).sort()];
  }

  /** The upstream database user (`$user` in search_path). */
  get dbUser(): string | undefined {
    return this.opts.dbUser;
  }
}
