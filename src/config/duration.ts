/**
 * Durations and sizes as people write them in pcigate.yaml (`30s`, `15m`, `24h`, `1h30m`, `64MiB`),
 * parsed to milliseconds and bytes. Units follow Go's time.ParseDuration (ms, s, m, h) plus `d`, because
 * operators already know that syntax from Prometheus and Teleport configs.
 */
import { z } from 'zod';

const DURATION_UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION_RE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

/** Parses `30s`, `15m`, `24h`, `1h30m`, `500ms`, `7d` to milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (!DURATION_RE.test(s)) return undefined;
  let ms = 0;
  for (const m of s.matchAll(DURATION_PART)) ms += Number(m[1]) * DURATION_UNITS[m[2] as keyof typeof DURATION_UNITS];
  return Math.round(ms);
}

/** Renders milliseconds back to the shortest exact form (`90000` → `1m30s`), for messages and output. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) { out += `${n}${unit}`; rest -= n * size; }
  }
  return out;
}

/**
 * A zod schema for a duration string parsed to milliseconds. A bare number is refused on purpose:
 * `timeout: 30` is ambiguous (seconds? milliseconds?) and a wrong guess weakens a control.
 */
export function duration(opts: { min?: number; max?: number } = {}) {
  return z.string({ error: 'expected a duration such as 30s, 15m or 24h' }).transform((s, ctx) => {
    const ms = parseDuration(s);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a duration such as 30s, 15m or 24h (units ms, s, m, h, d), got '${s}'` });
      return z.NEVER;
    }
    if (opts.min !== undefined && ms < opts.min) {
      ctx.addIssue({ code: 'custom', message: `expected at least ${formatDuration(opts.min)}, got ${s}` });
      return z.NEVER;
    }
    if (opts.max !== undefined && ms > opts.max) {
      ctx.addIssue({ code: 'custom', message: `expected at most ${formatDuration(opts.max)}, got ${s}` });
      return z.NEVER;
    }
    return ms;
  });
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };
const SIZE_RE = /^(\d+(?:\.\d+)?)\s*([kmg]i?b|b)?$/i;

/** Parses `64MiB`, `100MB`, `4096` to bytes; undefined when malformed. */
export function parseSize(text: string): number | undefined {
  const m = SIZE_RE.exec(text.trim());
  if (!m) return undefined;
  const unit = SIZE_UNITS[(m[2] ?? '').toLowerCase()];
  return unit === undefined ? undefined : Math.round(Number(m[1]) * unit);
}

/** A zod schema for a byte size: an integer, or a string with a unit (B, KB, MB, GB, KiB, MiB, GiB). */
export function byteSize(opts: { min?: number; max?: number } = {}) {
  return z.union([z.number().int(), z.string()], { error: 'expected a size such as 64MiB or 1048576' }).transform((v, ctx) => {
    const n = typeof v === 'number' ? v : parseSize(v);
    if (n === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a size such as 64MiB or 1048576, got '${String(v)}'` });
      return z.NEVER;
    }
    if (opts.min !== undefined && n < opts.min) {
      ctx.addIssue({ code: 'custom', message: `expected at least ${opts.min} bytes, got ${String(v)}` });
      return z.NEVER;
    }
    if (opts.max !== undefined && n > opts.max) {
      ctx.addIssue({ code: 'custom', message: `expected at most ${opts.max} bytes, got ${String(v)}` });
      return z.NEVER;
    }
    return n;
  });
}
