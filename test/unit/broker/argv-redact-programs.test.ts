/**
 * Programs that take a password on the command line by its place or in a form no word names: htpasswd's batch
 * mode, openssl passwd and OpenSSL's pass phrase arguments, `aws configure set`, and chpasswd's `user:password`
 * lines piped from an earlier echo or printf. Each was recorded in clear; what is not a secret stays shown.
 */
import { describe, expect, it } from 'vitest';
import { redactArgv, redactCommandLine } from '../../../src/broker/argv-redact.js';

const kept = (line: string) => expect(redactCommandLine(line)).toBe(line);

describe('htpasswd -b: the password is the last positional word', () => {
  it('redacts it with b among the one-letter flags (-b, -nb, -bB, -cb, -Bbc), in argv and on a command line', () => {
    const cases: Array<[string, string]> = [
      ['htpasswd -b /etc/nginx/.htpasswd ann hunter2', 'htpasswd -b /etc/nginx/.htpasswd ann [redacted]'],
      ['htpasswd -nb ann hunter2', 'htpasswd -nb ann [redacted]'],
      ['htpasswd -bB /etc/htpasswd ann hunter2', 'htpasswd -bB /etc/htpasswd ann [redacted]'],
      ['htpasswd -cb /etc/htpasswd ann hunter2', 'htpasswd -cb /etc/htpasswd ann [redacted]'],
      ['htpasswd -Bbc -C 12 /etc/htpasswd ann hunter2', 'htpasswd -Bbc -C 12 /etc/htpasswd ann [redacted]'],
      ['sudo htpasswd -nbB ann "my pass" > /etc/htpasswd', 'sudo htpasswd -nbB ann "[redacted]" > /etc/htpasswd'],
    ];
    for (const [line, want] of cases) expect(redactCommandLine(line)).toBe(want);
    expect(redactArgv(['/usr/bin/htpasswd', '-b', 'f', 'ann', 'hunter2'])).toEqual(['/usr/bin/htpasswd', '-b', 'f', 'ann', '[redacted]']);
  });

  it('leaves its words alone without -b (it prompts) or without a password (-D deletes)', () => {
    kept('htpasswd -c /etc/htpasswd ann');
    kept('htpasswd -nB ann');
    kept('htpasswd -bD /etc/htpasswd ann');
  });
});

describe('openssl: passwd\'s password, pass phrase arguments and keys', () => {
  it('redacts openssl passwd\'s positional password, not -salt\'s value nor what -stdin or -in reads', () => {
    expect(redactCommandLine('openssl passwd -6 -salt xyz hunter2')).toBe('openssl passwd -6 -salt xyz [redacted]');
    expect(redactCommandLine('openssl passwd -1 hunter2 > hash.txt')).toBe('openssl passwd -1 [redacted] > hash.txt');
    expect(redactArgv(['openssl', 'passwd', '-apr1', 'hunter2'])).toEqual(['openssl', 'passwd', '-apr1', '[redacted]']);
    kept('openssl passwd -6 -stdin < pw.txt');
    kept('openssl passwd -6 -salt xyz -in pw.txt');
  });

  it('redacts pass:X after -pass, -passin, -passout and -password; env:, file:, fd: and stdin stay shown', () => {
    expect(redactCommandLine('openssl rsa -in k.pem -passin pass:hunter2 -passout pass:s3cret -out k2.pem'))
      .toBe('openssl rsa -in k.pem -passin pass:[redacted] -passout pass:[redacted] -out k2.pem');
    expect(redactCommandLine('openssl pkcs12 -export -in c.pem -password pass:hunter2 -out c.p12'))
      .toBe('openssl pkcs12 -export -in c.pem -password pass:[redacted] -out c.p12');
    kept('openssl pkcs12 -export -in c.pem -passin env:KEY_PW -passout file:/run/secrets/p12 -out c.p12');
    kept('openssl enc -aes-256-cbc -pass fd:3 -in a -out b');
    kept('openssl req -new -key k.pem -passin stdin -out r.csr');
  });

  it('redacts openssl enc\'s -k value and keys (-K, -hmac, -macopt hexkey:), not -kfile\'s path nor -iv', () => {
    expect(redactCommandLine('openssl enc -aes-256-cbc -k hunter2 -in a -out b')).toBe('openssl enc -aes-256-cbc -k [redacted] -in a -out b');
    expect(redactCommandLine('openssl aes-128-cbc -K 00112233 -iv 0a0b -in a')).toBe('openssl aes-128-cbc -K [redacted] -iv 0a0b -in a');
    expect(redactCommandLine('openssl dgst -sha256 -hmac k3y a')).toBe('openssl dgst -sha256 -hmac [redacted] a');
    expect(redactCommandLine('openssl mac -digest SHA256 -macopt hexkey:0011aa HMAC')).toBe('openssl mac -digest SHA256 -macopt hexkey:[redacted] HMAC');
    kept('openssl enc -d -aes-256-cbc -kfile /run/key -in b -out a');
    kept('openssl mac -digest SHA256 -macopt digest:SHA256 HMAC');
  });
});

