/**
 * The broker's per-session hooks for a Postgres connection: policy (src/policy: allow / deny / hold for
 * approval, decided from the real parse tree), masking (src/mask: every data-carrying backend message,
 * with the counts in `pg.query` and `session.end`, PCI DSS 3.4.1) and session limits (idle timeout per
 * PCI DSS 8.2.8, max_duration, identity.max_session), composed once per listener. `pcigate connect` and
 * `pcigate exec` both start their listener with these, so a statement from psql and one from a CI step
 * take exactly the same path.
 */
import type { Actor, AuditSink, Source, Target } from '../../recorder/types.js';
import type { Ctx } from '../cli/ctx.js';
import type { PcigateConfig } from '../config/index.js';
import { resolveSecret } from '../config/secrets.js';
import { ColumnCatalog } from '../mask/column-catalog.js';
import type { ColumnLookup } from '../mask/column-catalog.js';
import { STORED_VALUES_RULE, storedValuesReason } from '../mask/column-rules.js';
import { copyOptionsHidePans } from '../mask/copy-text.js';
import { PanMasker } from '../mask/pan-masker.js';
import { descriptorKey } from '../mask/lo-read.js';
import { PgMasker } from '../mask/pg-masker.js';
import type { UpstreamTarget } from '../pg/protocol/index.js';
import type { SessionControl, Statement, StatementDecision } from '../pg/proxy/hooks.js';
import { BE, readCString } from '../pg/proxy/wire.js';
import { approvalStoreFor } from '../policy/approvals.js';
import { classify } from '../policy/classify.js';
import { loadParser } from '../policy/pg-parser.js';
import { nameSadColumns } from '../policy/redact-content.js';
import { decideStatement, inFailedTransaction, openPolicySession } from '../policy/pg-policy-hooks.js';
import { ServerPath } from '../policy/server-path.js';
import { unionPath } from '../policy/name-match.js';
import { isUtf8Name, startupSetting } from '../pg/protocol/startup-params.js';
import type { PolicyHooksOptions } from '../policy/pg-policy-hooks.js';
import { PolicyEngine } from '../policy/policy-engine.js';
import { SAFE_FUNCTIONS } from '../policy/safe-functions.js';
import type { PolicySession } from '../policy/policy-engine.js';
import { maxSessionMessage } from '../identity/index.js';
import { PgSessionRefused, SessionRefused } from '../errors.js';
import { admitSession, sessionWindowEnd } from './session-admission.js';
import type { AdmissionOptions } from './session-admission.js';
import type { BrokerHooks } from './pg-session-recorder.js';
import { copyColumns, copyColumnsInSession, copyOutQuery, quoteLiteral, SessionRefusal } from './pg-copy-plan.js';
import type { CopyOut } from './pg-copy-plan.js';
import { lookupRows } from './pg-query-client.js';
import { turnBatch } from './turn-batch.js';
import { FieldFunctionCache } from './field-function-cache.js';
import { statementShape } from './sql-record.js';
import { effectiveLimits, limitOutcome, SessionLimits, systemTimers } from './session-limits.js';
import type { LimitHit, LimitTimers } from './session-limits.js';

export interface PgHooksOptions {
  config: PcigateConfig;
  /** The connection's name in the config. */
  name: string;
  /** The broker-held upstream target, for the pg_catalog side lookups of column rules. */
  target: UpstreamTarget;
  home: string;
  sink: AuditSink;
  reason?: string;
  /** Aborts statements waiting for an approval (listener shutdown). */
  signal?: AbortSignal;
  /** When the token behind a session's actor expires (identity.max_session); undefined: no token. */
  tokenExpiry?(actor: Actor): number | undefined;
  /** Timers for the session limits (default: real ones on ctx.clock). */
  timers?: LimitTimers;
}

/** What the broker tells the hooks about a new session. */
export interface PgSessionInfo {
  session: string;
  actor: Actor;
  /** The client's startup parameters as forwarded (search_path starts policy's). */
  startup?: { params: Readonly<Record<string, string>> };
  src?: Source;
  target?: Target;
}

/** The column catalog's lookup: a table's columns (`schema.table.column` by attribute number) by table OID. */
function catalogLookup(target: UpstreamTarget): ColumnLookup {
  // Tables asked for in the same event-loop turn (a RowDescription names several) share one side query.
  return turnBatch(async (oids: number[]): Promise<Map<number, Map<number, string>>> => {
    // Integers only: safe to inline, and the side connection uses the simple protocol. The OID as int8: an
    // oid is unsigned, and one past 2^31 cast to int comes back negative (no table would be found).
    const rows = await lookupRows(target, `SELECT a.attrelid::int8, a.attnum::int, n.nspname || '.' || c.relname || '.' || a.attname FROM pg_catalog.pg_attribute a
      JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE a.attrelid IN (${oids.map((o) => Math.trunc(o)).join(', ')}) AND a.attnum <> 0 AND NOT a.attisdropped`);
    const out = new Map<number, Map<number, string>>(oids.map((o) => [o, new Map()]));
    for (const [rel, att, name] of rows) out.get(Number(rel))?.set(Number(att), name!);
    return out;
  });
}

