/**
 * Card numbers printed as floating-point numbers (src/mask/float-text.ts): found by findPans wherever
 * content is masked, decided only once a stream shows the whole token, kept valid JSON, and withheld in
 * float columns also when printed with one digit fewer (extra_float_digits = 0).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findPans } from '../../../src/mask/pan-detector.js';
import { PanMasker } from '../../../src/mask/pan-masker.js';
import { contentText, floatTextIsPan } from '../../../src/mask/pg-values.js';
import type { ValueContext } from '../../../src/mask/pg-values.js';
import { StreamMasker } from '../../../src/mask/stream-masker.js';
import type { IdleTimer } from '../../../src/mask/stream-masker.js';
import { filler, luhnComplete, panDigits, splitAt } from './pan-oracle.js';

const VISA = '4111111111111111';
const MC = '5555555555554444';
const exact = (pan: string) => Number(pan).toExponential(); // what PostgreSQL prints with extra_float_digits ≥ 1
const short = (pan: string) => Number(pan).toPrecision(pan.length - 1); // extra_float_digits = 0: one digit fewer
/** C's `%.15g` (PostgreSQL with extra_float_digits = 0, SQLite, .NET G15): 15 significant digits, trailing zeros dropped. */
const g15 = (pan: string) => Number(pan).toPrecision(15).replace(/\.?0+e/, 'e');
const masker = new PanMasker();
const mask = (s: string) => masker.maskText(s);

/** A Luhn-valid Visa number ending in four zeros: its shortest print has 12 significant digits. */
function visaEndingInZeros(): string {
  for (let i = 0; i < 1000; i++) {
    const pan = luhnComplete(`411111111${String(i).padStart(3, '0')}000`);
    if (pan.endsWith('0000') && !pan.endsWith('00000')) return pan; // 411111111iii0000: 12 digits shown
  }
  throw new Error('no such number');
}

