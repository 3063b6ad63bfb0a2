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
    // C0 controls (but CAN, SUB, ESC) and DEL inside a sequence are carried out or ignored; the sequence goes on.
    [`${E}[3\x002m4111111111111111 x`, `${E}[3\x002m************1111 x`],
    [`${E}[3\x7f2m4111111111111111 x`, `${E}[3\x7f2m************1111 x`],
    [`${E}\x00[32m4111111111111111 x`, `${E}\x00[32m************1111 x`],
    [`4111${E}[0\x00m111111111111 x`, `****${E}[0\x00m********1111 x`],
    // Control strings and a pause: ST as U+009C after the pause (below); NUL runs as one sequence.
    [`4111${'\x00'.repeat(100)}111111111111 x`, `****${'\x00'.repeat(100)}********1111 x`],
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
    // A no-break space (0xC2 0xA0) cut by a pause still joins digit groups (at a pause the masker sends at most the
    // first six digits of a number still undecided, as ever); the title's masker spans the pause.
    expect(paused(['4111\xc2\xa01111\xc2', '\xa01111\xc2\xa01111 x'])).toBe('4111\xc2\xa011**\xc2\xa0****\xc2\xa0**** x');
    expect(paused([`${E}]0;4111 1111 1111`, ' 1111\x07 x'])).toBe(`${E}]0;4111 11** **** ****\x07 x`);
    {
      // ST as U+009C cut by a pause still ends the string: nothing is held after it.
      let out = '';
      const m = new TerminalMasker((b) => { out += Buffer.from(b).toString('latin1'); }, { idleMs: Infinity });
      m.write(Buffer.from('a \xc2\x9d0;t\xc2', 'latin1'));
      m.release();
      m.write(Buffer.from('\x9cx', 'latin1'));
      expect(m.held).toBe(0);
      expect(out).toBe('a \xc2\x9d0;t\xc2\x9cx');
    }

    // The session's idle settle: a release, then a flush of a held tail of bytes >= 0x80 (binary protocols wait on
    // it). The lone 0xC2 goes out then, and what follows may still make it a C1 CSI or a character.
    for (const [rest, want] of [
      ['\x9b32m4111111111111111 x', 'ok \xc2\x9b32m************1111 x'],
      ['\xa9 4111111111111111 x', 'ok \xc2\xa9 ************1111 x'],
    ]) {
      let out = '';
      const m = new TerminalMasker((b) => { out += Buffer.from(b).toString('latin1'); }, { idleMs: Infinity });
      m.write(Buffer.from('ok \xc2', 'latin1'));
      m.release();
      expect(m.held).toBe(1);
      m.flush();
      expect(out).toBe('ok \xc2');
      expect(m.held).toBe(0);
      m.write(Buffer.from(rest!, 'latin1'));
      m.flush();
      expect(out).toBe(want);
    }
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

  it('never throws and keeps every byte but starred digits, on any bytes cut and paused anywhere (scp passes here too)', () => {
    const alphabet = [0x1b, 0xc2, 0x9b, 0x9c, 0x9d, 0x07, 0x18, 0x00, 0x7f, 0x5b, 0x5d, 0x3b, 0x6d, 0x5c, 0x20, 0xa0, 0x34, 0x31, 0x31, 0x31];
    let seed = 7;
    const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) >>> 0; return (seed >>> 8) % n; };
    for (let run = 0; run < 3000; run++) {
      const input = Buffer.from(Array.from({ length: 1 + rnd(300) }, () => (rnd(4) === 0 ? rnd(256) : alphabet[rnd(alphabet.length)]!)));
      const parts: Uint8Array[] = [];
      const m = new TerminalMasker((b) => parts.push(Buffer.from(b)), { idleMs: Infinity });
      for (let at = 0; at < input.length;) {
        const next = Math.min(input.length, at + 1 + rnd(40));
        m.write(input.subarray(at, next));
        if (rnd(3) === 0) m.release();
        if (rnd(8) === 0) m.flush();
        at = next;
      }
      m.flush();
      const out = Buffer.concat(parts);
      expect(out.length).toBe(input.length);
      for (let i = 0; i < out.length; i++) if (out[i] !== input[i]) expect([out[i], input[i]! >= 0x30 && input[i]! <= 0x39]).toEqual([0x2a, true]);
    }
  });

  it('refuses hmac, whose tokens do not keep lengths', () => {
    expect(() => new TerminalMasker(() => {}, { style: { format: 'hmac', hmacKey: new Uint8Array(32) } })).toThrow(/hmac/);
  });
});

describe('TerminalMasker.releaseAll (a partial character sent when the stream pauses)', () => {
  it('keeps the context: a full-width or no-break-space card number split inside a character is not let through', () => {
    const wide = 'pan ４１１１１１１１１１１１１１１１ end';
    const nbsp = 'pan 4111\u00a01111\u00a01111\u00a01111 end';
    for (const text of [wide, nbsp]) {
      const bytes = Buffer.from(text, 'utf8');
      for (let cut = 5; cut < bytes.length - 4; cut++) {
        // A pause inside a character: cut where the byte before is ≥ 0x80 and the next a continuation byte.
        if (!(bytes[cut - 1]! >= 0x80 && (bytes[cut]! & 0xc0) === 0x80)) continue;
        const parts: Buffer[] = [];
        const m = new TerminalMasker((b) => { parts.push(Buffer.from(b)); }, { idleMs: Infinity });
        m.write(bytes.subarray(0, cut));
        m.release();
        m.releaseAll();
        expect(m.held, `cut ${cut}`).toBe(0);
        m.write(bytes.subarray(cut));
        m.flush();
        const out = Buffer.concat(parts);
        expect(out.length, `cut ${cut}`).toBe(bytes.length);
        const shown = out.toString('utf8').replace(/[^0-9０-９]/g, '');
        expect(shown.length, `cut ${cut}: ${out.toString('utf8')}`).toBeLessThan(13);
      }
    }
  });
});

describe('TerminalMasker: a failure on the idle release', () => {
  it('goes to onError (the session fails its channel), not out of the timer where nothing catches it', async () => {
    const errors: unknown[] = [];
    let fail = false;
    const m = new TerminalMasker(() => { if (fail) throw new Error('recording write failed'); }, { idleMs: 5, onError: (e) => { errors.push(e); } });
    m.write(Buffer.from('total 4111'));
    fail = true;
    await new Promise((r) => setTimeout(r, 50));
    expect(errors).toHaveLength(1);
    expect(String((errors[0] as Error).message)).toMatch(/recording write failed|masking/);
  });
});
