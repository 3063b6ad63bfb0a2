/**
 * A long-running broker (`pcigate connect`, Postgres and SSH, and the `pcigate demo` listener) owns the
 * audit log, so `pcigate approve/deny/verify/sessions/replay/evidence` park their records in the audit
 * outbox meanwhile (src/policy/audit-outbox.ts). This moves them into the hash-chained log every few
 * seconds, so audit-log access (PCI DSS 10.2.1.3) and approvals (7.2.3) are in the log while the session
 * runs rather than only when the broker next checks an approval or closes. The timer is unref'd (it never
 * keeps a process alive); a failed drain is a warning and is retried at the next tick (the outbox keeps
 * every record until it has been appended), it never ends the broker; ticks never overlap.
 */
import type { AuditSink } from '../../recorder/types.js';
import type { Fs, Logger } from '../cli/ctx.js';
import { drainOutbox } from '../policy/audit-outbox.js';

/** How often a broker drains the outbox by default. */
export const OUTBOX_DRAIN_MS = 2_000;

export interface OutboxDrainer {
  /** Drains once now (also used at shutdown); resolves with how many records moved, 0 on failure. */
  drainNow(): Promise<number>;
  /** Stops the timer and waits for a drain in progress. */
  stop(): Promise<void>;
}

export function startOutboxDrain(o: { fs: Fs; home: string; sink: AuditSink; log: Logger; everyMs?: number }): OutboxDrainer {
  let running: Promise<number> | undefined;
  let stopped = false;
  const drainNow = (): Promise<number> => {
    running ??= drainOutbox(o.fs, o.home, o.sink)
      .catch((e: unknown) => {
        o.log.warn(`audit outbox: could not move records into the log (will retry): ${e instanceof Error ? e.message : String(e)}`);
        return 0;
      })
      .finally(() => { running = undefined; });
    return running;
  };
  const timer = setInterval(() => { if (!stopped) void drainNow(); }, o.everyMs ?? OUTBOX_DRAIN_MS);
  timer.unref();
  return {
    drainNow,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