describe('aws configure set NAME VALUE', () => {
  it('redacts the value of a setting named for a secret', () => {
    const cases: Array<[string, string]> = [
      ['aws configure set aws_secret_access_key wJalrXUtnFEMI', 'aws configure set aws_secret_access_key [redacted]'],
      ['aws configure set aws_session_token FwoGZXIvYXdz --profile ci', 'aws configure set aws_session_token [redacted] --profile ci'],
      ['aws configure set default.aws_secret_access_key wJalrXUtnFEMI', 'aws configure set default.aws_secret_access_key [redacted]'],
      ['aws configure set --profile ci aws_secret_access_key wJalrXUtnFEMI', 'aws configure set --profile ci aws_secret_access_key [redacted]'],
    ];
    for (const [line, want] of cases) expect(redactCommandLine(line)).toBe(want);
    expect(redactArgv(['aws', 'configure', 'set', 'aws_session_token', 'FwoGZX'])).toEqual(['aws', 'configure', 'set', 'aws_session_token', '[redacted]']);
  });

  it('leaves other settings\' values shown (region, the access key id, where a token or credential comes from)', () => {
    kept('aws configure set region eu-west-1');
    kept('aws configure set aws_access_key_id AKIAIOSFODNN7EXAMPLE --profile ci');
    kept('aws configure set profile.ci.web_identity_token_file /var/run/token');
    kept('aws configure set profile.ci.credential_source Ec2InstanceMetadata');
    kept('aws --profile token configure set region eu-west-1');
  });
});

describe('chpasswd: user:password lines written by an earlier command of its pipeline', () => {
  it('redacts what follows the colon in what echo, printf or a here-string gives chpasswd', () => {
    const cases: Array<[string, string]> = [
      ["echo 'ann:hunter2' | chpasswd", "echo 'ann:[redacted]' | chpasswd"],
      ["printf 'ann:%s\\n' hunter2 | sudo chpasswd", "printf 'ann:%s\\n' [redacted] | sudo chpasswd"],
      ['echo -e "ann:pw1\\nbob:pw2" | chpasswd -c SHA512', 'echo -e "ann:[redacted]\\nbob:[redacted]" | chpasswd -c SHA512'],
      ["printf '%s:%s\\n' ann pw1 bob pw2 | chpasswd", "printf '%s:%s\\n' ann [redacted] bob [redacted] | chpasswd"],
      ['{ echo ann:pw1; echo bob:pw2; } 2>/dev/null | chpasswd', '{ echo ann:[redacted]; echo bob:[redacted]; } 2>/dev/null | chpasswd'],
      ["chpasswd <<< 'ann:hunter2'", "chpasswd <<< 'ann:[redacted]'"],
      ['sh -c "echo ann:hunter2 | chgpasswd"', 'sh -c "echo ann:[redacted] | chgpasswd"'],
    ];
    for (const [line, want] of cases) expect(redactCommandLine(line)).toBe(want);
  });

  it('leaves an echo that chpasswd does not read alone', () => {
    kept("echo 'note: starting' | tee -a log; chpasswd < users.txt");
    kept('echo ann:x > users.txt; echo done | chpasswd -e');
    kept("echo 'time: 12:00' | logger");
  });
});
