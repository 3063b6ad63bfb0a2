import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { luhnString } from '../../../src/mask/card-networks.js';
import { PanMasker } from '../../../src/mask/pan-masker.js';

const masker = new PanMasker();
const anyLuhn = new PanMasker({ anyLuhn: true });
const digits = (min: number, max: number) => fc.array(fc.integer({ min: 0, max: 9 }), { minLength: min, maxLength: max }).map((a) => a.join(''));
const unchanged = (s: string, m = masker) => expect(m.maskText(s)).toBe(s);

describe('false-positive controls', () => {
  it('16-digit order numbers that fail Luhn pass untouched, even with any-Luhn', () => {
    fc.assert(fc.property(digits(16, 16).filter((d) => !luhnString(d)), (d) => {
      unchanged(`order ${d}`, anyLuhn);
      unchanged(`order ${d.slice(0, 4)}-${d.slice(4, 8)}-${d.slice(8, 12)}-${d.slice(12)}`, anyLuhn);
    }), { numRuns: 1000 });
  });

  it('digit runs longer than 19 are never a PAN', () => {
    fc.assert(fc.property(digits(20, 64), (d) => { unchanged(d, anyLuhn); }), { numRuns: 1000 });
  });

  // Epoch milliseconds are 13 digits; from the year 2096 on they start with 4 and can be Luhn-valid Visa
  // numbers. Dates up to 2090 are the realistic control.
  it('timestamps, epoch values, UUIDs and IBANs pass untouched', () => {
    fc.assert(fc.property(fc.date({ min: new Date(0), max: new Date(Date.UTC(2090, 0, 1)), noInvalidDate: true }), fc.uuid(), (d, u) => {
      unchanged(d.toISOString());
      unchanged(`${d.toISOString().replace('T', ' ').replace('Z', '+00')}`);
      unchanged(String(d.getTime()));
      unchanged(`${Math.floor(d.getTime() / 1000)}`);
      unchanged(u);
      unchanged(u.toUpperCase());
    }), { numRuns: 1000 });
    for (const iban of ['DE89 3704 0044 0532 0130 00', 'DE89370400440532013000', 'GB82 WEST 1234 5698 7654 32', 'FR14 2004 1010 0505 0001 3M02 606', 'NL91ABNA0417164300']) unchanged(iban, anyLuhn);
  });

  it('phone numbers pass untouched', () => {
    fc.assert(fc.property(fc.constantFrom('+1', '+44', '+49', '+33', '001'), digits(3, 3), digits(3, 4), digits(4, 4), (cc, a, b, c) => {
      unchanged(`${cc} ${a} ${b} ${c}`);
      unchanged(`${cc}-${a}-${b}-${c}`);
      unchanged(`(${a}) ${b}-${c}`);
    }), { numRuns: 1000 });
  });
});