/**
 * A FunctionCall's function by OID, `schema.name` quoted by the server, looked up once per listener and
 * OID (a failed lookup is tried again next time).
 */
function functionNames(target: UpstreamTarget): (oid: number) => Promise<string | undefined> {
  const known = new Map<number, Promise<string | undefined>>();
  return (oid) => {
    let p = known.get(oid);
    if (!p) {
      p = lookupRows(target, `SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(p.proname) FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE p.oid = ${Math.trunc(oid)}`)
        .then((rows) => rows[0]?.[0] ?? undefined);
      known.set(oid, p);
      p.catch(() => known.delete(oid));
    }
    return p;
  };
}

/**
 * Which of `names`, written as fields (`(expr).name`, PolicySession.fieldCalls), the server may read as a call of a
 * function of one argument (parse_func.c ParseFuncOrColumn): a function of that name, in any schema (a SET
 * search_path may reach it), that takes one argument or more and needs no more than one. Left out: pg_catalog's
 * immutable ones (type conversions such as name(text) or oid(int8), geometry's area(box): they read and change
 * nothing, and share their names with common columns), those that implement a cast (stable ones too, such as
 * timestamp(timestamptz), time or money: a cast by another spelling, named like common columns), those taking
 * `internal` (no SQL value is of that type) and its known-safe ones (SAFE_FUNCTIONS). Asked on a side
 * connection; the listener keeps the answers a minute, until DDL passes (FieldFunctionCache).
 */
function fieldFunctions(target: UpstreamTarget): (names: readonly string[]) => Promise<readonly string[]> {
  return async (names) => {
    const rows = await lookupRows(target, `SELECT DISTINCT p.proname, n.nspname OPERATOR(pg_catalog.=) 'pg_catalog' FROM pg_catalog.pg_proc p
      JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
      WHERE p.proname OPERATOR(pg_catalog.=) ANY (ARRAY[${names.map((n) => quoteLiteral(n)).join(', ')}]::pg_catalog.name[])
        AND p.pronargs OPERATOR(pg_catalog.>=) 1 AND p.pronargs OPERATOR(pg_catalog.-) p.pronargdefaults OPERATOR(pg_catalog.<=) 1
        AND NOT (n.nspname OPERATOR(pg_catalog.=) 'pg_catalog' AND (p.provolatile OPERATOR(pg_catalog.=) 'i'
          OR EXISTS (SELECT 1 FROM pg_catalog.pg_cast c WHERE c.castfunc OPERATOR(pg_catalog.=) p.oid)
          OR p.proargtypes[0] OPERATOR(pg_catalog.=) 'pg_catalog.internal'::pg_catalog.regtype))`);
    return [...new Set(rows.filter(([name, builtIn]) => !(builtIn === 't' && SAFE_FUNCTIONS.has(name!))).map(([name]) => name!))];
  };
}

/**
 * The search_path a session of this connection starts with when the client sends none: the server's own
 * (`ALTER ROLE … SET search_path`, `ALTER DATABASE …`, postgresql.conf), which policy must resolve names in,
 * not the built-in default (with `SET search_path = vault, public` as the role's default, `SELECT * FROM items`
 * reads vault.items). Its setting and the schemas of it that resolve (current_schemas(false): PostgreSQL
 * skips a missing or unusable one, such as the "$user" of the default path, and so must policy, or every
 * unqualified name would need allowing there) are asked on a side connection when the listener starts, in
 * the background (the listener does not wait for the database), and again at most once a minute; what
 * sessions do in between that may change them is policy's to see (ServerPath). `known()` asks now while it
 * has never answered or is stale, and tells whether it is known then.
 */
function serverSearchPath(ctx: Ctx, target: UpstreamTarget, dbUser: string): { path: ServerPath; refresh(): void; known(): Promise<boolean> } {
  const path = new ServerPath(dbUser);
  let askedAt = -Infinity;
  let asking: Promise<void> | undefined;
  const ask = (): Promise<void> => {
    if (asking) return asking;
    askedAt = ctx.clock.now();
    asking = lookupRows(target, 'SELECT pg_catalog.current_setting(\'search_path\'), pg_catalog.array_to_json(pg_catalog.current_schemas(false))::text').then(
      (rows) => {
        const [setting, schemas] = rows[0] ?? [];
        if (setting === null || setting === undefined || !schemas) throw new Error('no answer');
        path.update(setting, JSON.parse(schemas) as string[]);
      },
    ).catch((e: unknown) => { ctx.log.debug(`search_path of the server: ${e instanceof Error ? e.message : String(e)}`); })
      .finally(() => { asking = undefined; });
    return asking;
  };
  void ask();
  return {
    path,
    refresh() { if (ctx.clock.now() - askedAt > 60_000) void ask(); },
    async known() {
      if (!path.known || path.stale) await ask();
      return path.known && !path.stale;
    },
  };
}

