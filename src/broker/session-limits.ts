/**
 * Session limits as timers, for any brokered session (Postgres here, SSH can reuse it):
 * - idle timeout (PCI DSS 8.2.8: re-authenticate after at most 15 minutes idle; policy
 *   `connections.<name>.session.idle_timeout`): the session is idle when nothing arrived from the client
 *   for the limit while no statement was in progress; a statement that ends counts as activity, so the
 *   countdown starts when the server has answered, as Postgres' own idle_session_timeout does. A server
 *   waiting for the client is not a statement in progress (the caller's `busy`): Postgres sessions inside
 *   COPY FROM STDIN or with extended-protocol messages not followed by Sync or Flush are idle too;
 * - a deadline: policy `session.max_duration` from the session's start, and `identity.max_session` for an
 *   identity whose token expires (a session may outlive its token until max_session after it started).
 *
 * Pure timing logic: time and timers come in through {@link LimitTimers}, so tests drive it with fake
 * timers and the caller decides what "end the session" means. A timer never fires early: when it is due
 * it re-checks the clock and re-arms for what is left (activity only moves a timestamp, it never touches a
 * timer, so the per-chunk cost on the data path is one clock read).
 */
import type { Clock } from '../cli/ctx.js';

/** The clock and timers the limits run on (real ones from {@link systemTimers}, fake ones in tests). */
export interface LimitTimers {
  /** Milliseconds since the epoch (token expiry is a wall-clock time). */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** `allowed_hours`: the policy's time window closed (src/policy/time-window.ts). */
export type DeadlineKind = 'max_duration' | 'max_session' | 'allowed_hours';

export interface Deadline {
  kind: DeadlineKind;
  /** When the session must end (ms since the epoch). */
  at: number;
  /** The configured limit, for the message and the record. */
  limitMs: number;
}

/** A session's effective limits: the idle timeout (0 = none) and the earliest deadline. */
export interface EffectiveLimits {
  idleMs: number;
  deadline?: Deadline;
}

/** What ended the session. */
export type LimitHit =
  | { kind: 'idle_timeout'; idleMs: number; limitMs: number }
  | { kind: DeadlineKind; elapsedMs: number; limitMs: number; tokenExpiredAt?: number };

/**
 * The effective limits of a session started at `startedAt`: policy max_duration, and identity.max_session
 * when the identity's token expires (`tokenExpiresAt`): the session may continue past the token's expiry
 * until max_session after its start (identity.max_session), and not past a still-valid token's expiry if
 * that comes later. The earliest deadline wins; on a tie max_duration is named (the policy's limit).
 */
export function effectiveLimits(o: { startedAt: number; idleTimeoutMs: number; maxDurationMs: number; maxSessionMs?: number; tokenExpiresAt?: number; windowEndsAt?: number }): EffectiveLimits {
  const deadlines: Deadline[] = [{ kind: 'max_duration', at: o.startedAt + o.maxDurationMs, limitMs: o.maxDurationMs }];
  // A session that started inside allowed_hours ends when that window closes (limitMs: what it was given).
  if (o.windowEndsAt !== undefined) deadlines.push({ kind: 'allowed_hours', at: o.windowEndsAt, limitMs: Math.max(0, o.windowEndsAt - o.startedAt) });
  if (o.tokenExpiresAt !== undefined && o.maxSessionMs !== undefined) {
    deadlines.push({ kind: 'max_session', at: Math.max(o.tokenExpiresAt, o.startedAt + o.maxSessionMs), limitMs: o.maxSessionMs });
  }
  const deadline = deadlines.reduce((a, b) => (b.at < a.at ? b : a));
  return { idleMs: o.idleTimeoutMs, deadline };
}

/** setTimeout's delay is a signed 32-bit number of ms (about 24.8 days); longer waits re-arm. */
const MAX_DELAY = 2 ** 31 - 1;

export interface SessionLimitsOptions {
  limits: EffectiveLimits;
  timers: LimitTimers;
  /** When the session started (ms since the epoch), for elapsed times; default: when start() runs. */
  startedAt?: number;
  /** When the token behind the session expires, recorded with a max_session hit. */
  tokenExpiresAt?: number;
  /** True while a statement (or command) is in progress: the session is not idle. */
  busy?(): boolean;
  /** Called once, when a limit is reached; the timers are stopped by then. */
  onLimit(hit: LimitHit): void;
}

/** The timers of one session. start() once it is running; activity() on input; stop() when it ends. */
export class SessionLimits {
  #last = 0;
  #started = 0;
  #idleTimer: unknown;
  #deadlineTimer: unknown;
  #running = false;
  #hit: LimitHit | undefined;

  constructor(private readonly o: SessionLimitsOptions) {}

  /** The limit that ended the session, once one has. */
  get hit(): LimitHit | undefined {
    return this.#hit;
  }

