/**
 * Binary search over positions kept in ascending order (the places a token starts, line breaks, offsets): the
 * readers of long client text look these up instead of searching the text again from each place.
 */

/** The index of the first of `sorted` (ascending) that is at least `from`: `sorted.length` when none is. */
export function firstAtLeast(sorted: ArrayLike<number>, from: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < from) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
