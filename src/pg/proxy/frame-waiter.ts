/**
 * FrameWaiter: awaits whole frames from a socket during the short startup and authentication exchanges,
 * before a session's streaming pump takes the socket over (with the same reader, so no byte is lost).
 */
import type net from 'node:net';
import { PgUpstreamError } from '../../errors.js';
import { FrameReader } from './frame-reader.js';

export class FrameWaiter {
  private wake: (() => void) | null = null;
  private failure: Error | null = null;
  private socket: net.Socket | null = null;
  private readonly onData = (b: Buffer) => { this.reader.push(b); this.wake?.(); };
  private readonly onClose = () => { this.failure ??= new PgUpstreamError(`${this.peer} closed the connection during startup`); this.wake?.(); };
  private readonly onError = (e: Error) => { this.failure = new PgUpstreamError(`${this.peer}: ${e.message}`, { cause: e }); this.wake?.(); };

  constructor(socket: net.Socket, readonly reader: FrameReader, private readonly peer: string) {
    this.attach(socket);
  }

  attach(socket: net.Socket): void {
    this.detach();
    this.socket = socket;
    socket.on('data', this.onData);
    socket.on('close', this.onClose);
    socket.on('error', this.onError);
  }

  /** The next frame (untyped startup layout when `startup`); rejects when the peer goes away. */
  async next(startup = false): Promise<Buffer> {
    for (;;) {
      const f = this.reader.next(startup);
      if (f) return f;
      if (this.failure) throw this.failure;
      await new Promise<void>((r) => { this.wake = r; });
      this.wake = null;
    }
  }

  /** Resolves on the next chunk of data (or rejects when the peer goes away). */
  async waitForData(): Promise<void> {
    if (this.failure) throw this.failure;
    await new Promise<void>((r) => { this.wake = r; });
    this.wake = null;
    if (this.failure && this.reader.buffered === 0) throw this.failure;
  }

  detach(): void {
    const s = this.socket;
    if (!s) return;
    s.off('data', this.onData);
    s.off('close', this.onClose);
    s.off('error', this.onError);
    this.socket = null;
  }
}
