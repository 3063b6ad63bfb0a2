/**
 * Checkpoints (docs/log-format.md "Merkle tree and checkpoints"): every C2SP signed note from
 * checkpoints.jsonl and from `checkpoint` mirror records, checked for its signer (the epoch key in force at
 * its size), its root (the RFC 6962 root of the first `size` records), forks, truncation, and rollback
 * against the mirrors and against the state of an earlier run.
 */
import { createHash } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { ed25519Verify, publicKeyFromRaw } from './ed25519.js';
import { forEachJsonLine } from './jsonl-lines.js';
import type { Checkpoint, Note } from './signed-note.js';
import { epochKeyName, noteKeyId, parseCheckpoint, parseNote } from './signed-note.js';
import type { EpochKeys } from './verify-keys.js';
import { epochAt } from './verify-keys.js';
import type { JsonlFile, Problem, ProblemKind, VerifyState } from './verify-types.js';

export const CHECKPOINTS_FILE = 'checkpoints.jsonl';

export interface Where {
  segment: string;
  seq: number | null;
  line: number;
}

/**
 * What verify keeps of one distinct checkpoint once its signature is checked: not its note (a year of 10 s
 * checkpoints is gigabytes of them), only what the later checks need — except for the newest that can seal the
 * log, whose note the report, the state file and --proof show.
 */
export interface CheckpointEntry {
  size: number;
  root: Buffer;
  /** The first line of checkpoints.jsonl or mirror record holding this note (the file is read first). */
  where: Where;
  inFile: boolean;
  /** Signed by some certified epoch key (and of this log's origin). */
  valid: boolean;
  /** Signed by the key of the epoch in force at its size. */
  rightKey: boolean;
}

/** The newest checkpoint signed by the right key that the log reaches (what seals it), with its note. */
export interface SealingCheckpoint {
  entry: CheckpointEntry;
  note: string;
  epoch: number | undefined;
  time: string | undefined;
}

/**
 * Reads checkpoints.jsonl, line by line, then the mirrors, into distinct notes (told apart by their SHA-256),
 * checking each note's signer when first seen (the epoch key in force at its size, `keys`) and reporting
 * unreadable lines and bad signatures where the note is first found. `size`: the records in the log.
 */
export async function collectCheckpoints(opts: {
  file: JsonlFile | undefined;
  mirrors: Array<Where & { note: unknown }>;
  keys: EpochKeys;
  origin: string;
  size: number;
  problems: Problem[];
}): Promise<{ entries: CheckpointEntry[]; sealing: SealingCheckpoint | undefined }> {
  const { problems } = opts;
  const byNote = new Map<string, CheckpointEntry>();
  const cache = new Map<Uint8Array, KeyObject>();
  let sealing: SealingCheckpoint | undefined;
  const add = (note: unknown, w: Where, inFile: boolean) => {
    if (typeof note !== 'string') { problems.push(at('unreadable', w, 'checkpoint without a note string')); return; }
    const id = createHash('sha256').update(note).digest('base64');
    let e = byNote.get(id);
    if (!e) {
      let parsed: Note;
      let cp: Checkpoint;
      try {
        parsed = parseNote(note);
        cp = parseCheckpoint(parsed.text);
      } catch (err) {
        problems.push(at('unreadable', w, `not a signed checkpoint: ${(err as Error).message}`));
        return;
      }
      e = { size: cp.size, root: cp.root, where: w, inFile: false, valid: false, rightKey: false };
      checkSigner(e, parsed, cp, opts, cache);
      if (e.rightKey && e.size <= opts.size && (!sealing || e.size > sealing.entry.size)) sealing = { entry: e, note, epoch: cp.epoch, time: cp.time };
      byNote.set(id, e);
    }
    e.inFile ||= inFile;
  };
  await forEachJsonLine(opts.file, ({ line, value: v, torn }) => {
    const w = { segment: CHECKPOINTS_FILE, seq: null, line };
    if (torn && v === undefined) {
      // What a crash (or a full disk) leaves of an append: the writer cuts it when it next opens the log.
      problems.push({ ...at('unreadable', w, 'the last line is cut short (a checkpoint append that did not finish: a crash or a full disk); the writer cuts it off when it next opens the log'), severity: 'warn' });
    } else if (typeof v !== 'object' || v === null) problems.push(at('unreadable', w, 'not a checkpoint line {"note": …}'));
    else add((v as { note?: unknown }).note, w, true);
  });
  for (const m of opts.mirrors) add(m.note, { segment: m.segment, seq: m.seq, line: m.line }, false);
  return { entries: [...byNote.values()], sealing };
}

