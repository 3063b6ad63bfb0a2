/**
 * Policy as the proxy's `onStatement` hook (src/pg/proxy/hooks.ts): allow, deny with a message naming the
 * rule (the proxy answers ErrorResponse 42501 and ReadyForQuery, or in the extended protocol discards until
 * Sync), or hold — file an approval request, tell the client with a NoticeResponse how to approve it, wait
 * for the decision, then run the exact statement (once) or fail it with a clear message. A statement
 * refused inside a transaction that has already failed gets what the server would have answered there,
 * 25P02, still as a denial naming its rule (see {@link inFailedTransaction}); one that policy would hold
 * there is refused the same way at once, without an approval request (see {@link HOLD_SKIPPED_FAILED_TX}).
 *
 * Wiring (broker, E), with the parser loaded once at start-up:
 * ```ts
 * await loadParser();
 * const engine = new PolicyEngine(config.policy, config.connections);
 * const store = new ApprovalStore({ fs, clock, home, sink, drainOutbox: true });
 * startPgBroker({ …, hooksFor: policyHooksFor({ engine, store, connection: 'prod-db', clock, dbUser }) });
 * ```
 */
import type { Actor } from '../../recorder/types.js';
import type { Clock } from '../cli/ctx.js';
import { formatDuration } from '../config/duration.js';
import { ApprovalTimeout, PolicyDenied } from '../errors.js';
import { startupSetting } from '../pg/protocol/startup-params.js';
import type { SessionHooks, Statement, StatementDecision } from '../pg/proxy/hooks.js';
import type { ApprovalStore } from './approvals.js';
import { parseStatements } from './pg-parser.js';
import type { Decision, PolicyIdentity } from './evaluate.js';
import type { PolicyEngine, PolicySession } from './policy-engine.js';
import type { ServerPath } from './server-path.js';

/** RFC 8176 `amr` values that are a second factor (or say MFA happened). */
const MFA_AMR = new Set(['mfa', 'otp', 'hwk', 'swk', 'sc', 'fpt', 'face', 'iris', 'retina', 'vbm', 'sms', 'tel']);

/** An Actor (as the broker has it) seen by policy. Identity objects from src/identity carry `mfa` already. */
export function identityOfActor(actor: Actor & { mfa?: boolean }): PolicyIdentity {
  return {
    sub: actor.sub,
    ...(actor.email ? { email: actor.email } : {}),
    groups: actor.groups ?? [],
    mfa: actor.mfa ?? (actor.amr ?? []).some((a) => MFA_AMR.has(a)),
    via: actor.via,
  };
}

export interface PolicyHooksOptions {
  engine: PolicyEngine;
  connection: string;
  clock: Clock;
  /** Without a store, statements policy would hold are denied (nobody could approve them). */
  store?: ApprovalStore;
  /** The upstream database user, for `$user` in search_path. */
  dbUser?: string;
  /** `pcigate connect --reason`; `SET pcigate.reason = '…'` in the session overrides it. */
  reason?: string;
  /** Aborts every waiting hold (broker shutdown). */
  signal?: AbortSignal;
  identify?: (actor: Actor) => PolicyIdentity;
  /**
   * The function a fast-path FunctionCall names by OID, as a quoted `schema.name` (a pg_catalog lookup on a
   * side connection); undefined when no function has that OID. Without it every FunctionCall is refused.
   */
  functionName?: (oid: number) => Promise<string | undefined>;
  /**
   * Which of `names` (written as fields, PolicySession.fieldCalls) name functions a call by attribute notation
   * could reach (a pg_catalog lookup on a side connection). Without it, or when it fails, every one counts as a
   * function (fail closed).
   */
  fieldFunctions?: (names: readonly string[]) => Promise<readonly string[]>;
  /**
   * A refusal the caller would give the statement once allowed (the broker's masking.stored_values), asked before
   * a hold files an approval request or spends a usable approval: nobody is asked to approve what cannot run.
   */
  beforeHold?: (stmt: Statement) => Promise<Extract<StatementDecision, { action: 'deny' }> | undefined>;
  /** The columns of the tables an INSERT without a column list writes, for the text an approver is shown (after beforeHold). */
  columnsOf?: (stmt: Statement) => (table: string) => readonly string[] | undefined;
}

