import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sshAllow } from '../../../src/config/sections/connections.js';
import { decideSsh, globMatches, globToRegExp, globWildcardSpans } from '../../../src/policy/ssh-rules.js';
import { readAsShell } from '../../../src/broker/ssh-exec/index.js';
import { hostKeyMatches, sshFingerprint } from '../../../src/ssh/host-key.js';

const allow = sshAllow.parse({
  shell: false,
  exec: { allow: ['systemctl status *', 'uptime'], hold: ['systemctl restart *'], deny: ['systemctl * --force*'] },
  subsystems: [],
});

describe('SSH policy', () => {
  it('checks deny before hold before allow, and refuses what matches nothing', () => {
    expect(decideSsh(allow, { kind: 'exec', command: 'uptime' })).toMatchObject({ action: 'allow', rule: 'ssh.exec.allow[1]' });
    expect(decideSsh(allow, { kind: 'exec', command: 'systemctl restart app' })).toMatchObject({ action: 'hold', rule: 'ssh.exec.hold[0]' });
    expect(decideSsh(allow, { kind: 'exec', command: 'systemctl restart app --force' })).toMatchObject({ action: 'deny', rule: 'ssh.exec.deny[0]' });
    expect(decideSsh(allow, { kind: 'exec', command: 'uptime; rm -rf /' })).toMatchObject({ action: 'deny', rule: 'ssh.exec.default' });
    expect(decideSsh(allow, { kind: 'exec', command: 'UPTIME' })).toMatchObject({ action: 'deny' });
  });

  it('refuses an exec command line longer than 1 MiB unread, whatever the patterns', () => {
    // Under an allow '*' (and no deny or hold pattern, so nothing read it as the shell does) this ran.
    const everything = sshAllow.parse({ exec: { allow: ['*'] } });
    const MiB = 1 << 20;
    const long = decideSsh(everything, { kind: 'exec', command: `echo ${'a'.repeat(MiB)}` });
    expect(long).toMatchObject({ action: 'deny', rule: 'ssh.exec.unreadable' });
    expect(long.reason).toMatch(/1048581 bytes, longer than the 1048576 bytes \(1 MiB\)/);
    // Bytes, not characters: 400,000 euro signs are 1.2 MB.
    expect(decideSsh(everything, { kind: 'exec', command: `echo ${'€'.repeat(400_000)}` }).action).toBe('deny');
    expect(decideSsh(everything, { kind: 'exec', command: `echo ${'a'.repeat(MiB - 5)}` }).action).toBe('allow');
  });

  it('keeps shell, forwarding, agent, X11 and subsystems off unless granted', () => {
    expect(decideSsh(allow, { kind: 'shell' }).action).toBe('deny');
    expect(decideSsh(allow, { kind: 'port-forwarding', direction: 'local', host: 'db', port: 5432 }).action).toBe('deny');
    expect(decideSsh(allow, { kind: 'agent-forwarding' }).action).toBe('deny');
    expect(decideSsh(allow, { kind: 'x11' }).action).toBe('deny');
    expect(decideSsh(allow, { kind: 'subsystem', name: 'sftp' }).action).toBe('deny');
    const granted = sshAllow.parse({ shell: true, port_forwarding: true, subsystems: ['sftp'] });
    expect(decideSsh(granted, { kind: 'shell' }).action).toBe('allow');
    expect(decideSsh(granted, { kind: 'subsystem', name: 'sftp' }).action).toBe('allow');
  });

  it('matches globs with several wildcards on a long command they do not match', () => {
    // A backtracking RegExp of '* * * rm' took seconds on these 8 kB it does not match, and minutes on a 35 kB exec
    // request; how the time grows with the command is measured in bench/complexity, not asserted here.
    const slow = sshAllow.parse({ exec: { allow: ['echo *'], deny: ['* * * rm', 'a*b*c*d*e'] } });
    const cmd = `echo ${'x '.repeat(4_000)}`;
    expect(decideSsh(slow, { kind: 'exec', command: cmd })).toMatchObject({ action: 'allow' });
    expect(readAsShell(cmd, slow.exec, 'allow')).toBeUndefined();
    expect(decideSsh(slow, { kind: 'exec', command: `${cmd} rm` })).toMatchObject({ action: 'deny', rule: 'ssh.exec.deny[0]' });
  });

  it('matches a glob as its RegExp does', () => {
    const unit = fc.constantFrom('a', 'b', ' ', '*', '?', '.', '\n', '€', '😀');
    fc.assert(fc.property(fc.string({ unit, maxLength: 8 }), fc.string({ unit, maxLength: 12 }), (glob, text) => {
      expect(globMatches(glob, text)).toBe(globToRegExp(glob).test(text));
    }), { numRuns: 20_000 });
  });

  it("finds what each wildcard matched as a RegExp's capture groups do", () => {
    const capturing = (glob: string) => new RegExp(`^${[...glob].map((ch) => (ch === '*' ? '(.*)' : ch === '?' ? '(.)' : ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&'))).join('')}$`, 'sd');
    const same = (glob: string, text: string) => { expect(globWildcardSpans(glob, text)).toEqual(capturing(glob).exec(text)?.indices?.slice(1)); };
    const unit = fc.constantFrom('a', 'b', ' ', '*', '?', '.', '\n', '€', '😀');
    fc.assert(fc.property(fc.string({ unit, maxLength: 8 }), fc.string({ unit, maxLength: 12 }), same), { numRuns: 20_000 });
    // Few letters, so that most globs match and the split among the wildcards is what is compared.
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom('a', 'b', '*', '?'), maxLength: 8 }), fc.string({ unit: fc.constantFrom('a', 'b'), maxLength: 12 }), same), { numRuns: 20_000 });
  });

  it('treats regex metacharacters in patterns literally', () => {
    expect(globToRegExp('cat /var/log/app.log').test('cat /var/log/appXlog')).toBe(false);
    expect(globToRegExp('echo (a|b)').test('echo (a|b)')).toBe(true);
  });
});

describe('host key pinning', () => {
  const blob = Buffer.from('AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl', 'base64');
  it('matches a SHA256 fingerprint and a known_hosts line, and nothing else', () => {
    const fp = `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
    expect(sshFingerprint(blob)).toBe(fp);
    expect(hostKeyMatches(fp, blob)).toBe(true);
    expect(hostKeyMatches(`[db.example]:22 ssh-ed25519 ${blob.toString('base64')}`, blob)).toBe(true);
    expect(hostKeyMatches(`ssh-ed25519 ${blob.toString('base64')} comment`, blob)).toBe(true);
    const other = Buffer.from(blob);
    other.writeUInt8(other[other.length - 1]! ^ 1, other.length - 1);
    expect(hostKeyMatches(fp, other)).toBe(false);
  });
});
