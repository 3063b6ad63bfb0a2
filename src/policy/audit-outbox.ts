/**
 * An audit outbox for approval records written by a process that cannot open the audit log because a
 * running broker owns it (the log has one writer at a time: recorder/log-lock.ts). `pcigate approve` and
 * `pcigate deny` run exactly while a broker waits, so their records go durably (fsync'd, 0600) into
 * `approvals/outbox/`, and the log's owner moves them into the hash-chained log with {@link drainOutbox}
 * (the approvals store does so whenever it checks a request). A record is never dropped: if it cannot
 * be written to the outbox either, the transition it describes does not happen; an owner killed while it moved one
 * leaves it claimed, and the next owner moves it (drainOutbox). The record's own `ts` is the
 * time it reached the log; `detail.occurred` keeps when it happened (PCI DSS 10.2.2 date and time).
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { AuditEvent, AuditSink, BlobRef } from '../../recorder/types.js';
import type { Clock, Fs } from '../cli/ctx.js';
import { listSegments, readRecords, segmentHolding } from '../sessions/log-reader.js';
import { AuditWriteError } from '../errors.js';
import { writeFileAtomic } from './file-lock.js';
import { formatTs } from '../../recorder/timestamp.js';

export function outboxDir(home: string): string {
  return path.join(home, 'approvals', 'outbox');
}

/** Events this process has parked: the counter in their names, shared by every outboxSink of the process. */
let parked = 0;

/** An AuditSink that parks events in the outbox; `seq` is unknown until drained (reported as -1). */
export function outboxSink(deps: { fs: Fs; clock: Clock; home: string }): AuditSink {
  const dir = outboxDir(deps.home);
  return {
    async append(event: AuditEvent) {
      try {
        await deps.fs.mkdir(dir, { recursive: true, mode: 0o700 });
        // Names sort in append order: time, then a per-process counter (not per sink: two sinks of one process
        // appending in the same millisecond sorted by their random part), then randomness for uniqueness. In base 36,
        // apart by `_`: the name is copied into the record (detail.outbox), and the decimal milliseconds of the names
        // before (`001796662956012-000000-…`) read as a Luhn-valid 13-digit number one time in ten, for which `pcigate
        // evidence` left the record out of its samples (it was often the only approval.approve). Those still sort first.
        const name = `t${deps.clock.now().toString(36).padStart(9, '0')}_${(parked++).toString(36).padStart(6, '0')}_${randomBytes(4).toString('hex')}.json`;
        await writeFileAtomic(deps.fs, path.join(dir, name), `${JSON.stringify({ ...event, detail: { ...event.detail, via_outbox: true, occurred: formatTs(deps.clock.micros()) } })}\n`);
        return { seq: -1, leaf: '' };
      } catch (e) {
        throw new AuditWriteError('cannot write the approval record to the audit outbox', { cause: e });
      }
    },
    async commitBlob(): Promise<BlobRef> {
      throw new AuditWriteError('the audit outbox does not take blobs');
    },
  };
}

/**
 * This process's mark in the names of the files it claims (`<name>.draining-<mark>-s<log size>-<random>`). Only the
 * log's owner drains, one process at a time (recorder/log-lock.ts), so a claim with another mark (or an older
 * pcigate's `.draining-<random>`) was left by a process that owned the log and stopped between claiming a file and
 * deleting it: killed, its record appended or not. One mark per process (on globalThis, as the log lock's
 * registry), however many copies of this module it loaded.
 */
const MARKS = Symbol.for('pcigate.outbox.claimMark');
const CLAIM_MARK: string = ((globalThis as Record<symbol, unknown>)[MARKS] ??= randomBytes(4).toString('hex')) as string;
const CLAIM_RE = /^(.+\.json)\.draining-([0-9a-f]+)(?:-s(\d+))?(?:-[0-9a-f]+)?$/;

