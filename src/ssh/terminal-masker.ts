/**
 * TerminalMasker: PAN masking of terminal output as a terminal shows it. A terminal draws nothing for an escape
 * sequence (ECMA-48 §5.4 control sequences such as SGR colours `ESC [ 0 1 ; 3 1 m` and erase `ESC [ K`; two-byte
 * `ESC =`, `ESC ( B`, `ESC 7`) nor for a C0 control other than BS, HT, LF and CR, nor DEL, so `4111ESC[0m1111…` is
 * shown as 4111 1111… without the gap: `grep --color=always 1111` writes a card number so. The masker
 * (StreamMasker) reads bytes, not cells: it saw letters between the digit groups, or a word glued to the number
 * (`ESC[0m4111…`: `0m4111…`), and sent the number in clear.
 *
 * Here the masker reads the text without those sequences: a sequence between two bytes that can belong to a card
 * number (digits, space, dash, bytes ≥ 0x80) is left out of what it reads; any other stands there as one ESC byte
 * (a neutral non-letter, where a letter of it glued to a number hid the number), and goes out as it came in place
 * of that byte. Masking here must keep lengths (stars; `hmac` is `full` on SSH), so the masked text maps back
 * byte for byte. A control string (OSC, DCS, SOS, PM, APC, up to BEL, ST or a byte that ends it) is not drawn in
 * the line either: it is left out of the line's reading like a sequence, and what it holds is masked on its own, in
 * place (a window title is shown, in the title bar). Sequences pcigate cannot take for a terminal's are read as
 * text, as before: a string longer than MAX_STRING bytes and a control sequence longer than MAX_SEQUENCE bytes or
 * with a run of more than MAX_PARAM_DIGITS digits. Another C0 control or DEL inside a sequence is carried out or
 * ignored and the sequence goes on. A sequence cut off by a byte that cannot continue it (ESC or U+009B starting
 * anew, CAN, SUB, a byte ≥ 0x80) is dropped by a terminal: its bytes so far are a sequence too, and the byte is read
 * on its own. A sequence still open when the stream pauses
 * (release) sends its bytes so far as a sequence and goes on after the pause (`ESC` ⏸ `[32m4111…`); one still open
 * at the end (flush) is text. C1 controls as a UTF-8 terminal takes them (ECMA-48 §5.3, encoded as UTF-8:
 * xterm and VTE act on U+0080–U+009F): U+009B is a CSI like `ESC [` (`U+009B 32m4111…` is a colour, not a word
 * glued to the number), the other controls draw nothing, like a C0 one; NEL, IND and RI move the cursor to another
 * line: those are text; the string openers (DCS, SOS, OSC, PM, APC) open a control string as after ESC. Not
 * followed (docs/ssh.md): a lone 8-bit C1 byte (0x9b: not UTF-8, a UTF-8 terminal draws U+FFFD), and cursor
 * movements that put digits side by side on the screen.
 *
 * Each write, release or flush sends what it can in one `onData` call, its text given to the masker in one write.
 */
import { MaskError } from '../errors.js';
import { StreamMasker } from '../mask/stream-masker.js';
import type { StreamMaskerOptions } from '../mask/stream-masker.js';

/** Longest escape sequence taken as one (bytes, ESC included); real ones are far shorter. */
export const MAX_SEQUENCE = 64;
/** Longest control string taken as one (OSC, DCS, SOS, PM, APC; opener and terminator included); a longer one is text. */
export const MAX_STRING = 4096;
/** Sequences waiting after a number-ish byte, in bytes, before they are placed as ESC anyway (NUL after NUL…). */
const MAX_UNDECIDED = 4 * MAX_STRING;
/** Longest run of digits in a control sequence's parameters (a cursor row, a colour: ≤ 5). */
export const MAX_PARAM_DIGITS = 5;

const ESC = 0x1b;
const ESC_ONLY = [ESC];
/** The lead byte of U+0080–U+00BF in UTF-8; the C1 controls are 0xC2 0x80–0x9F. */
const C1_LEAD = 0xc2;
/** 1: a byte a terminal draws nothing for (a C0 control other than BS, HT, LF, CR; DEL); 2: ESC; 3: maybe a C1 control. */
const SPECIAL = new Uint8Array(256);
for (let b = 0x00; b < 0x20; b++) if (![0x08, 0x09, 0x0a, 0x0d].includes(b)) SPECIAL[b] = 1;
SPECIAL[0x7f] = 1;
SPECIAL[ESC] = 2;
SPECIAL[C1_LEAD] = 3;

