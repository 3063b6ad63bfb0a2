/**
 * Relay: the ready state of a proxied session (§55.2.2–55.2.8): simple query, extended query with
 * pipelining, COPY both ways, FunctionCall, LISTEN/NOTIFY, Terminate. Client messages are decoded only
 * where a statement is executed (Query, Parse, Bind, Execute, FunctionCall) so each can be put to the
 * hooks before it is forwarded; everything else, both ways, goes through as the original bytes.
 *
 * An expectation queue mirrors what the server will answer to each forwarded message (ParseComplete for
 * Parse, CommandComplete/PortalSuspended/… for Execute, ReadyForQuery for Sync and Query). It tells which
 * statement a result belongs to, which Executes an error skipped, and where a reply pcigate makes up (a
 * denied statement) must go so the client sees responses in order.
 *
 * What the server holds under each prepared statement and portal name, and so what an Execute runs, is kept by
 * the PreparedMirror (prepared-mirror.ts): the relay tells it what each Parse, Bind, Describe and Close does as
 * it is forwarded, and what the server answered (or skipped) as the answers come back.
 */
import type net from 'node:net';
import { ProtocolError } from '../../errors.js';
import { backendMessageProblem, dataRowFits } from '../protocol/backend-check.js';
import { TERMINATE, encodeCopyFail, encodeParse, encodeQuery } from '../protocol/frontend.js';
import { misreadingParameter } from '../protocol/startup-params.js';
import { Fifo } from './fifo.js';
import type { FrameReader } from './frame-reader.js';
import {
  ClientViolation, decodeBind, decodeExecute, decodeFunctionCall, decodeParse, decodeQuery, decodeTarget, tagRows,
} from './frontend-decode.js';
import { HOOKED_BACKEND, type SessionHooks, type Statement, type StatementDecision, type StatementResult } from './hooks.js';
import { PreparedMirror, type MirrorChange, type Portal, type Prepared } from './prepared-mirror.js';
import { TxBlock } from './tx-block.js';
import { BE, FE, errorMessage, parseErrorFields, readCString, readyForQuery, type ErrorFields } from './wire.js';

/**
 * What a Parse, Bind or Describe works on: a prepared statement or a portal. An error answering it is the
 * failure of the first Execute of that statement or portal behind it (see {@link forExecute}).
 */
type Target = { statement: string; portal?: undefined } | { portal: string; statement?: undefined };

/** An entry answering a Parse, Bind, Describe or Close: nothing runs, syncs or ends a transaction there. */
const isPrep = (e: Expect): boolean => e.kind === 'parse' || e.kind === 'bind' || e.kind === 'describe' || e.kind === 'close';

/** `after`: replies pcigate made up, sent right after the server's answer to this entry. */
type Expect =
  /**
   * `change`: what a Parse or a Close S did to the mirror, undone if it fails (PreparedMirror.undo). `bound`: the
   * portal a Bind made in the mirror, unknown if it fails (PreparedMirror.unbind).
   */
  | { kind: 'parse' | 'bind'; after: Buffer[]; target: Target; change?: MirrorChange; bound?: Portal }
  | { kind: 'close'; after: Buffer[]; change?: MirrorChange }
  /**
   * `portal`: a Describe of that portal (its description fits the Execute behind it exactly). `prep`: the
   * prepared statement described (directly, or the one the portal was bound from), taken when the Describe was
   * read: its description is kept for the statement's later Executes.
   */
  | { kind: 'describe'; after: Buffer[]; target: Target; portal?: string; prep?: Prepared | undefined }
  /**
   * `copyEnded`: how many CopyDone or CopyFail the client sent behind it, in its COPYs' data or ahead of their
   * CopyInResponse (a Query may run several COPYs); `copies`: the CopyInResponses it had so far. `firstCopy`: the
   * clientSeq of the first CopyData, CopyDone or CopyFail sent for it (behind it, or in the COPY it began).
   */
  | { kind: 'execute'; run: Running; after: Buffer[]; copyEnded?: number; copies?: number; firstCopy?: number }
  /**
   * `rolledBack`: an error ended the Query's implicit transaction, undoing what of it had completed: statements of
   * an unsynced batch before the Query, the Query itself (`ns`, `more`: as implicitDone).
   */
  | { kind: 'query'; run: Running; after: Buffer[]; copyEnded?: number; copies?: number; firstCopy?: number; rolledBack?: { ns: number[]; more: number } }
  /** `beforeCopyEnd`: sent after a statement and before the k-th CopyDone/CopyFail the client sent behind it ahead. */
  /** `endsBatch`: extended messages were sent before it since the last Sync (relay.unsynced). */
  /** `seq`: the client's Sync, the clientSeq-th message it sent. */
  | { kind: 'sync'; inject: Buffer | null; errored: boolean; after: Buffer[]; beforeCopyEnd?: number; endsBatch?: true; seq?: number }
  /**
   * pcigate's ABORT_TX: the server's error is not shown (the client got pcigate's), its ReadyForQuery is.
   * `batch`: ABORT_BATCH instead, answered by the error alone (the client's Sync behind it answers the rest).
   * `sqlstate`: that of the refusal the client got (or gets at that Sync).
   */
  | { kind: 'abort'; after: Buffer[]; batch?: true; sqlstate?: string | undefined }
  /** pcigate's own messages (SessionControl.exchange): their answers go to `settle`, not to the client. */
  | { kind: 'exchange'; frames: Buffer[]; settle: (r: Buffer[] | Error) => void; after: Buffer[] };

/**
 * Sent upstream after a statement pcigate refused, so the server's transaction fails as it would have had
 * the statement failed there (§55.2.3: an error in a transaction block leaves it failed, status 'E',
 * every statement answered 25P02 until ROLLBACK; COMMIT rolls back). The server keeps the state, so
 * savepoints, COMMIT-as-ROLLBACK and pipelines behave exactly as Postgres defines; outside a transaction
 * block it fails on its own and changes nothing. It runs no user code: the DO body only raises.
 */
const ABORT_TX = encodeQuery("DO $pcigate$BEGIN RAISE EXCEPTION 'pcigate: a statement was refused by policy; the transaction is aborted'; END$pcigate$");

/**
 * Sent upstream right before the client's Sync after an Execute pcigate refused (the client's messages
 * between them are dropped): it fails the server's transaction as that Execute failing there would have,
 * and the Sync behind it ends the batch as the client's. A Parse that fails in parse analysis (the literal is
 * no integer) under a name of pcigate's: nothing is stored, nothing runs, and unlike a simple Query (ABORT_TX)
 * it leaves the client's unnamed prepared statement and portal alone (postgres.c drops those at every simple
 * Query and at a Parse of the unnamed statement), as a failed Execute would have.
 */
const ABORT_BATCH = encodeParse({ name: 'pcigate_refused', sql: "SELECT 'pcigate: a statement was refused by policy; the transaction is aborted'::pg_catalog.int4", paramTypes: [] });

/** ABORT_BATCH with its own Sync: answered by the error and a ReadyForQuery, as ABORT_TX is. */
const ABORT_BATCH_SYNC = Buffer.concat([ABORT_BATCH, Buffer.from([FE.Sync, 0, 0, 0, 4])]);

/** Stands for a ReadyForQuery whose status byte is known only when it is sent. */
const RFQ_MARK = Buffer.from('RFQ');

/**
 * Sent upstream (endUpstream) when pcigate ends a session that sits in COPY FROM STDIN: the server is waiting for
 * data, and CopyFail ends the COPY at once (§55.2.6: nothing of it is kept). One for pcigate's own end, one for a
 * client that vanished (onClientClose).
 */
const COPY_FAIL_ENDED = encodeCopyFail('pcigate: the session was ended by pcigate');
const COPY_FAIL_VANISHED = encodeCopyFail('pcigate: the client disconnected');

/** Flush (§55.7): the server sends what it owes so far; nothing else changes. */
const FLUSH = Buffer.from([FE.Flush, 0, 0, 0, 4]);

/**
 * Command tags of the statements whose effects an implicit transaction's rollback surely undoes: data manipulation
 * (SELECT, also CREATE TABLE AS and SELECT INTO; a function called can neither commit nor roll back). Not the
 * effects outside the transaction (nextval, dblink): docs/log-format.md.
 */
const IMPLICIT_TAG = /^(INSERT|UPDATE|DELETE|MERGE|SELECT|COPY)\b/;
/** ReadyForQuery's status byte when no transaction block is open. */
const TX_IDLE = 0x49;
/** Most statement numbers one onCommitFailed lists (a client may pipeline any number before its Sync). */
const COMMIT_FAILED_MAX = 1000;

interface Running {
  stmt: Statement;
  started: number;
  result: StatementResult;
  /** 'pending' while the statement's record is not yet durable: its response is held back. */
  gate: 'open' | 'pending' | 'failed';
  /**
   * The RowDescription its rows will have when the server sends none (an Execute not behind a Describe of its
   * portal): the statement's own description with the Bind's formats, shown to the hooks before its first row.
   */
  describe?: Buffer | undefined;
  /**
   * The portal an Execute runs whose statement had no description when the Execute was sent (a Describe S of it
   * pipelined in the same batch is answered only before the rows): its description is taken from the mirror
   * at the first DataRow (rowsDescription). None then: the rows have none of their own, and the hooks see none.
   */
  describeFrom?: Portal | undefined;
}

export interface RelayOptions {
  client: net.Socket;
  upstream: net.Socket;
  clientReader: FrameReader;
  upstreamReader: FrameReader;
  hooks: SessionHooks;
  /** Monotonic milliseconds, for statement durations. */
  now(): number;
  /** An internal failure (hook threw, protocol error): logged by the owner, never shown to the client. */
  onInternalError(e: unknown): void;
  /** Called once when both sides are done. */
  onEnd(info: { reason: string; clean: boolean }): void;
  /** Sends a CancelRequest upstream (used when the client vanishes mid-statement). */
  cancelUpstream(): Promise<void>;
  /**
   * How long the server may take to answer what a vanished client left it (onClientClose) before its connection
   * is cut and what is unanswered is recorded as failed (08006). Default VANISHED_DRAIN_MS.
   */
  vanishedDrainMs?: number;
}