describe('exponent-form PANs in text', () => {
  it('PostgreSQL prints the test cards as expected here (the fixtures the other cases rely on)', () => {
    expect(exact(VISA)).toBe('4.111111111111111e+15');
    expect(short(VISA)).toBe('4.11111111111111e+15');
    expect(exact(MC)).toBe('5.555555555554444e+15');
  });

  it('are found and masked in free text, the whole token in one span, other numbers left alone', () => {
    const text = `paid ${exact(VISA)} and ${short(MC)}; amount 250.75, big 1.5e+15, tiny 4.111111111111111e-15`;
    expect(findPans(Buffer.from(text)).map((s) => text.slice(s.start, s.end))).toEqual([exact(VISA), short(MC)]);
    expect(mask(text)).toBe('paid *.*************11e+15 and *.************44e+15; amount 250.75, big 1.5e+15, tiny 4.111111111111111e-15');
    expect(new PanMasker({ style: { format: 'first6last4' } }).maskText(exact(VISA))).toBe('4.11111********11e+15');
  });

  it('a card number ending in zeros is found from its short print; the uppercase E too', () => {
    const pan = visaEndingInZeros();
    const print = exact(pan);
    expect(print.replace(/\D/g, '').length).toBeLessThan(16);
    expect(mask(`x ${print} y`)).not.toContain(print);
    expect(mask(`x ${exact(VISA).toUpperCase()} y`)).toBe('x *.*************11E+15 y');
    expect(mask(`The card was ${exact(VISA)}.`)).toBe('The card was *.*************11e+15.');
  });

  it('leaves tokens that are not card numbers: glued to words, three-digit exponents, two digits short, not issued', () => {
    const keep = [
      `v${exact(VISA)}`, `${exact(VISA)}x`, `1.${exact(VISA)}`, '4.111111111111111e+150',
      Number(VISA).toPrecision(11), // 11 of 16 digits: thousands of candidates, not the card
      '1.234567890123456e+15', // not in an issuer range
      exact(String(Number(VISA) + 1)), // 4111111111111112: fails Luhn
    ];
    for (const t of keep) expect(mask(t), t).toBe(t);
  });

  it('PostgreSQL with extra_float_digits = 0 drops a zero 15th digit (%.15g): the 14 digits left and Luhn still give the card away', () => {
    // Prints taken from PostgreSQL 15 (`set extra_float_digits = 0; select 4111111111111103::float8`).
    const pan = '4111111111111103';
    expect(g15(pan)).toBe('4.1111111111111e+15');
    expect(g15('4111111111111004')).toBe('4.111111111111e+15');
    expect(mask(`card ${g15(pan)} on file`)).toBe('card *.***********11e+15 on file');
    expect(mask(g15(luhnComplete('411111111111100')))).not.toContain('4111');
    expect(floatTextIsPan(Buffer.from(g15(pan)), {})).toBe(true);
    expect(floatTextIsPan(Buffer.from(`-${g15(pan)}`), {})).toBe(true);
  });

  it('other printers: no exponent sign (Java, Rust, json as typed), three exponent digits (MSVC), an integer mantissa', () => {
    // PostgreSQL's json type keeps its input: `select '{"a":4.111111111111111e15}'::json` prints it so.
    expect(mask('{"a":4.111111111111111e15}')).toBe('{"a":*.*************11e15}');
    expect(mask('pan=4.111111111111111E15 ok')).toBe('pan=*.*************11E15 ok');
    expect(mask('[4111111111111111e0]')).toBe('[*************111e0]');
    expect(mask('x 4.111111111111111e+015 y')).toBe('x *.**************1e+015 y');
    expect(mask('x 4.111111111111111E+015.')).toBe('x *.**************1E+015.');
    expect(floatTextIsPan(Buffer.from('4.111111111111111e+015'), {})).toBe(true);
    // Not card numbers: a sign-less exponent glued to a word, too large, or a short token.
    for (const t of ['ab4.111111111111111e15', '4.111111111111111e15x', '4.111111111111111e150', '1.5e15', 'see 2e10']) expect(mask(t), t).toBe(t);
    // A short print whose whole number passes Luhn in an issuer range (605900000000000) is a measurement.
    for (const t of ['6.059e+14', '6.059E14', '6.059000e+14']) expect(mask(` ${t} `), t).toBe(` ${t} `);
  });

  it('log text with a short print (10–12 digits in all) is scanned too', () => {
    // 4111000008000000: nine significant digits, printed with and without the exponent sign.
    expect(mask('x 4.111000008e+15')).toBe('x *.*******08e+15');
    expect(mask('x 4.111000008E15')).toBe('x *.*******08E15');
  });

  it('the shortest prints taken (11 bytes signed, 13 without a sign) are found at every offset, among bytes a token is made of', () => {
    // 4111111800000 (8 significant digits, 5 zeros) and 4111111800000 again without the sign: the search looks at every
    // 11th byte only, so a longer stride would miss these at some offsets.
    for (const t of ['41111118e+5', '4.1111118e+12', '4.11111180E12', '41111118.0E05']) {
      for (let at = 0; at < 30; at++) {
        const text = `${'e.'.repeat(at).slice(0, at)} ${t} ${'+e'.repeat(15)}`;
        const spans = findPans(Buffer.from(text, 'latin1'));
        expect(spans.map((s) => text.slice(s.start, s.end)), `${t} at ${at}`).toEqual([t]);
      }
    }
  });

  it('a float column (text format) withholds both prints; anyLuhn widens only there', () => {
    const b = (s: string) => Buffer.from(s);
    expect(floatTextIsPan(b(exact(VISA)), {})).toBe(true);
    expect(floatTextIsPan(b(short(VISA)), {})).toBe(true);
    expect(floatTextIsPan(b(`-${short(MC)}`), {})).toBe(true);
    expect(floatTextIsPan(b('250.75'), {})).toBe(false);
    // Luhn-valid but in no major issuer range: a float column with anyLuhn holds it, free text does not.
    const private16 = luhnComplete('990000000000001');
    expect(floatTextIsPan(b(exact(private16)), { anyLuhn: true })).toBe(true);
    expect(floatTextIsPan(b(exact(private16)), {})).toBe(false);
    expect(new PanMasker({ anyLuhn: true }).maskText(exact(private16))).toBe(exact(private16));
  });

  it('JSON: a bare float PAN is replaced by a string, so the document still parses', () => {
    const ctx: ValueContext = { content: { format: 'last4' }, detect: {}, counts: {} } as ValueContext;
    const doc = `{"card": ${exact(VISA)}, "n": 1}`;
    const out = Buffer.from(contentText(Buffer.from(doc), ctx, true)).toString();
    expect(JSON.parse(out)).toEqual({ card: '*.*************11e+15', n: 1 });
  });
});

