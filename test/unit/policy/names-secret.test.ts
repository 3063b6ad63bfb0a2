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
import { namesSecret, paramsMayBeSecret } from '../../../src/policy/redact-by-tokens.js';
import { renderParams, statementFacts, statementMayHoldSecret } from '../../../src/broker/sql-record.js';

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

describe('a check, result or flag named after a secret (redact-by-tokens.ts namesSecret)', () => {
  beforeAll(loadParser);

  it.each(['cvc_check', 'cvv_result', 'cvv2_results', 'pin_verified', 'password_set', 'token_status', 'cvv_match', 'pin_provided', 'secret_enabled'])('holds none: %s', (name) => {
    expect(NAMES_SECRET.test(name)).toBe(true);
    expect(namesSecret(name)).toBe(false);
  });

  it.each(['cvv', 'card_cvv', 'pin_block', 'password', 'password_hash', 'api_token', 'cvc2'])('holds one: %s', (name) => {
    expect(namesSecret(name)).toBe(true);
  });

  it("keeps a statement's literals when it names only such a column, as it does not when it names the secret", () => {
    for (const sql of ["SELECT id, cvc_check FROM charges WHERE id = 'ch_1'", "UPDATE charges SET cvv_result = 'M' WHERE id = 5", "SELECT id FROM auths WHERE pin_verified AND merchant = 'acme'"]) {
      expect(redactStatementSecrets(sql)).toBe(sql);
    }
    expect(redactStatementSecrets("SELECT cvv FROM cards WHERE id = 'c1'")).toBe("SELECT cvv FROM cards WHERE id = '[redacted]'");
  });
});

describe("a statement's bind parameters beside such a name (paramsMayBeSecret)", () => {
  beforeAll(loadParser);

  it('are kept where only a check or a flag is named, as its literals are', () => {
    for (const sql of ['UPDATE users SET password_set = $1 WHERE id = $2', 'SELECT id FROM charges WHERE cvc_check = $1 AND "token_status" = $2', 'SELECT count(*) FROM auths WHERE pin_verified = $1']) {
      expect(paramsMayBeSecret(sql), sql).toBe(false);
    }
  });

  it('are withheld where a secret is named beside it, in a name, a literal or a comment, or the text cannot be read', () => {
    for (const sql of [
      'UPDATE users SET password_set = true, password = $1 WHERE id = $2',
      'UPDATE users SET "Password" = $1',
      'SELECT u.password_hash FROM users u WHERE id = $1',
      "INSERT INTO settings (key, value) VALUES ('smtp_password', $1)",
      "SELECT set_config('app.api_key', $1, false)",
      'UPDATE t SET v = $1 -- the new password',
      "SELECT 'unclosed password_set = $1",
    ]) {
      expect(paramsMayBeSecret(sql), sql).toBe(true);
    }
  });

  it("are read again, as a statement's recorded text is, for a text asked before a configuration's SAD names are added", () => {
    // (sql-record.ts keeps both answers per text, for the names they were read with)
    const sql = 'UPDATE auths SET pin_status = $1, vault_code9 = $2 WHERE id = $3';
    const literal = "UPDATE auths SET vault_code9 = 'V-1' WHERE id = 3";
    expect(statementMayHoldSecret(sql)).toBe(false);
    expect(statementFacts(literal).sql).toBe(literal);
    nameSadColumns(['vault_code9']);
    expect(statementMayHoldSecret(sql)).toBe(true);
    expect(statementFacts(literal).sql).toBe("UPDATE auths SET vault_code9 = '[redacted]' WHERE id = '[redacted]'");
  });

  it('sends them to the record as values', () => {
    const params = [{ format: 'text' as const, value: 'true' }, { format: 'text' as const, value: '42' }];
    expect(renderParams(params, 'UPDATE users SET password_set = $1 WHERE id = $2')).toEqual(['true', '42']);
    expect(renderParams(params, 'UPDATE users SET password = $1 WHERE id = $2')).toEqual(['[redacted]', '[redacted]']);
  });
});
