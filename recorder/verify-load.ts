/**
 * The IO around the pure verifier: reads a data home (docs/log-format.md "Data home layout") into a
 * VerifyInput, and reads and atomically writes the `--state` file that lets a later run detect rollback
 * and truncation.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Fs } from '../src/cli/ctx.js';
import { VerificationError } from '../src/errors.js';
import { canonicalize } from './canonical-json.js';
import { parsePublicKeyFile } from './keys.js';
import { readRecordingFile } from './recording-file.js';
import type { BlobContent, VerifyInput, VerifyState } from './verify-types.js';

const SEGMENT_NAME = /^\d{12}\.jsonl$/;

export interface LoadOptions {
  /** `--root-key FILE`: the auditor's own copy of the root public key. */
  rootKeyFile?: string;
  state?: VerifyState;
  nowMicros: number;
  maxUnsealedMicros: number;
  proofSeq?: number;
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

async function readOptional(fs: Fs, file: string): Promise<Buffer | undefined> {
  try {
    return await fs.readFile(file);
  } catch (e) {
    if (errno(e) === 'ENOENT') return undefined;
    throw new VerificationError(`cannot read ${file} (${errno(e) ?? 'error'})`, { cause: e });
  }
}

/**
 * Reads HOME into a VerifyInput. Throws VerificationError (exit 3) when HOME or its log is missing or
 * empty: there is nothing to vouch for, and saying so must not look like a pass.
 */
export async function loadVerifyInput(fs: Fs, home: string, opts: LoadOptions): Promise<VerifyInput> {
  const logDir = path.join(home, 'log');
  let names: string[];
  try {
    names = (await fs.readdir(logDir)).filter((n) => SEGMENT_NAME.test(n)).sort();
  } catch (e) {
    const what = errno(e) === 'ENOENT' ? 'does not exist' : `cannot be read (${errno(e) ?? 'error'})`;
    // A home made by `keys init` has keys and no log until the first command that records something.
    const hasKeys = errno(e) === 'ENOENT' && (await fs.readdir(path.join(home, 'keys')).then((n) => n.length > 0, () => false));
    throw new VerificationError(`no audit log to verify: ${logDir} ${what}`, {
      hint: hasKeys
        ? 'this data home has keys but no records yet: its log starts with the first command that records (pcigate connect, exec, sessions …)'
        : 'pass the data home with --home DIR (or PCIGATE_HOME); `pcigate keys init` creates a new one',
    });
  }
  if (names.length === 0) {
    throw new VerificationError(`no audit log to verify: ${logDir} holds no segment files`, {
      hint: 'pass the data home with --home DIR (or PCIGATE_HOME)',
    });
  }

  let rootKey: VerifyInput['rootKey'];
  if (opts.rootKeyFile !== undefined) {
    const text = await fs.readFile(opts.rootKeyFile, 'utf8').catch((e: unknown) => {
      throw new VerificationError(`cannot read the root key ${opts.rootKeyFile} (${errno(e) ?? 'error'})`, { cause: e });
    });
    rootKey = { raw: parsePublicKeyFile(text), source: 'user' };
  } else {
    const text = await readOptional(fs, path.join(home, 'keys', 'root.pub'));
    if (text) rootKey = { raw: parsePublicKeyFile(text.toString('utf8')), source: 'home' };
  }
  const origin = (await readOptional(fs, path.join(home, 'origin')))?.toString('utf8').trim();
  const checkpoints = await readOptional(fs, path.join(home, 'checkpoints.jsonl'));
  const epochs = await readOptional(fs, path.join(home, 'keys', 'epochs.jsonl'));
  // Segments last: a broker may be appending. Every checkpoint read above covers records that were durable
  // before it was written, so the segments read now hold them all (no false 'truncated').
  const segments = await Promise.all(names.map(async (name) => ({ name, bytes: await fs.readFile(path.join(logDir, name)) })));

  // Hashed as streams, never held: a recording may be gigabytes, and a FIFO or device planted at its path
  // (or a symbolic link out of recordings/) is refused rather than read (recorder/recording-file.ts).
  const blobs = new Map<string, BlobContent | undefined>();
  for (const p of blobPaths(segments)) {
    const file = await readRecordingFile(fs, home, p);
    blobs.set(p, file.status === 'read' ? { sha256: file.sha256, bytes: file.bytes } : file.status === 'missing' ? undefined : { refused: file.detail });
  }

  const input: VerifyInput = {
    segments,
    nowMicros: opts.nowMicros,
    maxUnsealedMicros: opts.maxUnsealedMicros,
    blob: (p) => blobs.get(p),
  };
  if (checkpoints) input.checkpoints = checkpoints;
  if (epochs) input.epochs = epochs;
  if (rootKey) input.rootKey = rootKey;
  if (origin) input.origin = origin;
  if (opts.state) input.state = opts.state;
  if (opts.proofSeq !== undefined) input.proofSeq = opts.proofSeq;
  return input;
}

/**
 * Paths of the blobs records commit to. Only lines holding `"blobs":` are parsed (a native byte search),
 * so this costs little next to the verification itself.
 */
export function blobPaths(segments: ReadonlyArray<{ bytes: Uint8Array }>): Set<string> {
  const out = new Set<string>();
  const needle = Buffer.from('"blobs":[');
  for (const seg of segments) {
    const buf = Buffer.from(seg.bytes.buffer, seg.bytes.byteOffset, seg.bytes.byteLength);
    let at = buf.indexOf(needle);
    while (at >= 0) {
      const start = buf.lastIndexOf(10, at) + 1;
      let end = buf.indexOf(10, at);
      if (end < 0) end = buf.length;
      try {
        const rec = JSON.parse(buf.toString('utf8', start, end)) as { blobs?: Array<{ path?: unknown }> };
        for (const b of Array.isArray(rec.blobs) ? rec.blobs : []) if (typeof b?.path === 'string') out.add(b.path);
      } catch {
        // an unreadable line: verifyLog reports it
      }
      at = buf.indexOf(needle, end);
    }
  }
  return out;
}

function isState(v: unknown): v is VerifyState {
  const s = v as Partial<VerifyState> | null;
  return (
    typeof s === 'object' && s !== null && s.v === 1 && typeof s.origin === 'string' && Number.isSafeInteger(s.size) &&
    typeof s.root === 'string' && /^[0-9a-f]{64}$/.test(s.root) &&
    (s.checkpoint === undefined || (Number.isSafeInteger(s.checkpoint.size) && typeof s.checkpoint.root === 'string' && typeof s.checkpoint.note === 'string'))
  );
}

/** The state saved by an earlier run, or undefined when `file` does not exist yet (the first run). */
export async function readVerifyState(fs: Fs, file: string): Promise<VerifyState | undefined> {
  const bytes = await readOptional(fs, file);
  if (!bytes) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch {
    v = undefined;
  }
  if (!isState(v)) throw new VerificationError(`${file} is not a pcigate verify state file`, { hint: 'pass the file an earlier `pcigate verify --state` wrote' });
  return v;
}

/** Writes the state as canonical JSON, atomically (temporary file, fsync, rename), mode 0600. */
export async function writeVerifyState(fs: Fs, file: string, state: VerifyState): Promise<void> {
  const tmp = `${file}.tmp-${randomBytes(4).toString('hex')}`;
  const fh = await fs.open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(`${canonicalize(state)}\n`, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}