/** `o` without its fieldFunctions: every name written as a field is judged as a call (fail closed). */
function withoutFieldLookup(o: PolicyHooksOptions): PolicyHooksOptions {
  const { fieldFunctions: _unseen, ...rest } = o;
  return rest;
}

/** startPgBroker's hooksFor, with its `admit` (session-level policy before session.start). */
export type PgHooksFor = ((info: PgSessionInfo) => BrokerHooks) & {
  admit(info: { actor: Actor; src: Source; target: Target; notice(line: string): void }): Promise<void>;
};

/**
 * Builds the hooksFor of startPgBroker. Loads the SQL parser once, before the listener opens. Its `admit`
 * refuses a session outside allowed_hours, or whose session approval is denied or not given in time, with
 * FATAL 42501 insufficient_privilege (as a statement refused by policy; 28000 would tell clients and
 * pools the credentials were wrong), after `session.denied` is recorded.
 */
export async function pgHooksFor(ctx: Ctx, o: PgHooksOptions): Promise<PgHooksFor> {
  await loadParser();
  // (what the result masker masks in full as sensitive authentication data, the record does not keep either)
  nameSadColumns(o.config.masking.sad_columns);
  const engine = new PolicyEngine(o.config.policy, o.config.connections);
  const store = approvalStoreFor(ctx, { home: o.home, sink: o.sink, drainOutbox: true, networks: o.config.masking.networks });
  const hmacKey = o.config.masking.hmac_key ? Buffer.from(await resolveSecret(ctx, o.config.masking.hmac_key)) : undefined;
  const catalog = new ColumnCatalog(catalogLookup(o.target), { now: () => ctx.clock.now() });
  const relations = relationColumns(o.target, () => ctx.clock.now());
  // The log's and transcript's text masked by the deployment's networks too: any_luhn's card numbers, masked in
  // results, were written in clear where the SQL, parameters and samples quoted them.
  const textMasker = new PanMasker({ anyLuhn: o.config.masking.networks === 'any_luhn' });
  const dbUser = o.target.user;
  const serverPath = serverSearchPath(ctx, o.target, dbUser);
  const fieldFns = new FieldFunctionCache(fieldFunctions(o.target), () => ctx.clock.now());
  const policy: PolicyHooksOptions = {
    engine, store, connection: o.name, clock: ctx.clock, dbUser, functionName: functionNames(o.target), fieldFunctions: (names) => fieldFns.functions(names),
    ...(o.reason ? { reason: o.reason } : {}), ...(o.signal ? { signal: o.signal } : {}),
  };
  const admission: AdmissionOptions = {
    engine, store, connection: o.name, sink: o.sink, clock: ctx.clock, log: ctx.log, masker: textMasker,
    ...(o.reason ? { reason: o.reason } : {}), ...(o.signal ? { signal: o.signal } : {}),
  };
  const admit: PgHooksFor['admit'] = async (info) => {
    try {
      await admitSession(admission, { ...info, account: { kind: 'postgres', name: dbUser } });
    } catch (e) {
      if (e instanceof SessionRefused) throw new PgSessionRefused(e.message, '42501', { cause: e });
      throw e;
    }
  };
  const hooksFor = (info: PgSessionInfo): BrokerHooks => {
    // What would refuse a held statement once approved is asked before the request is filed (storedPastMasking).
    const sessionPolicy: PolicyHooksOptions = {
      ...policy,
      beforeHold: async (stmt) => {
        const tables = tablesToKnow.wholeRowTables(stmt.sql).filter(relations.due);
        if (tables.length > 0) await relations.load(tables);
        const d = storedRefusal(stmt);
        return d?.action === 'deny' ? d : undefined;
      },
      columnsOf: (stmt) => columnsOf(stmt),
    };
    const ps = openPolicySession(policy, info, serverPath.path);
    const ownPath = info.startup !== undefined && startupSetting(info.startup.params, 'search_path') !== undefined;
    const identity = ps.identity;
    const masker = new PgMasker({
      config: o.config.masking,
      grants: engine.unmaskGrants(identity, o.name),
      ...(hmacKey ? { hmacKey } : {}),
      catalog,
      // Computed result columns (`cvv || ''`) are masked by what their statement names (policy's reading).
      reach: (stmt) => ((stmt as Statement).textUnknown ? { all: 'unknown' }
        : ps.columnReach((stmt as Statement).sql, unseenRows.has(stmt as Statement) ? undefined : relations.get)),
      // `SELECT loread($1, $2)`: its chunks are read as one stream per descriptor, a bind parameter or a constant.
      loread: (stmt) => {
        const s = stmt as Statement;
        const arg = s.protocol === 'function' || s.textUnknown ? undefined : ps.loread(s.sql);
        if (!arg) return undefined;
        if ('value' in arg) return descriptorKey(arg.value);
        const p = s.params[arg.param - 1];
        return p === undefined ? undefined : descriptorKey(p === null ? null : p.value);
      },
    });
    // Statements whose tables may have columns a side connection does not see (changed in the open transaction
    // or earlier in the same string: `ALTER TABLE t ADD cvv …; SELECT row_to_json(t) FROM t`): their whole rows
    // are masked in full, not by the columns the catalog showed.
    const unseenRows = new WeakSet<Statement>();
    // Statements after a change of a table's definition in their open transaction block or earlier in their
    // string (`ALTER TABLE t ADD cvv …; INSERT INTO t (id, cvv) …; INSERT INTO n SELECT * FROM t`): the catalog
    // does not show the columns a whole row they store carries, so such a row is refused (storedPastMasking).
    const unseenColumns = new WeakSet<Statement>();
    const tablesToKnow = { wholeRowTables: (sql: string) => [...ps.wholeRowTables(sql), ...statementShape(sql).insertTargets] };
    // For the record and an approver's text of an INSERT without a column list: the catalog's columns by position,
    // none (every value redacted) where it may not show the table as the statement sees it.
    const columnsOf = (stmt: Statement) => (unseenColumns.has(stmt) || stmt.protocol === 'function' ? () => undefined : relations.ordered);
    const storedRefusal = (stmt: Statement) => storedPastMasking(masker, ps, unseenColumns.has(stmt) ? undefined : relations.get, stmt);
    const limits = sessionLimits(ctx, o, info, { ...engine.sessionLimits(o.name), windowEndsAt: sessionWindowEnd(engine, o.name, ctx.clock.now()) }, (now) => { ps.lastActivity = now; });
    const tx = new TransactionWatch();
    // Statements that may change which names are functions (DDL, and any after it in its open transaction, its
    // COMMIT too): the listener's answers are dropped when one passes and again once it has run.
    const catalogChanges = new WeakSet<Statement>();
    let control: SessionControl | undefined;
    // The policy session has applied the statement's SETs (search_path) by the time a COPY is planned.
    const onStatement = (stmt: Statement): StatementDecision | Promise<StatementDecision> => {
      const unseen = tx.seen(stmt);
      if (tx.changed) relations.forget(); // columns looked up before it may be gone or added once it has run
      if (tx.ddl || tx.redefined) { catalogChanges.add(stmt); fieldFns.forget(); }
      if (unseen || severalStatements(stmt.sql)) unseenRows.add(stmt);
      if (tx.redefined) unseenColumns.add(stmt);
      // After DDL in its open transaction or earlier in its string, a function it created is not seen on a side
      // connection (`BEGIN; CREATE FUNCTION f(text) …; SELECT ('x').f`): every name written as a field counts as a call.
      const stmtPolicy = tx.redefined ? withoutFieldLookup(sessionPolicy) : sessionPolicy;
      const decide = () => maskRefusal(textMasker, withCopyColumns(decideStatement(stmtPolicy, ps, info.session, stmt), stmt, unseen, {
        inSession: (copy) => planCopyInSession(control, catalog, masker, stmt, copy),
        aside: (copy) => planCopy(o.target, catalog, masker, stmt, copy, sessionSearchPath(ps)),
      }));
      serverPath.refresh();
      // Fail closed: unqualified names are not judged in a path policy does not know (the side connection
      // failed: the database was down when the listener started, say). A client that sent its own path
      // does not need the server's (a RESET goes back to the client's).
      if (ownPath || (serverPath.path.known && !serverPath.path.stale)) return decide();
      return serverPath.known().then((ok) => (ok ? decide() : inFailedTransaction(stmt, {
        action: 'deny', rule: 'server_search_path', sqlstate: '58000',
        message: 'pcigate: the server\'s search_path (where unqualified names resolve) could not be asked, so the statement was neither judged nor run; try again when the database answers',
      })));
    };
    return {
      // The tables whose columns its decision or its record needs are looked up first: whole rows it uses as values,
      // and what an INSERT without a column list writes (its record redacts that table's password columns).
      onStatement: (stmt) => wholeRows(relations, tablesToKnow, stmt, onStatement(stmt), (x) => storedRefusal(stmt) ?? x),
      columnsOf,
      rowsMayHoldAnyColumn: (stmt) => stmt.textUnknown === true || ps.rowsMayHoldAnyColumn(stmt.sql),
      onBackendMessage: (frame, stmt) => {
        // client_encoding as the server reports it (at the start too): policy reads text as UTF-8.
        if (frame[0] === BE.ParameterStatus) { const [name, at] = readCString(frame, 5); ps.reported(name, readCString(frame, at)[0]); }
        return masker.onBackendMessage(frame, stmt);
      },
      onRows: (buf, from, to, stmt) => masker.onRows(buf, from, to, stmt),
      prepareRows: (frame) => masker.prepareRows(frame),
      onPortal: (name, sql) => ps.portal(name, sql),
      // A statement refused after policy allowed it (below, or by the audit log) does not leave its cursors and
      // prepared statements in policy's reading of the session.
      statementRefused: () => ps.refusedAfterAllow(),
      parseReadsOtherwise: (sql) => ps.readsOtherwise(sql),
      attach: (c) => { control = c; limits.attach(c); },
      onClientActivity: () => limits.activity(),
      onStatementEnd: (stmt) => {
        if (catalogChanges.has(stmt)) fieldFns.forget();
        limits.activity();
      },
      // Counts since the previous statement ended: its rows, plus any notice in between.
      statementDetail: () => ({ masked: masker.takeCounts() }),
      textMasker,
      sessionEnd: () => {
        limits.stop();
        masker.takeCounts();
        return { masked: { ...masker.session } };
      },
    };
  };
  return Object.assign(hooksFor, { admit });
}

