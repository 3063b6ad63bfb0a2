/**
 * Record timestamps: RFC 3339 UTC with exactly six fractional digits (docs/log-format.md "Records"),
 * from the microsecond clock in Ctx.
 */

let lastSecond = -1n;
let lastPrefix = '';

/** `2026-11-22T12:00:00.000000Z` from microseconds since the Unix epoch. */
export function formatTs(micros: bigint): string {
  // The date and time up to the second is formatted once per second (the writer stamps every batch).
  if (lastPrefix !== '' && micros >= lastSecond && micros < lastSecond + 1_000_000n) {
    return `${lastPrefix}.${(micros - lastSecond).toString().padStart(6, '0')}Z`;
  }
  if (micros >= 0n) {
    lastSecond = micros - (micros % 1_000_000n);
    lastPrefix = new Date(Number(lastSecond / 1000n)).toISOString().slice(0, 19);
    return `${lastPrefix}.${(micros - lastSecond).toString().padStart(6, '0')}Z`;
  }
  const ms = micros / 1000n;
  const frac = ((micros % 1_000_000n) + 1_000_000n) % 1_000_000n;
  const iso = new Date(Number(ms)).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  return `${iso.slice(0, 19)}.${frac.toString().padStart(6, '0')}Z`;
}

/** Microseconds since the epoch from a formatTs string; undefined when it is not in that exact form. */
export function parseTs(ts: string): bigint | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\.(\d{6})Z$/.exec(ts);
  if (!m) return undefined;
  const secs = Date.parse(`${m[1]}Z`);
  if (Number.isNaN(secs)) return undefined;
  return BigInt(secs) * 1000n + BigInt(m[2] as string);
}
