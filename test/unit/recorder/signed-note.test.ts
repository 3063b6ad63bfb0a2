import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateEd25519 } from '../../../recorder/ed25519.js';
import {
  epochKeyName, formatCheckpoint, noteKeyId, parseCheckpoint, parseNote, signNote, verifyNote,
} from '../../../recorder/signed-note.js';

describe('signed note (c2sp.org/signed-note, Ed25519)', () => {
  it('verifies the Go sumdb/note example (PeterNeumann)', () => {
    // golang.org/x/mod/sumdb/note documentation: verifier key PeterNeumann+c74f20a3+ARpc…, i.e. key ID
    // c74f20a3 and, after the 0x01 algorithm byte, the raw Ed25519 public key.
    const vkey = Buffer.from('ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW', 'base64');
    expect(vkey[0]).toBe(1);
    const pub = vkey.subarray(1);
    expect(noteKeyId('PeterNeumann', pub).toString('hex')).toBe('c74f20a3');
    const note = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n"
      + '\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
    expect(verifyNote(note, 'PeterNeumann', pub)).toBe(true);
    expect(verifyNote(note.replace('cryptography', 'cryptographY'), 'PeterNeumann', pub)).toBe(false);
  });

  it('computes the key ID as SHA-256(name ‖ 0x0A ‖ 0x01 ‖ pub)[0:4]', () => {
    const k = generateEd25519();
    const want = createHash('sha256').update(Buffer.concat([Buffer.from('log.example#e0'), Buffer.from([0x0a, 0x01]), k.publicRaw])).digest().subarray(0, 4);
    expect(noteKeyId('log.example#e0', k.publicRaw).equals(want)).toBe(true);
  });

  it('round-trips sign → parse → verify, and refuses tampering and the wrong key', () => {
    const k = generateEd25519();
    const other = generateEd25519();
    const text = 'hello\nworld\n';
    const note = signNote(text, 'signer', k.privateKey);
    expect(note.startsWith(`${text}\n\u2014 signer `)).toBe(true);
    const parsed = parseNote(note);
    expect(parsed.text).toBe(text);
    expect(parsed.signatures).toHaveLength(1);
    expect(parsed.signatures[0]!.keyId.equals(noteKeyId('signer', k.publicRaw))).toBe(true);
    expect(parsed.signatures[0]!.sig).toHaveLength(64);
    expect(verifyNote(note, 'signer', k.publicRaw)).toBe(true);
    expect(verifyNote(parsed, 'signer', k.publicRaw)).toBe(true);
    // wrong key, wrong name
    expect(verifyNote(note, 'signer', other.publicRaw)).toBe(false);
    expect(verifyNote(note, 'someone', k.publicRaw)).toBe(false);
    // every single flipped byte of the text or the signature is caught (or makes the note malformed)
    const bytes = Buffer.from(note, 'utf8');
    for (let i = 0; i < bytes.length; i++) {
      const b = Buffer.from(bytes);
      b[i]! ^= 0x01;
      expect(verifyNote(b.toString('utf8'), 'signer', k.publicRaw), `byte ${i}`).toBe(false);
    }
  });

  it('rejects malformed notes', () => {
    const k = generateEd25519();
    expect(() => parseNote('no signatures\n')).toThrow();
    expect(() => parseNote('text\n\n- signer AAAA\n')).toThrow();
    expect(() => signNote('no newline', 'n', k.privateKey)).toThrow();
    expect(() => signNote('x\n', 'bad name', k.privateKey)).toThrow();
    expect(() => signNote('x\n', 'bad+name', k.privateKey)).toThrow();
    expect(() => signNote('ctl\u0001\n', 'n', k.privateKey)).toThrow();
    expect(verifyNote('garbage', 'n', k.publicRaw)).toBe(false);
    // non-canonical base64 (non-zero padding bits decode to the same bytes in Node) is refused
    const note = signNote('x\n', 'n', k.privateKey);
    const b64 = note.trimEnd().split(' ').at(-1)!;
    const last = b64.at(-2)!; // 68 bytes → 92 chars ending in one '=': the char before it carries 2 padding bits
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const twin = alphabet[alphabet.indexOf(last) ^ 1]!;
    const mangled = note.replace(b64, `${b64.slice(0, -2)}${twin}=`);
    expect(Buffer.from(`${b64.slice(0, -2)}${twin}=`, 'base64').equals(Buffer.from(b64, 'base64'))).toBe(true);
    expect(() => parseNote(mangled)).toThrow(/canonical/);
    expect(verifyNote(mangled, 'n', k.publicRaw)).toBe(false);
  });
});

describe('checkpoint body (c2sp.org/tlog-checkpoint)', () => {
  it('formats and parses origin, size, root and the time/epoch extensions', () => {
    const root = createHash('sha256').update('r').digest();
    const text = formatCheckpoint({ origin: 'pcigate.example/log', size: 42, root, time: '2026-11-22T12:00:00.000000Z', epoch: 3 });
    expect(text).toBe(`pcigate.example/log\n42\n${root.toString('base64')}\ntime 2026-11-22T12:00:00.000000Z\nepoch 3\n`);
    const c = parseCheckpoint(text);
    expect(c).toEqual({ origin: 'pcigate.example/log', size: 42, root, time: '2026-11-22T12:00:00.000000Z', epoch: 3 });
    const k = generateEd25519();
    const name = epochKeyName('pcigate.example/log', 3);
    expect(name).toBe('pcigate.example/log#e3');
    const note = signNote(text, name, k.privateKey);
    expect(verifyNote(note, name, k.publicRaw)).toBe(true);
    expect(parseCheckpoint(parseNote(note).text).size).toBe(42);
  });

  it('keeps unknown extensions and rejects bad sizes and roots', () => {
    const root = Buffer.alloc(32, 7);
    const c = parseCheckpoint(`o\n0\n${root.toString('base64')}\nfoo bar\n`);
    expect(c.extensions).toEqual(['foo bar']);
    expect(() => parseCheckpoint(`o\n01\n${root.toString('base64')}\n`)).toThrow();
    expect(() => parseCheckpoint(`o\n-1\n${root.toString('base64')}\n`)).toThrow();
    expect(() => parseCheckpoint('o\n1\nAAAA\n')).toThrow();
    expect(() => formatCheckpoint({ origin: 'o', size: 1, root: Buffer.alloc(31) })).toThrow();
  });
});