/**
 * Column names of relations by the name a statement gives them (`schema.table`, or `table` in any schema: the
 * union, so a name the session's search_path resolves otherwise still counts its columns), looked up on a side
 * connection and kept for 5 minutes (1 second when not found: a table created in an open transaction is not
 * seen yet). A statement that uses a whole row as a value is masked by the columns the row carries
 * (PolicySession.columnReach); a relation not known here leaves it masked in full.
 */
function relationColumns(target: UpstreamTarget, now: () => number): {
  get: (name: string) => readonly string[] | undefined; load: (names: readonly string[]) => Promise<void>; due: (name: string) => boolean;
  /** The columns in their order, when the name is one relation's (an INSERT's values by position); undefined otherwise. */
  ordered: (name: string) => readonly string[] | undefined;
  /** Drops what is known (a statement that may change tables is on its way: ALTER TABLE … ADD COLUMN cvv). */
  forget: () => void;
} {
  const known = new Map<string, { columns: string[] | undefined; ordered: string[] | undefined; at: number }>();
  const due = (name: string) => {
    const e = known.get(name);
    return !e || now() - e.at > (e.columns ? 300_000 : 1_000);
  };
  const lit = (x: string | null) => (x === null ? 'NULL' : quoteLiteral(x));
  return {
    due,
    forget: () => known.clear(),
    get: (name) => (due(name) ? undefined : known.get(name)!.columns),
    ordered: (name) => (due(name) ? undefined : known.get(name)!.ordered),
    async load(names) {
      const ask = names.filter(due);
      if (ask.length === 0) return;
      const values = ask.map((n) => {
        const dot = n.lastIndexOf('.');
        return `(${lit(n)}, ${lit(dot < 0 ? null : n.slice(0, dot))}, ${lit(n.slice(dot + 1))})`;
      });
      const found = new Map<string, string[]>();
      const relations = new Map<string, Set<string>>();
      try {
        const rows = await lookupRows(target, `SELECT k.name, a.attname, c.oid::pg_catalog.text FROM (VALUES ${values.join(', ')}) AS k(name, nsp, rel)
          JOIN pg_catalog.pg_class c ON c.relname OPERATOR(pg_catalog.=) k.rel
          JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace AND (k.nsp IS NULL OR n.nspname OPERATOR(pg_catalog.=) k.nsp)
          JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.oid AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
          ORDER BY 1, 3, a.attnum`);
        for (const [name, col, oid] of rows) {
          const list = found.get(name!) ?? [];
          list.push(col!);
          found.set(name!, list);
          relations.set(name!, (relations.get(name!) ?? new Set()).add(oid!));
        }
      } catch {
        return; // not known: such rows are masked in full (fail closed)
      }
      for (const n of ask) known.set(n, { columns: found.get(n), ordered: relations.get(n)?.size === 1 ? found.get(n) : undefined, at: now() });
    },
  };
}

