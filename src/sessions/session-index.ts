/**
 * The session index: `index/sessions.json` in the data home, a cache of `pcigate sessions` rows folded from
 * the audit log (issue 8 item 1). The log stays the source of truth: the index remembers how far it read
 * each segment, the next seq and the leaf hash of the last record it folded; when the log only grew, the
 * new records are folded in; when anything else changed (a segment shrank or vanished, the seq does not
 * continue, the hash chain does not link to what was read), the index is rebuilt from the whole log.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Fs } from '../cli/ctx.js';
import type { AuditRecord } from '../../recorder/types.js';
import { applyRecord } from './session-summary.js';
import type { SessionSummary } from './session-summary.js';
import { listSegments, readRecords } from './log-reader.js';
import type { LogPosition } from './log-reader.js';

const VERSION = 1;

export interface SessionIndexFile {
  version: number;
  files: LogPosition[];
  next_seq: number;
  last_leaf: string | null;
  sessions: SessionSummary[];
}

export interface SessionIndex {
  sessions: SessionSummary[];
  /** How the index was brought up to date. */
  how: 'fresh' | 'updated' | 'rebuilt';
  records: number;
}

export function indexPath(home: string): string {
  return path.join(home, 'index', 'sessions.json');
}

async function readIndex(fs: Fs, home: string): Promise<SessionIndexFile | undefined> {
  try {
    const v = JSON.parse(await fs.readFile(indexPath(home), 'utf8')) as SessionIndexFile;
    return v.version === VERSION && Array.isArray(v.files) && Array.isArray(v.sessions) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Where reading may resume, or undefined when the log is not a continuation of what the index saw. */
function resumePoint(idx: SessionIndexFile, now: LogPosition[]): LogPosition | undefined | 'same' {
  if (idx.files.length === 0) return undefined;
  if (now.length < idx.files.length) return undefined;
  for (let i = 0; i < idx.files.length; i++) {
    const was = idx.files[i]!;
    const is = now[i]!;
    if (was.file !== is.file) return undefined;
    const last = i === idx.files.length - 1;
    if (!last && was.bytes !== is.bytes) return undefined;
    if (last && is.bytes < was.bytes) return undefined;
  }
  const tail = idx.files.at(-1)!;
  if (now.length === idx.files.length && now.at(-1)!.bytes === tail.bytes) return 'same';
  return tail;
}

/**
 * Loads the index of `home`, bringing it up to date with the log first (and writing it back, 0600 under a
 * 0700 `index/`). A home without a log gives an empty list.
 */
export async function loadSessionIndex(fs: Fs, home: string): Promise<SessionIndex> {
  const segments = await listSegments(fs, home);
  const idx = await readIndex(fs, home);
  if (idx) {
    const from = resumePoint(idx, segments);
    if (from === 'same') return { sessions: idx.sessions, how: 'fresh', records: idx.next_seq };
    if (from) {
      const updated = await fold(fs, home, segments, from, idx);
      // Nothing new: the log's newest segment only ends in room its writer reserved (a broker runs), which the
      // file's size counts and the index's position does not. Not written again.
      if (updated && updated.next_seq === idx.next_seq && updated.files.length === idx.files.length) {
        return { sessions: idx.sessions, how: 'fresh', records: idx.next_seq };
      }
      if (updated) {
        await writeIndex(fs, home, updated);
        return { sessions: updated.sessions, how: 'updated', records: updated.next_seq };
      }
    }
  }
  // No log (yet, or a wrong --home): nothing to list, and nothing is created there.
  if (segments.length === 0) return { sessions: [], how: 'rebuilt', records: 0 };
  const built = await fold(fs, home, segments, undefined, undefined);
  if (!built) throw new Error('unreachable: a full rebuild has nothing to link to');
  await writeIndex(fs, home, built);
  return { sessions: built.sessions, how: 'rebuilt', records: built.next_seq };
}

/** Folds records from `from` on; undefined when they do not continue `base` (caller rebuilds). */
async function fold(fs: Fs, home: string, segments: LogPosition[], from: LogPosition | undefined, base: SessionIndexFile | undefined): Promise<SessionIndexFile | undefined> {
  const map = new Map<string, SessionSummary>();
  for (const s of base?.sessions ?? []) map.set(s.id, s);
  let nextSeq = base?.next_seq ?? 0;
  let prev = base?.last_leaf ?? null;
  let broken = false;
  const onRecord = (r: AuditRecord) => {
    if (broken) return;
    if (base && (r.seq !== nextSeq || (prev !== null && r.prev !== prev))) { broken = true; return; }
    prev = null; // the chain is checked at the seam only; `verify` checks all of it
    nextSeq = r.seq + 1;
    applyRecord(map, r);
  };
  let read;
  try {
    read = await readRecords(fs, home, segments, from, onRecord);
  } catch (e) {
    // Resuming mid-line (the index's offsets do not fit this log) is a reason to rebuild, not to fail.
    if (base) return undefined;
    throw e;
  }
  const { consumed, lastLeaf } = read;
  if (broken) return undefined;
  const sessions = [...map.values()].sort((a, b) => a.start_seq - b.start_seq);
  return { version: VERSION, files: consumed, next_seq: nextSeq, last_leaf: lastLeaf ?? base?.last_leaf ?? null, sessions };
}

async function writeIndex(fs: Fs, home: string, idx: SessionIndexFile): Promise<void> {
  const dir = path.dirname(indexPath(home));
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = `${indexPath(home)}.${randomBytes(4).toString('hex')}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(idx), { mode: 0o600 });
    await fs.rename(tmp, indexPath(home));
  } catch {
    // The index is a cache: a read-only home (an auditor's copy) still lists, just without caching.
  }
}
