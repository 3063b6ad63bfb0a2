/**
 * C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 signatures, and the body of a C2SP
 * transparency-log checkpoint (https://c2sp.org/tlog-checkpoint) with pcigate's `time` and `epoch`
 * extension lines (docs/log-format.md "Merkle tree and checkpoints").
 */
import { createHash } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { PcigateError } from '../src/errors.js';
import { ed25519Sign, ed25519Verify, rawPublicKey } from './ed25519.js';

/** signed-note signature type byte for Ed25519. */
const ALG_ED25519 = 0x01;
/** Each signature line starts with U+2014 EM DASH and a space. */
const SIG_PREFIX = '\u2014 ';

export interface NoteSignature {
  name: string;
  /** 4-byte key ID. */
  keyId: Buffer;
  /** The signature bytes after the key ID (64 for Ed25519). */
  sig: Buffer;
}

export interface Note {
  /** The signed text, ending in `\n`. */
  text: string;
  signatures: NoteSignature[];
}

/** The string is not a well-formed signed note or checkpoint. */
export class NoteFormatError extends PcigateError {
  static override code = 'ERR_NOTE_FORMAT';
  override code = NoteFormatError.code;
}

/** A key name: non-empty, no Unicode whitespace, no `+` (signed-note "Signatures"). */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && !/[\s+]/u.test(name);
}

/** signed-note key ID for Ed25519: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key)[0:4]. */
export function noteKeyId(name: string, publicKeyRaw: Uint8Array): Buffer {
  return createHash('sha256').update(name, 'utf8').update(Buffer.from([0x0a, ALG_ED25519])).update(publicKeyRaw).digest().subarray(0, 4);
}

function checkText(text: string): void {
  if (text.length === 0 || !text.endsWith('\n')) throw new NoteFormatError('note text must be non-empty and end with a newline');
  // signed-note: text is UTF-8 with no control characters other than newline.
  if (/[\u0000-\u0009\u000b-\u001f\u007f]/.test(text)) throw new NoteFormatError('note text holds a control character');
}

/**
 * Signs `text` as the signer `name` and returns the whole note: text, a blank line, one signature line
 * `— <name> <base64(keyID ‖ signature)>`.
 */
export function signNote(text: string, name: string, privateKey: KeyObject): string {
  checkText(text);
  if (!isValidKeyName(name)) throw new NoteFormatError(`invalid key name ${JSON.stringify(name)}`);
  const id = noteKeyId(name, rawPublicKey(privateKey));
  const sig = ed25519Sign(privateKey, Buffer.from(text, 'utf8'));
  return `${text}\n${SIG_PREFIX}${name} ${Buffer.concat([id, sig]).toString('base64')}\n`;
}

/**
 * Splits a note into its text and signature lines. Throws NoteFormatError when it is not well formed;
 * does not check any signature.
 */
export function parseNote(note: string): Note {
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new NoteFormatError('no blank line between note text and signatures');
  const text = note.slice(0, split + 1);
  const rest = note.slice(split + 2);
  checkText(text);
  if (!rest.endsWith('\n')) throw new NoteFormatError('signature block must end with a newline');
  const signatures: NoteSignature[] = [];
  for (const line of rest.slice(0, -1).split('\n')) {
    if (!line.startsWith(SIG_PREFIX)) throw new NoteFormatError(`malformed signature line ${JSON.stringify(line)}`);
    const parts = line.slice(SIG_PREFIX.length).split(' ');
    const [name, b64] = parts;
    if (parts.length !== 2 || name === undefined || b64 === undefined || !isValidKeyName(name)) {
      throw new NoteFormatError(`malformed signature line ${JSON.stringify(line)}`);
    }
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new NoteFormatError(`signature of ${name} is not base64`);
    const raw = Buffer.from(b64, 'base64');
    // Node's decoder ignores non-zero padding bits; requiring the canonical encoding keeps one note one
    // byte string (verifiers compare notes byte for byte to detect forks).
    if (raw.toString('base64') !== b64) throw new NoteFormatError(`signature of ${name} is not canonical base64`);
    if (raw.length < 5) throw new NoteFormatError(`signature of ${name} is too short`);
    signatures.push({ name, keyId: raw.subarray(0, 4), sig: raw.subarray(4) });
  }
  if (signatures.length === 0) throw new NoteFormatError('note has no signatures');
  return { text, signatures };
}

