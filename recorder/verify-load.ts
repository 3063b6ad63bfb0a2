/**
 * The IO around the pure verifier: reads a data home (docs/log-format.md "Data home layout") into a
 * VerifyInput, and reads and atomically writes the `--state` file that lets a later run detect rollback
 * and truncation. The segments and recordings are not read here: the input reads them when verifyLog asks,
 * one segment at a time, so a log far larger than memory can be verified.
 */
import { constants as bufferConstants } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Fs } from '../src/cli/ctx.js';
import { VerificationError } from '../src/errors.js';
import type { FileHandle } from './blob.js';
import { canonicalize } from './canonical-json.js';
import { parsePublicKeyFile } from './keys.js';
import { readRecordingFile } from './recording-file.js';
import { useRegularFile } from './regular-file.js';
import type { RegularFileUse } from './regular-file.js';
import { listSegments, withoutReserve } from './segment-scan.js';
import type { BlobContent, JsonlFile, SegmentSource, VerifyInput, VerifyState } from './verify-types.js';

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

/**
 * Opens a file of the data home (origin, checkpoints.jsonl, keys/…) and hands it to `use` (recorder/regular-file.ts),
 * or undefined when it does not exist. Only a regular file is read: a FIFO planted there would have verify wait
 * for a writer forever, a link to /dev/zero read without end (exit 3 naming the file instead, like a file that
 * cannot be read).
 */
async function useOptional<T>(fs: Fs, file: string, use: (fh: FileHandle, size: number) => Promise<T>): Promise<T | undefined> {
  const cannot = (code: string | undefined, cause: unknown) => new VerificationError(`cannot read ${file} (${code ?? 'error'})`, { cause });
  let r: RegularFileUse<T>;
  try {
    r = await useRegularFile(fs, file, { follow: true }, use);
  } catch (e) {
    if (e instanceof VerificationError) throw e;
    throw cannot(errno(e), e);
  }
  if (r.status === 'unopened') {
    if (r.code === 'ENOENT') return undefined;
    throw cannot(r.code, r.cause);
  }
  if (r.status === 'not_file') throw new VerificationError(`${file} is ${r.kind}, not a regular file; it was not read`);
  return r.value;
}

/** A small file of the data home (origin, keys/root.pub, the state), whole; undefined when it does not exist. */
async function readOptional(fs: Fs, file: string): Promise<Buffer | undefined> {
  return useOptional(fs, file, (fh) => fh.readFile());
}

const CHUNK = 1 << 20;

/**
 * checkpoints.jsonl or keys/epochs.jsonl, undefined when it does not exist: checked now, and read when verifyLog
 * gets to it, a chunk at a time and never whole (recorder/jsonl-lines.ts: 2.7 years of checkpoints are more
 * than Node reads as one file), up to the size it has now. That keeps what the loader promises below: the
 * checkpoints are those written before the segments were listed. Each read opens the file again (pcigate evidence
 * reads both after verify), so each reads all of it, past where `each` stopped, and the SHA-256 of what it read
 * must be the first read's: a file replaced, rewritten or cut in between would have the bundle hold checkpoints
 * or keys other than those verified (exit 3 naming the file instead).
 */
async function jsonlFile(fs: Fs, file: string): Promise<JsonlFile | undefined> {
  const size = await useOptional(fs, file, async (_fh, atOpen) => atOpen);
  if (size === undefined) return undefined;
  let first: string | undefined;
  return {
    read: async (each) => {
      // An error of `each` is the verifier's own, not the file's: thrown as it is, after the file is closed.
      let failed: { error: unknown } | undefined;
      let stopped = false;
      const hash = createHash('sha256');
      const read = await useOptional(fs, file, async (fh) => {
        const buf = Buffer.allocUnsafe(Math.max(1, Math.min(CHUNK, size))); // one buffer: `each` keeps no chunk
        for (let at = 0; at < size;) {
          const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - at), at);
          if (bytesRead === 0) break; // cut since: what is there is what is verified (the first time)
          at += bytesRead;
          hash.update(buf.subarray(0, bytesRead));
          if (stopped) continue;
          try {
            if (!each(buf.subarray(0, bytesRead))) stopped = true;
          } catch (error) {
            failed = { error };
            break;
          }
        }
        return true;
      });
      if (failed) throw failed.error;
      if (!read) throw new VerificationError(`cannot read ${file} (ENOENT): it was removed while verify ran`);
      const digest = hash.digest('base64');
      first ??= digest;
      if (digest !== first) throw new VerificationError(`${file} changed while verify ran: what is read now differs from what was verified`);
    },
  };
}

/**
 * Reads HOME into a VerifyInput. Throws VerificationError (exit 3) when HOME or its log is missing or
 * empty: there is nothing to vouch for, and saying so must not look like a pass.
 */