/**
 * The statement decision, once the columns of the tables whose whole rows the statement uses as values are
 * known (relationColumns): its rows' computed columns are masked by them, and what it stores is judged by them
 * (`then`, given the allowed decision). Most statements use none: unchanged.
 */
function wholeRows(relations: ReturnType<typeof relationColumns>, ps: { wholeRowTables(sql: string): string[] }, stmt: Statement, d: StatementDecision | Promise<StatementDecision>, then: (allowed: StatementDecision) => StatementDecision): StatementDecision | Promise<StatementDecision> {
  const after = (x: StatementDecision): StatementDecision | Promise<StatementDecision> => {
    if (x.action === 'hold') return { ...x, until: x.until.then(after) };
    if (x.action !== 'allow') return x;
    const tables = ps.wholeRowTables(stmt.sql).filter(relations.due);
    return tables.length === 0 ? then(x) : relations.load(tables).then(() => then(x));
  };
  return d instanceof Promise ? d.then(after) : after(d);
}

/**
 * Masking follows a value to the client, not into another table or a view (`INSERT INTO notes SELECT cvv FROM
 * cards`, `CREATE TABLE t AS SELECT pan AS x …`): read back from there it carries no rule. A statement that would
 * store values made from a column this role's results mask (PgMasker.storedRule) is refused, 42501. A whole row
 * stored (`SELECT *`) is judged by its tables' columns as the catalog shows them (also inside a transaction that
 * wrote tables, where a result's whole rows are masked in full: refusing every `INSERT … SELECT *` there would
 * stop ordinary work); one not known is refused, as is every one after a change of a table's definition in the
 * open transaction block or earlier in the string (`columnsOf` undefined): a column added there (`ADD cvv`, then
 * `INSERT INTO t (id, cvv) SELECT id, cvv …` and `INSERT INTO n SELECT * FROM t`) was not seen and the CVV stored.
 */