/**
 * Moves every outboxed event into `sink` (the audit log, owned by the caller) in order, deleting each once appended;
 * returns how many were appended. Each record names its outbox file (`detail.outbox`), and each claim the log's
 * size when it was made, so a claim a killed owner left behind is taken up again: appended, unless the log from
 * that size on holds its record (it was appended, the file not yet deleted). A file that is not an event is renamed
 * `<name>.unreadable` and left there: it holds no record to move, and must not stop the ones after it.
 */
export function drainOutbox(fs: Fs, home: string, sink: AuditSink): Promise<number> {
  // One drain at a time in a process: a caller that drains before it appends (an approval's transition) must find
  // every file moved, not skip one another drain has claimed and is still appending (approval.use before its
  // approval.approve).
  const g = globalThis as Record<symbol, unknown>;
  const before = (g[DRAINING] as Promise<unknown> | undefined) ?? Promise.resolve();
  const run = before.then(() => drainOnce(fs, home, sink));
  g[DRAINING] = run.catch(() => undefined);
  return run;
}

const DRAINING = Symbol.for('pcigate.outbox.draining');

async function drainOnce(fs: Fs, home: string, sink: AuditSink): Promise<number> {
  const dir = outboxDir(home);
  let entries: string[];
  try { entries = await fs.readdir(dir); } catch { return 0; }
  const work: Array<{ name: string; left?: string; from?: number }> = [];
  for (const e of entries) {
    if (e.endsWith('.json')) {
      work.push({ name: e });
      continue;
    }
    const m = CLAIM_RE.exec(e);
    if (m && m[2] !== CLAIM_MARK) work.push({ name: m[1]!, left: e, ...(m[3] !== undefined ? { from: Number(m[3]) } : {}) });
  }
  work.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const size = (sink as { size?: unknown }).size;
  let moved = 0;
  for (const w of work) {
    const file = path.join(dir, w.name);
    // Claim the file by renaming it: two drainers never append the same event twice. A left claim keeps the size it
    // named (none: none), where its record may be from: this owner may be killed holding it too.
    const from = w.left ? w.from : typeof size === 'number' ? size : undefined;
    const claimed = `${file}.draining-${CLAIM_MARK}-${from !== undefined ? `s${from}-` : ''}${randomBytes(4).toString('hex')}`;
    try { await fs.rename(w.left ? path.join(dir, w.left) : file, claimed); } catch { continue; }
    let event: AuditEvent;
    try {
      event = JSON.parse(await fs.readFile(claimed, 'utf8')) as AuditEvent;
      if (typeof event?.type !== 'string') throw new Error('not an audit event');
    } catch {
      await fs.rename(claimed, `${file}.unreadable`).catch(() => undefined);
      continue;
    }
    if (w.left) {
      let found: boolean;
      try {
        found = await inLog(fs, home, w.name, event, w.from);
      } catch {
        continue; // a log that cannot be read through (verify says why): the claim waits for the next owner
      }
      if (found) {
        await fs.rm(claimed, { force: true });
        continue;
      }
    }
    try {
      await sink.append({ ...event, detail: { ...event.detail, outbox: w.name } });
    } catch (e) {
      await fs.rename(claimed, file).catch(() => undefined);
      throw e;
    }
    await fs.rm(claimed, { force: true });
    moved++;
  }
  return moved;
}

/**
 * Whether the log holds the record of outbox file `name`, from seq `from` on (the log's size when it was claimed;
 * the whole log for a claim that does not say): one naming the file, or — drained by an older pcigate, which did not
 * name it — the same type, session and `occurred`.
 */
async function inLog(fs: Fs, home: string, name: string, event: AuditEvent, from: number | undefined): Promise<boolean> {
  const segments = await listSegments(fs, home);
  const start = from === undefined ? undefined : segmentHolding(segments, from);
  const occurred = event.detail?.occurred;
  let found = false;
  await readRecords(fs, home, segments, start ? { file: start.file, bytes: 0 } : undefined, (r) => {
    const d = r.detail as { outbox?: unknown; occurred?: unknown; via_outbox?: unknown } | undefined;
    if (d?.outbox === name || (d?.outbox === undefined && d?.via_outbox === true && r.type === event.type && r.session === event.session && d.occurred === occurred)) found = true;
  });
  return found;
}
