/**
 * HTTP credentials known by their form (redact-content.ts HTTP_CREDENTIAL): an Authorization header's credential and a
 * Bearer or Basic credential standing alone are redacted in a value's text (valueSecretsRedacted: bind parameters,
 * sampled rows) and in a statement's text (redactStatementSecrets, with the spans parseErrorRedacted uses); words that only
 * follow a scheme's name are kept.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../../src/policy/pg-parser.js';
import { redactStatementSecrets, statementSecretSpans, valueSecretsRedacted } from '../../../src/policy/redact-statement-secrets.js';

const BASIC = Buffer.from('svc:hunter2-pw').toString('base64');

describe('valueSecretsRedacted and HTTP credentials', () => {
  it.each([
    ['Authorization: Bearer tok-Ab3xY9', 'Authorization: Bearer [redacted]'],
    [`authorization: basic ${BASIC}`, 'authorization: basic [redacted]'],
    ['Proxy-Authorization: Digest abc123', 'Proxy-Authorization: Digest [redacted]'],
    ['{"Authorization":"Token abc123def"}', '{"Authorization":"Token [redacted]"}'],
    ['authorization=Bearer tok-Ab3xY9&next=1', 'authorization=Bearer [redacted]&next=1'],
    // (no scheme it knows: the first word is the credential)
    ['Authorization: s3cr3tvalue more', 'Authorization: [redacted] more'],
    ['Bearer tok-Ab3xY9', 'Bearer [redacted]'],
    ['Bearer abcdefghijklmnopqrst', 'Bearer [redacted]'],
    [`Basic ${BASIC}`, 'Basic [redacted]'],
    ['x Bearer tok-Ab3xY9 y', 'x Bearer [redacted] y'],
  ])('redacts %j', (text, want) => {
    expect(valueSecretsRedacted(text)).toBe(want);
  });

  it.each(['bearer bonds are old', 'the Bearer of bad news', 'Basic plan', 'Basic model-X1000 kit', 'Basic Authentication is weak', 'Bearer short1', 'no credential here',
    // (a mark already there, as another reader left it: `[redacted]]` was made of it)
    'Authorization: [redacted]', 'Authorization: Bearer [redacted]'])(
    'keeps %j',
    (text) => {
      expect(valueSecretsRedacted(text)).toBe(text);
    },
  );
});

describe('a value another reader already redacted', () => {
  beforeAll(loadParser);

  it.each(['{"password":[redacted]}', 'pass:[redacted] next', 'X-Api-Key: [redacted]', 'Authorization: [redacted]'])('stays as it is: %j', (text) => {
    expect(valueSecretsRedacted(text)).toBe(text);
  });

  it('is only the mark whole: a value that starts with it is still one', () => {
    expect(redactStatementSecrets("SELECT 'password: ***x'", '***')).toBe("SELECT 'password: ***'");
  });
});

describe('redactStatementSecrets and HTTP credentials', () => {
  // (as wherever statements are recorded: the broker loads the parser)
  beforeAll(loadParser);

  it("redacts pgsql-http's header, a header in a literal of any quoting, and says where", () => {
    const sql = "SELECT content FROM http(('GET', 'https://x', ARRAY[http_header('Authorization', 'Bearer tok-Ab3xY9')], NULL, NULL)::http_request)";
    expect(redactStatementSecrets(sql)).toBe(sql.replace('tok-Ab3xY9', '[redacted]'));
    const at = sql.indexOf('tok-Ab3xY9');
    expect(statementSecretSpans(sql)).toEqual([[at, at + 'tok-Ab3xY9'.length]]);
    expect(redactStatementSecrets(`SELECT $$Authorization: Basic ${BASIC}$$`)).toBe('SELECT $$Authorization: Basic [redacted]$$');
    expect(redactStatementSecrets(`INSERT INTO hooks VALUES ('{"Authorization": "Bearer tok-Ab3xY9"}')`)).toBe(`INSERT INTO hooks VALUES ('{"Authorization": "Bearer [redacted]"}')`);
    // (a COPY's program is a command line, read as one: the command-line reader hides the scheme too, as for SSH)
    expect(redactStatementSecrets(`COPY t FROM PROGRAM 'curl -H "Authorization: Bearer tok-Ab3xY9" https://x'`)).toBe(`COPY t FROM PROGRAM 'curl -H "Authorization: [redacted]" https://x'`);
  });

  it('redacts an X-Api-Key header by its name, and keeps a statement that only names a scheme', () => {
    expect(redactStatementSecrets("SELECT 'X-Api-Key: key-987zyx'")).toBe("SELECT 'X-Api-Key: [redacted]'");
    const plain = "SELECT 'Basic plan', 'bearer bonds', authorization_code FROM payments";
    expect(redactStatementSecrets(plain)).toBe(plain);
  });
});