function storedPastMasking(masker: PgMasker, ps: { storedReach: PolicySession['storedReach'] }, columnsOf: ((table: string) => readonly string[] | undefined) | undefined, stmt: Statement): StatementDecision | undefined {
  // A fast-path FunctionCall has no text (policy decided the function it names as a call).
  if (stmt.protocol === 'function') return undefined;
  const rule = masker.storedRule(ps.storedReach(stmt.sql, columnsOf));
  if (!rule) return undefined;
  return inFailedTransaction(stmt, {
    action: 'deny', rule: STORED_VALUES_RULE, sqlstate: '42501', message: `pcigate: ${storedValuesReason(rule.name)}`,
  });
}

/**
 * pcigate's own answers PAN-masked, as the server's are (the proxy sends them without the masking hook): a
 * refusal or a hold's notice may quote the client's text (a table named in it, COPY's ENCODING '…'). Stays
 * synchronous when the decision is.
 */
function maskRefusal(m: PanMasker, d: StatementDecision | Promise<StatementDecision>): StatementDecision | Promise<StatementDecision> {
  if (d instanceof Promise) return d.then((x) => maskRefusal(m, x));
  if (d.action === 'deny') {
    const message = m.maskText(d.message);
    const detail = d.detail === undefined ? undefined : m.maskText(d.detail);
    return message === d.message && detail === d.detail ? d : { ...d, message, ...(detail !== undefined ? { detail } : {}) };
  }
  if (d.action === 'hold') return { ...d, until: d.until.then((x) => maskRefusal(m, x)), ...(d.notice !== undefined ? { notice: m.maskText(d.notice) } : {}) };
  return d;
}

/**
 * A statement policy allows that holds a COPY … TO STDOUT runs only once its columns are announced to the
 * masker (pg-copy-plan.ts): the decision, or what a hold resolves to, waits for them, and becomes a refusal
 * when they cannot be known. Every other statement keeps the policy's decision as it is (synchronous).
 *
 * A simple Query that is the COPY alone (psql's COPY and \copy, most drivers' copy-out) is planned on the
 * session's own connection right before it runs (`inSession`): it sees what the COPY will see, whatever the
 * session did before. Otherwise (an extended-protocol COPY, a COPY after SETs in its string, a client with
 * messages in flight) the columns come from a side connection (`aside`), which sees only committed tables:
 * inside a transaction block the session may have changed the table (ALTER TABLE … ADD/DROP/TYPE moves a
 * column: the side connection would put the old names on the new columns, and a cvv leaves as "note"), and
 * so may statements before the COPY in its own query string (one implicit transaction). Such a COPY is
 * refused after anything that could have (TransactionWatch), and any COPY after statements other than SET
 * and SHOW in its string.
 */