/** What a terminal does with C1 control 0xC2 `b` (0x80–0x9F): opens a control sequence or string, draws nothing, or text (see above). */
function c1Control(b: number): 'csi' | 'string' | 'invisible' | 'text' {
  if (b === 0x9b) return 'csi';
  // DCS, SOS, OSC, PM, APC.
  if (b === 0x90 || b === 0x98 || b === 0x9d || b === 0x9e || b === 0x9f) return 'string';
  // NEL, IND, RI: another line, as LF (text).
  return b === 0x84 || b === 0x85 || b === 0x8d ? 'text' : 'invisible';
}

/** Whether a byte may be part of a card number as the detector reads one: digit, space, dash, or ≥ 0x80 (full-width). */
const numberish = (b: number) => (b >= 0x30 && b <= 0x39) || b === 0x20 || b === 0x2d || b >= 0x80;

/** ESC finals that open a control string: DCS P, SOS X, OSC ], PM ^, APC _. */
const OPENS_STRING = new Set([0x50, 0x58, 0x5d, 0x5e, 0x5f]);

/**
 * Where the reading of an escape sequence is: none open, after ESC, inside a control sequence (ESC [ or U+009B),
 * after a C1 lead byte, inside a control string (ESC ], ESC P …, or their C1 forms).
 */
const State = { Ground: 0, Esc: 1, Csi: 2, C1: 3, Str: 4 } as const;
type State = (typeof State)[keyof typeof State];

interface Placed {
  /** Offset in the masker's text: of its ESC stand-in, or (left out) of the byte the sequence comes before. */
  at: number;
  bytes: readonly number[];
  standIn: boolean;
}

/** Masks terminal output; `onData` receives the masked bytes in order, escape sequences where they were. */
export class TerminalMasker {
  readonly #inner: StreamMasker;
  readonly #onData: (chunk: Uint8Array) => void;
  readonly #opts: StreamMaskerOptions;
  /** Bytes of a sequence begun and not finished (not yet placed). */
  #partial: number[] = [];
  /** Bytes of the open sequence, those a release already placed included (MAX_SEQUENCE counts them all). */
  #seqBytes = 0;
  /** The open control string's own masker (one for the whole string, across releases) and what it gave back. */
  #strMasker: StreamMasker | undefined;
  #strOut: Uint8Array[] = [];
  /** Bytes given to the string's masker and not yet given back. */
  #strOwed = 0;
  /** The open string's last byte was 0xC2 (a release may have sent it): 0x9C after it is ST. */
  #strLead = false;
  #state: State = State.Ground;
  #paramDigits = 0;
  #intermediates = false;
  /** Sequences after a number-ish byte, waiting for the next text byte to decide how they are read. */
  #undecided: number[][] = [];
  #undecidedBytes = 0;
  /** Sequences placed in the masker's text, not yet sent. */
  #placed: Placed[] = [];
  /** Text for the masker (#pendingLength bytes), given to it once at the end of each call, not once a sequence. */
  #pending = new Uint8Array(0);
  #pendingLength = 0;
  /** Masked pieces of the current call, sent as one `onData` at its end; undefined outside a call (idle release). */
  #collected: Uint8Array[] | undefined;
  /** Bytes given to the masker, and bytes it has given back. */
  #fed = 0;
  #out = 0;
  #last = -1;

  constructor(onData: (chunk: Uint8Array) => void, opts: StreamMaskerOptions = {}) {
    if (opts.style?.format === 'hmac') throw new MaskError('terminal output is masked with stars of the same length; hmac is not supported here');
    this.#onData = onData;
    this.#opts = opts;
    this.#inner = new StreamMasker((b) => this.#emit(b), opts);
  }

  /** Bytes held back (by the masker, or as a sequence not yet placed). */
  get held(): number {
    return this.#inner.held + this.#partial.length + this.#undecidedBytes + (this.#strMasker?.held ?? 0);
  }

