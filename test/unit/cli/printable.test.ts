import { describe, expect, it } from 'vitest';
import { jsonText, table } from '../../../src/cli/output.js';
import { printable } from '../../../src/cli/printable.js';

const RAW = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u200b\ufeff]/;

describe('printable text on a terminal', () => {
  it('escapes controls, C1, bidi overrides, zero-width characters; keepLines keeps newline and tab only', () => {
    const hostile = 'eve\u001b[2J\r\u009b31m\u202emoc\u200b\ufeff\n\tok';
    expect(printable(hostile)).toBe('eve\\u001b[2J\\u000d\\u009b31m\\u202emoc\\u200b\\ufeff\\u000a\\u0009ok');
    expect(printable(hostile, { keepLines: true })).toBe('eve\\u001b[2J\\u000d\\u009b31m\\u202emoc\\u200b\\ufeff\n\tok');
    expect(printable('Müller 東京 ✓')).toBe('Müller 東京 ✓');
  });

  it('table() cells (pcigate sessions, approvals, keys show) are printable, and widths count what is shown', () => {
    const t = table(['WHO', 'KIND'], [['eve\u001b]52;c;Y3VybA==\u0007', 'ssh'], ['alice', 'postgres']]);
    const lines = t.split('\n');
    for (const l of lines) expect(l).not.toMatch(RAW);
    expect(lines[1]).toBe('eve\\u001b]52;c;Y3VybA==\\u0007  ssh');
    expect(lines[2]).toBe(`alice${' '.repeat('eve\\u001b]52;c;Y3VybA==\\u0007'.length - 5)}  postgres`);
  });
});

describe('--json output on a terminal', () => {
  it('escapes DEL, C1 controls, bidi overrides and line separators inside strings, and stays the same JSON', () => {
    const value = { sub: 'eve\u009b2J\u202emoc\u2028\u007f', n: 1n, ok: 'Müller' };
    const text = jsonText(value);
    expect(text).not.toMatch(/[\u007f-\u009f\u202e\u2028]/);
    expect(text).toContain('"eve\\u009b2J\\u202emoc\\u2028\\u007f"');
    expect(JSON.parse(text)).toEqual({ sub: value.sub, n: '1', ok: 'Müller' });
  });

  it('escapes exactly what printable() escapes, C0 aside (JSON.stringify escapes those itself)', () => {
    for (let c = 0x20; c <= 0xffff; c++) {
      const ch = String.fromCharCode(c);
      if (ch === '"' || ch === '\\' || (c >= 0xd800 && c <= 0xdfff)) continue;
      expect(jsonText(ch) !== JSON.stringify(ch), `U+${c.toString(16)}`).toBe(printable(ch) !== ch);
    }
  });
});