/** A `hooksFor` for startPgBroker: one PolicySession per proxied session. */
export function policyHooksFor(o: PolicyHooksOptions): (info: { session: string; actor: Actor; startup?: { params: Readonly<Record<string, string>> } }) => SessionHooks {
  return (info) => {
    const ps = openPolicySession(o, info);
    return { onStatement: (stmt) => decideStatement(o, ps, info.session, stmt), onPortal: (name, sql) => ps.portal(name, sql), parseReadsOtherwise: (sql) => ps.readsOtherwise(sql) };
  };
}

/**
 * One proxied session's policy state. Its search_path starts as the client's startup parameter (forwarded
 * upstream), or else `serverPath`, the server's own (the broker asks it, and it must be known before the
 * session's first statement is decided), or else the built-in default.
 */
export function openPolicySession(o: PolicyHooksOptions, info: { actor: Actor; startup?: { params: Readonly<Record<string, string>> } }, serverPath?: ServerPath): PolicySession {
  const searchPath = info.startup ? startupSetting(info.startup.params, 'search_path') : undefined;
  return o.engine.openSession((o.identify ?? identityOfActor)(info.actor), o.connection, o.clock.now(), {
    ...(o.dbUser ? { dbUser: o.dbUser } : {}), ...(o.reason ? { reason: o.reason } : {}),
    ...(searchPath !== undefined ? { searchPath } : serverPath ? { serverPath } : {}),
  });
}

const denyMsg = (rule: string, reason: string) => `pcigate: denied by policy rule ${rule}: ${reason}`;

type Denial = Extract<StatementDecision, { action: 'deny' }>;

/** A statement policy refuses: the client's message, and the same as PolicyDenied (exit 5) for `pcigate exec`. */
function policyDenial(rule: string, reason: string): Denial {
  const message = denyMsg(rule, reason);
  return { action: 'deny', rule, message, error: new PolicyDenied(message) };
}

/** SQLSTATE 25P02 in_failed_sql_transaction, with the server's own message (postgres.c). */
const FAILED_TX_MESSAGE = 'current transaction is aborted, commands ignored until end of transaction block';

/** TransactionStmt kinds the server runs in a failed transaction (IsTransactionExitStmt in postgres.c). */
const TX_EXIT_KINDS = new Set(['TRANS_STMT_COMMIT', 'TRANS_STMT_PREPARE', 'TRANS_STMT_ROLLBACK', 'TRANS_STMT_ROLLBACK_TO']);

/**
 * Whether the server will refuse `stmt` with 25P02 because it comes in a transaction that has already
 * failed (ReadyForQuery 'E'): the server answers that to any statement but a transaction exit (COMMIT,
 * ROLLBACK, ROLLBACK TO SAVEPOINT, PREPARE TRANSACTION, checked on the first statement of the text, as
 * exec_simple_query does). False when the status is not known (pipelined statements) and for a text the
 * parser rejects (the server would report the syntax error first).
 */
export function refusedInFailedTransaction(stmt: Statement): boolean {
  if (stmt.txStatus !== 'E') return false;
  if (stmt.protocol === 'function') return true;
  const parsed = parseStatements(stmt.sql);
  if ('error' in parsed) return false;
  const first = parsed.stmts[0]?.stmt as { TransactionStmt?: { kind?: string } } | undefined;
  return first !== undefined && !TX_EXIT_KINDS.has(first.TransactionStmt?.kind ?? '');
}

/**
 * A refusal as the client sees it. When the server would refuse the statement anyway
 * ({@link refusedInFailedTransaction}), the client gets the server's 25P02, without pcigate's rule, like
 * any other statement there. The decision keeps its rule, so it is still recorded as a denial by that
 * rule, with the SQLSTATE the client got.
 */
export function inFailedTransaction(stmt: Statement, d: Extract<StatementDecision, { action: 'deny' }>): Extract<StatementDecision, { action: 'deny' }> {
  if (!refusedInFailedTransaction(stmt)) return d;
  // The client gets the server's 25P02, and so does `pcigate exec` (exit 1): the refusal's error goes too.
  const { error: _policyError, ...rest } = d;
  return { ...rest, sqlstate: '25P02', message: FAILED_TX_MESSAGE, detail: '' };
}