describe('exponent-form PANs in streams', () => {
  const text = `a ${exact(VISA)} b ${short(MC)}\n${exact(VISA)}`;
  const streamed = (chunks: Buffer[], release = -1) => {
    const out: Buffer[] = [];
    const timer: IdleTimer = { set: () => 1, clear: () => {} };
    const sm = new StreamMasker((c) => out.push(Buffer.from(c)), { timer });
    chunks.forEach((c, i) => {
      sm.write(c);
      if (i === release) sm.release();
    });
    sm.flush();
    return Buffer.concat(out).toString();
  };

  it('split at every offset and byte by byte: the same as one-shot', () => {
    const buf = Buffer.from(text);
    const oneShot = mask(text);
    expect(oneShot).not.toContain('111111');
    for (let i = 0; i <= buf.length; i++) expect(streamed([buf.subarray(0, i), buf.subarray(i)]), `split at ${i}`).toBe(oneShot);
    expect(streamed([...buf].map((x) => Buffer.of(x)))).toBe(oneShot);
  });

  it('an idle release at any offset shows no more than six digits of a card', () => {
    const buf = Buffer.from(`a ${exact(VISA)} b`);
    for (let i = 1; i < buf.length; i++) {
      const out = streamed([buf.subarray(0, i), buf.subarray(i)], 0);
      expect(out.replace(/\D/g, '').length, `released at ${i}: ${out}`).toBeLessThanOrEqual(6 + 2 + 2);
      expect(out).not.toContain('1111111');
    }
  });
});

/** A float print of a PAN as some printer writes it, with the PAN's digits. */
// A card number ending in 7 or more zeros (one in ten million) is not looked for in a float print.
const floatPrint = fc.tuple(panDigits.filter((d) => d.length === 16 && Number(d) < 2 ** 53 && !/0{7}$/.test(d)), fc.constantFrom('exact', 'g15', 'upper', 'java', 'rust', 'msvc', 'neg', 'padded'), fc.integer({ min: 1, max: 12 })).map(([d, how, pad]) => {
  const e = exact(d);
  // %.15g drops trailing zeros: a PAN whose 12th to 15th digits are zeros prints 11 digits or fewer, which the
  // masker does not take for a card (float-text.ts: ordinary numbers would be); printed exactly instead.
  const g = g15(d);
  const text = how === 'exact' || (how === 'g15' && g.replace(/[eE].*$/, '').replace(/\D/g, '').length < 12) ? e : how === 'g15' ? g : how === 'upper' ? e.toUpperCase() : how === 'java' ? e.toUpperCase().replace('+', '') : how === 'rust' ? e.replace('+', '')
    : how === 'msvc' ? e.replace('e+', 'e+0') : how === 'neg' ? `-${e}` : '0'.repeat(pad) + e; // padded: printf's %0*e
  return { digits: d, text };
});
/** Text around it: the usual filler plus the bytes a float print is made of, and ordinary exponent numbers. */
const around = fc.array(fc.oneof(filler, fc.constantFrom('e', 'E', '+', '.', '1.5e+15', '2.5E10', '3e', '7', 'x', ' ')), { maxLength: 4 }).map((a) => a.join(''));
const floatText = fc.array(fc.tuple(around, fc.constantFrom(' ', ',', '"', '(', '{', '\n', '='), floatPrint, fc.constantFrom(' ', ',', '"', ')', '}', '\n', '.')), { minLength: 1, maxLength: 3 })
  .chain((items) => around.map((tail) => ({ text: items.map(([f, a, p, b]) => f + a + p.text + b).join('') + tail, pans: items.map(([, , p]) => p) })));