export function at(kind: ProblemKind, w: Where, detail: string): Problem {
  return { kind, segment: w.segment, seq: w.seq, detail, severity: 'fail', line: w.line };
}

function whereText(w: Where): string {
  return w.seq === null ? `${w.segment} line ${w.line}` : `the checkpoint record seq ${w.seq}`;
}

/**
 * signed-note verification as recorder/signed-note.ts verifyNote does it (name, key ID, Ed25519 over the
 * text), but with the public KeyObject built once per epoch instead of once per call: a 1M-record log has
 * a thousand checkpoints, and importing the key dominated their check.
 */
function verifyWith(note: Note, name: string, raw: Uint8Array, cache: Map<Uint8Array, KeyObject>): boolean {
  let key = cache.get(raw);
  if (!key) { key = publicKeyFromRaw(raw); cache.set(raw, key); }
  const id = noteKeyId(name, raw);
  const text = Buffer.from(note.text, 'utf8');
  return note.signatures.some((s) => s.name === name && s.keyId.equals(id) && ed25519Verify(key, text, s.sig));
}

/**
 * Who signed a note just read: sets `valid` (some certified epoch key of this origin) and `rightKey` (the key
 * of the epoch in force at its size), reporting any other signer where the note was found.
 */
function checkSigner(
  e: CheckpointEntry, parsed: Note, cp: Checkpoint,
  opts: { keys: EpochKeys; origin: string; problems: Problem[] }, cache: Map<Uint8Array, KeyObject>,
): void {
  const { keys, origin, problems } = opts;
  const w = e.where;
  const S = cp.size;
  if (cp.origin !== origin) { problems.push(at('fork', w, `checkpoint of another log: origin ${JSON.stringify(cp.origin)}`)); return; }
  const verifyNote = (name: string, raw: Uint8Array) => verifyWith(parsed, name, raw, cache);
  const inForce = epochAt(keys, S);
  const pub = keys.pubs.get(inForce);
  if (pub && verifyNote(epochKeyName(origin, inForce), pub)) {
    e.valid = true;
    e.rightKey = true;
    if (cp.epoch !== undefined && cp.epoch !== inForce) problems.push(at('wrong_epoch_key', w, `checkpoint of size ${S} says epoch ${cp.epoch} but epoch ${inForce} was in force`));
    return;
  }
  const other = [...keys.pubs].find(([ep, p]) => verifyNote(epochKeyName(origin, ep), p));
  if (other) {
    e.valid = true;
    problems.push(at('wrong_epoch_key', w, `checkpoint of size ${S} is signed by the key of epoch ${other[0]}, but epoch ${inForce} was in force`));
  } else if (pub && parsed.signatures.some((s) => s.keyId.equals(noteKeyId(epochKeyName(origin, inForce), pub)))) {
    problems.push(at('modified', w, `checkpoint of size ${S}: the signature of epoch ${inForce} does not verify, the note was altered`));
  } else {
    problems.push(at('wrong_epoch_key', w, `checkpoint of size ${S} is signed by an unknown key (${parsed.signatures.map((s) => s.name).join(', ')})`));
  }
}

/**
 * Checks the signed roots against the log, forks, truncation and rollback (the signers were checked as the
 * notes were read, collectCheckpoints). `rootAt(n)` is the root of the first n records.
 */
