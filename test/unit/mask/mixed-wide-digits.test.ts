import { describe, expect, it } from 'vitest';
import { decodeDataRow } from '../../../src/pg/protocol/backend.js';
import { maskText } from '../../../src/mask/pan-masker.js';
import { PgMasker } from '../../../src/mask/pg-masker.js';
import { bytes } from '../../harness/pg-bytes.js';

// A card number whose digits are partly full-width (U+FF10–FF19) and partly ASCII was found at some byte offsets
// only: the detector's probes (every 13th byte) could land on an ASCII separator before a full-width digit, or on
// an ASCII run ending in one, and never notice the full-width digits (pan-detector.ts). Each mix is put at every
// offset 0..40 (more than three probe strides) in surrounding text.

const PAN = '4111111111111111';
const fw = (d: string) => String.fromCharCode(0xff10 + Number(d));
const MIXES: Record<string, (i: number) => boolean> = {
  'first half full-width': (i) => i < 8,
  'second half full-width': (i) => i >= 8,
  alternating: (i) => i % 2 === 0,
  'alternating, odd': (i) => i % 2 === 1,
  'one full-width digit first': (i) => i === 0,
  'one full-width digit at 7': (i) => i === 7,
  'one full-width digit at 10': (i) => i === 10,
  'one full-width digit last': (i) => i === 15,
  'two full-width digits in the third group': (i) => i === 8 || i === 9,
};
const LAYOUTS = { plain: '', spaced: ' ', dashed: '-' } as const;

/** The card number as written (`wide` digits full-width) and as masked (last4: the first 12 digits starred in their own width). */
function spell(wide: (i: number) => boolean, sep: string): { clear: string; masked: string } {
  let clear = '';
  let masked = '';
  for (let i = 0; i < PAN.length; i++) {
    if (i > 0 && i % 4 === 0) { clear += sep; masked += sep; }
    const d = PAN[i]!;
    clear += wide(i) ? fw(d) : d;
    masked += i >= 12 ? (wide(i) ? fw(d) : d) : wide(i) ? '＊' : '*';
  }
  return { clear, masked };
}

const FILLER = 'order note: paid by card, see ref ab/cd ok ';
const cases = Object.entries(MIXES).flatMap(([mix, wide]) => Object.entries(LAYOUTS).map(([layout, sep]) => ({ name: `${mix}, ${layout}`, ...spell(wide, sep) })));

describe('a card number of mixed full-width and ASCII digits is masked at every offset', () => {
  it.each(cases)('$name: maskText', ({ clear, masked }) => {
    for (let off = 0; off <= 40; off++) {
      const before = FILLER.slice(0, off);
      expect(maskText(`${before}${clear} is the card`), `offset ${off}`).toBe(`${before}${masked} is the card`);
    }
  });

  it.each(cases)('$name: a text DataRow value (the result masker, UTF-8 bytes)', ({ clear, masked }) => {
    const m = new PgMasker({ config: { format: 'last4', networks: 'major', rules: [], sad_columns: [] } });
    m.onBackendMessage(bytes.rowDescription([{ name: 'id', typeOid: 23 }, { name: 'note' }]));
    for (let off = 0; off <= 40; off++) {
      const before = FILLER.slice(0, off);
      const out = m.onBackendMessage(bytes.dataRow(['7', `${before}${clear} is the card`]));
      const value = out ? decodeDataRow(out.subarray(5)).values[1]!.toString('utf8') : 'forwarded unmasked';
      expect(value, `offset ${off}`).toBe(`${before}${masked} is the card`);
    }
  });
});
