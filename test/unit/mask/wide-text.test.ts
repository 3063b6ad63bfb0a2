import { describe, expect, it } from 'vitest';
import { findPans } from '../../../src/mask/pan-detector.js';
import { maskText, PanMasker } from '../../../src/mask/pan-masker.js';
import { scanPlainBytes } from '../../../src/mask/scan-detect.js';
import { StreamMasker } from '../../../src/mask/stream-masker.js';

const fw = (digits: string) => digits.replace(/\d/g, (d) => String.fromCharCode(0xff10 + Number(d)));

describe('card numbers in Unicode digits and separators', () => {
  it.each([
    [fw('4111111111111111'), `${'＊'.repeat(12)}${fw('1111')}`],
    [`card ${fw('4111 1111 1111 1111')} ok`, `card ＊＊＊＊ ＊＊＊＊ ＊＊＊＊ ${fw('1111')} ok`],
    [`カード番号：${fw('4111111111111111')}。`, `カード番号：${'＊'.repeat(12)}${fw('1111')}。`],
    ['4111\u00a01111\u00a01111\u00a01111', '****\u00a0****\u00a0****\u00a01111'],
    ['4111\u20091111\u20091111\u20091111', '****\u2009****\u2009****\u20091111'],
    ['4111\u202f1111\u202f1111\u202f1111', '****\u202f****\u202f****\u202f1111'],
    ['4111\u30001111\u30001111\u30001111', '****\u3000****\u3000****\u30001111'],
    ['3782\u2013822463\u201310005', '****\u2013******\u2013*0005'],
    ['4111\uff0d1111\uff0d1111\uff0d1111', '****\uff0d****\uff0d****\uff0d1111'],
    // A byte that did not decode (a LATIN1 no-break space read as UTF-8) may have been a separator.
    ['4111\ufffd1111\ufffd1111\ufffd1111', '****\ufffd****\ufffd****\ufffd1111'],
    [`mixed ${fw('4111')}\u00a01111 ${fw('1111')}-1111.`, `mixed ＊＊＊＊\u00a0**** ＊＊＊＊-1111.`],
    [`{"p": "4111\u00a01111\u00a01111\u00a01111", "n": "4111111111111111"}`, `{"p": "****\u00a0****\u00a0****\u00a01111", "n": "************1111"}`],
  ])('masks %s', (input, expected) => {
    expect(maskText(input)).toBe(expected);
    expect(Buffer.byteLength(maskText(input))).toBe(Buffer.byteLength(input));
  });

  it.each([
    fw('1234567812345678'), // not Luhn-valid
    `${fw('4111111111111111')}7`, // a longer number
    '1\u00a0234\u00a0567\u00a0890', // an amount with no-break spaces as thousands separators
    'prix\u00a0: 12\u00a0€, réf. 2026-11-22',
    '電話 ０３−１２３４−５６７８', // a phone number
    `${fw('2026')}年${fw('11')}月${fw('22')}日 ${fw('12')}:${fw('00')}`,
    'naïve café 123456 — 7890123',
  ])('leaves %s alone', (input) => {
    expect(maskText(input)).toBe(input);
    expect(findPans(Buffer.from(input))).toEqual([]);
  });

  it('a huge value with a few full-width digits is read without per-byte maps', () => {
    // A client's `SELECT '１２…' || repeat('a', …)`: the ASCII reading kept two Int32Array maps of the whole value
    // (nine bytes per byte, 1.1 GB more for these 128 MB); a card number at the end is still found. Memory, not
    // time, is asserted (speed is for benchmarks): the peak RSS of this process may not grow by even half that.
    const n = 128 * 1024 * 1024;
    const buf = Buffer.alloc(n, 'a');
    Buffer.from(`${fw('1234567890123456789')} `).copy(buf, 0);
    Buffer.from(` ${fw('4111111111111111')}`).copy(buf, n - 49);
    const peak = process.resourceUsage().maxRSS * 1024;
    const spans = findPans(buf);
    expect(process.resourceUsage().maxRSS * 1024 - peak).toBeLessThan(4 * n);
    expect(spans).toEqual([{ start: n - 48, end: n, digits: 16 }]);
  });

  it('first6last4 and hmac read full-width digits as digits', () => {
    expect(new PanMasker({ style: { format: 'first6last4' } }).maskText(fw('4111111111111111'))).toBe(`${fw('411111')}${'＊'.repeat(6)}${fw('1111')}`);
    const key = Buffer.from('k');
    expect(new PanMasker({ style: { format: 'hmac', hmacKey: key } }).maskText(`a ${fw('4111111111111111')} b`)).toBe(new PanMasker({ style: { format: 'hmac', hmacKey: key } }).maskText('a 4111111111111111 b'));
  });

  it('a value scanned as a slice of a larger buffer maps its spans to the right bytes', () => {
    const buf = Buffer.from(`xx|4111\u00a01111\u00a01111\u00a01111|yy`);
    const spans = findPans(buf, {}, 3, buf.length - 3);
    expect(spans.map((s) => buf.subarray(s.start, s.end).toString())).toEqual(['4111\u00a01111\u00a01111\u00a01111']);
  });

  it('split anywhere, a stream masks them as one-shot does; an idle release shows at most the first six digits', () => {
    const texts = [`card ${fw('4111111111111111')} ok`, `x 4111\u00a01111\u00a01111\u00a01111`, `${fw('4111')}\u20091111\u2009${fw('1111')}\u20091111\n`, `é ${fw('378282246310005')}`];
    const timer = { set: () => 1, clear: () => {} };
    for (const t of texts) {
      const buf = Buffer.from(t);
      const oneShot = maskText(t);
      for (let i = 0; i <= buf.length; i++) {
        for (const release of [false, true]) {
          const out: Buffer[] = [];
          const sm = new StreamMasker((c) => out.push(Buffer.from(c)), { timer });
          sm.write(buf.subarray(0, i));
          if (release) sm.release();
          sm.write(buf.subarray(i));
          sm.flush();
          const got = Buffer.concat(out).toString();
          const digits = got.normalize('NFKC').replace(/[^0-9]/g, '');
          if (!release) expect(got, `${t} at ${i}`).toBe(oneShot);
          expect(digits.length, `${t} at ${i}`).toBeLessThanOrEqual(10);
        }
      }
    }
  });

  it('in a stream\'s chunk, a run cut inside a character that may be one more digit is undecided', () => {
    const cut = Buffer.concat([Buffer.from(fw('4111111111111111')), Buffer.from(fw('1')).subarray(0, 2)]);
    expect(findPans(cut, {}, 0, cut.length, true)).toEqual([]);
    expect(findPans(cut, {}, 0, cut.length, false)).toHaveLength(1);
  });

  it('pcigate scan reports them with their network, masked as UTF-8', () => {
    expect(scanPlainBytes(Buffer.from(`a\nb ${fw('4111111111111111')} 3782\u00a0822463\u00a010005\n`), 'f')).toMatchObject([
      { file: 'f', line: 2, column: 3, kind: 'pan', network: 'visa', masked: `${'＊'.repeat(12)}${fw('1111')}` },
      { kind: 'pan', network: 'amex', masked: '****\u00a0******\u00a0*0005' },
    ]);
  });

  it('whole in one chunk, a stream masks them too', () => {
    const out: Buffer[] = [];
    const sm = new StreamMasker((c) => out.push(Buffer.from(c)), { idleMs: Infinity });
    sm.write(Buffer.from(`card ${fw('4111111111111111')} and 4111\u00a01111\u00a01111\u00a01111\n`));
    sm.flush();
    expect(Buffer.concat(out).toString()).toBe(`card ${'＊'.repeat(12)}${fw('1111')} and ****\u00a0****\u00a0****\u00a01111\n`);
  });
});
