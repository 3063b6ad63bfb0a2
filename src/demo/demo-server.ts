/**
 * `pcigate demo` (interactive): the local listener in front of the seeded database, with the demo's policy
 * and masking (the same pgHooksFor as `pcigate connect` / `exec`), every session recorded in the demo's data
 * home. The person at psql is the demo engineer. Runs until `signal` (Ctrl-C), then closes the listener and
 * the log and stops PostgreSQL; the caller removes the directory.
 */
import { auditLogOptionsFromConfig } from '../../recorder/index.js';
import type { Ctx } from '../cli/ctx.js';
import { localIdentity } from '../broker/identity-provider.js';
import { upstreamTarget } from '../broker/pg-connect.js';
import { startOutboxDrain } from '../broker/outbox-drain.js';
import { startPgBroker } from '../broker/pg-broker.js';
import { pgHooksFor } from '../broker/pg-hooks.js';
import { loadConfig } from '../config/load-config.js';
import { DemoError } from '../errors.js';
import { DEMO_CONNECTION, DEMO_PEOPLE } from './demo-setup.js';
import type { DemoEnv } from './demo-env.js';
import { openAuditLogWaiting } from '../sessions/audit-access.js';

export interface DemoListener {
  host: string;
  port: number;
  user: string;
  database: string;
  password: string;
  psql: string;
}

/** Serves until `signal` aborts; `ready` is called once the listener is bound. */
export async function serveDemo(base: Ctx, env: DemoEnv, signal: AbortSignal, ready: (l: DemoListener) => void): Promise<void> {
  const ctx: Ctx = {
    stdout: base.stdout, stderr: base.stderr, stdin: base.stdin, env: env.env, cwd: base.cwd, clock: base.clock,
    fs: base.fs, fetch: base.fetch, log: base.log, user: { name: DEMO_PEOPLE.engineer, uid: base.user.uid }, interrupt: signal,
    ...(base.processes ? { processes: base.processes } : {}),
  };
  const { config } = await loadConfig(ctx, { path: env.configPath });
  const conn = config.connections[DEMO_CONNECTION];
  if (!conn || conn.kind !== 'postgres') throw new DemoError('the demo configuration has no postgres connection');
  const target = await upstreamTarget(ctx, conn);
  const log = await openAuditLogWaiting(ctx, auditLogOptionsFromConfig(env.home, config.audit, { createIfMissing: { origin: config.audit.origin ?? 'pcigate.demo' } }));
  try {
    const hooksFor = await pgHooksFor(ctx, { config, name: DEMO_CONNECTION, target, home: env.home, sink: log, signal });
    const broker = await startPgBroker({
      conn: DEMO_CONNECTION, target, sink: log, identity: localIdentity(ctx.user, true), clock: ctx.clock, fs: ctx.fs,
      log: ctx.log, home: env.home, bind: '127.0.0.1', port: 0, hooksFor, admit: hooksFor.admit, networks: config.masking.networks,
    });
    // The tour's `pcigate approve/verify/sessions` run while this listener owns the log: drain their records.
    const drainer = startOutboxDrain({ fs: ctx.fs, home: env.home, sink: log, log: ctx.log });
    try {
      ready({
        host: broker.host, port: broker.port, user: broker.user, database: broker.database, password: broker.secret,
        psql: `psql 'host=${broker.host} port=${broker.port} user=${broker.user} dbname=${broker.database} password=${broker.secret} sslmode=disable'`,
      });
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        else signal.addEventListener('abort', () => resolve(), { once: true });
      });
    } finally {
      await drainer.stop();
      await broker.close();
      await drainer.drainNow();
    }
  } finally {
    await log.close();
  }
}
