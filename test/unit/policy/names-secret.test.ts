/**
 * NAMES_SECRET: the names that make a statement's literals, a bind parameter and a sampled row be withheld. Passwords
 * under their short names and sensitive authentication data (the result masker's SAD column names, as a name or a part
 * of one) say so; words that only hold the letters do not.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { SAD_COLUMN_NAMES } from '../../../src/mask/column-rules.js';
import { loadParser } from '../../../src/policy/pg-parser.js';
import { nameSadColumns, NAMES_SECRET, paramNamesSecret } from '../../../src/policy/redact-content.js';
import { redactStatementSecrets } from '../../../src/policy/redact-statement-secrets.js';

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

describe("a configuration's sad_columns (nameSadColumns)", () => {
  beforeAll(loadParser);

  it('name a secret once configured, as the built-in names do; names only add', () => {
    const sql = "UPDATE auths SET card_check_value = 'CCV-4417' WHERE id = 5";
    expect(NAMES_SECRET.test('card_check_value')).toBe(false);
    expect(redactStatementSecrets(sql)).toBe(sql);

    nameSadColumns(['Card_Check_Value', 'c.v+(x)']);
    expect(NAMES_SECRET.test('card_check_value')).toBe(true);
    expect(NAMES_SECRET.test('old_card_check_value')).toBe(true);
    expect(NAMES_SECRET.test('card_check_values')).toBe(false);
    // (a name is matched as written, not as a pattern)
    expect(NAMES_SECRET.test('c.v+(x)')).toBe(true);
    expect(NAMES_SECRET.test('cavvvx')).toBe(false);
    expect(redactStatementSecrets(sql)).toBe("UPDATE auths SET card_check_value = '[redacted]' WHERE id = '[redacted]'");
    // (the readers of a literal's text and of parameters see the same names)
    expect(redactStatementSecrets("SELECT '{\"card_check_value\": \"CCV-4417\"}'")).not.toContain('CCV-4417');
    expect(paramNamesSecret([{ format: 'text', value: 'card_check_value' }])).toBe(true);

    // Another configuration's names add to these; the built-in and earlier ones stay.
    nameSadColumns([]);
    nameSadColumns(['pan_verifier']);
    for (const name of ['card_check_value', 'pan_verifier', 'cvv2', 'db_password']) expect(NAMES_SECRET.test(name), name).toBe(true);
  });
});
