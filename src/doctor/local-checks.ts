/**
 * Local checks of `pcigate doctor`: the token store (OS keychain or the 0600 file fallback), the data home's
 * permissions (PCI DSS 10.3.2: audit logs protected from modification), the signing keys and whether the
 * key epoch is current (docs/log-format.md "Key epochs"), the approval key's permissions, and whether the clock
 * is plausible (10.6).
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import path from 'node:path';
import { keyPaths, loadPublicKeys } from '../../recorder/keys.js';
import type { Ctx } from '../cli/ctx.js';
import type { PcigateConfig } from '../config/index.js';
import { openTokenStore, probeKeychainWrite } from '../identity/token-store.js';
import { fail, ok, warn, type CheckResult } from './doctor-types.js';

/** The keychain answers, or the file fallback is in use (said, not failed: it is a supported mode). */
export async function checkTokenStore(ctx: Ctx, config: PcigateConfig, home: string): Promise<CheckResult> {
  let fellBack = false;
  try {
    const store = await openTokenStore(ctx, { kind: config.identity.token_store, home, warn: () => { fellBack = true; } });
    if (store.kind === 'keychain') {
      await store.load(); // a read proves the service answers (auto already probed; keychain did not)
      try {
        await probeKeychainWrite();
      } catch (e) {
        const why = `the OS keychain answers but refuses to store (${(e as Error).message})`;
        return config.identity.token_store === 'keychain'
          ? fail('keychain', `${why}; pcigate login cannot save tokens`, 'unlock the keyring (e.g. gnome-keyring-daemon --unlock) or set identity.token_store: file')
          : warn('keychain', `${why}; logins fall back to the 0600 file in ${home}`, 'unlock the keyring, or set identity.token_store: file to make this explicit');
      }
      return ok('keychain', `OS keychain reachable and storing (${store.where})`);
    }
    return fellBack
      ? warn('keychain', `no OS keychain answered; tokens are kept in the 0600 file ${store.where}`, 'start a Secret Service (e.g. gnome-keyring) or set identity.token_store: file to make this explicit')
      : ok('keychain', `file token store in use (${store.where})`);
  } catch (e) {
    return fail('keychain', `token store unusable: ${(e as Error).message}`, 'set identity.token_store: file, or unlock the OS keychain');
  }
}

/** The data home exists, is a directory owned by this user, and is closed to group and others. */
export async function checkHome(ctx: Ctx, home: string): Promise<CheckResult> {
  let st;
  try {
    st = await ctx.fs.stat(home);
  } catch {
    return warn('home', `data home ${home} does not exist yet`, `it is created on first use; or run: pcigate keys init --home ${home}`);
  }
  if (!st.isDirectory()) return fail('home', `data home ${home} is not a directory`, 'point --home / PCIGATE_HOME / audit.dir at a directory');
  const mode = st.mode & 0o777;
  const m = mode.toString(8).padStart(4, '0');
  if (st.uid !== ctx.user.uid) return fail('home', `data home ${home} is owned by uid ${st.uid}, not by you (uid ${ctx.user.uid})`, `chown -R ${ctx.user.name} ${home}`);
  if (mode & 0o077) return fail('home', `data home ${home} is open to other users (mode ${m})`, `chmod 700 ${home}`);
  for (const sub of ['keys', 'log']) {
    try {
      const s = await ctx.fs.stat(path.join(home, sub));
      if (s.mode & 0o022) return fail('home', `${path.join(home, sub)} is writable by other users (mode ${(s.mode & 0o777).toString(8)})`, `chmod go-w ${path.join(home, sub)}`);
    } catch { /* not created yet */ }
  }
  return ok('home', `data home ${home} (mode ${m}, yours)`);
}

/** Root key, certified epoch chain, and the epoch private key matching the newest certificate and not overdue. */
export async function checkKeys(ctx: Ctx, config: PcigateConfig, home: string): Promise<CheckResult> {
  const p = keyPaths(home);
  try {
    await ctx.fs.access(p.rootPub);
  } catch {
    return warn('keys', 'no signing keys in the data home yet', `they are created on first use; or run: pcigate keys init --home ${home}`);
  }
  try {
    const { certs } = await loadPublicKeys(ctx, home);
    const last = certs[certs.length - 1]!;
    const st = await ctx.fs.stat(p.epochKey);
    if (st.mode & 0o077) return fail('keys', `keys/epoch.key is readable by other users (mode ${(st.mode & 0o777).toString(8)})`, `chmod 600 ${p.epochKey}`);
    const pub = createPublicKey(createPrivateKey(await ctx.fs.readFile(p.epochKey, 'utf8'))).export({ format: 'jwk' }).x;
    if (Buffer.from(pub ?? '', 'base64url').toString('base64') !== last.cert.pub) {
      return fail('keys', `keys/epoch.key does not match the newest certified epoch (${last.cert.epoch})`, 'restore the data home from backup; verify the log with pcigate verify');
    }
    const ageMs = ctx.clock.now() - Date.parse(last.cert.not_before);
    const days = (ageMs / 86_400_000).toFixed(1);
    if (ageMs > config.audit.epoch) {
      return warn('keys', `epoch ${last.cert.epoch} is ${days} d old, past audit.epoch`, 'the next write rotates it; or run: pcigate keys rotate');
    }
    return ok('keys', `signing keys valid: epoch ${last.cert.epoch} of ${certs.length} certified, ${days} d old`);
  } catch (e) {
    return fail('keys', `signing keys unusable: ${(e as Error).message}`, 'run pcigate verify for details; restore keys/ from backup');
  }
}

