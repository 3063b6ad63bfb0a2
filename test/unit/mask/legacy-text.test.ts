import { describe, expect, it } from 'vitest';
import { legacyEncoding, maskLegacyText } from '../../../src/mask/legacy-text.js';
import { PgMasker } from '../../../src/mask/pg-masker.js';
import { bytes } from '../../harness/pg-bytes.js';

const latin1 = (s: string) => Buffer.from(s, 'latin1');
const mask = (enc: string, v: Buffer, format: 'last4' | 'first6last4' | 'full' | 'hmac' = 'last4') => {
  let n = 0;
  const out = maskLegacyText(v, legacyEncoding(enc, 'UTF8')!, { format, hmacKey: Buffer.from('k') }, {}, (k) => { n += k; });
  return { out: Buffer.from(out).toString('latin1'), n };
};
/** A full-width digit in EUC-JP (JIS X 0208 row 3). */
const eucDigit = (d: string) => `\xa3${String.fromCharCode(0xb0 + Number(d))}`;

describe('legacy-text: a card number in a client_encoding other than UTF-8', () => {
  it('is read in that encoding: no-break spaces (LATIN1 A0, KOI8R 9A), WIN1252 en dashes, EUC-JP full-width digits', () => {
    expect(mask('LATIN1', latin1('card 4111\xa01111\xa01111\xa01111.'))).toEqual({ out: 'card ****\xa0****\xa0****\xa01111.', n: 1 });
    expect(mask('KOI8R', latin1('4111\x9a1111\x9a1111\x9a1111')).out).toBe('****\x9a****\x9a****\x9a1111');
    expect(mask('WIN1252', latin1('4111\x961111\x961111\x961111'), 'first6last4').out).toBe('4111\x9611**\x96****\x961111');
    const fw = [...'4111111111111111'].map(eucDigit).join('');
    expect(mask('EUC_JP', latin1(`x${fw}`)).out).toBe(`x${'**'.repeat(12)}${eucDigit('1').repeat(4)}`);
    expect(mask('EUC_KR', latin1(fw), 'full').out).toBe('**'.repeat(16));
  });

  it('hmac puts its token where the card number was; what is not a card number stays byte for byte', () => {
    const { out, n } = mask('LATIN1', latin1('a 4111\xa01111\xa01111\xa01111 b'), 'hmac');
    expect(n).toBe(1);
    expect(out).toMatch(/^a pan:hmac:[0-9a-f]{16} b$/);
    for (const v of ['caf\xe9 4111\xa01111', 'no digits \xe9\xe8', '4111\xa01111\xa01111\xa01112']) {
      const b = latin1(v);
      expect(maskLegacyText(b, legacyEncoding('LATIN1', 'UTF8')!, { format: 'last4' }, {}, () => {}), v).toBe(b);
    }
  });

  it('a bad EUC-JP sequence before the card number does not shift where its digits are', () => {
    const fw = [...'4111111111111111'].map(eucDigit).join('');
    expect(mask('EUC_JP', latin1(`\xa3A${fw}\xa3`)).out).toBe(`\xa3A${'**'.repeat(12)}${eucDigit('1').repeat(4)}\xa3`);
  });

  it('UTF-8 and SQL_ASCII on a UTF8 server are not read again; SQL_ASCII is read in the server\'s encoding; an encoding without a reader refuses its text', () => {
    expect(legacyEncoding('UTF8', 'UTF8')).toBeUndefined();
    expect(legacyEncoding('SQL_ASCII', 'UTF8')).toBeUndefined();
    expect(legacyEncoding('SQL_ASCII', 'LATIN1')?.name).toBe('LATIN1');
    // A SQL_ASCII server sends what was stored, whatever the client asked for: read as WIN1252 besides UTF-8.
    expect(legacyEncoding('UTF8', 'SQL_ASCII')?.name).toBe('SQL_ASCII');
    const stored = maskLegacyText(latin1('4111\x961111\x961111\x961111 \xe2\x80\x93 12'), legacyEncoding('UTF8', 'SQL_ASCII')!, { format: 'last4' }, {}, () => {});
    expect(Buffer.from(stored).toString('latin1')).toBe('****\x96****\x96****\x961111 \xe2\x80\x93 12');
    expect(() => mask('EUC_TW', latin1('\xa4\xa1'))).toThrow(/EUC_TW/);
    expect(mask('EUC_TW', latin1('ascii only')).out).toBe('ascii only');
  });

  it('an EUC-JP text whose characters cannot be placed (8F xx before ASCII, refused a byte at a time): starred, not an error', () => {
    const fw = Buffer.from('a3b4a3b1a3b1a3b1a3b1a3b1a3b1a3b1a3b1a3b1a3b1a3b1a3b1a3b1a3b1a3b1', 'hex');
    const { out, n } = mask('EUC_JP', Buffer.concat([Buffer.from('id 7 '), fw, Buffer.from('8fa131', 'hex')]));
    expect(n).toBe(1);
    expect(out).toBe(`id * ${'*'.repeat(fw.length + 3)}`);
  });

  it('a SQL_ASCII database read by a client that declares EUC_JP: its stored EUC-JP full-width digits are masked too', () => {
    const m = new PgMasker({ config: { format: 'last4', networks: 'major', rules: [], sad_columns: [] } });
    m.onBackendMessage(bytes.parameterStatus('server_encoding', 'SQL_ASCII'));
    m.onBackendMessage(bytes.parameterStatus('client_encoding', 'EUC_JP'));
    const euc = Buffer.concat([Buffer.from('card '), Buffer.from('a3b4a3b1a3b1a3b1a3b1a3b1a3b1a3b1a3b1a3b1a3b1a3b1a3b1a3b1a3b1a3b1', 'hex')]);
    expect(m.onBackendMessage(bytes.dataRow([euc]))?.subarray(11).toString('hex')).toBe(`${Buffer.from('card ').toString('hex')}${'2a'.repeat(24)}a3b1a3b1a3b1a3b1`);
    // Bytes stored in WIN1252 are still read as such.
    expect(m.onBackendMessage(bytes.dataRow([latin1('4111\x961111\x961111\x961111')]))?.subarray(11).toString('latin1')).toBe('****\x96****\x96****\x961111');
  });

  it('PgMasker reads the rows after a ParameterStatus client_encoding in it, and text that is not UTF-8 before one', () => {
    const m = new PgMasker({ config: { format: 'last4', networks: 'major', rules: [], sad_columns: [] } });
    const row = (v: Buffer) => bytes.dataRow([v]);
    const nb = latin1('4111\xa01111\xa01111\xa01111');
    const masked = '****\xa0****\xa0****\xa01111';
    // In a UTF-8 session: the server changed client_encoding and reports it only before its ReadyForQuery
    // (`SET client_encoding = 'LATIN1'; SELECT …` in one string): not UTF-8, so read in the encodings not reported.
    expect(m.onBackendMessage(row(nb))?.subarray(11).toString('latin1')).toBe(masked);
    expect(m.onBackendMessage(bytes.parameterStatus('client_encoding', 'LATIN1'))).toBeNull();
    expect(m.onBackendMessage(row(nb))?.subarray(11).toString('latin1')).toBe(masked);
    m.onBackendMessage(bytes.parameterStatus('client_encoding', 'UTF8'));
    // EUC-JP full-width digits, and a UTF-8 value with a no-break space after its digits, which is UTF-8: left as it is.
    const euc = Buffer.from('a3b4a3b1a3b1a3b1a3b1a3b1a3b1a3b1a3b1a3b1a3b1a3b1a3b1a3b1a3b1a3b1', 'hex');
    expect(m.onBackendMessage(row(euc))?.subarray(11).toString('hex')).toBe(`${'2a'.repeat(24)}a3b1a3b1a3b1a3b1`);
    expect(m.onBackendMessage(row(Buffer.from('prix 12\u00a0€, 4111')))).toBeNull();
  });
});
