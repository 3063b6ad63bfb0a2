/**
 * The mirror of the prepared statements and portals the server holds for a session (§55.2.3), kept so that an
 * Execute can be judged and recorded as the text the server will run. The relay (relay.ts) tells it what each
 * Parse, Bind and Close the client sends does, and what the server answered; it keeps no queue of its own.
 *
 * It must hold what the *server* holds, not what the client asked for: a Parse or Close S the server refuses
 * or skips is undone (undo), a named Parse is unsure until the server has answered it, and what the client
 * sends while the server skips to a Sync changes nothing (skippedParse, skippedBind) but still tells the
 * record of a skipped Execute what it bound.
 */
import type { BindParam, SessionHooks, Statement } from './hooks.js';

/**
 * Why the server may have read a Parse's text otherwise than the hooks: they said so
 * (SessionHooks.parseReadsOtherwise: Statement.parsedOtherwise), or it came behind a settling statement in
 * the same batch, whose setting changes nothing reports (Statement.unsettled).
 */
export type ReadOtherwise = 'hooks' | 'unsettled';

/** A statement the client prepared (Parse), as pcigate mirrors it. */
export interface Prepared {
  sql: string;
  types: number[];
  /** Its text is not known (prepared by SQL PREPARE, or a name never Parsed here): `sql` is ''. */
  unknown?: true;
  /**
   * `sql` is a text the server refused at Parse (it failed analysis) under a name the mirror did not have: the
   * server holds nothing under the name, unless a statement prepared by SQL PREPARE (see Statement.textRefused).
   */
  refused?: true;
  /** The server may have read `sql` otherwise than the hooks: see ReadOtherwise. */
  otherwise?: ReadOtherwise;
  /** The RowDescription a Describe of it (or of a portal bound from it) got: its columns' types. */
  described?: Buffer | undefined;
  /**
   * A named statement until the server has answered its Parse: it refuses a name it already holds (42P05),
   * and may hold one the mirror does not know (SQL PREPARE) or no longer hold one it does (DEALLOCATE,
   * DISCARD), so which text a Bind of it binds is known only then. `settled` resolves when it has
   * answered; `rejected` then tells which (undo). The unnamed statement too, once a Bind behind a Sync binds
   * it before the server has answered its Parse (see bind).
   */
  unsure?: Unsure;
}

/** See Prepared.unsure. `held`: what the server holds under the name once it has refused the Parse. */
export interface Unsure { settled: Promise<void>; settle: () => void; rejected?: boolean; held?: Prepared | undefined }

/** A portal the client bound (Bind), as pcigate mirrors it: the text and parameters an Execute of it runs. */
export interface Portal {
  sql: string;
  params: BindParam[];
  types: number[];
  /** The prepared statement it was bound from. */
  statement: string;
  resultFormats: number[];
  unknown?: true;
  refused?: true;
  otherwise?: ReadOtherwise;
  /** Bound from a named Parse the server had not answered (Prepared.unsure): its text is known once it has. */
  from?: Prepared;
  /**
   * The statement it binds, as the mirror held it at the Bind (once `from` is resolved, as the server held it):
   * its description is the rows' (executeDescription), whatever the name holds by the time of the Execute.
   */
  bound?: Prepared | undefined;
  /**
   * A named portal whose Bind the server has not answered yet: the batch (MirrorChange.batch) it was sent in;
   * -1 once answered, and for the unnamed portal. The server refuses a Bind of a name it holds (42P03): a
   * cursor DECLAREd WITH HOLD outlives the transaction an error aborts, so an Execute of the name behind the
   * Sync runs that cursor, not what the Bind said. Such an Execute waits for the Bind's answer (unsure).
   */
  pendingBatch?: number;
  /** Made when an Execute waits for the Bind's answer (pendingBatch); settled by bindAnswered or unbind. */
  bindUnsure?: Unsure;
}

/**
 * A change a Parse or Close S made to the mirror: the name, what the server holds under it before the change
 * (`prev`), what a Parse put there (`set`; undefined for a Close S), and the next change to the same name the
 * server has not answered yet (see undo).
 */
export interface MirrorChange {
  name: string;
  /**
   * What the server holds under the name when it reads this message. Taken from the mirror when the message is
   * sent; when a change to the name before it is undone, that one's outcome replaces it (undo), so it is never a
   * text only a refused or skipped message put there.
   */
  prev: Prepared | undefined;
  set: Prepared | undefined;
  next: MirrorChange | undefined;
  /** The batch (the Syncs before it) the message was sent in: see bind. */
  batch: number;
  /** The server answered it, or it was undone: an undo of it again changes nothing. */
  done: boolean;
}

