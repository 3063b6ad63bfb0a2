/**
 * Idle releases of the streaming masker (issue 4 item 6, issue 7): a PAN printed in pieces with pauses —
 * as a remote program or a slow terminal does — must never show more than its first six digits, and
 * bytes already sent must never be sent again.
 */
import { describe, expect, it } from 'vitest';
import { idleHold, StreamMasker } from '../../../src/mask/stream-masker.js';
import type { IdleTimer } from '../../../src/mask/stream-masker.js';
import { containsPan } from '../../../src/mask/pan-detector.js';

/** A timer the test fires by hand, so "a pause" is exact. */
function manualTimer(): IdleTimer & { fire(): void } {
  let fn: (() => void) | undefined;
  return {
    set: (f) => { fn = f; return 1; },
    clear: () => { fn = undefined; },
    fire: () => { const f = fn; fn = undefined; f?.(); },
  };
}

function run(pieces: string[]): string[] {
  const out: string[] = [];
  const timer = manualTimer();
  const m = new StreamMasker((b) => out.push(Buffer.from(b).toString()), { timer });
  for (const p of pieces) {
    m.write(Buffer.from(p));
    timer.fire();
  }
  m.flush();
  return out;
}

describe('StreamMasker idle release', () => {
  it('an empty chunk does not cancel the pending idle release (the tail waited for the next byte)', () => {
    const out: string[] = [];
    const timer = manualTimer();
    const m = new StreamMasker((b) => out.push(Buffer.from(b).toString()), { timer });
    m.write(Buffer.from('uptime 12345'));
    expect(m.held).toBe(5);
    m.write(Buffer.alloc(0));
    timer.fire();
    expect(out.join('')).toBe('uptime 12345');
    expect(m.held).toBe(0);
  });

  it('never re-sends bytes released on idle', () => {
    const out = run(['4111 11', '11 1111 ', '1111\n']);
    expect(out.join('')).toHaveLength('4111 1111 1111 1111\n'.length);
    expect(out.join('')).toBe('4111 11** **** ****\n');
  });

  it('shows at most the first six digits of a PAN split at any point with pauses', () => {
    const pan = '4111111111111111';
    for (let a = 1; a < pan.length; a++) {
      for (let b = a + 1; b <= pan.length; b++) {
        const text = `card ${pan} ok\n`;
        const cut1 = 5 + a;
        const cut2 = 5 + b;
        const shown = run([text.slice(0, cut1), text.slice(cut1, cut2), text.slice(cut2)]).join('');
        expect(shown).toHaveLength(text.length);
        const digits = shown.replace(/[^0-9*]/g, '');
        expect(digits.slice(6, 12)).toBe('******');
        expect(containsPan(Buffer.from(shown))).toBe(false);
      }
    }
  });

  it('releases text and short numbers at once on idle', () => {
    expect(run(['$ ', 'ls\r\n', 'total 42\r\n$ '])).toEqual(['$ ', 'ls\r\n', 'total 42\r\n$ ']);
    expect(idleHold(Buffer.from('id 12345'))).toBe(8);
    expect(idleHold(Buffer.from('id 1234567'))).toBe(9);
  });
});
