/**
 * COPY options that would make a card number unrecognisable in its rows (src/mask/copy-text.ts copyOptionsHidePans),
 * checked against the bytes PostgreSQL 15 writes for them (copyto.c; `copy (select 7, '9999123456789019') to stdout
 * (format csv, delimiter '.')` is accepted and writes `7.9999123456789019`, a text-format DELIMITER '.' is refused).
 */
import { describe, expect, it } from 'vitest';
import { copyOptionsHidePans } from '../../../src/mask/copy-text.js';
import { findPans } from '../../../src/mask/pan-detector.js';

const OTHER_NETWORK = '9999123456789019'; // Luhn-valid, in no major network's range: found only with any_luhn
const PADDED = '0004111111111111111'; // a Visa number zero-padded to 19 digits (char(19), lpad)
const found = (row: string, anyLuhn: boolean) => findPans(Buffer.from(row), { anyLuhn }).length > 0;

describe('copyOptionsHidePans: a point as DELIMITER', () => {
  it('the rows a CSV DELIMITER \'.\' writes hide a card number after a field ending in a digit: it reads as a decimal fraction', () => {
    expect(found(`7.${OTHER_NETWORK}`, true)).toBe(false);
    expect(found(`7.${PADDED}`, false)).toBe(false); // its zeros are a fraction's digits, not padding: not even the default finds it
    expect(found(`7,${OTHER_NETWORK}`, true)).toBe(true);
    expect(found(`7,${PADDED}`, false)).toBe(true);
  });

  it('is refused, in CSV and (as the server does too) in text format', () => {
    for (const csv of [true, false]) {
      expect(copyOptionsHidePans({ binary: false, csv, delimiter: '.' })).toMatch(/^DELIMITER '\.' would be written right beside the digits of a field, and a card number after a digit and a point reads as the fraction of a decimal number/);
    }
    expect(copyOptionsHidePans({ binary: true, csv: false, delimiter: '.' })).toBeUndefined();
    expect(copyOptionsHidePans({ binary: false, csv: true, delimiter: ';' })).toBeUndefined();
  });

  it('QUOTE and ESCAPE \'.\' stay usable: the server never writes them between a digit and a field\'s first digit', () => {
    expect(copyOptionsHidePans({ binary: false, csv: true, quote: '.' })).toBeUndefined();
    expect(copyOptionsHidePans({ binary: false, csv: true, escape: '.' })).toBeUndefined();
    // The server's bytes: QUOTE '.' with FORCE_QUOTE *, and ESCAPE '.' before a quote in the data (7"9999…).
    expect(found(`.7.,.${OTHER_NETWORK}.`, true)).toBe(true);
    expect(found(`"7","7."${OTHER_NETWORK}"`, true)).toBe(true);
  });
});