/**
 * The approvals directory (docs/log-format.md "approval.*"): `approvals/.key` seals every request file and
 * binds each approval to its statement, so whoever can read it can forge an approved request — it must be a
 * regular file of this user's, closed to group and others (the store refuses it otherwise, and every hold
 * then fails); and a world-writable directory lets anyone replace request files.
 */
export async function checkApprovals(ctx: Ctx, home: string): Promise<CheckResult> {
  const dir = path.join(home, 'approvals');
  const key = path.join(dir, '.key');
  let st;
  try {
    st = await ctx.fs.lstat(dir);
  } catch {
    return ok('approvals', 'no approvals directory yet (it is created, 0700, by the first held statement)');
  }
  if (!st.isDirectory()) return fail('approvals', `${dir} is not a directory`, `remove it; pcigate creates ${dir} on the next held statement`);
  const dirMode = (st.mode & 0o777).toString(8).padStart(4, '0');
  if (st.mode & 0o002) return fail('approvals', `${dir} is writable by every user (mode ${dirMode}): anyone can replace or remove request files`, `chmod 700 ${dir}`);
  try {
    st = await ctx.fs.lstat(key);
  } catch {
    return ok('approvals', `approvals directory ${dir} (mode ${dirMode}); no approval key yet (it is made, 0600, by the first held statement)`);
  }
  if (!st.isFile()) return fail('approvals', `${key} is not a regular file${st.isSymbolicLink() ? ' (a symbolic link)' : ''}`, `remove it: a new key is made on the next held statement, and requests sealed with the old one must be filed again`);
  const keyMode = (st.mode & 0o777).toString(8).padStart(4, '0');
  if (st.uid !== ctx.user.uid) return fail('approvals', `the approval key ${key} is owned by uid ${st.uid}, not by you (uid ${ctx.user.uid}): its owner can read it and forge approved requests`, `chown ${ctx.user.name} ${key} && chmod 600 ${key}`);
  if ((st.mode & 0o777) !== 0o600) {
    const open = (st.mode & 0o077) !== 0;
    return fail('approvals', `the approval key ${key} has mode ${keyMode}, not 0600${open ? ': group or others can read or write it, so they can forge approved requests, and pcigate refuses to use it' : ''}`,
      `chmod 600 ${key}${open ? '; if others may have read it, remove it instead (requests sealed with it must then be filed again)' : ''}`);
  }
  return ok('approvals', `approvals directory ${dir} (mode ${dirMode}); approval key 0600, yours`);
}

/** A year before this code was written or far in the future means a broken clock (timestamps are evidence). */
const PLAUSIBLE = { from: Date.parse('2025-01-01T00:00:00Z'), to: Date.parse('2100-01-01T00:00:00Z') };

/** The clock is in a plausible range and not behind the newest checkpoint of the log. */
export async function checkClock(ctx: Ctx, home: string): Promise<CheckResult> {
  const now = ctx.clock.now();
  const iso = new Date(now).toISOString();
  if (now < PLAUSIBLE.from || now > PLAUSIBLE.to) return fail('clock', `system clock says ${iso}`, 'set the clock (timedatectl set-ntp true)');
  try {
    const text = await ctx.fs.readFile(path.join(home, 'checkpoints.jsonl'), 'utf8');
    const times = [...text.matchAll(/(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)/g)].map((m) => Date.parse(m[1]!)).filter(Number.isFinite);
    const newest = Math.max(...times);
    if (times.length && newest - now > 60_000) {
      return fail('clock', `system clock (${iso}) is behind the newest checkpoint (${new Date(newest).toISOString()})`, 'fix the clock (timedatectl set-ntp true): records would go back in time');
    }
  } catch { /* no checkpoints yet */ }
  return ok('clock', `clock plausible (${iso})`);
}
