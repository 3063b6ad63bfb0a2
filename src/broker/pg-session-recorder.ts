/**
 * The recording side of one Postgres session, as SessionHooks around the policy and masking hooks:
 * - before a statement is forwarded, `pg.intent` (SQL redacted, params rendered, kind) is appended and
 *   awaited: a statement never executes unrecorded; if the append fails the client gets an error and
 *   nothing is forwarded (fail closed, ARCHITECTURE.md §4);
 * - a denied statement gets one `pg.query` with outcome `denied`;
 * - when the server has answered, `pg.query` carries the outcome, SQLSTATE, rows and duration;
 * - result rows, after masking, are sampled into the transcript (withheld where they may echo a secret).
 */
import { deepFreeze } from '../../recorder/record-line.js';
import type { Actor, AuditEvent, AuditSink, Source, Target } from '../../recorder/types.js';
import type { SessionHooks, Statement, StatementDecision, StatementResult } from '../pg/proxy/hooks.js';
import { BE, readCString } from '../pg/proxy/wire.js';
import type { PgTranscript } from './pg-transcript.js';
import { defaultPanMasker } from '../mask/pan-masker.js';
import type { PanMasker } from '../mask/pan-masker.js';
import { renderParams, statementFacts as sqlFacts, statementMayHoldSecret } from './sql-record.js';
import { namesSecret } from '../policy/redact-by-tokens.js';
import { NAMES_SECRET, paramNamesSecret } from '../policy/redact-content.js';
import { Pending } from './pending.js';

/**
 * The broker's inner hooks (policy, masking, session limits) may also add fields to the records: masked
 * counts per statement and per session (docs/log-format.md `pg.query`, `session.end`).
 */
export interface BrokerHooks extends SessionHooks {
  /** Extra `pg.query` detail for a statement that ran (called after onStatementEnd). */
  statementDetail?(stmt: Statement): Record<string, unknown>;
  /** Called once when the session has ended (stops its timers); extra `session.end` detail. */
  sessionEnd?(): Record<string, unknown>;
  /** What masks the text the records and transcript keep (the deployment's masking.networks); default: major networks. */
  textMasker?: PanMasker;
  /** The statement is refused (by these hooks or by the recorder: its record could not be written): it will not run. */
  statementRefused?(stmt: Statement): void;
  /**
   * The columns of a table by name, for an INSERT without a column list (which value is a password's is the table's to
   * say): answered from what was looked up before the statement was decided; undefined for a table not known, whose
   * values are all redacted.
   */
  columnsOf?(stmt: Statement): (table: string) => readonly string[] | undefined;
  /** Whether the statement's rows may hold any column of what it reads (a whole row as a value, a cursor's rows). */
  rowsMayHoldAnyColumn?(stmt: Statement): boolean;
}

/** How long a finished statement's record may wait for the next intent to share its write. */
const DEFER_MS = 2;

const ALLOW: StatementDecision = Object.freeze({ action: 'allow' });

/** A held statement the client cancelled: PostgreSQL's own answer to a cancelled statement. */
const CANCELLED: StatementDecision = Object.freeze({
  action: 'deny', rule: 'cancel', sqlstate: '57014', message: 'canceling statement due to user request',
  detail: 'pcigate: the statement was waiting for an approval; it was not run',
});

/** A statement cancelled while its record was being made durable, before it was forwarded. */
const CANCELLED_UNFORWARDED: StatementDecision = Object.freeze({ ...CANCELLED, detail: 'pcigate: the statement was waiting for its audit record; it was not run' });

/** A held statement whose session ended (the client vanished) before an approver decided. */
const SESSION_ENDED: StatementDecision = Object.freeze({
  action: 'deny', rule: 'session_end', sqlstate: '08006', message: 'the session ended while the statement waited for an approval',
});

/** A copy frozen all the way down: the recorder encodes such objects once per session (record-line.ts). */
function frozenCopy<T>(v: T): T {
  return deepFreeze(structuredClone(v));
}

