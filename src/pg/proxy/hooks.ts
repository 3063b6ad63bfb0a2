/**
 * The seams through which the broker (policy, masking, recording) acts on a proxied session without the
 * proxy knowing about any of them (ARCHITECTURE.md §2: pg knows nothing of policy or recording).
 */
import type { PcigateError } from '../../errors.js';

/** A bind parameter as the client sent it: text (format 0) or binary (format 1), or SQL NULL. */
export type BindParam = { format: 'text'; value: string } | { format: 'binary'; value: Uint8Array } | null;

/** One statement about to be executed: a simple Query, an extended-protocol Execute, or a FunctionCall. */
export interface Statement {
  /** 1-based order of the statement in the session. */
  n: number;
  protocol: 'simple' | 'extended' | 'function';
  /** The SQL text (for a FunctionCall: `function <oid>`). */
  sql: string;
  /**
   * The text of this Execute's statement is not known to pcigate (`sql` is ''): its portal or statement was
   * never made on this connection as pcigate saw it, or was prepared by SQL PREPARE. Judge it unknown.
   */
  textUnknown?: true;
  /**
   * `sql` is a text the server refused at Parse under this Execute's statement name: the server runs nothing
   * under the name (26000), unless it holds a statement prepared by SQL PREPARE there, which this is not.
   */
  textRefused?: true;
  /** A FunctionCall's first argument (null: NULL), when it has one: lo_read's large-object descriptor (lo-read.ts). */
  firstArg?: Buffer | null;
  /** Bind parameters of an extended-protocol Execute (empty otherwise). */
  params: BindParam[];
  /** Type OIDs the statement's Parse declared for those parameters (0 or absent: left to the server). */
  paramTypes?: readonly number[];
  /** Name of the prepared statement ('' for the unnamed one), extended protocol only. */
  statementName?: string;
  /** Name of the portal ('' for the unnamed one), extended protocol only. */
  portal?: string;
  /** Row limit of the Execute (0 = all). */
  maxRows?: number;
  /**
   * The result formats the Bind of an Execute's portal asked for (§55.7 Bind: none, all text; one, for every
   * column; or one per column; 0 text, 1 binary), when the portal is known: what its rows' values are even when
   * no RowDescription says so (a client that sent no Describe).
   */
  resultFormats?: readonly number[];
  /**
   * The server's transaction status when the statement reaches it (ReadyForQuery's byte: 'I' idle, 'T' in
   * a transaction block, 'E' in a failed one), when the proxy knows it: nothing sent before the statement
   * that could change it (a Query, an Execute, a Sync) is still unanswered. Absent otherwise.
   */
  txStatus?: 'I' | 'T' | 'E';
  /**
   * Set by the onStatement hook when the statement may change the session's settings where only the
   * server's ParameterStatus tells, which comes just before its next ReadyForQuery: any statement that may
   * run database code policy does not read (a DO block, a function call, a write that fires a trigger, a
   * DEFAULT, a view's functions; policy-engine.ts mayChangeSettingsUnseen says which): if it runs, the proxy decides no statement the client sent
   * after it until a ReadyForQuery after it has arrived, so a report that ends the session (a misreading
   * setting) comes first. Statements that are not set so keep pipelining.
   */
  settlesFirst?: true;
  /**
   * Set by the proxy: the statement (or the Parse of its text, which the server reads then) came after a
   * `settlesFirst` one in the same extended batch, where no ReadyForQuery can come before the client's Sync,
   * so a setting it changed cannot be known yet. Refuse it.
   */
  unsettled?: true;
  /**
   * Set by the proxy: the server read this Execute's text at its Parse, when the hooks said it may read it
   * otherwise (SessionHooks.parseReadsOtherwise). The server keeps the text as it read it then, whatever the
   * settings are now. Refuse it.
   */
  parsedOtherwise?: true;
}

export type StatementDecision =
  /**
   * `durable`: forward now, but hold every byte of the statement's response until it resolves (a read
   * whose record is still being written); if it rejects, the session ends without that response.
   */
  | { action: 'allow'; durable?: Promise<unknown> }
  | {
    action: 'deny'; rule: string; message: string;
    /** default 42501 insufficient_privilege */
    sqlstate?: string;
    /** The ErrorResponse's DETAIL; default `rule: <rule>`, '' for none. */
    detail?: string;
    /**
     * The refusal as a pcigate error (PolicyDenied, ApprovalTimeout), for a caller in this process that reports
     * it by class (`pcigate exec --sql`: the exit code). Never sent: the client gets `message` and `sqlstate`.
     */
    error?: PcigateError;
  }
  | {
    action: 'hold'; until: Promise<StatementDecision>; notice?: string;
    /**
     * Called when nothing waits for `until` any more (the client cancelled, or the session ended): whatever the
     * hold later comes to must not act (an approval given later is not spent on a statement that never runs).
     */
    abort?(): void;
  };

/** How a statement ended, once the upstream said so. */
export interface StatementResult {
  outcome: 'success' | 'failure' | 'cancelled' | 'skipped';
  /** SQLSTATE of the error, when outcome is failure. */
  sqlstate?: string;
  /** CommandComplete tags, in order (`SELECT 3`, `INSERT 0 1`, …). */
  commands: string[];
  /** Rows returned or affected, summed over CommandComplete tags. */
  rows: number;
  /** DataRow messages forwarded. */
  dataRows: number;
  /** True when the Execute stopped at its row limit (PortalSuspended). */
  suspended: boolean;
  durationMs: number;
}

/**
 * Backend messages a hook may inspect or replace (the data-carrying ones, plus RowDescription for planning).
 * The startup's ParameterStatus messages are offered too (PgSession, before the relay starts).
 */
