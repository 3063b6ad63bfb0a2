/**
 * StreamMasker: PAN masking for byte streams whose chunk boundaries fall anywhere (SSH and pty output,
 * COPY chunks). Issue 4, deliverable 6.
 *
 * It keeps the original bytes of the trailing run of digits and separators (a candidate that may still be
 * completed by the next chunk) and releases everything before it at once, masked. What is held back is
 * only what could still belong to an undecided PAN: the trailing groups that together hold at most 19 digits
 * (≤ 38 bytes; a PAN still to be completed starts at one of them),
 * plus an incomplete UTF-8 sequence at the very end (≤ 3 bytes), so a multibyte character is never split.
 * A little already-sent context (≤ ~80 bytes) is kept so a PAN that straddles what was sent and what was
 * held is still recognised; its unsent digits are then masked.
 *
 * After `idleMs` (≈ 20 ms) without input the held bytes are released as if the stream had paused there
 * (a complete PAN is masked; a partial one cannot be known yet), so an interactive terminal stays
 * responsive. Pass `idleMs: Infinity` for sinks where latency does not matter (recordings): nothing is
 * released before more bytes or flush() decide it.
 *
 * Fail closed: if masking throws, a MaskError is thrown and nothing of that chunk is emitted.
 */
import { MaskError } from '../errors.js';
import { hmacToken, digitsOf, mergeSpans, starSpan } from './mask-format.js';
import type { MaskStyle } from './mask-format.js';
import { exponentStart, exponentTail } from './float-text.js';
import { BYTE_CLASS, findPans, MAX_GLUED_WORD, MAX_PAN_DIGITS } from './pan-detector.js';
import type { DetectOptions, PanSpan } from './pan-detector.js';
import { addCount, PAN_RULE } from './pan-masker.js';
import { wideUnitAt } from './wide-text.js';
import type { MaskCounts } from './pan-masker.js';

/** `*`: what releaseStarred puts for a digit it may not send. */
const STAR = 0x2a;

/**
 * Stars every digit (ASCII or full-width) of `buf` in place. `leading`: only those of the digit and separator
 * run `buf` starts with; returns where that run ends (buf.length when it may go on past `buf`).
 */
export function starDigits(buf: Uint8Array, leading: boolean): number {
  for (let i = 0; i < buf.length;) {
    const b = buf[i]!;
    if (b < 0x80) {
      if (BYTE_CLASS[b] === 1) buf[i] = STAR;
      else if (leading && BYTE_CLASS[b] !== 2) return i;
      i++;
      continue;
    }
    const u = wideUnitAt(buf, i, buf.length);
    if (u.ascii >= 0x30) buf.fill(STAR, i, i + u.len);
    else if (leading && u.ascii === 0) return i;
    i += u.ascii !== 0 ? u.len : 1;
  }
  return buf.length;
}

/** Timer functions, injectable so tests control idle release. */
export interface IdleTimer {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export interface StreamMaskerOptions extends DetectOptions {
  style?: MaskStyle;
  /** Milliseconds without input after which held bytes are released; default 20; Infinity = never. */
  idleMs?: number;
  timer?: IdleTimer;
  /** Counts per rule are added here (`pan`). */
  counts?: MaskCounts;
  rule?: string;
  /** Called when an idle release fails (the stream must then be closed); default: rethrow. */
  onError?: (e: MaskError) => void;
}

const realTimer: IdleTimer = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

const EMPTY = new Uint8Array(0);

/** Masks a byte stream chunk by chunk; `onData` receives the masked bytes in order. */
export class StreamMasker {
  readonly #onData: (chunk: Uint8Array) => void;
  readonly #style: MaskStyle;
  readonly #detect: DetectOptions;
  readonly #idleMs: number;
  readonly #timer: IdleTimer;
  readonly #rule: string;
  readonly counts: MaskCounts;
  readonly #onError: ((e: MaskError) => void) | undefined;
  /** Original bytes: already-sent context, then held (unsent) bytes from #sent on. */
  #buf: Uint8Array = EMPTY;
  #sent = 0;
  #handle: unknown = undefined;
  #failed = false;
  /** Start offsets (in #buf) of PANs already decided and partly sent; their rest keeps the normal format. */
  #known = new Set<number>();