export class PreparedMirror {
  private readonly prepared = new Map<string, Prepared>();
  private readonly portals = new Map<string, Portal>();
  /**
   * While the server skips to a Sync: the statements and portals the client's ignored Parse and Bind would have
   * made. The server's own state does not change (`prepared`/`portals` stay as they were), but the record of a
   * skipped Execute shows what the client bound for it. Cleared at the Sync (endSkipping).
   */
  private readonly skippedPrepared = new Map<string, { sql: string; types: number[] }>();
  private readonly skippedPortals = new Map<string, Portal>();
  /**
   * The last change to each name the server has not answered yet: the tail of the name's chain of pending
   * changes (MirrorChange.next), in the order the server reads them. See undo.
   */
  private readonly pending = new Map<string, MirrorChange>();
  /** How many Syncs have been forwarded: the batch a change was made in (MirrorChange.batch). */
  private batch = 0;
  /** The session has ended: nothing more is told to the hooks. */
  private ended = false;

  /** `hooks.onPortal` is told of every named portal a Bind makes or a Close P drops. */
  constructor(private readonly hooks: SessionHooks) {}

  /** A Parse the server will read: `name` holds its text from now on, until it is answered or undone. */
  parse(name: string, sql: string, types: number[], otherwise: ReadOtherwise | undefined): MirrorChange {
    const prev = this.prepared.get(name);
    const set: Prepared = { sql, types };
    if (otherwise) set.otherwise = otherwise;
    if (name !== '') set.unsure = newUnsure();
    this.prepared.set(name, set);
    return this.change(name, prev, set);
  }

  /**
   * A Bind the server will read: `portal` holds what `statement` holds now. Tells onPortal of a named one.
   *
   * The unnamed statement's Parse is not unsure (the server replaces whatever it held), but the server may skip
   * it, behind an error earlier in its batch. A Bind in that batch is skipped with it; one sent after the Sync
   * is not, and binds what the server held before: its Executes wait for the Parse's answer, as for a named one
   * (only then is the Promise made, so the usual Parse, Bind, Execute, Sync makes none).
   */
  bind(portal: string, statement: string, params: BindParam[], resultFormats: number[]): Portal {
    const ps = this.prepared.get(statement);
    if (ps && !ps.unsure) {
      const c = this.pending.get(statement);
      if (c && c.set === ps && c.batch !== this.batch) ps.unsure = newUnsure();
    }
    const p: Portal = { sql: ps?.sql ?? '', params, types: ps?.types ?? [], statement, resultFormats, bound: ps, pendingBatch: portal === '' ? -1 : this.batch, ...textFlags(ps), ...(ps?.unsure ? { from: ps } : {}) };
    this.portals.set(portal, p);
    if (portal !== '') this.portalBound(portal, p, ps);
    return p;
  }

  /** A Close S the server will read. */
  closeStatement(name: string): MirrorChange {
    const change = this.change(name, this.prepared.get(name), undefined);
    this.prepared.delete(name);
    return change;
  }

  /** A Close P the server will read. Tells onPortal of a named one. */
  closePortal(name: string): void {
    this.portals.delete(name);
    if (name !== '') this.hooks.onPortal?.(name, null);
  }

  /** A Parse the server ignores (it skips to a Sync): only a skipped Bind behind it sees it. */
  skippedParse(name: string, sql: string, types: number[]): void {
    this.skippedPrepared.set(name, { sql, types });
  }

  /** A Bind the server ignores (it skips to a Sync): only a skipped Execute behind it sees it. */
  skippedBind(portal: string, statement: string, params: BindParam[], resultFormats: number[]): void {
    const ps = this.skippedPrepared.get(statement) ?? this.prepared.get(statement);
    this.skippedPortals.set(portal, { sql: ps?.sql ?? '', params, types: ps?.types ?? [], statement, resultFormats, ...textFlags(ps) });
  }

  /**
   * A Sync has been forwarded. It ends the server's skipping, if it skips: what the client sent before it is
   * forgotten. What the client sends behind it runs even when the server skips what came before it (bind).
   */
  endSkipping(): void {
    this.batch++;
    this.skippedPrepared.clear();
    this.skippedPortals.clear();
  }

  /** The portal an Execute runs (`skipping`: the server skips to a Sync, and so does the Execute). */
  portal(name: string, skipping: boolean): Portal | undefined {
    return (skipping && this.skippedPortals.get(name)) || this.portals.get(name);
  }

  /**
   * The statement a Describe describes: the one named (`kind` 'S') as the mirror holds it when the Describe is
   * read, or the one the portal was bound from ('P': Portal.bound, even if its name holds another by now). Its
   * description goes to setDescription().
   */
  describes(kind: 'S' | 'P', name: string): Prepared | undefined {
    return kind === 'S' ? this.prepared.get(name) : this.portals.get(name)?.bound;
  }

  /** The server answered a Describe of `prep`: `rd` its RowDescription, undefined for NoData. */
  setDescription(prep: Prepared, rd: Buffer | undefined): void {
    prep.described = rd === undefined ? undefined : Buffer.from(rd);
  }

