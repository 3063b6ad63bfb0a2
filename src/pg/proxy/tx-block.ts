/**
 * The explicit transaction block a session's server is in, followed from its statements' command tags and its
 * ReadyForQuery status, so that statements a block's rollback undoes can be named (relay: onCommitFailed with
 * `block`): each has its own `pg.query` saying success, as the server tagged it, and did not last. A block ends
 * rolled back by ROLLBACK (ABORT, and COMMIT of a failed block, tagged ROLLBACK too), by an error at COMMIT (a
 * deferred constraint, a serialization failure: ReadyForQuery says idle with no COMMIT tag), or by the
 * connection's end. Only what is sure is claimed; leaving a statement out is allowed, naming one that lasted is not:
 * - listed are statements that ran whole inside a block the server had open before them (a BEGIN's own Query or
 *   batch members before it are left out) and that are data manipulation or schema and privilege changes only
 *   (BLOCK_TAG; a failed Query's completed part too: its block can only roll back);
 * - COMMIT (also END and COMMIT AND CHAIN) and PREPARE TRANSACTION end a block with no claim;
 * - after a SAVEPOINT, a ROLLBACK tag may be ROLLBACK TO (the block goes on) or the block's end: nothing more is
 *   listed until ReadyForQuery says which (idle: the block rolled back, its list is claimed).
 */

/**
 * Tags of statements whose effects the block's rollback surely undoes: data manipulation (as relay's IMPLICIT_TAG),
 * and schema and privilege changes, which PostgreSQL makes in the transaction too (what cannot be undone, such as
 * CREATE DATABASE, VACUUM, ALTER SYSTEM or … CONCURRENTLY, refuses to run in a block; ALTER SEQUENCE is rolled back
 * too, unlike nextval and setval). Effects outside the database (a file COPY writes, dblink) are not undone:
 * docs/log-format.md.
 */
const BLOCK_TAG = /^(?:INSERT|UPDATE|DELETE|MERGE|SELECT|COPY|CREATE|DROP|TRUNCATE|COMMENT|GRANT|REVOKE|SECURITY LABEL|REFRESH MATERIALIZED VIEW|CLUSTER|REINDEX|IMPORT FOREIGN SCHEMA)\b|^ALTER (?!SYSTEM\b)/;
/** Most statement numbers one claim lists; `more` counts the rest. */
const CLAIM_MAX = 1000;

/** Statements a block's rollback undid: their `n` (at most CLAIM_MAX), how many beyond, and why. */
export interface BlockClaim { ns: number[]; more: number; sqlstate: string | undefined }

interface Block {
  ns: number[];
  more: number;
  /** A SAVEPOINT ran in it: a ROLLBACK tag is ambiguous from then on. */
  savepoint: boolean;
  /** An ambiguous ROLLBACK since the last ReadyForQuery: whether the block goes on is not known yet. */
  unsure: boolean;
  /**
   * The error that failed it (the server's, or pcigate's refusal; cleared when a ROLLBACK TO recovers it): a failed
   * block can only roll back, and its claim carries this SQLSTATE whatever ends it (ROLLBACK, COMMIT, the end).
   */
  sqlstate?: string | undefined;
}

/** ReadyForQuery's status bytes. */
const IDLE = 0x49;
const FAILED = 0x45;

export class TxBlock {
  #block: Block | null = null;

  /**
   * A statement ended: `tags` its command tags in order (several for a multi-statement Query), `failed` with the
   * SQLSTATE when it did not succeed. A claim when one of its tags rolled a block back.
   */
  ended(n: number, tags: readonly string[], failed: string | undefined | false): BlockClaim | null {
    const before = this.#block;
    let claim: BlockClaim | null = null;
    for (const tag of tags) {
      const b = this.#block;
      if (tag === 'BEGIN' || tag === 'START TRANSACTION') {
        this.#block ??= { ns: [], more: 0, savepoint: false, unsure: false };
      } else if (!b) {
        continue;
      } else if (tag === 'COMMIT' || tag === 'PREPARE TRANSACTION') {
        this.#block = null;
      } else if (tag === 'SAVEPOINT') {
        b.savepoint = true;
      } else if (tag === 'ROLLBACK') {
        if (b.savepoint) b.unsure = true;
        else { claim ??= this.#claim(b); this.#block = null; }
      }
    }
    const inside = before !== null && this.#block === before && !before.unsure;
    if (inside && tags.length > 0 && tags.every((t) => BLOCK_TAG.test(t))) {
      if (before.ns.length < CLAIM_MAX) before.ns.push(n);
      else before.more++;
    }
    // (Not while a ROLLBACK may have ended the block: the failure may be outside it.)
    if (failed !== false && this.#block && !this.#block.unsure) this.#block.sqlstate ??= failed;
    return claim;
  }

  /** pcigate refused a statement and aborted the server's transaction (relay's ABORT_TX) with `sqlstate`. */
  aborted(sqlstate: string | undefined): void {
    if (this.#block) this.#block.sqlstate ??= sqlstate;
  }

  /**
   * ReadyForQuery with `status`: idle with a block still open here means it ended without a COMMIT (an error at
   * COMMIT, an ambiguous ROLLBACK that was the block's): a claim. In a block ('T', 'E'), what follows is inside it.
   */
  ready(status: number): BlockClaim | null {
    const b = this.#block;
    if (status === IDLE) {
      this.#block = null;
      return b ? this.#claim(b) : null;
    }
    // A block not seen beginning (none is known to be possible): its history is unknown, so ROLLBACK is ambiguous.
    if (!b) this.#block = { ns: [], more: 0, savepoint: true, unsure: false };
    else {
      b.unsure = false;
      // 'T': the block is not failed (any error in it was rolled back to a savepoint); 'E': it is.
      if (status !== FAILED) b.sqlstate = undefined;
    }
    return null;
  }

  /**
   * The connection ended with the block open: the server rolls it back. Only when nothing unanswered could have
   * ended it (the caller knows: only Parse, Bind, Describe or Close owed); `sqlstate` that of the end.
   */
  closed(sqlstate: string | undefined): BlockClaim | null {
    const b = this.#block;
    this.#block = null;
    return b ? this.#claim(b, sqlstate) : null;
  }

  #claim(b: Block, end?: string): BlockClaim | null {
    if (b.ns.length === 0 && b.more === 0) return null;
    return { ns: b.ns, more: b.more, sqlstate: b.sqlstate ?? end };
  }
}
