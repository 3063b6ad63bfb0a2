/**
 * One proxy for bench/pg/run.ts, in its own process so that its peak RSS (VmHWM) and CPU profile are its
 * own: `node dist/bench/pg/serve.js <mode> <upstream host> <upstream port> <database> <user> <password>`.
 * Modes:
 * - `fsync` / `os`: what `pcigate connect` runs (connectPg, src/broker/pg-connect.ts), audit.durability as
 *   named: the same config path, audit log, local identity (identity.allow_local), per-session hooks
 *   (pgHooksFor: libpg-query classification and the policy decision, the PAN masker on every result
 *   message, session limits), transcripts and outbox drain. The config is benchConfig() below: masking
 *   with its defaults; one role granted read, copy_out (the large COPY) and current_schemas() (pgbench's
 *   start-up check) on every table (the default); policy defaults otherwise (idle_timeout 15m,
 *   max_duration 8h); sslmode disable because the bench's PostgreSQL has no TLS.
 * - `relay`: a bare Node socket pipe, the floor any proxy in Node pays.
 * - `os-nohooks`: pcigate's broker with recording (os durability, transcripts) but NO policy or masking
 *   hooks: not what any pcigate command runs, only to see what the hooks cost. BENCH_NO_TRANSCRIPTS=1
 *   turns its transcripts off.
 * - `unrecorded`: pcigate's proxy with a sink that writes nothing and no hooks, for profiling.
 * Prints one JSON line `{port, password}` on stdout once listening; closes cleanly (log.stop, final
 * checkpoint) when stdin closes or on SIGTERM. For profiling, run it under `node --cpu-prof`;
 * BENCH_KEEP_HOME=1 keeps the audit home.
 */
import { mkdtempSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { openAuditLog } from '../../recorder/index.js';
import { localIdentity } from '../../src/broker/identity-provider.js';
import { startPgBroker } from '../../src/broker/pg-broker.js';
import { connectPg } from '../../src/broker/pg-connect.js';
import { systemClock, type Ctx } from '../../src/cli/ctx.js';
import { capYoungGeneration } from '../../src/cli/young-generation.js';
import { configSchema, type PcigateConfig, type PostgresConnection } from '../../src/config/index.js';

const MODES = ['relay', 'fsync', 'os', 'os-nohooks', 'unrecorded'] as const;
type Mode = (typeof MODES)[number];
const [modeArg, host, portText, database, user, password] = process.argv.slice(2);
if (!MODES.includes(modeArg as Mode) || !host || !portText || !database || !user || password === undefined) {
  process.stderr.write(`usage: serve.js ${MODES.join('|')} HOST PORT DATABASE USER PASSWORD\n`);
  process.exit(2);
}
const mode = modeArg as Mode;
// As bin/pcigate.js does, before anything else: pcigate's proxies run with it, the bare relay does not.
if (mode !== 'relay') capYoungGeneration();
const port = Number(portText);
const clock = systemClock();
const logger = { debug: () => {}, warn: (m: string) => { process.stderr.write(`warning: ${m}\n`); } };
/** The upstream password reaches connectPg as `pcigate connect` gets it: a secret reference, here env:. */
const PASSWORD_ENV = 'PCIGATE_BENCH_PG_PASSWORD';

interface Served { port: number; password: string; close(): Promise<void> }

/** Bare relay: accept, connect upstream, pipe both ways. */
async function bareRelay(): Promise<Served> {
  const server = net.createServer({ noDelay: true }, (c) => {
    const u = net.connect({ host: host!, port, noDelay: true });
    c.pipe(u).on('error', () => c.destroy());
    u.pipe(c).on('error', () => u.destroy());
    c.on('error', () => u.destroy());
    u.on('error', () => c.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port, password: password!,
    close: () => new Promise<void>((r) => { server.close(() => r()); }),
  };
}

/** A realistic pcigate.yaml for the bench: defaults everywhere but what a local postgres connection needs. */
function benchConfig(durability: 'fsync' | 'os', userName: string): PcigateConfig {
  return configSchema.parse({
    connections: {
      bench: { kind: 'postgres', host, port, database, user, password: `env:${PASSWORD_ENV}`, sslmode: 'disable' },
    },
    identity: { allow_local: true },
    audit: { durability },
    masking: {},
    policy: {
      roles: { analyst: { subjects: [userName] } },
      connections: {
        // pgbench's start-up partitioning check calls current_schemas(): allowed by name, as a user would.
        bench: { roles: { analyst: { classes: ['read', 'copy_out', 'transaction', 'utility'], functions: { allow: ['current_schemas'] } } } },
      },
    },
  });
}

async function removeHome(home: string): Promise<void> {
  if (process.env.BENCH_KEEP_HOME) process.stderr.write(`audit home kept: ${home}\n`);
  else await fsp.rm(home, { recursive: true, force: true });
}

/** `pcigate connect bench` in this process, until close(). */
async function connect(durability: 'fsync' | 'os'): Promise<Served> {
  const home = mkdtempSync(path.join(os.tmpdir(), `pcigate-bench-${durability}-`));
  const interrupt = new AbortController();
  const ctx: Ctx = {
    stdout: process.stderr, stderr: process.stderr, stdin: process.stdin,
    env: { [PASSWORD_ENV]: password, HOME: home }, cwd: home, clock, fs: fsp,
    fetch: globalThis.fetch.bind(globalThis), log: logger, user: { name: 'bench', uid: 0 }, interrupt: interrupt.signal,
  };
  const config = benchConfig(durability, ctx.user.name);
  const conn = config.connections.bench as PostgresConnection;
  let onReady!: (info: { port: number; password: string }) => void;
  const ready = new Promise<{ port: number; password: string }>((r) => { onReady = r; });
  const running = connectPg(ctx, { config, name: 'bench', conn, home, ready: (info) => onReady(info) });
  const info = await Promise.race([ready, running.then((code) => { throw new Error(`connect exited (${code}) before listening`); })]);
  return {
    port: info.port, password: info.password,
    async close() {
      interrupt.abort();
      await running;
      await removeHome(home);
    },
  };
}

/** pcigate's broker, recorded (os durability), without policy or masking hooks: what the hooks cost. */
async function noHooks(): Promise<Served> {
  const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-bench-nohooks-'));
  const ctx = { fs: fsp, clock, log: logger, env: {}, cwd: home, user: { name: 'bench', uid: 0 } } as never;
  const audit = await openAuditLog(ctx, { home, createIfMissing: true, durability: 'os' });
  const broker = await startPgBroker({
    conn: 'bench', target: { host: host!, port, database: database!, user: user!, password: password!, sslmode: 'disable' },
    sink: audit, identity: localIdentity({ name: 'bench', uid: 0 }, true), clock, fs: fsp, log: logger, home,
    ...(process.env.BENCH_NO_TRANSCRIPTS ? { transcripts: false } : {}),
  });
  return {
    port: broker.port, password: broker.secret,
    async close() {
      await broker.close();
      await audit.close();
      await removeHome(home);
    },
  };
}

async function unrecorded(): Promise<Served> {
  const sink = { append: () => Promise.resolve({ seq: 0, leaf: '' }), commitBlob: () => Promise.resolve({ sha256: '', kind: '', bytes: 0 }) };
  const broker = await startPgBroker({
    conn: 'bench', target: { host: host!, port, database: database!, user: user!, password: password!, sslmode: 'disable' },
    sink, identity: localIdentity({ name: 'bench', uid: 0 }, true), clock, fs: fsp, log: { debug: () => {}, warn: () => {} }, home: os.tmpdir(), transcripts: false,
  });
  return { port: broker.port, password: broker.secret, close: () => broker.close() };
}

const server = mode === 'relay' ? await bareRelay()
  : mode === 'os-nohooks' ? await noHooks()
  : mode === 'unrecorded' ? await unrecorded()
  : await connect(mode);
process.stdout.write(`${JSON.stringify({ port: server.port, password: server.password })}\n`);
let closing = false;
const stop = () => {
  if (closing) return;
  closing = true;
  server.close().then(() => process.exit(0), (e: unknown) => { process.stderr.write(`close failed: ${String(e)}\n`); process.exit(1); });
};
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