  /** Masks `chunk`; what can go out goes in at most one `onData` call. */
  write(chunk: Uint8Array): void {
    this.#batch(() => this.#read(chunk));
  }

  /**
   * The stream paused: the bytes of an open sequence so far go out in their place, as a sequence (a terminal draws
   * none of them), and what comes next still continues it (`ESC` ⏸ `[32m4111…` is a colour before a card number, not
   * `[32m` glued to it); an open string sends what its own masker releases; a lone 0xC2 goes as text (it may lead a
   * no-break space between digit groups) and what follows may still make it a C1 control; waiting sequences stand
   * as ESC; then the masker's idle release.
   */
  release(): void {
    this.#batch(() => {
      const open = this.#partial;
      this.#partial = [];
      if (this.#state === State.Str) this.#place(this.#stringOut(open, false));
      else if (this.#state === State.C1) this.#text(open, 0, open.length);
      else this.#place(open);
      this.#decide(false);
      this.#feed();
      this.#inner.release();
    });
  }

  /**
   * release(), then every byte still held too (a partial UTF-8 character at the end: a sink that cannot wait for its
   * rest, broker/ssh-session.ts), its context kept (StreamMasker.releaseStarred: a run's digits after its sixth go as
   * stars): the character may begin a full-width digit or a no-break space, and what follows is read after it.
   */
  releaseAll(): void {
    this.release();
    this.#batch(() => { this.#inner.releaseStarred(); });
  }

  /** End of stream (or a line of pcigate's own follows): everything goes out. */
  flush(): void {
    this.#batch(() => { this.#settle(); this.#feed(); this.#inner.flush(); });
    this.#last = -1;
  }

