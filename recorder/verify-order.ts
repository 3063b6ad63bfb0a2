/**
 * Localisation: from the lines in file order to one record per seq, naming each departure from the
 * contract (docs/log-format.md "Records") once, at the record it concerns, instead of a cascade.
 *
 * 1. slots: an unreadable line (or a line whose seq field was changed) sitting exactly where an absent
 *    seq belongs takes that seq, so a damaged record is reported as that record;
 * 2. duplicates: when several lines claim a seq, the genuine one is the one the next record's `prev`
 *    points at (then the one in place); the others are `inserted`;
 * 3. order: the longest increasing run of seqs in file order is in place; the rest is `reordered`;
 * 4. gaps: seqs below the highest one that no line claims are `missing` (one problem per run);
 * 5. chain: a broken link prev(s) ≠ leaf(s−1) is explained by the fewest changed records — a record
 *    changed anywhere breaks the link to its successor, a changed `prev` also breaks the link to it.
 */
import type { Problem, ProblemKind } from './verify-types.js';
import type { ScannedLines } from './verify-scan.js';
import { ZERO_PREV, leafHexAt, leavesEqual } from './verify-scan.js';

export interface Ordered {
  /** Length of the log: highest chosen seq + 1. */
  size: number;
  /** Line index of the record chosen for each seq, -1 when missing. */
  idxOfSeq: Int32Array;
  problems: Problem[];
  /** Lowest seq whose leaf is known to differ from what was written (modified or damaged). */
  firstDamaged: number;
}

/** At most this many seqs past the lines there are can be reported `missing` (4 bytes each in one array). */
export const MAX_MISSING_SPAN = 1 << 26;

type Push = (kind: ProblemKind, i: number | null, seq: number | null, detail: string) => void;