export interface RecorderContext {
  sink: AuditSink;
  session: string;
  actor: Actor;
  src: Source;
  target: Target;
  transcript: PgTranscript | null;
  /** Policy (onStatement), masking (onBackendMessage) and session-limit hooks, when configured. */
  inner: BrokerHooks;
  /** Internal problems (a failed `pg.query` append after the fact): logged, and they mark the session. */
  onProblem(e: unknown): void;
}

export class PgSessionRecorder {
  /** Appends not awaited on the data path (results), awaited before session.end. */
  private readonly pending = new Set<Promise<unknown>>();
  /** Per running statement: its pg.intent seq (once durable) and the detail both records share. */
  private readonly intents = new Map<number, { seq: number | null; detail: Record<string, unknown>; written?: Promise<void> }>();
  /** Per running statement with sampled rows: how many, and whether they are withheld whole (sampleWithheld). */
  private readonly rowsSampled = new Map<number, { rows: number; whole: boolean }>();
  private readonly deferred: AuditEvent[] = [];
  /** Results waiting for an earlier result whose intent's seq was not known yet (onStatementEnd), and the last of them. */
  private lateResults = 0;
  private lateTail: Promise<void> | undefined;
  private deferTimer: ReturnType<typeof setTimeout> | undefined;
  private lastColumns: { frame: Buffer; names: string[]; withheld: boolean[]; n: number } | undefined;
  /** Ends the wait of the statement held for an approval, if any, with a refusal (see decideAndRecord). */
  private readonly held = new Set<(d: StatementDecision) => void>();
  /** By statement number, ends the wait of a statement not yet forwarded because its pg.intent is not yet durable (see awaitIntent). */
  private readonly unforwarded = new Map<number, () => void>();
  /** The decisions (and records) of held statements and of statements still being decided, still to come. */
  private readonly holding = new Pending();
  statements = 0;
  denied = 0;
  failedAppends = 0;

  private readonly actor: Actor;
  private readonly src: Source;
  private readonly target: Target;

  constructor(private readonly c: RecorderContext) {
    this.actor = frozenCopy(c.actor);
    this.src = frozenCopy(c.src);
    this.target = frozenCopy(c.target);
  }

  private event(type: string, outcome: AuditEvent['outcome'], detail: Record<string, unknown>): AuditEvent {
    return { type, session: this.c.session, actor: this.actor, src: this.src, target: this.target, outcome, detail };
  }

  private get text(): PanMasker {
    return this.c.inner.textMasker ?? defaultPanMasker();
  }

  private facts(stmt: Statement): ReturnType<typeof sqlFacts> {
    return sqlFacts(stmt.sql, this.text, this.c.inner.columnsOf?.(stmt));
  }

  private describe(stmt: Statement, facts = this.facts(stmt)): Record<string, unknown> {
    const d: Record<string, unknown> = { n: stmt.n, protocol: stmt.protocol, sql: facts.sql, command: facts.command, kind: facts.kind };
    if (stmt.protocol === 'extended') {
      d.params = renderParams(stmt.params, stmt.sql, stmt.paramTypes, this.text);
      // Names the client chose: text like any other, PAN-masked (maskText costs nothing on the usual short name).
      d.statement = this.text.maskText(stmt.statementName ?? '');
      d.portal = this.text.maskText(stmt.portal ?? '');
      if (stmt.maxRows) d.max_rows = stmt.maxRows;
    }
    return d;
  }

  /** The hooks the proxy calls. */
  hooks(): SessionHooks {
    const { attach, onClientActivity, prepareRows, onPortal, parseReadsOtherwise } = this.c.inner;
    return {
      onStatement: (stmt) => this.onStatement(stmt),
      onBackendMessage: (frame, stmt) => this.onBackendMessage(frame, stmt),
      onRows: (buf, from, to, stmt) => this.onRows(buf, from, to, stmt),
      onStatementEnd: (stmt, result) => this.onStatementEnd(stmt, result),
      onCommitFailed: (ns, sqlstate, more, block) => this.onCommitFailed(ns, sqlstate, more, block),
      onClientGone: () => this.refuseHeld(),
      ...(attach ? { attach: attach.bind(this.c.inner) } : {}),
      ...(prepareRows ? { prepareRows: prepareRows.bind(this.c.inner) } : {}),
      ...(onClientActivity ? { onClientActivity: onClientActivity.bind(this.c.inner) } : {}),
      ...(onPortal ? { onPortal: onPortal.bind(this.c.inner) } : {}),
      ...(parseReadsOtherwise ? { parseReadsOtherwise: parseReadsOtherwise.bind(this.c.inner) } : {}),
    };
  }

