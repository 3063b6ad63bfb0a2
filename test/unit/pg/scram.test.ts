/** SCRAM-SHA-256 both sides against RFC 7677 §3's test vector, against each other, and md5 hashing. */
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  formatScramSecret, md5PasswordHash, parseScramSecret, saslprep, scramClientFinal, scramClientStart, scramClientVerify,
  scramKeys, scramSecret, scramServerFinal, scramServerFirst,
} from '../../../src/pg/protocol/scram.js';

// RFC 7677 §3: user "user", password "pencil".
const V = {
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

describe('SCRAM-SHA-256 client (RFC 7677 test vector)', () => {
  it('produces the vector client-first and client-final messages and accepts the server signature', () => {
    const start = scramClientStart('pencil', { nonce: 'rOprNGfwEbeRWgbNEkqO', user: 'user' });
    expect(start.message).toBe(V.clientFirst);
    const fin = scramClientFinal(start.state, V.serverFirst);
    expect(fin.message).toBe(V.clientFinal);
    expect(() => scramClientVerify(fin.state, V.serverFinal)).not.toThrow();
  });

  it('refuses a wrong server signature, a server error, a nonce that does not extend ours and bad iterations', () => {
    const start = scramClientStart('pencil', { nonce: 'rOprNGfwEbeRWgbNEkqO', user: 'user' });
    const fin = scramClientFinal(start.state, V.serverFirst);
    expect(() => scramClientVerify(fin.state, 'v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')).toThrow(/server signature does not match/);
    expect(() => scramClientVerify(fin.state, 'e=invalid-proof')).toThrow(/invalid-proof/);
    expect(() => scramClientFinal(start.state, 'r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096')).toThrow(/nonce/);
    expect(() => scramClientFinal(start.state, 'r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096')).toThrow(/nonce/);
    expect(() => scramClientFinal(start.state, 'r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0')).toThrow(/iteration/);
    expect(() => scramClientFinal(start.state, 'r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999')).toThrow(/iteration/);
    expect(() => scramClientFinal(start.state, 'garbage')).toThrow(/malformed/);
  });

  it('uses an empty SCRAM user name by default, like libpq', () => {
    expect(scramClientStart('pw', { nonce: 'abc' }).message).toBe('n,,n=,r=abc');
    expect(scramClientStart('pw').message).toMatch(/^n,,n=,r=[A-Za-z0-9+/]{24}$/);
  });
});

describe('SCRAM-SHA-256 server (RFC 7677 test vector)', () => {
  const secret = scramSecret('pencil', { salt: Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'), iterations: 4096 });

  it('produces the vector server-first and server-final messages', () => {
    const first = scramServerFirst(secret, V.clientFirst, { nonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0' });
    expect(first.message).toBe(V.serverFirst);
    expect(scramServerFinal(first.state, V.clientFinal)).toEqual({ ok: true, message: V.serverFinal });
  });

  it('refuses a wrong proof without throwing, and malformed or channel-bound messages with a ProtocolError', () => {
    const first = scramServerFirst(secret, V.clientFirst, { nonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0' });
    const wrong = V.clientFinal.replace('p=dHzb', 'p=AAAA');
    expect(scramServerFinal(first.state, wrong)).toEqual({ ok: false, message: 'e=invalid-proof' });
    expect(scramServerFinal(first.state, V.clientFinal.replace(/p=.*$/, 'p=AAAA'))).toEqual({ ok: false, message: 'e=invalid-proof' });
    expect(() => scramServerFinal(first.state, V.clientFinal.replace('r=rOpr', 'r=XOpr'))).toThrow(/nonce does not match/);
    expect(() => scramServerFinal(first.state, V.clientFinal.replace('c=biws', 'c=eSws'))).toThrow(/channel binding/);
    expect(() => scramServerFinal(first.state, 'c=biws')).toThrow(/no proof/);
    expect(() => scramServerFirst(secret, 'p=tls-server-end-point,,n=,r=abc')).toThrow(/channel binding/);
    expect(() => scramServerFirst(secret, 'n,a=admin,n=,r=abc')).toThrow(/authorization identity/);
    expect(() => scramServerFirst(secret, 'hello')).toThrow(/malformed/);
  });

  it('client and server agree for random nonces, salts and a non-ASCII password; a wrong password fails', () => {
    const pw = 'päss wörd ①';
    const s = scramSecret(pw);
    const c = scramClientStart(pw);
    const sf = scramServerFirst(s, c.message);
    const cf = scramClientFinal(c.state, sf.message);
    const fin = scramServerFinal(sf.state, cf.message);
    expect(fin.ok).toBe(true);
    expect(() => scramClientVerify(cf.state, fin.message)).not.toThrow();

    const bad = scramClientStart('not it');
    const sf2 = scramServerFirst(s, bad.message);
    expect(scramServerFinal(sf2.state, scramClientFinal(bad.state, sf2.message).message).ok).toBe(false);
  });

  it('formats and parses PostgreSQL\'s stored form', () => {
    const text = formatScramSecret(secret);
    expect(text).toMatch(/^SCRAM-SHA-256\$4096:W22ZaJ0SNY7soEsUEjb6gQ==\$[^:]+:[^:]+$/);
    expect(parseScramSecret(text)).toEqual(secret);
    expect(() => parseScramSecret('md5abc')).toThrow(/not a SCRAM/);
  });
});

describe('saslprep and md5', () => {
  it('leaves ASCII alone and maps/normalises the rest as RFC 4013 says', () => {
    expect(saslprep('pencil')).toBe('pencil');
    expect(saslprep('I\u00adX')).toBe('IX');
    expect(saslprep('a\u00a0b')).toBe('a b');
    expect(saslprep('\u2168')).toBe('IX');
    expect(saslprep('\u00aa')).toBe('a');
    expect(saslprep('x\u0007y\u00e9')).toBe('x\u0007y\u00e9'); // prohibited: used raw, as PostgreSQL does
  });

  it('hashes md5 passwords as PostgreSQL expects', () => {
    const salt = Buffer.from([1, 2, 3, 4]);
    const inner = createHash('md5').update('secretbob').digest('hex');
    const expected = `md5${createHash('md5').update(Buffer.concat([Buffer.from(inner), salt])).digest('hex')}`;
    expect(md5PasswordHash('bob', 'secret', salt)).toBe(expected);
    expect(md5PasswordHash('bob', 'secret', salt)).toMatch(/^md5[0-9a-f]{32}$/);
  });
});

describe('scramKeys: keys derived once per password, salt and iteration count', () => {
  const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
  const pbkdf2 = (password: string, s: Buffer, i: number) => {
    const salted = pbkdf2Sync(password, s, i, 32, 'sha256');
    return createHmac('sha256', salted).update('Client Key').digest('base64');
  };

  it('gives each triple its own keys, however often asked and in whatever order', () => {
    const cases: Array<[string, Buffer, number]> = [
      ['pencil', salt, 4096], ['pencil', salt, 4097], ['pencil2', salt, 4096], ['pencil', Buffer.from('other-salt'), 4096],
      // The same bytes split otherwise between salt and password are another triple.
      ['b', Buffer.from('a'), 4096], ['', Buffer.from('ab'), 4096],
    ];
    for (let round = 0; round < 2; round++) {
      for (const [password, s, i] of round === 0 ? cases : [...cases].reverse()) {
        expect(scramKeys(password, s, i).clientKey.toString('base64'), `${password}/${s.toString()}/${i}`).toBe(pbkdf2(password, s, i));
      }
    }
  });

  it('derives them once: asked again, the same keys come back', () => {
    const first = scramKeys('derive-once', salt, 4096);
    expect(scramKeys('derive-once', salt, 4096)).toBe(first);
    expect(scramKeys('derive-once', salt, 4097)).not.toBe(first);
  });

  it('keeps the RFC 7677 exchange valid when the keys come from the cache', () => {
    for (let n = 0; n < 2; n++) {
      const start = scramClientStart('pencil', { nonce: 'rOprNGfwEbeRWgbNEkqO', user: 'user' });
      expect(scramClientFinal(start.state, V.serverFirst).message).toBe(V.clientFinal);
    }
  });
});