export async function loadVerifyInput(fs: Fs, home: string, opts: LoadOptions): Promise<VerifyInput> {
  const logDir = path.join(home, 'log');
  let names: string[];
  try {
    names = await listSegmentNames(fs, logDir);
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
    const file = path.join(home, 'keys', 'root.pub');
    const text = await readOptional(fs, file);
    // The data home's copy is as writable as the log: one that does not parse fails the verification (exit
    // 3), it is not an error of the command (exit 1).
    if (text) rootKey = { raw: homeRootKey(file, text), source: 'home' };
  }
  const origin = homeOrigin(path.join(home, 'origin'), await readOptional(fs, path.join(home, 'origin')));
  const checkpoints = await jsonlFile(fs, path.join(home, 'checkpoints.jsonl'));
  const epochs = await jsonlFile(fs, path.join(home, 'keys', 'epochs.jsonl'));
  // Segments last: a broker may be appending. Every checkpoint read above covers records that were durable
  // before it was written, so the segments listed and read after it hold them all (no false 'truncated').
  // Listed again for that reason (a segment begun since the listing above may hold covered records), and
  // each read by verifyLog, later still, up to its size when opened (segmentSource).
  names = await listSegmentNames(fs, logDir);
  const segments = names.map((name, i) => segmentSource(fs, path.join(logDir, name), name, i === names.length - 1));

  // Hashed as streams, never held: a recording may be gigabytes, and a FIFO or device planted at its path
  // (or a symbolic link out of recordings/) is refused rather than read (recorder/recording-file.ts). Read
  // when verifyLog asks, after the segments, once per path.
  const blobs = new Map<string, Promise<BlobContent | undefined>>();
  const blob = (p: string): Promise<BlobContent | undefined> => {
    let got = blobs.get(p);
    if (!got) {
      got = readRecordingFile(fs, home, p).then((file) =>
        file.status === 'read' ? { sha256: file.sha256, bytes: file.bytes } : file.status === 'missing' ? undefined : { refused: file.detail });
      blobs.set(p, got);
    }
    return got;
  };

  const input: VerifyInput = {
    segments,
    nowMicros: opts.nowMicros,
    maxUnsealedMicros: opts.maxUnsealedMicros,
    blob,
  };
  if (checkpoints) input.checkpoints = checkpoints;
  if (epochs) input.epochs = epochs;
  if (rootKey) input.rootKey = rootKey;
  if (origin) input.origin = origin;
  if (opts.state) input.state = opts.state;
  if (opts.proofSeq !== undefined) input.proofSeq = opts.proofSeq;
  return input;
}

/** HOME/origin's one line; a file too large to be a string (planted: an origin is a key name) fails the verification. */
function homeOrigin(file: string, bytes: Buffer | undefined): string | undefined {
  try {
    return bytes?.toString('utf8').trim();
  } catch (e) {
    throw new VerificationError(`${file} is ${bytes!.length} bytes: not an origin (one line)`, { cause: e });
  }
}

function homeRootKey(file: string, text: Buffer): Buffer {
  try {
    return parsePublicKeyFile(text.toString('utf8'));
  } catch (e) {
    throw new VerificationError(`${file} is not an Ed25519 public key (one line "ed25519 <base64 of 32 bytes>")`, {
      cause: e, hint: 'pass your own copy of the root public key with --root-key FILE',
    });
  }
}

async function listSegmentNames(fs: Fs, logDir: string): Promise<string[]> {
  return (await listSegments(fs, logDir)).map((x) => x.file);
}

/**
 * A segment file read on each `read()` into one buffer, up to the size it had when first opened: a segment
 * a broker is still appending to reads the same bytes every time (verifyLog may read one again to re-parse a
 * line), and a line being written at that moment is at most an incomplete last line, which verify reports as
 * a write in flight. The `newest` segment is read up to where its bytes end when first read, without the room the
 * writer reserves past its records (segment-scan.ts withoutReserve): records the broker writes into that room
 * meanwhile are not read either. Nothing here keeps the bytes.
 *
 * The writer makes every segment a regular file in log/. Anything else planted under a segment's name is
 * refused, not read (exit 3, like a segment that cannot be read): a FIFO would have verify wait for a writer
 * forever, a directory fail as an internal error, a symbolic link lead the verdict to any file; and a
 * segment larger than one buffer can hold (a sparse file costs nothing to make) is refused by its size.
 */
function segmentSource(fs: Fs, file: string, name: string, newest: boolean): SegmentSource {
  let size: number | undefined;
  const source: Extract<SegmentSource, { read(): Promise<Uint8Array> }> = {
    name,
    async read() {
      // Not waiting for a FIFO's writer, not following a link; what was opened is checked.
      const r = await useRegularFile(fs, file, { follow: false }, async (fh, atOpen) => {
        size ??= atOpen;
        if (size > bufferConstants.MAX_LENGTH) {
          throw new VerificationError(`the segment ${file} is ${size} bytes, more than verify can read as one segment (${bufferConstants.MAX_LENGTH}); the writer starts a new segment at audit.segment_bytes`);
        }
        const buf = Buffer.allocUnsafeSlow(size);
        let got = 0;
        while (got < size) {
          const { bytesRead } = await fh.read(buf, got, size - got, got);
          if (bytesRead === 0) break; // cut while being read: what was there is what is verified
          got += bytesRead;
        }
        const read = got === size ? buf : buf.subarray(0, got);
        if (!newest) return read;
        const records = withoutReserve(read);
        if (records.length < read.length) source.reserved = true;
        size = records.length;
        return records;
      });
      if (r.status === 'used') return r.value;
      if (r.status === 'not_file') throw new VerificationError(`the segment ${file} is ${r.kind}, not a regular file; it was not read`);
      if (r.code === 'ELOOP') throw new VerificationError(`the segment ${file} is a symbolic link, not a regular file; it was not read`, { cause: r.cause });
      // Gone or unreadable since it was listed (verify reads each segment when it gets to it).
      throw new VerificationError(`cannot read the segment ${file} (${r.code ?? 'error'})`, { cause: r.cause });
    },
  };
  return source;
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