  /**
   * The client sent a CancelRequest: a statement waiting for an approval, or for its record to be durable before
   * it is forwarded, is cancelled (refused with 57014): `local`. `upstream`: the server may be running one of the
   * session's statements (one with an intent, forwarded), so the cancel goes there too; not when all the server
   * has is idle (a cancel sent then is ignored, or reaches the statement the client sends next).
   */
  cancelWaiting(): { local: boolean; upstream: boolean } {
    const local = this.held.size > 0 || this.unforwarded.size > 0;
    let upstream = !local;
    for (const n of this.intents.keys()) if (!this.unforwarded.has(n)) upstream = true;
    for (const end of [...this.held]) end(CANCELLED);
    for (const end of [...this.unforwarded.values()]) end();
    return { local, upstream };
  }

  /** The inner hooks' `session.end` detail (masked totals); stops their timers. */
  sessionDetail(): Record<string, unknown> {
    return this.c.inner.sessionEnd?.() ?? {};
  }

  /**
   * Synchronous when it can be (policy decided at once and the statement is a read: it is forwarded while
   * its record is written), so the proxy's hot path takes no promise round trip; a promise otherwise.
   */
  private onStatement(stmt: Statement): StatementDecision | Promise<StatementDecision> {
    const decision = this.c.inner.onStatement ? this.c.inner.onStatement(stmt) : ALLOW;
    if (!(decision instanceof Promise)) return this.decideAndRecord(stmt, decision);
    // A decision still being made (a catalog lookup) when the session ends is waited for (settle), so its intent,
    // if any, is written before session.end and gets its closing pg.query there.
    return this.holding.add(decision.then((d) => this.decideAndRecord(stmt, d)));
  }


  /**
   * A hold passes through (the proxy shows its notice); what it resolves to is recorded like the rest. The
   * client's CancelRequest ends the wait (cancelWaiting): its statement is refused with 57014, as a statement
   * waiting on a lock is cancelled, and whatever the approval later comes to is neither recorded nor run. So
   * does the end of the session (settle), before session.end is written.
   */
  private decideAndRecord(stmt: Statement, decision: StatementDecision): StatementDecision | Promise<StatementDecision> {
    if (decision.action === 'hold') {
      let end: (d: StatementDecision) => void = () => {};
      const ended = new Promise<StatementDecision>((resolve) => { end = resolve; });
      this.held.add(end);
      // Ended from here (cancel, session end): the hold is told, so a decision that comes later does nothing.
      const until = this.holding.add(Promise.race([decision.until, ended.then((d) => { decision.abort?.(); return d; })])
        .finally(() => this.held.delete(end)).then((d) => this.decideAndRecord(stmt, d)));
      return { ...decision, until };
    }
    const facts = this.facts(stmt);
    const detail = this.describe(stmt, facts);
    if (decision.action === 'deny') {
      this.c.inner.statementRefused?.(stmt);
      return this.recordDenial(detail, decision);
    }
    // Results of earlier statements ride in the same group commit as this intent.
    this.flushDeferred();
    const running: { seq: number | null; detail: Record<string, unknown>; written?: Promise<void> } = { seq: null, detail };
    this.intents.set(stmt.n, running);
    const written = this.c.sink.append(this.event('pg.intent', 'pending', detail)).then(({ seq }) => { running.seq = seq; });
    running.written = written;
    this.statements++;
    this.c.transcript?.addTagged('query', detail);
    if (facts.pureRead) {
      // A read may run while its record is written; the proxy holds its response until `durable`.
      this.track(written);
      return { action: 'allow', durable: written };
    }
    return this.awaitIntent(stmt, written);
  }

