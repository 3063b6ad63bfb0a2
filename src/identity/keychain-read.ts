/**
 * A keychain read with a time limit, for the commands that read the audit trail (stored-login.ts): a locked
 * keychain waiting on an unlock prompt nobody answers (or a hung keychain service) must not hold `pcigate
 * verify` for ever.
 *
 * Why a child process: @napi-rs/keyring's reads run on libuv's thread pool (AsyncEntry) or block the calling
 * thread (Entry), and neither can be interrupted. Racing a timer against AsyncEntry frees the command's logic
 * but not the process: the pending thread-pool work keeps Node alive after the command has printed its
 * result, and `process.exit()` waits for it too. A worker thread is no better (Node joins it on exit). A child
 * process can be killed, so the read happens in one (keychain-read-child.ts) and is SIGKILLed at the deadline.
 * It costs one Node start-up (~50 ms) per read, on commands that are not on a hot path.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TokenStoreError } from '../errors.js';

/** How long one keychain read may take on the reading commands before the saved login is skipped. */
export const KEYCHAIN_READ_TIMEOUT_MS = 3_000;

/** Reads the keychain entry `account` of service `service`; resolves null when there is none. */
export type KeychainRead = (service: string, account: string) => Promise<string | null>;

/** The keychain did not answer in time (locked and prompting, or its service is hung). */
export class KeychainTimeout extends TokenStoreError {
  static override code = 'ERR_KEYCHAIN_TIMEOUT';
  override code = KeychainTimeout.code;
}

export interface BoundedReadOptions {
  /** Default KEYCHAIN_READ_TIMEOUT_MS. */
  timeoutMs?: number;
  /** The child's environment (it needs DBUS_SESSION_BUS_ADDRESS, HOME …): the Ctx's env. */
  env: Record<string, string | undefined>;
  /**
   * The program and leading arguments that read an entry (service and account are appended): by default
   * this Node running keychain-read-child.js. Tests substitute a keychain that never answers.
   */
  command?: readonly string[];
}

/** A KeychainRead that gives up after `timeoutMs`, rejecting with KeychainTimeout and killing the reader. */
export function boundedKeychainRead(opts: BoundedReadOptions): KeychainRead {
  const timeoutMs = opts.timeoutMs ?? KEYCHAIN_READ_TIMEOUT_MS;
  // process.execPath: the Node that runs pcigate (Ctx carries no such field; this is the only use).
  const [file = '', ...lead] = opts.command ?? [process.execPath, fileURLToPath(new URL('./keychain-read-child.js', import.meta.url))];
  return (service, account) => new Promise<string | null>((resolve, reject) => {
    const child = spawn(file, [...lead, service, account], { env: opts.env, stdio: ['ignore', 'pipe', 'ignore'] });
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      f();
    };
    const timer = setTimeout(() => finish(() => {
      child.kill('SIGKILL');
      child.stdout.destroy();
      child.unref();
      reject(new KeychainTimeout(`the OS keychain did not answer within ${Math.round(timeoutMs / 100) / 10} s (locked and waiting on an unlock prompt, or its service is hung)`, {
        hint: 'Unlock the keychain, or set identity.token_store: file.',
      }));
    }), timeoutMs);
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.on('error', (cause) => finish(() => reject(new TokenStoreError(`cannot start the keychain reader: ${cause.message}`, { cause }))));
    child.on('close', (code) => finish(() => {
      let out: { value?: unknown; error?: unknown };
      try {
        out = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { value?: unknown; error?: unknown };
      } catch {
        reject(new TokenStoreError(`the keychain reader ended without an answer (exit ${code})`));
        return;
      }
      if (typeof out.error === 'string') reject(new TokenStoreError(out.error));
      else resolve(typeof out.value === 'string' ? out.value : null);
    }));
  });
}
