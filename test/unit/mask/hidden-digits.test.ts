import { describe, expect, it } from 'vitest';
import { forEachHiddenDigit, starSpan } from '../../../src/mask/mask-format.js';
import type { MaskFormat } from '../../../src/mask/mask-format.js';
import { findPans } from '../../../src/mask/pan-detector.js';

/** What forEachHiddenDigit reports for the one card number of `text` (offsets of hidden digits, `w` for full-width). */
const hidden = (text: string, format: MaskFormat, floor = 0, digits?: number): string[] => {
  const buf = Buffer.from(text, 'utf8');
  const span = { start: 0, end: buf.length, digits: digits ?? [...text].filter((c) => /[0-9*\uff10-\uff19\uff0a]/.test(c)).length };
  const got: string[] = [];
  forEachHiddenDigit(buf, span, format, (at, fullWidth, target) => { target.push(`${at}${fullWidth ? 'w' : ''}`); }, got, floor);
  return got;
};
const range = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => String(from + i));
/** `text` with `starSpan` applied to its first card number, as UTF-8. */
const starred = (text: string, format: MaskFormat, floor = 0): string => {
  const buf = Buffer.from(text, 'utf8');
  const [span] = findPans(buf, {});
  starSpan(buf, span!, format, floor);
  return buf.toString('utf8');
};

describe('forEachHiddenDigit: the digits of a card number a star format hides', () => {
  it('reports every digit but those the format keeps, by offset, and no separator', () => {
    expect(hidden('4111111111111111', 'last4')).toEqual(range(0, 12));
    expect(hidden('4111111111111111', 'first6last4')).toEqual(range(6, 12));
    expect(hidden('4111111111111111', 'full')).toEqual(range(0, 16));
    // `null` on free text acts as `full`; hmac callers star only where a token cannot go (a bytea's hex).
    expect(hidden('378282246310005', 'null')).toEqual(range(0, 15));
    expect(hidden('4111 1111-1111 1111', 'last4')).toEqual([...range(0, 4), ...range(5, 9), ...range(10, 14)]);
    expect(hidden('4111 1111-1111 1111', 'first6last4')).toEqual(['7', '8', ...range(10, 14)]);
  });

  it('counts the digits the span says it has: a 19-digit one keeps its own last four', () => {
    expect(hidden('6011000990139424123', 'last4')).toEqual(range(0, 15));
    expect(hidden('6011000990139424123', 'first6last4')).toEqual(range(6, 15));
  });

  it('reports a full-width digit once, at its first byte, and steps over its three bytes', () => {
    const fw = (s: string) => [...s].map((c) => String.fromCharCode(0xff10 + Number(c))).join('');
    expect(hidden(fw('4111111111111111'), 'last4')).toEqual(range(0, 12).map((i) => `${3 * Number(i)}w`));
    // Mixed with ASCII digits and a Unicode separator (U+00A0, two bytes): offsets are byte offsets.
    expect(hidden(`${fw('41')}11\u00a01111\u00a01111\u00a01111`, 'first6last4')).toEqual(['12', '13', '16', '17', '18', '19']);
    expect(hidden(`${fw('4111')}${fw('1111')}${fw('1111')}1111`, 'full').slice(10)).toEqual(['30w', '33w', '36', '37', '38', '39']);
  });

  it('counts a `*` or `＊` as the digit it hid, so overlapping spans are starred in place one after another', () => {
    expect(hidden('****1111 1111 1111', 'last4', 0, 16)).toEqual([...range(0, 8), ...range(9, 13)]);
    expect(hidden('\uff0a\uff0a11111111111111', 'last4', 0, 16)).toEqual(['0w', '3w', ...range(6, 16)]);
  });

  it('counts the digits before `floor` but does not report them (a stream sent them already)', () => {
    expect(hidden('4111 1111 1111 1111', 'last4', 7)).toEqual(['7', '8', ...range(10, 14)]);
    expect(hidden('4111111111111111', 'full', 16)).toEqual([]);
  });
});

describe('starSpan: the digits hidden become `*`, a full-width one `＊`, in place', () => {
  it('keeps separators, kept digits and the length', () => {
    expect(starred('card 4111-1111-1111-1111.', 'last4')).toBe('card ****-****-****-1111.');
    expect(starred('4111 1111 1111 1111', 'first6last4')).toBe('4111 11** **** 1111');
    expect(starred('４１１１　１１１１　１１１１　１１１１', 'last4')).toBe('＊＊＊＊　＊＊＊＊　＊＊＊＊　１１１１');
    expect(starred('4111 1111 1111 1111', 'full', 10)).toBe('4111 1111 **** ****');
  });
});
