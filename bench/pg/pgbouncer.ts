/**
 * A throwaway PgBouncer (Debian package `pgbouncer`) in session mode (or transaction mode: opts.poolMode) in
 * front of the bench's Postgres, for bench/pg/run.ts and the gate-through-PgBouncer test: its own config in a temp directory, a free loopback port, run as `nobody` when we are
 * root (PgBouncer refuses to run as root). Clients connect with `trust`; PgBouncer logs in upstream with
 * the superuser's password from its auth_file. Returns undefined when pgbouncer is not installed.
 */
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface Bouncer {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

export async function startPgBouncer(
  upstream: { host: string; port: number; database: string; user: string; password: string },
  opts: { poolMode?: 'session' | 'transaction' } = {},
): Promise<Bouncer | undefined> {
  if (spawnSync('sh', ['-c', 'command -v pgbouncer']).status !== 0) return undefined;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-bench-pgbouncer-'));
  chmodSync(dir, 0o755);
  const port = await freePort();
  const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
  writeFileSync(path.join(dir, 'userlist.txt'), `${q(upstream.user)} ${q(upstream.password)}\n`, { mode: 0o600 });
  writeFileSync(path.join(dir, 'pgbouncer.ini'), [
    '[databases]',
    `${upstream.database} = host=${upstream.host} port=${upstream.port} dbname=${upstream.database}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'auth_type = trust',
    `auth_file = ${path.join(dir, 'userlist.txt')}`,
    `pool_mode = ${opts.poolMode ?? 'session'}`,
    'max_client_conn = 200',
    'default_pool_size = 40',
    'ignore_startup_parameters = extra_float_digits,options',
    'log_connections = 0',
    'log_disconnections = 0',
    '',
  ].join('\n'));
  let ids: { uid?: number; gid?: number } = {};
  if (process.getuid?.() === 0) {
    ids = { uid: Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim()), gid: Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).trim()) };
    execFileSync('chown', ['-R', `${ids.uid}:${ids.gid}`, dir]);
  }
  const child = spawn('pgbouncer', [path.join(dir, 'pgbouncer.ini')], { ...ids, cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  const end = Date.now() + 10_000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null || Date.now() > end) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`pgbouncer did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    pid: child.pid!,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGINT');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
