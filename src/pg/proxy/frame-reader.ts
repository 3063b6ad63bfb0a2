/**
 * FrameReader: the proxy's view of D's MessageFramer (src/pg/protocol/message-framer.ts), framed by
 * session step, never by sniffing: the caller says when a frame is an untyped startup-phase packet.
 * Frames come back as the original bytes (type byte, length, payload), views that stay valid while held,
 * so forwarding them needs no copy. Protocol 3.0 §55.2 (message flow) and §55.7 (message formats).
 */
import { Limits } from '../protocol/codes.js';
import { MessageFramer } from '../protocol/message-framer.js';

export class FrameReader {
  private readonly framer: MessageFramer;

  /**
   * `maxFrame`: largest typed frame accepted (Limits.frontend for a client, Limits.backend for a server);
   * `allocateAnnounced`: for the server pcigate logged in to (FramerOptions.allocateAnnounced).
   */
  constructor(maxFrame: number, peer = 'peer', allocateAnnounced = false) {
    this.framer = new MessageFramer({ maxLength: maxFrame, maxStartupLength: Limits.startup, peer, allocateAnnounced });
  }

  /** Appends bytes read from the socket. The chunk must not be modified afterwards. */
  push(chunk: Buffer): void {
    this.framer.push(chunk);
  }

  /** The largest typed frame accepted from now on (MessageFramer.setMaxLength). */
  setMaxFrame(max: number): void {
    this.framer.setMaxLength(max);
  }

  /** Bytes buffered but not yet returned as frames. */
  get buffered(): number {
    return this.framer.buffered;
  }

  /** MessageFramer.runOf: the whole frames of type `code` next, as one run. */
  runOf(code: number, accept: (buf: Buffer, at: number, to: number) => boolean): { buf: Buffer; from: number; to: number; count: number } | undefined {
    return this.framer.runOf(code, accept);
  }

  /**
   * The next complete frame, or null. `startup` selects the untyped layout (Int32 length first) of
   * StartupMessage, SSLRequest, GSSENCRequest and CancelRequest. Throws ProtocolError for a bad length and
   * DirectTlsRefused for a TLS ClientHello where a startup packet was expected.
   */
  next(startup = false): Buffer | null {
    if (startup && !this.framer.inStartup) this.framer.expectStartup();
    return this.framer.nextBytes() ?? null;
  }
}
