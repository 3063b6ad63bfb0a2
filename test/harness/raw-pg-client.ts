/**
 * A raw PostgreSQL protocol client for tests of what drivers never send (a newer protocol minor, a
 * GSSENCRequest, a direct-TLS first byte, a COPY with libpq's early Sync, …): a socket, a FrameReader over
 * what arrives, and the local listener's SCRAM login. Messages are built with pg-bytes.ts.
 */
import net from 'node:net';
import { FrameReader } from '../../src/pg/proxy/frame-reader.js';
import { ScramClient } from '../../src/pg/proxy/scram.js';
import { bytes } from './pg-bytes.js';

export class RawPgClient {
  private reader = new FrameReader(1 << 24);
  private raw: Buffer[] = [];
  private waiters: Array<() => void> = [];
  closed = false;

  private constructor(readonly sock: net.Socket) {
    sock.on('data', (b: Buffer) => { this.raw.push(b); this.reader.push(b); this.wake(); });
    sock.on('close', () => { this.closed = true; this.wake(); });
    sock.on('error', () => {});
  }

  private wake(): void {
    this.waiters.splice(0).forEach((w) => w());
  }

  private arrival(): Promise<void> {
    if (this.closed) throw new Error('closed');
    return new Promise<void>((r) => this.waiters.push(r));
  }

  /** Connects; nothing is sent. */
  static async connect(to: { host: string; port: number }): Promise<RawPgClient> {
    const sock = net.connect(to.port, to.host);
    await new Promise((r) => sock.once('connect', r));
    return new RawPgClient(sock);
  }

  /** Connects and logs in to pcigate's listener (SCRAM with its secret); ready for queries. */
  static async login(listener: { host: string; port: number; user: string; database: string; secret: string }): Promise<RawPgClient> {
    const c = await RawPgClient.connect(listener);
    c.startup({ user: listener.user, database: listener.database });
    await c.scram(listener.secret);
    return c;
  }

  /**
   * Logs in, writes each of `messages` and reads the answer up to its ReadyForQuery, then closes: every frame
   * as `letter:payload` (payload in latin1), in order.
   */
  static async session(listener: { host: string; port: number; user: string; database: string; secret: string }, messages: Buffer[]): Promise<string[]> {
    const c = await RawPgClient.login(listener);
    try {
      const out: string[] = [];
      for (const m of messages) {
        c.sock.write(m);
        for (const f of await c.untilReady()) out.push(`${String.fromCharCode(f[0]!)}:${f.subarray(5).toString('latin1')}`);
      }
      return out;
    } finally {
      c.sock.destroy();
    }
  }

  /**
   * Logs in and sends `frames` in one write (a client pipelining them); reads until the session ends or
   * `readies` ReadyForQuery came, then closes: every frame as `letter:payload` (payload in latin1), one a line.
   */
  static pipelined(listener: { host: string; port: number; user: string; database: string; secret: string }, frames: Buffer[], readies: number): Promise<string> {
    return RawPgClient.writes(listener, [Buffer.concat(frames)], [readies]);
  }

  /** Logs in and writes each of `writes` in turn, reading `readies[i]` ReadyForQuery after it; as pipelined(). */
  static async writes(listener: { host: string; port: number; user: string; database: string; secret: string }, writes: Buffer[], readies = writes.map(() => 1)): Promise<string> {
    const raw = await RawPgClient.login(listener);
    const seen: string[] = [];
    try {
      for (const [i, w] of writes.entries()) {
        raw.sock.write(w);
        for (let r = 0; r < readies[i]!; r++) {
          const got = await raw.untilReady().catch(() => null);
          if (!got) return seen.join('\n');
          seen.push(...got.map((f) => `${String.fromCharCode(f[0]!)}:${f.subarray(5).toString('latin1')}`));
        }
      }
    } finally { raw.sock.destroy(); }
    return seen.join('\n');
  }

  async frame(): Promise<Buffer> {
    for (;;) {
      const f = this.reader.next();
      if (f) return f;
      await this.arrival();
    }
  }

  /** A one-byte answer (to SSLRequest or GSSENCRequest): not a frame, so framing starts afresh after it. */
  async byte(): Promise<number> {
    while (this.raw.length === 0) await this.arrival();
    const b = this.raw[0]![0]!;
    this.raw = [];
    this.reader = new FrameReader(1 << 24);
    return b;
  }

  /** Frames up to and including the first of type `letter`. */
  async until(letter: string): Promise<Buffer[]> {
    const out: Buffer[] = [];
    for (;;) {
      const f = await this.frame();
      out.push(f);
      if (f[0] === letter.charCodeAt(0)) return out;
    }
  }

  untilReady(): Promise<Buffer[]> {
    return this.until('Z');
  }

  /** The fields of the next ErrorResponse, skipping anything before it. */
  async error(): Promise<Record<string, string>> {
    const f = (await this.until('E')).at(-1)!;
    const out: Record<string, string> = {};
    for (let off = 5; f[off] !== 0;) {
      const end = f.indexOf(0, off + 1);
      out[String.fromCharCode(f[off]!)] = f.subarray(off + 1, end).toString();
      off = end + 1;
    }
    return out;
  }

  startup(params: Record<string, string>, minor = 0): void {
    this.sock.write(bytes.startup(params, 3, minor));
  }

  /** Answers AuthenticationSASL with SCRAM-SHA-256 using `secret`; returns the frames up to ReadyForQuery. */
  async scram(secret: string): Promise<Buffer[]> {
    const sasl = await this.frame();
    if (sasl[0] !== 0x52 || sasl.readInt32BE(5) !== 10) throw new Error(`expected AuthenticationSASL, got ${String.fromCharCode(sasl[0]!)}`);
    const client = new ScramClient(secret);
    this.sock.write(bytes.saslInitial('SCRAM-SHA-256', client.first()));
    const cont = await this.frame();
    this.sock.write(bytes.saslResponse(client.final(cont.subarray(9).toString())));
    return this.untilReady();
  }
}
