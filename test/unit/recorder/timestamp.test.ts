import { describe, expect, it } from 'vitest';
import { formatTs, parseTs } from '../../../recorder/timestamp.js';

/** formatTs before it cached the formatted second: the output it must keep. */
function reference(micros: bigint): string {
  const frac = ((micros % 1_000_000n) + 1_000_000n) % 1_000_000n;
  const iso = new Date(Number(micros / 1000n)).toISOString();
  return `${iso.slice(0, 19)}.${frac.toString().padStart(6, '0')}Z`;
}

describe('formatTs', () => {
  it('matches the reference across second boundaries, out of order, and before the epoch', () => {
    const base = 1_795_000_000_000_000n; // 2026-11-18
    const values = [
      0n, 1n, 999_999n, 1_000_000n, base, base + 1n, base + 999_999n, base + 1_000_000n, base - 1n, base + 42n,
      base + 3_600_000_000n, base + 5n, -1n, -1_000_000n, -1_500_000n, 999_999n,
    ];
    for (let i = 0; i < 200; i++) values.push(base + BigInt(Math.floor(Math.random() * 5_000_000)));
    for (const v of values) expect(formatTs(v), String(v)).toBe(reference(v));
  });

  it('round-trips through parseTs', () => {
    const v = 1_795_000_000_123_456n;
    expect(formatTs(v)).toBe('2026-11-18T11:06:40.123456Z');
    expect(parseTs(formatTs(v))).toBe(v);
  });
});