export function checkCheckpoints(opts: {
  entries: CheckpointEntry[];
  origin: string;
  size: number;
  firstDamaged: number;
  rootAt: (n: number) => Buffer | undefined;
  segmentForSeq: (seq: number) => string | null;
  fileGiven: boolean;
  state: VerifyState | undefined;
  problems: Problem[];
}): void {
  const { entries, size, problems } = opts;
  const logAt = (kind: ProblemKind, seq: number, detail: string) =>
    problems.push({ kind, segment: opts.segmentForSeq(seq), seq, detail, severity: 'fail' });

  for (const e of entries) {
    const S = e.size;
    if (!e.valid || S > size) continue;
    const r = opts.rootAt(S);
    if (r && !r.equals(e.root) && opts.firstDamaged >= S && S > 0) {
      logAt('modified', S - 1, `the first ${S} records do not hash to the root signed in ${whereText(e.where)}: record seq ${S - 1} or earlier was changed`);
    }
  }

  const valid = entries.filter((e) => e.valid).sort((a, b) => a.size - b.size);
  const bySize = new Map<number, CheckpointEntry>();
  for (const e of valid) {
    const first = bySize.get(e.size);
    if (!first) bySize.set(e.size, e);
    else if (!first.root.equals(e.root)) {
      problems.push(at('fork', e.where, `two signed checkpoints of size ${e.size} with different roots (also ${whereText(first.where)})`));
    }
  }
  const newest = valid[valid.length - 1];
  let truncatedReported = false;
  if (newest && newest.size > size) {
    truncatedReported = true;
    logAt('truncated', size, `the log ends ${size === 0 ? 'before seq 0' : `at seq ${size - 1}`} but ${whereText(newest.where)} commits to ${newest.size} records`);
  }
  const fileNewest = valid.filter((e) => e.inFile).reduce((m, e) => Math.max(m, e.size), 0);
  for (const e of valid) {
    if (e.inFile || e.size <= fileNewest) continue;
    problems.push(at('rollback', e.where, `${CHECKPOINTS_FILE} ${opts.fileGiven ? `ends at a checkpoint of size ${fileNewest}` : 'is missing'}, but the log mirrors a signed checkpoint of size ${e.size}`));
  }

  const st = opts.state;
  if (!st) return;
  const stateAt = (kind: ProblemKind, detail: string) => problems.push({ kind, segment: 'state', seq: null, detail, severity: 'fail' });
  if (st.origin !== opts.origin) { stateAt('fork', `the state file belongs to origin ${JSON.stringify(st.origin)}`); return; }
  if (st.checkpoint) {
    const sc = st.checkpoint;
    if (fileNewest < sc.size) {
      problems.push({ kind: 'rollback', segment: CHECKPOINTS_FILE, seq: null, severity: 'fail',
        detail: `the newest checkpoint in ${CHECKPOINTS_FILE} has size ${fileNewest}, but an earlier run saw a signed checkpoint of size ${sc.size}` });
    }
    const same = bySize.get(sc.size);
    if (same && same.root.toString('hex') !== sc.root) {
      problems.push(at('fork', same.where, `checkpoint of size ${sc.size} has a different root than the one an earlier run saw`));
    }
    const r = sc.size <= size ? opts.rootAt(sc.size) : undefined;
    if (r && r.toString('hex') !== sc.root && opts.firstDamaged >= sc.size) {
      stateAt('rollback', `the first ${sc.size} records are no longer consistent with the checkpoint an earlier run saw`);
    }
  }
  if (st.size > size && !truncatedReported) {
    logAt('truncated', size, `an earlier run verified ${st.size} records; the log now ends ${size === 0 ? 'before seq 0' : `at seq ${size - 1}`}`);
  } else if (st.size <= size) {
    const r = opts.rootAt(st.size);
    if (r && r.toString('hex') !== st.root && opts.firstDamaged >= st.size) {
      stateAt('rollback', `the first ${st.size} records no longer hash to the root an earlier run saw`);
    }
  }
}