  private async recordDenial(detail: Record<string, unknown>, decision: Extract<StatementDecision, { action: 'deny' }>): Promise<StatementDecision> {
    this.denied++;
    // Results of earlier statements first, as an intent does: the log keeps the session's statement order.
    this.flushDeferred();
    await this.c.sink.append(this.event('pg.query', 'denied', { ...detail, rule: decision.rule, sqlstate: decision.sqlstate ?? '42501' }));
    this.c.transcript?.add({ t: 'denied', ...detail, rule: decision.rule });
    return decision;
  }

  /**
   * Anything but a read runs only once its record is durable (fail closed). A cancel meanwhile (cancelWaiting)
   * refuses it with 57014, as the server refuses a statement cancelled while it waits for a lock, and its
   * pg.query says so (result `cancelled`, after its intent): with fsync durability under load that wait is
   * where a quick Ctrl-C lands, and a cancel forwarded then reaches an idle server, which ignores it.
   */
  private async awaitIntent(stmt: Statement, written: Promise<void>): Promise<StatementDecision> {
    const started = performance.now();
    let cancel!: () => void;
    const cancelled = new Promise<true>((resolve) => { cancel = () => resolve(true); });
    this.unforwarded.set(stmt.n, cancel);
    let refused = false;
    try {
      refused = await Promise.race([written.then(() => false), cancelled]);
      // Its pg.query follows its intent, and comes before anything the client sends once it has the 57014: the
      // answer waits for the intent (the statement is not run either way; a failed intent is the 58030 below).
      if (refused) await written;
    } catch (e) {
      this.intents.delete(stmt.n);
      this.statements--;
      this.c.inner.statementRefused?.(stmt);
      this.c.onProblem(e);
      return { action: 'deny', rule: 'audit', sqlstate: '58030', message: 'pcigate could not record the statement in the audit log; it was not executed' };
    } finally {
      this.unforwarded.delete(stmt.n);
    }
    return refused ? this.cancelledUnforwarded(stmt, started) : { action: 'allow' };
  }

  /** A statement cancelled before it was forwarded (its intent durable): its pg.query, result `cancelled`. */
  private cancelledUnforwarded(stmt: Statement, started: number): StatementDecision {
    this.c.inner.statementRefused?.(stmt);
    const r: StatementResult = { outcome: 'cancelled', sqlstate: '57014', commands: [], rows: 0, dataRows: 0, suspended: false, durationMs: performance.now() - started };
    const record = this.resultRecord(stmt, r, undefined);
    // Results of statements that ended meanwhile first: the log keeps the session's statement order.
    this.flushDeferred();
    this.track(this.c.sink.append(record));
    return CANCELLED_UNFORWARDED;
  }

  /** The `pg.query` of a statement that ended (its intent's detail, `extra`, the result), and its transcript line. */
  private resultRecord(stmt: Statement, r: StatementResult, extra: Record<string, unknown> | undefined): AuditEvent {
    const running = this.intents.get(stmt.n);
    this.intents.delete(stmt.n);
    const detail = queryDetail(running?.detail ?? this.describe(stmt), extra, running?.seq ?? null, r);
    this.c.transcript?.add({ t: 'result', n: stmt.n, result: r.outcome, sqlstate: r.sqlstate ?? null, rows: r.rows, duration_ms: detail.duration_ms });
    return this.event('pg.query', r.outcome === 'success' ? 'success' : 'failure', detail);
  }

  /** The statement whose rows are sampled as far as the transcript takes them (none: -1). */
  private sampledAll = -1;

