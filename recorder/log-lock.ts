/**
 * One process owns a log at a time: `log/.lock`, created with O_EXCL and holding the owner's pid and host name. A lock
 * whose pid no longer runs is stale and is taken over (atomically: see breakStale). Whether it runs is asked of the
 * caller's ProcessTable (the CLI's: process.pid and kill(pid, 0), on every system), so this code needs no `process`
 * global, or else of /proc; with neither (macOS without a table) every lock counts as live (fail closed).
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { Fs, ProcessTable } from '../src/cli/ctx.js';
import { AuditWriteError } from '../src/errors.js';
import { useRegularFile } from './regular-file.js';

export interface LogLock {
  file: string;
  pid: number;
  release(): Promise<void>;
}

/** The pid of this process: the table's, else from /proc/self, or 0 where neither is available. */
export async function ownPid(fs: Fs, table?: ProcessTable): Promise<number> {
  if (table) return table.pid;
  try {
    const n = Number(await fs.readlink('/proc/self'));
    return Number.isSafeInteger(n) ? n : 0;
  } catch {
    return 0;
  }
}

/** Whether `pid` runs on this host: the table's answer, else /proc's; true where neither can tell. */
export async function isAlive(fs: Fs, pid: number, table?: ProcessTable): Promise<boolean> {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  if (table) return table.alive(pid);
  try {
    await fs.access('/proc/self');
  } catch {
    return true; // no /proc: cannot tell, so the lock stands
  }
  try {
    await fs.access(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/** Who a lock names: the pid, and the host name of the machine or container it ran on (none in an older lock). */
interface Holder { pid: number; host?: string }

/**
 * Who a lock file names; pid 0 when it names none. Only a regular file is read: the lock is made O_EXCL as
 * one, and a FIFO planted at its name would have every opener (the broker, `pcigate verify` recording its
 * run) wait for a writer forever, a link to /dev/zero read without end. Such a lock has no owner: taken over.
 */
async function lockHolder(fs: Fs, file: string): Promise<Holder> {
  try {
    const r = await useRegularFile(fs, file, { follow: false }, async (fh) => (await fh.readFile('utf8')).trim());
    if (r.status !== 'used') return { pid: 0 };
    const [pid = '', host] = r.value.split(' ');
    return { pid: Number(pid), ...(host ? { host } : {}) };
  } catch {
    return { pid: 0 };
  }
}

/** This machine's (or container's) host name, as log.start records it (log-writer.ts); '' if it has a blank. */
function ownHost(): string {
  const host = os.hostname();
  return /^[^\s]{1,253}$/.test(host) ? host : '';
}

/**
 * The locks this process holds, by the lock's real path (a log reached through a symbolic link is one log).
 * (On globalThis: one set however many times this module is loaded in the process.)
 */
const HELD: Set<string> = ((globalThis as Record<symbol, unknown>)[Symbol.for('pcigate.logLocksHeld')] ??= new Set<string>()) as Set<string>;

/**
 * Whether the process a lock names holds it. One that names another host (a second container sharing the volume)
 * stands whatever its pid: this host's /proc cannot see that host's processes; a container recreated under another
 * host name finds its predecessor's lock so, and the hint names the file to remove. One that names no pid but a host
 * was written where /proc is not: it stands (fail closed). One that names this pid on this host is this process's
 * only if it took it; any other is a lock left by an earlier process that had this pid here (a container's pid 1
 * restarted on the same volume keeps its host name), stale. One that names this pid on none (an older lock) is
 * live: which it is cannot be read, so it stands (fail closed). Any other: live while its pid runs.
 */
async function holds(fs: Fs, file: string, holder: Holder, self: Holder, table?: ProcessTable): Promise<boolean> {
  // (another host's process cannot be looked for in this one's /proc, whatever its pid: its lock stands)
  if (holder.host !== undefined && holder.host !== self.host) return true;
  // (one written where /proc gave no pid, as on macOS: whose it is cannot be told, not even whether this process's,
  // so it stands; taken for stale, a second opener there took it and two processes appended to one log)
  if (holder.pid <= 0 && holder.host !== undefined) return true;
  if (self.pid <= 0 || holder.pid !== self.pid) return isAlive(fs, holder.pid, table);
  return self.host !== undefined && holder.host === self.host ? HELD.has(file) : true;
}

/**
 * Takes `dir/.lock` for `pid`, replacing a stale lock once; AuditWriteError when a live process holds it. `table`:
 * where whether a holder runs is asked (else /proc).
 */
export async function acquireLogLock(fs: Fs, dir: string, pid: number, table?: ProcessTable): Promise<LogLock> {
  // (a file system's error, ENOSPC or EACCES, is thrown as it is: the CLI names its cause and what to do)
  const file = path.join(await fs.realpath(dir), '.lock');
  const host = ownHost();
  const self: Holder = { pid, ...(host ? { host } : {}) };
  for (let attempt = 0; attempt < 2; attempt++) {
    const lock = await tryLink(fs, file, self);
    if (lock) {
      await sweepLeftovers(fs, file);
      return lock;
    }
    const holder = await lockHolder(fs, file);
    if (await holds(fs, file, holder, self, table)) throw inUse(dir, file, holder, self);
    await breakStale(fs, dir, file, self, table);
  }
  throw new AuditWriteError(`could not take the audit log lock ${file}`);
}

/**
 * The lock, if `file` did not exist. It appears with its pid in it: written to a file of this opener's own first,
 * then linked to the lock's name (link(2) fails with EEXIST as O_EXCL does). Made empty and written after, a second
 * opener that read it in between saw no owner, took it over, and two processes appended the same seqs (a demo run in
 * CI). The own file's name is this opener's alone: two openers in one process (the demo runs every person's command
 * in its own) or with one pid (two pid namespaces, one disk) named theirs `.lock.PID.N` alike, and one removed the
 * other's before it was linked (ENOENT, a demo run in CI).
 */
async function tryLink(fs: Fs, file: string, self: Holder): Promise<LogLock | undefined> {
  const { pid } = self;
  const own = `${file}.${pid}.${randomBytes(8).toString('hex')}`;
  // (O_EXCL: a link planted at its name is not followed, nor removed below)
  const fh = await fs.open(own, 'wx', 0o600);
  let ino: number;
  try {
    try {
      await fh.writeFile(`${pid}${self.host ? ` ${self.host}` : ''}\n`);
      await fh.sync();
      ino = (await fh.stat()).ino;
    } finally {
      await fh.close();
    }
    await fs.link(own, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw e;
  } finally {
    await fs.rm(own, { force: true });
  }
  HELD.add(file);
  let released = false;
  return {
    file,
    pid,
    release: async () => {
      if (released) return;
      released = true;
      // Only this lock: one that is not (moved aside and replaced by a stale lock's breaker) stays its holder's. (Its
      // pid too: a file system may give a new file the inode number of one just removed.)
      try {
        if ((await fs.lstat(file)).ino === ino && (await lockHolder(fs, file)).pid === pid) await fs.rm(file, { force: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      } finally {
        HELD.delete(file);
      }
    },
  };
}

/** How old an opener's own file or an aside lock must be to count as left behind: each lives for milliseconds. */
const LEFTOVER_AGE_MS = 60_000;
const LEFTOVER_RE = /^\.lock\.\d+\.[0-9a-f]{16}(?:\.stale)?$/;

/**
 * Removes what openers killed mid-way left beside the lock: an own file (`.lock.PID.HEX`, killed between creating it
 * and removing it after the link) or a stale lock moved aside (`….stale`, killed in breakStale). Each lives for
 * milliseconds, on any host sharing the directory, so one a minute older than the lock just taken is no opener's any
 * more (the file system's clock on both sides: the lock's own modification time is "now"). Only by the lock's holder,
 * just after taking it; best effort (one that cannot be removed now is tried at the next open). An aside keeps the
 * modification time of the lock it was (rename does not change it), so one a breakStale is still reading may go
 * too: only a lock over a minute old, which it found stale, and a holder it cannot read then is none (still stale).
 */
async function sweepLeftovers(fs: Fs, file: string): Promise<void> {
  const dir = path.dirname(file);
  let names: string[];
  let now: number;
  try {
    names = (await fs.readdir(dir)).filter((n) => LEFTOVER_RE.test(n));
    if (names.length === 0) return;
    now = (await fs.lstat(file)).mtimeMs;
  } catch {
    return;
  }
  for (const name of names) {
    const leftover = path.join(dir, name);
    try {
      const st = await fs.lstat(leftover);
      if (now - st.mtimeMs >= LEFTOVER_AGE_MS) await fs.rm(leftover, { force: true, recursive: st.isDirectory() });
    } catch {
      // (gone meanwhile, or not removable: left for the next open)
    }
  }
}

function inUse(dir: string, file: string, holder: Holder, self: Holder): AuditWriteError {
  const where = holder.host !== undefined && holder.host !== self.host ? ` on ${holder.host}` : '';
  const who = holder.pid > 0 ? `process ${holder.pid}` : 'a process whose pid was not known (no /proc)';
  return new AuditWriteError(`the audit log in ${path.dirname(dir)} is in use by ${who}${where}`, {
    hint: `stop that process first; if it is gone, remove ${file}`,
  });
}

/**
 * Removes a lock found stale. It is renamed aside first and read again there: of two openers that found it stale
 * only one moves it, and a lock another opener took in between (removed by a plain rm, both went on to write) is
 * moved back and its holder named. Left open: a third opener taking the name in the instant it is aside (the link
 * back fails; two hold it), or its holder releasing it then (it comes back, naming a process that holds none); each
 * needs a dead owner's lock and three openers within microseconds.
 */
async function breakStale(fs: Fs, dir: string, file: string, self: Holder, table?: ProcessTable): Promise<void> {
  const aside = `${file}.${self.pid}.${randomBytes(8).toString('hex')}.stale`;
  try {
    await fs.rename(file, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // another opener moved it: try again
    throw e;
  }
  const holder = await lockHolder(fs, aside);
  if (await holds(fs, file, holder, self, table)) {
    await fs.link(aside, file).catch(() => undefined); // (EEXIST: a third opener has it now; it stays theirs)
    await fs.rm(aside, { force: true });
    throw inUse(dir, file, holder, self);
  }
  // (a directory planted at the name is removed too: it holds no pid)
  await fs.rm(aside, { force: true, recursive: true });
}
