/**
 * RecordedKeys: a private key shown in a terminal is hidden in the recording, its layout kept, wherever the text is
 * cut; its END line and what follows are recorded as they are; text without a key is recorded as it is.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KEY_MAX, RecordedKeys } from '../../../src/broker/recorded-keys.js';
import { RecordedTokens } from '../../../src/broker/recorded-tokens.js';

const BODY = ['b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW', 'QyNTUxOQAAACBm9kV+Ql/Yw=='];
const KEY = `-----BEGIN OPENSSH PRIVATE KEY-----\r\n${BODY.join('\r\n')}\r\n-----END OPENSSH PRIVATE KEY-----\r\n`;
const SHOWN = `-----BEGIN OPENSSH PRIVATE KEY-----\r\n${BODY.map((l) => '*'.repeat(l.length)).join('\r\n')}\r\n-----END OPENSSH PRIVATE KEY-----\r\n`;

function fed(parts: string[]): string {
  const k = new RecordedKeys();
  return parts.map((p) => k.text(p)).join('');
}

describe('RecordedKeys', () => {
  it('hides a key body keeping its layout, wherever the text is cut in two', () => {
    const text = `$ cat id_ed25519\r\n${KEY}$ ls\r\n`;
    for (let cut = 0; cut <= text.length; cut++) {
      expect(fed([text.slice(0, cut), text.slice(cut)]), `cut at ${cut}`).toBe(`$ cat id_ed25519\r\n${SHOWN}$ ls\r\n`);
    }
  });

  it('hides an RSA key with headers and a PGP key block; a BEGIN line that is not a private key\'s is not one', () => {
    const rsa = '-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,3F1A\n\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\nok';
    expect(fed([rsa])).toBe('-----BEGIN RSA PRIVATE KEY-----\n****-****: *,*********\n***-****: ***-***-***,****\n\n****************\n-----END RSA PRIVATE KEY-----\nok');
    const pgp = '-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF9x\n=Ab12\n-----END PGP PRIVATE KEY BLOCK-----\n';
    expect(fed([pgp])).toBe('-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n********\n*****\n-----END PGP PRIVATE KEY BLOCK-----\n');
    const cert = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmg\n-----END CERTIFICATE-----\n';
    expect(fed([cert])).toBe(cert);
    expect(fed(['grep -r "PRIVATE KEY" /etc\r\n', 'nothing\r\n'])).toBe('grep -r "PRIVATE KEY" /etc\r\nnothing\r\n');
  });

  it('stops hiding after KEY_MAX characters of a key with no END line', () => {
    const out = fed([`-----BEGIN PRIVATE KEY-----\n${'A'.repeat(KEY_MAX)}\n$ echo visible\n`]);
    expect(out).toBe(`-----BEGIN PRIVATE KEY-----\n${'*'.repeat(KEY_MAX)}\n$ echo visible\n`);
  });

  it('records text without a key as it is, however it is cut (property)', () => {
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom('a', 'Z', '0', '-', ' ', '\n', '\r', 'PRIVATE KEY', '-----BEGIN ', 'END') }), fc.array(fc.nat()), (text, cuts) => {
      fc.pre(!/-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/.test(text));
      const at = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
      const parts = [...at, text.length].map((end, i) => text.slice(i === 0 ? 0 : at[i - 1], end));
      expect(fed(parts)).toBe(text);
    }));
  });

  it('hides a key a terminal prints byte by byte in the recording RecordedTokens makes', () => {
    const chunks: string[] = [];
    const r = new RecordedTokens((b) => chunks.push(b.toString('utf8')), () => undefined);
    const bytes = Buffer.from(`$ cat k\r\n${KEY}$ `);
    for (let i = 0; i < bytes.length; i++) r.write(bytes.subarray(i, i + 1));
    r.flush();
    expect(chunks.join('')).toBe(`$ cat k\r\n${SHOWN}$ `);
  });
});
