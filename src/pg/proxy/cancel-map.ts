/**
 * CancelMap: the BackendKeyData pcigate issued to its clients, mapped to the sessions that hold the real
 * upstream keys (§55.2.9 Canceling Requests in Progress). A client never learns the upstream secret key, so a
 * CancelRequest reaches the upstream only through the listener, where it is translated and recorded.
 */
import { randomInt } from 'node:crypto';

export interface Cancellable {
  /** Sends a CancelRequest upstream for whatever the session is running. */
  cancelUpstream(): Promise<void>;
}

export class CancelMap {
  private readonly byKey = new Map<string, Cancellable>();

  /**
   * Issues a (pid, secret) pair for `session`: the secret a random positive Int32, the pid the upstream
   * backend's own when known. The pid is no secret (pg_backend_pid(), pg_stat_activity show it), and clients
   * compare it with NotificationResponse's to tell their own notifications apart (§55.2.7); only the secret
   * stands between a client and another session's cancel. Random when the server sent no BackendKeyData.
   */
  issue(session: Cancellable, upstreamPid?: number): { pid: number; secret: number } {
    for (;;) {
      const pid = upstreamPid !== undefined && upstreamPid > 0 ? upstreamPid : randomInt(1, 0x7fffffff);
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
