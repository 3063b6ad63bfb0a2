import { describe, expect, it } from 'vitest';
import { maskJsonEscapes, readableEscape } from '../../../src/mask/json-escapes.js';
import { PanMasker } from '../../../src/mask/pan-masker.js';

const mask = (s: string, format: 'last4' | 'first6last4' | 'hmac' = 'last4') => {
  let n = 0;
  const out = maskJsonEscapes(Buffer.from(s), { format, hmacKey: Buffer.from('k') }, {}, (k) => { n += k; });
  return { out: Buffer.from(out).toString(), n };
};
const esc = (d: string) => `\\uff1${d}`;
const fw = (pan: string) => [...pan].map(esc).join('');

describe('json-escapes: a card number spelt with \\uXXXX escapes', () => {
  it('is masked with the escapes kept, and the document still parses to the masked card number', () => {
    const nb = mask('{"c": "4111\\u00a01111\\u00A01111\\u00a01111"}');
    expect(nb).toEqual({ out: '{"c": "****\\u00a0****\\u00A0****\\u00a01111"}', n: 1 });
    expect(JSON.parse(nb.out)).toEqual({ c: '****\u00a0****\u00a0****\u00a01111' });
    expect(mask(`"${fw('4111111111111111')}"`).out).toBe(`"${'\\uff0a'.repeat(12)}${esc('1').repeat(4)}"`);
    expect(mask(`"${fw('4111111111111111')}"`, 'first6last4').out).toBe(`"${fw('411111')}${'\\uff0a'.repeat(6)}${esc('1').repeat(4)}"`);
    expect(mask('"\\u0034111111111111111 \\u2013 5500\\u20130000\\u20130000\\u20130004"')).toEqual({ out: '"\\u002a***********1111 \\u2013 ****\\u2013****\\u2013****\\u20130004"', n: 2 });
  });

  it('is read behind a backslash a container doubled (a record\'s or array\'s text, a text COPY row)', () => {
    expect(mask('("{""c"": ""4111\\\\u00a01111\\\\u00a01111\\\\u00a01111""}")').out).toBe('("{""c"": ""****\\\\u00a0****\\\\u00a0****\\\\u00a01111""}")');
    expect(mask(`{"{\\"c\\": \\"${fw('4111111111111111').replace(/\\/g, '\\\\')}\\"}"}`).out).toBe(`{"{\\"c\\": \\"${'\\\\uff0a'.repeat(12)}${'\\\\uff11'.repeat(4)}\\"}"}`);
  });

  it('reads bytea\'s escape output (octal bytes beyond ASCII), also with its backslashes doubled', () => {
    expect(mask('4111\\302\\2401111\\302\\2401111\\302\\2401111').out).toBe('****\\302\\240****\\302\\240****\\302\\2401111');
    const oct = (t: string) => [...Buffer.from(t, 'utf8')].map((b) => `\\${b.toString(8)}`).join('');
    expect(mask(`x\\${oct(`\uff14${'\uff11'.repeat(15)}`)}`).out).toBe(`x\\${oct(`${'\uff0a'.repeat(12)}${'\uff11'.repeat(4)}`)}`);
    for (const s of ['\\302\\240 12 \\000\\377', 'C:\\100\\4111']) expect(mask(s).out, s).toBe(s);
  });

  it('reads the characters wide-text.ts reads, its list: U+FFFD between groups is a separator escaped as in the raw text', () => {
    // A LATIN1 no-break space read as UTF-8 becomes U+FFFD; JSON of that text escapes it.
    expect(mask('{"c": "4111\\ufffd1111\\ufffd1111\\ufffd1111"}')).toEqual({ out: '{"c": "****\\ufffd****\\ufffd****\\ufffd1111"}', n: 1 });
  });

  it('hmac puts its token in the string', () => {
    const { out } = mask('{"c": "4111\\u00a01111\\u00a01111\\u00a01111", "d": 1}', 'hmac');
    expect(JSON.parse(out)).toEqual({ c: expect.stringMatching(/^pan:hmac:[0-9a-f]{16}$/), d: 1 });
  });

  it('leaves alone what is not an escape of a card number\'s characters, byte for byte', () => {
    for (const s of ['"4111\\u00a01111\\u00a01111\\u00a01112"', '"\\u00e9\\u00a0 12 \\uff11"', '"\\u00a"', '"\\']) {
      const b = Buffer.from(s);
      expect(maskJsonEscapes(b, { format: 'last4' }, {}, () => {}), s).toBe(b);
    }
  });

  it('readableEscape: only an escape of a card number\'s characters counts (the DataRow hot path), inside [from, to) alone', () => {
    const r = (s: string, from?: number, to?: number) => readableEscape(Buffer.from(s), from, to);
    for (const s of ['"4111\\u00a0"', '\\uFF14', '\\\\u2013', '\\064', '\\302\\240', 'x\\\\357\\274\\224']) expect(r(s), s).toBe(true);
    for (const s of ['{"a":"x\\"y\\n"}', 'caf\\u00e9 \\ud83d\\ude00', '\\u00a', 'C:\\100\\\\', '\\x34313131', '\\']) expect(r(s), s).toBe(false);
    // In place in a row: an escape cut off by `to`, or before `from`, is not read.
    const row = 'ab\\u00a0\\064';
    expect(r(row, 0, 6)).toBe(false);
    expect(r(row, 0, 8)).toBe(true);
    expect(r(row, 3, 11)).toBe(false);
    expect(r(row, 3, 12)).toBe(true);
  });

  it('maskText (the log\'s SQL, parameters, error messages) reads them too', () => {
    expect(new PanMasker().maskText(`insert into t values ('{"c": "${fw('4111111111111111')}"}')`)).toBe(`insert into t values ('{"c": "${'\\uff0a'.repeat(12)}${esc('1').repeat(4)}"}')`);
  });
});