/** The default RelayOptions.vanishedDrainMs. */
const VANISHED_DRAIN_MS = 10_000;

/** backendMessageProblem takes any CopyData body. */
const anyCopyData = (): boolean => true;

/** Bytes of a gated response (its record not yet durable) held before the server is paused. */
const GATE_BUFFER_MAX = 256 * 1024;

/**
 * Bytes a client may send behind a statement being decided (held for approval, say) before its socket is paused.
 * Below it the socket is read on, so a client that goes meanwhile is seen going: a paused socket reports no end
 * while bytes it has read wait in it, and the held statement would run on an approval given after the client left.
 */
const DECIDING_INPUT_MAX = 1024 * 1024;

const GENERIC: ErrorFields = { severity: 'FATAL', code: 'XX000', message: 'pcigate: internal error; the session was closed (details are in the audit log)' };
const UNRECORDED: ErrorFields = { severity: 'FATAL', code: '58030', message: 'pcigate could not record the statement in the audit log; its result is withheld and the session was closed' };

export class Relay {
  /** A Fifo, not an array: a client pipelining many Syncs makes it long, and it is taken from the head. */
  private readonly expect = new Fifo<Expect>();
  /**
   * The last Execute or Query put in `expect`, while it is there: entries leave only from the head (the Syncs
   * onCopyIn folds in are never runs), so it is the last run in the queue. copyEndAhead marks it without
   * walking back over the Syncs after it (a client's 20K Syncs and 20K CopyDones held the event loop 1.6 s).
   */
  private lastRun: Extract<Expect, { kind: 'execute' | 'query' }> | undefined;
  /** The statements and portals the server holds, by what the client sent and the server answered. */
  private readonly mirror: PreparedMirror;
  /**
   * Statements whose Running gets a `describe`, or the portal to take it from at the first row (`describeFrom`):
   * set when the Execute is read, taken when it is admitted.
   */
  private readonly descriptions = new WeakMap<Statement, Buffer | Portal>();
  private statementCount = 0;
  /** After a denied Execute, client messages are dropped until Sync (what the server does after an error). */
  private discarding: Buffer | null = null;
  /**
   * How many expectations at the tail of `expect` were sent after the client's last Sync, Flush or Query:
   * the server need not answer them until the client sends one (§55.2.3: it buffers its replies), so a
   * client that stops there is waiting for nothing and is idle.
   */
  private unflushed = 0;
  /** The server sent CopyInResponse and waits for the client's CopyData/CopyDone/CopyFail (§55.2.6). */
  private copyIn = false;
  /**
   * The server reported an error in an extended-protocol batch before its Sync was forwarded (it sends an
   * error at once, while pcigate may still be deciding a statement of the batch): it ignores every message
   * until that Sync, so none of them is answered. The error's SQLSTATE, for the Executes it skips; `failed`:
   * what the message the error answered works on, while no Execute has been charged with the error yet.
   */
  private serverSkipping: { sqlstate: string | undefined; failed: Target | null } | null = null;
  private pumping = false;
  private ended = false;
  private clientGone = false;
  private upstreamGone = false;
  private sawFatal = false;
  /** The client sent Terminate: its connection ends when the server's does, as it would directly. */
  private clientTerminated = false;
  /**
   * The client is gone (vanished, or sent away by terminate()) while the server owed it answers: the session's end
   * reason, once the server has given them (drain), and the SQLSTATE of what it never answers. Nothing more of the
   * client's is forwarded.
   */
  private vanished: { reason: string; sqlstate: string } | null = null;
  private drainTimer: NodeJS.Timeout | undefined;
  private out: Buffer[] = [];
  bytesIn = 0;
  bytesOut = 0;

  constructor(private readonly o: RelayOptions) {
    this.mirror = new PreparedMirror(o.hooks);
  }

  get statements(): number {
    return this.statementCount;
  }

  /** Takes over both sockets. Bytes already buffered in the readers are processed first. */
  start(): void {
    const { client, upstream } = this.o;
    const activity = this.o.hooks.onClientActivity;
    client.on('data', (b: Buffer) => {
      this.bytesIn += b.length;
      activity?.();
      this.o.clientReader.push(b);
      // Only while a hook decides is the pump busy when data comes (the frame loop is synchronous): see DECIDING_INPUT_MAX.
      if (this.pumping && this.o.clientReader.buffered > DECIDING_INPUT_MAX) client.pause();
      void this.pumpClient();
    });
    upstream.on('data', (b: Buffer) => this.onUpstreamData(b));
    client.on('close', () => this.onClientClose());
    upstream.on('close', () => this.onUpstreamClose());
    // A client gone after its Terminate (libpq closes at once) resets what pcigate still writes it: expected.
    client.on('error', (e) => { if (!this.clientTerminated) this.o.onInternalError(e); });
    upstream.on('error', (e) => this.o.onInternalError(e));
    if (this.o.upstreamReader.buffered > 0) this.onUpstreamData(null);
    // The connector hands the upstream socket over paused (nothing is lost before these listeners exist).
    upstream.resume();
    this.o.hooks.attach?.({
      busy: () => this.busy(),
      terminate: (code, message, reason) => this.terminate(code, message, reason),
      exchange: (messages) => this.exchange(messages),
    });
    void this.pumpClient();
  }

  /**
   * SessionControl.busy: a statement is being decided, or the server owes the client an answer it does not
   * need more client input for. Not busy, so idle once the client stays silent: in COPY FROM STDIN (the
   * server waits for the client's data) and after extended-protocol messages with no Sync or Flush behind
   * them (the server keeps its answers until one comes), which covers the discarding after a denied Execute.
   */
  private busy(): boolean {
    // A vanished client's session is reading the server's last answers: no idle limit applies.
    if (this.vanished) return true;
    return this.pumping || (!this.copyIn && this.expect.length > this.unflushed);
  }

  /**
   * Ends the session for a session limit (SessionControl.terminate): FATAL to the client, nothing after it. Not
   * clean: the session did not end as the client chose (session.end outcome failure, as for SSH). The server's side
   * ends as for a vanished client (drain): what it was sent it answers, cancelled if it runs, so each statement is
   * recorded as the server ended it (a COMMIT sent with no Sync, then idle, committed); what it never answers is
   * recorded with the SQLSTATE the client was sent (57P05 idle, 57P01 a deadline).
   */
  private terminate(code: string, message: string, reason: string): void {
    if (this.ended || this.vanished) return;
    this.writeClient([errorMessage({ severity: 'FATAL', code, message })]);
    this.o.client.end();
    this.clientGone = true;
    if (this.expect.length > 0) { this.drain(reason, code, COPY_FAIL_ENDED); return; }
    this.endUpstream();
    this.finish(reason, false, code);
  }

  /**
   * SessionControl.exchange: `messages` (extended protocol, ending in Sync) go to the server right before the
   * simple Query being decided, and their answers come back here instead of reaching the client. Only then:
   * the server has been sent nothing the client is still composing (no extended-protocol batch without its
   * Sync, even behind a simple Query; no COPY FROM STDIN, no error being skipped to a Sync), so the Sync ends
   * only pcigate's messages, and nothing of the client's runs between them and the Query. Null otherwise.
   */
  private exchange(messages: Buffer): Promise<Buffer[]> | null {
    if (this.deciding?.protocol !== 'simple' || !this.synced() || this.copyIn || this.serverSkipping || this.discarding
      || this.ended || this.upstreamGone || this.clientGone) return null;
    return new Promise((resolve, reject) => {
      this.pushExpect({ kind: 'exchange', frames: [], settle: (r) => { if (r instanceof Error) reject(r); else resolve(r); }, after: [] });
      this.forward(messages);
      this.flushUpstream();
    });
  }

  /**
   * Whether every extended-protocol message the server has been sent is followed by a Sync: answered or not (a
   * Flush has the server answer a batch whose implicit transaction stays open), a batch without its Sync would be
   * ended, and committed, by pcigate's. A simple Query (or FunctionCall, or pcigate's abort) does not end a batch:
   * after an error in it the server ignores Queries too until the Sync (postgres.c's ignore_till_sync).
   */
  private synced(): boolean {
    return !this.unsynced;
  }

  /** Extended-protocol messages have been forwarded since the last Sync (synced()); kept by pushExpect. */
  private unsynced = false;

  /**
   * The last statement admitted with Statement.settlesFirst, until a ReadyForQuery after its end arrives;
   * `settleWaiters` are the client's statements waiting for that (resolved then, or when the session ends).
   */
  private settling: Running | null = null;
  private settleWaiters: Array<() => void> = [];

  /** Whether a ReadyForQuery is owed at or after `run`'s own answer: its Query's, or a Sync's behind it. */
  private readyComing(run: Running): boolean {
    let i = this.expect.findIndex((e) => (e.kind === 'query' || e.kind === 'execute') && e.run === run);
    if (i < 0) i = 0;
    for (; i < this.expect.length; i++) {
      const k = this.expect.at(i)!.kind;
      if (k === 'query' || k === 'sync') return true;
    }
    return false;
  }

  /** The settling statement has ended and a ReadyForQuery has come after it: its waiters go on. */
  private settle(): void {
    this.settling = null;
    for (const w of this.settleWaiters.splice(0)) w();
  }

  /** The statement being decided (set before its hook runs; the client is not read until it is applied). */
  private deciding: Statement | null = null;

  /** Ends the session from pcigate's side (shutdown): the client gets a FATAL 57P01, upstream a Terminate. */
  shutdown(message: string): void {
    // A vanished client's session ends once the server has answered what it left (or vanishedDrainMs is up).
    if (this.ended || this.vanished) return;
    this.writeClient([errorMessage({ severity: 'FATAL', code: '57P01', message })]);
    this.o.client.end();
    this.endUpstream();
  }

  // ---- client → upstream -------------------------------------------------------------------------

