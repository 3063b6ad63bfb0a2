/**
 * MessageFramer: cuts one direction of a Postgres connection into whole messages.
 * Message layout: https://www.postgresql.org/docs/current/protocol-overview.html#PROTOCOL-MESSAGE-CONCEPTS
 *
 * Framing is decided by the session step, never by sniffing: the caller says when the next message is an
 * untyped startup-phase packet (`expectStartup()`: int32 length, then payload, no type byte) and otherwise
 * every message is `type byte, int32 length (counting itself), payload`.
 *
 * Memory: one buffer per direction. Bytes are never modified once written into it, so a frame's
 * `bytes`/`payload` views stay valid for as long as the caller holds them (forwarding them to
 * `socket.write` without copying is safe). When the incoming chunk is the only data, frames are views
 * into the chunk itself (zero copy); only an unfinished tail is copied, into a buffer sized for the frame
 * it belongs to — the framer compacts instead of concatenating chunks.
 */
import { DirectTlsRefused, ProtocolError } from '../../errors.js';
import { Limits, TLS_HANDSHAKE_BYTE } from './codes.js';

/**
 * One whole message. `code` is the type byte (0 for an untyped startup-phase packet). The message occupies
 * `buf[start, end)`; `bytes` and `payload` are views created on first use (a Buffer view costs more than
 * the framing itself, and most forwarded frames never need one; coalesce runs with `buf`/`start`/`end`).
 */
export class Frame {
  private bytesView: Buffer | undefined;
  private payloadView: Buffer | undefined;

  constructor(
    readonly code: number,
    /** The buffer holding the message; never written to again by the framer. */
    readonly buf: Buffer,
    readonly start: number,
    readonly end: number,
    /** Offset of the payload: start + 5 for typed messages, start + 4 for startup packets. */
    readonly payloadStart: number,
  ) {}

  /** The message exactly as received (type byte, length, payload): forward this when unchanged. */
  get bytes(): Buffer {
    return (this.bytesView ??= this.buf.subarray(this.start, this.end));
  }

  /** The payload after the length field. */
  get payload(): Buffer {
    return (this.payloadView ??= this.buf.subarray(this.payloadStart, this.end));
  }

  get length(): number {
    return this.end - this.start;
  }
}

export interface FramerOptions {
  /** Maximum value of the length field for typed messages (default: Limits.frontend). */
  maxLength?: number;
  /** Per-type-byte overrides of `maxLength`. */
  maxLengthByCode?: Readonly<Record<number, number>>;
  /** Maximum length of an untyped startup-phase packet (default: Limits.startup). */
  maxStartupLength?: number;
  /** Start in the startup phase (the first client message is untyped). Default false. */
  startup?: boolean;
  /**
   * Give a frame its announced length at once, rather than growing towards it. Only for a peer pcigate has logged
   * in to (the server): growing, a 300 MB DataRow was copied into ever larger buffers (through `pcigate connect`,
   * `select repeat('a', 300000000)` peaked at ~1.0 GB; ~0.7 GB with this). The pages of a large allocation become
   * resident only as its bytes arrive, but V8 counts all of it at once, which is why a client (anyone who logged
   * in to the listener) still has to send what it announces before it is held.
   */
  allocateAnnounced?: boolean;
  /** Names the peer in error messages ("client", "server"). */
  peer?: string;
}

const MIN_ALLOC = 16 * 1024;
const EMPTY = Buffer.alloc(0);
/** Frames up to this size get their whole buffer at once; larger ones grow geometrically. */
const GROW_STEP = 1024 * 1024;

export class MessageFramer {
  private buf: Buffer = Buffer.alloc(0);
  private start = 0;
  private end = 0;
  /** True when `buf` is ours (we may append into its free tail); false when it is a caller's chunk. */
  private owned = false;
  /** A whole frame completed by the last push, returned before anything in `buf`. */
  private carried: Buffer | undefined;
  private startupNext: boolean;
  private maxLength: number;
  private readonly maxByCode: Readonly<Record<number, number>>;
  private readonly maxStartup: number;
  private readonly peer: string;
  private readonly allocateAnnounced: boolean;

  constructor(opts: FramerOptions = {}) {
    this.allocateAnnounced = opts.allocateAnnounced ?? false;
    this.maxLength = opts.maxLength ?? Limits.frontend;
    this.maxByCode = opts.maxLengthByCode ?? {};
    this.maxStartup = opts.maxStartupLength ?? Limits.startup;
    this.startupNext = opts.startup ?? false;
    this.peer = opts.peer ?? 'peer';
  }

  /** The next message is an untyped startup-phase packet (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest). */
  expectStartup(): void {
    this.startupNext = true;
  }

