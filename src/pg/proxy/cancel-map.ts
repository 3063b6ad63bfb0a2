/**
 * CancelMap: the BackendKeyData pcigate issued to its clients, mapped to the sessions that hold the real
 * upstream keys (§55.2.9 Canceling Requests in Progress). A client never learns the upstream key, so a
 * CancelRequest reaches the upstream only through the listener, where it is translated and recorded.
 */
import { randomInt } from 'node:crypto';

export interface Cancellable {
  /** Sends a CancelRequest upstream for whatever the session is running. */
  cancelUpstream(): Promise<void>;
}

export class CancelMap {
  private readonly byKey = new Map<string, Cancellable>();

  /** Issues a fresh (pid, secret) pair for `session`; both are random positive Int32 values. */
  issue(session: Cancellable): { pid: number; secret: number } {
    for (;;) {
      const pid = randomInt(1, 0x7fffffff);
      const secret = randomInt(1, 0x7fffffff);
      const key = `${pid}:${secret}`;
      if (this.byKey.has(key)) continue;
      this.byKey.set(key, session);
      return { pid, secret };
    }
  }

  lookup(pid: number, secret: number): Cancellable | undefined {
    return this.byKey.get(`${pid}:${secret}`);
  }

  release(pid: number, secret: number): void {
    this.byKey.delete(`${pid}:${secret}`);
  }

  get size(): number {
    return this.byKey.size;
  }
}