/**
 * The rule prefix of a statement policy would have held, refused instead because it came in a transaction
 * that had already failed: `hold_skipped_failed_transaction: <the hold's rule>` in its `pg.query` denial
 * (docs/log-format.md). The server would answer it 25P02 whatever an approver decided, so no approval
 * request is filed (nobody is asked to approve what cannot run), no usable approval is spent on it, and
 * the client gets the server's 25P02 at once, as for a denial there.
 */
export const HOLD_SKIPPED_FAILED_TX = 'hold_skipped_failed_transaction';

/** One statement through policy (and approvals); exported for brokers that compose hooks themselves. */
export function decideStatement(o: PolicyHooksOptions, ps: PolicySession, session: string, stmt: Statement): StatementDecision | Promise<StatementDecision> {
  if (stmt.protocol === 'function') return decideFunctionCall(o, ps, session, stmt);
  // No text to judge (an Execute of a statement prepared by SQL PREPARE and Parsed over, or of a portal or
  // statement never made here as pcigate saw it): fail closed. An empty text the client sent is judged.
  // A refused Parse's text under a name the session PREPAREd in SQL: the server runs that one, not this.
  if (stmt.textUnknown || (stmt.textRefused && ps.prepared.has(stmt.statementName ?? ''))) return inFailedTransaction(stmt, policyDenial('unknown_statement', 'pcigate does not know the text of the statement this Execute runs (prepared by SQL PREPARE, or never prepared or bound on this connection)'));
  // Its text, as the server read it at its Parse, may not be the text policy reads (see Statement.parsedOtherwise).
  if (stmt.parsedOtherwise) return inFailedTransaction(stmt, policyDenial('client_encoding', 'the server read the text of the statement this Execute runs when it was Parsed, under a client_encoding other than UTF-8, where pcigate reads SQL text as UTF-8: it could name a table or column policy did not judge; Parse it again under client_encoding UTF8'));
  // Behind a statement that may have changed settings unseen, in its extended batch (see Statement.unsettled).
  if (stmt.unsettled) return inFailedTransaction(stmt, policyDenial('unseen_settings', 'its text holds a backslash or a non-ASCII character, and a statement before it (or before its Parse) in this batch may have run code (a trigger, a DEFAULT, a view, a function, a DO block) that changed settings under which the server reads such text otherwise, which the server reports only when the batch ends (Sync); send it, and its Parse, after the Sync'));
  const d = ps.decide(stmt.sql, o.clock.now(), stmt.txStatus);
  // Fields that may be function calls (`('/etc/passwd').pg_read_file`): judged as calls of those the catalog knows.
  const fields = d.action === 'deny' ? [] : ps.fieldCalls(stmt.sql);
  if (fields.length > 0) {
    const found = o.fieldFunctions ? o.fieldFunctions(fields).catch(() => fields) : Promise.resolve(fields);
    return found.then((calls) => {
      if (calls.length === 0) return decided(o, ps, session, stmt, d);
      // decide applied what an allowed text changes (a PREPARE, a cursor): undone before it is decided again.
      if (d.action === 'allow') ps.refusedAfterAllow();
      return decided(o, ps, session, stmt, ps.decide(stmt.sql, o.clock.now(), stmt.txStatus, calls));
    });
  }
  return decided(o, ps, session, stmt, d);
}

/** The rest of decideStatement, given policy's decision. */
function decided(o: PolicyHooksOptions, ps: PolicySession, session: string, stmt: Statement, d: Decision): StatementDecision | Promise<StatementDecision> {
  // Read by the proxy once the statement is allowed (here, or when a hold resolves).
  if (d.settles) stmt.settlesFirst = true;
  if (d.action === 'allow') return { action: 'allow' };
  if (d.action === 'deny' || !o.store) {
    const reason = d.action === 'deny' ? d.reason : `${d.reason}, but no approvals store is configured`;
    return inFailedTransaction(stmt, policyDenial(d.rule, reason));
  }
  if (refusedInFailedTransaction(stmt)) {
    return { action: 'deny', rule: `${HOLD_SKIPPED_FAILED_TX}: ${d.rule}`, sqlstate: '25P02', message: FAILED_TX_MESSAGE, detail: '' };
  }
  // Allow and deny answer synchronously (a cache hit costs no promise); only a hold goes async.
  return holdStatement(o, o.store, ps, session, stmt, d);
}