/**
 * True when the note carries a valid Ed25519 signature by key `name` with raw public key `publicKeyRaw`
 * (matching name and key ID, then the signature over the text). A malformed note is false, not a throw.
 */
export function verifyNote(note: string | Note, name: string, publicKeyRaw: Uint8Array): boolean {
  let parsed: Note;
  try {
    parsed = typeof note === 'string' ? parseNote(note) : note;
  } catch {
    return false;
  }
  const id = noteKeyId(name, publicKeyRaw);
  const data = Buffer.from(parsed.text, 'utf8');
  return parsed.signatures.some((s) => s.name === name && s.keyId.equals(id) && ed25519Verify(publicKeyRaw, data, s.sig));
}

export interface Checkpoint {
  origin: string;
  /** Leaves committed to (seq 0 … size−1). */
  size: number;
  /** 32-byte RFC 6962 root hash. */
  root: Buffer;
  /** pcigate extension `time <ts>`: RFC 3339 UTC with microseconds. */
  time?: string;
  /** pcigate extension `epoch <n>`: the key epoch in force when it was signed. */
  epoch?: number;
  /** Any other extension lines, verbatim. */
  extensions?: string[];
}

/** The note text of a C2SP tlog-checkpoint: origin, decimal size, base64 root, then extension lines. */
export function formatCheckpoint(c: Checkpoint): string {
  if (c.origin.length === 0 || /[\n]/.test(c.origin)) throw new NoteFormatError('checkpoint origin must be one non-empty line');
  if (!Number.isSafeInteger(c.size) || c.size < 0) throw new NoteFormatError(`checkpoint size ${c.size} is not a non-negative integer`);
  if (c.root.length !== 32) throw new NoteFormatError('checkpoint root must be 32 bytes');
  const lines = [c.origin, String(c.size), c.root.toString('base64')];
  if (c.time !== undefined) lines.push(`time ${c.time}`);
  if (c.epoch !== undefined) lines.push(`epoch ${c.epoch}`);
  for (const e of c.extensions ?? []) lines.push(e);
  const text = `${lines.join('\n')}\n`;
  checkText(text);
  return text;
}

/** Parses checkpoint note text (not the signatures: use parseNote first, then this on `.text`). */
export function parseCheckpoint(text: string): Checkpoint {
  checkText(text);
  const lines = text.slice(0, -1).split('\n');
  const [origin, sizeStr, rootB64, ...ext] = lines;
  if (!origin) throw new NoteFormatError('checkpoint has no origin line');
  if (sizeStr === undefined || !/^(0|[1-9][0-9]*)$/.test(sizeStr) || !Number.isSafeInteger(Number(sizeStr))) {
    throw new NoteFormatError(`checkpoint size ${JSON.stringify(sizeStr)} is not a decimal integer`);
  }
  if (rootB64 === undefined || !/^[A-Za-z0-9+/]{43}=$/.test(rootB64)) throw new NoteFormatError('checkpoint root is not base64 of 32 bytes');
  const root = Buffer.from(rootB64, 'base64');
  if (root.toString('base64') !== rootB64) throw new NoteFormatError('checkpoint root is not canonical base64');
  const out: Checkpoint = { origin, size: Number(sizeStr), root };
  const extensions: string[] = [];
  for (const line of ext) {
    if (line.length === 0) throw new NoteFormatError('empty extension line in checkpoint');
    const time = /^time (\S+)$/.exec(line);
    const epoch = /^epoch (0|[1-9][0-9]*)$/.exec(line);
    if (time && out.time === undefined) out.time = time[1];
    else if (epoch && out.epoch === undefined) out.epoch = Number(epoch[1]);
    else extensions.push(line);
  }
  if (extensions.length > 0) out.extensions = extensions;
  return out;
}

/** The signer name for the key of epoch n: `<origin>#e<n>` (docs/log-format.md). */
export function epochKeyName(origin: string, epoch: number): string {
  return `${origin}#e${epoch}`;
}
