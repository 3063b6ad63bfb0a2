import { describe, expect, it } from 'vitest';
import { PanMasker } from '../../../src/mask/pan-masker.js';

const masker = new PanMasker();
const any = new PanMasker({ anyLuhn: true });

describe('card numbers printed with thousands separators (money, to_char)', () => {
  it('masks a PAN grouped by commas or points, in a money print, a to_char print, a record or an array', () => {
    expect(masker.maskText('$4,111,111,111,111,111.00')).toBe('$*,***,***,***,**1,111.00');
    expect(masker.maskText('-4.111.111.111.111.111,00 €')).toBe('-*.***.***.***.**1.111,00 €');
    expect(masker.maskText(' 4,111,111,111,111,111')).toBe(' *,***,***,***,**1,111');
    expect(masker.maskText('("$378,282,246,310,005.00")')).toBe('("$***,***,***,**0,005.00")');
    expect(masker.maskText('{"$4,222,222,222,222.00"}')).toBe('{"$*,***,***,**2,222.00"}');
    expect(masker.maskText('{"pan_m":"$4,111,111,111,111,111.00"}')).toBe('{"pan_m":"$*,***,***,***,**1,111.00"}');
  });

  it('leaves amounts, CSV rows of numbers, versions and non-PANs alone (also with any_luhn)', () => {
    const clean = [
      '$1,234,567.89', '$12,345,678,901.00', // amounts (not 13 digits, or no issuer)
      '4,200,404,500,301,302', // Luhn fails
      '7,411,111,111,111,111,5', // a last group of another width: CSV fields, not thousands grouping
      '4111,111,111,111', // a first group of 4 digits
      '4,111,111,111,111.111', // mixed separators: 13 digits by comma are 4111111111111 (Luhn fails)
      '1.3.6.1.4.1.311.21.8', // an OID
      'v4,111,111,111,111,111', // glued to a letter
      '4,111,111,111,111,112', // Luhn fails
      '1,000,000,000,000,000', // no issuer range
      '{4,111,111,111,111,111}', '[4,111,111,111,111,111]', 'x,4,111,111,111,111,111', // lists of numbers: an array, JSON, CSV fields
      '[500,404,200,301,302,503]',
    ];
    for (const s of clean) {
      expect(masker.maskText(s)).toBe(s);
      expect(any.maskText(s)).toBe(s);
    }
  });
});
