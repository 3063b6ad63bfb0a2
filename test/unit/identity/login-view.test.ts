/** What `pcigate login` shows while waiting: plain lines without a TTY, the ink screen on one. */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DEVICE_FLOW_SENTENCES } from '../../../src/identity/device-flow.js';
import { inkLoginView, plainLoginView, spaced } from '../../../src/identity/login-view.js';
import { fixedClock, testCtx } from '../../harness/test-ctx.js';

const clock = fixedClock();
const prompt = {
  verificationUri: 'https://idp.example/device',
  verificationUriComplete: 'https://idp.example/device?user_code=WDJB-MJHT',
  userCode: 'WDJB-MJHT',
  expiresAt: clock.now() + 600_000,
  interval: 5,
};

describe('plain login view', () => {
  it('prints the URL, the code, the complete URL and the expiry, then each sentence once (slow_down each time)', () => {
    const lines: string[] = [];
    const v = plainLoginView((l) => lines.push(l), clock);
    v.prompt(prompt);
    v.event({ kind: 'pending' });
    v.event({ kind: 'pending' });
    v.event({ kind: 'slow_down', interval: 10 });
    v.event({ kind: 'slow_down', interval: 15 });
    expect(lines).toEqual([
      'To log in, open https://idp.example/device and enter the code: WDJB-MJHT',
      'Or open https://idp.example/device?user_code=WDJB-MJHT',
      'The code expires in 10:00.',
      DEVICE_FLOW_SENTENCES.pending,
      DEVICE_FLOW_SENTENCES.slow_down,
      DEVICE_FLOW_SENTENCES.slow_down,
    ]);
  });
});

describe('ink login view', () => {
  it('draws the code large and spaced, the URL and a countdown on stderr', async () => {
    const stderr = Object.assign(new PassThrough(), { isTTY: true, columns: 100, rows: 30 });
    let text = '';
    stderr.on('data', (c: Buffer) => { text += c.toString(); });
    const stdin = Object.assign(new PassThrough(), { isTTY: false });
    const ctx = testCtx({ stderr, stdin, clock, env: { NO_COLOR: '1' } });
    const v = inkLoginView(ctx);
    v.prompt(prompt);
    v.event({ kind: 'slow_down', interval: 10 });
    await new Promise((r) => setTimeout(r, 250));
    v.close();
    expect(text).toContain(spaced('WDJB-MJHT'));
    expect(text).toContain('https://idp.example/device');
    // ink wraps to the terminal width, which differs between machines: compare with whitespace collapsed.
    const flat = text.replace(/\s+/g, ' ');
    expect(flat).toContain('code expires in 10:00');
    expect(flat).toContain(DEVICE_FLOW_SENTENCES.slow_down);
  });
});
