import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AuditEvent } from '../../../recorder/types.js';
import { FailureRecords } from '../../../src/broker/failure-records.js';

describe('FailureRecords', () => {
  afterEach(() => { vi.useRealTimers(); });

  function setUp() {
    vi.useFakeTimers();
    const written: AuditEvent[] = [];
    const f = new FailureRecords({ append: async (e) => { written.push(e); }, warn: () => undefined, now: () => Date.now(), burst: 3, windowMs: 1000 });
    const fail = (ip: string, n: number) => f.record({ type: 'auth.fail', src: { ip }, outcome: 'failure', detail: { reason: `try ${n}` } });
    return { f, written, fail };
  }

  it('records a burst one by one per address, then one record for the rest of the window when it ends', async () => {
    const { written, fail } = setUp();
    for (let i = 0; i < 10; i++) { fail('10.0.0.1', i); vi.advanceTimersByTime(10); }
    fail('10.0.0.2', 0);
    await vi.advanceTimersByTimeAsync(0);
    expect(written.map((e) => e.detail!.reason)).toEqual(['try 0', 'try 1', 'try 2', 'try 0']);
    await vi.advanceTimersByTimeAsync(1000);
    expect(written).toHaveLength(5);
    expect(written[4]).toMatchObject({ type: 'auth.fail', src: { ip: '10.0.0.1' }, detail: { reason: 'try 9', repeated: 7 } });
    const d = written[4]!.detail as { first_at: string; last_at: string };
    expect(Date.parse(d.last_at) - Date.parse(d.first_at)).toBe(60);
    // A new window records one by one again.
    fail('10.0.0.1', 10);
    await vi.advanceTimersByTimeAsync(0);
    expect(written[5]!.detail).toEqual({ reason: 'try 10' });
  });

  it('close writes what a window still counts and waits for it', async () => {
    const { f, written, fail } = setUp();
    for (let i = 0; i < 5; i++) fail('10.0.0.1', i);
    await f.close();
    expect(written.map((e) => e.detail!.repeated)).toEqual([undefined, undefined, undefined, 2]);
  });

  it('a window without more than the burst leaves no summary', async () => {
    const { f, written, fail } = setUp();
    for (let i = 0; i < 3; i++) fail('10.0.0.1', i);
    await vi.advanceTimersByTimeAsync(5000);
    await f.close();
    expect(written).toHaveLength(3);
  });
});