export const HOOKED_BACKEND = new Set<number>([
  0x44, // 'D' DataRow
  0x64, // 'd' CopyData
  0x45, // 'E' ErrorResponse
  0x4e, // 'N' NoticeResponse
  0x41, // 'A' NotificationResponse
  0x56, // 'V' FunctionCallResponse
  0x54, // 'T' RowDescription
  0x53, // 'S' ParameterStatus (application_name and other settings the client set come back in it)
]);

/**
 * What the broker plugs into a session. Every hook is optional.
 * - onStatement runs before a statement is forwarded; the proxy waits for it (record durably here).
 *   A throw denies the statement with a generic error (fail closed).
 * - onBackendMessage sees each HOOKED_BACKEND frame (code byte + length + body) and returns null to
 *   forward the original bytes or a replacement frame. A throw drops the message and ends the session.
 * - onStatementEnd reports the outcome of each allowed statement.
 */
export interface SessionHooks {
  onStatement?(stmt: Statement): Promise<StatementDecision> | StatementDecision;
  onBackendMessage?(frame: Buffer, stmt: Statement | null): Buffer | null;
  /**
   * With onBackendMessage: rows of `stmt` that came one after the other, whole and checked, at buf[from, to), all
   * DataRows or all CopyData (buf[from] says which; a COPY TO sends a row per CopyData), each the frame
   * onBackendMessage would be given, so a large result costs one call per read, not one per row. Null: forwarded as
   * they are; an array: the bytes that replace them, in order. Offered rows only after the first of the statement's
   * rows in a read has gone to onBackendMessage (with its description before it, when the server sent none). A throw
   * is onBackendMessage's.
   */
  onRows?(buf: Buffer, from: number, to: number, stmt: Statement): Buffer[] | null;
  /**
   * Offered each row description before onBackendMessage sees it (a RowDescription, or the description an
   * Execute's rows have when the server sends none): a promise holds it and every server frame behind it
   * (the client gets nothing more meanwhile) until it settles, so the hook can look something up first (the
   * masker: the columns' source tables). Null (the usual case) to go on at once.
   */
  prepareRows?(frame: Buffer): Promise<void> | null;
  onStatementEnd?(stmt: Statement, result: StatementResult): void;
  /**
   * An error answered a Sync: the implicit transaction of an extended-protocol batch failed to commit (a deferred
   * constraint, a serialization failure), so what its statements did was rolled back. `ns`: the statements of that
   * transaction that ended in success (reported by onStatementEnd before this), at most COMMIT_FAILED_MAX; `more`:
   * how many beyond those. `block`: the statements ran in an explicit transaction block that ended rolled back
   * (ROLLBACK, an error at COMMIT, the connection's end: tx-block.ts); `sqlstate` the block's first error, if any.
   */
  onCommitFailed?(ns: readonly number[], sqlstate: string | undefined, more: number, block: boolean): void;
  /**
   * A named portal the client bound (Bind) or closed (Close P), as it is forwarded: SQL `FETCH`/`MOVE`
   * read a portal by name, whoever made it. `sql`: the statement bound into it; null when the name now holds
   * nothing, or a statement whose text is not known yet (bound from a named Parse the server has not
   * answered: called again with its text once it has, unless the name was bound or closed again meanwhile).
   */
  onPortal?(name: string, sql: string | null): void;
  /**
   * Asked as a Parse is forwarded: whether the server may read its text otherwise than the hooks read it now
   * (a client_encoding other than UTF-8). The server converts a Parse's text when it reads it, so an Execute
   * of the statement runs that reading even after the setting has changed (Statement.parsedOtherwise).
   */
  parseReadsOtherwise?(sql: string): boolean;
  /**
   * The client vanished while the server still owed it answers (the session ends once they are read), or closed
   * after a Terminate while a statement was being decided: a statement held for an approval is refused now, as at
   * the session's end, so an approval given meanwhile runs nothing.
   */
  onClientGone?(): void;
  /** The session is ready: the control that session timers (idle timeout, maximum duration) act through. */
  attach?(control: SessionControl): void;
  /** Bytes arrived from the client (per chunk, not per message): resets idle timers. */
  onClientActivity?(): void;
}

/** What the broker may do to a running session (src/broker/session-limits.ts uses it). */
export interface SessionControl {
  /**
   * True while a statement is being decided, or the server owes the client an answer it needs nothing more
   * from the client for. False inside COPY FROM STDIN (the server waits for the client's data) and after
   * extended-protocol messages with no Sync or Flush behind them (the server holds its answers until one comes).
   */
  busy(): boolean;
  /**
   * Ends the session from pcigate's side: the client gets ErrorResponse FATAL `code` `message` (§55.8),
   * a statement still running upstream is cancelled, and `reason` becomes the session's end reason (the
   * session does not count as cleanly ended).
   */
  terminate(code: string, message: string, reason: string): void;
  /**
   * Asks the session's own server connection something before the statement being decided runs: sends
   * `messages` (extended protocol, ending in Sync) right before it and resolves with the server's answers up
   * to and without the ReadyForQuery, notices included, none of which reach the client (a notification, a
   * ParameterStatus or a FATAL does). They see exactly what the statement will see: its transaction,
   * temporary tables, search_path. Use only what leaves no trace: Parse/Describe, a catalog read (an error in
   * a transaction block aborts it, as the statement itself would). Null when it cannot be done now: the
   * statement is not a simple Query, or the client has extended-protocol messages in flight without their
   * Sync (even behind a simple Query); rejects when the session ends first.
   */
  exchange(messages: Buffer): Promise<Buffer[]> | null;
}
