/**
 * Reads an sftp session's packets as they pass (draft-ietf-secsh-filexfer-02, version 3, which OpenSSH
 * speaks; OpenSSH's PROTOCOL for its extensions) so that each file operation can be recorded: what the client
 * asks (open, remove, rename, mkdir, rmdir, setstat and fsetstat, symlink, hardlink, opendir, copy-data, close
 * with the bytes read and written through the handle; a read or write through a handle it never saw returned)
 * and the server's failures. It forwards nothing itself
 * and changes no byte. Packets are `uint32 length, byte type, uint32 request-id, …`; both directions are
 * framed here, whole packets up to MAX_PACKET (OpenSSH's own limit is 256 KiB); a longer one is a protocol error.
 */

/** An operation of the client's worth a record. `path` (and `to`) are as the client sent them. */
export interface SftpOp {
  op: 'open' | 'close' | 'remove' | 'rename' | 'mkdir' | 'rmdir' | 'setstat' | 'symlink' | 'hardlink' | 'opendir' | 'copy'
    /** Only through a handle no open returned: otherwise counted into the handle's close. */
    | 'read' | 'write';
  /** Absent only for an operation through a handle the audit never saw opened (see `handle`). */
  path?: string;
  to?: string;
  /** open: what the client asks for (read, write, append, create, truncate, exclusive). */
  flags?: string[];
  /** close: bytes that went through the handle. */
  read?: number;
  written?: number;
  /**
   * close: bytes of reads asked through the handle and not answered yet when it was closed — at most this
   * many more may still reach the client after the close (a client need not wait for its reads).
   */
  read_pending?: number;
  /**
   * copy (copy-data): bytes asked to be copied server-side, 0 for "to the end of the file"; read and write
   * through an unknown handle: bytes asked to be read, bytes sent to be written.
   */
  length?: number;
  /**
   * close, setstat, copy, read, write through a handle no open the audit saw returned: the handle (hex, HANDLE_SHOWN bytes at
   * most, `…` when longer) in place of `path` (`to_handle` in place of `to`), and `unknown_handle: true`.
   */
  handle?: string;
  to_handle?: string;
  unknown_handle?: true;
}

/** The server's answer to an operation that failed (SSH_FXP_STATUS other than OK). */
export interface SftpFailure { op: SftpOp['op']; path?: string; status: number; message: string }

/** Whole packets larger than this are refused (OpenSSH's SFTP_MAX_MSG_LENGTH is 256 KiB). */
export const MAX_PACKET = 1 << 20;

export class SftpProtocolError extends Error {}

/**
 * More requests awaiting their answer, or more handles open, than the audit keeps track of: the client is
 * refused rather than its operations forwarded unaccounted for.
 */
export class SftpLimitError extends SftpProtocolError {}

const T = {
  OPEN: 3, CLOSE: 4, READ: 5, WRITE: 6, SETSTAT: 9, FSETSTAT: 10, OPENDIR: 11, REMOVE: 13, MKDIR: 14, RMDIR: 15, RENAME: 18, SYMLINK: 20,
  LSTAT: 7, FSTAT: 8, STAT: 17, EXTENDED: 200, STATUS: 101, HANDLE: 102, DATA: 103, ATTRS: 105,
} as const;

const PFLAGS: Array<[number, string]> = [[0x01, 'read'], [0x02, 'write'], [0x04, 'append'], [0x08, 'create'], [0x10, 'truncate'], [0x20, 'exclusive']];

/**
 * Requests whose answer is awaited at once, and open handles (with opens awaiting their handle): bounded, a
 * client pipelines tens, not thousands (OpenSSH's sftp 64 by default). A client that goes past either is
 * refused (SftpLimitError): forgetting the oldest left its answer, its handle and its close unrecorded.
 */
export const MAX_TRACKED = 4096;

/** Bytes of a handle shown in a record (OpenSSH's handles are 4; the draft allows 256). */
export const HANDLE_SHOWN = 32;

/**
 * Cuts a byte stream into sftp packets (length-prefixed). The chunks of an unfinished packet are kept as they
 * came and joined once it is whole: joined at every chunk, a packet cut into tiny chunks (the client chooses
 * how) cost time quadratic in its length.
 */
