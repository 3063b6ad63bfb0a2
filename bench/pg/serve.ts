/**
 * One proxy for bench/pg/run.ts, in its own process so that its peak RSS (VmHWM) and CPU profile are its
 * own: `node dist/bench/pg/serve.js <mode> <upstream host> <upstream port> <database> <user> <password>`,
 * where mode is `relay` (a bare Node socket pipe: the floor any proxy in Node pays), `fsync` / `os`
 * (pcigate with recording on, audit.durability as named) or `unrecorded` (pcigate's proxy with a sink that
 * writes nothing, for profiling). Prints one JSON line `{port, password}` on stdout once listening; closes
 * cleanly (log.stop, final checkpoint) when stdin closes or on SIGTERM. For profiling, run it under
 * `node --cpu-prof`; BENCH_NO_TRANSCRIPTS=1 turns transcripts off, BENCH_KEEP_HOME=1 keeps the audit home.
 */
import { mkdtempSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { openAuditLog } from '../../recorder/index.js';
import { localIdentity } from '../../src/broker/identity-provider.js';
import { startPgBroker } from '../../src/broker/pg-broker.js';
import { systemClock } from '../../src/cli/ctx.js';

const [mode, host, portText, database, user, password] = process.argv.slice(2);
if (!mode || !host || !portText || !database || !user || password === undefined) {
  process.stderr.write('usage: serve.js relay|fsync|os|unrecorded HOST PORT DATABASE USER PASSWORD\n');
  process.exit(2);
}
const port = Number(portText);

/** Bare relay: accept, connect upstream, pipe both ways. */
async function bareRelay(): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer({ noDelay: true }, (c) => {
    const u = net.connect({ host: host!, port, noDelay: true });
    c.pipe(u).on('error', () => c.destroy());
    u.pipe(c).on('error', () => u.destroy());
    c.on('error', () => u.destroy());
    u.on('error', () => c.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((r) => { server.close(() => r()); }),
  };
}

async function pcigate(durability: 'fsync' | 'os'): Promise<{ port: number; password: string; close(): Promise<void> }> {
  const home = mkdtempSync(path.join(os.tmpdir(), `pcigate-bench-${durability}-`));
  const clock = systemClock();
  const logger = { debug: () => {}, warn: (m: string) => { process.stderr.write(`warning: ${m}\n`); } };
  const ctx = { fs: fsp, clock, log: logger, env: {}, cwd: home, user: { name: 'bench', uid: 0 } } as never;
  const audit = await openAuditLog(ctx, { home, createIfMissing: true, durability });
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
      if (process.env.BENCH_KEEP_HOME) process.stderr.write(`audit home kept: ${home}\n`);
      else await fsp.rm(home, { recursive: true, force: true });
    },
  };
}

async function unrecorded(): Promise<{ port: number; password: string; close(): Promise<void> }> {
  const clock = systemClock();
  const logger = { debug: () => {}, warn: () => {} };
  const sink = { append: () => Promise.resolve({ seq: 0, leaf: '' }), commitBlob: () => Promise.resolve({ sha256: '', kind: '', bytes: 0 }) };
  const broker = await startPgBroker({
    conn: 'bench', target: { host: host!, port, database: database!, user: user!, password: password!, sslmode: 'disable' },
    sink, identity: localIdentity({ name: 'bench', uid: 0 }, true), clock, fs: fsp, log: logger, home: os.tmpdir(), transcripts: false,
  });
  return { port: broker.port, password: broker.secret, close: () => broker.close() };
}

const server = mode === 'relay' ? { ...(await bareRelay()), password }
  : mode === 'unrecorded' ? await unrecorded()
  : await pcigate(mode === 'os' ? 'os' : 'fsync');
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