describe('exponent-form PANs: streaming equals one-shot (property)', () => {
  type Format = 'last4' | 'first6last4' | 'full' | 'hmac';
  const styleOf = (format: Format) => (format === 'hmac' ? { format, hmacKey: Buffer.from('k') } : { format });
  const formats = fc.constantFrom<Format>('last4', 'first6last4', 'full', 'hmac');
  const run = (chunks: Uint8Array[], release: Set<number>, format: Format = 'last4') => {
    const out: Buffer[] = [];
    const timer: IdleTimer = { set: () => 1, clear: () => {} };
    const sm = new StreamMasker((c) => out.push(Buffer.from(c)), { timer, style: styleOf(format) });
    chunks.forEach((c, i) => {
      sm.write(c);
      if (release.has(i)) sm.release();
    });
    sm.flush();
    return Buffer.concat(out).toString();
  };

  it('random splits and byte by byte give the one-shot result, which shows none of the prints', () => {
    fc.assert(fc.property(floatText, fc.array(fc.nat(), { maxLength: 12 }), formats, ({ text, pans }, cuts, format) => {
      const oneShot = new PanMasker({ style: styleOf(format) }).maskText(text);
      for (const p of pans) expect(oneShot, p.text).not.toContain(p.text.replace(/^-?0*/, ''));
      const buf = Buffer.from(text);
      expect(run(splitAt(buf, cuts), new Set(), format)).toBe(oneShot);
      expect(run([...buf].map((b) => Uint8Array.of(b)), new Set(), format)).toBe(oneShot);
    }), { numRuns: 400 });
  });

  it('ordinary numbers in exponent form pass unchanged (printf\'s default precision, 7 digits at most), streamed too', () => {
    const ordinary = fc.tuple(fc.integer({ min: 1, max: 9 }), fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 6 }), fc.integer({ min: 0, max: 99 }), fc.constantFrom('e+', 'E+', 'e', 'E', 'e-'))
      .map(([i, f, x, sign]) => `${i}${f.length ? '.' + f.join('') : ''}${sign}${String(x).padStart(2, '0')}`);
    fc.assert(fc.property(fc.array(fc.tuple(around, fc.constantFrom(' ', ',', '"', '('), ordinary), { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 8 }), (items, cuts) => {
      const text = items.map(([a, d, o]) => a + d + o).join('') + ' ';
      fc.pre(findPans(Buffer.from(text.replace(/[eE][+-]?\d+/g, ' '))).length === 0); // no digit-run PAN in the filler
      expect(mask(text)).toBe(text);
      expect(run(splitAt(Buffer.from(text), cuts), new Set())).toBe(text);
    }), { numRuns: 400 });
  });

  it('idle releases anywhere show at most the first six digits of a print', () => {
    fc.assert(fc.property(floatText, fc.array(fc.nat(), { maxLength: 12 }), fc.array(fc.nat(12), { maxLength: 4 }), formats, ({ text, pans }, cuts, rel, format) => {
      const out = run(splitAt(Buffer.from(text), cuts), new Set(rel), format);
      for (const p of pans) {
        const mantissa = p.text.replace(/^-?0*/, '').replace(/[eE].*$/, '');
        expect(out, p.text).not.toContain(mantissa.slice(0, 8));
      }
    }), { numRuns: 400 });
  });
});