/**
 * A fast-path FunctionCall (libpq's large objects: lo_open, loread, lowrite, …) names its function by OID
 * only. With a way to name it, it is decided as `SELECT schema.name()` would be (a function call: the
 * `function` class unless the function is a known-safe built-in; holds and approvals as for any
 * statement, the approver seeing that text); without one, or for an OID that names nothing, it is refused.
 */
function decideFunctionCall(o: PolicyHooksOptions, ps: PolicySession, session: string, stmt: Statement): StatementDecision | Promise<StatementDecision> {
  // Whatever it names: its body is not read (see Statement.settlesFirst).
  stmt.settlesFirst = true;
  const oid = Number(/^function (\d+)$/.exec(stmt.sql)?.[1] ?? NaN);
  const refuse = (reason: string) => inFailedTransaction(stmt, policyDenial('function_call', reason));
  if (!o.functionName || !Number.isSafeInteger(oid)) return refuse('fast-path function calls are not allowed');
  return o.functionName(oid).then(
    (name) => (name === undefined ? refuse(`fast-path call of OID ${oid}, which names no function`)
      : decideStatement(o, ps, session, { ...stmt, protocol: 'simple', sql: `SELECT ${name}()` })),
    (e: unknown) => refuse(`the function with OID ${oid} could not be looked up: ${e instanceof Error ? e.message : String(e)}`),
  );
}

async function holdStatement(o: PolicyHooksOptions, store: ApprovalStore, ps: PolicySession, session: string, stmt: Statement, d: Decision): Promise<StatementDecision> {
  // An extended-protocol statement is approved with its bind parameters: the approver sees them, and the
  // approval runs the text with exactly those values. Any statement, with the schemas its names resolve in.
  const bound = { params: stmt.params, ...(stmt.params.length > 0 && stmt.paramTypes ? { types: stmt.paramTypes } : {}), searchPath: ps.approvalPath };
  const refused = await o.beforeHold?.(stmt);
  if (refused) return refused;
  const usable = await store.findUsable(ps.identity, o.connection, stmt.sql, bound);
  if (usable) {
    await store.consume(usable.id, ps.identity, o.connection, stmt.sql, bound, session);
    ps.applied(stmt.sql);
    return { action: 'allow' };
  }
  const settings = o.engine.approvalSettings(o.connection);
  const req = await store.request({
    connection: o.connection, requester: ps.identity, session, sql: stmt.sql, rule: d.rule, settings,
    ...(bound ? { bound } : {}), ...(ps.reason ? { reason: ps.reason } : {}), ...(o.columnsOf ? { columnsOf: o.columnsOf(stmt) } : {}),
  });
  // Aborted when the proxy stops waiting (the client cancelled, the session ended): a later approval is not
  // spent on a statement that will not run, nor are its effects applied to the session.
  const abandoned = new AbortController();
  const signal = o.signal ? AbortSignal.any([o.signal, abandoned.signal]) : abandoned.signal;
  const until = (async (): Promise<StatementDecision> => {
    const r = await store.waitForDecision(req.id, settings.waitMs, signal);
    if (abandoned.signal.aborted) return { action: 'deny', rule: d.rule, message: `pcigate: the wait for approval ${req.id} was abandoned; the statement was not run` };
    if (r.state === 'approved') {
      await store.consume(r.id, ps.identity, o.connection, stmt.sql, bound, session);
      ps.applied(stmt.sql);
      return { action: 'allow' };
    }
    // An approver's denial is a denial by policy (exit 5 for pcigate exec, as for a held SSH command); a
    // request that expired or got no decision in time is an approval timeout (exit 6).
    const refused = (message: string, E: typeof PolicyDenied | typeof ApprovalTimeout): StatementDecision => ({ action: 'deny', rule: d.rule, message, error: new E(message) });
    if (r.state === 'denied') return refused(`pcigate: approval ${r.id} was denied by ${r.denial?.email ?? r.denial?.sub ?? 'an approver'}: ${r.denial?.reason ?? ''}`, PolicyDenied);
    if (r.state === 'expired') return refused(`pcigate: approval request ${r.id} expired`, ApprovalTimeout);
    // (the request stays open: approved later, the same statement run again by the same person runs at once)
    const open = new Date(r.expires_ms).toISOString().replace(/\.\d+Z$/, 'Z');
    return refused(`pcigate: no decision on approval request ${r.id} in time; the statement was not run. The request stays open until ${open}: once it is approved, run the same statement again`, ApprovalTimeout);
  })().catch((): StatementDecision => ({ action: 'deny', rule: d.rule, message: `pcigate: approval ${req.id} could not be completed; the statement was not run` }));
  return {
    action: 'hold',
    until,
    notice: `pcigate: statement held for approval ${req.id} (${d.reason}); an approver runs: pcigate approve ${req.id}`,
    abort: () => abandoned.abort(),
  };
}

