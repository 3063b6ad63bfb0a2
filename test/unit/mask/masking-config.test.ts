import { describe, expect, it } from 'vitest';
import { maskingSection } from '../../../src/config/sections/masking.js';
import { isSecretRef } from '../../../src/config/secret-ref.js';

describe('masking config section', () => {
  it('defaults to last4 on the major networks with no rules', () => {
    expect(maskingSection.parse(undefined)).toEqual({ format: 'last4', networks: 'major', sad_columns: [], rules: [] });
  });

  it('parses rules and an hmac key reference', () => {
    const m = maskingSection.parse({
      format: 'hmac', hmac_key: 'env:PCIGATE_MASK_KEY',
      rules: [{ name: 'card', columns: ['*card_number*', 'public.cards.pan'], format: 'first6last4' }, { columns: ['notes'] }],
    });
    expect(isSecretRef(m.hmac_key)).toBe(true);
    expect(m.rules[1]).toEqual({ columns: ['notes'], format: 'full' });
  });

  it('refuses hmac without a key, a literal key, and unknown formats', () => {
    expect(maskingSection.safeParse({ format: 'hmac' }).success).toBe(false);
    expect(maskingSection.safeParse({ rules: [{ columns: ['pan'], format: 'hmac' }] }).success).toBe(false);
    const literal = maskingSection.safeParse({ format: 'hmac', hmac_key: 'hunter2-secret' });
    expect(literal.success).toBe(false);
    expect(JSON.stringify(literal.error?.issues)).not.toContain('hunter2');
    expect(maskingSection.safeParse({ format: 'stars' }).success).toBe(false);
    expect(maskingSection.safeParse({ rules: [{ columns: [] }] }).success).toBe(false);
  });
});