function withCopyColumns(d: StatementDecision | Promise<StatementDecision>, stmt: Statement, unseenChanges: boolean, plan: {
  inSession: (copy: CopyOut) => Promise<StatementDecision | undefined | 'unavailable'>;
  aside: (copy: CopyOut) => Promise<StatementDecision | undefined>;
}): StatementDecision | Promise<StatementDecision> {
  const { copies, others, alone } = copyOutQuery(stmt.sql);
  if (copies.length === 0) return d;
  const after = async (dec: StatementDecision): Promise<StatementDecision> => {
    if (dec.action !== 'allow') return dec;
    if (copies.length > 1) return copyRefused('one query string holds several COPY … TO STDOUT; send each as a statement of its own');
    if (others) return copyRefused('other statements precede it in its query string, and could change its table unseen; send it as a statement of its own');
    const copy = copies[0]!;
    if (copy.encoding !== undefined && !copy.binary && !isUtf8Name(copy.encoding)) {
      return copyRefused(`its rows are read as UTF8, and ENCODING '${copy.encoding}' would write them otherwise (in SJIS or BIG5 a byte of a character can read as a backslash or the delimiter); leave ENCODING out`);
    }
    const hides = copyOptionsHidePans(copy);
    if (hides !== undefined) return copyRefused(hides);
    if (alone && stmt.protocol === 'simple') {
      const asked = await plan.inSession(copy);
      if (asked !== 'unavailable') return asked ?? dec;
    }
    if (unseenChanges) {
      return copyRefused(`${stmt.txStatus === undefined ? 'the session\'s transaction state is not known (statements still unanswered)' : 'the session is inside a transaction block that has run statements which could change its table'}, changes the column lookup cannot see; run it before them, or outside a transaction block (in autocommit mode)`);
    }
    return (await plan.aside(copy)) ?? dec;
  };
  if (d instanceof Promise) return d.then(after);
  if (d.action === 'hold') return { ...d, until: d.until.then(after) };
  return after(d);
}

/**
 * Whether the session's open transaction may hold changes a side connection cannot see. A transaction block
 * that so far ran only reads without side effects, transaction control (BEGIN, SAVEPOINT, …), SET/SHOW
 * (not SET ROLE or SESSION AUTHORIZATION) and COPY … TO STDOUT changed no table: a COPY in it is planned
 * as outside one (psycopg's and JDBC's default, a transaction they open with BEGIN). Anything else in it
 * (DDL, DML whose triggers could run DDL, a function call, a query string of several statements), or a
 * transaction status not known yet, is taken as a change until the transaction ends.
 */
class TransactionWatch {
  #changed = false;
  #defined = false;
  #redefined = false;
  #ddl = false;

  /** The statement last seen is DDL, or its string holds some. */
  get ddl(): boolean {
    return this.#ddl;
  }

  /** A statement before the last seen in its open transaction block, or in its string, changed a table's definition (DDL). */
  get redefined(): boolean {
    return this.#redefined;
  }

  /** The statement last seen, or one before it in its open transaction, may have changed tables. */
  get changed(): boolean {
    return this.#changed;
  }