/** How a session-level approval ended when it did not let the session start. */
export type SessionApprovalRefusal = { approval: string; state: 'denied' | 'expired' | 'timeout' | 'aborted'; why: string };

/**
 * Session-level approval (`policy.connections.<name>.session.require_approval`; PCI DSS 7.2.3 with the
 * store's separation of duties): before a session starts, file a request for `CONNECT <name>` and wait for
 * it. Resolves with the approval's id when approved (the approval is used, `approval.use`), undefined when
 * the policy does not ask for one; throws PolicyDenied (exit 5) when denied or aborted and ApprovalTimeout
 * (exit 6) when the request expired or got no decision within the policy's `wait` — each carrying
 * `refusal`. `notify` receives the line to show the user (which request, how to approve it).
 */
export async function requireSessionApproval(o: { engine: PolicyEngine; store: ApprovalStore; connection: string; identity: PolicyIdentity; reason?: string; signal?: AbortSignal; notify?: (line: string) => void }): Promise<string | undefined> {
  if (!o.engine.sessionLimits(o.connection).requireApproval) return undefined;
  const sql = `CONNECT ${o.connection}`;
  const usable = await o.store.findUsable(o.identity, o.connection, sql);
  if (usable) { await o.store.consume(usable.id, o.identity, o.connection, sql); return usable.id; }
  const settings = o.engine.approvalSettings(o.connection);
  const req = await o.store.request({ kind: 'session', connection: o.connection, requester: o.identity, sql, settings, rule: `policy.connections.${o.connection}.session.require_approval`, ...(o.reason ? { reason: o.reason } : {}) });
  o.notify?.(`pcigate: ${o.connection} needs an approval to connect: waiting for approval ${req.id} (up to ${formatDuration(settings.waitMs)}); an approver runs: pcigate approve ${req.id}`);
  const r = await o.store.waitForDecision(req.id, settings.waitMs, o.signal);
  if (r.state === 'approved') {
    await o.store.consume(r.id, o.identity, o.connection, sql);
    o.notify?.(`pcigate: approval ${r.id} granted by ${r.approvals.map((a) => a.email ?? a.sub).join(', ')}; connecting`);
    return r.id;
  }
  const state = r.state === 'denied' ? 'denied' : r.state === 'expired' ? 'expired' : o.signal?.aborted ? 'aborted' : 'timeout';
  const why = state === 'denied' ? `denied by ${r.denial?.email ?? r.denial?.sub ?? 'an approver'}: ${r.denial?.reason ?? ''}`
    : state === 'expired' ? 'the request expired' : state === 'aborted' ? 'the wait was interrupted' : `no decision within ${formatDuration(settings.waitMs)}`;
  const refusal: SessionApprovalRefusal = { approval: r.id, state, why };
  const message = `connecting to ${o.connection} was not approved (${r.id}: ${why})`;
  throw Object.assign(state === 'expired' || state === 'timeout' ? new ApprovalTimeout(message) : new PolicyDenied(message), { refusal });
}