  /**
   * Runs one call with the masker's output collected, then sends it as one chunk: each `onData` is an asciicast
   * event, a promise and an SSH packet, and coloured output has a sequence every few bytes. On a failure nothing
   * collected goes out (the stream is closed).
   */
  #batch(run: () => void): void {
    this.#collected = [];
    let parts: Uint8Array[];
    try {
      run();
      this.#feed();
    } finally {
      parts = this.#collected;
      this.#collected = undefined;
      this.#pendingLength = 0;
    }
    if (parts.length === 1) this.#onData(parts[0]!);
    else if (parts.length > 1) this.#onData(Buffer.concat(parts));
  }

  /** Gives the masker the text of this call so far, in one write. */
  #feed(): void {
    if (this.#pendingLength === 0) return;
    const text = this.#pending.slice(0, this.#pendingLength);
    this.#pendingLength = 0;
    this.#inner.write(text);
  }

  /** Appends src[from, to) to the text for the masker. */
  #put(src: ArrayLike<number>, from: number, to: number): void {
    const need = this.#pendingLength + to - from;
    if (need > this.#pending.length) {
      const grown = new Uint8Array(Math.max(need, 2 * this.#pending.length, 1024));
      grown.set(this.#pending.subarray(0, this.#pendingLength));
      this.#pending = grown;
    }
    const p = this.#pending;
    let o = this.#pendingLength;
    if (to - from > 64 && src instanceof Uint8Array) p.set(src.subarray(from, to), o);
    else for (let i = from; i < to; i++) p[o++] = src[i]!;
    this.#pendingLength = need;
  }

  #read(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.#state !== State.Ground) {
        const r = this.#step(chunk[i]!);
        if (r === 'more' || r === 'done') i++;
        if (r === 'more') continue;
        const string = this.#state === State.Str;
        const bytes = this.#endSequence();
        // A string too long to be taken as one: what its masker has seen goes out as the string so far, the rest is text.
        if (string) this.#place(this.#stringOut(r === 'text' ? [] : bytes, true));
        if (r === 'text') this.#textOf(bytes);
        else if (!string) this.#place(bytes);
        continue;
      }
      let j = i;
      while (j < chunk.length && SPECIAL[chunk[j]!] === 0) j++;
      if (j > i) this.#text(chunk, i, j);
      if (j === chunk.length) break;
      if (chunk[j] === ESC) this.#open(State.Esc, ESC);
      else if (chunk[j] === C1_LEAD) this.#open(State.C1, C1_LEAD);
      else {
        // A run of controls that draw nothing is one sequence (a binary stream of NULs: not one placement a byte).
        let k = j + 1;
        while (k < chunk.length && SPECIAL[chunk[k]!] === 1 && k - j < MAX_SEQUENCE) k++;
        this.#sequence(Array.from(chunk.subarray(j, k)));
        i = k;
        continue;
      }
      i = j + 1;
    }
  }

  #open(state: State, first: number): void {
    this.#state = state;
    this.#partial = [first];
    this.#seqBytes = 1;
    this.#paramDigits = 0;
    this.#intermediates = false;
  }

  /** Bytes of a sequence a terminal drops, placed as one (none, after a release placed them: nothing). */
  #place(bytes: number[]): void {
    if (bytes.length > 0) this.#sequence(bytes);
  }

  /** A control string opens: its own masker (a terminal shows some strings, a window title, not in the line). */
  #beginString(): void {
    this.#state = State.Str;
    this.#strMasker = new StreamMasker((b) => this.#strOut.push(b), { ...this.#opts, idleMs: Infinity });
    this.#strOut = [];
    this.#strOwed = 0;
    this.#strLead = false;
  }

  /**
   * The open string's next bytes through its own masker, and what it gives back: what it can send at a pause (a
   * card number still open stays held, as in the line), everything at the string's end. Placed as a sequence.
   */
  #stringOut(bytes: number[], end: boolean): number[] {
    const m = this.#strMasker!;
    if (bytes.length > 0) m.write(Uint8Array.from(bytes));
    if (end) m.flush();
    else m.release();
    const out = this.#strOut.length === 1 ? this.#strOut[0]! : Buffer.concat(this.#strOut);
    this.#strOut = [];
    this.#strOwed += bytes.length - out.length;
    if (end) {
      this.#strMasker = undefined;
      // Fail closed: masking keeps lengths here (stars), and the string goes out in place of its bytes.
      if (this.#strOwed !== 0) throw new MaskError('terminal masking changed the length of a control string');
    }
    return [...out];
  }

  #take(b: number): void {
    this.#partial.push(b);
    this.#seqBytes++;
  }

  /**
   * Before a flush: an open string goes out whole (masked on its own), a sequence with bytes not yet placed is text.
   * One whose first bytes went out at a release holds nothing, and what follows still continues it (the session's
   * flush of an idle UTF-8 tail must not end it).
   */
  #settle(): void {
    if (this.#state === State.Str) this.#place(this.#stringOut(this.#endSequence(), true));
    else if (this.#partial.length > 0) this.#textOf(this.#endSequence());
    this.#decide(false);
  }

  #endSequence(): number[] {
    const p = this.#partial;
    this.#partial = [];
    this.#state = State.Ground;
    return p;
  }

  /**
   * One more byte of an open sequence: still open (`more`), complete (`done`), cut off by a byte that cannot
   * continue it (`cut`: a terminal drops what it had, ESC or U+009B starts anew, CAN and SUB cancel; the byte is read
   * again, on its own), or not a sequence pcigate takes (`text`: too long, too many digits, a string opener).
   */
  #step(b: number): 'more' | 'done' | 'cut' | 'text' {
    if (this.#state === State.Str) {
      if (this.#seqBytes >= MAX_STRING) return 'text';
      // Ended by BEL (xterm's OSC end), by ST as U+009C; ESC (ST is `ESC \`, read next as a sequence of its own),
      // CAN and SUB end it too.
      if (b === 0x07 || (b === 0x9c && this.#strLead)) { this.#take(b); return 'done'; }
      if (b === ESC || b === 0x18 || b === 0x1a) return 'cut';
      this.#strLead = b === C1_LEAD;
      this.#take(b);
      return 'more';
    }
    if (this.#seqBytes >= MAX_SEQUENCE) return 'text';
    if (this.#state === State.C1) {
      // The lead byte with anything but a C1 control after it is a character (`©`), read as text.
      const kind = b >= 0x80 && b <= 0x9f ? c1Control(b) : 'text';
      if (kind === 'text') return 'text';
      this.#take(b);
      if (kind === 'invisible') return 'done';
      if (kind === 'string') this.#beginString();
      else this.#state = State.Csi;
      return 'more';
    }
    // A C0 control but CAN, SUB and ESC is carried out inside a sequence without ending it, and DEL is ignored (the
    // VT500 parser xterm and VTE follow): the sequence goes on, and so does the masker's reading of it.
    if ((b < 0x20 && b !== ESC && b !== 0x18 && b !== 0x1a) || b === 0x7f) { this.#take(b); return 'more'; }
    if (this.#state === State.Esc) {
      if (b === 0x5b && !this.#intermediates) { this.#state = State.Csi; this.#take(b); return 'more'; }
      if (b >= 0x20 && b <= 0x2f) { this.#intermediates = true; this.#take(b); return 'more'; }
      if (OPENS_STRING.has(b) && !this.#intermediates) { this.#beginString(); this.#take(b); return 'more'; }
      if (b >= 0x30 && b <= 0x7e) { this.#take(b); return 'done'; }
      return 'cut';
    }
    if (b >= 0x30 && b <= 0x3f && !this.#intermediates) {
      this.#paramDigits = b <= 0x39 ? this.#paramDigits + 1 : 0;
      if (this.#paramDigits > MAX_PARAM_DIGITS) return 'text';
      this.#take(b);
      return 'more';
    }
    if (b >= 0x20 && b <= 0x2f) { this.#intermediates = true; this.#take(b); return 'more'; }
    if (b >= 0x40 && b <= 0x7e) { this.#take(b); return 'done'; }
    return 'cut';
  }

  /** A complete sequence: after a number-ish byte it waits for the next text byte; otherwise it stands as ESC. */
  #sequence(bytes: number[]): void {
    if (this.#last >= 0 && numberish(this.#last)) {
      this.#undecided.push(bytes);
      this.#undecidedBytes += bytes.length;
      if (this.#undecidedBytes > MAX_UNDECIDED) this.#decide(false);
      return;
    }
    this.#standIn(bytes);
  }

  #standIn(bytes: number[]): void {
    this.#placed.push({ at: this.#fed, bytes, standIn: true });
    this.#fed++;
    this.#put(ESC_ONLY, 0, 1);
  }

  /** Places the waiting sequences: left out between two number-ish bytes (`next` the one after), else as ESC. */
  #decide(joins: boolean): void {
    if (this.#undecided.length === 0) return;
    const waiting = this.#undecided;
    this.#undecided = [];
    this.#undecidedBytes = 0;
    for (const bytes of waiting) {
      if (joins) this.#placed.push({ at: this.#fed, bytes, standIn: false });
      else this.#standIn(bytes);
    }
  }

  /** Text src[from, to) for the masker. */
  #text(src: ArrayLike<number>, from: number, to: number): void {
    if (to <= from) return;
    this.#decide(numberish(src[from]!));
    this.#fed += to - from;
    this.#last = src[to - 1]!;
    this.#put(src, from, to);
  }

  #textOf(bytes: readonly number[]): void {
    this.#text(bytes, 0, bytes.length);
  }

  /** Masked text [#out, #out + chunk.length) from the masker: the sequences go back in their places. */
  #emit(chunk: Uint8Array): void {
    const start = this.#out;
    const end = start + chunk.length;
    const placed = this.#placed;
    let k = 0;
    let size = chunk.length;
    for (; k < placed.length; k++) {
      const p = placed[k]!;
      if (p.standIn ? p.at >= end : p.at > end) break;
      // Fail closed: masking keeps lengths and never touches an ESC; if it did, nothing maps back.
      if (p.standIn && chunk[p.at - start] !== ESC) throw new MaskError('terminal masking lost the place of an escape sequence');
      size += p.bytes.length - (p.standIn ? 1 : 0);
    }
    this.#out = end;
    if (k === 0) {
      this.#send(chunk);
      return;
    }
    // One buffer filled in place: coloured output has a sequence every few bytes (no piece per sequence).
    const out = Buffer.alloc(size);
    let pos = 0;
    let o = 0;
    for (let i = 0; i < k; i++) {
      const p = placed[i]!;
      const rel = p.at - start;
      while (pos < rel) out[o++] = chunk[pos++]!;
      for (const b of p.bytes) out[o++] = b;
      if (p.standIn) pos++;
    }
    while (pos < chunk.length) out[o++] = chunk[pos++]!;
    placed.splice(0, k);
    this.#send(out);
  }

  #send(out: Uint8Array): void {
    if (this.#collected) this.#collected.push(out);
    else this.#onData(out);
  }
}