  private async pumpClient(): Promise<void> {
    // Nothing a client sends after its Terminate is read (the server would not read it either), nor after
    // pcigate ended the session for a limit (terminate).
    if (this.pumping || this.ended || this.clientTerminated || this.vanished) return;
    this.pumping = true;
    try {
      for (;;) {
        const f = this.backlog.length > 0 ? this.backlog.shift()! : this.nextClientFrame();
        if (!f) break;
        const pending = this.onClientFrame(f);
        if (pending) {
          // A hook is deciding: send what came before. The client is read on (its going is seen), what it sends
          // waits in the reader, up to DECIDING_INPUT_MAX.
          this.flushUpstream();
          await pending;
          if (!this.ended && !this.clientGone) this.o.client.resume();
        }
        if (this.ended || this.clientTerminated || this.vanished) return;
      }
      // What is left in the reader is one partial frame: keep reading until it is whole, however big.
      this.flushUpstream();
    } catch (e) {
      if (e instanceof ClientViolation) this.clientViolation(e);
      else this.fail(e);
    } finally {
      this.pumping = false;
    }
  }

  /** The next client frame; a length out of range (below 4, above the limit) is a ClientViolation. */
  private nextClientFrame(): Buffer | null {
    try {
      return this.o.clientReader.next();
    } catch (e) {
      throw new ClientViolation(e instanceof Error ? e.message : String(e), { cause: e });
    }
  }

  /**
   * The client sent a message pcigate cannot read: it cannot be judged, so neither it nor anything behind it is
   * read or forwarded. What came before it is finished as after a Terminate (the server runs it and answers, the
   * answers are recorded and masked as any), then the client gets FATAL 08P01 saying what was wrong (as the server
   * answers a bad message length) and the session ends, not clean; the log has a pg.error with the reason.
   */
  private clientViolation(e: ClientViolation): void {
    if (this.ended) return;
    this.o.onInternalError(e);
    this.violation = errorMessage({ severity: 'FATAL', code: '08P01', message: `pcigate: invalid message from the client (${e.message}); the session was closed` });
    this.flushUpstream();
    // The server reads the Terminate after what it was sent (in COPY FROM STDIN, a CopyFail first ends the COPY);
    // skipping to a Sync it ignores it, and then ends at the end of the connection, which follows.
    this.endUpstream();
    this.o.client.pause();
    this.clientTerminated = true;
    if (this.expect.length === 0) {
      this.writeClient([this.violation]);
      this.o.client.end();
      this.clientGone = true;
      this.finish('client protocol violation', false, '08P01');
    }
  }

  /** The FATAL a client that broke the protocol gets once what it sent before is answered (clientViolation). */
  private violation: Buffer | null = null;

  private forward(f: Buffer): void {
    const last = this.out[this.out.length - 1];
    // Adjacent frames of one chunk go out as one slice.
    if (last && last.buffer === f.buffer && last.byteOffset + last.length === f.byteOffset) {
      this.out[this.out.length - 1] = Buffer.from(f.buffer, last.byteOffset, last.length + f.length);
    } else {
      this.out.push(f);
    }
  }