  private onBackendMessage(frame: Buffer, stmt: Statement | null): Buffer | null {
    const replaced = this.c.inner.onBackendMessage ? this.c.inner.onBackendMessage(frame, stmt) : null;
    const t = this.c.transcript;
    if (!t || !stmt) return replaced;
    const f = replaced ?? frame;
    if (f[0] === BE.DataRow) {
      // Past its sample a large result's rows leave at once (wantsRow stays false for the statement once it is).
      if (stmt.n === this.sampledAll) return replaced;
      const sampled = this.rowsSampled.get(stmt.n);
      if (!t.wantsRow(sampled?.rows ?? 0)) {
        this.sampledAll = stmt.n;
        return replaced;
      }
      const s = sampled ?? { rows: 0, whole: this.sampleWithheld(stmt) };
      s.rows++;
      this.rowsSampled.set(stmt.n, s);
      // Withheld whole: see sampleWithheld, and rows this statement did not describe (an Execute without a Describe).
      const values = dataRowValues(f);
      const cols = this.lastColumns;
      t.row(stmt.n, values, this.text, s.whole || cols?.n !== stmt.n || cols.withheld.length !== values.length ? true : cols.withheld);
    } else if (f[0] === BE.RowDescription) {
      // A session tends to repeat its queries: the last description's names are kept with a copy of it.
      // Masked here too: a role with unmask clear gets the names as the server sent them (select 1 as "4111…").
      if (!this.lastColumns || !this.lastColumns.frame.equals(f)) {
        const { names, withheld } = rowDescriptionFields(f);
        // A name that says secret and holds more than a name (`AS "password 'x'"`) is not written either.
        this.lastColumns = { frame: Buffer.from(f), names: names.map((n) => (!NAMES_SECRET.test(n) || /^[\w$]*$/.test(n) ? this.text.maskText(n) : '[redacted]')), withheld, n: stmt.n };
      }
      this.lastColumns.n = stmt.n;
      t.add({ t: 'columns', n: stmt.n, names: this.lastColumns.names });
    }
    return replaced;
  }

  /**
   * Rows as one run (SessionHooks.onRows): the DataRows the statement's sample still takes go a row at a time, as
   * onBackendMessage takes them; the rest as one run to the inner hooks, or a row at a time to inner hooks that read
   * rows one at a time only.
   */
  private onRows(buf: Buffer, from: number, to: number, stmt: Statement): Buffer[] | null {
    const inner = this.c.inner;
    const sampling = () => this.c.transcript !== undefined && buf[from] === BE.DataRow && stmt.n !== this.sampledAll;
    if (!sampling()) {
      if (inner.onRows) return inner.onRows(buf, from, to, stmt);
      if (!inner.onBackendMessage) return null;
    }
    const out: Buffer[] = [];
    for (let s = from; s < to;) {
      const sample = sampling();
      if (!sample && inner.onRows) {
        const rest = inner.onRows(buf, s, to, stmt);
        if (rest) for (const b of rest) out.push(b);
        else out.push(buf.subarray(s, to));
        break;
      }
      const e = s + 1 + buf.readInt32BE(s + 1);
      const f = buf.subarray(s, e);
      out.push((sample ? this.onBackendMessage(f, stmt) : inner.onBackendMessage?.(f, stmt)) ?? f);
      s = e;
    }
    return out;
  }

  /**
   * Whether none of a statement's sampled rows is written: its text may hold a secret (as its bind parameters are
   * withheld), a bound value names one (`… WHERE k = $1` with 'api_key'), it reads the catalogs (pg_roles.rolconfig,
   * pg_get_functiondef and pg_prepared_statements echo text the log redacted), it FETCHes or MOVEs (a cursor's query
   * is another text), or its rows may hold any column whatever they are named (a whole row as a value: `u::text`).
   */
  private sampleWithheld(stmt: Statement): boolean {
    return statementMayHoldSecret(stmt.sql) || CATALOG_OR_CURSOR.test(stmt.sql)
      || paramNamesSecret(stmt.params)
      || this.c.inner.rowsMayHoldAnyColumn?.(stmt) === true;
  }

