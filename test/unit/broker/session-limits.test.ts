/**
 * SessionLimits with fake timers: idle timeout (PCI DSS 8.2.8) counted from the last activity or the end
 * of the last statement, never while a statement runs; max_duration and identity.max_session deadlines;
 * long deadlines beyond setTimeout's 32-bit range; stop() silences everything.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { effectiveLimits, formatLimit, limitOutcome, SessionLimits, type LimitHit, type LimitTimers } from '../../../src/broker/session-limits.js';

const T0 = Date.UTC(2026, 10, 22, 12, 0, 0);
const timers: LimitTimers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

beforeEach(() => { vi.useFakeTimers(); vi.setSystemTime(T0); });
afterEach(() => { vi.useRealTimers(); });

function limits(o: { idleMs?: number; maxDurationMs?: number; busy?: () => boolean; tokenExpiresAt?: number; maxSessionMs?: number }) {
  const hits: LimitHit[] = [];
  const l = new SessionLimits({
    limits: effectiveLimits({ startedAt: T0, idleTimeoutMs: o.idleMs ?? 0, maxDurationMs: o.maxDurationMs ?? 8 * 3_600_000, ...(o.maxSessionMs !== undefined ? { maxSessionMs: o.maxSessionMs } : {}), ...(o.tokenExpiresAt !== undefined ? { tokenExpiresAt: o.tokenExpiresAt } : {}) }),
    timers, startedAt: T0, ...(o.tokenExpiresAt !== undefined ? { tokenExpiresAt: o.tokenExpiresAt } : {}),
    ...(o.busy ? { busy: o.busy } : {}),
    onLimit: (h) => hits.push(h),
  });
  return { l, hits };
}

describe('idle timeout', () => {
  it('fires after the limit with no activity, once', () => {
    const { l, hits } = limits({ idleMs: 2000 });
    l.start();
    vi.advanceTimersByTime(1999);
    expect(hits).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(hits).toEqual([{ kind: 'idle_timeout', idleMs: 2000, limitMs: 2000 }]);
    vi.advanceTimersByTime(60_000);
    expect(hits).toHaveLength(1);
    expect(l.hit?.kind).toBe('idle_timeout');
  });

  it('counts from the last activity', () => {
    const { l, hits } = limits({ idleMs: 2000 });
    l.start();
    vi.advanceTimersByTime(1500);
    l.activity();
    vi.advanceTimersByTime(1500);
    l.activity();
    vi.advanceTimersByTime(1999);
    expect(hits).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(hits).toEqual([{ kind: 'idle_timeout', idleMs: 2000, limitMs: 2000 }]);
    expect(Date.now() - T0).toBe(5000);
  });

  it('never fires while a statement is in progress; the countdown starts when it ends', () => {
    let busy = true;
    const { l, hits } = limits({ idleMs: 2000, busy: () => busy });
    l.start();
    vi.advanceTimersByTime(10_000);
    expect(hits).toEqual([]);
    busy = false;
    l.activity(); // the statement ended
    vi.advanceTimersByTime(1999);
    expect(hits).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(hits).toHaveLength(1);
  });

  it('is off with idleMs 0', () => {
    const { l, hits } = limits({ idleMs: 0, maxDurationMs: 3_600_000 });
    l.start();
    vi.advanceTimersByTime(3_599_999);
    expect(hits).toEqual([]);
  });
});

describe('deadlines', () => {
  it('max_duration ends an active session at the limit', () => {
    const { l, hits } = limits({ idleMs: 1000, maxDurationMs: 5000 });
    l.start();
    for (let i = 0; i < 9; i++) { vi.advanceTimersByTime(500); l.activity(); }
    expect(hits).toEqual([]);
    vi.advanceTimersByTime(500);
    expect(hits).toEqual([{ kind: 'max_duration', elapsedMs: 5000, limitMs: 5000 }]);
  });

  it('max_session applies to an identity whose token expires, from the session start', () => {
    const { l, hits } = limits({ maxDurationMs: 8 * 3_600_000, maxSessionMs: 60_000, tokenExpiresAt: T0 + 10_000 });
    l.start();
    vi.advanceTimersByTime(59_999);
    expect(hits).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(hits).toEqual([{ kind: 'max_session', elapsedMs: 60_000, limitMs: 60_000, tokenExpiredAt: T0 + 10_000 }]);
  });

  it('a token valid beyond max_session ends the session when it expires; no token, no max_session', () => {
    expect(effectiveLimits({ startedAt: T0, idleTimeoutMs: 0, maxDurationMs: 8 * 3_600_000, maxSessionMs: 60_000, tokenExpiresAt: T0 + 120_000 }).deadline)
      .toEqual({ kind: 'max_session', at: T0 + 120_000, limitMs: 60_000 });
    expect(effectiveLimits({ startedAt: T0, idleTimeoutMs: 0, maxDurationMs: 8 * 3_600_000, maxSessionMs: 60_000 }).deadline)
      .toEqual({ kind: 'max_duration', at: T0 + 8 * 3_600_000, limitMs: 8 * 3_600_000 });
    expect(effectiveLimits({ startedAt: T0, idleTimeoutMs: 0, maxDurationMs: 1000, maxSessionMs: 60_000, tokenExpiresAt: T0 }).deadline?.kind).toBe('max_duration');
  });

  it('waits out deadlines longer than a 32-bit setTimeout', () => {
    const days40 = 40 * 86_400_000;
    const { l, hits } = limits({ maxDurationMs: days40 });
    l.start();
    vi.advanceTimersByTime(days40 - 1);
    expect(hits).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(hits).toEqual([{ kind: 'max_duration', elapsedMs: days40, limitMs: days40 }]);
  });
});

it('stop() cancels every timer', () => {
  const { l, hits } = limits({ idleMs: 1000, maxDurationMs: 2000 });
  l.start();
  l.stop();
  vi.advanceTimersByTime(10_000);
  expect(hits).toEqual([]);
  expect(vi.getTimerCount()).toBe(0);
});

it('formats limits as people write them', () => {
  expect([formatLimit(2000), formatLimit(900_000), formatLimit(8 * 3_600_000), formatLimit(1500)]).toEqual(['2 s', '15 min', '8 h', '1500 ms']);
});

describe('limitOutcome', () => {
  it('idle: session.idle_timeout, FATAL 57P05 naming the limit and PCI DSS 8.2.8', () => {
    const o = limitOutcome({ kind: 'idle_timeout', idleMs: 900_123, limitMs: 900_000 }, 'prod-db');
    expect(o).toMatchObject({ type: 'session.idle_timeout', reason: 'idle_timeout', sqlstate: '57P05', detail: { idle_ms: 900_123, limit_ms: 900_000 } });
    expect(o.message).toBe('pcigate: terminating the session after 15 min idle (session.idle_timeout of prod-db, PCI DSS 8.2.8); connect again');
  });

  it('deadlines: session.expired, FATAL 57P01; max_session says to log in again', () => {
    const d = limitOutcome({ kind: 'max_duration', elapsedMs: 28_800_004, limitMs: 28_800_000 }, 'prod-db');
    expect(d).toMatchObject({ type: 'session.expired', reason: 'max_duration', sqlstate: '57P01', detail: { limit: 'max_duration', duration_ms: 28_800_004, limit_ms: 28_800_000 } });
    expect(d.message).toContain('maximum duration of 8 h');
    const s = limitOutcome({ kind: 'max_session', elapsedMs: 60_000, limitMs: 60_000, tokenExpiredAt: T0 }, 'prod-db');
    expect(s.detail).toEqual({ limit: 'max_session', duration_ms: 60_000, limit_ms: 60_000, token_expired_at: '2026-11-22T12:00:00.000Z' });
    expect(s.message).toContain('pcigate login');
  });
});
