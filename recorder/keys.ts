/**
 * The key store of a data home (docs/log-format.md "Key epochs"): a root Ed25519 key whose public part is
 * keys/root.pub, an append-only chain of epoch certificates in keys/epochs.jsonl (epoch 0 certified by the
 * root key, epoch n by epoch n−1's key) and the current epoch's private key in keys/epoch.key (0600).
 *
 * Rotation replaces keys/epoch.key, so the previous epoch's private key no longer exists on disk: theft of
 * today's key cannot forge yesterday's checkpoints. Crash safety: the new key is first written to
 * keys/epoch.key.next, then its certificate is appended, then the file is renamed over epoch.key; loadKeys
 * finishes or discards a half-done rotation.
 */
import { createPublicKey, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { Ctx } from '../src/cli/ctx.js';
import { KeyError } from '../src/errors.js';
import { canonicalize } from './canonical-json.js';
import { appendLineDurable, ensurePrivateDir, exists, fsyncDir, writeFileAtomic, writeFileExclusive } from './durable-fs.js';
import { acquireLogLock, ownPid } from './log-lock.js';
import { SEGMENT_RE } from './segment-scan.js';
import { ed25519Sign, ed25519Verify, generateEd25519, privateKeyFromPem, privateKeyToPem, rawPublicKey } from './ed25519.js';
import { epochKeyName, isValidKeyName, noteKeyId } from './signed-note.js';
import { formatTs, parseTs } from './timestamp.js';

/** The certified statement `{type, origin, epoch, pub, not_before}`, and for a rotation `log_size`, `log_root`. */
export interface EpochCert {
  type: 'pcigate.epoch';
  origin: string;
  epoch: number;
  /** base64 of the raw 32-byte Ed25519 public key. */
  pub: string;
  not_before: string;
  /**
   * Epoch n ≥ 1: the log epoch n−1 hands over, as its last checkpoint signed it — the first `log_size`
   * records hash to `log_root` (RFC 6962, lowercase hex). Signed with the certificate by epoch n−1's key,
   * which is destroyed at the rotation: whoever holds epoch n's key cannot rewrite those records, nor move
   * the rotation before them (without this, a rewritten log with its key.rotate records kept and every
   * older checkpoint dropped verified under today's key). Absent in epoch 0's certificate and in those
   * written before pcigate bound it.
   */
  log_size?: number;
  log_root?: string;
}

/** One line of keys/epochs.jsonl: the cert and the base64 Ed25519 signature over canonicalize(cert). */
export interface SignedEpochCert {
  cert: EpochCert;
  sig: string;
}

export interface KeyPaths {
  home: string;
  originFile: string;
  dir: string;
  rootPub: string;
  epochs: string;
  epochKey: string;
  epochKeyNext: string;
}

export function keyPaths(home: string): KeyPaths {
  const dir = path.join(home, 'keys');
  return {
    home,
    originFile: path.join(home, 'origin'),
    dir,
    rootPub: path.join(dir, 'root.pub'),
    epochs: path.join(dir, 'epochs.jsonl'),
    epochKey: path.join(dir, 'epoch.key'),
    epochKeyNext: path.join(dir, 'epoch.key.next'),
  };
}

/** The loaded, chain-checked key store with the current epoch's signing key. */
export interface KeyState {
  origin: string;
  rootPub: Buffer;
  certs: SignedEpochCert[];
  epoch: number;
  privateKey: KeyObject;
  publicRaw: Buffer;
  /** not_before of the current epoch in µs since the epoch. */
  notBefore: bigint;
  /** Signed-note key name of the current epoch: `<origin>#e<n>`. */
  keyName: string;
}

/** A default origin unique to this log: `<host>/pcigate/<8 hex>` (no whitespace or `+`, as key names need). */
export function defaultOrigin(): string {
  const host = os.hostname().replace(/[^A-Za-z0-9.-]/g, '-') || 'localhost';
  return `${host}/pcigate/${randomBytes(4).toString('hex')}`;
}

/** `ed25519 <base64>` — the one-line public key format of root.pub and --root-key files. */
export function formatPublicKeyLine(raw: Uint8Array): string {
  return `ed25519 ${Buffer.from(raw).toString('base64')}\n`;
}

/** Parses root.pub / a `verify --root-key` file; also accepts an SPKI or PKCS#8 PEM of an Ed25519 key. */
export function parsePublicKeyFile(text: string): Buffer {
  const m = /^ed25519 ([A-Za-z0-9+/]{43}=)$/.exec(text.trim());
  if (m) return Buffer.from(m[1] as string, 'base64');
  if (text.includes('-----BEGIN')) {
    try {
      const k = createPublicKey(text); // derives the public half from a private PEM too
      if (k.asymmetricKeyType === 'ed25519') return rawPublicKey(k);
    } catch {
      /* reported below */
    }
  }
  throw new KeyError('not an Ed25519 public key: expected one line "ed25519 <base64 of 32 bytes>"');
}

/** Signs an epoch certificate: base64 Ed25519 over its RFC 8785 canonical JSON. */
export function signEpochCert(cert: EpochCert, signer: KeyObject): SignedEpochCert {
  return { cert, sig: ed25519Sign(signer, Buffer.from(canonicalize(cert), 'utf8')).toString('base64') };
}

/** True when `sc.sig` is `signerPub`'s signature over canonicalize(sc.cert). */
export function verifyEpochCert(sc: SignedEpochCert, signerPub: Uint8Array): boolean {
  return ed25519Verify(signerPub, Buffer.from(canonicalize(sc.cert), 'utf8'), Buffer.from(sc.sig, 'base64'));
}

export interface InitKeysResult {
  origin: string;
  rootPub: Buffer;
  cert: SignedEpochCert;
  /** Where the root private key was written, if anywhere. */
  rootKeyOut?: string;
}

/**
 * `keys init`: creates HOME (0700), HOME/origin, a root key, epoch 0's key and certificate. The root
 * private key goes only to `rootKeyOut` (0600, must not exist) or is discarded. Refuses an initialised home.
 */
export async function initKeys(ctx: Ctx, home: string, opts: { origin?: string; rootKeyOut?: string } = {}): Promise<InitKeysResult> {
  const p = keyPaths(home);
  const origin = opts.origin ?? defaultOrigin();
  if (!isValidKeyName(`${origin}#e0`) || origin.includes('\n')) {
    throw new KeyError(`invalid origin ${JSON.stringify(origin)}: it must not contain spaces or "+"`);
  }
  await ensurePrivateDir(ctx.fs, home);
  const initialised = () => new KeyError(`${home} is already initialised (its origin file exists); refusing to replace its keys`, {
    hint: 'use `pcigate keys rotate` for a new epoch key, or choose another --home',
  });
  if (await hasOrigin(ctx, home)) throw initialised();
  await ensurePrivateDir(ctx.fs, p.dir);
  // One initialisation at a time (two first starts of one home at once): `keys/.lock`, as the log's, a dead holder's
  // taken over. Under it, the origin is checked again and what a start killed part-way left is set aside.
  const lock = await acquireLogLock(ctx.fs, p.dir, await ownPid(ctx.fs, ctx.processes), ctx.processes);
  try {
    if (await hasOrigin(ctx, home)) throw initialised();
    await setAsideIncompleteKeys(ctx, home);
    const root = generateEd25519();
    const rootKeyOut = opts.rootKeyOut === undefined ? undefined : path.resolve(ctx.cwd, opts.rootKeyOut);
    if (rootKeyOut !== undefined) {
      try {
        await writeFileExclusive(ctx.fs, rootKeyOut, privateKeyToPem(root.privateKey), 0o600);
      } catch (e) {
        throw new KeyError(`cannot write the root private key to ${rootKeyOut} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, {
          cause: e,
          hint: 'the file must not exist yet and its directory must be writable',
        });
      }
    }
    const first = generateEd25519();
    const cert = signEpochCert({
      type: 'pcigate.epoch', origin, epoch: 0, pub: first.publicRaw.toString('base64'), not_before: formatTs(ctx.clock.micros()),
    }, root.privateKey);
    await writeFileExclusive(ctx.fs, p.epochKey, privateKeyToPem(first.privateKey), 0o600);
    await writeFileExclusive(ctx.fs, p.rootPub, formatPublicKeyLine(root.publicRaw), 0o644);
    await appendLineDurable(ctx.fs, p.epochs, canonicalize(cert));
    // origin last, whole or not at all (written aside, renamed: a kill between creating and filling it left an empty
    // one): its presence marks a complete initialisation. No other initialisation runs (the lock) to race the rename.
    await writeFileAtomic(ctx.fs, p.originFile, `${origin}\n`, 0o644);
    return { origin, rootPub: root.publicRaw, cert, ...(rootKeyOut !== undefined ? { rootKeyOut } : {}) };
  } finally {
    await lock.release();
  }
}

/**
 * Before a first initialisation, under its lock, with no origin file (or an empty one): files in `keys/` are what a start killed
 * part-way left (it writes them one by one, origin last; an empty epoch.key, a root.pub). They are moved to
 * `keys.incomplete-<time>/`, with a warning — unless the home has audit records or checkpoints: then its origin file
 * was lost, not never written, and the keys are needed; refused. Files are moved, not `keys/` itself, which may be a
 * link or a mount point.
 */
async function setAsideIncompleteKeys(ctx: Ctx, home: string): Promise<void> {
  const p = keyPaths(home);
  const files = (await ctx.fs.readdir(p.dir)).filter((f) => !f.startsWith('.lock'));
  // an empty origin (an older pcigate, killed between creating it and writing it) is part of what is left
  const emptyOrigin = await exists(ctx.fs, p.originFile);
  if (files.length === 0 && !emptyOrigin) return;
  if (await holdsRecords(ctx, home)) {
    throw new KeyError(`${home} has keys and audit records but no origin file; refusing to replace its keys`, {
      hint: `restore ${p.originFile} (the log's records name their origin), or choose another --home`,
    });
  }
  const aside = path.join(home, `keys.incomplete-${formatTs(ctx.clock.micros()).replace(/[:.]/g, '-')}`);
  await ensurePrivateDir(ctx.fs, aside);
  for (const f of files) await ctx.fs.rename(path.join(p.dir, f), path.join(aside, f));
  if (emptyOrigin) await ctx.fs.rename(p.originFile, path.join(aside, 'origin'));
  await fsyncDir(ctx.fs, aside);
  await fsyncDir(ctx.fs, p.dir);
  ctx.log.warn(`${p.dir} held keys of an initialisation that never finished (no origin file, no audit records): moved to ${aside}; new keys are made`);
}

/** Whether the home's checkpoints file or a segment of its log holds anything (a lock file does not count). */
async function holdsRecords(ctx: Ctx, home: string): Promise<boolean> {
  const sizeOf = async (f: string) => (await ctx.fs.stat(f).catch(() => undefined))?.size ?? 0;
  if ((await sizeOf(path.join(home, 'checkpoints.jsonl'))) > 0) return true;
  const logDir = path.join(home, 'log');
  for (const name of await ctx.fs.readdir(logDir).catch(() => [] as string[])) {
    if (SEGMENT_RE.test(name) && (await sizeOf(path.join(logDir, name))) > 0) return true;
  }
  return false;
}

/** True when HOME has a key store (an origin file that names one). */
export async function isInitialised(ctx: Ctx, home: string): Promise<boolean> {
  return hasOrigin(ctx, home);
}

/** Whether the origin file exists and is not empty (an older pcigate killed while creating it left it empty). */
async function hasOrigin(ctx: Ctx, home: string): Promise<boolean> {
  const st = await ctx.fs.stat(keyPaths(home).originFile).catch(() => undefined);
  return st !== undefined && st.size > 0;
}

async function readText(ctx: Ctx, file: string, what: string): Promise<string> {
  try {
    return await ctx.fs.readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new KeyError(code === 'ENOENT' ? `${what} ${file} is missing` : `cannot read ${what} ${file} (${code ?? 'error'})`, {
      cause: e,
      ...(code === 'ENOENT' ? { hint: 'run `pcigate keys init` to create the keys of a new data home' } : {}),
    });
  }
}

/** Parses and checks keys/epochs.jsonl against the root key and origin: gapless epochs, each cert signed by its predecessor. */
export function checkEpochChain(text: string, origin: string, rootPub: Uint8Array): SignedEpochCert[] {
  const certs: SignedEpochCert[] = [];
  const lines = text.split('\n').filter((l) => l.length > 0);
  for (const [i, line] of lines.entries()) {
    let sc: SignedEpochCert;
    try {
      sc = JSON.parse(line) as SignedEpochCert;
    } catch (e) {
      throw new KeyError(`keys/epochs.jsonl line ${i + 1} is not JSON`, { cause: e });
    }
    const c = sc?.cert;
    if (!c || c.type !== 'pcigate.epoch' || typeof sc.sig !== 'string' || typeof c.pub !== 'string' || parseTs(String(c.not_before)) === undefined) {
      throw new KeyError(`keys/epochs.jsonl line ${i + 1} is not an epoch certificate`);
    }
    if (c.epoch !== i) throw new KeyError(`keys/epochs.jsonl line ${i + 1} is epoch ${c.epoch}, expected ${i}`);
    if (c.origin !== origin) throw new KeyError(`keys/epochs.jsonl epoch ${i} is for origin ${c.origin}, not ${origin}`);
    const signer = i === 0 ? Buffer.from(rootPub) : Buffer.from((certs[i - 1] as SignedEpochCert).cert.pub, 'base64');
    if (!verifyEpochCert(sc, signer)) {
      throw new KeyError(`keys/epochs.jsonl epoch ${i} certificate is not signed by ${i === 0 ? 'the root key' : `epoch ${i - 1}'s key`}`);
    }
    certs.push(sc);
  }
  if (certs.length === 0) throw new KeyError('keys/epochs.jsonl holds no epoch certificate');
  return certs;
}

/** Reads origin, root.pub and the epoch chain without the private key (for `keys show` and verifiers). */
export async function loadPublicKeys(ctx: Ctx, home: string): Promise<{ origin: string; rootPub: Buffer; certs: SignedEpochCert[] }> {
  const p = keyPaths(home);
  const origin = (await readText(ctx, p.originFile, 'origin file')).trim();
  const rootPub = parsePublicKeyFile(await readText(ctx, p.rootPub, 'root public key'));
  const certs = checkEpochChain(await readText(ctx, p.epochs, 'epoch certificates'), origin, rootPub);
  return { origin, rootPub, certs };
}

/**
 * Loads the key store for signing: checks the chain, finishes or discards a half-done rotation, and
 * checks that keys/epoch.key is the newest certified key.
 */
export async function loadKeys(ctx: Ctx, home: string): Promise<KeyState> {
  const p = keyPaths(home);
  const { origin, rootPub, certs } = await loadPublicKeys(ctx, home);
  const last = certs[certs.length - 1] as SignedEpochCert;
  if (await exists(ctx.fs, p.epochKeyNext)) {
    const next = privateKeyFromPem(await ctx.fs.readFile(p.epochKeyNext));
    if (rawPublicKey(next).toString('base64') === last.cert.pub) {
      // The certificate was appended but the rename did not happen: finish the rotation.
      await ctx.fs.rename(p.epochKeyNext, p.epochKey);
      await fsyncDir(ctx.fs, p.dir);
    } else {
      await ctx.fs.rm(p.epochKeyNext, { force: true });
    }
  }
  let privateKey: KeyObject;
  try {
    privateKey = privateKeyFromPem(await readText(ctx, p.epochKey, 'epoch private key'));
  } catch (e) {
    if (e instanceof KeyError) throw e;
    throw new KeyError(`keys/epoch.key is not an Ed25519 private key`, { cause: e });
  }
  const publicRaw = rawPublicKey(privateKey);
  if (publicRaw.toString('base64') !== last.cert.pub) {
    throw new KeyError(`keys/epoch.key does not match the newest certified epoch (${last.cert.epoch})`);
  }
  return {
    origin, rootPub, certs, epoch: last.cert.epoch, privateKey, publicRaw,
    notBefore: parseTs(last.cert.not_before) as bigint, keyName: epochKeyName(origin, last.cert.epoch),
  };
}

/**
 * Moves the key store to epoch n+1: a new key, its certificate signed by epoch n's key appended to
 * keys/epochs.jsonl, and keys/epoch.key replaced (epoch n's private key is gone from disk). Returns the new
 * state and the certificate to log in `key.rotate`. The audit log writer calls this between its two
 * rotation checkpoints, with `log` the tree head of the first (EpochCert log_size, log_root); call it
 * directly only when no log is open.
 */
export async function rotateKeys(
  ctx: Ctx, home: string, state: KeyState, log?: { size: number; root: string },
): Promise<{ state: KeyState; cert: SignedEpochCert; fromEpoch: number }> {
  const p = keyPaths(home);
  const next = generateEd25519();
  const epoch = state.epoch + 1;
  const micros = ctx.clock.micros();
  const cert = signEpochCert({
    type: 'pcigate.epoch', origin: state.origin, epoch, pub: next.publicRaw.toString('base64'), not_before: formatTs(micros),
    ...(log ? { log_size: log.size, log_root: log.root } : {}),
  }, state.privateKey);
  await ctx.fs.rm(p.epochKeyNext, { force: true });
  await writeFileExclusive(ctx.fs, p.epochKeyNext, privateKeyToPem(next.privateKey), 0o600);
  await appendLineDurable(ctx.fs, p.epochs, canonicalize(cert));
  await ctx.fs.rename(p.epochKeyNext, p.epochKey);
  await fsyncDir(ctx.fs, p.dir);
  return {
    fromEpoch: state.epoch,
    cert,
    state: {
      ...state, certs: [...state.certs, cert], epoch, privateKey: next.privateKey, publicRaw: next.publicRaw,
      notBefore: micros, keyName: epochKeyName(state.origin, epoch),
    },
  };
}

/** The signed-note key ID (hex) of an epoch certificate, as `keys show` prints it. */
export function certKeyId(origin: string, cert: EpochCert): string {
  return noteKeyId(epochKeyName(origin, cert.epoch), Buffer.from(cert.pub, 'base64')).toString('hex');
}
