/**
 * Ed25519 (RFC 8032) through node:crypto, with the raw 32-byte public key form that signed notes, root.pub
 * and epoch certificates carry.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

export interface Ed25519KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** The 32-byte raw public key (RFC 8032 §5.1.5 encoding). */
  publicRaw: Buffer;
}

/** A fresh Ed25519 key pair. */
export function generateEd25519(): Ed25519KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, publicRaw: rawPublicKey(publicKey) };
}

/** The raw 32 bytes of an Ed25519 public (or private: its public half) key. */
export function rawPublicKey(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const jwk = pub.export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new TypeError('not an Ed25519 key');
  return Buffer.from(jwk.x, 'base64url');
}

/** A public KeyObject from the raw 32 bytes (RFC 8037 OKP JWK form, which node imports directly). */
export function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new TypeError(`Ed25519 public key must be 32 bytes, got ${raw.length}`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

/** A private KeyObject from PKCS#8 PEM, checked to be Ed25519. */
export function privateKeyFromPem(pem: string | Buffer): KeyObject {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') throw new TypeError(`expected an Ed25519 private key, got ${key.asymmetricKeyType}`);
  return key;
}

/** PKCS#8 PEM of a private key (what keys/epoch.key and --root-key-out hold). */
export function privateKeyToPem(key: KeyObject): string {
  return key.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** Ed25519 signature (64 bytes) over `data`. */
export function ed25519Sign(privateKey: KeyObject, data: Uint8Array): Buffer {
  return sign(null, data, privateKey);
}

/** True when `sig` is a valid Ed25519 signature over `data` by `publicKey` (KeyObject or raw 32 bytes). */
export function ed25519Verify(publicKey: KeyObject | Uint8Array, data: Uint8Array, sig: Uint8Array): boolean {
  const key = publicKey instanceof Uint8Array ? publicKeyFromRaw(publicKey) : publicKey;
  if (sig.length !== 64) return false;
  try {
    return verify(null, data, key, sig);
  } catch {
    return false;
  }
}
