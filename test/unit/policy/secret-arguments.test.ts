/**
 * Keys and passwords given to functions by their place in the call (redact-content.ts SECRET_ARGUMENTS): pgsodium's
 * and the aws_s3 extension's, besides pgcrypto's (redact-statement-secrets.test.ts). The statement's record keeps the
 * rest; a bind parameter of such a call is withheld (paramsMayBeSecret); a name that only resembles one is no call.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../../src/policy/pg-parser.js';
import { paramsMayBeSecret } from '../../../src/policy/redact-by-tokens.js';
import { CALLS_SECRET } from '../../../src/policy/redact-content.js';
import { redactStatementSecrets } from '../../../src/policy/redact-statement-secrets.js';

beforeAll(loadParser);

describe('SECRET_ARGUMENTS beyond pgcrypto', () => {
  it.each([
    ["SELECT pgsodium.crypto_secretbox('msg', n, 'Sup3r-Key') FROM boxes", "SELECT pgsodium.crypto_secretbox('msg', n, '[redacted]') FROM boxes"],
    ["SELECT crypto_auth_hmacsha256(body, 'hmac-Key-1') FROM hooks", "SELECT crypto_auth_hmacsha256(body, '[redacted]') FROM hooks"],
    ["SELECT pgsodium.crypto_pwhash_str('hunter2')", "SELECT pgsodium.crypto_pwhash_str('[redacted]')"],
    ["SELECT crypto_box_open(c, n, pk, '\\x0badbeef'::bytea) FROM inbox", "SELECT crypto_box_open(c, n, pk, '[redacted]'::bytea) FROM inbox"],
    // (the 9-argument form: the access key id names the credentials and stays, the secret key and token go)
    ["SELECT aws_s3.table_import_from_s3('t', '', '(format csv)', 'bkt', 'p.csv', 'us-east-1', 'AKIAEXAMPLE', 'wJalr-Secret', 'tok-1')",
      "SELECT aws_s3.table_import_from_s3('t', '', '(format csv)', 'bkt', 'p.csv', 'us-east-1', 'AKIAEXAMPLE', '[redacted]', '[redacted]')"],
  ])('%s', (sql, want) => {
    expect(redactStatementSecrets(sql)).toBe(want);
  });

  it("keeps what a call of aws credentials gives besides them, as its own or as another's argument (its name says credentials)", () => {
    expect(redactStatementSecrets("SELECT aws_commons.create_aws_credentials('AKIAEXAMPLE', 'wJalr-Secret', 'tok-9')"))
      .toBe("SELECT aws_commons.create_aws_credentials('AKIAEXAMPLE', '[redacted]', '[redacted]')");
    expect(redactStatementSecrets("SELECT aws_s3.table_import_from_s3('t', '', '(format csv)', aws_commons.create_s3_uri('b', 'p', 'r'), aws_commons.create_aws_credentials('AKIAEXAMPLE', 'wJalr-Secret', ''))"))
      .toBe("SELECT aws_s3.table_import_from_s3('t', '', '(format csv)', aws_commons.create_s3_uri('b', 'p', 'r'), aws_commons.create_aws_credentials('AKIAEXAMPLE', '[redacted]', '[redacted]'))");
    // Its keys not written in place, or a column so named: the statement's literals go.
    expect(redactStatementSecrets("SELECT aws_commons.create_aws_credentials(k.id, k.secret, '') FROM keys k WHERE k.name = 'prod'")).toContain("k.name = '[redacted]'");
    expect(redactStatementSecrets("SELECT create_aws_credentials FROM t WHERE x = 'y'")).toBe("SELECT create_aws_credentials FROM t WHERE x = '[redacted]'");
    expect(paramsMayBeSecret('SELECT aws_commons.create_aws_credentials($1, $2, $3)')).toBe(true);
  });

  it("redacts aws credentials however they are given (a key not in its place takes the statement's literals)", () => {
    for (const sql of [
      "SELECT aws_s3.table_import_from_s3('t', '', '(format csv)', aws_commons.create_s3_uri('b', 'p', 'r'), aws_commons.create_aws_credentials('AKIAEXAMPLE', 'wJalr-Secret', ''))",
      "SELECT aws_s3.table_import_from_s3('t', '', '(format csv)', s3, ROW('AKIAEXAMPLE', 'wJalr-Secret', '')::aws_commons._aws_credentials_1) FROM uris",
      "SELECT pgsodium.crypto_aead_det_encrypt(convert_to(pan, 'utf8'), 'ad', decode('0badbeef', 'hex')) FROM cards",
    ]) {
      const out = redactStatementSecrets(sql);
      expect(out).not.toMatch(/wJalr-Secret|0badbeef/);
      expect(out).toContain('[redacted]');
    }
  });

  it('withholds the parameters of such a call, and reads no other name as one', () => {
    expect(paramsMayBeSecret('SELECT pgsodium.crypto_auth($1, $2)')).toBe(true);
    expect(paramsMayBeSecret('SELECT aws_s3.table_import_from_s3($1, $2, $3, $4, $5, $6, $7, $8, $9)')).toBe(true);
    for (const sql of ['SELECT crypto_box_count($1)', 'SELECT my_crypto_secretbox($1)', 'SELECT count(*) FROM boxes']) {
      expect(CALLS_SECRET.test(sql), sql).toBe(false);
    }
    expect(redactStatementSecrets("SELECT my_crypto_secretbox('a', 'b', 'c')")).toBe("SELECT my_crypto_secretbox('a', 'b', 'c')");
  });
});