  start(): void {
    if (this.#running || this.#hit) return;
    this.#running = true;
    const now = this.o.timers.now();
    this.#started = this.o.startedAt ?? now;
    this.#last = now;
    if (this.o.limits.idleMs > 0) this.#armIdle(this.o.limits.idleMs);
    if (this.o.limits.deadline) this.#armDeadline();
  }

  /** Input from the client, or a statement that has just ended: the idle countdown starts again. Returns now. */
  activity(): number {
    return (this.#last = this.o.timers.now());
  }

  stop(): void {
    this.#running = false;
    if (this.#idleTimer !== undefined) this.o.timers.clearTimeout(this.#idleTimer);
    if (this.#deadlineTimer !== undefined) this.o.timers.clearTimeout(this.#deadlineTimer);
    this.#idleTimer = this.#deadlineTimer = undefined;
  }

  #armIdle(ms: number): void {
    this.#idleTimer = this.o.timers.setTimeout(() => this.#idleDue(), Math.min(Math.max(ms, 1), MAX_DELAY));
  }

  #idleDue(): void {
    this.#idleTimer = undefined;
    if (!this.#running) return;
    const limit = this.o.limits.idleMs;
    const now = this.o.timers.now();
    // A running statement is not idleness; its end calls activity(), and the countdown starts there.
    if (this.o.busy?.()) { this.#last = now; this.#armIdle(limit); return; }
    const idle = now - this.#last;
    if (idle < limit) { this.#armIdle(limit - idle); return; }
    this.#fire({ kind: 'idle_timeout', idleMs: idle, limitMs: limit });
  }

  #armDeadline(): void {
    const d = this.o.limits.deadline!;
    const left = d.at - this.o.timers.now();
    if (left <= 0) { this.#deadlineDue(); return; }
    this.#deadlineTimer = this.o.timers.setTimeout(() => this.#deadlineDue(), Math.min(left, MAX_DELAY));
  }

  #deadlineDue(): void {
    this.#deadlineTimer = undefined;
    if (!this.#running) return;
    const d = this.o.limits.deadline!;
    const now = this.o.timers.now();
    if (now < d.at) { this.#armDeadline(); return; }
    this.#fire({
      kind: d.kind, elapsedMs: now - this.#started, limitMs: d.limitMs,
      ...(d.kind === 'max_session' && this.o.tokenExpiresAt !== undefined ? { tokenExpiredAt: this.o.tokenExpiresAt } : {}),
    });
  }

  #fire(hit: LimitHit): void {
    this.#hit = hit;
    this.stop();
    this.o.onLimit(hit);
  }
}

/** Real timers on `clock` (unref'd: a session's socket, not its limit timer, keeps the process alive). */
export function systemTimers(clock: Clock): LimitTimers {
  return {
    now: () => clock.now(),
    setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
    clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  };
}

/** "2 s", "15 min", "8 h": a limit as people write it. */
export function formatLimit(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}

/** What a reached limit means for the log and for the client (Postgres and SSH alike). */
export interface LimitOutcome {
  /** `session.idle_timeout` or `session.expired` (docs/log-format.md). */
  type: 'session.idle_timeout' | 'session.expired';
  detail: Record<string, unknown>;
  /** The stable `session.end` detail.reason. */
  reason: DeadlineKind | 'idle_timeout';
  /** What the person is told (Postgres: the FATAL's message; SSH: the last line before the channel closes). */
  message: string;
  /**
   * SQLSTATE of the Postgres FATAL: 57P05 idle_session_timeout (what Postgres 14+ itself sends for
   * idle_session_timeout); 57P01 admin_shutdown for a deadline — the session was ended on purpose by an
   * administrator's rule, not lost (08006 would invite drivers and pools to retry as if the network failed).
   */
  sqlstate: '57P05' | '57P01';
}

/** Maps a hit to its record, end reason and client message. `conn` names the connection in the message. */
export function limitOutcome(hit: LimitHit, conn: string, maxSessionMessage?: (ms: number) => string): LimitOutcome {
  if (hit.kind === 'idle_timeout') {
    return {
      type: 'session.idle_timeout', reason: 'idle_timeout', sqlstate: '57P05',
      detail: { idle_ms: hit.idleMs, limit_ms: hit.limitMs },
      message: `pcigate: terminating the session after ${formatLimit(hit.limitMs)} idle (session.idle_timeout of ${conn}, PCI DSS 8.2.8); connect again`,
    };
  }
  const detail: Record<string, unknown> = { limit: hit.kind, duration_ms: hit.elapsedMs, limit_ms: hit.limitMs };
  if (hit.kind === 'max_session' && hit.tokenExpiredAt !== undefined) detail.token_expired_at = new Date(hit.tokenExpiredAt).toISOString();
  return {
    type: 'session.expired', reason: hit.kind, sqlstate: '57P01', detail,
    message: hit.kind === 'max_session'
      ? (maxSessionMessage?.(hit.limitMs) ?? `pcigate: this session reached identity.max_session (${formatLimit(hit.limitMs)}) and was closed; run pcigate login and reconnect`)
      : hit.kind === 'allowed_hours'
        ? `pcigate: terminating the session: the allowed hours of ${conn} are over (session.allowed_hours); connect again when they start`
        : `pcigate: terminating the session: it reached the maximum duration of ${formatLimit(hit.limitMs)} (session.max_duration of ${conn}); connect again`,
  };
}