  constructor(onData: (chunk: Uint8Array) => void, opts: StreamMaskerOptions = {}) {
    this.#onData = onData;
    this.#style = opts.style ?? { format: 'last4' };
    this.#detect = { anyLuhn: opts.anyLuhn === true };
    this.#idleMs = opts.idleMs ?? 20;
    this.#timer = opts.timer ?? realTimer;
    this.#rule = opts.rule ?? PAN_RULE;
    this.counts = opts.counts ?? {};
    this.#onError = opts.onError;
    if (this.#style.format === 'hmac' && !this.#style.hmacKey?.length) throw new MaskError('the hmac mask format needs a key');
  }

  /** Number of bytes currently held back (not yet emitted). */
  get held(): number {
    return this.#buf.length - this.#sent;
  }

  /** Feeds a chunk; emits (synchronously) everything that can no longer become part of a PAN. */
  write(chunk: Uint8Array): void {
    if (this.#failed) throw new MaskError('stream masker failed earlier; the stream must be closed');
    // An empty chunk changes nothing: the idle release already pending for the held bytes stays (cancelled and
    // not set again, the held tail waited for the next byte or the end of the stream).
    if (chunk.length === 0) return;
    this.#cancelIdle();
    const buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    this.#process(buf, false);
    if (this.held > 0 && Number.isFinite(this.#idleMs)) {
      this.#handle = this.#timer.set(() => {
        this.#handle = undefined;
        try {
          this.release();
        } catch (e) {
          if (!this.#onError) throw e;
          this.#onError(e as MaskError);
        }
      }, this.#idleMs);
    }
  }

  /** Releases held bytes now (what the idle timer does), keeping context for what follows. */
  release(): void {
    if (this.#failed || this.held === 0) return;
    this.#process(this.#buf, true, true);
  }

  /**
   * Emits every held byte now, for a sink that cannot wait for the next chunk (an sftp reply must go whole:
   * ssh/sftp-output.ts): what an idle release sends, then the rest with its digits starred — those after a run's
   * sixth, which a later chunk could still complete into a card number. Byte for byte as long as what was held.
   * The context stays: a card number a later chunk completes has every digit not yet sent hidden.
   */
  releaseStarred(): void {
    if (this.#failed || this.held === 0) return;
    this.#cancelIdle();
    this.release();
    const rest = new Uint8Array(this.#buf.subarray(this.#sent));
    if (rest.length === 0) return;
    starDigits(rest, false);
    this.#sent = this.#buf.length;
    this.#onData(rest);
  }

  /**
   * Forgets the held bytes unsent, keeping the context before them: for a caller that will be given them again
   * (an sftp read answered short, which the client asks anew: ssh/sftp-output.ts). Returns how many there were.
   */
  dropHeld(): number {
    this.#cancelIdle();
    const n = this.held;
    this.#buf = this.#buf.subarray(0, this.#sent);
    return n;
  }

  /** End of stream: releases everything and forgets the context. */
  flush(): void {
    this.#cancelIdle();
    if (!this.#failed && this.held > 0) this.#process(this.#buf, true, false);
    this.#buf = EMPTY;
    this.#sent = 0;
  }

  #cancelIdle(): void {
    if (this.#handle !== undefined) {
      this.#timer.clear(this.#handle);
      this.#handle = undefined;
    }
  }

  /** `final`: the end of `buf` is taken as a pause or the end; `keepUtf8`: still hold a partial character. */
  #process(buf: Uint8Array, final: boolean, keepUtf8 = false): void {
    let out: Uint8Array;
    let hold: number;
    let spans: PanSpan[];
    try {
      hold = !final ? holdFrom(buf) : keepUtf8 ? idleHold(buf) : buf.length;
      // Bytes already sent stay sent: a chunk that extends the held run must not move the boundary back
      // (that would emit the sent context a second time).
      if (hold < this.#sent) hold = this.#sent;
      spans = findPans(buf, this.#detect, 0, buf.length, !final);
      if (this.#style.format === 'hmac') {
        // A token replaces a PAN whole, so a decided PAN is never split between now and later.
        for (let moved = true; moved; ) {
          moved = false;
          for (const s of spans) if (s.start >= this.#sent && s.start < hold && s.end > hold) { hold = s.start; moved = true; }
        }
      }
      out = this.#emit(buf, this.#sent, hold, spans);
    } catch (e) {
      this.#failed = true;
      throw e instanceof MaskError ? e : new MaskError('masking a stream chunk failed', { cause: e });
    }
    const keep = contextFrom(buf, hold);
    const known = new Set<number>();
    for (const s of spans) if (s.start < hold && s.end > hold && s.start >= keep) known.add(s.start - keep);
    this.#known = known;
    this.#buf = buf.subarray(keep);
    this.#sent = hold - keep;
    if (out.length > 0) this.#onData(out);
  }

  /** Masked bytes of buf[from, to): spans that end before `to` are decided; stars or hmac tokens. */
  #emit(buf: Uint8Array, from: number, to: number, spans: PanSpan[]): Uint8Array {
    if (to <= from) return EMPTY;
    const mine = spans.filter((s) => s.end > from && s.start < to);
    if (mine.length === 0) return buf.slice(from, to);
    const fresh = mergeSpans(mine.filter((s) => s.start >= from)).length;
    if (this.#style.format !== 'hmac') {
      const copy = new Uint8Array(buf);
      // A PAN completed only after its start was released by the idle timer: the part already sent may
      // show up to 18 digits, so every digit still unsent is hidden.
      for (const s of mine) starSpan(copy, s, s.start < from && !this.#known.has(s.start) ? 'full' : this.#style.format, from);
      addCount(this.counts, this.#rule, fresh);
      return copy.subarray(from, to);
    }
    // hmac: a PAN wholly unsent becomes a token; one whose start was already sent gets its rest starred.
    const parts: Uint8Array[] = [];
    let at = from;
    for (const s of mergeSpans(mine)) {
      if (s.start < from) {
        const copy = new Uint8Array(buf);
        starSpan(copy, s, 'full', from);
        parts.push(copy.subarray(at, Math.min(s.end, to)));
      } else {
        parts.push(buf.subarray(at, s.start), Buffer.from(hmacToken(this.#style.hmacKey!, digitsOf(buf, s.start, s.end)), 'latin1'));
      }
      at = Math.min(s.end, to);
    }
    parts.push(buf.subarray(at, to));
    addCount(this.counts, this.#rule, fresh);
    return Buffer.concat(parts);
  }
}

/**
 * Where the undecided tail of `buf` starts: the groups of the trailing digit/separator run that hold its
 * last 19 digits whole (a PAN completed by later bytes starts at one of them), a float print that may still end
 * as an exponent-form PAN (`4.111111111111111e+1`, float-text.ts), or an incomplete UTF-8 sequence.
 */
export function holdFrom(buf: Uint8Array): number {
  const run = digitRunHold(buf);
  const float = exponentTail(buf);
  return float >= 0 && float < run ? float : run;
}

function digitRunHold(buf: Uint8Array): number {
  // An incomplete character at the end is held anyway; a run of digits before it is undecided too (the
  // character may be a full-width digit or a no-break space, wide-text.ts).
  const n = utf8Tail(buf, buf.length);
  const last = unitBefore(buf, n);
  if (last === 1 || (last === 2 && unitBefore(buf, unitAt) === 1)) {
    let digits = 0;
    let groupStart = n;
    let j = n;
    if (last === 2) { unitBefore(buf, n); j = unitAt; }
    // Walk back group by group.
    while (j > 0) {
      let k = j;
      let g = 0;
      while (k > 0 && unitBefore(buf, k) === 1) { k = unitAt; g++; }
      // A PAN still to be completed runs from a group's start to the end: one with more than 19 digits from
      // here on cannot start at this group, nor at any before it.
      if (digits + g > MAX_PAN_DIGITS) break;
      digits += g;
      groupStart = k;
      if (digits >= MAX_PAN_DIGITS) break;
      if (k > 0 && unitBefore(buf, k) === 2) {
        const sep = unitAt;
        if (unitBefore(buf, sep) === 1) { j = sep; continue; }
      }
      break;
    }
    // The last group is too long to become a PAN: only an incomplete character is held.
    return groupStart;
  }
  return n;
}

/** Where the unit unitBefore() last read starts. */
let unitAt = 0;

/**
 * The character that ends right before `k`: 1 a digit (ASCII or full-width), 2 a separator (space, dash, or
 * a Unicode one: wide-text.ts), 4 an ASCII letter, 0 anything else; its start is left in `unitAt`.
 */
function unitBefore(buf: Uint8Array, k: number): number {
  if (k <= 0) { unitAt = 0; return 0; }
  const b = buf[k - 1]!;
  if (b < 0x80) { unitAt = k - 1; return BYTE_CLASS[b]!; }
  let i = k - 1;
  while (i > 0 && k - i < 3 && (buf[i]! & 0xc0) === 0x80) i--;
  unitAt = i;
  const u = wideUnitAt(buf, i, k);
  if (u.ascii === 0 || i + u.len !== k) { unitAt = k - 1; return 0; }
  return u.ascii >= 0x30 ? 1 : 2;
}

/**
 * What an idle release may send: everything but an undecided trailing digit run's digits after its sixth.
 * PCI DSS 3.4.1 lets the first six (the BIN) be shown; releasing more of a run that the next chunk may
 * complete into a PAN would show digits that can no longer be masked. The rest waits for the next byte
 * or the end of the stream, which decide it.
 */
export function idleHold(buf: Uint8Array): number {
  const run = holdFrom(buf);
  const end = utf8Tail(buf, buf.length);
  // No undecided digit run at the end (holdFrom points at an incomplete UTF-8 sequence, or at nothing).
  if (run >= end || (BYTE_CLASS[buf[run]!] !== 1 && wideUnitAt(buf, run, end).ascii < 0x30)) return end;
  let digits = 0;
  for (let i = run; i < end;) {
    const b = buf[i]!;
    if (b < 0x80) {
      if (BYTE_CLASS[b] === 1 && ++digits > 6) return i;
      i++;
      continue;
    }
    const u = wideUnitAt(buf, i, end);
    if (u.ascii >= 0x30 && ++digits > 6) return i;
    i += u.ascii !== 0 ? u.len : 1;
  }
  return end;
}

/** Start of an incomplete UTF-8 sequence at the end of buf, or buf.length. */
function utf8Tail(buf: Uint8Array, n: number): number {
  for (let k = 1; k <= 3 && k <= n; k++) {
    const b = buf[n - k]!;
    if (b < 0x80) return n;
    if (b >= 0xc0) {
      const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
      return need > k ? n - k : n;
    }
  }
  return n;
}

/**
 * How much already-sent context to keep before `hold`: enough that any PAN touching the held bytes is
 * seen whole again next time (its start lies within 19 digits before `hold`), plus the byte before it
 * (a letter there disqualifies the first group, unless a backslash before it makes it an escape: kept too) or, when they are `<digits>.`, those integer digits and
 * the byte before them (a decimal fraction or a float print). A group longer than 19 digits is kept only
 * in part: ≥ 20 of its digits are enough to show it is too long.
 */
export function contextFrom(buf: Uint8Array, hold: number): number {
  let j = hold;
  let digits = 0;
  while (j > 0) {
    const c = unitBefore(buf, j);
    if (c === 1) {
      digits++;
      j = unitAt;
      if (digits > 2 * MAX_PAN_DIGITS + 2) break;
    } else if (c === 2 && unitAt > 0 && unitBefore(buf, unitAt) === 1) {
      if (digits >= MAX_PAN_DIGITS) break;
      unitBefore(buf, j);
      j = unitAt;
    } else break;
  }
  // After `e+` or `e` the run is the exponent of a float print (float-text.ts; held here because a space
  // may follow and start a digit group): its mantissa is kept too, so the print is seen whole again.
  const t = exponentStart(buf, j);
  if (t >= 0) return t > 1 && buf[t - 2] === 0x5c ? t - 2 : t > 0 ? t - 1 : 0;
  // After `<digits>.` the run is a decimal fraction (pan-detector.ts), or the mantissa of a float print
  // (float-text.ts): the integer digits are kept with the byte before them.
  if (j >= 2 && buf[j - 1] === 0x2e && BYTE_CLASS[buf[j - 2]!] === 1) {
    let k = j - 2;
    while (k > 0 && BYTE_CLASS[buf[k - 1]!] === 1 && j - k <= MAX_PAN_DIGITS + 1) k--;
    return k > 1 && buf[k - 2] === 0x5c ? k - 2 : k > 0 ? k - 1 : 0;
  }
  // A word before the run is kept with the byte before it (pan-detector.ts inIdentifier: after a digit or `\x`
  // it is an identifier's, hex; `\n` is an escape, not a word), as far as a word a card number is looked for after.
  let w = j;
  while (w > 0 && BYTE_CLASS[buf[w - 1]!] === 4 && j - w < MAX_GLUED_WORD) w--;
  return w > 1 && buf[w - 2] === 0x5c ? w - 2 : w > 0 ? w - 1 : 0;
}
