/**
 * Card numbers that a terminal shows whole although escape sequences lie between their digits (real sshd, real
 * OpenSSH client through `--listen`). `grep --color=always 1111` (what `alias grep='grep --color=auto'` does on a
 * terminal) writes `4111\e[01;31m\e[K1111\e[m\e[K11111111`: the terminal shows 4111111111111111, the masker read
 * text with letters between the digit groups and sent it, and the recording, in clear.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLog } from '../harness/audit-records.js';
import { sshThrough, tempDir } from '../harness/cli.js';
import type { SshListener } from '../harness/cli.js';
import { startSshGate } from '../harness/ssh-gate.js';
import type { SshGate } from '../harness/ssh-gate.js';
import { sshdAvailable } from '../harness/sshd.js';

const skip = sshdAvailable();
if (skip) process.stderr.write(`skipping the terminal escape tests: ${skip}\n`);

/**
 * What a terminal shows of `b` in the line: control strings (OSC, DCS … up to BEL or ST), CSI (`ESC [` or U+009B) and
 * two-byte escape sequences, C0 controls but BS, HT, LF, CR, DEL, and C1 controls but NEL, IND, RI take no cell.
 */
const shown = (b: Buffer | string) => b.toString()
  .replace(/(?:\x1b[\]P^_X]|[\u009d\u0090\u009e\u009f\u0098])[^\x07\x1b\u009c]*(?:\x07|\x1b\\|\u009c)/g, '')
  .replace(/(?:\x1b\[|\u009b)[0-?]*[ -/]*[@-~]|\x1b[ -/]*[0-~]|[\x00-\x07\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f\x80-\x83\x86-\x8c\x8e\x8f\x91-\x97\x99\x9a\x9c]/g, '');

describe.skipIf(Boolean(skip))('card numbers between terminal escape sequences (real sshd, real OpenSSH ssh)', () => {
  let gate: SshGate;
  let work: string;

  /** `ssh -T` through the gate's listener (sshThrough uses only its port and askpass script). */
  const ssh = (command: string) => sshThrough({ port: gate.broker.port, askpass: gate.askpass } as SshListener, gate.home, ['pcigate@127.0.0.1', command]);

  /** The output events (`o`) of the recording of the exec channel whose command includes `marker`. */
  const outputOf = async (marker: string): Promise<string[]> => {
    let rel: string | undefined;
    await expect.poll(() => {
      const recs = readLog(gate.home);
      const id = recs.find((r) => r.type === 'ssh.exec' && JSON.stringify(r.detail).includes(marker))?.session;
      rel = recs.find((r) => r.type === 'session.end' && r.session === id)?.blobs?.[0]?.path;
      return rel;
    }, { timeout: 15_000 }).toBeDefined();
    const cast = readFileSync(path.join(gate.home, rel!), 'utf8');
    return cast.trim().split('\n').slice(1).map((l) => JSON.parse(l) as [number, string, string]).filter((e) => e[1] === 'o').map((e) => e[2]);
  };

  beforeAll(async () => {
    gate = await startSshGate({ homePrefix: 'pcigate-ssh-escapes-', askpass: true, allow: { exec: { allow: ['grep *', 'printf *'] } } });
    work = tempDir('pcigate-ssh-escapes-work-');
    writeFileSync(path.join(work, 'orders.txt'), 'order 42 paid with 4111111111111111 on monday\n');
  }, 60_000);

  afterAll(async () => {
    await gate?.close();
  });

  it('grep --color=always: the highlighted card number is masked on the terminal and in the recording', async () => {
    const r = await ssh(`grep --color=always 1111 ${path.join(work, 'orders.txt')}`);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toContain('\x1b['); // coloured, as a terminal gets it
    expect(shown(r.stdout)).toBe('order 42 paid with ************1111 on monday\n');
    const out = (await outputOf('--color=always')).join('');
    expect(shown(out)).toContain('************1111');
    expect(shown(out)).not.toContain('4111111111111111');
  }, 30_000);

  it('SGR, erase and cursor-hiding sequences, NUL, BEL, SO, SI and DEL between digit groups, a colour right before: masked', async () => {
    const r = await ssh("printf 'a 4111\\x1b[0m1111\\x1b[?25l1111\\x1b=1111 b\\n4111\\x001111\\x071111\\x0e1111\\x0f\\n5555\\x7f5555\\x1b(B5555\\x1b[38;5;196m4444 c\\n\\x1b[32m4111111111111111\\x1b[0m d\\n4111111111111111\\x1b[0mabc\\n'");
    expect(r.code).toBe(0);
    expect(shown(r.stdout)).toBe('a ************1111 b\n************1111\n************4444 c\n************1111 d\n************1111abc\n');
  }, 30_000);

  it('SOH and the like, save and restore cursor (ESC 7, ESC 8) between digit groups: masked', async () => {
    const r = await ssh("printf 'a 41111111\\x0111111111 b\\n4111\\x1b7111111111111\\x1b8 c\\n'");
    expect(r.code).toBe(0);
    expect(shown(r.stdout)).toBe('a ************1111 b\n************1111 c\n');
  }, 30_000);

  it('C1 controls in UTF-8 (U+009B CSI, U+0080) between digit groups or right before a number: masked, here and in the recording', async () => {
    const r = await ssh("printf 'a 4111\\xc2\\x9b01;31m1111\\xc2\\x9bm11111111 b\\n\\xc2\\x9b32m4111111111111111\\xc2\\x9b0m c1-colour\\n4111\\xc2\\x80111111111111 d\\n'");
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toContain('\u009b');
    expect(shown(r.stdout)).toBe('a ************1111 b\n************1111 c1-colour\n************1111 d\n');
    const out = (await outputOf('c1-colour')).join('');
    expect(shown(out)).toContain('************1111 c1-colour');
    expect(shown(out)).not.toContain('4111111111111111');
  }, 30_000);

  it('a window title (OSC) between digit groups: masked; a card number in a title: masked there', async () => {
    const r = await ssh("printf 'a 4111 1111 1111 \\x1b]0;t\\x071111 b\\n\\x1b]2;card 4111111111111111\\x1b\\\\ osc-title\\n'");
    expect(r.code).toBe(0);
    expect(shown(r.stdout)).toBe('a **** **** **** 1111 b\n osc-title\n');
    expect(r.stdout.toString()).toContain('\x1b]2;card ************1111\x1b\\');
  }, 30_000);

  it('coloured listing: the recording gets it in a few events, not one per escape sequence', async () => {
    const entry = '\\x1b[0m\\x1b[01;34mdir\\x1b[0m  \\x1b[01;32mrun.sh\\x1b[0m  ';
    const r = await ssh(`printf '${entry.repeat(40)}listing-colours\\n'`);
    expect(r.code).toBe(0);
    expect(shown(r.stdout)).toBe('dir  run.sh  '.repeat(40) + 'listing-colours\n');
    const events = await outputOf('listing-colours');
    expect(events.length).toBeLessThan(10); // 200 sequences: one event each before
  }, 30_000);

  it('escape sequences and text with no card number pass byte for byte (guard: passes without the fix)', async () => {
    const r = await ssh("printf '\\x1b[1;31mred 1234\\x1b[0m \\x1b[12;80H\\x1b[38;2;255;128;0m42\\x1b[K x\\n'");
    expect(r.code).toBe(0);
    expect(r.stdout.toString('latin1')).toBe('\x1b[1;31mred 1234\x1b[0m \x1b[12;80H\x1b[38;2;255;128;0m42\x1b[K x\n');
  }, 30_000);
});
