/**
 * startSshd(): a real OpenSSH sshd on a free loopback port, with throwaway host keys and an authorized key
 * for the broker, in a temp dir; torn down by stop() (and on process exit). The sshd binary comes from
 * Debian's openssh-server (.ci/run installs it); `sshdAvailable()` lets a test file skip with a visible
 * reason where it is absent.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import type { Client, ClientChannel } from 'ssh2';
import { listenSsh, sshThrough, tempDir } from './cli.js';
import type { SshListener, SshRun } from './cli.js';

const SSHD = ['/usr/sbin/sshd', '/usr/local/sbin/sshd'].find((p) => existsSync(p));

export function sshdAvailable(): string | undefined {
  return SSHD ? undefined : 'OpenSSH sshd is not installed (apt-get install openssh-server)';
}

export interface Sshd {
  host: string;
  port: number;
  user: string;
  /** OpenSSH private key (PEM/OpenSSH format) authorised for `user`. */
  clientKey: string;
  clientKeyPath: string;
  /** The server's ed25519 host key as a known_hosts line without host, and its SHA256 fingerprint. */
  hostKeyLine: string;
  hostKeyFingerprint: string;
  /** Another valid ed25519 public key line, for wrong-pin tests. */
  otherHostKeyLine: string;
  dir: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function keygen(file: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file]);
}

function fingerprint(pubLine: string): string {
  const out = execFileSync('ssh-keygen', ['-lf', '-', '-E', 'sha256'], { input: pubLine }).toString();
  return out.split(/\s+/)[1]!;
}

