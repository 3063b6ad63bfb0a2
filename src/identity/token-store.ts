/**
 * Where `pcigate login` keeps tokens: the OS keychain through @napi-rs/keyring (macOS Keychain, Windows
 * Credential Manager, the freedesktop Secret Service on Linux), service `pcigate`; where no keychain service
 * answers (headless Linux, CI) a 0600 file in the data home, with a one-line warning. Tokens never go to
 * config, logs or argv.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Ctx } from '../cli/ctx.js';
import { TokenStoreError } from '../errors.js';
import { KeychainTimeout } from './keychain-read.js';
import type { KeychainRead } from './keychain-read.js';
import type { StoredTokens } from './types.js';

export const KEYCHAIN_SERVICE = 'pcigate';
/** The keychain account / file name under which the current login is kept. */
export const TOKEN_ACCOUNT = 'login';
export const TOKEN_FILE = 'tokens.json';

export type TokenStoreKind = 'keychain' | 'file';

export interface TokenStore {
  readonly kind: TokenStoreKind;
  /** Where the tokens live, for messages (`keychain service pcigate` or a path). */
  readonly where: string;
  load(): Promise<StoredTokens | undefined>;
  save(tokens: StoredTokens): Promise<void>;
  /** Resolves true when something was deleted. */
  delete(): Promise<boolean>;
}

interface AsyncEntryLike {
  getPassword(): Promise<string | null>;
  setPassword(p: string): Promise<void>;
  deletePassword(): Promise<boolean>;
}

async function keychainEntry(account = TOKEN_ACCOUNT): Promise<AsyncEntryLike> {
  const { AsyncEntry } = await import('@napi-rs/keyring');
  return new AsyncEntry(KEYCHAIN_SERVICE, account);
}

/**
 * Proves the keychain stores, not just answers: writes and deletes a throwaway entry (never the login's).
 * For `pcigate doctor`; rejects with the service's message.
 */
export async function probeKeychainWrite(): Promise<void> {
  const e = await keychainEntry('doctor-probe');
  await e.setPassword('probe');
  await e.deletePassword();
}

function parse(text: string, where: string): StoredTokens {
  try {
    const v = JSON.parse(text) as StoredTokens;
    if (typeof v.accessToken !== 'string' || typeof v.issuer !== 'string') throw new Error('missing fields');
    return v;
  } catch (cause) {
    throw new TokenStoreError(`the stored login in ${where} is unreadable`, { cause, hint: "Run 'pcigate login' again." });
  }
}

/**
 * The OS keychain store. Errors (no Secret Service, locked keychain) become TokenStoreError. `read` replaces
 * the in-process read (keychain-read.ts: a read with a time limit, which then rejects with KeychainTimeout).
 */
export function keychainStore(opts: { read?: KeychainRead } = {}): TokenStore {
  const where = `the OS keychain (service ${KEYCHAIN_SERVICE})`;
  const wrap = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (cause) {
      if (cause instanceof KeychainTimeout) throw cause;
      throw new TokenStoreError(`cannot ${what} ${where}: ${(cause as Error).message}`, { cause, hint: 'Use --token-store file on hosts without a keychain service.' });
    }
  };
  return {
    kind: 'keychain',
    where,
    load: async () => {
      const read = opts.read;
      // With `read`, nothing of the keyring is loaded here: that read happens in another process.
      const text = await wrap('read from', read ? () => read(KEYCHAIN_SERVICE, TOKEN_ACCOUNT) : async () => (await keychainEntry()).getPassword());
      return text === null ? undefined : parse(text, where);
    },
    save: (t) => wrap('write to', async () => (await keychainEntry()).setPassword(JSON.stringify(t))),
    delete: () => wrap('delete from', async () => (await keychainEntry()).deletePassword()),
  };
}

