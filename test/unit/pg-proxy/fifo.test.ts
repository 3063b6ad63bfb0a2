/** Fifo: the same answers as a plain array used as a queue, across many compactions; shifting stays cheap. */
import { describe, expect, it } from 'vitest';
import { Fifo } from '../../../src/pg/proxy/fifo.js';

/** A small deterministic generator (mulberry32), so a failure replays. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The slots the queue holds, dead ones before the head included (white box: to see compaction happen). */
function slots(q: Fifo<unknown>): number {
  return (q as unknown as { items: unknown[] }).items.length;
}

/** A plain comparison in the hot loop (expect() per step would make the test slow); says where it went wrong. */
function same(got: unknown, want: unknown, what: string): void {
  if (got !== want) throw new Error(`${what}: got ${String(got)}, want ${String(want)}`);
}

describe('Fifo', () => {
  it('answers as an array does under a long random mix of operations', () => {
    const rand = rng(20240605);
    const q = new Fifo<number>();
    const oracle: number[] = [];
    let next = 0;
    let compactions = 0;
    // Phases that favour pushing, then shifting, so the queue grows past the compaction threshold and drains.
    for (let phase = 0; phase < 40; phase++) {
      const pushBias = phase % 2 === 0 ? 0.7 : 0.3;
      for (let step = 0; step < 10_000; step++) {
        const r = rand();
        if (r < pushBias) {
          q.push(next);
          oracle.push(next);
          next++;
        } else if (r < 0.97) {
          const before = slots(q);
          same(q.shift(), oracle.shift(), `shift at step ${phase}/${step}`);
          if (slots(q) < before - 1) compactions++;
        } else {
          // removeAt near the head (how the relay uses it), now and then anywhere, or past the end.
          const i = rand() < 0.8 ? 1 : Math.floor(rand() * (oracle.length + 2)) - 1;
          const expected = i >= 0 && i < oracle.length ? oracle.splice(i, 1)[0] : undefined;
          same(q.removeAt(i), expected, `removeAt(${i}) at step ${phase}/${step}`);
        }
        same(q.length, oracle.length, `length at step ${phase}/${step}`);
        same(q.at(0), oracle[0], `at(0) at step ${phase}/${step}`);
        same(q.at(1), oracle[1], `at(1) at step ${phase}/${step}`);
        same(q.at(q.length - 1), oracle[oracle.length - 1], `at(length - 1) at step ${phase}/${step}`);
        same(q.at(-1), oracle.at(-1), `at(-1) at step ${phase}/${step}`);
        const i = Math.floor(rand() * (oracle.length + 2)) - 1;
        same(q.at(i), oracle.at(i), `at(${i}) at step ${phase}/${step}`);
      }
      expect([...q]).toEqual(oracle);
      const probe = oracle[Math.floor(oracle.length / 2)] ?? -1;
      expect(q.findIndex((x) => x === probe)).toBe(oracle.findIndex((x) => x === probe));
      expect(q.some((x) => x === probe)).toBe(oracle.some((x) => x === probe));
      expect(q.some((x) => x < 0)).toBe(false);
    }
    expect(compactions).toBeGreaterThan(10);
    expect(q.drain()).toEqual(oracle.splice(0));
    expect(q.length).toBe(0);
    expect(q.shift()).toBeUndefined();
    expect(q.at(0)).toBeUndefined();
    expect(q.at(-1)).toBeUndefined();
  });

  it('is empty again, with no slots kept, once drained by shift', () => {
    const q = new Fifo<string>();
    for (let i = 0; i < 5000; i++) q.push(`m${i}`);
    for (let i = 0; i < 5000; i++) expect(q.shift()).toBe(`m${i}`);
    expect(q.length).toBe(0);
    expect(slots(q)).toBe(0);
    q.push('again');
    expect(q.at(0)).toBe('again');
    expect([...q]).toEqual(['again']);
  });

  it('drops the slots before the head once they are most of it', () => {
    const q = new Fifo<number>();
    for (let i = 0; i < 100_000; i++) q.push(i);
    for (let i = 0; i < 99_000; i++) q.shift();
    expect(q.length).toBe(1000);
    expect(slots(q)).toBeLessThan(2 * 1000 + Fifo.COMPACT_AFTER + 2);
    expect(q.at(0)).toBe(99_000);
  });

  it('drain empties it and returns the entries in order (Array.splice(0))', () => {
    const q = new Fifo<number>();
    for (let i = 0; i < 3000; i++) q.push(i);
    for (let i = 0; i < 2000; i++) q.shift();
    expect(q.drain()).toEqual(Array.from({ length: 1000 }, (_, i) => 2000 + i));
    expect(q.length).toBe(0);
    expect(q.drain()).toEqual([]);
  });
});
