/**
 * The period of an evidence bundle (issue 9: `--since` / `--until`). Each bound is RFC 3339 (any offset,
 * normalised to UTC), a calendar date (YYYY-MM-DD, UTC: the start of the day for `since`, its last microsecond
 * for `until`, so `--until 2026-11-30` includes that day), or a duration back from now as pcigate.yaml writes
 * them (`90d`, `12h`; src/config/duration.ts). The result uses the log's own `ts` form (six fractional digits,
 * `Z`) so that periods and record timestamps compare as strings.
 */
import { parseDuration } from '../config/duration.js';
import { UsageError } from '../errors.js';
import { formatTs, parseTs } from '../../recorder/timestamp.js';
import type { Period } from './types.js';

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
/** RFC 3339 §5.6 date-time; fractional seconds of any length, `Z` or a numeric offset. */
const DATE_TIME = /^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$/;
const DAY_MICROS = 86_400_000_000n;

/** Microseconds since the epoch for one `--since`/`--until` value; throws UsageError naming the flag. */
export function parseBound(text: string, nowMicros: bigint, which: 'since' | 'until'): bigint {
  const t = text.trim();
  const date = DATE.exec(t);
  if (date) {
    const ms = Date.UTC(Number(date[1]), Number(date[2]) - 1, Number(date[3]));
    // Date.UTC rolls 2026-02-31 over into March: a date that does not exist is refused, not moved.
    if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== t) throw bad(which, text);
    const start = BigInt(ms) * 1000n;
    return which === 'since' ? start : start + DAY_MICROS - 1n;
  }
  const dt = DATE_TIME.exec(t);
  if (dt) {
    const [, day, hh, mm, ss, frac = '', zone] = dt;
    const ms = Date.parse(`${day}T${hh}:${mm}:${ss}${zone === 'z' ? 'Z' : zone}`);
    if (Number.isNaN(ms) || Number(hh) > 23 || Number(mm) > 59 || Number(ss) > 59) throw bad(which, text);
    // Keep microseconds (the log's resolution); anything finer is cut, never rounded up past a record.
    return BigInt(ms) * 1000n + BigInt((frac + '000000').slice(0, 6));
  }
  const ms = parseDuration(t);
  if (ms !== undefined) return nowMicros - BigInt(ms) * 1000n;
  throw bad(which, text);
}

function bad(which: string, text: string): UsageError {
  return new UsageError(`--${which} ${JSON.stringify(text)} is not a time: expected RFC 3339 (2026-11-01T00:00:00Z), a date (2026-11-01) or a duration back from now (90d, 12h)`);
}

/**
 * The bundle's period: the bounds given, else from the first record (or now, for an empty log) until now.
 * A period that ends before it begins is a usage error.
 */
export function resolvePeriod(opts: { since?: string | undefined; until?: string | undefined }, nowMicros: bigint, firstTs: string | undefined): Period {
  const until = opts.until !== undefined ? parseBound(opts.until, nowMicros, 'until') : nowMicros;
  let since = opts.since !== undefined ? parseBound(opts.since, nowMicros, 'since') : (firstTs !== undefined ? parseTs(firstTs) : undefined) ?? nowMicros;
  // A defaulted start after the end (a log written by a clock ahead of this one) gives an empty period, not an error.
  if (opts.since === undefined && since > until) since = until;
  if (since > until) {
    throw new UsageError(`the period is empty: --since ${formatTs(since)} is after --until ${formatTs(until)}`, {
      hint: 'swap the two values, or leave --until out (it defaults to now)',
    });
  }
  return { since: formatTs(since), until: formatTs(until) };
}
