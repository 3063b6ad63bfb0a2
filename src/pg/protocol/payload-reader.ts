/**
 * PayloadReader: a cursor over one message's payload, with the protocol's data types
 * (Int16, Int32, String = NUL-terminated, Byten). https://www.postgresql.org/docs/current/protocol-message-types.html
 *
 * Every read checks bounds and throws ProtocolError: payloads come from peers and may be malformed.
 * Strings are decoded as UTF-8: pcigate requires client_encoding UTF8 for anything it inspects.
 */
import { ProtocolError } from '../../errors.js';

export class PayloadReader {
  offset = 0;

  constructor(readonly buf: Buffer, private readonly what = 'message') {}

  get remaining(): number {
    return this.buf.length - this.offset;
  }

  private need(n: number): void {
    if (n < 0 || this.offset + n > this.buf.length) {
      throw new ProtocolError(`truncated ${this.what}: need ${n} bytes at offset ${this.offset} of ${this.buf.length}`);
    }
  }

  byte(): number {
    this.need(1);
    return this.buf[this.offset++]!;
  }

  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.offset);
    this.offset += 2;
    return v;
  }

  uint32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  /** A NUL-terminated string as raw bytes (a view). */
  cstringBytes(): Buffer {
    const end = this.buf.indexOf(0, this.offset);
    if (end < 0) throw new ProtocolError(`unterminated string in ${this.what} at offset ${this.offset}`);
    const v = this.buf.subarray(this.offset, end);
    this.offset = end + 1;
    return v;
  }

  cstring(): string {
    return this.cstringBytes().toString('utf8');
  }

  /** `n` bytes as a view. */
  bytes(n: number): Buffer {
    this.need(n);
    const v = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }

  /** The rest of the payload as a view. */
  rest(): Buffer {
    const v = this.buf.subarray(this.offset);
    this.offset = this.buf.length;
    return v;
  }

  /** Int32 length then that many bytes; -1 is SQL NULL. */
  nullableBytes(): Buffer | null {
    const n = this.int32();
    if (n === -1) return null;
    if (n < -1) throw new ProtocolError(`negative value length ${n} in ${this.what}`);
    return this.bytes(n);
  }

  /** Int16 count then that many Int16s. */
  int16Array(): number[] {
    const n = this.int16();
    if (n < 0) throw new ProtocolError(`negative count ${n} in ${this.what}`);
    this.need(2 * n);
    const out = new Array<number>(n);
    for (let i = 0; i < n; i++) out[i] = this.int16();
    return out;
  }

  /** The payload must be fully consumed: trailing bytes mean a malformed message. */
  done(): void {
    if (this.offset !== this.buf.length) {
      throw new ProtocolError(`${this.buf.length - this.offset} unexpected trailing bytes in ${this.what}`);
    }
  }
}
