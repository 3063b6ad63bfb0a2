import { describe, expect, it } from 'vitest';
import { canonicalize } from '../../../recorder/canonical-json.js';
import { recordLine } from '../../../recorder/record-line.js';

const line = (ev: Parameters<typeof recordLine>[0]) => recordLine(ev, 'o', 1, '2026-11-22T12:00:00.000000Z', '0'.repeat(64));
const whole = (ev: object) => canonicalize({ ...ev, v: 1, origin: 'o', seq: 1, ts: '2026-11-22T12:00:00.000000Z', prev: '0'.repeat(64) });

describe('recordLine with objects reused across records', () => {
  it('encodes a deep-frozen actor once and still exactly as canonicalize would', () => {
    const actor = Object.freeze({ sub: 'ann', via: 'local' as const, groups: Object.freeze(['b', 'a']) as string[] });
    const ev = { type: 't', actor, detail: { i: 1 } };
    expect(line(ev)).toBe(whole(ev));
    expect(line({ ...ev, detail: { i: 2 } })).toBe(whole({ ...ev, detail: { i: 2 } }));
  });

  it('re-encodes objects that can change: not frozen, or frozen only on the outside', () => {
    const src = { ip: '127.0.0.1', port: 1 };
    const ev = { type: 't', src };
    expect(line(ev)).toBe(whole(ev));
    src.port = 2;
    expect(line(ev)).toContain('"port":2');
    const groups = ['x'];
    const actor = Object.freeze({ sub: 'ann', via: 'local' as const, groups });
    expect(line({ type: 't', actor })).toContain('"groups":["x"]');
    groups.push('y');
    expect(line({ type: 't', actor })).toContain('"groups":["x","y"]');
  });
});
