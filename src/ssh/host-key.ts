/**
 * Upstream host-key pinning (issue 7 item 1). The pin is either an OpenSSH SHA256 fingerprint
 * (`SHA256:` + unpadded base64 of SHA-256 over the key blob, as `ssh-keygen -l` prints it) or a
 * known_hosts-style line (`[host] ssh-ed25519 AAAA…`). There is no trust on first use: a connection whose
 * key does not match is refused before authentication.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** The OpenSSH SHA256 fingerprint of a public key blob (RFC 4253 §6.6 encoding). */
export function sshFingerprint(keyBlob: Uint8Array): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** The key blob a pin names, or the fingerprint it requires. */
function pinnedFingerprint(pin: string): string {
  const trimmed = pin.trim();
  if (trimmed.startsWith('SHA256:')) return trimmed.replace(/=+$/, '');
  const fields = trimmed.split(/\s+/);
  // known_hosts: optional host field, then key type, then base64 blob.
  const typeAt = fields.findIndex((f) => /^(ssh-|ecdsa-|sk-)/.test(f));
  const blob = typeAt >= 0 ? fields[typeAt + 1] : undefined;
  if (!blob) throw new TypeError('host key pin is neither SHA256:… nor a known_hosts line');
  return sshFingerprint(Buffer.from(blob, 'base64'));
}

/** True when the server's key blob matches the pin; compared in constant time. */
export function hostKeyMatches(pin: string, keyBlob: Uint8Array): boolean {
  const want = Buffer.from(pinnedFingerprint(pin));
  const got = Buffer.from(sshFingerprint(keyBlob));
  return want.length === got.length && timingSafeEqual(want, got);
}
