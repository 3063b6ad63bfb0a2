import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeDataRow } from '../../../src/pg/protocol/backend.js';
import { digitPairs, digitRun, hasHexRun, maskHexPans } from '../../../src/mask/hex-text.js';
import { starSpan } from '../../../src/mask/mask-format.js';
import { findPans } from '../../../src/mask/pan-detector.js';
import { PanMasker } from '../../../src/mask/pan-masker.js';
import { PgMasker } from '../../../src/mask/pg-masker.js';
import { bytes } from '../../harness/pg-bytes.js';

const PAN = '4111111111111111';
const hex = (s: string) => Buffer.from(s, 'latin1').toString('hex');
const mask = (s: string, anyLuhn = false) => {
  let n = 0;
  const out = maskHexPans(Buffer.from(s, 'latin1'), { format: 'last4' }, { anyLuhn }, (k) => { n += k; });
  return { out: Buffer.from(out).toString('latin1'), n };
};

describe('card numbers written in hex (bytea output, encode(…, \'hex\'))', () => {
  it('masks a PAN in a bytea print and in bare hex, with separators and inside other text, so it still decodes', () => {
    expect(mask(`\\x${hex(PAN)}`)).toEqual({ out: `\\x${hex('************1111')}`, n: 1 });
    expect(mask(hex(`card 4111 1111 1111 1111 exp 12/29`)).out).toBe(hex('card **** **** **** 1111 exp 12/29'));
    expect(mask(hex('4111-1111-1111-1111')).out).toBe(hex('****-****-****-1111'));
    expect(mask(`a\t\\\\x${hex('amex 378282246310005')}\tb`).out).toBe(`a\t\\\\x${hex('amex ***********0005')}\tb`);
    // Odd alignment: a hex run that starts one digit before the encoded text.
    expect(mask(`f${hex(PAN)}`).out).toBe(`f${hex('************1111')}`);
    expect(mask(hex(PAN).toUpperCase()).out).toBe(hex('************').toUpperCase().replace(/2A/g, '2a') + hex('1111'));
  });

  it('masks the UTF-8 of one in full-width digits or grouped by Unicode spaces or dashes, so it still decodes as UTF-8', () => {
    const utf8hex = (t: string) => Buffer.from(t, 'utf8').toString('hex');
    const fw = (d: string) => d.replace(/\d/g, (x) => String.fromCharCode(0xff10 + Number(x)));
    for (const [clear, masked] of [
      ['4111\u00a01111\u00a01111\u00a01111', '****\u00a0****\u00a0****\u00a01111'],
      ['4111\u20131111\u20131111\u20131111', '****\u2013****\u2013****\u20131111'],
      [`card ${fw(PAN)}`, `card ${'＊'.repeat(12)}${fw('1111')}`],
    ] as const) {
      const { out, n } = mask(`\\x${utf8hex(clear)}`);
      expect(n, clear).toBe(1);
      expect(Buffer.from(out.slice(2), 'hex').toString('utf8'), clear).toBe(masked);
    }
  });

  it('leaves hex that is no PAN alone: hashes, random keys, a non-Luhn or longer digit run, a PAN in other digits', () => {
    const clean = [
      createHash('sha256').update('x').digest('hex'),
      randomBytes(64).toString('hex'),
      `\\x${hex('4111111111111112')}`, // Luhn fails
      `\\x${hex('14111111111111111')}`, // part of a longer digit run
      hex('1234567890123'), // 13 digits, no issuer
      '12345678901234567890123456789012345', // decimal digits, not hex of digits
    ];
    for (const s of clean) expect(mask(s)).toEqual({ out: s, n: 0 });
    for (let i = 0; i < 200; i++) {
      const s = randomBytes(40).toString('hex');
      expect(mask(s, true).out).toBe(s);
    }
  });

  it('hasHexRun: only runs of 26 hex digits or more holding 13 digit pairs in a row (30-39, 20 or 2d between)', () => {
    expect(hasHexRun(Buffer.from(`x ${'31'.repeat(13)} y`))).toBe(true);
    expect(hasHexRun(Buffer.from(`x a${'31'.repeat(13)}b y`))).toBe(true); // the other alignment
    expect(hasHexRun(Buffer.from(`x ${hex('4111 1111-1111 1111')} y`))).toBe(true);
    expect(hasHexRun(Buffer.from(`x ${'31'.repeat(12)}3 y`))).toBe(false);
    expect(hasHexRun(Buffer.from(`x ${'31'.repeat(6)}41${'31'.repeat(7)} y`))).toBe(false); // 'A' breaks the digits
    expect(hasHexRun(Buffer.from(`x ${'ab'.repeat(13)} y`))).toBe(false); // hex, but no digits in it
    expect(hasHexRun(Buffer.from('5d41402abc4b2a76b9719d911017c592'))).toBe(false); // an md5
    expect(hasHexRun(Buffer.from('the quick brown fox, a decade of facades and beef'))).toBe(false);
  });

  it('finds what decoding every run at both alignments finds: the digit-pair filter only skips runs that hold no card number', () => {
    // The slow path: every run of 26 hex digits or more decoded at both alignments and searched, as maskHexPans does
    // without its digitPairs filter.
    const slow = (s: string): string => {
      const out = Buffer.from(s, 'latin1');
      for (const m of s.matchAll(/[0-9a-f]{26,}/gi)) {
        for (const align of [0, 1]) {
          const start = m.index + align;
          const n = (m[0].length - align) >> 1;
          const decoded = Buffer.from(s.slice(start, start + 2 * n), 'hex');
          const masked = Buffer.from(decoded);
          for (const span of findPans(decoded, {}, 0, n, false, false)) starSpan(masked, span, 'last4');
          for (let i = 0; i < n; i++) if (masked[i] !== decoded[i]) out.write(masked.subarray(i, i + 1).toString('hex'), start + 2 * i, 'latin1');
        }
      }
      return out.toString('latin1');
    };
    const pans = [PAN, '5500000000000004', '378282246310005', '6011111111111117', '4012888888881881'];
    // A card number as UTF-8 text: each digit ASCII or full-width, groups of 4 apart by nothing or by an ASCII or
    // Unicode space or dash (lead bytes c2, e2, e3, ef).
    const seps = ['', ' ', '-', '\u00a0', '\u2009', '\u2013', '\u2212', '\u3000', '\ufe63', '\uff0d', '\ufffd'];
    const card = fc.tuple(fc.constantFrom(...pans), fc.constantFrom(...seps), fc.array(fc.boolean(), { minLength: 19, maxLength: 19 }))
      .map(([pan, sep, wide]) => [...pan].map((d, i) => (i > 0 && i % 4 === 0 ? sep : '') + (wide[i] ? String.fromCharCode(0xff10 + Number(d)) : d)).join(''));
    const text = fc.tuple(fc.uint8Array({ maxLength: 24 }), card, fc.uint8Array({ maxLength: 24 }), fc.constantFrom('', 'a', '\\x', 'x '), fc.boolean())
      .map(([before, c, after, prefix, upper]) => {
        const h = Buffer.concat([before, Buffer.from(c, 'utf8'), after]).toString('hex');
        return prefix + (upper ? h.toUpperCase() : h);
      });
    let masked = 0;
    fc.assert(fc.property(text, (s) => {
      const { out } = mask(s);
      expect(out).toBe(slow(s));
      if (out !== s) {
        masked++;
        expect(hasHexRun(Buffer.from(s, 'latin1'))).toBe(true);
      }
    }), { numRuns: 2000 });
    expect(masked).toBeGreaterThan(1000);
    for (let i = 0; i < 200; i++) {
      const s = randomBytes(48).toString('hex');
      expect(mask(s).out).toBe(slow(s));
    }
  });

  it("digitPairs' skip-ahead answers as the pair-by-pair reading does, on any mix of digits, separators, wide characters and noise", () => {
    // Mostly digits, so that runs of 13 (and separators inside them) are common, not only noise.
    const piece = fc.oneof(
      { arbitrary: fc.integer({ min: 0, max: 9 }).map((d) => `3${d}`), weight: 12 },
      { arbitrary: fc.constantFrom('efbc90', 'EFBC94', 'efbc99'), weight: 2 },
      { arbitrary: fc.constantFrom('20', '2d', '2D', 'c2a0', 'e28093', 'e38080', 'efbc8d'), weight: 3 },
      { arbitrary: fc.constantFrom('33', '3a', '2a', 'e2', 'ef', 'bc', '8d'), weight: 1 },
      { arbitrary: fc.integer({ min: 0, max: 255 }).map((b) => b.toString(16).padStart(2, '0')), weight: 1 },
      { arbitrary: fc.constantFrom('0', 'f', '3', '9'), weight: 1 },
    );
    let found = 0;
    fc.assert(fc.property(fc.array(piece, { minLength: 10, maxLength: 80, size: 'max' }), (pieces) => {
      const v = Buffer.from(pieces.join(''), 'latin1');
      for (const align of [0, 1]) {
        const n = (v.length - align) >> 1;
        const exact = digitRun(v, align, n);
        expect(digitPairs(v, align, n)).toBe(exact);
        if (exact) found++;
      }
    }), { numRuns: 20_000 });
    expect(found).toBeGreaterThan(2_000); // the runs were there to be found
    // Runs at the start, at the end, right after noise, of wide digits: found; twelve digits: not.
    for (const t of [`${'31'.repeat(13)}ff`, `ff${'7f'.repeat(20)}${'34'.repeat(13)}`, `${'ef'.repeat(13)}${'efbc91'.repeat(13)}`]) {
      const v = Buffer.from(t, 'latin1');
      expect(digitPairs(v, 0, v.length >> 1), t).toBe(true);
    }
    expect(digitPairs(Buffer.from(`ff${'31'.repeat(12)}ff`), 0, 14)).toBe(false);
  });

  it('hasHexRun answers as reading every run of 26 hex digits or more pair by pair does (its count of 3s and es skips only runs with no card number)', () => {
    const piece = fc.oneof(
      { arbitrary: fc.integer({ min: 0, max: 9 }).map((d) => `3${d}`), weight: 10 },
      { arbitrary: fc.constantFrom('efbc90', 'EFBC94', 'efbc99', 'Efbc97'), weight: 3 },
      { arbitrary: fc.constantFrom('20', '2d', 'c2a0', 'e28093', 'e38080', 'efbc8d', 'efbfbd'), weight: 3 },
      { arbitrary: fc.integer({ min: 0, max: 255 }).map((b) => b.toString(16).padStart(2, '0')), weight: 3 },
      { arbitrary: fc.constantFrom('3', 'e', 'x', ' ', '\\x'), weight: 1 },
    );
    const exact = (v: Buffer): boolean => {
      for (const m of v.toString('latin1').matchAll(/[0-9a-f]{26,}/gi)) {
        for (const align of [0, 1]) if (digitRun(v, m.index + align, (m[0].length - align) >> 1)) return true;
      }
      return false;
    };
    let found = 0;
    fc.assert(fc.property(fc.array(piece, { minLength: 5, maxLength: 60, size: 'max' }), (pieces) => {
      const v = Buffer.from(pieces.join(''), 'latin1');
      const e = exact(v);
      expect(hasHexRun(v)).toBe(e);
      if (e) found++;
    }), { numRuns: 20_000 });
    expect(found).toBeGreaterThan(2_000);
  });

  it('through PgMasker: a bytea column in text format, encode() hex in a text column and a text COPY row are masked', () => {
    const m = new PgMasker({ config: { format: 'last4', networks: 'major', rules: [], sad_columns: [] } });
    m.onBackendMessage(bytes.rowDescription([{ name: 'b', typeOid: 17 }, { name: 'h', typeOid: 25 }, { name: 'id', typeOid: 23 }]));
    const out = m.onBackendMessage(bytes.dataRow([`\\x${hex(PAN)}`, hex(PAN), '7']));
    expect(decodeDataRow(out!.subarray(5)).values.map((v) => v?.toString('latin1'))).toEqual([`\\x${hex('************1111')}`, hex('************1111'), '7']);
    expect(m.takeCounts()).toEqual({ pan: 2 });
    const copy = m.onBackendMessage(bytes.copyData(`1\t\\\\x${hex(PAN)}\n`));
    expect(copy!.subarray(5).toString('latin1')).toBe(`1\t\\\\x${hex('************1111')}\n`);
  });

  it('in what is written to disk (PanMasker: SQL text, parameters): a bytea literal in hex is masked', () => {
    const counts = {};
    expect(new PanMasker().maskText(`insert into t values ('\\x${hex(PAN)}')`, counts)).toBe(`insert into t values ('\\x${hex('************1111')}')`);
    expect(counts).toEqual({ pan: 1 });
  });
});
