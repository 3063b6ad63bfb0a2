/**
 * Output rules (STYLE.md): stdout is data, stderr is talk; colour only on a TTY and never with NO_COLOR;
 * every reporting command has --json with stable field names.
 */
import type { Ctx, OutStream } from './ctx.js';
import { printable } from './printable.js';

export interface Output {
  json: boolean;
  quiet: boolean;
  color: boolean;
  /** Data to stdout. */
  data(text: string): void;
  /** A JSON document to stdout, two-space indented, one trailing newline. */
  printJson(value: unknown): void;
  /** Talk to stderr, suppressed by --quiet. */
  say(text: string): void;
  /** Warnings and errors to stderr, never suppressed. */
  warn(text: string): void;
  paint(style: keyof typeof STYLES, text: string): string;
}

const STYLES = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
} as const;

export function useColor(stream: OutStream, env: Ctx['env']): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}

export function makeOutput(ctx: Ctx, opts: { json: boolean; quiet: boolean }): Output {
  const color = useColor(ctx.stderr, ctx.env);
  const line = (s: string) => (s.endsWith('\n') ? s : `${s}\n`);
  return {
    json: opts.json,
    quiet: opts.quiet,
    color,
    data: (text) => { ctx.stdout.write(line(text)); },
    printJson: (value) => { ctx.stdout.write(`${jsonText(value)}\n`); },
    say: (text) => { if (!opts.quiet) ctx.stderr.write(line(text)); },
    warn: (text) => { ctx.stderr.write(line(text)); },
    paint: (style, text) => (color ? `\x1b[${STYLES[style][0]}m${text}\x1b[${STYLES[style][1]}m` : text),
  };
}

/**
 * JSON.stringify escapes C0 controls but leaves DEL, C1 controls (U+009B is a CSI on some terminals), bidi
 * overrides and line separators raw: they are escaped too (printable(), the same characters as everywhere
 * else), which is still the same JSON (they only occur in strings), so `--json` on a terminal cannot be made
 * to act on it by a recorded value.
 */
export function jsonText(value: unknown): string {
  return printable(JSON.stringify(value, jsonReplacer, 2), { keepC0: true });
}

/** bigint and Uint8Array values appear in reports; JSON has no native form for either. */
function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  return value;
}

/**
 * Renders rows as an aligned plain-text table (no colour codes, so widths are exact). Cells often hold what
 * the log or a token said (a subject, a command line): they are shown printable() (src/cli/printable.ts).
 */
export function table(headers: string[], rawRows: string[][]): string {
  const rows = rawRows.map((r) => r.map((c) => printable(c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [fmt(headers), ...rows.map(fmt)].join('\n');
}
