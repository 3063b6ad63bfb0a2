/** Result sets of `pcigate exec --sql` as a psql-like table, RFC 4180 CSV, or JSON (values already masked). */
import { table } from '../cli/output.js';
import type { ResultSet } from './pg-query-client.js';

export const RESULT_FORMATS = ['table', 'csv', 'json'] as const;
export type ResultFormat = (typeof RESULT_FORMATS)[number];

function csvField(v: string | null): string {
  if (v === null) return '';
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export function renderResults(results: ResultSet[], format: ResultFormat): string {
  if (format === 'json') {
    // One entry per statement: its command tag and its rows as objects keyed by column name.
    const doc = results.map((r) => ({ command: r.command, rows: r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, row[i] ?? null]))) }));
    return `${JSON.stringify(doc, null, 2)}\n`;
  }
  const parts: string[] = [];
  for (const r of results) {
    if (r.columns.length === 0) {
      if (format === 'table') parts.push(`${r.command}\n`);
      continue;
    }
    if (format === 'csv') {
      parts.push([r.columns.map(csvField).join(','), ...r.rows.map((row) => row.map(csvField).join(','))].join('\r\n') + '\r\n');
    } else {
      const n = r.rows.length;
      parts.push(`${table(r.columns, r.rows.map((row) => row.map((v) => v ?? '')))}\n(${n} ${n === 1 ? 'row' : 'rows'})\n`);
    }
  }
  return parts.join(format === 'table' ? '\n' : '');
}
