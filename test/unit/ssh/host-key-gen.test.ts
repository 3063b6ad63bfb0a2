import ssh2 from 'ssh2';
import { describe, expect, it } from 'vitest';
import { generateHostKeyPem } from '../../../src/ssh/local-server.js';

describe('generateHostKeyPem', () => {
  it('every key it gives parses back (ssh2 alone fails about 1 in 256: mscdex/ssh2#1390)', () => {
    // 1500 keys: with ssh2's keygen alone at least one fails to parse with probability 1 − (255/256)^1500 > 0.99.
    const bad = Array.from({ length: 1500 }, () => generateHostKeyPem()).filter((pem) => ssh2.utils.parseKey(pem) instanceof Error);
    expect(bad).toEqual([]);
  });
});
