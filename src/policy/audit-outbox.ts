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
import { listSegments, recordsEnd } from '../../recorder/segment-scan.js';
import type { AuditEvent, AuditSink, BlobRef } from '../../recorder/types.js';
import type { Clock, Fs } from '../cli/ctx.js';
import { AuditWriteError } from '../errors.js';
import { writeFileAtomic } from './file-lock.js';
import { formatTs } from '../../recorder/timestamp.js';

export function outboxDir(home: string): string {
  return path.join(home, 'approvals', 'outbox');
}

/** An AuditSink that parks events in the outbox; `seq` is unknown until drained (reported as -1). */
export function outboxSink(deps: { fs: Fs; clock: Clock; home: string }): AuditSink {
  const dir = outboxDir(deps.home);
  let n = 0;
  return {
    async append(event: AuditEvent) {
      try {
        await deps.fs.mkdir(dir, { recursive: true, mode: 0o700 });
        // Names sort in append order: time, then a per-process counter, then randomness for uniqueness.
        const name = `${String(deps.clock.now()).padStart(15, '0')}-${String(n++).padStart(6, '0')}-${randomBytes(4).toString('hex')}.json`;
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
 * This process's mark in the names of the files it claims (`<name>.draining-<mark>-<random>`). Only the log's owner
 * drains, one process at a time (recorder/log-lock.ts), so a claim with another mark (or an older pcigate's
 * `.draining-<random>`) was left by a process that owned the log and stopped between claiming a file and deleting it:
 * killed, its record appended or not.
 */
const CLAIM_MARK = randomBytes(4).toString('hex');
const CLAIM_RE = /^(.+\.json)\.draining-([0-9a-f-]+)$/;

/**
 * Moves every outboxed event into `sink` (the audit log, owned by the caller) in order, deleting each once appended;
 * returns how many were appended. Each record names its outbox file (`detail.outbox`), so a claim a killed owner
 * left behind is taken up again: appended, unless a record naming it is already in the log's newest two segments
 * (it was appended, the file not yet deleted).
 */
export async function drainOutbox(fs: Fs, home: string, sink: AuditSink): Promise<number> {
  const dir = outboxDir(home);
  let entries: string[];
  try { entries = await fs.readdir(dir); } catch { return 0; }
  const work: Array<{ name: string; left?: string }> = [];
  for (const e of entries) {
    if (e.endsWith('.json')) {
      work.push({ name: e });
      continue;
    }
    const m = CLAIM_RE.exec(e);
    if (m && !m[2]!.startsWith(`${CLAIM_MARK}-`)) work.push({ name: m[1]!, left: e });
  }
  work.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let inLog: Set<string> | undefined;
  let moved = 0;
  for (const w of work) {
    const file = path.join(dir, w.name);
    // Claim the file by renaming it: two drainers never append the same event twice.
    const claimed = `${file}.draining-${CLAIM_MARK}-${randomBytes(4).toString('hex')}`;
    try { await fs.rename(w.left ? path.join(dir, w.left) : file, claimed); } catch { continue; }
    if (w.left) {
      inLog ??= await outboxNamesInLog(fs, home);
      if (inLog.has(w.name)) {
        await fs.rm(claimed, { force: true });
        continue;
      }
    }
    const event = JSON.parse(await fs.readFile(claimed, 'utf8')) as AuditEvent;
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
 * The outbox files named by records in the log's newest two segments (the newest up to its records' end): where the
 * record of a claim its drainer was killed holding is, if it was appended — the drainer deletes the file as soon as
 * the append returns, so nothing but that process's last few records can follow it.
 */
async function outboxNamesInLog(fs: Fs, home: string): Promise<Set<string>> {
  const names = new Set<string>();
  const logDir = path.join(home, 'log');
  for (const seg of (await listSegments(fs, logDir)).slice(-2)) {
    const buf = await fs.readFile(path.join(logDir, seg.file));
    for (const line of buf.subarray(0, recordsEnd(buf)).toString('utf8').split('\n')) {
      if (!line.includes('"outbox":')) continue;
      try {
        const name = (JSON.parse(line) as { detail?: { outbox?: unknown } }).detail?.outbox;
        if (typeof name === 'string') names.add(name);
      } catch {
        // a line verify reports; it names no outbox file
      }
    }
  }
  return names;
}