/** Seq → line resolution and chain check over scanned lines. */
export function orderAndChain(s: ScannedLines): Ordered {
  const problems: Problem[] = [];
  const segOfSeq = (seq: number): string | null => segmentForSeq(s, seq);
  const push: Push = (kind, i, seq, detail) => {
    const p: Problem = {
      kind,
      segment: i !== null ? (s.segNames[s.seg[i]!] ?? null) : seq !== null ? segOfSeq(seq) : null,
      seq,
      detail,
      severity: 'fail',
    };
    if (i !== null) {
      p.line = s.line[i]!;
      p.offset = s.offset[i]!;
    }
    problems.push(p);
  };

  // The highest seq a line may claim: the end of the last segment's range, plus the lines there are. Only
  // segments holding lines count, and the span is capped: this sizes an array, and an empty file named
  // 999999999999.jsonl costs nothing to make (it ended verify as an internal error). A log that really lost
  // more records than the cap before its last ones still fails, its last records `inserted` beyond the end.
  const holds = new Uint8Array(s.segNames.length);
  for (let i = 0; i < s.n; i++) holds[s.seg[i]!] = 1;
  let limit = s.n;
  for (let g = 0; g < s.segStarts.length; g++) if (holds[g] && Number.isFinite(s.segStarts[g])) limit = Math.max(limit, s.segStarts[g]! + s.n);
  limit = Math.min(limit, s.n + MAX_MISSING_SPAN);
  const idx = new Int32Array(limit + 1).fill(-1);
  const dups = new Map<number, number[]>();
  const beyond = new Map<number, number>();
  let firstDamaged = Infinity;
  for (let i = 0; i < s.n; i++) {
    if (!s.ok[i]) continue;
    const q = s.seq[i]!;
    if (q > limit) {
      beyond.set(i, q);
      s.seq[i] = NaN;
      continue;
    }
    if (idx[q] === -1) idx[q] = i;
    else dups.set(q, [...(dups.get(q) ?? []), i]);
  }
  const modifiedDone = new Set<number>();

  // 1. Slots.
  for (let i = 0; i < s.n; i++) {
    if (!s.ok[i] && Number.isNaN(s.seq[i]!)) {
      let j = i;
      while (j + 1 < s.n && !s.ok[j + 1]) j++;
      const a = i === 0 ? -1 : s.ok[i - 1] ? s.seq[i - 1]! : NaN;
      const b = j + 1 < s.n ? s.seq[j + 1]! : NaN;
      const u = j - i + 1;
      let free = Number.isFinite(a) && Number.isFinite(b) && b - a - 1 === u;
      for (let k = 1; free && k <= u; k++) if (idx[a + k] !== -1) free = false;
      for (let k = 0; k <= j - i; k++) {
        const line = i + k;
        if (free) {
          s.seq[line] = a + 1 + k;
          idx[a + 1 + k] = line;
          push('unreadable', line, a + 1 + k, `record seq ${a + 1 + k}: ${s.unreadable.get(line) ?? 'unreadable'}`);
        } else {
          push('unreadable', line, null, s.unreadable.get(line) ?? 'unreadable');
          // An incomplete line at the very end of the log is a write in flight or a crash the writer has
          // not yet recovered (it will cut it and log log.recovered): no checkpoint can cover it, so it
          // is reported, as a warning.
          if (line === s.n - 1 && s.torn === line) problems[problems.length - 1]!.severity = 'warn';
        }
      }
      i = j;
    } else if (s.ok[i] && i > 0 && i + 1 < s.n && s.ok[i - 1] && s.ok[i + 1]) {
      const a = s.seq[i - 1]!;
      const q = s.seq[i]!;
      if (s.seq[i + 1] === a + 2 && q !== a + 1 && idx[a + 1] === -1) {
        const claimed = beyond.get(i) ?? q;
        beyond.delete(i);
        // A record whose seq field changed: it sits where seq a+1 belongs and nothing else claims a+1.
        const list = dups.get(q);
        if (idx[q] === i) {
          idx[q] = list?.shift() ?? -1;
        } else if (list) {
          list.splice(list.indexOf(i), 1);
        }
        if (list?.length === 0) dups.delete(q);
        s.seq[i] = a + 1;
        idx[a + 1] = i;
        modifiedDone.add(a + 1);
        firstDamaged = Math.min(firstDamaged, a + 1);
        push('modified', i, a + 1, `record seq ${a + 1} was changed: its seq field reads ${claimed}`);
      }
    }
  }
  for (const [i, q] of beyond) push('inserted', i, q, `a record claiming seq ${q}, beyond the end of the log`);

  // 2. Duplicates.
  for (const [q, others] of dups) {
    const cands = [idx[q]!, ...others].filter((c) => c >= 0).sort((x, y) => x - y);
    const succ = [...(idx[q + 1] !== undefined && idx[q + 1]! >= 0 ? [idx[q + 1]!] : []), ...(dups.get(q + 1) ?? [])];
    const pointed = cands.filter((c) => succ.some((x) => prevMatches(s, x, c) === true));
    const pool = pointed.length > 0 ? pointed : cands;
    const inPlace = pool.find((c) => (c > 0 && s.seq[c - 1] === q - 1) || (c + 1 < s.n && s.seq[c + 1] === q + 1));
    const genuine = inPlace ?? pool[0]!;
    idx[q] = genuine;
    for (const c of cands) {
      if (c === genuine) continue;
      const same = leavesEqual(s, c, genuine);
      push('inserted', c, q, same ? `a second copy of record seq ${q}` : `a record claiming seq ${q} that is not in the hash chain`);
    }
  }

  // 3. Order: longest increasing subsequence of the chosen records' seqs in file order.
  const chosen: number[] = [];
  for (let i = 0; i < s.n; i++) {
    const q = s.seq[i]!;
    if (!Number.isNaN(q) && idx[q] === i) chosen.push(i);
  }
  let sorted = true;
  for (let k = 1; sorted && k < chosen.length; k++) sorted = s.seq[chosen[k]!]! > s.seq[chosen[k - 1]!]!;
  const inLis = sorted ? undefined : longestIncreasing(chosen.map((i) => s.seq[i]!));
  let lastInPlace = -1;
  for (let k = 0; k < chosen.length; k++) {
    const i = chosen[k]!;
    if (!inLis || inLis[k]) {
      lastInPlace = i;
      continue;
    }
    const before = lastInPlace >= 0 ? `after seq ${s.seq[lastInPlace]!}` : 'at the start of the log';
    push('reordered', i, s.seq[i]!, `record seq ${s.seq[i]!} is out of order: found ${before}`);
  }

  // 4. Gaps.
  let size = 0;
  for (let q = idx.length - 1; q >= 0; q--) if (idx[q]! >= 0) { size = q + 1; break; }
  for (let q = 0; q < size; q++) {
    if (idx[q] !== -1) continue;
    let e = q;
    while (e + 1 < size && idx[e + 1] === -1) e++;
    push('missing', null, q, e === q ? `record seq ${q} is missing` : `records seq ${q}…${e} are missing (${e - q + 1} records)`);
    firstDamaged = Math.min(firstDamaged, q);
    q = e;
  }
  for (let q = 0; q < size; q++) {
    const i = idx[q]!;
    if (i >= 0 && !s.ok[i]) { firstDamaged = Math.min(firstDamaged, q); break; }
  }

  // 5. Chain.
  const broken = (q: number): boolean | undefined => {
    const i = idx[q]!;
    if (i < 0 || !s.ok[i]) return undefined;
    if (q === 0) return s.prevOk[i] ? s.prevIdx[i]! >= 0 : s.prevHex.get(i) !== ZERO_PREV;
    const j = idx[q - 1]!;
    if (j < 0) return undefined;
    const m = prevMatches(s, i, j);
    return m === undefined ? undefined : !m;
  };
  const report = (k: number, why: string) => {
    if (modifiedDone.has(k)) return;
    modifiedDone.add(k);
    firstDamaged = Math.min(firstDamaged, k);
    push('modified', idx[k]! >= 0 ? idx[k]! : null, k, `record seq ${k} was changed: ${why}`);
  };
  for (let q = 0; q < size; q++) {
    if (broken(q) !== true) continue;
    let b = q;
    while (b + 1 < size && broken(b + 1) === true) b++;
    const m = b - q + 1;
    if (m === 1) report(Math.max(q - 1, 0), q === 0 ? 'its prev is not the zero hash' : `its leaf does not match prev of seq ${q}`);
    else if (m === 2) report(q, q === 0 ? 'its prev is not the zero hash and its leaf does not match the next prev' : `its prev does not match the leaf of seq ${q - 1} and its leaf does not match prev of seq ${q + 1}`);
    else for (let k = Math.max(q - 1, 0); k < b; k++) report(k, `links around seqs ${q - 1}…${b} are broken`);
    q = b;
  }
  return { size, idxOfSeq: idx.subarray(0, Math.max(size, 0)), problems, firstDamaged };
}