  /**
   * The RowDescription an Execute of `portal`'s rows have, when the server sends it none (no Describe of the
   * portal right before it): its statement's own description with the Bind's result formats. Undefined when
   * the statement was never described. The statement the portal was bound from, not what its name holds now:
   * a Close S and a Parse of the name between the Bind and the Execute described the rows as the new
   * statement's, and a column rule of the one the portal runs went unapplied.
   */
  executeDescription(portal: Portal): Buffer | undefined {
    const described = portal.bound?.described;
    return described ? withFormats(described, portal.resultFormats) : undefined;
  }

  /** The Statement an Execute of the portal named `name` (`portal`, undefined if none) is, for the hooks. */
  executeStatement(portal: Portal | undefined, name: string, maxRows: number): Omit<Statement, 'n'> {
    return {
      protocol: 'extended', sql: portal?.sql ?? '', params: portal?.params ?? [], paramTypes: portal?.types ?? [], ...(portal && !portal.unknown ? {} : { textUnknown: true as const }), ...(portal?.refused ? { textRefused: true as const } : {}),
      ...(portal?.otherwise === 'hooks' ? { parsedOtherwise: true as const } : portal?.otherwise === 'unsettled' ? { unsettled: true as const } : {}),
      statementName: portal?.statement ?? '', portal: name, maxRows, ...(portal ? { resultFormats: portal.resultFormats } : {}),
    };
  }

  /** The named Parse `portal` was bound from, while the server has not answered it. */
  unsure(portal: Portal): Unsure | undefined {
    if (portal.pendingBatch !== undefined && portal.pendingBatch >= 0 && portal.pendingBatch !== this.batch) return portal.bindUnsure ??= newUnsure();
    return portal.from?.unsure;
  }

  /**
   * `unsure` (unsure(portal)) has settled: the portal binds what the server bound, the Parse's text, or when
   * it refused the Parse the statement it already held under the name.
   */
  resolve(portal: Portal, unsure: Unsure): void {
    // The Bind's own: unbind made the portal unknown if the server refused or skipped it.
    if (unsure === portal.bindUnsure) { delete portal.bindUnsure; portal.pendingBatch = -1; return; }
    if (unsure.rejected) Object.assign(portal, { sql: unsure.held?.sql ?? '', types: unsure.held?.types ?? [], unknown: undefined, refused: undefined, otherwise: undefined, bound: unsure.held }, textFlags(unsure.held));
    delete portal.from;
  }

  /** The server answered the Bind that made `portal` (BindComplete). */
  bindAnswered(portal: Portal): void {
    portal.pendingBatch = -1;
    if (portal.bindUnsure) { portal.bindUnsure.settle(); delete portal.bindUnsure; }
  }

  /**
   * The server did not bind `portal`: it refused the Bind, or skipped it behind an error, or the session ended.
   * What it holds under the name is not known here (nothing, or a cursor DECLAREd WITH HOLD, 42P03): the
   * portal has no known text from now on, so an Execute of it is refused (fail closed), and onPortal is told so
   * (a SQL FETCH of the name reads the cursor, not the Bind's text).
   */
  unbind(name: string, portal: Portal): void {
    Object.assign(portal, { sql: '', params: [], types: [], unknown: true, refused: undefined, otherwise: undefined, bound: undefined, from: undefined });
    if (portal.bindUnsure) { portal.bindUnsure.rejected = true; portal.bindUnsure.settle(); }
    if (name !== '' && !this.ended && this.portals.get(name) === portal) this.hooks.onPortal?.(name, null);
  }

  /** The server answered the Parse or Close S that made `change` (ParseComplete, CloseComplete). */
  answered(change: MirrorChange): void {
    // The server holds `set` now, which is the next change's `prev` already.
    change.done = true;
    if (this.pending.get(change.name) === change) this.pending.delete(change.name);
    const set = change.set;
    if (set?.unsure) { set.unsure.settle(); delete set.unsure; }
  }

  /** The server will never answer the Parse that made `change` (the session ended): its Binds go on. */
  abandoned(change: MirrorChange): void {
    change.set?.unsure?.settle();
  }