  /**
   * The maximum length of typed messages from now on (frames already returned are not checked again): a
   * listener keeps it small until the client has logged in, so a peer that has not cannot make it hold more.
   */
  setMaxLength(max: number): void {
    this.maxLength = max;
  }

  /** Whether the next frame will be read as an untyped startup-phase packet. */
  get inStartup(): boolean {
    return this.startupNext;
  }

  /** Bytes received but not yet returned as frames. */
  get buffered(): number {
    return this.end - this.start + (this.carried?.length ?? 0);
  }

  /**
   * Hand over the unframed bytes and forget them, e.g. bytes a client sent right after SSLRequest that belong
   * to the TLS handshake (a client must not do that; the caller decides whether it is a protocol violation).
   */
  drain(): Buffer {
    const tail = this.buf.subarray(this.start, this.end);
    const rest = this.carried ? Buffer.concat([this.carried, tail]) : tail;
    this.carried = undefined;
    this.buf = Buffer.alloc(0);
    this.start = this.end = 0;
    this.owned = false;
    return rest;
  }

  /** Add received bytes. The framer keeps a reference to `chunk` and never writes into it. */
  push(chunk: Buffer): void {
    const len = chunk.length;
    if (len === 0) return;
    if (this.start === this.end) {
      this.buf = chunk;
      this.start = 0;
      this.end = len;
      this.owned = false;
      return;
    }
    if (this.owned && this.buf.length - this.end >= len) {
      chunk.copy(this.buf, this.end);
      this.end += len;
      return;
    }
    const pending = this.end - this.start;
    const frameLen = this.pendingFrameLength();
    if (frameLen !== undefined && pending < frameLen && this.carried === undefined && pending + len > frameLen) {
      // The chunk finishes the pending frame and carries more: copy only that frame out, then frame the rest
      // of the chunk in place, so a steady stream of chunks is not copied byte for byte.
      const missing = frameLen - pending;
      let whole: Buffer;
      if (this.owned && this.buf.length - this.end >= missing) {
        // A large frame grown in place: finish it there instead of copying it again.
        chunk.copy(this.buf, this.end, 0, missing);
        whole = this.buf.subarray(this.start, this.start + frameLen);
      } else {
        whole = Buffer.allocUnsafe(frameLen);
        this.buf.copy(whole, 0, this.start, this.end);
        chunk.copy(whole, pending, 0, missing);
      }
      this.carried = whole;
      this.buf = chunk;
      this.start = missing;
      this.end = len;
      this.owned = false;
      return;
    }
    // Compact: copy the unfinished tail and the chunk into a new buffer sized for the pending frame.
    const need = pending + len;
    // Grow towards the announced length instead of trusting it: a peer announcing 256 MiB must send it
    // before we hold it (memory stays proportional to bytes received; at most ~2x copying overall).
    const size = frameLen === undefined
      ? Math.max(need * 2, MIN_ALLOC)
      : Math.max(need, MIN_ALLOC, this.allocateAnnounced ? frameLen : Math.min(frameLen, Math.max(need * 2, GROW_STEP)));
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, this.start, this.end);
    chunk.copy(next, pending);
    this.buf = next;
    this.start = 0;
    this.end = need;
    this.owned = true;
  }

  /**
   * The next whole message, or undefined when more bytes are needed.
   * @throws ProtocolError for a length below 4 or above the limit; DirectTlsRefused for a TLS ClientHello
   * where a startup packet was expected.
   */
  next(): Frame | undefined {
    if (!this.take()) return undefined;
    const f = new Frame(this.tookCode, this.took, this.tookAt, this.tookTo, this.tookPayload);
    this.took = EMPTY;
    return f;
  }

  /**
   * next()'s message as its bytes (type byte, length, payload) and nothing more: the proxy forwards and inspects
   * those, and a large result is a message per row (the Frame cost as much again as the view).
   */
  nextBytes(): Buffer | undefined {
    if (!this.take()) return undefined;
    const bytes = this.took.subarray(this.tookAt, this.tookTo);
    this.took = EMPTY;
    return bytes;
  }

  /**
   * The whole messages of type `code` next in the buffer, one after the other, that `accept` takes: bytes [from, to)
   * of `buf` (a view valid while held, as nextBytes'), `count` of them, or undefined when the next message is not one
   * (or is cut short, carried over from an earlier chunk, or has a length take() refuses: it throws there). A large
   * result's rows are read in one pass and handed on as one run (the proxy's DataRows).
   */
  runOf(code: number, accept: (buf: Buffer, at: number, to: number) => boolean): { buf: Buffer; from: number; to: number; count: number } | undefined {
    if (this.carried !== undefined || this.startupNext) return undefined;
    const buf = this.buf;
    const end = this.end;
    const max = this.maxByCode[code] ?? this.maxLength;
    const from = this.start;
    let s = from;
    let count = 0;
    while (end - s >= 5 && buf[s] === code) {
      const length = ((buf[s + 1]! << 24) | (buf[s + 2]! << 16) | (buf[s + 3]! << 8) | buf[s + 4]!);
      if (length < 4 || length > max || end - s < length + 1 || !accept(buf, s, s + length + 1)) break;
      s += length + 1;
      count++;
    }
    if (count === 0) return undefined;
    this.start = s;
    return { buf, from, to: s, count };
  }

  /**
   * The message take() found: bytes [tookAt, tookTo) of `took`, its payload from tookPayload, its type byte (0: a
   * startup packet). Let go once handed on: a carried frame may be hundreds of MB, held by nothing else afterwards.
   */
  private took: Buffer = EMPTY;
  private tookAt = 0;
  private tookTo = 0;
  private tookPayload = 0;
  private tookCode = 0;

  /**
   * Frames the next whole message (see took), or returns false when more bytes are needed.
   * @throws ProtocolError for a length below 4 or above the limit; DirectTlsRefused for a TLS ClientHello
   * where a startup packet was expected.
   */
  private take(): boolean {
    const carried = this.carried;
    if (carried !== undefined) {
      this.carried = undefined;
      return this.taken(carried, 0, carried.length, this.startupNext ? 4 : 5);
    }
    const avail = this.end - this.start;
    const buf = this.buf;
    const s = this.start;
    if (this.startupNext) {
      if (avail >= 1 && buf[s] === TLS_HANDSHAKE_BYTE) {
        throw new DirectTlsRefused(`${this.peer} started TLS directly (sslnegotiation=direct); use sslmode with the standard SSLRequest negotiation`);
      }
      if (avail < 4) return false;
      const length = buf.readInt32BE(s);
      if (length < 8 || length > this.maxStartup) {
        throw new ProtocolError(`invalid startup packet length ${length} from ${this.peer} (allowed 8..${this.maxStartup})`);
      }
      if (avail < length) return false;
      this.start = s + length;
      return this.taken(buf, s, length, 4);
    }
    if (avail < 5) return false;
    const code = buf[s]!;
    // By hand: readInt32BE's argument checks cost more than the rest of a short message's framing.
    const length = ((buf[s + 1]! << 24) | (buf[s + 2]! << 16) | (buf[s + 3]! << 8) | buf[s + 4]!);
    const max = this.maxByCode[code] ?? this.maxLength;
    if (length < 4 || length > max) {
      throw new ProtocolError(`invalid length ${length} for message '${String.fromCharCode(code)}' from ${this.peer} (allowed 4..${max})`);
    }
    const total = length + 1;
    if (avail < total) return false;
    this.start = s + total;
    return this.taken(buf, s, total, 5);
  }

  /** Notes the message at buf[s, s + total) (whole, already checked against the limits), its payload `head` bytes in. */
  private taken(buf: Buffer, s: number, total: number, head: number): true {
    if (head === 4) this.startupNext = false;
    this.tookCode = head === 4 ? 0 : buf[s]!;
    this.took = buf;
    this.tookAt = s;
    this.tookTo = s + total;
    this.tookPayload = s + head;
    return true;
  }

  /** Total size of the frame at `start` when its header is complete, for sizing the next buffer. */
  private pendingFrameLength(): number | undefined {
    const avail = this.end - this.start;
    if (this.startupNext) {
      if (avail < 4) return undefined;
      const length = this.buf.readInt32BE(this.start);
      return length >= 8 && length <= this.maxStartup ? length : undefined;
    }
    if (avail < 5) return undefined;
    const length = this.buf.readInt32BE(this.start + 1);
    // Do not allocate for an absurd length before next() gets to reject it.
    return length >= 4 && length <= (this.maxByCode[this.buf[this.start]!] ?? this.maxLength) ? length + 1 : undefined;
  }
}

/**
 * Coalesce frames into as few views as possible: frames that sit next to each other in the same buffer
 * become one slice, so a run of untouched messages is forwarded with one `write`.
 */
export function coalesceFrames(frames: readonly Frame[]): Buffer[] {
  const out: Buffer[] = [];
  let buf: Buffer | undefined;
  let start = 0;
  let end = 0;
  for (const f of frames) {
    if (buf === f.buf && f.start === end) {
      end = f.end;
      continue;
    }
    if (buf) out.push(buf.subarray(start, end));
    buf = f.buf;
    start = f.start;
    end = f.end;
  }
  if (buf) out.push(buf.subarray(start, end));
  return out;
}
