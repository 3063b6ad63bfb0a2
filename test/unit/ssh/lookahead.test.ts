/**
 * Lookahead (src/broker/ssh-exec/lookahead.ts) answers as the searches it replaces do (indexOf, a RegExp from a
 * place, a RegExp over a slice), asked from any place in any order.
 */
import { describe, expect, it } from 'vitest';
import { Lookahead } from '../../../src/broker/ssh-exec/lookahead.js';

/** The test arithmetic of numbers took before: the slice against a whole-string RegExp. */
const ARITHMETIC_OF_NUMBERS = /^[0-9\s+\-*/%<>=!&|^~?:,()]*$/;

function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('Lookahead', () => {
  it('finds what indexOf, a RegExp from a place and the arithmetic RegExp find, from anywhere, in any order', () => {
    const rand = rng(7);
    const alphabet = '$(()))[]{}@:-=+?1 2\tx!a\u00a0';
    for (let n = 0; n < 400; n++) {
      const len = Math.floor(rand() * 40);
      let text = '';
      for (let k = 0; k < len; k++) text += alphabet[Math.floor(rand() * alphabet.length)];
      const look = new Lookahead(text);
      const pattern = /@|\[|:(?![-=+?])/g;
      for (let q = 0; q < 30; q++) {
        const from = Math.floor(rand() * (len + 2));
        const to = Math.floor(rand() * (len + 2));
        for (const token of ['))', ']', '}', '$((']) expect(look.next(token, from), `${JSON.stringify(text)} ${token} from ${from}`).toBe(text.indexOf(token, from));
        const again = new RegExp(pattern.source, 'g');
        again.lastIndex = from;
        expect(look.next(pattern, from), `${JSON.stringify(text)} pattern from ${from}`).toBe(from > len ? -1 : (again.exec(text)?.index ?? -1));
        expect(look.numbersOnly(from, to), `${JSON.stringify(text)} [${from}, ${to})`).toBe(ARITHMETIC_OF_NUMBERS.test(text.slice(from, to)));
      }
    }
  });

  it('refuses a RegExp without the g flag, or with y, rather than loop for ever or miss places', () => {
    const look = new Lookahead('a@b@');
    expect(() => look.next(/@/, 0)).toThrow(/needs a RegExp with the g flag/);
    expect(() => look.next(/@/gy, 0)).toThrow(/and not y/);
  });

  it('finds overlapping places: the next "))" in ")))" from 1 is 1', () => {
    const look = new Lookahead(')))');
    expect([0, 1, 2, 3].map((from) => look.next('))', from))).toEqual([0, 1, -1, -1]);
    expect([0, 1, 2].map((from) => look.next(/\)\)/g, from))).toEqual([0, 1, -1]);
  });
});
