/**
 * NAMES_SECRET: the names that make a statement's literals, a bind parameter and a sampled row be withheld. Passwords
 * under their short names and sensitive authentication data (the result masker's SAD column names, as a name or a part
 * of one) say so; words that only hold the letters do not.
 */
import { describe, expect, it } from 'vitest';
import { SAD_COLUMN_NAMES } from '../../../src/mask/column-rules.js';
import { NAMES_SECRET } from '../../../src/policy/redact-content.js';

describe('NAMES_SECRET', () => {
  it.each(['db_password', 'pass', 'users.pass', 'passcode', 'credentials', 'X-Api-Key', 'cvv', 'CVV2', 'card_cvv', 'cvc2_enc', 'pin', 'pin_block', 'pinblock', 'track2', 'track_data', 'security_code', 'cvn', 'mag_stripe'])(
    'names a secret: %s',
    (name) => {
      expect(NAMES_SECRET.test(name)).toBe(true);
    },
  );

  it.each(['bypass', 'compass', 'passenger', 'spin', 'pinned', 'pins', 'tracking', 'cvvx', 'tokens', 'sort_key', 'secretary', 'description'])('names none: %s', (name) => {
    expect(NAMES_SECRET.test(name)).toBe(false);
  });

  it('reads every SAD column name the result masker masks in full', () => {
    for (const name of SAD_COLUMN_NAMES) expect(NAMES_SECRET.test(`x_${name}`), name).toBe(true);
  });
});