  private onStatementEnd(stmt: Statement, r: StatementResult): void {
    this.rowsSampled.delete(stmt.n);
    this.c.inner.onStatementEnd?.(stmt, r);
    const running = this.intents.get(stmt.n);
    const late = running?.seq === null ? running.written : undefined;
    if (late || this.lateResults > 0) {
      // A read that ended before its intent was durable: its pg.query names the intent's seq, so it is made once
      // the intent is written (or failed: then null, as docs/log-format.md says). It may follow later statements'
      // intents in the log; intent_seq ties it to its own.
      // The results that end after it wait their turn behind it: the log keeps the order statements ended in.
      const extra = this.c.inner.statementDetail?.(stmt);
      const record = late ? undefined : this.resultRecord(stmt, r, extra);
      this.flushDeferred();
      this.appendInTurn(() => record ?? this.resultRecord(stmt, r, extra), late);
      return;
    }
    // Not appended at once: the next statement's intent (or a short timer) carries it into the same
    // group commit, so a statement costs one durable write, not two.
    this.deferred.push(this.resultRecord(stmt, r, this.c.inner.statementDetail?.(stmt)));
    // One timer per DEFER_MS at most, not one per statement: an intent that flushes the queue leaves it
    // armed, and it finds nothing (or only later results) to flush when it fires.
    if (!this.deferTimer) {
      this.deferTimer = setTimeout(() => { this.deferTimer = undefined; this.flushDeferred(); }, DEFER_MS);
    }
  }

  /**
   * Appends the record `make` gives once the late results before it are appended and `after` (an intent still being
   * written) has settled: the log keeps the order statements ended in.
   */
  private appendInTurn(make: () => AuditEvent, after?: Promise<unknown>): void {
    const turn = (this.lateTail ?? Promise.resolve()).then(() => after?.then(() => undefined, () => undefined));
    this.lateResults++;
    const appended = turn.then(() => this.c.sink.append(make()));
    this.lateTail = appended.then(() => undefined, () => undefined).finally(() => { if (--this.lateResults === 0) this.lateTail = undefined; });
    this.track(appended);
  }

  /**
   * The implicit transaction of an extended-protocol batch was rolled back (an error answered its Sync, or a
   * statement of it failed): its statements' pg.query records say success, as the server tagged them, and this
   * `pg.commit` record (outcome failure, the SQLSTATE) says which (`statements`: their `n`) did not last. So does
   * an explicit transaction block's rollback (`block: true`).
   */
  private onCommitFailed(ns: readonly number[], sqlstate: string | undefined, more: number, block: boolean): void {
    // After their own results: the log says what ran, then that it was rolled back.
    this.flushDeferred();
    const detail = { statements: [...ns], ...(more > 0 ? { more } : {}), sqlstate: sqlstate ?? null, rolled_back: true, ...(block ? { block: true } : {}) };
    const make = () => {
      this.c.transcript?.add({ t: 'rollback', ...detail });
      return this.event('pg.commit', 'failure', detail);
    };
    // Behind the results of reads that ended before their intents were durable (the log and the transcript name the
    // statements before saying they were rolled back).
    if (this.lateResults > 0) this.appendInTurn(make);
    else this.track(this.c.sink.append(make()));
  }

  private flushDeferred(): void {
    if (this.deferred.length === 0) return;
    const events = this.deferred.splice(0);
    for (const e of events) this.track(this.c.sink.append(e));
  }

  /** Refuses every statement held for an approval (rule session_end): its session no longer runs anything. */
  private refuseHeld(): void {
    for (const end of [...this.held]) end(SESSION_ENDED);
  }

  /** Records an auxiliary event (cancel, …) off the data path. */
  record(type: string, outcome: AuditEvent['outcome'], detail: Record<string, unknown>): void {
    this.track(this.c.sink.append(this.event(type, outcome, detail)));
  }

  private track(p: Promise<unknown>): void {
    // One reaction, not catch + finally: this runs for every record of every statement.
    const q: Promise<void> = p.then(
      () => { this.pending.delete(q); },
      (e: unknown) => { this.pending.delete(q); this.failedAppends++; this.c.onProblem(e); },
    );
    this.pending.add(q);
  }