  /**
   * The server answered `failed` with an error, and skipped `changes` (which hold `failed` when it is a
   * Parse or Close S; in the order they were sent). Policy judges an Execute by the mirror, and keeping a
   * refused text let a statement the server held run as whatever the client had Parsed over it (a denied table
   * read as `select 1`), so each is undone: the name holds again what the server holds.
   *
   * Each name's pending changes form a chain in the order the server reads them, so when one is undone every
   * change before it to that name has been answered or undone, and its `prev` is what the server holds. A
   * pipelining client may have changed the name again behind the Sync: then the mirror holds that later change
   * and stays, but the later change's `prev` (taken from the mirror when it was sent: this undone change's
   * text) becomes what the server holds. Otherwise a later refused Parse (42P05) would restore a text the
   * server never held: two Parses of a held name, both refused, left the first one's text in the mirror.
   * They are undone first to last, so a chain undone in one error passes the true `prev` along it.
   */
  undo(changes: readonly MirrorChange[], failed: MirrorChange | undefined, sqlstate: string | undefined): void {
    for (const m of changes) {
      if (m.done) continue;
      // What the server holds under the name now. A message it skipped changed nothing: what was there
      // before. The one that failed: a named statement it held stays; the unnamed one is dropped by its
      // failed Parse; for a name the mirror did not have, one prepared by SQL (42P05), whose text is not known
      // here (so an Execute of it is refused), or, when the text failed analysis first (42P01, 42601 …),
      // nothing or one prepared by SQL: the refused text stays, marked so (policy refuses an Execute of it
      // when it saw the name PREPAREd; otherwise the server answers 26000). A failed Close leaves its change.
      const held: Prepared | null | undefined = m !== failed ? m.prev
        : m.name === '' && m.set ? undefined
        : m.prev ? m.prev
        : m.set && sqlstate === '42P05' ? { sql: '', types: [], unknown: true }
        : m.set ? { sql: m.set.sql, types: m.set.types, refused: true }
        : null;
      if (m.set?.unsure) {
        m.set.unsure.rejected = true;
        m.set.unsure.held = held === null ? m.set : held;
        m.set.unsure.settle();
      }
      if (held === null) { this.answered(m); continue; }
      m.done = true;
      if (m.next) {
        // Changed again since: the mirror keeps that change, which now changes what the server holds.
        m.next.prev = held;
        continue;
      }
      this.pending.delete(m.name);
      if (held) this.prepared.set(m.name, held); else this.prepared.delete(m.name);
    }
  }

  /** The session has ended: a portal bound from an unsure Parse is not reported any more. */
  end(): void {
    this.ended = true;
  }

  private change(name: string, prev: Prepared | undefined, set: Prepared | undefined): MirrorChange {
    const change: MirrorChange = { name, prev, set, next: undefined, batch: this.batch, done: false };
    const last = this.pending.get(name);
    if (last) last.next = change;
    this.pending.set(name, change);
    return change;
  }

  /**
   * Tells the hooks what a named Bind put under its portal name (SQL FETCH reads it). Bound from a named
   * Parse the server has not answered, the text is known only once it has (it may keep what it held).
   */
  private portalBound(name: string, portal: Portal, ps: Prepared | undefined): void {
    const onPortal = this.hooks.onPortal;
    if (!onPortal) return;
    const unsure = ps?.unsure;
    if (!unsure) { onPortal.call(this.hooks, name, knownText(ps)); return; }
    onPortal.call(this.hooks, name, null);
    void unsure.settled.then(() => {
      if (this.ended || this.portals.get(name) !== portal) return;
      const held = unsure.rejected ? unsure.held : ps;
      onPortal.call(this.hooks, name, knownText(held));
    });
  }
}

/** A Parse's Unsure, before the server has answered it. */
function newUnsure(): Unsure {
  let settle = () => {};
  const settled = new Promise<void>((r) => { settle = r; });
  return { settled, settle };
}

/** What a portal bound from `ps` knows of its text: none (`ps` unknown or never Parsed here), or one the server refused. */
function textFlags(ps: { sql: string; unknown?: true; refused?: true; otherwise?: ReadOtherwise } | undefined): { unknown?: true; refused?: true; otherwise?: ReadOtherwise } {
  return !ps || ps.unknown ? { unknown: true } : ps.refused ? { refused: true } : ps.otherwise ? { otherwise: ps.otherwise } : {};
}

/** The text a portal bound from `p` runs, for onPortal: null for none, or one the server refused at Parse (the Bind binds nothing, or a statement prepared by SQL). */
function knownText(p: Prepared | undefined): string | null {
  return p && !p.unknown && !p.refused ? p.sql : null;
}

/**
 * `rd` (a RowDescription answering a Describe of a statement: every format 0) with the result formats a Bind
 * chose (§55.7: none = all text, one = all columns, else one per column). Field layout: name, then Int32 table,
 * Int16 column, Int32 type, Int16 size, Int32 modifier, Int16 format.
 */
export function withFormats(rd: Buffer, formats: readonly number[]): Buffer {
  const out = Buffer.from(rd);
  const n = out.readInt16BE(5);
  let at = 7;
  for (let i = 0; i < n; i++) {
    at = out.indexOf(0, at) + 1 + 16;
    out.writeInt16BE(formats.length === 0 ? 0 : formats.length === 1 ? formats[0]! : formats[i] ?? 0, at);
    at += 2;
  }
  return out;
}
