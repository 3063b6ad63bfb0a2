/**
 * `pcigate exec -- CMD`: credentials on the command line are redacted in exec.start and the recording's title.
 * A JSON body's `"password": "…"` / `"token": "…"` (the key quoted) and an HTTP Authorization header
 * (`-H 'Authorization: Bearer …'`) went to the audit log as given.
 */
import { describe, expect, it } from 'vitest';
import { redactArgv } from '../../../src/broker/pg-exec.js';

describe('redactArgv', () => {
  it('redacts a quoted JSON key\'s value', () => {
    const out = redactArgv(['curl', '-d', '{"password":"s3cr3t-pw","user":"ann"}', '-d', "{'api_token': 'tok-123'}"]).join(' ');
    expect(out).not.toContain('s3cr3t-pw');
    expect(out).not.toContain('tok-123');
    expect(out).toContain('"user":"ann"');
  });

  it('redacts an Authorization header\'s credentials', () => {
    const out = redactArgv(['curl', '-H', 'Authorization: Bearer eyJhbGciOi.abc.def', 'https://x.example/']).join(' ');
    expect(out).not.toContain('eyJhbGciOi');
    expect(out).toContain('https://x.example/');
    const sh = redactArgv(['sh', '-c', "curl -H 'authorization: Basic dXNlcjpwYXNz' https://x.example/ && echo done"]).join(' ');
    expect(sh).not.toContain('dXNlcjpwYXNz');
    expect(sh).toContain('https://x.example/ && echo done');
  });

  it('still redacts what it did and leaves the rest', () => {
    expect(redactArgv(['psql', '--password', 'pw1', 'postgres://u:pw2@h/db', 'PGPASSWORD=pw3', 'select 1'])).toEqual(
      ['psql', '--password', '[redacted]', 'postgres://u:[redacted]@h/db', 'PGPASSWORD=[redacted]', 'select 1']);
  });
});
