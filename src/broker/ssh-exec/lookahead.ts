/**
 * What the readers of a command line look ahead for from a place in it — the next `))`, `]` or `}`, the next
 * match of a pattern, whether the text up to there is arithmetic of numbers — each found in one pass over the
 * line and then looked up, however often and from wherever it is asked. Searched afresh at each of a client's
 * 80,000 `$((` with no `))` after them, each search ran to the end of the line: 240 kB took 0.4 s of the event
 * loop, and time grew with the square of the line.
 */
import { firstAtLeast } from '../../sorted-index.js';

/** A character of arithmetic of numbers: digits, blanks, operators, parentheses. */
const ARITHMETIC_CHAR = /[0-9\s+\-*/%<>=!&|^~?:,()]/;

export class Lookahead {
  /** For each string or pattern asked about, every place it starts, in order (found once, on the first ask). */
  readonly #starts = new Map<string | RegExp, number[]>();
  #arithmeticEnds: Int32Array | undefined;

  constructor(readonly text: string) {}

  /**
   * Where `what` (a string, or a RegExp with the g flag) next starts at or after `from` (-1: nowhere). Its places
   * are kept per `what` (by identity): pass the same RegExp object each time, not a new one.
   */
  next(what: string | RegExp, from: number): number {
    let starts = this.#starts.get(what);
    if (!starts) {
      starts = [];
      if (typeof what === 'string') {
        for (let at = this.text.indexOf(what); at >= 0; at = this.text.indexOf(what, at + 1)) starts.push(at);
      } else {
        // Without g, exec ignores lastIndex and this loop would not end; with y it would miss matches.
        if (!what.global || what.sticky) throw new Error(`Lookahead.next needs a RegExp with the g flag and not y: ${String(what)}`);
        // Each match's start, overlapping ones too: the search goes on from the place after the last start.
        what.lastIndex = 0;
        for (let m = what.exec(this.text); m !== null; m = what.exec(this.text)) { starts.push(m.index); what.lastIndex = m.index + 1; }
      }
      this.#starts.set(what, starts);
    }
    const k = firstAtLeast(starts, from);
    return k < starts.length ? starts[k]! : -1;
  }

  /** Whether text[from, to) is arithmetic of numbers only (empty is): digits, blanks, operators, parentheses. */
  numbersOnly(from: number, to: number): boolean {
    const end = Math.min(to, this.text.length);
    if (from >= end) return true;
    if (!this.#arithmeticEnds) {
      // For each place, where the run of arithmetic characters starting there ends.
      const t = this.text;
      const ends = new Int32Array(t.length + 1);
      ends[t.length] = t.length;
      for (let k = t.length - 1; k >= 0; k--) ends[k] = ARITHMETIC_CHAR.test(t[k]!) ? ends[k + 1]! : k;
      this.#arithmeticEnds = ends;
    }
    return this.#arithmeticEnds[from]! >= end;
  }
}
