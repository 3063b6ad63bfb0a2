/**
 * RFC 4180 CSV for the bundle's tables (field-map.csv, stats/event-counts.csv, gaps.csv, evidence-index.csv):
 * CRLF line ends, a field is quoted when it holds a comma, a double quote, CR or LF, and a quote inside a
 * quoted field is doubled (RFC 4180 §2 rules 4–7). Spreadsheet tools and Python's csv module read it as is.
 */

const NEEDS_QUOTES = /[",\r\n]/;

/** One RFC 4180 §2 field: quoted only when it must be. */
export function csvField(cell: string): string {
  return NEEDS_QUOTES.test(cell) ? `"${cell.replace(/"/g, '""')}"` : cell;
}

/** One RFC 4180 record, ending in CRLF (§2 rule 1). */
export function csvLine(cells: string[]): string {
  return `${cells.map(csvField).join(',')}\r\n`;
}

/** A whole RFC 4180 file with a header row (§2 rule 3), as UTF-8 bytes. */
export function csvFile(header: string[], rows: string[][]): Buffer {
  return Buffer.from([header, ...rows].map(csvLine).join(''), 'utf8');
}
