/**
 * Failures that anyone who can reach a listener may cause without logging in: a wrong listener secret
 * (`auth.fail`) or a CancelRequest with an unknown key (`pg.cancel`). Each is recorded (PCI DSS 10.2.1.4),
 * but one process must not be able to grow the audit log without bound with them: a full log makes pcigate
 * refuse every session. So per kind and source address, the first `burst` in a window are recorded one by
 * one; the rest are counted, and when the window ends (or the listener closes) one record of the same type,
 * the last of them, says how many it stands for (`detail.repeated`, `first_at`, `last_at`,
 * docs/log-format.md). Nothing is dropped unaccounted for.
 */
import type { AuditEvent } from '../../recorder/types.js';
import { Pending } from './pending.js';

export interface FailureRecordsOptions {
  /** Appends one record; a rejection is the caller's to report (`warn`). */
  append(e: AuditEvent): Promise<unknown>;
  warn(message: string): void;
  now(): number;
  /** Records written one by one per kind and address in a window. */
  burst?: number;
  windowMs?: number;
  /** What one window counts together; default the record's type and source address. */
  key?(e: AuditEvent): string;
}

interface Bucket {
  start: number;
  count: number;
  suppressed: number;
  firstAt: number;
  lastAt: number;
  last: AuditEvent | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export const FAILURE_BURST = 20;
export const FAILURE_WINDOW_MS = 60_000;

export class FailureRecords {
  private readonly buckets = new Map<string, Bucket>();
  private readonly pending = new Pending();
  private readonly burst: number;
  private readonly windowMs: number;

  constructor(private readonly o: FailureRecordsOptions) {
    this.burst = o.burst ?? FAILURE_BURST;
    this.windowMs = o.windowMs ?? FAILURE_WINDOW_MS;
  }

  /** Records `e` now, or counts it towards its window's summary. */
  record(e: AuditEvent): void {
    const key = this.o.key ? this.o.key(e) : `${e.type}\0${e.src?.ip ?? ''}`;
    const now = this.o.now();
    let b = this.buckets.get(key);
    if (b && now - b.start >= this.windowMs) {
      this.summarise(key, b);
      b = undefined;
    }
    if (!b) {
      b = { start: now, count: 0, suppressed: 0, firstAt: now, lastAt: now, last: undefined, timer: undefined };
      this.buckets.set(key, b);
    }
    if (b.count < this.burst) {
      b.count++;
      this.write(e);
      return;
    }
    if (b.suppressed === 0) b.firstAt = now;
    b.suppressed++;
    b.lastAt = now;
    b.last = e;
    if (!b.timer) {
      const bucket = b;
      b.timer = setTimeout(() => { if (this.buckets.get(key) === bucket) this.summarise(key, bucket); }, Math.max(0, b.start + this.windowMs - now));
      b.timer.unref();
    }
  }

  /** Writes what windows still hold and waits for every record (before the log closes). */
  async close(): Promise<void> {
    for (const [key, b] of [...this.buckets]) this.summarise(key, b);
    await this.pending.settled();
  }

  private summarise(key: string, b: Bucket): void {
    this.buckets.delete(key);
    if (b.timer) clearTimeout(b.timer);
    if (b.suppressed === 0 || !b.last) return;
    const detail = {
      ...(b.last.detail ?? {}),
      repeated: b.suppressed, first_at: new Date(b.firstAt).toISOString(), last_at: new Date(b.lastAt).toISOString(),
    };
    this.write({ ...b.last, detail });
  }

  private write(e: AuditEvent): void {
    this.pending.add(this.o.append(e).then(
      () => undefined,
      (err: unknown) => { this.o.warn(`${e.type} could not be recorded: ${err instanceof Error ? err.message : String(err)}`); },
    ));
  }
}