/** The 0600 file store in the data home (the directory is made 0700). */
export function fileStore(ctx: Ctx, home: string): TokenStore {
  const file = path.join(home, TOKEN_FILE);
  return {
    kind: 'file',
    where: file,
    load: async () => {
      let text: string;
      try {
        text = await ctx.fs.readFile(file, 'utf8');
      } catch (cause) {
        if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new TokenStoreError(`cannot read ${file}`, { cause });
      }
      const st = await ctx.fs.stat(file);
      // A token file others can read is a leaked credential: refuse it rather than use it.
      if ((st.mode & 0o077) !== 0) {
        throw new TokenStoreError(`${file} is readable by other users (mode ${(st.mode & 0o777).toString(8)}); refusing to use it`, { hint: `Run 'pcigate logout' and log in again, or chmod 600 ${file}.` });
      }
      return parse(text, file);
    },
    save: async (t) => {
      // Unique per save (two processes may save in the same millisecond), and removed when the save fails: a
      // left-over copy would keep a live refresh token on disk that logout neither revokes nor deletes.
      const tmp = `${file}.${ctx.clock.now()}.${randomBytes(6).toString('hex')}.tmp`;
      try {
        await ctx.fs.mkdir(home, { recursive: true, mode: 0o700 });
        // Created 0600 from the start (never briefly world-readable), then renamed into place atomically.
        await ctx.fs.writeFile(tmp, JSON.stringify(t), { mode: 0o600, flag: 'wx' });
        await ctx.fs.rename(tmp, file);
      } catch (cause) {
        await ctx.fs.rm(tmp, { force: true }).catch(() => {});
        throw new TokenStoreError(`cannot write ${file}`, { cause });
      }
    },
    delete: async () => {
      try {
        await ctx.fs.unlink(file);
        return true;
      } catch (cause) {
        if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw new TokenStoreError(`cannot delete ${file}`, { cause });
      }
    },
  };
}

/** One line, printed when `auto` falls back to the file. */
export const FILE_FALLBACK_WARNING = 'no OS keychain service answered; keeping tokens in a 0600 file in the data home instead';

/**
 * Picks the store: `keychain` or `file` as asked; `auto` probes the keychain (a read of pcigate's own entry)
 * and falls back to the file with a one-line warning when no keychain service answers — or, later, when
 * the service answers reads but refuses to store (a Secret Service on the bus with no unlockable keyring
 * answers AccessDenied to writes only). A KeychainTimeout from `keychainRead` is rethrown, not a fallback.
 */
export async function openTokenStore(ctx: Ctx, opts: { kind: 'auto' | TokenStoreKind; home: string; warn?: (line: string) => void; keychainRead?: KeychainRead }): Promise<TokenStore> {
  if (opts.kind === 'file') return fileStore(ctx, opts.home);
  const kc = keychainStore(opts.keychainRead ? { read: opts.keychainRead } : {});
  if (opts.kind === 'keychain') return kc;
  try {
    const probed = await kc.load();
    return fallBackOnSave(ctx, kc, opts.home, opts.warn, probed);
  } catch (err) {
    // A keychain that is there but did not answer in time is not "no keychain": the login may be in it.
    if (err instanceof KeychainTimeout) throw err;
    ctx.log.debug(`keychain probe failed: ${(err as Error).message}`);
    opts.warn?.(FILE_FALLBACK_WARNING);
    return fileStore(ctx, opts.home);
  }
}

/**
 * The keychain until a save fails; from then on (and for that save) the 0600 file, with the warning once.
 * The first load answers with the probe's read (a bounded keychain read is a process start), later ones read.
 */
function fallBackOnSave(ctx: Ctx, kc: TokenStore, home: string, warn: ((line: string) => void) | undefined, probed: StoredTokens | undefined): TokenStore {
  let current = kc;
  let first: { tokens: StoredTokens | undefined } | undefined = { tokens: probed };
  return {
    get kind() { return current.kind; },
    get where() { return current.where; },
    load: async () => {
      const primed = first;
      first = undefined;
      return primed ? primed.tokens : current.load();
    },
    save: async (t) => {
      first = undefined;
      if (current === kc) {
        try {
          await kc.save(t);
          return;
        } catch (err) {
          ctx.log.debug(`keychain refused the save: ${(err as Error).message}`);
          warn?.(FILE_FALLBACK_WARNING);
          current = fileStore(ctx, home);
        }
      }
      await current.save(t);
    },
    delete: () => {
      first = undefined;
      return current.delete();
    },
  };
}
