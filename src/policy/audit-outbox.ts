/**
 * An audit outbox for approval records written by a process that cannot open the audit log because a
 * running broker owns it (the log has one writer at a time: recorder/log-lock.ts). `pcigate approve` and
 * `pcigate deny` run exactly while a broker waits, so their records go durably (fsync'd, 0600) into
 * `approvals/outbox/`, and the log's owner moves them into the hash-chained log with {@link drainOutbox}
 * (the approvals store does so whenever it checks a request). A record is never dropped: if it cannot
 * be written to the outbox either, the transition it describes does not happen. The record's own `ts` is the
 * time it reached the log; `detail.occurred` keeps when it happened (PCI DSS 10.2.2 date and time).
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
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

/** Moves every outboxed event into `sink` in order, deleting each once appended; returns how many. */
export async function drainOutbox(fs: Fs, home: string, sink: AuditSink): Promise<number> {
  const dir = outboxDir(home);
  let names: string[];
  try { names = (await fs.readdir(dir)).filter((n) => n.endsWith('.json')).sort(); } catch { return 0; }
  let moved = 0;
  for (const name of names) {
    const file = path.join(dir, name);
    // Claim the file by renaming it: two drainers never append the same event twice.
    const claimed = `${file}.draining-${randomBytes(4).toString('hex')}`;
    try { await fs.rename(file, claimed); } catch { continue; }
    const event = JSON.parse(await fs.readFile(claimed, 'utf8')) as AuditEvent;
    try {
      await sink.append(event);
    } catch (e) {
      await fs.rename(claimed, file).catch(() => undefined);
      throw e;
    }
    await fs.rm(claimed, { force: true });
    moved++;
  }
  return moved;
}
