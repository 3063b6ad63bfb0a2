/**
 * startSshGate(): pcigate's SSH listener in this process (startSshBroker) for a connection `prod-ssh` to a real
 * sshd (startSshd), recording to an audit log in a temp data home, as the SSH integration tests use it; close()
 * ends the listener, the log and the sshd, in that order.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { openAuditLog } from '../../recorder/index.js';
import type { AuditLog } from '../../recorder/index.js';
import { startSshBroker } from '../../src/broker/ssh-broker.js';
import type { SshBroker } from '../../src/broker/ssh-broker.js';
import { systemClock } from '../../src/cli/ctx.js';
import { sshConnection } from '../../src/config/sections/connections.js';
import { tempDir } from './cli.js';
import { startSshd } from './sshd.js';
import type { Sshd } from './sshd.js';
import { testCtx } from './test-ctx.js';

/**
 * The config fields of an ssh connection to `sshd` (its host key pinned) whose policy is `allow`, `extra` added
 * or overriding. The broker gets the client key as credentials, so private_key names a variable never read.
 */
export function sshdConnectionFields(sshd: Sshd, allow: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { kind: 'ssh', host: sshd.host, port: sshd.port, user: sshd.user, private_key: 'env:UNUSED_IN_TEST', host_key: sshd.hostKeyLine, allow, ...extra };
}

export interface SshGate {
  sshd: Sshd;
  /** The data home the log and the recordings are in. */
  home: string;
  log: AuditLog;
  broker: SshBroker;
  /** What the broker was given (a real clock, the real file system, warnings on stderr), for more brokers. */
  ctx: ReturnType<typeof testCtx>;
  /** `home`/askpass.sh: an SSH_ASKPASS script that answers the broker's secret, when `askpass` was asked for. */
  askpass: string;
  /** How many times the broker resolved its actor (alice; `known()` answers without resolving). */
  resolves(): number;
  close(): Promise<void>;
}

export interface SshGateOptions {
  /** Prefix of the temp data home's name. */
  homePrefix: string;
  /** The connection's `allow` section. */
  allow: Record<string, unknown>;
  /** More fields of the connection (sshdConnectionFields). */
  conn?: Record<string, unknown>;
  /** Write the askpass script for the OpenSSH client. */
  askpass?: boolean;
}

/** Starts an sshd, opens an audit log in a new temp home and starts the broker for `prod-ssh` (user alice, local). */
export async function startSshGate(o: SshGateOptions): Promise<SshGate> {
  const ctx = testCtx({ clock: systemClock() as never, log: { debug: () => {}, warn: (m: string) => { process.stderr.write(`warn: ${m}\n`); } } });
  const sshd = await startSshd();
  let log: AuditLog | undefined;
  try {
    const home = tempDir(o.homePrefix);
    const askpass = path.join(home, 'askpass.sh');
    const opened = await openAuditLog(ctx, { home, createIfMissing: true, idleMs: 50 });
    log = opened;
    const alice = { sub: 'alice', via: 'local' as const, idp: 'local' };
    let resolves = 0;
    const actor = Object.assign(async () => { resolves++; return alice; }, { known: () => alice });
    const broker = await startSshBroker({
      name: 'prod-ssh',
      conn: sshConnection.parse(sshdConnectionFields(sshd, o.allow, o.conn)),
      credentials: { privateKey: sshd.clientKey }, sink: opened, actor,
      clock: ctx.clock, fs: ctx.fs, log: ctx.log, home,
    });
    if (o.askpass) {
      writeFileSync(askpass, `#!/bin/sh\necho '${broker.secret}'\n`);
      chmodSync(askpass, 0o700);
    }
    return {
      sshd, home, log: opened, broker, ctx, askpass,
      resolves: () => resolves,
      async close() {
        await broker.close();
        await opened.close();
        await sshd.stop();
      },
    };
  } catch (err) {
    // Half started: end what did start, so that a failed beforeAll leaves no sshd behind.
    await log?.close().catch(() => undefined);
    await sshd.stop();
    throw err;
  }
}
