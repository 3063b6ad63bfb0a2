/**
 * MessageWriter: one growable buffer that builds protocol messages (type byte, Int32 length, payload) and
 * patches the length when the message ends. One writer per session is reused; `take()` copies out what was
 * written, so the returned Buffer stays valid after the writer is reused.
 * https://www.postgresql.org/docs/current/protocol-message-types.html
 */
export class MessageWriter {
  private buf: Buffer;
  private pos = 0;
  private msgStart = -1;

  constructor(initial = 1024) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** Start a typed message (`code` = type byte) or, with code 0, an untyped startup-phase packet. */
  begin(code: number): this {
    if (code !== 0) {
      this.ensure(1);
      this.buf[this.pos++] = code;
    }
    this.msgStart = this.pos;
    return this.int32(0); // length, patched by end()
  }

  /** Finish the current message: write its length (which counts itself, not the type byte). */
  end(): this {
    this.buf.writeInt32BE(this.pos - this.msgStart, this.msgStart);
    this.msgStart = -1;
    return this;
  }

  byte(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v;
    return this;
  }

  int16(v: number): this {
    this.ensure(2);
    this.buf.writeInt16BE(v, this.pos);
    this.pos += 2;
    return this;
  }

  int32(v: number): this {
    this.ensure(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }

  uint32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }

  /** A NUL-terminated UTF-8 string. The length comes from Buffer.byteLength, never string.length. */
  cstring(s: string): this {
    const n = Buffer.byteLength(s, 'utf8');
    this.ensure(n + 1);
    this.buf.write(s, this.pos, n, 'utf8');
    this.pos += n;
    this.buf[this.pos++] = 0;
    return this;
  }

  /** Raw bytes (a string is written as UTF-8). */
  bytes(b: Uint8Array | string): this {
    if (typeof b === 'string') {
      const n = Buffer.byteLength(b, 'utf8');
      this.ensure(n);
      this.buf.write(b, this.pos, n, 'utf8');
      this.pos += n;
      return this;
    }
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  /** Int32 length then the bytes; null is written as length -1 (SQL NULL). */
  nullableBytes(b: Uint8Array | string | null): this {
    if (b === null) return this.int32(-1);
    const n = typeof b === 'string' ? Buffer.byteLength(b, 'utf8') : b.length;
    return this.int32(n).bytes(b);
  }

  /** Copy out everything written since the last take() and reset. */
  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.pos));
    this.pos = 0;
    return out;
  }

  get length(): number {
    return this.pos;
  }
}