export async function startSshd(): Promise<Sshd> {
  if (!SSHD) throw new Error(sshdAvailable());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-sshd-'));
  chmodSync(dir, 0o755);
  const hostKey = path.join(dir, 'host_ed25519');
  const otherKey = path.join(dir, 'other_ed25519');
  const clientKeyPath = path.join(dir, 'client_ed25519');
  keygen(hostKey);
  keygen(otherKey);
  keygen(clientKeyPath);
  const authorized = path.join(dir, 'authorized_keys');
  writeFileSync(authorized, readFileSync(`${clientKeyPath}.pub`));
  chmodSync(authorized, 0o600);
  const port = await freePort();
  const user = os.userInfo().username;
  const config = path.join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${authorized}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'PermitRootLogin prohibit-password',
      'StrictModes no',
      'UsePAM no',
      'AllowTcpForwarding yes',
      'AllowAgentForwarding yes',
      'X11Forwarding no',
      `Subsystem sftp internal-sftp`,
      'PrintMotd no',
      'PrintLastLog no',
      'AcceptEnv LANG LC_* PCIGATE_*',
      // MARK tags every process a session starts, so stop() ends what a test left running "remotely".
      // SHLVL=1 keeps Debian's bash from sourcing the user's ~/.bashrc for a command run over ssh (it does
      // so only at shell level 1, and this makes it 2): the "remote host" must not run whatever the machine's
      // rc files do (pyenv init takes a lock and seconds per session here, enough to trip idle timers).
      `SetEnv ${MARK}=${dir} SHLVL=1`,
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  // sshd insists on /run/sshd for privilege separation when run as root.
  if (process.getuid?.() === 0 && !existsSync('/run/sshd')) execFileSync('mkdir', ['-p', '-m', '0755', '/run/sshd']);
  const child: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => { stderr += c.toString(); });
  const kill = () => { try { child.kill('SIGKILL'); } catch { /* already gone */ } };
  process.once('exit', kill);
  await waitForPort(port, child, () => stderr);
  const hostKeyLine = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  const otherHostKeyLine = readFileSync(`${otherKey}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  return {
    host: '127.0.0.1',
    port,
    user,
    clientKey: readFileSync(clientKeyPath, 'utf8'),
    clientKeyPath,
    hostKeyLine,
    hostKeyFingerprint: fingerprint(hostKeyLine),
    otherHostKeyLine,
    dir,
    async stop() {
      process.removeListener('exit', kill);
      // The listener's per-connection children outlive it, and a session's processes (a detached `sleep`,
      // a shell whose client went away) outlive those: end both, or they pile up over a test run.
      const left = [...descendants(child.pid), ...marked(dir)];
      if (child.exitCode === null) {
        const done = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await done;
      }
      // SIGTERM first, SIGKILL what is left: a shell killed outright cannot run its exit traps, and a lock
      // one held (pyenv's rehash in a ~/.bashrc, say) would then stall every later session on this machine.
      const signal = (pids: Iterable<number>, sig: NodeJS.Signals) => {
        for (const pid of pids) try { process.kill(pid, sig); } catch { /* already gone */ }
      };
      const stragglers = () => [...new Set([...left, ...marked(dir)])].filter((pid) => existsSync(`/proc/${pid}`) && !zombie(pid));
      signal(stragglers(), 'SIGTERM');
      for (let i = 0; i < 40 && stragglers().length > 0; i++) await new Promise((r) => setTimeout(r, 50));
      signal(stragglers(), 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const MARK = 'SSHD_HARNESS_MARK';

/** Pids of processes started by a session of the sshd in `dir` (its SetEnv mark), wherever they were reparented. */
function marked(dir: string): number[] {
  const needle = `\0${MARK}=${dir}\0`;
  return procPids().filter((pid) => {
    try {
      return `\0${readFileSync(`/proc/${pid}/environ`, 'latin1')}`.includes(needle);
    } catch {
      return false; // gone, or not ours to read
    }
  });
}

/** Pids of every process below `root` in the parent tree. */
function descendants(root: number | undefined): number[] {
  if (root === undefined) return [];
  const parent = new Map<number, number>();
  for (const pid of procPids()) {
    try {
      // Field 4 of /proc/PID/stat, after the parenthesised command (which may hold spaces and parentheses).
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      parent.set(pid, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* gone */ }
  }
  const out: number[] = [];
  const below = (p: number) => { for (const [pid, pp] of parent) if (pp === p) { out.push(pid); below(pid); } };
  below(root);
  return out;
}

function zombie(pid: number): boolean {
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'latin1'));
  } catch {
    return true; // gone
  }
}

function procPids(): number[] {
  try {
    return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number);
  } catch {
    return [];
  }
}

async function waitForPort(port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`sshd exited with ${child.exitCode}: ${stderr()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sshd did not listen on ${port}: ${stderr()}`);
}

/** Where sshConnectionYaml's connection differs from a plain one to the sshd. */
export interface SshConnectionYamlOptions {
  /** The port it dials (default the sshd's own; a relay in front of the sshd, say). */
  port?: number;
  /** Its host_key pin (default the sshd's fingerprint; another key for a wrong-pin test). */
  hostKey?: string;
  /** Further fields of the connection (allow, workload, connect_timeout, …), a YAML line each, indented as fields. */
  extra?: string[];
}

/**
 * The config lines of an ssh connection `name` (under `connections:`) to `sshd`: its host, port and user, the
 * client key written to `dir`/ssh_key and given as `private_key: file:…`, the host key pinned, then `o.extra`.
 */
export function sshConnectionYaml(sshd: Sshd, dir: string, name: string, o: SshConnectionYamlOptions = {}): string[] {
  const keyFile = path.join(dir, 'ssh_key');
  writeFileSync(keyFile, sshd.clientKey, { mode: 0o600 });
  const fields = ['kind: ssh', `host: ${sshd.host}`, `port: ${o.port ?? sshd.port}`, `user: ${sshd.user}`, `private_key: file:${keyFile}`,
    `host_key: "${o.hostKey ?? sshd.hostKeyFingerprint}"`, ...(o.extra ?? [])];
  return [`  ${name}:`, ...fields.map((f) => `    ${f}`)];
}

/**
 * Writes `dir`/pcigate.yaml for `pcigate connect`: local identity allowed, one SSH connection `prod-ssh` to
 * `sshd` (sshConnectionYaml) whose exec commands are `allowExec`; returns its path.
 */
export function writeSshConfig(sshd: Sshd, dir: string, allowExec: string[]): string {
  const config = path.join(dir, 'pcigate.yaml');
  writeFileSync(config, [
    'identity:', '  allow_local: true', 'connections:',
    ...sshConnectionYaml(sshd, dir, 'prod-ssh', { extra: [`allow: { exec: { allow: [${allowExec.map((x) => JSON.stringify(x)).join(', ')}] } }`] }), '',
  ].join('\n'), { mode: 0o600 });
  return config;
}

/** An sshd and a `pcigate connect` config for it in a temp dir, for tests of `--listen` through the built bin. */
export interface SshdForListen {
  sshd: Sshd;
  /** The temp dir: the config, the client key, the listeners' askpass scripts, HOME of the OpenSSH client. */
  dir: string;
  config: string;
  /** Starts `pcigate connect prod-ssh --listen` with data home `home` (listenSsh). */
  listen(home: string): Promise<SshListener>;
  /** Runs the OpenSSH client through `l` with `args` (sshThrough). */
  ssh(l: SshListener, args: string[]): Promise<SshRun>;
}

/** Starts an sshd and writes its config (writeSshConfig, exec commands `allowExec`) to a new temp dir named `prefix`…; stop it with `sshd.stop()`. */
export async function startSshdForListen(prefix: string, allowExec: string[]): Promise<SshdForListen> {
  const sshd = await startSshd();
  const dir = tempDir(prefix);
  const config = writeSshConfig(sshd, dir, allowExec);
  return {
    sshd, dir, config,
    listen: (home) => listenSsh({ config, home, scratch: dir }),
    ssh: (l, args) => sshThrough(l, dir, args),
  };
}

/** What an SSH channel printed (stdout, stderr) and its exit code. */
export interface ChannelRun { code: number | undefined; stdout: string; stderr: string }

/** What a channel printed (stdout, stderr) and its exit code, once it closes. */
export function collect(ch: ClientChannel): Promise<ChannelRun> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let code: number | undefined;
    ch.on('data', (b: Buffer) => { stdout += b.toString(); });
    ch.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    ch.on('exit', (n: number | null) => { code = n ?? undefined; });
    ch.on('close', () => resolve({ code, stdout, stderr }));
  });
}

/**
 * ssh2's client logged in to pcigate's SSH listener `to` (user pcigate, its secret as password, any host key);
 * `extra` goes to connect() as well. ssh2 sends what OpenSSH would not, for hostile-client tests.
 */
export function sshClient(to: { host: string; port: number; secret: string }, extra: Record<string, unknown> = {}): Promise<Client> {
  return new Promise<Client>((resolve, reject) => {
    const c = new ssh2.Client();
    c.once('ready', () => resolve(c));
    c.once('error', reject);
    c.connect({ host: to.host, port: to.port, username: 'pcigate', password: to.secret, hostVerifier: () => true, ...extra });
  });
}

/** Runs `command` on the connection `c` with its stdin closed; what it printed and its exit code. */
export function execOn(c: Client, command: string): Promise<ChannelRun> {
  return new Promise<ChannelRun>((resolve, reject) => {
    c.exec(command, (err, ch) => {
      if (err) { reject(err); return; }
      void collect(ch).then(resolve);
      ch.end();
    });
  });
}
