import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PanMasker } from '../../../src/mask/pan-masker.js';
import { StreamMasker } from '../../../src/mask/stream-masker.js';
import type { IdleTimer } from '../../../src/mask/stream-masker.js';
import { delim, filler, formattedPan, luhnComplete, oraclePans, panDigits, splitAt, textWithPans } from './pan-oracle.js';

const masker = new PanMasker();

function streamed(chunks: Uint8Array[], opts: { release?: Set<number>; format?: 'last4' | 'first6last4' | 'full' | 'hmac'; anyLuhn?: boolean } = {}): Buffer {
  const out: Uint8Array[] = [];
  const timer: IdleTimer = { set: () => 1, clear: () => {} };
  const style = opts.format === 'hmac' ? { format: 'hmac' as const, hmacKey: Buffer.from('k') } : { format: opts.format ?? 'last4' };
  const sm = new StreamMasker((c) => out.push(Uint8Array.from(c)), { timer, style, anyLuhn: opts.anyLuhn === true });
  chunks.forEach((c, i) => {
    sm.write(c);
    expect(sm.held).toBeLessThanOrEqual(41);
    if (opts.release?.has(i)) sm.release();
  });
  sm.flush();
  return Buffer.concat(out);
}

describe('PAN masking properties', () => {
  it('no PAN survives one-shot masking, and the embedded ones are gone', () => {
    fc.assert(fc.property(textWithPans, ({ text, pans }) => {
      const out = masker.maskText(text);
      expect(oraclePans(out)).toEqual([]);
      for (const p of pans) expect(out.replace(/[ -]/g, '')).not.toContain(p);
    }), { numRuns: 500 });
  });

  it('text without PANs comes out byte-identical (one-shot and streamed)', () => {
    fc.assert(fc.property(fc.array(fc.oneof(filler, fc.stringMatching(/^[0-9 -]{0,30}$/)), { maxLength: 8 }).map((a) => a.join('')), fc.array(fc.nat(), { maxLength: 6 }), (text, cuts) => {
      fc.pre(oraclePans(text).length === 0);
      const buf = Buffer.from(text);
      expect(masker.maskBytes(buf)).toBe(buf);
      expect(streamed(splitAt(buf, cuts)).equals(buf)).toBe(true);
    }), { numRuns: 500 });
  });

  it('split at every offset: streaming equals one-shot and no PAN survives', () => {
    fc.assert(fc.property(textWithPans, fc.constantFrom('last4', 'first6last4', 'full') as fc.Arbitrary<'last4' | 'first6last4' | 'full'>, ({ text }, format) => {
      const buf = Buffer.from(text);
      const oneShot = Buffer.from(new PanMasker({ style: { format } }).maskBytes(buf));
      for (let i = 0; i <= buf.length; i++) {
        const out = streamed([buf.subarray(0, i), buf.subarray(i)], { format });
        expect(out.toString()).toBe(oneShot.toString());
      }
    }), { numRuns: 150 });
  });

  it('random multi-chunk splits, also byte by byte', () => {
    fc.assert(fc.property(textWithPans, fc.array(fc.nat(), { maxLength: 20 }), ({ text }, cuts) => {
      const buf = Buffer.from(text);
      const oneShot = Buffer.from(masker.maskBytes(buf)).toString();
      expect(streamed(splitAt(buf, cuts)).toString()).toBe(oneShot);
      expect(streamed([...buf].map((b) => Uint8Array.of(b))).toString()).toBe(oneShot);
    }), { numRuns: 200 });
  });

  it('idle releases at random points never let a whole PAN through', () => {
    fc.assert(fc.property(textWithPans, fc.array(fc.nat(), { maxLength: 20 }), fc.array(fc.nat(30), { maxLength: 10 }), ({ text }, cuts, rel) => {
      const chunks = splitAt(Buffer.from(text), cuts);
      const out = streamed(chunks, { release: new Set(rel) }).toString();
      expect(oraclePans(out)).toEqual([]);
    }), { numRuns: 300 });
  });

  it('hmac tokens in streams: no PAN survives any split', () => {
    fc.assert(fc.property(textWithPans, fc.array(fc.nat(), { maxLength: 10 }), ({ text, pans }, cuts) => {
      const out = streamed(splitAt(Buffer.from(text), cuts), { format: 'hmac' }).toString();
      expect(oraclePans(out)).toEqual([]);
      for (const p of pans) expect(out.replace(/[ -]/g, '')).not.toContain(p);
      expect(out).toContain('pan:hmac:');
    }), { numRuns: 200 });
  });

  // Decimal numbers with long fractions next to Luhn-valid numbers of any issuer, glued to `<digit>.`,
  // `word.`, `.`, `,` or nothing: any-Luhn masks exactly what the oracle calls a PAN, however it is split.
  const luhnAny = fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 12, maxLength: 18 }).map((a) => luhnComplete(a.join('')));
  const decimal = fc.tuple(fc.nat(999), fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 13, maxLength: 19 })).map(([i, f]) => `${i}.${f.join('')}`);
  const numbers = fc
    .array(fc.tuple(fc.constantFrom('', ' ', '7.', 'paid.', '.', '12,', '[', ', '), fc.oneof(luhnAny, decimal, panDigits), fc.constantFrom(' ', ',', '.00 ', ']', '\n')), { minLength: 1, maxLength: 4 })
    .map((a) => a.map((t) => t.join('')).join(''));

  it('any-Luhn and decimal fractions: streamed at every split equals one-shot, no PAN survives, the rest is byte-identical', () => {
    const any = new PanMasker({ anyLuhn: true });
    fc.assert(fc.property(numbers, (text) => {
      const buf = Buffer.from(text);
      const oneShot = Buffer.from(any.maskBytes(buf)).toString();
      expect(oraclePans(oneShot, true)).toEqual([]);
      if (oraclePans(text, true).length === 0) expect(oneShot).toBe(text);
      for (let i = 0; i <= buf.length; i++) expect(streamed([buf.subarray(0, i), buf.subarray(i)], { anyLuhn: true }).toString()).toBe(oneShot);
    }), { numRuns: 300 });
  });

  it('a card number, a float print of one or a zero-padded one after a backslash escape: split anywhere, equal to one-shot and masked', () => {
    const text = Buffer.from(String.raw`{"a": "x\n4111111111111111", "b": "y\t4.111111111111111e+15", "c": "\r0004111111111111111"}`);
    const oneShot = Buffer.from(new PanMasker().maskBytes(text)).toString();
    expect(oneShot).toBe(String.raw`{"a": "x\n************1111", "b": "y\t*.*************11e+15", "c": "\r000************1111"}`);
    for (let i = 0; i <= text.length; i++) {
      expect(streamed([text.subarray(0, i), text.subarray(i)]).toString()).toBe(oneShot);
      expect(streamed([text.subarray(0, i), text.subarray(i)], { release: new Set([0]) }).toString()).not.toContain('4111111111111111');
    }
  });

  it('a card number glued after a word is masked, after an identifier\'s letters is not: split anywhere, equal to one-shot and to the oracle', () => {
    const lead = fc.constantFrom('', ' ', '7', '0', '\\', ':', 'é', '_');
    const word = fc.stringMatching(/^[A-Za-z]{1,40}$/);
    fc.assert(fc.property(filler, lead, word, formattedPan, delim, (head, l, w, p, d) => {
      const text = `${head} ${l}${w}${p.text}${d}`;
      const buf = Buffer.from(text);
      const oneShot = Buffer.from(masker.maskBytes(buf)).toString();
      const glued = /^\d$/.test(l) || (l === '\\' && /^[xX]/.test(w)) || w.length > 32;
      // Glued to an identifier, the first group is the identifier's (a later group may still start a card number).
      const first = /^\d+/.exec(p.text)![0];
      if (glued) expect(oneShot).toContain(`${w}${first}`);
      else expect(oneShot.replace(/[ -]/g, '')).not.toContain(p.digits);
      expect(oraclePans(text).includes(p.digits)).toBe(!glued);
      expect(oraclePans(oneShot)).toEqual([]);
      for (let i = 0; i <= buf.length; i++) expect(streamed([buf.subarray(0, i), buf.subarray(i)]).toString()).toBe(oneShot);
    }), { numRuns: 200 });
  });

  it('a run of digit groups longer than a PAN holds only the groups a PAN still to come could span (seed 2136994273)', () => {
    // A 19-digit card number, a date and the start of a grouped card number: 36 digits in one run of groups.
    const text = Buffer.from(' 4000000000000000006 2026-11-22 4000 0000 00006  4000000000006 ');
    const oneShot = Buffer.from(masker.maskBytes(text)).toString();
    for (let i = 0; i <= text.length; i++) expect(streamed([text.subarray(0, i), text.subarray(i)]).toString()).toBe(oneShot);
    const sm = new StreamMasker(() => {}, { timer: { set: () => 1, clear: () => {} } });
    sm.write(Buffer.from(' 4000000000000000006 2026-11-22 4000 0000 00'));
    // `2026-11-22 4000 0000 00`: the 19-digit group before it cannot begin a card number that ends later.
    expect(sm.held).toBe(23);
  });

  it('never splits a multibyte UTF-8 character', () => {
    const text = Buffer.from('é€😀 4111 1111 1111 1111 😀€é');
    for (let i = 0; i <= text.length; i++) {
      const pieces: Buffer[] = [];
      const sm = new StreamMasker((c) => pieces.push(Buffer.from(c)), { timer: { set: () => 1, clear: () => {} } });
      sm.write(text.subarray(0, i));
      sm.release();
      sm.write(text.subarray(i));
      sm.flush();
      for (const p of pieces) expect(Buffer.from(p.toString('utf8')).equals(p)).toBe(true);
    }
  });

  it('releases held bytes after the idle time and keeps typing responsive', () => {
    const pending: Array<() => void> = [];
    const out: string[] = [];
    const sm = new StreamMasker((c) => out.push(Buffer.from(c).toString()), { timer: { set: (fn) => { pending.push(fn); return pending.length; }, clear: () => {} } });
    sm.write(Buffer.from('$ echo 12'));
    expect(out.join('')).toBe('$ echo ');
    expect(sm.held).toBe(2);
    pending.shift()!();
    expect(out.join('')).toBe('$ echo 12');
    sm.write(Buffer.from(' 4111111111111111\n'));
    expect(out.join('')).toBe('$ echo 12 ************1111\n');
  });
});
