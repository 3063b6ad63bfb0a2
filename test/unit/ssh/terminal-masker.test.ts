/**
 * TerminalMasker (src/ssh/terminal-masker.ts): card numbers masked as a terminal shows them, escape sequences
 * and the bytes a terminal draws nothing for read out of the way, every byte else in place; the same answer
 * whatever the chunking.
 */
import { describe, expect, it } from 'vitest';
import { TerminalMasker } from '../../../src/ssh/terminal-masker.js';

const E = '\x1b';
/** U+009B, the C1 CSI, in UTF-8. */
const C1 = '\xc2\x9b';

/** Masks `text` fed in the given pieces (idle release off), flushed at the end. */
function mask(pieces: string[]): string {
  let out = '';
  const m = new TerminalMasker((b) => { out += Buffer.from(b).toString('latin1'); }, { idleMs: Infinity });
  for (const p of pieces) m.write(Buffer.from(p, 'latin1'));
  m.flush();
  return out;
}

/** Every way of cutting `text` in two, and byte by byte. */
function everySplit(text: string): string[] {
  const outs = [mask([text]), mask(text.split(''))];
  for (let i = 1; i < text.length; i++) outs.push(mask([text.slice(0, i), text.slice(i)]));
  return [...new Set(outs)];
}

describe('TerminalMasker', () => {
  const cases: Array<[string, string]> = [
    [`4111${E}[01;31m${E}[K1111${E}[m${E}[K11111111\n`, `****${E}[01;31m${E}[K****${E}[m${E}[K****1111\n`],
    [`${E}[0m4111111111111111 x`, `${E}[0m************1111 x`],
    [`${E}[32m4111 1111${E}[0m 1111 1111`, `${E}[32m**** ****${E}[0m **** 1111`],
    [`4111\x001111\x071111\x0e1111\x0f.`, `****\x00****\x07****\x0e1111\x0f.`],
    [`4111${E}(B1111${E}=1111${E}[?25l1111!`, `****${E}(B****${E}=****${E}[?25l1111!`],
    [`4111111111111111${E}[0mabc`, `************1111${E}[0mabc`],
    [`4111111111111111${E}[0m`, `************1111${E}[0m`],
    [`41111111\x0111111111 \x1f`, `********\x01****1111 \x1f`],
    [`4111${E}7111111111111${E}8`, `****${E}7********1111${E}8`],
    [`${E}84111111111111111 `, `${E}8************1111 `],
    // C1 controls in UTF-8 (0xC2 0x80–0x9F), as xterm and VTE take them: U+009B is a CSI, U+0080 draws nothing.
    [`4111${C1}01;31m${C1}K1111${C1}m11111111\n`, `****${C1}01;31m${C1}K****${C1}m****1111\n`],
    [`${C1}32m4111111111111111 x`, `${C1}32m************1111 x`],
    [`4111\xc2\x80111111111111 x`, `****\xc2\x80********1111 x`],
    [`\xc2\xc2${C1}0m4111111111111111.`, `\xc2\xc2${C1}0m************1111.`],
    // A sequence cut off (a terminal drops it): by U+009B or ESC starting anew, by CAN (0x18), by a byte no sequence has.
    [`4111 ${E}[3${C1}m1111 1111 1111 x`, `**** ${E}[3${C1}m**** **** 1111 x`],
    [`${E}[12${C1}32m4111111111111111 x`, `${E}[12${C1}32m************1111 x`],
    [`4111${E}[1${E}[0m111111111111 x`, `****${E}[1${E}[0m********1111 x`],
    [`4111${E}[01\x18111111111111 x`, `****${E}[01\x18********1111 x`],
    [`4111${E}\x00111111111111 x`, `****${E}\x00********1111 x`],
    // A control string (a window title, a hyperlink's target) is not drawn in the line: left out of its reading.
    [`4111 1111 1111 ${E}]0;t\x071111 x`, `**** **** **** ${E}]0;t\x071111 x`],
    [`4111 1111 1111 \xc2\x9d0;t\xc2\x9c1111 x`, `**** **** **** \xc2\x9d0;t\xc2\x9c1111 x`],
    [`4111 1111 1111 ${E}]0;t${E}\\1111 x`, `**** **** **** ${E}]0;t${E}\\1111 x`],
    [`4111${E}P1$r0m${E}\\111111111111 x`, `****${E}P1$r0m${E}\\********1111 x`],
    // What a string holds is masked on its own, in place (a title is shown in the title bar).
    [`${E}]2;card 4111 1111 1111 1111${E}\\ ok`, `${E}]2;card **** **** **** 1111${E}\\ ok`],
  ];
  it('masks card numbers with escape sequences or invisible controls between their digits, whatever the split', () => {
    for (const [text, want] of cases) expect(everySplit(text), JSON.stringify(text)).toEqual([want]);
  });

  it('passes text and sequences without a card number byte for byte, whatever the split', () => {
    for (const text of [
      `${E}[1;31mred 1234${E}[0m ${E}[12;80H${E}[38;2;255;128;0m42${E}[K x\r\n`,
      `${E}]0;user@host: ~${E}\\prompt$ ${E}[?2004h`,
      `12${E}7 34${E}8 ${E}${E}[ ${E}[1;2;3;4;5;6;7;8;9;10;11;12;13;14;15;16;17;18;19;20;21;22;23;24;25;26;27;28;29;30m`,
      `tail ${E}[12`,
      // UTF-8 text (© is 0xC2 0xA9), a C1 colour; NEL (U+0085) is another line, not nothing: its sides are not joined.
      `caf\xc3\xa9 \xc2\xa9 2024 ${C1}1;31m42${C1}0m 4111\xc2\x85111111111111 x ${C1}12`,
      `${E}]8;;http://example.com/a1b2\x07link 42${E}]8;;\x07 7 ${E}P1$r0m${E}\\ ${E}]0;web01: ~/2024\x07$ `,
    ]) expect(everySplit(text), JSON.stringify(text)).toEqual([text]);
  });

  it('masks a card number in a window title, and reads a string too long to be one as text', () => {
    expect(mask([`${E}]0;4111111111111111\x07`])).toBe(`${E}]0;************1111\x07`);
    const long = `${E}]0;${'x'.repeat(5000)} 4111111111111111\x07`;
    expect(mask([long])).toBe(long.replace('4111111111111111', '************1111'));
  });

  it('sends what one write, release or flush masks in one onData call', () => {
    const line = `${E}[0m${E}[01;34mdir${E}[0m  ${E}[01;32m4111${E}[0m111111111111 ${E}[K\r\n`;
    const calls: string[] = [];
    const m = new TerminalMasker((b) => calls.push(Buffer.from(b).toString('latin1')), { idleMs: Infinity });
    m.write(Buffer.from(line.repeat(3) + `ab 12${E}[0m${E}[K`, 'latin1'));
    const masked = line.replace('4111', '****').replace('11111111', '********');
    expect(calls).toEqual([masked.repeat(3) + 'ab ']);
    m.release();
    expect(calls).toEqual([masked.repeat(3) + 'ab ', `12${E}[0m${E}[K`]);
  });

  it('a sequence the stream paused in the middle of still continues after the pause (release): no leak across the pause', () => {
    const paused = (pieces: string[]) => {
      let out = '';
      const m = new TerminalMasker((b) => { out += Buffer.from(b).toString('latin1'); }, { idleMs: Infinity });
      for (const p of pieces) { m.write(Buffer.from(p, 'latin1')); m.release(); }
      m.flush();
      return out;
    };
    // Each piece boundary is a pause; what went out at the pause (the sequence's first bytes) is not held back.
    expect(paused(['a \xc2', `\x9b32m4111111111111111 x`])).toBe(`a ${C1}32m************1111 x`);
    expect(paused([`a ${E}`, '[32m4111111111111111 x'])).toBe(`a ${E}[32m************1111 x`);
    expect(paused([`a ${E}[3`, '2m4111111111111111 x'])).toBe(`a ${E}[32m************1111 x`);
    let out = '';
    const m = new TerminalMasker((b) => { out += Buffer.from(b).toString('latin1'); }, { idleMs: Infinity });
    m.write(Buffer.from(`ok \xc2`, 'latin1'));
    m.release();
    expect(out).toBe('ok \xc2'); // sent at the pause: a binary protocol waiting on it is not stuck
    expect(m.held).toBe(0);
    // The lead byte of a character after all (©): the bytes go out as they came.
    m.write(Buffer.from('\xa9 4111111111111111 x', 'latin1'));
    m.flush();
    expect(out).toBe('ok \xc2\xa9 ************1111 x');
  });

  it('holds a sequence after a digit only until the stream pauses (release)', () => {
    let out = '';
    const m = new TerminalMasker((b) => { out += Buffer.from(b).toString('latin1'); }, { idleMs: Infinity });
    m.write(Buffer.from(`ab 12${E}[0m`, 'latin1'));
    expect(m.held).toBeGreaterThan(0);
    m.release();
    expect(out).toBe(`ab 12${E}[0m`);
    expect(m.held).toBe(0);
  });

  it('refuses hmac, whose tokens do not keep lengths', () => {
    expect(() => new TerminalMasker(() => {}, { style: { format: 'hmac', hmacKey: new Uint8Array(32) } })).toThrow(/hmac/);
  });
});
