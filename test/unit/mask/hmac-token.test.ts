/**
 * hmacToken (src/mask/mask-format.ts): a token never reads as a card number itself. With key `k` the digest of
 * 4885517804603244 starts `d599044016062098`, whose 15 digits pass Luhn in a card network's range: the masked
 * output then held a "card number" of its own (found by the stream-masker property test, seed 1114892290).
 */
import { describe, expect, it } from 'vitest';
import { hmacToken } from '../../../src/mask/mask-format.js';
import { findPans } from '../../../src/mask/pan-detector.js';
import { StreamMasker } from '../../../src/mask/stream-masker.js';

const key = Buffer.from('k');

describe('hmacToken', () => {
  it('takes another window of the digest when the first reads as a card number, and keeps every other token', () => {
    const t = hmacToken(key, '4885517804603244');
    expect(t).toMatch(/^pan:hmac:[0-9a-f]{16}$/);
    expect(findPans(Buffer.from(t), { anyLuhn: true })).toEqual([]);
    expect(t).not.toMatch(/[0-9]{13}/);
    // The same for the same number; tokens whose first window is fine are as they always were.
    expect(hmacToken(key, '4885517804603244')).toBe(t);
    expect(hmacToken(key, '4111111111111111')).toBe('pan:hmac:ea8f1cf8ad2a108e');
    expect(hmacToken(key, '5555555555554444')).toBe('pan:hmac:863cc0d87d6383b1');
  });

  it('a stream masked with hmac holds no card number', () => {
    const out: Uint8Array[] = [];
    const m = new StreamMasker((b) => out.push(Uint8Array.from(b)), { style: { format: 'hmac', hmacKey: key }, idleMs: Infinity });
    m.write(Buffer.from(' 4885517804603244 '));
    m.flush();
    const text = Buffer.concat(out).toString('latin1');
    expect(text).toMatch(/^ pan:hmac:[0-9a-f]{16} $/);
    expect(findPans(Buffer.from(text))).toEqual([]);
  });
});
