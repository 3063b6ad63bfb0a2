import { describe, expect, it } from 'vitest';
import { csvFile, csvLine } from '../../../src/evidence/csv.js';

describe('csvLine (RFC 4180)', () => {
  it('leaves plain fields bare and ends in CRLF', () => {
    expect(csvLine(['a', 'b c', ''])).toBe('a,b c,\r\n');
  });
  it('quotes fields with commas, quotes and line breaks, doubling quotes', () => {
    expect(csvLine(['x,y', 'say "hi"', 'two\nlines', 'cr\r'])).toBe('"x,y","say ""hi""","two\nlines","cr\r"\r\n');
  });
  it('csvFile writes the header first', () => {
    expect(csvFile(['h1', 'h2'], [['1', '2']]).toString()).toBe('h1,h2\r\n1,2\r\n');
  });
});
