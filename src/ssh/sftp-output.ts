/**
 * PAN masking of what an sftp server sends, packet by packet (the sftp subsystem's stdout; ssh-session.ts).
 *
 * A file comes back in DATA answers, one per read (OpenSSH's sftp reads 255 KiB blocks, many in flight). Masked
 * as one byte stream, a card number across a read boundary was never seen whole: the next answer's header (its
 * length, a 0x00 byte first) lies between its halves, and both went out in clear. Here the data of each handle's
 * reads is one stream, in file order, with a StreamMasker of its own: an answer whose end could still be part of
 * a card number is held until the next contiguous answer for its handle decides it, then sent whole (a packet
 * cannot go in parts; masking keeps lengths, so its framing is unchanged). Held while that next read has been
 * asked (its answer comes without the client); when the client has not asked it within RELEASE_MS — it waits
 * for this answer first — the answer goes short, without its undecided tail (a read may be answered with less
 * than asked; the client asks for the rest, and the server's answer then brings the tail with what follows it).
 * Answers to reads asked before the client saw it short (OpenSSH's sftp asks ahead, and asks the rest after them)
 * come first, continuing the dropped tail: they are parked, unmasked, until the answer that fills the gap comes,
 * and then masked after it in file order, so a number across the short answer's end is decided whole (taken as a
 * read elsewhere, each would have had its leading digits starred: "entry 4594" as "entry ****"). When the client
 * has not asked for the gap within PARK_MS, they go as a stream of their own.
 * An answer that is all undecided tail cannot be shortened (an empty answer may read as the end of the file): it
 * goes whole, the digits after the run's sixth starred (StreamMasker releaseStarred; a card number completed
 * later has the rest hidden too). An end of file where the held data stops, or the end of the file as a stat of
 * it told (sftp get stats first), decides a held tail as it stands. A read elsewhere in the file, an end of file
 * or error elsewhere, the handle's close or the channel's end send it starred so: the client may read what follows
 * on its own (a stream of its own, or another handle's), and it must not complete digits shown in clear. A stream
 * that begins past the file's start has the digits of its first run starred, for the same reason backwards.
 * Every other packet (names of a listing, a status's message) is masked on its own. Packets go out in the order
 * the server sent them.
 */
import { MaskError } from '../errors.js';
import { starDigits, StreamMasker } from '../mask/stream-masker.js';
import type { StreamMaskerOptions } from '../mask/stream-masker.js';
import { SftpAudit } from './sftp-audit.js';
import type { SftpFailure } from './sftp-audit.js';

/** How long a held answer waits for the client to ask for what follows it before it goes, its undecided digits starred. */
export const RELEASE_MS = 50;

/**
 * How long answers parked behind a short answer's gap wait for the client to ask for it. Longer than RELEASE_MS:
 * the client asks the rest as soon as it reads the short answer, and giving up stars digits that are no card number.
 */
export const PARK_MS = 1000;

/** At most this much read data is parked per handle; past it, what is parked goes as a stream of its own. */
export const MAX_PARKED_BYTES = 16 * 1024 * 1024;

/** A packet on its way out: `fill` is where the masked data goes next, up to `end`; ready when they meet. */
interface Pending { bytes: Buffer; fill: number; end: number; start: number }

/** A read answer past a gap in the file, its data not masked yet: `data` from file offset `offset`. */
interface Parked { p: Pending; data: Buffer; offset: number; size?: number }

/**
 * The data of one handle's reads seen so far: a stream masker, and where in the file the next contiguous read
 * starts. `lead`: the stream began past the file's start and its first digit run is not over yet. `resume`: after
 * a short answer, where a read asked before it (and answered before the gap) continues: its end, or the end of
 * what is parked. `stalled`: since when parked answers wait for a gap the client has not asked for.
 */
interface HandleStream {
  masker: StreamMasker;
  next: number;
  waiting: Pending[];
  lead: boolean;
  parked: Parked[];
  resume?: number;
  stalled?: number;
}

type ReadData = { handle: string; offset: number; start: number; length: number; size?: number };

export class SftpOutput {
  readonly #audit: SftpAudit;
  readonly #opts: StreamMaskerOptions;
  readonly #send: (b: Buffer) => void;
  readonly #queue: Pending[] = [];
  readonly #streams = new Map<string, HandleStream>();
  /** Masks a packet that is not read data, on its own. */
  readonly #other: StreamMasker;
  #otherOut: Uint8Array[] = [];
  readonly #onError: (e: unknown) => void;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * `opts`: the session's masking (a star format: lengths are kept); `send`: whole masked packets, in order;
   * `onError`: a release on the timer failed (the channel must be closed).
   */
  constructor(audit: SftpAudit, opts: StreamMaskerOptions, send: (b: Buffer) => void, onError: (e: unknown) => void) {
    this.#audit = audit;
    this.#opts = { ...opts, idleMs: Infinity };
    this.#send = send;
    this.#onError = onError;
    this.#other = new StreamMasker((b) => { this.#otherOut.push(b); }, this.#opts);
  }

