/**
 * Checkpoints (docs/log-format.md "Merkle tree and checkpoints"): every C2SP signed note from
 * checkpoints.jsonl and from `checkpoint` mirror records, checked for its signer (the epoch key in force at
 * its size), its root (the RFC 6962 root of the first `size` records), forks, truncation, and rollback
 * against the mirrors and against the state of an earlier run.
 */
import type { KeyObject } from 'node:crypto';
import { ed25519Verify, publicKeyFromRaw } from './ed25519.js';
import type { Checkpoint, Note } from './signed-note.js';
import { epochKeyName, noteKeyId, parseCheckpoint, parseNote } from './signed-note.js';
import { jsonLines } from './verify-fields.js';
import type { EpochKeys } from './verify-keys.js';
import { epochAt } from './verify-keys.js';
import type { Problem, ProblemKind, VerifyState } from './verify-types.js';

export const CHECKPOINTS_FILE = 'checkpoints.jsonl';

export interface Where {
  segment: string;
  seq: number | null;
  line: number;
}

export interface CheckpointEntry {
  note: string;
  parsed: Note;
  cp: Checkpoint;
  /** Lines of checkpoints.jsonl and mirror records holding this note; the file first. */
  where: Where[];
  inFile: boolean;
  /** Signed by some certified epoch key. */
  valid: boolean;
  /** Signed by the key of the epoch in force at its size. */
  rightKey: boolean;
}