  /** Called for every statement in order: whether, for a COPY, unseen changes are possible. */
  seen(stmt: Statement): boolean {
    if (stmt.txStatus === 'I') { this.#changed = false; this.#defined = false; } // it starts outside any transaction block
    const unseen = stmt.txStatus === undefined || (stmt.txStatus !== 'I' && this.#changed);
    // Parsed only when its first word could start DDL: pgbench's simple-protocol UPDATEs, each a new text, are not.
    const shape = statementShape(stmt.sql);
    const ddl = !shape.pureRead && (!NO_DDL.has(shape.command) || severalStatements(stmt.sql)) && classify(stmt.sql).statements.some((st) => st.classes.includes('ddl'));
    this.#redefined = (stmt.txStatus !== 'I' && this.#defined) || (ddl && severalStatements(stmt.sql));
    if (ddl) this.#defined = true;
    this.#ddl = ddl;
    if (!leavesTablesAlone(stmt.sql)) this.#changed = true;
    return unseen;
  }
}

/** First words (statementShape's command) of statements that cannot change a table's definition. */
const NO_DDL: ReadonlySet<string> = new Set(['insert', 'update', 'delete', 'merge', 'with', 'copy', 'begin', 'start', 'commit', 'end', 'rollback',
  'abort', 'savepoint', 'release', 'set', 'reset', 'show', 'select', 'values', 'table', 'fetch', 'move', 'close', 'declare', 'prepare',
  'execute', 'deallocate', 'listen', 'notify', 'unlisten', 'discard', 'lock', 'vacuum', 'analyze', 'checkpoint']);

function leavesTablesAlone(sql: string): boolean {
  if (severalStatements(sql)) return false;
  const f = statementShape(sql);
  if (f.pureRead || f.kind === 'tcl') return true;
  if (f.command === 'set' || f.command === 'reset') return !/\b(role|session\s+authorization)\b/i.test(sql);
  return f.command === 'copy' && copyOutQuery(sql).copies.length === 1;
}

/**
 * A `;` before the last non-blank character: maybe several statements (or a `;` in a literal: counted too).
 * Runs a few times per statement: no trimmed copy of the text is made (`sql.trim()` then a regex, before).
 */
export function severalStatements(sql: string): boolean {
  const first = sql.indexOf(';');
  if (first < 0) return false;
  let end = sql.length - 1; // the last non-blank character (String.prototype.trim's white space and line ends)
  while (end > first && BLANK.test(sql[end]!)) end--;
  return first < end;
}

const BLANK = /\s/;

/**
 * The search_path a side lookup for the session's COPY uses: every schema policy judges its unqualified names
 * in (resolveIn), the last SET's first. Policy cannot tell whether a SET lasted (SET LOCAL, a rollback, an
 * error later in its string): with the last SET's path alone, a COPY of public.items after `BEGIN; SET LOCAL
 * search_path = vault; COMMIT` was looked up in vault and refused. A name in several of these schemas is
 * caught by the plan's own check (pg-copy-plan.ts ambiguousRelations: refused, or planned without a schema's
 * column rules), so the order of the others does not decide which table is planned.
 */
function sessionSearchPath(ps: { searchPath: readonly string[]; resolveIn: readonly string[] }): readonly string[] {
  return unionPath(ps.searchPath, ps.resolveIn);
}

async function planCopy(target: UpstreamTarget, catalog: ColumnCatalog, masker: PgMasker, stmt: Statement, copy: CopyOut, searchPath: readonly string[] | undefined): Promise<StatementDecision | undefined> {
  try {
    masker.expectCopy(stmt, await copyColumns(target, catalog, copy, searchPath), copy);
    return undefined;
  } catch (e) {
    return copyRefused(`its columns could not be determined, so column masking cannot apply to them: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** planCopy on the session's own connection; 'unavailable' when it cannot be asked now. */
async function planCopyInSession(control: SessionControl | undefined, catalog: ColumnCatalog, masker: PgMasker, stmt: Statement, copy: CopyOut): Promise<StatementDecision | undefined | 'unavailable'> {
  if (!control) return 'unavailable';
  try {
    const columns = await copyColumnsInSession((m) => control.exchange(m), catalog, copy);
    if (!columns) return 'unavailable';
    masker.expectCopy(stmt, columns, copy);
    return undefined;
  } catch (e) {
    if (e instanceof SessionRefusal) {
      // What the COPY would have met (a missing table, a failed transaction): the server's own error.
      return { action: 'deny', rule: 'masking.copy_columns', sqlstate: e.fields.code ?? '0A000', message: e.fields.message ?? e.message, detail: e.fields.detail ?? '' };
    }
    return copyRefused(`its columns could not be determined, so column masking cannot apply to them: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function copyRefused(why: string): StatementDecision {
  return { action: 'deny', rule: 'masking.copy_columns', sqlstate: '0A000', message: `pcigate: this COPY … TO STDOUT was not run: ${why}` };
}

/**
 * One session's limit timers. When one is reached: `session.idle_timeout` or `session.expired` is
 * appended (awaited, so it precedes `session.end`), then the session is terminated with a FATAL naming the
 * limit — also when the append failed: a limit is never lifted because the log is unavailable.
 */
function sessionLimits(ctx: Ctx, o: PgHooksOptions, info: PgSessionInfo, policy: { maxDurationMs: number; idleTimeoutMs: number; windowEndsAt: number | undefined }, touched: (now: number) => void) {
  const startedAt = ctx.clock.now();
  const tokenExpiresAt = o.tokenExpiry?.(info.actor);
  let control: SessionControl | undefined;
  const onLimit = async (hit: LimitHit): Promise<void> => {
    const out = limitOutcome(hit, o.name, maxSessionMessage);
    try {
      await o.sink.append({
        type: out.type, session: info.session, actor: info.actor, account: { kind: 'postgres', name: o.target.user }, ...(info.src ? { src: info.src } : {}),
        target: info.target ?? { conn: o.name, kind: 'postgres' }, outcome: 'success', detail: out.detail,
      });
    } catch (e) {
      ctx.log.warn(`session ${info.session}: ${out.type} could not be recorded: ${e instanceof Error ? e.message : String(e)}`);
    }
    control?.terminate(out.sqlstate, out.message, out.reason);
  };
  const limits = new SessionLimits({
    limits: effectiveLimits({
      startedAt, idleTimeoutMs: policy.idleTimeoutMs, maxDurationMs: policy.maxDurationMs, maxSessionMs: o.config.identity.max_session,
      ...(policy.windowEndsAt !== undefined ? { windowEndsAt: policy.windowEndsAt } : {}),
      ...(tokenExpiresAt !== undefined ? { tokenExpiresAt } : {}),
    }),
    timers: o.timers ?? systemTimers(ctx.clock),
    startedAt,
    ...(tokenExpiresAt !== undefined ? { tokenExpiresAt } : {}),
    busy: () => control?.busy() ?? false,
    onLimit: (hit) => { void onLimit(hit); },
  });
  return {
    attach(c: SessionControl): void { control = c; limits.start(); },
    // The policy's own idle check (a backstop at the next statement) counts the same activity.
    activity(): void { touched(limits.activity()); },
    stop(): void { limits.stop(); },
  };
}
