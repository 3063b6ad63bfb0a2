/**
 * `policy.connections.<name>.session.allowed_hours` as pure time arithmetic (PCI DSS 7.2.1/7.2.2: access
 * limited to what a role needs, here in time; PCI DSS 10.2.1.4 counts the refusals). Wall-clock times are
 * read in the window's IANA time zone with Intl (ECMA-402), so daylight saving time is the zone's own.
 *
 * Semantics (docs/log-format.md, `session.denied`):
 * - a window opens at `from` on each listed day and closes at the next `to`; when `to <= from` the window
 *   spans midnight and closes on the following day (22:00–06:00 on `fri` covers Saturday 03:00, not
 *   Friday 03:00 — the day list names the day a window *opens*); `from == to` is a whole day;
 * - the test is on the local wall clock by the minute: inside when the wall clock reads `from` or later and
 *   before `to`. In a spring-forward gap the window closes at the first instant whose wall clock reads `to`
 *   or later; an ambiguous `to` in an autumn fall-back closes at its first occurrence;
 * - an unknown time zone is an error (fail closed: the caller refuses the session).
 */
import { ConfigError } from '../errors.js';
import { WEEKDAYS } from '../config/sections/policy.js';

export type Weekday = (typeof WEEKDAYS)[number];

export interface AllowedHours {
  /** HH:MM, 24-hour. */
  from: string;
  to: string;
  days: readonly Weekday[];
  /** An IANA time zone name. */
  tz: string;
}

/** A wall-clock reading in a zone. */
interface Wall { y: number; m: number; d: number; minute: number; weekday: number }

const FORMATS = new Map<string, Intl.DateTimeFormat>();
const DAY_INDEX: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };
const DAY = 86_400_000;
const MINUTE = 60_000;

function format(tz: string): Intl.DateTimeFormat {
  let f = FORMATS.get(tz);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-US', { timeZone: tz, year: 'numeric', month: 'numeric', day: 'numeric', weekday: 'short', hour: 'numeric', minute: 'numeric', hourCycle: 'h23' });
    } catch (e) {
      throw new ConfigError(`allowed_hours: unknown time zone ${JSON.stringify(tz)}`, { cause: e });
    }
    FORMATS.set(tz, f);
  }
  return f;
}

function wall(t: number, tz: string): Wall {
  const parts = format(tz).formatToParts(new Date(t));
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  return {
    y: Number(get('year')), m: Number(get('month')), d: Number(get('day')),
    minute: Number(get('hour')) * 60 + Number(get('minute')), weekday: DAY_INDEX[get('weekday')] ?? -1,
  };
}

const minutes = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** The window open at `t`: the calendar day (UTC-normalised y/m/d of the wall clock) it opened on. */
function openWindow(h: AllowedHours, t: number): { y: number; m: number; d: number } | undefined {
  const w = wall(t, h.tz);
  const from = minutes(h.from);
  const to = minutes(h.to);
  const listed = (weekday: number) => h.days.includes(WEEKDAYS[(weekday + 7) % 7]!);
  if (from < to) return w.minute >= from && w.minute < to && listed(w.weekday) ? w : undefined;
  // Spanning midnight (or a whole day): today's window after `from`, yesterday's before `to`.
  if (w.minute >= from && listed(w.weekday)) return w;
  if (w.minute < to && listed(w.weekday - 1)) {
    const prev = new Date(Date.UTC(w.y, w.m - 1, w.d) - DAY);
    return { y: prev.getUTCFullYear(), m: prev.getUTCMonth() + 1, d: prev.getUTCDate() };
  }
  return undefined;
}

/** True when a session may start (or continue) at `t` (ms since the epoch). */
export function allowedAt(h: AllowedHours, t: number): boolean {
  return openWindow(h, t) !== undefined;
}

/**
 * The first instant at or after the wall-clock time `minute` on day y-m-d in `tz` — the exact instant
 * when it exists once; its first occurrence when it exists twice; the end of the gap when it does not.
 */
function instantOf(y: number, m: number, d: number, minute: number, tz: string): number {
  const naive = Date.UTC(y, m - 1, d, 0, minute);
  const wallMs = (t: number) => { const w = wall(t, tz); return Date.UTC(w.y, w.m - 1, w.d, 0, w.minute); };
  // The zone's offsets a day before and a day after (a zone changes its offset at most once in two days):
  // each gives a candidate instant; those whose wall clock reads the time are its occurrences.
  const candidates = [naive - (wallMs(naive - DAY) - (naive - DAY)), naive - (wallMs(naive + DAY) - (naive + DAY))].sort((a, b) => a - b);
  const exact = candidates.find((c) => wallMs(c) === naive);
  if (exact !== undefined) return exact;
  // A gap (spring forward): the wall clock jumps over the time between the two candidates.
  let t = Math.floor(candidates[0]! / MINUTE) * MINUTE;
  while (t < candidates[1]! && wallMs(t) < naive) t += MINUTE;
  return t;
}

/**
 * When the window open at `t` closes (ms since the epoch), following on into a window that opens exactly
 * then (whole days in a row); undefined when no window is open at `t`, or none closes within 8 days.
 */
export function windowEnd(h: AllowedHours, t: number): number | undefined {
  let at = t;
  for (let i = 0; i < 8; i++) {
    const open = openWindow(h, at);
    if (!open) return i === 0 ? undefined : at;
    const from = minutes(h.from);
    const to = minutes(h.to);
    const next = new Date(Date.UTC(open.y, open.m - 1, open.d) + (to <= from ? DAY : 0));
    const end = instantOf(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), to, h.tz);
    if (end <= at) return at; // cannot happen for a well-formed window; never loop on it
    at = end;
  }
  return allowedAt(h, at) ? undefined : at;
}

/** "mon,tue 07:00–19:00 Europe/Berlin": the window as people write it, for messages. */
export function describeWindow(h: AllowedHours): string {
  const days = h.days.length === 7 ? 'daily' : h.days.join(',');
  return `${days} ${h.from}–${h.to} ${h.tz}`;
}