  private flushUpstream(): void {
    // Nothing goes after pcigate's own end of the server's side (shutdown: a client's Terminate may follow).
    if (this.out.length === 0 || this.upstreamGone || this.o.upstream.writableEnded) { this.out = []; return; }
    const chunk = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out);
    this.out = [];
    if (!this.o.upstream.write(chunk)) {
      this.o.client.pause();
      this.o.upstream.once('drain', () => { if (!this.pumping && !this.clientGone) this.o.client.resume(); });
    }
  }

  /** Handles one client frame; returns a promise when a hook must be awaited. */
  private onClientFrame(f: Buffer): Promise<void> | null {
    const code = f[0];
    if (this.discarding) {
      // A Terminate ends the session as the client chose: nothing it dropped ran, its transaction is rolled back.
      if (code === FE.Terminate) {
        this.discarding = null;
        return this.onClientFrame(f);
      }
      if (code !== FE.Sync) return null;
      // A server already skipping to this Sync (an error earlier in the batch) has failed the transaction
      // itself, and would ignore the abort too.
      const skipping = this.serverSkipping !== null;
      if (!skipping) {
        this.forward(ABORT_BATCH);
        this.pushExpect({ kind: 'abort', after: [], batch: true, sqlstate: parseErrorFields(this.discarding.subarray(5)).get('C') });
      }
      this.forward(f);
      this.pushExpect({ kind: 'sync', inject: this.discarding, errored: skipping, after: [] });
      this.unflushed = 0;
      this.discarding = null;
      this.endSkipping();
      return null;
    }
    this.clientSeq++;
    // A COPY fails at its data, CopyDone or CopyFail, or at another message sent in its data (FATAL in PostgreSQL 15).
    if (code === FE.CopyData || code === FE.CopyDone || code === FE.CopyFail || (this.copyIn && code !== FE.Sync && code !== FE.Flush)) {
      const copying = this.copyActive ? this.copyStmt : this.lastRun;
      if (copying && copying.firstCopy === undefined) copying.firstCopy = this.clientSeq;
    }
    if (this.copyIn) {
      // In COPY FROM STDIN the server ignores Sync and Flush (§55.2.6): they are answered by nothing, unless the COPY
      // fails before the server reads the Sync (copyFailed).
      if (code === FE.Sync || code === FE.Flush) {
        this.forward(f);
        if (code === FE.Sync) this.copySyncs.push(this.clientSeq);
        return null;
      }
      if (code === FE.CopyDone || code === FE.CopyFail) {
        this.copyIn = false;
        // Counted with those sent ahead (copyEndAhead): the statement's next COPY is ended by the next one.
        if (this.copyStmt) this.copyStmt.copyEnded = (this.copyStmt.copyEnded ?? 0) + 1;
      }
    } else if (code === FE.CopyDone || code === FE.CopyFail) {
      this.copyEndAhead();
    }
    if (this.serverSkipping && (code === FE.Parse || code === FE.Bind || code === FE.Describe || code === FE.Close)) {
      // Ignored by the server until Sync: forwarded (as the client sent it) and expected to get no answer.
      if (code === FE.Parse) {
        const p = decodeParse(f);
        this.mirror.skippedParse(p.name, p.sql, p.types);
      } else if (code === FE.Bind) {
        const b = decodeBind(f);
        this.mirror.skippedBind(b.portal, b.statement, b.params, b.resultFormats);
      }
      this.forward(f);
      return null;
    }
    switch (code) {
      case FE.Query:
        return this.statement(f, { protocol: 'simple', sql: decodeQuery(f), params: [] });
      case FE.FunctionCall: {
        const c = decodeFunctionCall(f);
        return this.statement(f, { protocol: 'function', sql: `function ${c.oid}`, params: [], ...(c.firstArg !== undefined ? { firstArg: c.firstArg } : {}) });
      }
      case FE.Parse: {
        const p = decodeParse(f);
        // The server converts the text as it reads it, under the settings the statements before it leave, and
        // keeps it so: a statement before it may have changed them unseen (Statement.settlesFirst). As for a
        // statement (see statement()): when that one's ReadyForQuery is coming, this waits for it, so the hooks
        // know the settings the server reads the text under; in the same batch none comes, and no report
        // tells them ever after.
        if (this.settling && !readAlike(p.sql) && this.readyComing(this.settling)) {
          return new Promise<void>((resolve) => { this.settleWaiters.push(resolve); })
            .then(() => (this.ended || this.vanished ? undefined : this.onClientFrame(f) ?? undefined));
        }
        const otherwise = this.settling && !readAlike(p.sql) ? 'unsettled' : this.o.hooks.parseReadsOtherwise?.(p.sql) ? 'hooks' : undefined;
        const change = this.mirror.parse(p.name, p.sql, p.types, otherwise);
        this.forward(f);
        this.pushExpect({ kind: 'parse', after: [], target: { statement: p.name }, change });
        this.unflushed++;
        return null;
      }
      case FE.Bind: {
        const b = decodeBind(f);
        const bound = this.mirror.bind(b.portal, b.statement, b.params, b.resultFormats);
        this.forward(f);
        this.pushExpect({ kind: 'bind', after: [], target: { portal: b.portal }, bound });
        this.unflushed++;
        return null;
      }
      case FE.Execute: {
        const e = decodeExecute(f);
        const portal = this.mirror.portal(e.portal, this.serverSkipping !== null);
        const unsure = portal && this.mirror.unsure(portal);
        if (portal && unsure) {
          // Bound from a named Parse the server has not answered: judged once it has (a Flush asks for it),
          // as the statement the server bound. When it refused the Parse that is the one it already held
          // under the name: the mirror's, or one prepared by SQL, unknown here and so refused (no text).
          this.forward(FLUSH);
          this.unflushed = 0;
          return unsure.settled.then(() => {
            this.mirror.resolve(portal, unsure);
            if (this.ended || this.vanished) return;
            return this.onClientFrame(f) ?? undefined;
          });
        }
        // Behind a Describe of its portal the server sends the rows' description itself.
        const tail = this.expect.at(this.expect.length - 1);
        const describe = portal && !(tail?.kind === 'describe' && tail.portal === e.portal) ? this.mirror.executeDescription(portal) ?? portal : undefined;
        return this.statement(f, this.mirror.executeStatement(portal, e.portal, e.maxRows), describe);
      }
      case FE.Describe: {
        const t = decodeTarget(f);
        this.forward(f);
        const prep = this.mirror.describes(t.kind, t.name);
        this.pushExpect(t.kind === 'P'
          ? { kind: 'describe', after: [], target: { portal: t.name }, portal: t.name, prep }
          : { kind: 'describe', after: [], target: { statement: t.name }, prep });
        this.unflushed++;
        return null;
      }
      case FE.Close: {
        const t = decodeTarget(f);
        let change: MirrorChange | undefined;
        if (t.kind === 'S') change = this.mirror.closeStatement(t.name); else this.mirror.closePortal(t.name);
        this.forward(f);
        this.pushExpect({ kind: 'close', after: [], change });
        this.unflushed++;
        return null;
      }
      case FE.Sync:
        this.forward(f);
        this.pushExpect({ kind: 'sync', inject: null, errored: this.serverSkipping !== null, after: [], seq: this.clientSeq });
        this.unflushed = 0;
        this.endSkipping();
        return null;
      case FE.Flush:
        // The server sends what it owes so far: the client now waits for those answers.
        this.forward(f);
        this.unflushed = 0;
        return null;
      case FE.Terminate:
        // The server drops what it holds for a Flush when it reads a Terminate: answers to messages sent with no
        // Sync or Flush behind them (an Execute of a COMMIT commits all the same). A Flush has it send them, so
        // they are recorded as it ran them.
        if (this.unflushed > 0) this.forward(FLUSH);
        this.forward(f);
        this.flushUpstream();
        if (!this.o.upstream.writableEnded) this.o.upstream.end();
        // The server closes the connection after Terminate (§55.2.10), once it has sent what it owed; the
        // client's side closes when the server's has (onUpstreamClose), so no answer before it is cut off.
        this.clientTerminated = true;
        // What the server still owes is what it still runs: a statement sent with the Terminate right
        // behind it executes all the same. Its answers are handled as any (recorded with their real
        // outcome, masked, pcigate's own answers kept from the client) until the server closes.
        if (this.expect.length === 0) this.finish('client terminated', true);
        return null;
      default:
        // CopyData/CopyDone/CopyFail, Flush and anything else: the server judges them.
        this.forward(f);
        return null;
    }
  }

  private statement(f: Buffer, s: Omit<Statement, 'n'>, describe?: Buffer | Portal): Promise<void> | null {
    if (this.settling && !readAlike(s.sql)) {
      // A statement admitted before may have changed settings the server reports only before its next
      // ReadyForQuery (Statement.settlesFirst), and this text could read otherwise under them. When one is
      // coming, this waits for it (the client is not read meanwhile); in the same extended batch none comes
      // before the client's Sync: refused.
      if (this.readyComing(this.settling)) {
        return new Promise<void>((resolve) => { this.settleWaiters.push(resolve); })
          .then(() => (this.ended || this.vanished ? undefined : this.statement(f, s, describe) ?? undefined));
      }
      s = { ...s, unsettled: true };
    }
    const stmt: Statement = { n: ++this.statementCount, ...s };
    if (describe) this.descriptions.set(stmt, describe);
    const status = this.statusAhead();
    if (status) stmt.txStatus = status;
    const hook = this.o.hooks.onStatement;
    if (!hook) { this.admit(f, stmt); return null; }
    let d: StatementDecision | Promise<StatementDecision>;
    this.deciding = stmt;
    try {
      d = hook(stmt);
    } catch (e) {
      d = Promise.reject(e);
    }
    // A decision made at once (a read allowed by policy, its record being written) is applied at once:
    // no promise round trip, and the client is not paused (the hot path of a busy session).
    if (d instanceof Promise || d.action === 'hold') return this.decide(f, stmt, d);
    this.deciding = null;
    return this.apply(f, stmt, d) ?? null;
  }

  /**
   * The transaction status the server will have when it reaches the message being handled: the last
   * ReadyForQuery's, unless something that can change it (Query, Execute, Sync, pcigate's abort) is still
   * unanswered. Parse, Bind, Describe and Close do not change it.
   */
  private statusAhead(): 'I' | 'T' | 'E' | undefined {
    if (!this.onlyPrepOwed()) return undefined;
    return this.txStatus === 0x45 ? 'E' : this.txStatus === 0x54 ? 'T' : 'I';
  }

  private async decide(f: Buffer, stmt: Statement, pending: StatementDecision | Promise<StatementDecision>): Promise<void> {
    let d: StatementDecision;
    try {
      d = await pending;
      while (d.action === 'hold') {
        if (d.notice) this.replyInOrder([errorMessage({ severity: 'NOTICE', code: '00000', message: d.notice }, true)], false);
        d = await d.until;
      }
    } catch (e) {
      this.o.onInternalError(e);
      d = { action: 'deny', rule: 'internal', message: 'pcigate could not process the statement; it was not executed' };
    } finally {
      this.deciding = null;
    }
    return this.apply(f, stmt, d);
  }

  private apply(f: Buffer, stmt: Statement, d: Exclude<StatementDecision, { action: 'hold' }>): Promise<void> | undefined {
    if (this.ended || this.vanished) return undefined;
    if (d.action === 'allow') { this.admit(f, stmt, d.durable); return undefined; }
    const err = errorMessage({ severity: 'ERROR', code: d.sqlstate ?? '42501', message: d.message, detail: d.detail ?? `rule: ${d.rule}` });
    if (stmt.protocol === 'extended') {
      // Like a server error mid-batch: the error, then nothing until Sync, then ReadyForQuery.
      this.discarding = err;
    } else if (this.batchOwed()) {
      // A Query or FunctionCall behind a batch without its Sync: if the server failed in that batch it skips to the
      // client's Sync, this statement included, and pcigate's abort would end that skip early (ABORT_BATCH_SYNC's
      // Sync: the client's next messages would run where the server skips them). The batch's answers are asked for
      // and waited for, so serverSkipping says which it is.
      this.forward(FLUSH);
      // Sent now: a decision that took a promise comes after the client's reader flushed what was forwarded.
      this.flushUpstream();
      this.unflushed = 0;
      return new Promise<void>((resolve) => { this.answerWaiters.push(resolve); }).then(() => this.apply(f, stmt, d));
    } else {
      this.replyInOrder([err], false);
      // While the server skips an errored batch to its Sync it would ignore this Query, and it ignores the
      // abort too (no ReadyForQuery answers it); that error fails the transaction already.
      if (!this.serverSkipping) this.abortUpstreamTx(d.sqlstate ?? '42501', stmt.protocol === 'function');
    }
    return undefined;
  }

  /**
   * Parse, Bind, Describe, Execute or Close answers owed after the last Sync sent: a batch the server may fail in. Not
   * while a COPY FROM STDIN runs: the server answers nothing more until the client's data, so none is waited for.
   */
  private batchOwed(): boolean {
    if (this.copyActive) return false;
    for (let i = this.expect.length - 1; i >= 0; i--) {
      const k = this.expect.at(i)!.kind;
      if (k === 'sync') return false;
      if (k === 'parse' || k === 'bind' || k === 'describe' || k === 'execute' || k === 'close') return true;
    }
    return false;
  }

  /** Statements waiting for batchOwed() to turn false (resolved then, or when the session ends). */
  private answerWaiters: Array<() => void> = [];

  /**
   * Fails the server's transaction after a refused statement (see ABORT_TX); its ReadyForQuery answers. After
   * a FunctionCall, ABORT_BATCH and a Sync instead: a simple Query drops the client's unnamed statement and
   * portal (postgres.c), a FunctionCall does not, and neither does a failing Parse.
   */
  private abortUpstreamTx(sqlstate: string, function_ = false): void {
    this.forward(function_ ? ABORT_BATCH_SYNC : ABORT_TX);
    if (function_) this.unsynced = false; // ABORT_BATCH_SYNC's own Sync ends the batch
    this.pushExpect({ kind: 'abort', after: [], sqlstate });
    this.unflushed = 0;
  }

  private admit(f: Buffer, stmt: Statement, durable?: Promise<unknown>): void {
    const described = this.descriptions.get(stmt);
    const run: Running = {
      stmt, started: this.o.now(), gate: durable ? 'pending' : 'open',
      describe: Buffer.isBuffer(described) ? described : undefined, describeFrom: Buffer.isBuffer(described) ? undefined : described,
      result: { outcome: 'success', commands: [], rows: 0, dataRows: 0, suspended: false, durationMs: 0 },
    };
    durable?.then(
      () => { run.gate = 'open'; this.ungate(); },
      (e: unknown) => {
        run.gate = 'failed';
        this.o.onInternalError(e);
        // The statement ran but its record is not durable: none of its response may reach the client.
        if (this.ended) return;
        if (!this.clientGone) { this.writeClient([errorMessage(UNRECORDED)]); this.o.client.end(); }
        this.o.upstream.destroy();
        // Its pg.query (and any behind it) says what the client was told; it may land once space is back.
        this.finish('audit record could not be written', false, '58030');
      },
    );
    this.forward(f);
    if (stmt.settlesFirst && !this.serverSkipping) this.settling = run;
    if (this.serverSkipping) {
      // The server ignores it (an error earlier in its batch; a simple Query or FunctionCall too, until
      // Sync: postgres.c's ignore_till_sync) and answers nothing: it ends now, as onError ends those. The
      // Execute whose own Parse or Bind got the error failed; any other was skipped.
      const { sqlstate, failed } = this.serverSkipping;
      const charged = failed !== null && forExecute(failed, stmt);
      if (charged) this.serverSkipping.failed = null;
      run.result.outcome = charged ? (sqlstate === '57014' ? 'cancelled' : 'failure') : 'skipped';
      run.result.sqlstate = sqlstate;
      this.end(run, false);
    } else if (stmt.protocol === 'extended') {
      this.lastRun = { kind: 'execute', run, after: [] };
      this.pushExpect(this.lastRun);
      this.unflushed++;
    } else {
      // A Query (or FunctionCall) ends with ReadyForQuery: the server answers everything before it too.
      this.lastRun = { kind: 'query', run, after: [] };
      this.pushExpect(this.lastRun);
      this.unflushed = 0;
    }
  }

  /**
   * Sends pcigate-made replies after every response still owed to the client, so order is kept. With
   * `rfq` a ReadyForQuery follows, with the transaction status the server last reported.
   */
  private replyInOrder(msgs: Buffer[], rfq: boolean): void {
    const all = rfq ? [...msgs, RFQ_MARK] : msgs;
    const tail = this.expect.at(this.expect.length - 1);
    if (tail) { tail.after.push(...all); return; }
    this.writeClient(all.map((m) => (m === RFQ_MARK ? readyForQuery(this.txStatus) : m)));
  }

  private txStatus = 0x49; // 'I'
  /** Made-up replies released by the frame being handled, sent right after it. */
  private released: Buffer[] = [];

  /**
   * How many entries at the head of `expect` answer a Parse, Bind, Describe or Close (kept as entries come and
   * go: each entry is counted once, so the per-frame questions below cost O(1) however long a pipeline is).
   */
  private leadingPrep = 0;

  /** Queues what the server will answer, and keeps leadingPrep and `unsynced` (a Sync notes if it ends a batch). */
  private pushExpect(e: Expect): void {
    const prep = isPrep(e);
    if (this.leadingPrep === this.expect.length && prep) this.leadingPrep++;
    if (prep || e.kind === 'execute') this.unsynced = true;
    else if (e.kind === 'sync') {
      if (this.unsynced) e.endsBatch = true;
      this.unsynced = false;
    }
    this.expect.push(e);
  }

  private countLeadingPrep(): number {
    let i = 0;
    while (i < this.expect.length && isPrep(this.expect.at(i)!)) i++;
    return i;
  }

  /** Only Parse, Bind, Describe and Close answers are owed (none that runs, syncs or ends a transaction). */
  private onlyPrepOwed(): boolean {
    return this.leadingPrep === this.expect.length;
  }

  /** Removes the head expectation; its made-up replies go out after the current frame. */
  private shift(): Expect | undefined {
    const e = this.expect.shift();
    if (this.leadingPrep > 0) this.leadingPrep--;
    else this.leadingPrep = this.countLeadingPrep();
    if (e === this.lastRun) this.lastRun = undefined;
    if (e && e.after.length > 0) this.released.push(...e.after);
    // The server may answer unflushed messages early (its buffer filled, or an error).
    if (this.unflushed > this.expect.length) this.unflushed = this.expect.length;
    if (this.answerWaiters.length > 0 && !this.batchOwed()) for (const w of this.answerWaiters.splice(0)) w();
    return e;
  }

  // ---- upstream → client -------------------------------------------------------------------------

  private onUpstreamData(b: Buffer | null): void {
    if (b) this.o.upstreamReader.push(b);
    const batch: Buffer[] = [];
    // Adjacent frames of one chunk go out as one slice: the run is tracked by offsets and a Buffer is made
    // once per run, not once per frame (a large result is a DataRow or CopyData per row).
    let run: Buffer | null = null;
    let runEnd = 0;
    const close = () => {
      if (!run) return;
      batch.push(runEnd === run.byteOffset + run.length ? run : Buffer.from(run.buffer, run.byteOffset, runEnd - run.byteOffset));
      run = null;
    };
    const emit = (x: Buffer) => {
      if (run && run.buffer === x.buffer && runEnd === x.byteOffset) { runEnd += x.length; return; }
      close();
      run = x;
      runEnd = x.byteOffset + x.length;
    };
    let failed: { e: unknown } | null = null;
    this.inUpstreamData = true;
    try {
      for (;;) {
        if (this.gated()) break;
        const f = this.preparedFrame ?? this.nextUpstreamFrame();
        if (!f) break;
        // Offered too: the description the hooks are shown before the first row of an Execute the server
        // describes nowhere (Running.describe: a statement described once, executed again and again).
        const offer = f === this.preparedFrame || !this.o.hooks.prepareRows ? undefined
          : f[0] === BE.RowDescription ? f : f[0] === BE.DataRow ? this.rowsDescription(this.running()) : undefined;
        if (offer) {
          const p = this.o.hooks.prepareRows!(offer);
          if (p) {
            // Held (with everything behind it) until the hook is ready for it: see gated().
            this.preparedFrame = Buffer.from(f);
            this.preparing = true;
            this.gateWait = true;
            const go = () => { this.preparing = false; this.ungate(); };
            p.then(go, (e: unknown) => { this.o.onInternalError(e); go(); });
            break;
          }
        }
        this.preparedFrame = null;
        this.onUpstreamFrame(f, emit);
        if ((f[0] === BE.DataRow || f[0] === BE.CopyData) && this.o.hooks.onRows && this.o.hooks.onBackendMessage) this.rowRun(f[0], emit);
      }
    } catch (e) {
      failed = { e };
    }
    this.inUpstreamData = false;
    close();
    this.writeClient(batch);
    this.reportEnded();
    if (failed?.e instanceof UpstreamViolation) {
      this.upstreamViolation(failed.e);
    } else if (failed?.e instanceof MisreadingSetting) {
      this.terminate('0A000', `pcigate: the server now reads statements otherwise than policy does (${failed.e.message}); the session was closed`, 'server reads SQL text otherwise than policy');
      // What the server sent behind the setting (its statement's CommandComplete, ReadyForQuery) is read now that
      // the session drains: no more data may come to read it (the server has answered everything it was sent).
      if (this.vanished && !this.ended) this.onUpstreamData(null);
    } else if (failed) {
      this.fail(failed.e);
    }
  }

  private inUpstreamData = false;

  /**
   * The rows (DataRows or CopyData: `code`) already read right behind the one just handled, when they are the running
   * statement's (not an exchange's, their description shown), go to the hooks as one run (SessionHooks.onRows): a
   * large result is a message per row, and handling each in the loop above cost as much as masking it. Each is
   * checked as nextUpstreamFrame checks one; the run stops before one that fails, which the loop then meets.
   */
  private rowRun(code: number, emit: (b: Buffer) => void): void {
    const h = this.head();
    if (!h || (h.kind !== 'query' && h.kind !== 'execute') || this.endedRuns.length > 0) return;
    const { run } = h;
    if (run.describe !== undefined || run.describeFrom !== undefined) return;
    const r = this.o.upstreamReader.runOf(code, code === BE.DataRow ? dataRowFits : anyCopyData);
    if (!r) return;
    if (code === BE.DataRow) run.result.dataRows += r.count;
    const out = this.o.hooks.onRows!(r.buf, r.from, r.to, run.stmt);
    if (out === null) emit(r.buf.subarray(r.from, r.to));
    else for (const b of out) emit(b);
  }

  /**
   * The next server message, checked before anything reads or forwards it (backend-check.ts): one the server
   * cannot send (an unknown type, a body its type does not have) could carry data past the masking hooks.
   */
  private nextUpstreamFrame(): Buffer | null {
    let f: Buffer | null;
    try {
      f = this.o.upstreamReader.next();
    } catch (e) {
      throw new UpstreamViolation(e instanceof Error ? e.message : String(e), { cause: e });
    }
    const why = f && backendMessageProblem(f);
    if (why) throw new UpstreamViolation(why);
    return f;
  }

  /**
   * The server broke the protocol: nothing more of it is read or forwarded (what came before the bad message was
   * checked and masked as usual), the client gets FATAL 08P01 saying so, and the session ends (not clean).
   */
  private upstreamViolation(e: UpstreamViolation): void {
    if (this.ended) return;
    this.o.onInternalError(e);
    if (!this.clientGone) {
      const message = e instanceof LostTrack ? `pcigate: ${e.message}; the session was closed` : `pcigate: the upstream server sent an invalid message (${e.message}); the session was closed`;
      this.writeClient([errorMessage({ severity: 'FATAL', code: '08P01', message })]);
      this.o.client.end();
    }
    this.o.upstream.destroy();
    this.finish(e instanceof LostTrack ? 'lost track of the server' : 'upstream protocol violation', false, '08P01');
  }

  /** Statements whose response is complete, reported to the hooks once the response went out. */
  private readonly endedRuns: Running[] = [];

  /** onStatementEnd for the statements that ended in the frames just forwarded (off the latency path). */
  private reportEnded(): void {
    for (let i = 0; i < this.endedRuns.length; i++) {
      const run = this.endedRuns[i]!;
      try {
        this.o.hooks.onStatementEnd?.(run.stmt, run.result);
      } catch (e) {
        this.o.onInternalError(e);
      }
    }
    this.endedRuns.length = 0;
  }

  /**
   * True while the statement at the head (or the Execute right behind the Parse, Bind, Describe and Close answers
   * at the head: runAhead) has a record still being written, or a RowDescription waits for
   * the hooks (prepareRows): the response waits in the reader. The server is paused only once
   * GATE_BUFFER_MAX bytes wait (a small response, the usual case with fsync durability, costs no
   * pause/resume per statement; a large one cannot grow memory).
   */
  private gated(): boolean {
    const run = this.running() ?? this.runAhead();
    if (!this.preparing && (!run || run.gate === 'open')) return false;
    this.gateWait = true;
    if (!this.gatePaused && this.o.upstreamReader.buffered > GATE_BUFFER_MAX) { this.gatePaused = true; this.o.upstream.pause(); }
    return true;
  }

  /**
   * The Execute right behind the Parse, Bind, Describe and Close answers at the head: its response starts with
   * them (a RowDescription of its portal, its statement's), so they wait for its record as its rows do.
   */
  private runAhead(): Running | null {
    const e = this.expect.at(this.leadingPrep);
    return e?.kind === 'execute' ? e.run : null;
  }

  private gateWait = false;
  private gatePaused = false;
  /**
   * A RowDescription the hooks are preparing for (prepareRows), or the first DataRow of an Execute whose
   * description they are (Running.describe), handled once they are: it and what follows wait.
   */
  private preparedFrame: Buffer | null = null;
  private preparing = false;

  private ungate(): void {
    if (!this.gateWait || this.ended) return;
    this.gateWait = false;
    if (this.gatePaused) {
      this.gatePaused = false;
      if (!this.upstreamGone) this.o.upstream.resume();
    }
    this.onUpstreamData(null);
    if (this.closeWhenUngated && !this.gateWait) {
      this.closeWhenUngated = false;
      this.onUpstreamClose();
    }
  }

  /**
   * The description `run`'s next rows have when the server sends none (Running.describe), shown to the hooks
   * before the first of them. One not known when the Execute was sent is taken from the mirror now
   * (Running.describeFrom): a Describe S answered before the rows has been kept by then. None: the hooks get the
   * rows alone, and do not mask them by another statement's description.
   */
  private rowsDescription(run: Running | null): Buffer | undefined {
    if (!run) return undefined;
    if (run.describeFrom) {
      run.describe = this.mirror.executeDescription(run.describeFrom);
      run.describeFrom = undefined;
    }
    return run.describe;
  }

  private head(): Expect | undefined {
    return this.expect.at(0);
  }

  private running(): Running | null {
    const h = this.head();
    return h && (h.kind === 'execute' || h.kind === 'query') ? h.run : null;
  }

  private onUpstreamFrame(f: Buffer, emit: (b: Buffer) => void): void {
    const code = f[0]!;
    const h = this.head();
    // The answers to pcigate's own messages; what the server sends unasked (a notification, a parameter
    // change) still goes to the client. A notice is an answer too: a warning raised parsing the COPY's query
    // is raised again by the COPY itself, with the position in the client's own text.
    if (h?.kind === 'exchange' && code !== BE.NotificationResponse && code !== BE.ParameterStatus) {
      if (code === BE.ErrorResponse && isFatal(parseErrorFields(f.subarray(5)))) {
        // The server ends the session (terminated, shutting down): the client gets its reason, as for any
        // statement; pcigate's question is answered when the connection closes.
        this.sawFatal = true;
        emit(this.o.hooks.onBackendMessage?.(f, null) ?? f);
        return;
      }
      if (code !== BE.ReadyForQuery) { h.frames.push(Buffer.from(f)); return; }
      this.txStatus = f[5]!;
      this.shift();
      h.settle(h.frames);
      this.emitReleased(emit);
      return;
    }
    const run = this.running();
    // Before the describe leaves the queue: the Execute behind it is then the second entry.
    const described = code === BE.RowDescription && h?.kind === 'describe' ? this.describedExecute(h) : null;
    if (h?.kind === 'describe' && h.prep && (code === BE.RowDescription || code === BE.NoData)) {
      this.mirror.setDescription(h.prep, code === BE.RowDescription ? f : undefined);
    }
    switch (code) {
      case BE.DataRow:
        if (run) run.result.dataRows++;
        break;
      case BE.CommandComplete:
        // A COPY FROM STDIN that succeeded read every Sync sent in its data in copy mode, and ignored them.
        if (this.copyActive) this.endCopy(false);
        if (run) {
          const tag = readCString(f, 5)[0];
          run.result.commands.push(tag);
          run.result.rows += tagRows(tag);
          if (h?.kind === 'execute') this.end(run);
        }
        break;
      case BE.EmptyQueryResponse:
        if (h?.kind === 'execute') this.end(h.run);
        break;
      case BE.PortalSuspended:
        if (h?.kind === 'execute') { h.run.result.suspended = true; this.end(h.run); }
        break;
      case BE.ParseComplete: case BE.BindComplete: case BE.CloseComplete:
        if (h && (h.kind === 'parse' || h.kind === 'bind' || h.kind === 'close')) {
          if (h.kind !== 'bind' && h.change) this.mirror.answered(h.change);
          else if (h.kind === 'bind' && h.bound) this.mirror.bindAnswered(h.bound);
          this.shift();
        }
        break;
      case BE.RowDescription: case BE.NoData:
        if (h?.kind === 'describe') this.shift();
        break;
      case BE.CopyInResponse:
        this.onCopyIn();
        break;
      case BE.ErrorResponse:
        // An error ends COPY FROM STDIN; the server drops the client's remaining copy messages (§55.2.6).
        this.copyIn = false;
        // Not the COPY's own failure: the server ends the session (FATAL), or pcigate failed the COPY itself (drain).
        if (this.copyActive) this.endCopy(!this.vanished && !this.o.upstream.writableEnded && !isFatal(parseErrorFields(f.subarray(5))));
        if (h?.kind === 'abort') {
          // The client already has pcigate's own error (or gets it at the Sync, ABORT_BATCH). That abort fails the
          // implicit transaction of the batch it ends or joins (a refused Query behind a batch answered by a
          // Flush): what of it had completed is rolled back, as by the refused statement's own failure (onError).
          if (h.batch) this.shift();
          this.txBlock.aborted(h.sqlstate);
          if (this.implicitDone.length > 0 || this.implicitMore > 0) this.commitFailed(h.sqlstate);
          return;
        }
        this.onError(f);
        break;
      case BE.ReadyForQuery:
        this.onReady(f, emit);
        return;
      case BE.ParameterStatus: {
        const [name, at] = readCString(f, 5);
        const why = misreadingParameter(name, readCString(f, at)[0]);
        // Not forwarded, nor anything behind it (the results of a statement the server read otherwise):
        // thrown out of the frame loop, which costs the loop nothing per frame. A vanished client's session
        // decides nothing more: the server's last answers are read on.
        if (why && !this.vanished) throw new MisreadingSetting(why);
        break;
      }
      default:
        break;
    }
    if (HOOKED_BACKEND.has(code) && this.o.hooks.onBackendMessage) {
      // Ended statements are reported before the next one's data is inspected (per-statement counts).
      if (this.endedRuns.length > 0) this.reportEnded();
      if (run && code === BE.DataRow && this.rowsDescription(run)) {
        // The rows of an Execute the server describes nowhere: the hooks see its description first.
        this.o.hooks.onBackendMessage(run.describe!, run.stmt);
        run.describe = undefined;
      }
      const subject = run?.stmt ?? described;
      const replaced = this.o.hooks.onBackendMessage(f, subject);
      emit(replaced ?? f);
    } else {
      emit(f);
    }
    this.emitReleased(emit);
  }

  /**
   * The statement a Describe of a portal describes: the Execute of that portal right behind it (libpq and
   * pgjdbc send Bind, Describe portal, Execute), whose rows the description's types and formats then fit
   * exactly. Null for a Describe of a statement (formats unknown until Bind) or anything else in between.
   */
  private describedExecute(d: Extract<Expect, { kind: 'describe' }>): Statement | null {
    const next = this.expect.at(1); // d is the head
    return d.portal !== undefined && next?.kind === 'execute' && next.run.stmt.portal === d.portal ? next.run.stmt : null;
  }

  private emitReleased(emit: (b: Buffer) => void): void {
    if (this.released.length === 0) return;
    for (const m of this.released) emit(m === RFQ_MARK ? readyForQuery(this.txStatus) : m);
    this.released = [];
  }

  /** The Sync that ends the server's skipping has been forwarded. */
  private endSkipping(): void {
    this.serverSkipping = null;
    this.mirror.endSkipping();
  }

  private onError(f: Buffer): void {
    const fields = parseErrorFields(f.subarray(5));
    const sqlstate = fields.get('C');
    if (isFatal(fields)) this.sawFatal = true;
    const h = this.head();
    if (!h) return;
    if (h.kind === 'query') {
      { h.run.result.outcome = sqlstate === '57014' ? 'cancelled' : 'failure'; h.run.result.sqlstate = sqlstate; }
      // A Query runs in an implicit transaction when the server was idle (§55.2.2.1), several statements too, and
      // the commit at its end is part of it; one sent behind an unsynced batch joins the batch's. The error rolls
      // back what of it had completed (claimed only for data manipulation, as for a batch: a BEGIN, COMMIT, DO or
      // CALL among them makes it unsure). Said after the Query's own record, at its ReadyForQuery.
      const done = h.run.result.commands;
      if (!this.unsure && done.every((t) => IMPLICIT_TAG.test(t))) {
        if (done.length > 0) this.noteDone(h.run.stmt.n);
        if (this.implicitDone.length > 0) h.rolledBack = { ns: this.implicitDone, more: this.implicitMore };
      }
      this.implicitDone = [];
      this.implicitMore = 0;
      return;
    }
    // The Sync's commit failed, or a statement of a batch the server began idle failed (its implicit transaction
    // aborts): the statements it would have committed were rolled back. Their own records (success, the server's
    // tags) go first.
    if ((h.kind !== 'sync' || !h.errored) && (this.implicitDone.length > 0 || this.implicitMore > 0)) this.commitFailed(sqlstate);
    // Extended protocol: the server skips everything up to the next Sync, a simple Query sent before that
    // Sync included (it never runs and is answered by nothing). The error answers the head. When that is
    // an Execute, that statement failed. When it is the Parse, Bind or Describe of a statement (a syntax
    // error or missing table at Parse; at Bind a bad parameter, or an error the planner raises folding a
    // constant, as `1/0`), the statement that failed is the first Execute behind it of what that message
    // worked on: recorded as failed, not as skipped like the Executes the error kept from running.
    let failed: Target | null = h.kind === 'parse' || h.kind === 'bind' || h.kind === 'describe' ? h.target : null;
    // The Parses and Closes S the error answered or skipped: undone in the mirror.
    const unparsed: MirrorChange[] = [];
    while (this.expect.length > 0 && this.expect.at(0)!.kind !== 'sync') {
      const e = this.shift()!;
      if ((e.kind === 'parse' || e.kind === 'close') && e.change) unparsed.push(e.change);
      if (e.kind === 'bind' && e.bound) this.mirror.unbind(e.target.portal!, e.bound);
      if (e.kind === 'execute' || e.kind === 'query') {
        const charged = e === h || (failed !== null && forExecute(failed, e.run.stmt));
        if (charged) failed = null;
        e.run.result.outcome = charged ? (sqlstate === '57014' ? 'cancelled' : 'failure') : 'skipped';
        e.run.result.sqlstate = sqlstate;
        this.end(e.run, false);
      }
    }
    this.mirror.undo(unparsed, h.kind === 'parse' || h.kind === 'close' ? h.change : undefined, sqlstate);
    const s = this.expect.at(0);
    if (s?.kind === 'sync') s.errored = true;
    else if (!s) this.serverSkipping = { sqlstate, failed };
  }

  /**
   * The server waits for COPY data (§55.2.6). It ignores every Sync and Flush until CopyDone/CopyFail, so
   * Syncs the client sent right behind the COPY's Execute or Query (libpq sends Parse/Bind/Describe/Execute/Sync in
   * one go, then CopyDone and another Sync) are answered by nothing: they leave the queue, and what the
   * client sent before its next Sync or Flush waits unanswered again.
   */
  private onCopyIn(): void {
    const h = this.head();
    this.copyActive = true;
    this.copySyncs = [];
    this.copyStmt = h?.kind === 'execute' || h?.kind === 'query' ? h : undefined;
    // A statement refused behind the COPY waits no longer (batchOwed): the client paused for it would never send the data.
    for (const w of this.answerWaiters.splice(0)) w();
    if (h?.kind !== 'execute' && h?.kind !== 'query') {
      this.copyIn = true;
      return;
    }
    // A client that sent its data and CopyDone/CopyFail without waiting for CopyInResponse has ended the COPY
    // already: what it sends next is not copy data. The k-th COPY of a Query is ended by the k-th such message.
    const k = (h.copies ?? 0) + 1;
    h.copies = k;
    const ended = (h.copyEnded ?? 0) >= k;
    this.copyIn = !ended;
    while (this.expect.length > 1) {
      const next = this.expect.at(1)!;
      // The Syncs the server reads in this COPY's data: those sent before its CopyDone/CopyFail (and after the one
      // before), or, not ended yet, those sent so far. One sent after its CopyDone/CopyFail is read after the COPY:
      // it is answered.
      if (next.kind !== 'sync' || next.inject || (ended ? next.beforeCopyEnd !== k : next.beforeCopyEnd !== undefined)) break;
      this.expect.removeAt(1);
      // Read in copy mode, unless the COPY fails before it (copyFailed).
      this.copySyncs.push(next.seq ?? Infinity);
      h.after.push(...next.after);
      // The batch it would have ended goes on (a COPY's Execute's, or one a Query joined).
      if (next.endsBatch) this.unsynced = true;
    }
    let i = this.expect.length;
    while (i > 0 && this.expect.at(i - 1)!.kind !== 'sync' && this.expect.at(i - 1)!.kind !== 'query' && this.expect.at(i - 1)!.kind !== 'abort') i--;
    this.unflushed = this.expect.length - i;
  }

  /**
   * A COPY FROM STDIN has begun (CopyInResponse) and not ended (CommandComplete, ErrorResponse): `copyStmt`, the
   * statement that began it. `copySyncs`: the client's Syncs the server reads in its data (sent in it, or between
   * its statement and CopyInResponse), by clientSeq, which counts the client's messages.
   */
  private copyActive = false;
  private copyStmt: Extract<Expect, { kind: 'execute' | 'query' }> | undefined;
  private copySyncs: number[] = [];
  private clientSeq = 0;

  /** The COPY FROM STDIN under way ended; `failed`: with an error. */
  private endCopy(failed: boolean): void {
    const syncs = this.copySyncs;
    const first = this.copyStmt?.firstCopy ?? 0;
    // A Query's next COPY counts from its own data.
    if (this.copyStmt) delete this.copyStmt.firstCopy;
    this.copyActive = false;
    this.copySyncs = [];
    this.copyStmt = undefined;
    if (failed && syncs.length > 0) this.copyFailed(syncs, first);
  }

  /**
   * The COPY failed, and the client had sent Sync where the server reads copy data (which ignores it, §55.2.6). One
   * read after the failure ends the skip to a Sync the failure began (a COPY run by Execute), or is a Sync like any
   * other (a Query's COPY): either way ReadyForQuery answers it. A COPY fails at one of its messages (bad data, a
   * CopyDone whose checks fail, a CopyFail; any other message there ends the connection), so a Sync sent before the
   * first of them was read before the failure; one that is the last message the client sent was read after it. Any
   * other could be either, and what the server's next answers belong to cannot be told: the session ends
   * (LostTrack) rather than guess.
   */
  private copyFailed(syncs: readonly number[], firstCopyMsg: number): void {
    if (firstCopyMsg === 0) return;
    const after = syncs.filter((n) => n > firstCopyMsg);
    if (after.length === 0) return;
    if (after.length > 1 || after[0] !== this.clientSeq) throw new LostTrack('a COPY failed after the client sent Sync inside its data, and which of those the server answers cannot be told');
    this.pushExpect({ kind: 'sync', inject: null, errored: false, after: [] });
  }

  /**
   * The client sent CopyDone or CopyFail before pcigate saw CopyInResponse (it did not wait for it, §55.2.6
   * allows that): it ends the COPY of the last statement sent before it, if that starts one, and the Syncs
   * sent between that statement and it are the ones the server reads in copy mode and ignores (onCopyIn).
   * If the statement starts no COPY the server ignores the message, and so does this mark.
   */
  private copyEndAhead(): void {
    const e = this.lastRun;
    if (!e) return;
    const k = (e.copyEnded ?? 0) + 1;
    e.copyEnded = k;
    for (let j = this.expect.length - 1; j >= 0; j--) {
      const s = this.expect.at(j)!;
      if (s === e) break;
      if (s.kind === 'sync') {
        if (s.beforeCopyEnd !== undefined) break;
        s.beforeCopyEnd = k;
      }
    }
  }

  private onReady(f: Buffer, emit: (b: Buffer) => void): void {
    const head = this.head();
    // Only a Query's (or FunctionCall's), a Sync's or pcigate's abort's answer is a ReadyForQuery. Any other means a
    // Sync reached the server that pcigate did not count, and the answers after it would be taken for others'.
    if (!this.vanished && (this.serverSkipping !== null || (head?.kind !== 'sync' && head?.kind !== 'query' && head?.kind !== 'abort'))) {
      throw new LostTrack(`the server answered a Sync pcigate did not expect (${head?.kind ?? 'nothing'} was owed)`);
    }
    this.txStatus = f[5]!;
    this.copyIn = false;
    const h = this.shift();
    // Idle or in a block: what the statements before did is committed or waits for the block's end. (A new array
    // only when there was something: this runs once per transaction.)
    if (this.implicitDone.length > 0) this.implicitDone = [];
    this.implicitMore = 0;
    this.unsure = f[5] !== TX_IDLE;
    if (h?.kind === 'query') {
      this.end(h.run, false);
      if (h.rolledBack) this.commitFailed(h.run.result.sqlstate, h.rolledBack);
    }
    const claim = this.txBlock.ready(f[5]!);
    if (claim) this.commitFailed(claim.sqlstate, claim, true);
    if (h?.kind === 'sync' && h.inject && !h.errored) emit(h.inject);
    emit(f);
    this.emitReleased(emit);
    // A ParameterStatus the settling statement caused came before this (and ended the session if it had to).
    const settling = this.settling;
    if (settling && !this.expect.some((e) => (e.kind === 'query' || e.kind === 'execute') && e.run === settling)) this.settle();
  }

  /**
   * A statement's response is complete. While upstream frames are being forwarded its hooks run right
   * after that chunk is written to the client (the record of the result is not on the latency path);
   * otherwise (the session is ending) at once.
   */
  private end(run: Running, shift = true): void {
    if (shift) this.shift();
    run.result.durationMs = this.o.now() - run.started;
    this.endedRuns.push(run);
    if (run.stmt.protocol === 'extended') this.noteImplicit(run);
    const r = run.result;
    const claim = this.txBlock.ended(run.stmt.n, r.commands, r.outcome === 'success' ? false : r.sqlstate);
    if (claim) this.commitFailed(claim.sqlstate, claim, true);
    if (!this.inUpstreamData) this.reportEnded();
  }

  /**
   * The extended-protocol statements that succeeded in the implicit transaction the server began when it was last
   * idle (while not `unsure`): what the batch's Sync commits, and what an error in the batch or answering that Sync
   * rolls back (onError: onCommitFailed). Numbers only, and at most COMMIT_FAILED_MAX of them.
   */
  private implicitDone: number[] = [];
  private implicitMore = 0;
  /** The explicit transaction block the server is in: what its rollback undoes (tx-block.ts). */
  private readonly txBlock = new TxBlock();
  /**
   * Nothing more is noted until the next ReadyForQuery: a transaction block is open (it said so), or a statement
   * ran that is not plain data manipulation (IMPLICIT_TAG), after which what is rolled back is not known for sure:
   * a BEGIN, COMMIT or ROLLBACK (ROLLBACK TO and … AND CHAIN have the same tags), a DO or CALL that may COMMIT, a
   * statement that commits by itself (CREATE DATABASE, VACUUM, … CONCURRENTLY). No claim beats a false one.
   */
  private unsure = false;

  /**
   * The statements noted in implicitDone (or `undone`, taken from it by a Query's error) were rolled back:
   * onCommitFailed, after their own records.
   */
  private commitFailed(sqlstate: string | undefined, undone?: { ns: number[]; more: number }, block = false): void {
    const ns = undone?.ns ?? this.implicitDone;
    const more = undone?.more ?? this.implicitMore;
    this.implicitDone = [];
    this.implicitMore = 0;
    this.reportEnded();
    try {
      this.o.hooks.onCommitFailed?.(ns, sqlstate, more, block);
    } catch (e) {
      this.o.onInternalError(e);
    }
  }

  private noteImplicit(run: Running): void {
    if (this.unsure) return;
    const tag = run.result.commands.at(-1) ?? '';
    if (run.result.outcome === 'success' && !IMPLICIT_TAG.test(tag)) {
      this.implicitDone = [];
      this.implicitMore = 0;
      this.unsure = true;
      return;
    }
    if (run.result.outcome === 'success') this.noteDone(run.stmt.n);
  }

  private noteDone(n: number): void {
    if (this.implicitDone.length < COMMIT_FAILED_MAX) this.implicitDone.push(n);
    else this.implicitMore++;
  }

  private writeClient(chunks: Buffer[]): void {
    // Also nothing after pcigate ended the client's side (shutdown, terminate) while the server's last answers come.
    if (chunks.length === 0 || this.clientGone || this.o.client.writableEnded) return;
    const chunk = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    this.bytesOut += chunk.length;
    if (!this.o.client.write(chunk)) {
      // Backpressure: stop reading the server until the client has taken what it was sent.
      this.o.upstream.pause();
      this.o.client.once('drain', () => { if (!this.upstreamGone && !this.gatePaused) this.o.upstream.resume(); });
    }
  }

  // ---- endings -----------------------------------------------------------------------------------

  private fail(e: unknown): void {
    this.o.onInternalError(e);
    // Through writeClient, as every byte the client is sent: session.end's bytes_out counts it.
    if (!this.clientGone) { this.writeClient([errorMessage(GENERIC)]); this.o.client.end(); }
    this.o.upstream.destroy();
    this.finish('internal error', false);
  }

  /**
   * Client frames taken from the reader when the client closed while a decision was pending: as many as it
   * pipelined, so a Fifo.
   */
  private readonly backlog = new Fifo<Buffer>();

  private onClientClose(): void {
    this.clientGone = true;
    // After its Terminate the client may close first: the server still finishes what it was sent. After
    // terminate(), the server's side is draining already.
    if (this.ended || this.clientTerminated || this.vanished) return;
    if (this.pumping) {
      // A decision is pending and the frames behind it wait: ended by a Terminate among them (libpq's
      // PQfinish writes it and closes at once), the session ends as the client chose, once they are handled.
      // Up to a frame it cannot cut (a bad length): the pump meets that one again, after the session ended here.
      try {
        for (let f = this.o.clientReader.next(); f; f = this.o.clientReader.next()) this.backlog.push(f);
      } catch (e) {
        this.o.onInternalError(e);
      }
      if (this.backlog.some((f) => f[0] === FE.Terminate)) {
        // Except a statement held for an approval: the client ended the session before it ran and will never see it
        // run (pg's end() on a timeout), so it is refused now, not run on an approval given later.
        this.clientGoneHooks();
        return;
      }
    }
    // The client vanished (no Terminate). A statement still being decided (or held for approval: pumping) was
    // cut off with it, so the end is not clean; nothing more of the client's is forwarded.
    const reason = this.expect.length > 0 || this.pumping ? 'client disconnected mid-statement' : 'client disconnected';
    if (this.expect.length === 0) {
      this.endUpstream();
      this.finish(reason, !this.pumping);
      return;
    }
    this.drain(reason, '08006', COPY_FAIL_VANISHED);
  }

  /** SessionHooks.onClientGone: a statement held for an approval is refused. */
  private clientGoneHooks(): void {
    try {
      this.o.hooks.onClientGone?.();
    } catch (e) {
      this.o.onInternalError(e);
    }
  }

  /**
   * Ends the server's side of a session whose client is gone (vanished, or sent away by terminate()) while the
   * server owes answers. What it was sent it still answers, as it would a vanished client of its own (it reads
   * what reached it before the connection's end), but what runs is cancelled, not left to run; a COPY FROM STDIN
   * fails (`copyFail`). The answers are read on (recorded, masked, dropped), so each statement's record says what
   * the server did (done, cancelled, skipped), not a guess; a Flush has it answer messages sent with no Sync behind
   * them, whose implicit transaction the connection's end then rolls back (finish). Cut off after
   * vanishedDrainMs: what is still unanswered then fails with `sqlstate`.
   */
  private drain(reason: string, sqlstate: string, copyFail: Buffer): void {
    this.vanished = { reason, sqlstate };
    this.clientGoneHooks();
    // The server may be paused for the client (writeClient's backpressure): no 'drain' comes from a gone client.
    if (!this.gatePaused) this.o.upstream.resume();
    this.endUpstream(copyFail);
    void this.o.cancelUpstream();
    this.drainTimer = setTimeout(() => { this.o.upstream.destroy(); }, this.o.vanishedDrainMs ?? VANISHED_DRAIN_MS);
  }

  /** The server closed while its last messages waited for their record (or for prepareRows). */
  private closeWhenUngated = false;

  private onUpstreamClose(): void {
    this.upstreamGone = true;
    if (!this.ended && this.gateWait) {
      // What the server sent before it closed (after the client's Terminate, its last answers; otherwise, often
      // its FATAL: an administrator's pg_terminate_backend, 57P01) is owed to the client once its record is
      // durable: the end waits for it (ungate), and the client and the record get the server's own error.
      this.closeWhenUngated = true;
      return;
    }
    if (this.clientTerminated && !this.clientGone) {
      if (this.violation) this.writeClient([this.violation]);
      this.o.client.end();
    }
    if (this.ended) return;
    if (this.vanished) {
      this.finish(this.vanished.reason, false, this.vanished.sqlstate);
      return;
    }
    if (this.clientTerminated) {
      // After the client's Terminate: anything the server did not answer was not run (a server skipping to a
      // Sync ignores the Terminate and ends at the connection's end). The session ended as the client chose,
      // unless pcigate ended it for a message it could not read.
      if (this.violation) this.finish('client protocol violation', false, '08P01');
      else this.finish('client terminated', true);
      return;
    }
    // finish() fails what is left unanswered (08006), after it has looked at it.
    if (!this.clientGone) {
      if (!this.sawFatal) this.writeClient([errorMessage({ severity: 'FATAL', code: '08006', message: 'pcigate: the upstream server closed the connection' })]);
      this.o.client.end();
    }
    this.finish('upstream closed the connection', false);
  }

  /**
   * Ends the server's side of the session once (shutdown() may have already): a COPY FROM STDIN fails first
   * (`copyFail`), and a Flush has the server send what it holds for messages with no Sync or Flush behind them —
   * at a Terminate it would drop those answers, a COMMIT's too, though it ran them — then Terminate.
   */
  private endUpstream(copyFail = COPY_FAIL_ENDED): void {
    if (this.o.upstream.writableEnded || this.upstreamGone) return;
    this.o.upstream.end(Buffer.concat(this.copyIn ? [copyFail, FLUSH, TERMINATE] : [FLUSH, TERMINATE]));
  }

  private finish(reason: string, clean: boolean, sqlstate = '08006'): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.drainTimer);
    // Statements of an implicit transaction that nothing sent could end: the connection's end rolls it back.
    // Claimed after their own records, as onError does. Only when nothing but Parse, Bind, Describe and Close is
    // unanswered: a Sync, a Query, pcigate's abort or exchange commits or ends it, and so may an Execute (of a
    // COMMIT: it commits at once, its answer waiting in the server's buffer for a Flush that never came).
    const onlyPrep = this.onlyPrepOwed();
    const rolledBack = (this.implicitDone.length > 0 || this.implicitMore > 0) && onlyPrep;
    // So is an open transaction block, under the same condition (an Execute or Query owed may be its COMMIT).
    const endSqlstate = this.clientTerminated && clean ? undefined : sqlstate;
    const blockClaim = this.txBlock.closed(endSqlstate);
    // A Query an error answered whose ReadyForQuery never came (a FATAL): what it undid is claimed as at that one.
    const head = this.expect.at(0);
    const undone = head?.kind === 'query' && head.rolledBack ? { ...head.rolledBack, sqlstate: head.run.result.sqlstate } : null;
    this.mirror.end();
    this.failPending(sqlstate, 'the session ended');
    if (undone) this.commitFailed(undone.sqlstate, undone);
    // No SQLSTATE when the client ended it with a Terminate: nothing failed.
    if (rolledBack) this.commitFailed(endSqlstate);
    if (blockClaim && onlyPrep) this.commitFailed(blockClaim.sqlstate, blockClaim, true);
    this.settle();
    for (const w of this.answerWaiters.splice(0)) w();
    this.o.onEnd({ reason, clean });
  }

  /** Everything still waiting for the server will never get an answer: statements fail with `sqlstate`. */
  private failPending(sqlstate: string, why: string): void {
    this.lastRun = undefined;
    this.leadingPrep = 0;
    for (const e of this.expect.drain()) {
      const run = e.kind === 'execute' || e.kind === 'query' ? e.run : null;
      if (run) { run.result.outcome = 'failure'; run.result.sqlstate ??= sqlstate; this.end(run, false); }
      if (e.kind === 'parse' && e.change) this.mirror.abandoned(e.change);
      if (e.kind === 'bind' && e.bound) this.mirror.unbind(e.target.portal!, e.bound);
      if (e.kind === 'exchange') e.settle(new Error(why));
    }
  }
}