  /**
   * Waits for every outstanding append (before session.end). A statement still waiting for an approval
   * (its client vanished meanwhile) is refused first and its refusal recorded: the session no longer runs
   * anything, and an approval given later must not put a statement in the log after session.end.
   */
  async settle(): Promise<void> {
    while (this.held.size > 0 || this.holding.size > 0) {
      this.refuseHeld();
      for (const r of await Promise.allSettled(this.holding.snapshot())) if (r.status === 'rejected') this.c.onProblem(r.reason);
    }
    // A statement allowed once its intent was durable, but whose session ended first (the client sent it and
    // vanished): never forwarded, so nothing reports its end. Its intent gets its pg.query, as a held one's.
    // (Once every intent is written: a result whose record waited for its intent's seq has been made by then.)
    await Promise.allSettled([...this.intents.values()].map((r) => r.written));
    while (this.lateTail) await this.lateTail;
    for (const [n, running] of [...this.intents]) {
      this.intents.delete(n);
      this.c.transcript?.add({ t: 'denied', ...running.detail, rule: 'session_end' });
      this.track(this.c.sink.append(this.event('pg.query', 'denied', { ...running.detail, intent_seq: running.seq, rule: 'session_end', sqlstate: '08006' })));
    }
    if (this.deferTimer) { clearTimeout(this.deferTimer); this.deferTimer = undefined; }
    this.flushDeferred();
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }
}

/**
 * `pg.query`'s detail: the intent's, then the inner hooks' extra (masked counts), then the result. Built
 * member by member into an object of one fixed shape: spreading the intent's detail made V8 build a new
 * hidden class per statement (profiled at ~3% of the proxy's CPU). Absent members stay `undefined`, which
 * canonical JSON and the transcript drop, so the record is the same as a spread would give.
 */
function queryDetail(base: Record<string, unknown>, extra: Record<string, unknown> | undefined, intentSeq: number | null, r: StatementResult) {
  const d: Record<string, unknown> & { duration_ms: number } = {
    n: base.n, protocol: base.protocol, sql: base.sql, command: base.command, kind: base.kind,
    params: base.params, statement: base.statement, portal: base.portal, max_rows: base.max_rows,
    masked: undefined, intent_seq: intentSeq, result: r.outcome, sqlstate: r.sqlstate ?? null, commands: r.commands,
    rows: r.rows, data_rows: r.dataRows, suspended: r.suspended, duration_ms: Math.round(r.durationMs * 1000) / 1000,
  };
  for (const k in base) if (!(k in d)) d[k] = base[k];
  if (extra) for (const k in extra) if (!RESULT_MEMBERS.has(k)) d[k] = extra[k];
  return d;
}

/** Members of `pg.query` that the result sets: the inner hooks' extra detail cannot override them. */
const RESULT_MEMBERS: ReadonlySet<string> = new Set(['intent_seq', 'result', 'sqlstate', 'commands', 'rows', 'data_rows', 'suspended', 'duration_ms']);

/** DataRow (§55.7): Int16 column count, then per column Int32 length (−1 = NULL) and bytes. */
function dataRowValues(f: Buffer): (Buffer | null)[] {
  const n = f.readInt16BE(5);
  const out: (Buffer | null)[] = [];
  let off = 7;
  for (let i = 0; i < n; i++) {
    const len = f.readInt32BE(off);
    off += 4;
    if (len < 0) { out.push(null); continue; }
    out.push(f.subarray(off, off + len));
    off += len;
  }
  return out;
}

/** A text that reads the catalogs or a cursor's rows (sampleWithheld). */
const CATALOG_OR_CURSOR = /pg_|information_schema|\b(?:fetch|move)\b/i;
/** Type OIDs of a record, a record[] and the first a database defines (a table's row type, a composite, a domain, an enum). */
const RECORD = 2249;
const RECORD_ARRAY = 2287;
const FIRST_USER_OID = 16384;

/**
 * RowDescription (§55.7): Int16 field count, then per field its name and 18 bytes of attributes (table OID, column
 * number, type OID …). `withheld`: a sampled value of the field is not written, its name saying secret (password_hash,
 * api_key) or its type a row (`SELECT u FROM users u` holds every column of users, whatever they are named).
 */
function rowDescriptionFields(f: Buffer): { names: string[]; withheld: boolean[] } {
  const n = f.readInt16BE(5);
  const names: string[] = [];
  const withheld: boolean[] = [];
  let off = 7;
  for (let i = 0; i < n; i++) {
    const [name, next] = readCString(f, off);
    const type = f.readUInt32BE(next + 6);
    names.push(name);
    withheld.push(namesSecret(name) || type === RECORD || type === RECORD_ARRAY || type >= FIRST_USER_OID);
    off = next + 18;
  }
  return { names, withheld };
}
