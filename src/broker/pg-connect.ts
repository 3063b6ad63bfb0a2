/**
 * `pcigate connect NAME` for a postgres connection: loads the config, resolves the broker-held
 * credential, opens the audit log, starts the broker's loopback listener and reports where to connect;
 * then either runs until interrupted (every open session is closed with a session.end) or runs a program
 * (`--exec`) with PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE set and returns its exit code.
 */
import { spawn } from 'node:child_process';
import { auditLogOptionsFromConfig } from '../../recorder/index.js';
import type { Ctx } from '../cli/ctx.js';
import { resolveHome } from '../cli/home.js';
import { isLoopbackHost } from '../config/loopback.js';
import { resolveSecret } from '../config/secrets.js';
import type { PcigateConfig } from '../config/index.js';
import type { PostgresConnection } from '../config/sections/connections.js';
import { UsageError } from '../errors.js';
import type { UpstreamTarget } from '../pg/proxy/upstream.js';
import type { IdentityProvider } from './identity-provider.js';
import { localTlsContext } from './local-tls.js';
import { startOutboxDrain } from './outbox-drain.js';
import { startPgBroker } from './pg-broker.js';
import { pgHooksFor } from './pg-hooks.js';
import { sessionActor } from './session-identity.js';
import { openAuditLogWaiting } from '../sessions/audit-access.js';

export interface ConnectOptions {
  /** The loaded configuration and the connection's name and entry in it (the command looks them up once). */
  config: PcigateConfig;
  name: string;
  conn: PostgresConnection;
  home?: string;
  port?: number;
  bind?: string;
  tls?: boolean;
  /** Program and arguments for --exec. */
  exec?: string[];
  /** Called once the listener is up, with what a client needs. */
  ready(info: ConnectInfo): void;
}

export interface ConnectInfo {
  connection: string;
  host: string;
  port: number;
  user: string;
  database: string;
  /** The per-listener secret: the password local clients use. */
  password: string;
  url: string;
  psql: string;
  env: Record<string, string>;
}

/** Builds the upstream target from a postgres connection, resolving its secret reference. */
export async function upstreamTarget(ctx: Ctx, c: PostgresConnection): Promise<UpstreamTarget> {
  const t: UpstreamTarget = {
    host: c.socket ?? c.host!, port: c.port, database: c.database, user: c.user, sslmode: c.sslmode,
    connectTimeoutMs: c.connect_timeout,
  };
  if (c.password) t.password = await resolveSecret(ctx, c.password);
  if (c.ca_file) t.ca = await ctx.fs.readFile(c.ca_file, 'utf8');
  return t;
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Runs the listener until ctx.interrupt (or the --exec program) ends; returns the exit code. */
export async function connectPg(ctx: Ctx, o: ConnectOptions): Promise<number> {
  const { config, conn } = o;
  const home = resolveHome(ctx, o.home, config.audit.dir);
  const bind = o.bind ?? conn.listen.host;
  if (!o.tls && !isLoopbackHost(bind)) {
    throw new UsageError(`refusing to listen on ${bind} without TLS: the session would cross the network in clear text`, {
      hint: 'add --tls (clients then connect with sslmode=require), or listen on a loopback address such as 127.0.0.1',
    });
  }
  const target = await upstreamTarget(ctx, conn);
  // pcigate.yaml's audit settings (checkpoints, epoch, segment size, durability) apply to this log.
  const log = await openAuditLogWaiting(ctx, auditLogOptionsFromConfig(home, config.audit, { createIfMissing: true }));
  try {
    // Fails before listening when there is no identity at all: the user learns it now, not from psql.
    const actor = await sessionActor(ctx, { config, name: o.name, conn, home, sink: log });
    const identity: IdentityProvider = { actor };
    // Policy (allow / deny / hold per statement) and masking (every data-carrying message), as for exec.
    const shutdown = new AbortController();
    ctx.interrupt.addEventListener('abort', () => shutdown.abort(), { once: true });
    const hooksFor = await pgHooksFor(ctx, { config, name: o.name, target, home, sink: log, signal: shutdown.signal, tokenExpiry: actor.expiresAt });
    const broker = await startPgBroker({
      conn: o.name, target, sink: log, identity, clock: ctx.clock, fs: ctx.fs, log: ctx.log, home, hooksFor, admit: hooksFor.admit,
      bind, port: o.port ?? conn.listen.port, upstreamSuperuser: conn.upstream_superuser, networks: config.masking.networks,
      ...(o.tls ? { tls: await localTlsContext(ctx.fs, home, conn.tls) } : {}),
    });
    // Records of approve/deny/verify/sessions/… run meanwhile reach the log within seconds (outbox-drain.ts).
    const drainer = startOutboxDrain({ fs: ctx.fs, home, sink: log, log: ctx.log });
    const sslmode = o.tls ? 'require' : 'disable';
    const env = {
      PGHOST: broker.host, PGPORT: String(broker.port), PGUSER: broker.user, PGPASSWORD: broker.secret,
      PGDATABASE: broker.database, PGSSLMODE: sslmode,
    };
    o.ready({
      connection: o.name, host: broker.host, port: broker.port, user: broker.user, database: broker.database,
      password: broker.secret, url: broker.url, env,
      psql: `psql ${shellQuote(`host=${broker.host} port=${broker.port} user=${broker.user} dbname=${broker.database} password=${broker.secret} sslmode=${sslmode}`)}`,
    });
    try {
      if (o.exec && o.exec.length > 0) return await runProgram(ctx, o.exec, env);
      await new Promise<void>((resolve) => {
        if (ctx.interrupt.aborted) resolve();
        else ctx.interrupt.addEventListener('abort', () => resolve(), { once: true });
      });
      return 0;
    } finally {
      await drainer.stop();
      await broker.close();
      await drainer.drainNow();
    }
  } finally {
    await log.close();
  }
}

function runProgram(ctx: Ctx, argv: string[], env: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env: { ...ctx.env, ...env }, stdio: 'inherit' });
    const onAbort = () => child.kill('SIGTERM');
    ctx.interrupt.addEventListener('abort', onAbort, { once: true });
    child.once('error', (e) => reject(new UsageError(`could not run ${argv[0]}: ${e.message}`, { cause: e })));
    child.once('exit', (code, signal) => {
      ctx.interrupt.removeEventListener('abort', onAbort);
      resolve(code ?? (signal ? 128 + (signalNumber(signal) ?? 1) : 1));
    });
  });
}

function signalNumber(sig: NodeJS.Signals): number | undefined {
  return ({ SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[sig];
}