/**
 * Whether `sql` reads the same under every setting the proxy ends a session on (misreadingParameter): without
 * a backslash, standard_conforming_strings changes nothing, and ASCII bytes are single characters in every
 * client_encoding the server has (a splitting one's second byte follows a byte of 0x80 or more; text that did
 * not decode as UTF-8 has U+FFFD here). Such a statement need not wait for a settling one.
 */
function readAlike(sql: string): boolean {
  return !/[\\\u0080-\uffff]/.test(sql);
}

/**
 * The server reported a setting under which it splits query text otherwise than policy reads it
 * (misreadingParameter): whatever the client sends next could hide a statement policy never saw. A signal out
 * of the upstream frame loop (onUpstreamData ends the session), not an error the client or the log sees.
 */
class MisreadingSetting extends Error {}

/** A message from the server that it cannot send (backendMessageProblem) or a frame length out of range. */
class UpstreamViolation extends ProtocolError {}

/**
 * pcigate can no longer tell which of the client's messages the server's answers belong to: it cannot judge,
 * record or mask what follows, so the session ends as for a server that broke the protocol (fail closed).
 */
class LostTrack extends UpstreamViolation {}

/** Whether an ErrorResponse's fields end the session (FATAL or PANIC). */
function isFatal(fields: Map<string, string>): boolean {
  return fields.get('V') === 'FATAL' || fields.get('S') === 'FATAL' || fields.get('S') === 'PANIC';
}

/** Whether `stmt` is an Execute of the statement or portal `t` (an error answering `t` is its failure). */
function forExecute(t: Target, stmt: Statement): boolean {
  if (stmt.protocol !== 'extended') return false;
  return t.portal !== undefined ? stmt.portal === t.portal : stmt.statementName === t.statement;
}
