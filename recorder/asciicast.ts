/**
 * asciicast v2 recordings of terminal sessions (docs.asciinema.org/manual/asciicast/v2): a JSON header line
 * then one `[seconds, code, data]` event per line — `o` output, `i` input, `r` resize (`COLSxROWS`), `m`
 * marker. Callers hand it bytes that are already masked; the file's SHA-256 and size are committed into
 * the audit log when the session ends (and periodically while it runs).
 *
 * Writes are buffered and flushed every few milliseconds through one FileHandle; a write error is kept
 * and re-thrown by the next call, so the broker can fail closed (stop the session) instead of going on
 * unrecorded. `written()` tells a caller when what it handed over is in the file: the SSH broker sends
 * output to the user only then. A write that fails (ENOSPC may write part of a chunk first) is cut back
 * to the last whole chunk, so the file stays well-formed lines holding exactly what was shown.
 */
import type { FileHandle } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import type { Clock, Fs } from '../src/cli/ctx.js';
import { AuditWriteError } from '../src/errors.js';

export interface AsciicastHeader {
  width: number;
  height: number;
  title?: string;
  env?: Record<string, string>;
}

const FLUSH_MS = 25;
const FLUSH_BYTES = 64 * 1024;

export class AsciicastWriter {
  readonly path: string;
  readonly #fh: FileHandle;
  readonly #clock: Clock;
  readonly #start: bigint;
  readonly #out = new StringDecoder('utf8');
  readonly #in = new StringDecoder('utf8');
  #pending: string[] = [];
  #pendingBytes = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing: Promise<void> = Promise.resolve();
  /** A write is queued behind the one in flight; it takes everything pending when it starts. */
  #queued = false;
  /** Bytes of whole chunks in the file. */
  #size = 0;
  #error: unknown;
  #closed = false;

  private constructor(path: string, fh: FileHandle, clock: Clock) {
    this.path = path;
    this.#fh = fh;
    this.#clock = clock;
    this.#start = clock.micros();
  }

  /** Creates the file (0600, must not exist) and writes the header. */
  static async create(fs: Fs, path: string, clock: Clock, header: AsciicastHeader): Promise<AsciicastWriter> {
    const fh = await fs.open(path, 'wx', 0o600);
    const w = new AsciicastWriter(path, fh, clock);
    const head = { version: 2, width: header.width, height: header.height, timestamp: Math.floor(clock.now() / 1000), title: header.title, env: header.env };
    w.#push(`${JSON.stringify(head)}\n`);
    await w.sync();
    return w;
  }

  output(data: Uint8Array): void { this.#event('o', this.#out.write(Buffer.from(data.buffer, data.byteOffset, data.byteLength))); }
  input(data: Uint8Array): void { this.#event('i', this.#in.write(Buffer.from(data.buffer, data.byteOffset, data.byteLength))); }
  resize(cols: number, rows: number): void { this.#event('r', `${cols}x${rows}`); }
  marker(label: string): void { this.#event('m', label); }

  /** Resolves once everything handed over so far is written to the file (not yet fsynced); rejects if a write failed. */
  async written(): Promise<void> {
    await this.#flush();
    this.#check();
  }

  /** The write error that stopped this recording, if any. */
  get failed(): unknown {
    return this.#error;
  }

  /** Writes everything buffered and fsyncs; rejects if any write failed. */
  async sync(): Promise<void> {
    await this.written();
    await this.#fh.datasync();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    const tailOut = this.#out.end();
    if (tailOut) this.#event('o', tailOut);
    try {
      await this.sync();
    } finally {
      this.#closed = true;
      await this.#fh.close();
    }
  }

  #event(code: 'o' | 'i' | 'r' | 'm', data: string): void {
    this.#check();
    if (this.#closed) throw new AuditWriteError(`recording ${this.path} is closed`);
    if (data === '' && code !== 'm') return;
    const t = Number(this.#clock.micros() - this.#start) / 1e6;
    this.#push(`${JSON.stringify([Math.round(t * 1e6) / 1e6, code, data])}\n`);
  }

  #push(line: string): void {
    this.#pending.push(line);
    this.#pendingBytes += line.length;
    if (this.#pendingBytes >= FLUSH_BYTES) void this.#flush();
    else if (!this.#timer) {
      this.#timer = setTimeout(() => { void this.#flush(); }, FLUSH_MS);
      this.#timer.unref?.();
    }
  }

  /**
   * Starts writing what is pending, or queues one write behind the one in flight (which then takes
   * everything pending when it starts: one write per round trip under load, not one per event).
   */
  #flush(): Promise<void> {
    if (this.#timer) { clearTimeout(this.#timer); this.#timer = undefined; }
    if (this.#pending.length === 0 || this.#queued) return this.#writing;
    this.#queued = true;
    this.#writing = this.#writing.then(async () => {
      this.#queued = false;
      const chunk = Buffer.from(this.#pending.join(''), 'utf8');
      this.#pending = [];
      this.#pendingBytes = 0;
      if (this.#error || chunk.length === 0) return;
      try {
        // A write(2) may write part of the chunk (a disk filling up): go on until all of it is written or one fails.
        for (let off = 0; off < chunk.length; ) {
          const { bytesWritten } = await this.#fh.write(chunk, off, chunk.length - off, this.#size + off);
          off += bytesWritten;
        }
        this.#size += chunk.length;
      } catch (err) {
        this.#error = err;
        // Cut a partly written chunk off, so the file ends with the last whole event (shrinking needs no space).
        await this.#fh.truncate(this.#size).catch(() => undefined);
      }
    });
    return this.#writing;
  }

  #check(): void {
    if (this.#error) throw new AuditWriteError(`cannot write recording ${this.path}: ${(this.#error as Error).message}`, { cause: this.#error });
  }
}
