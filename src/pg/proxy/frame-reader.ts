/**
 * FrameReader: splits a byte stream into PostgreSQL protocol frames, framed by session step (untyped
 * startup-phase packets vs typed messages), never by sniffing. Frames are returned as subarrays of the
 * buffers the socket handed us, so forwarding them needs no copy; a partial frame is kept as a list of
 * chunks and joined once, when complete, so a huge message costs one copy rather than one per chunk.
 *
 * Protocol 3.0 §55.2 (message flow) and §55.7 (message formats).
 */
import { ProtocolError } from '../../errors.js';

const EMPTY = Buffer.alloc(0);

export class FrameReader {
  private buf: Buffer = EMPTY;
  private off = 0;
  private tail: Buffer[] = [];
  private tailLen = 0;
  /** Bytes needed before the next frame is complete, once its header is known. */
  private need = 0;

  constructor(private readonly maxFrame: number) {}

  /** Appends bytes read from the socket. The chunk must not be modified afterwards. */
  push(chunk: Buffer): void {
    if (this.off >= this.buf.length && this.tailLen === 0) {
      this.buf = chunk;
      this.off = 0;
      return;
    }
    if (this.tailLen === 0) {
      this.tail.push(this.buf.subarray(this.off));
      this.tailLen = this.buf.length - this.off;
      this.buf = EMPTY;
      this.off = 0;
    }
    this.tail.push(chunk);
    this.tailLen += chunk.length;
  }

  /** The first unread byte (the caller checks `buffered` first). */
  peek(): number {
    return this.tailLen > 0 ? this.tail[0]![0]! : this.buf[this.off]!;
  }

  /** Bytes buffered but not yet returned as frames. */
  get buffered(): number {
    return this.buf.length - this.off + this.tailLen;
  }

  /**
   * The next complete frame, or null. `startup` selects the untyped layout (Int32 length first) used
   * for StartupMessage, SSLRequest, GSSENCRequest and CancelRequest; otherwise Byte1 code + Int32 length.
   */
  next(startup = false): Buffer | null {
    const hdr = startup ? 4 : 5;
    if (this.tailLen > 0) {
      if (this.tailLen < Math.max(hdr, this.need)) {
        if (this.need === 0 && this.tailLen >= hdr) this.need = this.frameLength(this.joinTail(), 0, startup);
        if (this.tailLen < Math.max(hdr, this.need)) return null;
      }
      this.buf = this.joinTail();
      this.off = 0;
      this.tail = [];
      this.tailLen = 0;
      this.need = 0;
    }
    const avail = this.buf.length - this.off;
    if (avail < hdr) return this.keepTail();
    const len = this.frameLength(this.buf, this.off, startup);
    if (avail < len) {
      this.need = len;
      return this.keepTail();
    }
    const frame = this.buf.subarray(this.off, this.off + len);
    this.off += len;
    return frame;
  }

  private joinTail(): Buffer {
    const joined = this.tail.length === 1 ? this.tail[0]! : Buffer.concat(this.tail, this.tailLen);
    this.tail = [joined];
    return joined;
  }

  private keepTail(): null {
    if (this.off < this.buf.length) {
      this.tail = [this.buf.subarray(this.off)];
      this.tailLen = this.buf.length - this.off;
    }
    this.buf = EMPTY;
    this.off = 0;
    return null;
  }

  private frameLength(b: Buffer, off: number, startup: boolean): number {
    const declared = b.readInt32BE(startup ? off : off + 1);
    const min = startup ? 8 : 4;
    if (declared < min || declared > this.maxFrame) {
      throw new ProtocolError(`invalid message length ${declared}`);
    }
    return startup ? declared : declared + 1;
  }
}