class Framer {
  #parts: Buffer[] = [];
  #have = 0;
  push(chunk: Buffer, each: (p: Buffer) => void): void {
    if (chunk.length === 0) return;
    this.#parts.push(chunk);
    this.#have += chunk.length;
    while (this.#have >= 4) {
      if (this.#parts[0]!.length < 4) this.#join();
      const len = this.#parts[0]!.readUInt32BE(0);
      if (len > MAX_PACKET) throw new SftpProtocolError(`an sftp packet of ${len} bytes is larger than ${MAX_PACKET}`);
      if (this.#have - 4 < len) break;
      if (this.#parts[0]!.length < 4 + len) this.#join();
      const head = this.#parts[0]!;
      each(head.subarray(0, 4 + len));
      this.#have -= 4 + len;
      if (head.length === 4 + len) this.#parts.shift();
      else this.#parts[0] = head.subarray(4 + len);
    }
    // Keep only the unfinished packet (copied: the chunk's memory is not held for its sake).
    if (this.#parts.length === 1 && this.#parts[0]!.length < this.#parts[0]!.buffer.byteLength) this.#parts[0] = Buffer.from(this.#parts[0]!);
  }

  #join(): void {
    this.#parts = [Buffer.concat(this.#parts, this.#have)];
  }
}

/** A cursor over one packet; reading past its end throws (a malformed packet). */
class Reader {
  /** Past the packet's length field. */
  at = 4;
  constructor(readonly b: Buffer) {}
  byte(): number { this.need(1); return this.b[this.at++]!; }
  u32(): number { this.need(4); const v = this.b.readUInt32BE(this.at); this.at += 4; return v; }
  /** A uint64 as a number (exact up to 2^53, which no file reaches). */
  u64(): number { const hi = this.u32(); return hi * 2 ** 32 + this.u32(); }
  bytes(): Buffer { const n = this.u32(); this.need(n); const v = this.b.subarray(this.at, this.at + n); this.at += n; return v; }
  str(): string { return this.bytes().toString('utf8'); }
  skip(n: number): void { this.need(n); this.at += n; }
  private need(n: number): void { if (this.at + n > this.b.length) throw new SftpProtocolError('a truncated sftp packet'); }
}

/** What a request asked, kept until its answer. `other`: a request not audited, kept so that answers pair up. */
interface Asked { op: SftpOp['op'] | 'other'; path?: string; handle?: string; file?: Handle; len?: number; offset?: number; sizeOf?: { path?: string; handle?: string } }

const OTHER: Asked = { op: 'other' };

/** A handle as a record shows it: hex, its first HANDLE_SHOWN bytes. */
function showHandle(h: Buffer): string {
  return h.length > HANDLE_SHOWN ? `${h.subarray(0, HANDLE_SHOWN).toString('hex')}…` : h.toString('hex');
}

/**
 * An open handle the audit saw opened; `reads`: file offsets of reads asked and not answered (→ how many); `size`:
 * the file's size as a stat of its path before the open, or of the handle, answered (none once written through it).
 */
interface Handle { path: string; read: number; written: number; pending: number; dir: boolean; reads: Map<number, number>; size?: number }

/** One whole server packet (its length field included) and what the audit read in it. */
export interface ServerPacket {
  bytes: Buffer;
  /** The server refused an audited operation. */
  failure?: SftpFailure;
  /**
   * A DATA answer to a read through a handle the audit saw opened: the file offset, where the data lies in
   * `bytes`, and the file's size when a stat told it.
   */
  data?: { handle: string; offset: number; start: number; length: number; size?: number };
  /** A STATUS answer to a read through `handle` at file offset `offset`: `eof` for an end of file, else an error. */
  readEnded?: { handle: string; offset: number; eof: boolean };
}

export class SftpAudit {
  readonly #up = new Framer();
  readonly #down = new Framer();
  /**
   * Request id → what was asked under it and not answered yet, oldest first: a client may reuse an id before
   * the answer (sftp-server answers in order), and the answer belongs to the oldest, not the latest. Every
   * request with an id is kept (the ones not audited as OTHER): an answer to a stat under an id reused by an
   * open was taken for the open's, and the open's handle then went unknown.
   */
  readonly #asked = new Map<number, Asked[]>();
  #askedCount = 0;
  /** Opens and opendirs awaiting their handle: with #handles, at most MAX_TRACKED. */
  #opening = 0;
  /** Open handles (hex) → path and bytes through them; `pending`: bytes of reads asked and not answered. */
  readonly #handles = new Map<string, Handle>();
  /** Sizes of files a stat by path answered, for a handle opened on the path next (at most MAX_TRACKED, newest kept). */
  readonly #sizes = new Map<string, number>();

  /**
   * Client → server bytes; returns the operations completed in them, in order. Throws SftpProtocolError for
   * a packet it cannot read, SftpLimitError past MAX_TRACKED (the caller fails closed).
   */
  fromClient(chunk: Buffer): SftpOp[] {
    const ops: SftpOp[] = [];
    this.#up.push(chunk, (p) => { const op = this.#request(new Reader(p)); if (op) ops.push(op); });
    return ops;
  }

  /** Server → client bytes, cut into whole packets (an unfinished one is kept for the next chunk), each read. */
  serverPackets(chunk: Buffer, each: (p: ServerPacket) => void): void {
    this.#down.push(chunk, (bytes) => each({ bytes, ...this.#reply(new Reader(bytes)) }));
  }

  /** `bytes` of a read answer through `handle` were not passed on (the client asks for them again): not counted as read. */
  unread(handle: string, bytes: number): void {
    const h = this.#handles.get(handle);
    if (h) h.read -= bytes;
  }

  /** Whether the audit saw `handle` (hex) opened and not closed. */
  isOpen(handle: string): boolean {
    return this.#handles.has(handle);
  }

  /** Whether a read of `handle` (hex) at file offset `offset` has been asked and not answered yet. */
  readAsked(handle: string, offset: number): boolean {
    return (this.#handles.get(handle)?.reads.get(offset) ?? 0) > 0;
  }

  #track(id: number, v: Asked): void {
    if (this.#askedCount >= MAX_TRACKED) throw new SftpLimitError(`more than ${MAX_TRACKED} sftp requests await their answer`);
    if (v.op === 'open' || v.op === 'opendir') {
      if (this.#handles.size + this.#opening >= MAX_TRACKED) throw new SftpLimitError(`more than ${MAX_TRACKED} sftp handles are open`);
      this.#opening++;
    }
    const list = this.#asked.get(id);
    if (list) list.push(v);
    else this.#asked.set(id, [v]);
    this.#askedCount++;
  }

  /** The handle a request names: its path when the audit saw it opened, else how a record shows it. */
  #handle(r: Reader): { key: string; h?: Handle; shown: string } {
    const b = r.bytes();
    const key = b.toString('hex');
    return { key, h: this.#handles.get(key), shown: showHandle(b) };
  }

  #request(r: Reader): SftpOp | undefined {
    const type = r.byte();
    if (type === 1) return undefined; // SSH_FXP_INIT: a version, no request id
    const id = r.u32();
    const one = (op: SftpOp['op']): SftpOp => { const path = r.str(); this.#track(id, { op, path }); return { op, path }; };
    switch (type) {
      case T.OPEN: {
        const path = r.str();
        const pflags = r.u32();
        this.#track(id, { op: 'open', path });
        return { op: 'open', path, flags: PFLAGS.filter(([bit]) => pflags & bit).map(([, name]) => name) };
      }
      case T.OPENDIR: { const path = r.str(); this.#track(id, { op: 'opendir', path }); return { op: 'opendir', path }; }
      case T.CLOSE: {
        const { key, h, shown } = this.#handle(r);
        this.#handles.delete(key);
        if (!h) { this.#track(id, { op: 'close' }); return { op: 'close', handle: shown, unknown_handle: true }; }
        this.#track(id, { op: 'close', path: h.path });
        if (h.dir) return undefined;
        return { op: 'close', path: h.path, read: h.read, written: h.written, ...(h.pending > 0 ? { read_pending: h.pending } : {}) };
      }
      case T.READ: {
        const { key, h, shown } = this.#handle(r);
        const offset = r.u64();
        const len = r.u32();
        if (!h) { this.#track(id, { op: 'read' }); return { op: 'read', handle: shown, length: len, unknown_handle: true }; }
        this.#track(id, { op: 'read', path: h.path, handle: key, file: h, len, offset });
        h.pending += len;
        h.reads.set(offset, (h.reads.get(offset) ?? 0) + 1);
        return undefined;
      }
      case T.WRITE: {
        const { h, shown } = this.#handle(r);
        r.skip(8);
        const len = r.u32();
        if (!h) { this.#track(id, { op: 'write' }); return { op: 'write', handle: shown, length: len, unknown_handle: true }; }
        h.written += len;
        delete h.size;
        this.#track(id, OTHER);
        return undefined;
      }
      case T.FSETSTAT: {
        // A mode, owner or times set through an open handle (`chmod 4755` on an uploaded file): its path's setstat.
        const { h, shown } = this.#handle(r);
        if (!h) { this.#track(id, { op: 'setstat' }); return { op: 'setstat', handle: shown, unknown_handle: true }; }
        this.#track(id, { op: 'setstat', path: h.path });
        return { op: 'setstat', path: h.path };
      }
      case T.STAT:
      case T.LSTAT: this.#track(id, { op: 'other', sizeOf: { path: r.str() } }); return undefined;
      case T.FSTAT: this.#track(id, { op: 'other', sizeOf: { handle: this.#handle(r).key } }); return undefined;
      case T.REMOVE: return one('remove');
      case T.MKDIR: return one('mkdir');
      case T.RMDIR: return one('rmdir');
      case T.SETSTAT: return one('setstat');
      case T.RENAME: { const path = r.str(); const to = r.str(); this.#track(id, { op: 'rename', path }); return { op: 'rename', path, to }; }
      // OpenSSH sends SYMLINK's two paths the other way round from the draft (PROTOCOL §4.1): target, then link.
      case T.SYMLINK: { const target = r.str(); const path = r.str(); this.#track(id, { op: 'symlink', path }); return { op: 'symlink', path, to: target }; }
      case T.EXTENDED: {
        const name = r.str();
        if (name === 'posix-rename@openssh.com') { const path = r.str(); const to = r.str(); this.#track(id, { op: 'rename', path }); return { op: 'rename', path, to }; }
        if (name === 'hardlink@openssh.com') { const path = r.str(); const to = r.str(); this.#track(id, { op: 'hardlink', path }); return { op: 'hardlink', path, to }; }
        if (name === 'lsetstat@openssh.com') return one('setstat');
        if (name === 'copy-data') return this.#copy(id, r);
        this.#track(id, OTHER);
        return undefined;
      }
      default:
        this.#track(id, OTHER);
        return undefined;
    }
  }

  /**
   * OpenSSH's copy-data (PROTOCOL §4.11, `cp` in its sftp): the server copies `length` bytes (0: to the end)
   * from one open handle to another; nothing passes through the client, so no handle's counts change.
   */
  #copy(id: number, r: Reader): SftpOp {
    const from = this.#handle(r);
    r.skip(8);
    const length = r.u64();
    const to = this.#handle(r);
    const op: SftpOp = {
      op: 'copy',
      ...(from.h ? { path: from.h.path } : { handle: from.shown }),
      ...(to.h ? { to: to.h.path } : { to_handle: to.shown }),
      length,
      ...(!from.h || !to.h ? { unknown_handle: true as const } : {}),
    };
    this.#track(id, { op: 'copy', path: op.path });
    return op;
  }

  #reply(r: Reader): Omit<ServerPacket, 'bytes'> {
    const type = r.byte();
    if (type === 2) return {}; // SSH_FXP_VERSION
    const id = r.u32();
    const list = this.#asked.get(id);
    const asked = list?.shift();
    if (!asked) return {};
    this.#askedCount--;
    if (list!.length === 0) this.#asked.delete(id);
    if (asked.op === 'open' || asked.op === 'opendir') this.#opening--;
    if (asked.op === 'read' && asked.handle !== undefined) {
      // The handle as the read found it: a client need not wait for its reads before closing the handle, and their
      // answers are still its file's data (sftp-output.ts masks them as such, not each on its own).
      const h = asked.file!;
      h.pending -= asked.len!;
      const left = (h.reads.get(asked.offset!) ?? 1) - 1;
      if (left > 0) h.reads.set(asked.offset!, left);
      else h.reads.delete(asked.offset!);
      if (type === T.STATUS) return { readEnded: { handle: asked.handle, offset: asked.offset!, eof: r.u32() === 1 } };
      if (type !== T.DATA) return {};
      const length = r.u32();
      r.skip(length);
      h.read += length;
      return { data: { handle: asked.handle, offset: asked.offset!, start: r.at - length, length, ...(h.size !== undefined ? { size: h.size } : {}) } };
    }
    if (type === T.ATTRS && asked.sizeOf) {
      // SSH_FILEXFER_ATTR_SIZE (0x1): the size comes first.
      if ((r.u32() & 1) === 0) return {};
      const size = r.u64();
      const h = asked.sizeOf.handle !== undefined ? this.#handles.get(asked.sizeOf.handle) : undefined;
      if (h) h.size = size;
      if (asked.sizeOf.path !== undefined) {
        this.#sizes.delete(asked.sizeOf.path);
        this.#sizes.set(asked.sizeOf.path, size);
        if (this.#sizes.size > MAX_TRACKED) this.#sizes.delete(this.#sizes.keys().next().value!);
      }
      return {};
    }
    if (type === T.HANDLE && (asked.op === 'open' || asked.op === 'opendir')) {
      this.#handles.set(r.bytes().toString('hex'), { path: asked.path!, read: 0, written: 0, pending: 0, dir: asked.op === 'opendir', reads: new Map(), ...(this.#sizes.has(asked.path!) ? { size: this.#sizes.get(asked.path!)! } : {}) });
      return {};
    }
    if (type === T.STATUS && asked.op !== 'other') {
      const status = r.u32();
      // SSH_FX_OK (0); SSH_FX_EOF (1) ends a read or a listing, not a failure.
      if (status === 0 || status === 1) return {};
      let message = '';
      try { message = r.str(); } catch { /* version 3 servers may omit it */ }
      return { failure: { op: asked.op, ...(asked.path !== undefined ? { path: asked.path } : {}), status, message } };
    }
    return {};
  }
}