/** Does record i's `prev` equal the leaf of line j? undefined when i's prev is unknown. */
export function prevMatches(s: ScannedLines, i: number, j: number): boolean | undefined {
  if (!s.ok[i]) return undefined;
  if (s.prevOk[i]) {
    const p = s.prevIdx[i]!;
    return p === j || (p >= 0 && leavesEqual(s, p, j));
  }
  const hex = s.prevHex.get(i);
  return hex === undefined ? undefined : hex === leafHexAt(s, j);
}

/** The segment whose name-range holds `seq` (names are the first seq of each segment). */
export function segmentForSeq(s: ScannedLines, seq: number): string | null {
  let best: string | null = s.segNames[0] ?? null;
  for (let g = 0; g < s.segStarts.length; g++) if (s.segStarts[g]! <= seq) best = s.segNames[g]!;
  return best;
}

/** Flags of the elements on one longest strictly increasing subsequence (O(n log n); O(n) when sorted). */
export function longestIncreasing(v: readonly number[]): Uint8Array {
  const n = v.length;
  const tails: number[] = [];
  const pred = new Int32Array(n).fill(-1);
  for (let i = 0; i < n; i++) {
    const x = v[i]!;
    if (tails.length === 0 || v[tails[tails.length - 1]!]! < x) {
      pred[i] = tails.length > 0 ? tails[tails.length - 1]! : -1;
      tails.push(i);
      continue;
    }
    let lo = 0;
    let hi = tails.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (v[tails[mid]!]! < x) lo = mid + 1;
      else hi = mid;
    }
    pred[i] = lo > 0 ? tails[lo - 1]! : -1;
    tails[lo] = i;
  }
  const flags = new Uint8Array(n);
  for (let k = tails.length > 0 ? tails[tails.length - 1]! : -1; k >= 0; k = pred[k]!) flags[k] = 1;
  return flags;
}