/** Parses checkpoints.jsonl and the mirrors into distinct notes (by text), reporting unreadable lines. */
export function collectCheckpoints(
  file: Uint8Array | undefined,
  mirrors: Array<Where & { note: unknown }>,
  problems: Problem[],
): CheckpointEntry[] {
  const byNote = new Map<string, CheckpointEntry>();
  const add = (note: unknown, w: Where, inFile: boolean) => {
    if (typeof note !== 'string') { problems.push(at('unreadable', w, 'checkpoint without a note string')); return; }
    let e = byNote.get(note);
    if (!e) {
      try {
        const parsed = parseNote(note);
        e = { note, parsed, cp: parseCheckpoint(parsed.text), where: [], inFile: false, valid: false, rightKey: false };
      } catch (err) {
        problems.push(at('unreadable', w, `not a signed checkpoint: ${(err as Error).message}`));
        return;
      }
      byNote.set(note, e);
    }
    e.where.push(w);
    e.inFile ||= inFile;
  };
  for (const { line, value: v } of jsonLines(file)) {
    const w = { segment: CHECKPOINTS_FILE, seq: null, line };
    if (typeof v !== 'object' || v === null) problems.push(at('unreadable', w, 'not a checkpoint line {"note": …}'));
    else add((v as { note?: unknown }).note, w, true);
  }
  for (const m of mirrors) add(m.note, m, false);
  return [...byNote.values()];
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

/** Checks signatures, roots, forks, truncation and rollback. `rootAt(n)` is the root of the first n records. */
export function checkCheckpoints(opts: {
  entries: CheckpointEntry[];
  keys: EpochKeys;
  origin: string;
  size: number;
  firstDamaged: number;
  rootAt: (n: number) => Buffer | undefined;
  segmentForSeq: (seq: number) => string | null;
  fileGiven: boolean;
  state: VerifyState | undefined;
  problems: Problem[];
}): void {
  const { entries, keys, origin, size, problems } = opts;
  const cache = new Map<Uint8Array, KeyObject>();
  const verifyNote = (n: Note, name: string, raw: Uint8Array) => verifyWith(n, name, raw, cache);
  const logAt = (kind: ProblemKind, seq: number, detail: string) =>
    problems.push({ kind, segment: opts.segmentForSeq(seq), seq, detail, severity: 'fail' });

  for (const e of entries) {
    const w = e.where[0]!;
    const S = e.cp.size;
    if (e.cp.origin !== origin) { problems.push(at('fork', w, `checkpoint of another log: origin ${JSON.stringify(e.cp.origin)}`)); continue; }
    const inForce = epochAt(keys, S);
    const pub = keys.pubs.get(inForce);
    if (pub && verifyNote(e.parsed, epochKeyName(origin, inForce), pub)) {
      e.valid = true;
      e.rightKey = true;
      if (e.cp.epoch !== undefined && e.cp.epoch !== inForce) problems.push(at('wrong_epoch_key', w, `checkpoint of size ${S} says epoch ${e.cp.epoch} but epoch ${inForce} was in force`));
    } else {
      const other = [...keys.pubs].find(([ep, p]) => verifyNote(e.parsed, epochKeyName(origin, ep), p));
      if (other) {
        e.valid = true;
        problems.push(at('wrong_epoch_key', w, `checkpoint of size ${S} is signed by the key of epoch ${other[0]}, but epoch ${inForce} was in force`));
      } else if (pub && e.parsed.signatures.some((s) => s.keyId.equals(noteKeyId(epochKeyName(origin, inForce), pub)))) {
        problems.push(at('modified', w, `checkpoint of size ${S}: the signature of epoch ${inForce} does not verify, the note was altered`));
      } else {
        problems.push(at('wrong_epoch_key', w, `checkpoint of size ${S} is signed by an unknown key (${e.parsed.signatures.map((s) => s.name).join(', ')})`));
      }
    }
    if (!e.valid || S > size) continue;
    const r = opts.rootAt(S);
    if (r && !r.equals(e.cp.root) && opts.firstDamaged >= S && S > 0) {
      logAt('modified', S - 1, `the first ${S} records do not hash to the root signed in ${whereText(w)}: record seq ${S - 1} or earlier was changed`);
    }
  }

  const valid = entries.filter((e) => e.valid && e.cp.origin === origin).sort((a, b) => a.cp.size - b.cp.size);
  const bySize = new Map<number, CheckpointEntry>();
  for (const e of valid) {
    const first = bySize.get(e.cp.size);
    if (!first) bySize.set(e.cp.size, e);
    else if (!first.cp.root.equals(e.cp.root)) {
      problems.push(at('fork', e.where[0]!, `two signed checkpoints of size ${e.cp.size} with different roots (also ${whereText(first.where[0]!)})`));
    }
  }
  const newest = valid[valid.length - 1];
  let truncatedReported = false;
  if (newest && newest.cp.size > size) {
    truncatedReported = true;
    logAt('truncated', size, `the log ends ${size === 0 ? 'before seq 0' : `at seq ${size - 1}`} but ${whereText(newest.where[0]!)} commits to ${newest.cp.size} records`);
  }
  const fileNewest = valid.filter((e) => e.inFile).reduce((m, e) => Math.max(m, e.cp.size), 0);
  for (const e of valid) {
    if (e.inFile || e.cp.size <= fileNewest) continue;
    problems.push(at('rollback', e.where[0]!, `${CHECKPOINTS_FILE} ${opts.fileGiven ? `ends at a checkpoint of size ${fileNewest}` : 'is missing'}, but the log mirrors a signed checkpoint of size ${e.cp.size}`));
  }

  const st = opts.state;
  if (!st) return;
  const stateAt = (kind: ProblemKind, detail: string) => problems.push({ kind, segment: 'state', seq: null, detail, severity: 'fail' });
  if (st.origin !== origin) { stateAt('fork', `the state file belongs to origin ${JSON.stringify(st.origin)}`); return; }
  if (st.checkpoint) {
    const sc = st.checkpoint;
    if (fileNewest < sc.size) {
      problems.push({ kind: 'rollback', segment: CHECKPOINTS_FILE, seq: null, severity: 'fail',
        detail: `the newest checkpoint in ${CHECKPOINTS_FILE} has size ${fileNewest}, but an earlier run saw a signed checkpoint of size ${sc.size}` });
    }
    const same = bySize.get(sc.size);
    if (same && same.cp.root.toString('hex') !== sc.root) {
      problems.push(at('fork', same.where[0]!, `checkpoint of size ${sc.size} has a different root than the one an earlier run saw`));
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