  /** Server → client bytes; returns the audited operations the server refused. Throws SftpProtocolError, MaskError. */
  write(chunk: Buffer): SftpFailure[] {
    const failures: SftpFailure[] = [];
    this.#audit.serverPackets(chunk, (p) => {
      if (p.failure) failures.push(p.failure);
      if (p.data) { this.#data(p.bytes, p.data); return; }
      // An end of file right where the held data stops ends it; any other answer is a read elsewhere.
      if (p.readEnded) this.#decide(p.readEnded.handle, p.readEnded.eof && this.#streams.get(p.readEnded.handle)?.next === p.readEnded.offset);
      this.#otherOut = [];
      this.#other.write(p.bytes);
      this.#other.flush();
      const masked = Buffer.concat(this.#otherOut);
      if (masked.length !== p.bytes.length) throw new MaskError('masking changed the length of an sftp packet');
      this.#queue.push({ bytes: masked, fill: 0, end: 0, start: 0 });
    });
    this.#drain();
    this.#arm();
    return failures;
  }

  /** The channel ends: every held tail is sent, its undecided digits starred (the file may go on). */
  end(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const handle of [...this.#streams.keys()]) this.#decide(handle, false);
    this.#drain();
  }

  /**
   * A closed handle's stream ends: what is held of it is sent, its undecided digits starred (#decide). A held
   * answer whose continuation the client has not asked for would wait for good: it goes after RELEASE_MS; answers
   * parked behind a gap the client has not asked for go after PARK_MS.
   */
  #arm(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#closed();
    this.#drain();
    const now = Date.now();
    let wait = Infinity;
    for (const [handle, s] of this.#streams) {
      const gap = !this.#audit.readAsked(handle, s.next);
      if (gap && s.waiting.length > 0) wait = Math.min(wait, RELEASE_MS);
      if (gap && s.waiting.length === 0 && s.parked.length > 0) {
        // A wall clock stepped back (NTP) restarts the wait rather than stretching it by the step.
        if (s.stalled === undefined || s.stalled > now) s.stalled = now;
        wait = Math.min(wait, Math.max(0, s.stalled + PARK_MS - now));
      } else {
        s.stalled = undefined;
      }
    }
    if (wait === Infinity) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      try {
        this.#closed();
        for (const [handle, s] of [...this.#streams]) {
          if (this.#audit.readAsked(handle, s.next)) continue;
          if (s.waiting.length > 0) this.#release(handle, s);
          else if (s.stalled !== undefined && Date.now() - s.stalled >= PARK_MS) this.#decide(handle, false);
        }
        this.#arm();
      } catch (e) {
        this.#onError(e);
      }
    }, wait);
    this.#timer.unref?.();
  }

