/**
 * Card numbers printed as floating-point numbers (src/mask/float-text.ts): found by findPans wherever
 * content is masked, decided only once a stream shows the whole token, kept valid JSON, and withheld in
 * float columns also when printed with one digit fewer (extra_float_digits = 0).
 */
import { describe, expect, it } from 'vitest';
import { findPans } from '../../../src/mask/pan-detector.js';
import { PanMasker } from '../../../src/mask/pan-masker.js';
import { contentText, floatTextIsPan } from '../../../src/mask/pg-values.js';
import type { ValueContext } from '../../../src/mask/pg-values.js';
import { StreamMasker } from '../../../src/mask/stream-masker.js';
import type { IdleTimer } from '../../../src/mask/stream-masker.js';
import { luhnComplete } from './pan-oracle.js';

const VISA = '4111111111111111';
const MC = '5555555555554444';
const exact = (pan: string) => Number(pan).toExponential(); // what PostgreSQL prints with extra_float_digits ≥ 1
const short = (pan: string) => Number(pan).toPrecision(pan.length - 1); // extra_float_digits = 0: one digit fewer
const masker = new PanMasker();
const mask = (s: string) => masker.maskText(s);

/** A Luhn-valid Visa number ending in four zeros: its shortest print has 12 significant digits. */
function visaEndingInZeros(): string {
  for (let i = 0; i < 1000; i++) {
    const pan = luhnComplete(`411111111${String(i).padStart(3, '0')}000`);
    if (pan.endsWith('0000')) return pan;
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
      Number(VISA).toPrecision(14), // 14 of 16 digits: a hundred candidates, not the card
      '1.234567890123456e+15', // not in an issuer range
      exact(String(Number(VISA) + 1)), // 4111111111111112: fails Luhn
    ];
    for (const t of keep) expect(mask(t), t).toBe(t);
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
