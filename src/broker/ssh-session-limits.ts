/**
 * Session time limits for an SSH session (policy `session.idle_timeout` and `session.max_duration`):
 * PCI DSS 8.2.8 wants a session idle for more than 15 minutes to end (re-authentication), and the policy
 * may cap a session's total length. "Idle" means no channel data in either direction; the broker calls
 * {@link SessionLimitTimers.touch} on every chunk, which only stores a time — the idle timer re-arms
 * itself lazily, so the hot path costs no timer churn.
 *
 * While a decision is pending (a command waiting for a human approval) the session is not idle: the
 * wait has its own bound (`approvals.wait`), and timing the user out for waiting on an approver would
 * punish them for the control itself. `max_duration` still applies then.
 */
import type { Clock } from '../cli/ctx.js';

export interface SessionLimits {
  idleTimeoutMs: number;
  maxDurationMs: number;
}

export type SessionLimitKind = 'idle_timeout' | 'max_duration';

/** `idle_ms` for an idle timeout, `duration_ms` for max_duration; `limit_ms` is the configured limit. */
export interface SessionLimitDetail {
  idle_ms?: number;
  duration_ms?: number;
  limit_ms: number;
}

/** setTimeout's delay is a signed 32-bit number: longer delays fire at once, so they are re-armed in steps. */
const MAX_DELAY = 2 ** 31 - 1;

export class SessionLimitTimers {
  readonly #limits: SessionLimits;
  readonly #clock: Clock;
  readonly #onLimit: (kind: SessionLimitKind, detail: SessionLimitDetail) => void;
  readonly #started: number;
  #last: number;
  #busy = 0;
  #done = false;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #maxTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(o: { limits: SessionLimits; clock: Clock; onLimit(kind: SessionLimitKind, detail: SessionLimitDetail): void }) {
    this.#limits = o.limits;
    this.#clock = o.clock;
    this.#onLimit = o.onLimit;
    this.#started = o.clock.now();
    this.#last = this.#started;
    this.#armIdle(o.limits.idleTimeoutMs);
    this.#armMax(o.limits.maxDurationMs);
  }

  /** Channel data passed (either direction). */
  touch(): void {
    this.#last = this.#clock.now();
  }

  /** Marks the session busy (not idle) until the returned function is called. */
  busy(): () => void {
    this.#busy++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#busy--;
      this.touch();
    };
  }

  stop(): void {
    this.#done = true;
    clearTimeout(this.#idleTimer);
    clearTimeout(this.#maxTimer);
  }

  #fire(kind: SessionLimitKind, detail: SessionLimitDetail): void {
    if (this.#done) return;
    this.stop();
    this.#onLimit(kind, detail);
  }

  #armIdle(delay: number): void {
    this.#idleTimer = setTimeout(() => {
      const idle = this.#clock.now() - this.#last;
      const limit = this.#limits.idleTimeoutMs;
      if (this.#busy > 0) this.#armIdle(limit);
      else if (idle >= limit) this.#fire('idle_timeout', { idle_ms: idle, limit_ms: limit });
      else this.#armIdle(limit - idle);
    }, Math.min(Math.max(delay, 1), MAX_DELAY));
    this.#idleTimer.unref?.();
  }

  #armMax(delay: number): void {
    this.#maxTimer = setTimeout(() => {
      const ran = this.#clock.now() - this.#started;
      const limit = this.#limits.maxDurationMs;
      if (ran >= limit) this.#fire('max_duration', { duration_ms: ran, limit_ms: limit });
      else this.#armMax(limit - ran);
    }, Math.min(Math.max(delay, 1), MAX_DELAY));
    this.#maxTimer.unref?.();
  }
}