  /**
   * A held answer the client waits for. When part of its data is masked already, it goes short (a read may be
   * answered with less than asked): the client asks for the rest anew, and the server's answer brings what follows
   * it, so the held bytes are decided with their continuation. Otherwise it goes whole, undecided digits starred.
   */
  #release(handle: string, s: HandleStream): void {
    const p = s.waiting.length === 1 ? s.waiting[0]! : undefined;
    if (!p || p.fill === p.start) { s.masker.releaseStarred(); return; }
    const dropped = s.masker.dropHeld();
    if (dropped !== p.end - p.fill) throw new MaskError('masking changed the length of sftp read data');
    // Its length fields say what is left: the packet's (first), and the data's (right before the data).
    p.bytes = p.bytes.subarray(0, p.fill);
    p.bytes.writeUInt32BE(p.fill - 4, 0);
    p.bytes.writeUInt32BE(p.fill - p.start, p.start - 4);
    p.end = p.fill;
    s.waiting.length = 0;
    if (s.parked.length === 0) s.resume = s.next;
    s.next -= dropped;
    this.#audit.unread(handle, dropped);
  }

  #closed(): void {
    for (const handle of [...this.#streams.keys()]) if (!this.#audit.isOpen(handle)) this.#decide(handle, false);
  }

  #data(bytes: Buffer, d: ReadData): void {
    let s = this.#streams.get(d.handle);
    const p: Pending = { bytes: Buffer.from(bytes), fill: d.start, end: d.start + d.length, start: d.start };
    this.#queue.push(p);
    if (s && s.next !== d.offset) {
      // A read asked before the client saw a short answer: it continues the gap the client asks anew.
      if (d.length > 0 && d.offset === s.resume && s.parked.reduce((n, k) => n + k.data.length, d.length) <= MAX_PARKED_BYTES) {
        const data = Buffer.from(bytes.subarray(d.start, d.start + d.length));
        s.parked.push({ p, data, offset: d.offset, ...(d.size !== undefined ? { size: d.size } : {}) });
        s.resume = d.offset + d.length;
        return;
      }
      // Read elsewhere in the file: what was held is not continued by this, nor seen with it.
      this.#decide(d.handle, false);
      s = undefined;
    }
    if (d.length === 0) return;
    this.#feed(d.handle, s ?? this.#open(d.handle, d.offset), p, bytes.subarray(d.start, d.start + d.length), d.size);
    // The gap filled: what was parked behind it follows, in file order.
    while ((s = this.#streams.get(d.handle)) && s.parked[0]?.offset === s.next) {
      const k = s.parked.shift()!;
      this.#feed(d.handle, s, k.p, k.data, k.size);
    }
    if (!s) return;
    if (s.parked.length === 0 && s.resume !== undefined && s.next >= s.resume) s.resume = undefined;
    // The gap was filled with more than it was (a client asking more than the rest): what is parked overlaps. Or
    // with less (the server answered the rest short): the client asks again only once it has this answer, which
    // waits behind the parked ones in the queue. Either way they cannot follow on: they go as a stream of their own.
    if (s.parked.length > 0 && s.parked[0]!.offset !== s.next) this.#decide(d.handle, false);
  }

  /** A new stream of `handle`'s data, from file offset `offset`. */
  #open(handle: string, offset: number): HandleStream {
    const s: HandleStream = { masker: new StreamMasker((b) => this.#fill(s, b), this.#opts), next: offset, waiting: [], lead: offset > 0, parked: [] };
    this.#streams.set(handle, s);
    return s;
  }

  /** Read data into its stream, for packet `p`; `size`: the file's size, as a stat told it. */
  #feed(handle: string, s: HandleStream, p: Pending, data: Uint8Array, size: number | undefined): void {
    s.waiting.push(p);
    s.next += data.length;
    s.masker.write(data);
    // The end of the file as a stat told it: nothing follows there.
    if (size !== undefined && s.next >= size) this.#decide(handle, true);
  }

  /**
   * Masked data of a handle's stream, in order, into the packets that carry it. A stream that begins past the
   * file's start may begin inside a card number whose first digits it never saw (a client reading backwards, or
   * on a second handle, or after a read elsewhere): the digits of its leading run are all starred.
   */
  #fill(s: HandleStream, b: Uint8Array): void {
    if (s.lead) {
      b = new Uint8Array(b);
      s.lead = starDigits(b, true) === b.length;
    }
    let at = 0;
    while (at < b.length) {
      const p = s.waiting[0];
      if (!p) throw new MaskError('masking changed the length of sftp read data');
      const n = Math.min(p.end - p.fill, b.length - at);
      p.bytes.set(b.subarray(at, at + n), p.fill);
      p.fill += n;
      at += n;
      if (p.fill === p.end) s.waiting.shift();
    }
  }

  /**
   * A handle's stream ends: its held tail is sent. `atEnd`: the file ends there (an end of file where it stops,
   * or the size a stat told), so the tail is decided as it stands; otherwise the file may go on past it, and
   * what follows may be read on its own (a read elsewhere, another handle, another channel): its digits after
   * the run's sixth are starred.
   */
  #decide(handle: string, atEnd: boolean): void {
    const s = this.#streams.get(handle);
    if (!s) return;
    this.#streams.delete(handle);
    if (atEnd) s.masker.flush();
    else s.masker.releaseStarred();
    if (s.waiting.length > 0) throw new MaskError('masking changed the length of sftp read data');
    // Parked answers whose gap never came: a stream of their own, begun past what it saw.
    if (s.parked.length === 0) return;
    for (const k of s.parked) this.#feed(handle, this.#streams.get(handle) ?? this.#open(handle, k.offset), k.p, k.data, k.size);
    this.#decide(handle, false);
  }

  #drain(): void {
    while (this.#queue.length > 0 && this.#queue[0]!.fill === this.#queue[0]!.end) this.#send(this.#queue.shift()!.bytes);
  }
}
