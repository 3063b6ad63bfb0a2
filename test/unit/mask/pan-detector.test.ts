import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { luhnString } from '../../../src/mask/card-networks.js';
import { findPans } from '../../../src/mask/pan-detector.js';
import { fewerDigitsThan, maskText, PanMasker } from '../../../src/mask/pan-masker.js';

const b = (s: string) => Buffer.from(s, 'utf8');

describe('findPans', () => {
  it.each([
    ['4111111111111111', '************1111'],
    ['card 4111 1111 1111 1111 ok', 'card **** **** **** 1111 ok'],
    ['amex 3782-822463-10005.', 'amex ****-******-*0005.'],
    ['mc2 2223000048400011', '************0011'],
    ['visa13 4222222222222', '*********2222'.padStart(13, '*')],
    ['"4012888888881881"', '"************1881"'],
    ['(6011111111111117)', '(************1117)'],
    ['jcb 3530111333300000', '************0000'],
    ['diners 30569309025904', '**********5904'],
    ['unionpay 6200000000000005', '************0005'],
    ['12 4111 1111 1111 1111 qty', '12 **** **** **** 1111 qty'],
    ['%B4111111111111111^DOE/JOHN^', '%B************1111^DOE/JOHN^'],
    ['19digit 4111-1111-1111-1111-110', '****-****-****-***1-110'],
    ['x4111111111111111', 'x************1111'], // glued after a word
    ['card4111111111111111', 'card************1111'],
    ['PAN:cc4111 1111 1111 1111;', 'PAN:cc**** **** **** 1111;'],
    ['{"card":"visa4111111111111111"}', '{"card":"visa************1111"}'],
  ])('masks %s', (input, expected) => {
    const out = maskText(input);
    expect(out.endsWith(expected)).toBe(true);
  });

  it.each([
    'order 1234567812345678', // 16 digits, not Luhn-valid
    'GB29NWBK4111111111111111', // after an identifier's letters (an IBAN's bank code follows its check digits)
    '0x4111111111111111', // a hex number
    'sha e3b0c4111111111111111', // a digest's hex digits
    `${'a'.repeat(33)}4111111111111111`, // after a word too long to be one
    '4111111111111111abc',
    '41111111111111110', // 17 digits: a longer run
    '14111111111111111', // longer run
    '2026-11-22 12:00:00.123456+00',
    '1732276800123', // epoch millis
    '+1 415-555-0132 / +44 20 7946 0958',
    'DE89 3704 0044 0532 0130 00',
    'GB82WEST12345698765432',
    '123e4567-e89b-12d3-a456-426614174000',
    '62271257-0000-1000-8000-000000000000', // a UUID whose first groups form a Luhn-valid Discover number
    '11111111111111111111111111111111111111',
  ])('leaves %s alone', (input) => {
    expect(maskText(input)).toBe(input);
    expect(findPans(b(input))).toEqual([]);
  });

  it('a PAN after a backslash escape (a line break or tab as JSON, COPY text and E\'…\' write it) or a word is masked; a bytea\'s \\x is hex', () => {
    expect(maskText(String.raw`{"note": "Card:\n4111111111111111\n exp 12/29"}`)).toBe(String.raw`{"note": "Card:\n************1111\n exp 12/29"}`);
    expect(maskText(String.raw`1\tline one\n4111 1111 1111 1111`)).toBe(String.raw`1\tline one\n**** **** **** 1111`);
    for (const e of ['b', 'f', 'n', 'r', 't', 'v']) expect(maskText(`x\\${e}378282246310005`)).toBe(`x\\${e}***********0005`);
    expect(maskText(String.raw`E'\t4111111111111111'`)).toBe(String.raw`E'\t************1111'`);
    expect(maskText('n4111111111111111')).toBe('n************1111');
    expect(maskText(String.raw`\x4111111111111111`)).toBe(String.raw`\x4111111111111111`);
    // A float print or a thousands-grouped print of one on a line of its own, too.
    expect(maskText(String.raw`{"n": "x\n4.111111111111111e+15"}`)).toBe(String.raw`{"n": "x\n*.*************11e+15"}`);
    expect(maskText(String.raw`paid\n$4,111,111,111,111,111.00`)).toBe(String.raw`paid\n$*,***,***,***,**1,111.00`);
    expect(maskText('n4.111111111111111e+15')).toBe('n4.111111111111111e+15');
  });

  it('a PAN zero-padded to a fixed width (19 digits at most: lpad(pan, 19, \'0\'), a legacy field) is masked; its zeros stay', () => {
    expect(maskText('0004111111111111111')).toBe('000************1111');
    expect(maskText('pan=0378282246310005;')).toBe('pan=0***********0005;');
    expect(maskText('|00004222222222222|')).toBe('|0000*********2222|');
    expect(maskText('0004111111111111111 123 ok')).toBe('000************1111 123 ok');
    // Not a PAN once the zeros are gone, too long to be a padded one, or a decimal fraction's digits: left alone.
    expect(maskText('x0004111111111111111')).toBe('x000************1111'); // after a word, as unpadded
    for (const t of ['0001234567812345678', '00004111111111111111', '0000000000000000', '7x0004111111111111111', '414.0687119840108008', '1.0004111111111111111']) expect(maskText(t)).toBe(t);
  });

  it('returns the same buffer object when nothing is masked', () => {
    const m = new PanMasker();
    const buf = b('nothing to see 1234 here');
    expect(m.maskBytes(buf)).toBe(buf);
  });

  it('skips text with fewer than 13 digits (the fast path), and only that', () => {
    expect(fewerDigitsThan('SELECT abalance FROM pgbench_accounts WHERE aid = 123456789012;', 13)).toBe(true);
    expect(fewerDigitsThan('a1b2c3d4e5f6g7h8i9j0k1l2m3', 13)).toBe(false);
    expect(fewerDigitsThan('', 13)).toBe(true);
    // 13 digits (the shortest PAN), in groups and in a string with little else: still found and masked.
    expect(maskText("select '4222 2222 22222'")).toBe("select '**** **** *2222'");
    expect(maskText('visa13 4222222222222')).toBe('visa13 *********2222');
    // Fullwidth digits are not ASCII digits: neither counted nor masked.
    const wide = '\uFF14\uFF11'.repeat(8);
    expect(maskText(wide)).toBe(wide);
  });

  it('counts per rule', () => {
    const counts: Record<string, number> = {};
    maskText('4111111111111111 and 5555555555554444', counts);
    expect(counts).toEqual({ pan: 2 });
  });

  it('any-Luhn mode accepts numbers outside the issuer ranges', () => {
    const n = '1234567812345670';
    expect(luhnString(n)).toBe(true);
    expect(new PanMasker().maskText(n)).toBe(n);
    expect(new PanMasker({ anyLuhn: true }).maskText(n)).toBe('************5670');
  });

  it('any-Luhn does not take a decimal fraction (`<digit>.` before the run) outside the issuer ranges', () => {
    const any = new PanMasker({ anyLuhn: true });
    // Found in asciinema-player's bundle, inlined into replay --html pages: Luhn-valid, 14 digits.
    expect(luhnString('99999999999977')).toBe(true);
    expect(luhnString('1234567812345670')).toBe(true);
    for (const s of ['249.99999999999977', 'e=[59,249.99999999999977,933]', '-0.1234567812345670', 'x 7.1234-5678-1234-5670 y']) {
      expect(any.maskText(s)).toBe(s);
      expect(findPans(b(s), { anyLuhn: true })).toEqual([]);
    }
    // The default never took them (outside the issuer ranges), and still does not.
    expect(maskText('249.99999999999977')).toBe('249.99999999999977');
  });

  it.each([
    ['paid.1234567812345670', 'paid.************5670'], // a sentence's full stop: not a decimal
    ['paid.4111111111111111', 'paid.************1111'],
    ['1234567812345670.00', '************5670.00'], // a PAN followed by cents
    ['4111111111111111.00', '************1111.00'],
    ['ref .1234567812345670', 'ref .************5670'], // no digit before the dot
    ['Paid 12.50. 1234567812345670', 'Paid 12.50. ************5670'],
    ['12,1234567812345670', '12,************5670'], // a comma separates fields, it is no decimal mark here
    ['1.5 1234 5678 1234 5670', '1.5 **** **** **** 5670'], // the fraction is `5`; the PAN starts after it
    ['total 12.4111111111111111', 'total 12.************1111'], // in a major range: any-Luhn keeps what major finds
    ['0.4111111111111111', '0.************1111'],
  ])('any-Luhn still masks %s', (input, expected) => {
    expect(new PanMasker({ anyLuhn: true }).maskText(input)).toBe(expected);
  });

  it('the default still masks a major-network PAN after `<digit>.`', () => {
    expect(maskText('total 12.4111111111111111')).toBe('total 12.************1111');
    expect(maskText('0.4111 1111 1111 1111')).toBe('0.**** **** **** 1111');
  });

  it('any-Luhn finds nothing in the asciinema-player bundle that replay --html inlines', async () => {
    const js = await readFile(createRequire(import.meta.url).resolve('asciinema-player/dist/bundle/asciinema-player.min.js'));
    expect(findPans(js, { anyLuhn: true })).toEqual([]);
  });

  it('formats first6last4, full and hmac', () => {
    expect(new PanMasker({ style: { format: 'first6last4' } }).maskText('4111-1111-1111-1111')).toBe('4111-11**-****-1111');
    expect(new PanMasker({ style: { format: 'full' } }).maskText('4111111111111111')).toBe('****************');
    const h = new PanMasker({ style: { format: 'hmac', hmacKey: b('k') } });
    const a = h.maskText('a 4111111111111111 b');
    expect(a).toMatch(/^a pan:hmac:[0-9a-f]{16} b$/);
    expect(h.maskText('4111 1111 1111 1111')).toBe(a.slice(2, -2));
  });

  it('masks track data as SAD', () => {
    const counts: Record<string, number> = {};
    const out = maskText('t2 ;4111111111111111=25121011234567890? t1 %B4111111111111111^DOE/JOHN^2512101123456789?', counts);
    expect(out).not.toMatch(/\d{5}/);
    expect(counts.sad).toBe(2);
  });
});
