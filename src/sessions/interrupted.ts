/**
 * Sessions a process left open: it was killed (kill -9, the machine stopped) before it wrote their `session.end`
 * (`exec.end`). Sessions run only in the process that owns the audit log (recorder/log-lock.ts; a short command
 * parks its records in the outbox instead), so when a broker opens the log every session still open there belongs
 * to a process that is gone: none of them will ever end on its own, and a Postgres transcript of one was never
 * committed, so `replay` could not show what it ran, nor prove the file unchanged since.
 *
 * Each gets its end when a broker next opens the log (openAuditLogWaiting): its Postgres transcript, cut back to its
 * last complete line, is committed (`pg-transcript`), and a `session.end` (`exec.end`) follows with outcome
 * `failure`, `interrupted: true`, the actor, source, target and account of its start, and the time of its last record
 * as its end (`duration_ms`). An SSH session keeps the recordings it committed while it ran.
 */
import path from 'node:path';
import type { Ctx } from '../cli/ctx.js';
import type { AuditLog } from '../../recorder/audit-log.js';
import type { AuditEvent, AuditRecord, BlobRef } from '../../recorder/types.js';
import { loadSessionIndex } from './session-index.js';
import { micros } from './session-summary.js';
import { listSegments, readRecords } from './log-reader.js';

const REASON = 'interrupted: the process that ran the session stopped before ending it (ended when the audit log was next opened)';

/** Ends every session the log shows open (see above); returns how many. Call only as the log's new owner, before any session starts. */
export async function endInterruptedSessions(ctx: Ctx, home: string, log: AuditLog): Promise<number> {
  const open = (await loadSessionIndex(ctx.fs, home)).sessions.filter((s) => s.outcome === 'open');
  if (open.length === 0) return 0;
  // Each session's first record (its actor, source, target, account) and last one (when it stopped), in one pass
  // from the segment that holds the oldest start.
  const want = new Map(open.map((s) => [s.id, s]));
  const first = new Map<string, AuditRecord>();
  const lastTs = new Map<string, string>();
  const segments = await listSegments(ctx.fs, home);
  const from = Math.min(...open.map((s) => s.start_seq));
  const startAt = segments.filter((f) => Number(f.file.slice(0, 12)) <= from).at(-1);
  await readRecords(ctx.fs, home, segments, startAt ? { file: startAt.file, bytes: 0 } : undefined, (r) => {
    const s = r.session === undefined ? undefined : want.get(r.session);
    if (!s) return;
    if (r.seq === s.start_seq) first.set(s.id, r);
    if (r.seq === s.last_seq) lastTs.set(s.id, r.ts);
  });
  for (const s of open) {
    const start = first.get(s.id);
    const blobs: BlobRef[] = [];
    if (s.kind === 'postgres') {
      const file = path.join(home, 'recordings', `${s.id}.pg.jsonl`);
      if (await cutToLastLine(ctx, file)) {
        try {
          blobs.push(await log.commitBlob(file, 'pg-transcript'));
        } catch (e) {
          ctx.log.warn(`the transcript of interrupted session ${s.id} could not be committed: ${(e as Error).message}`);
        }
      }
    }
    const ended = lastTs.get(s.id);
    const event: AuditEvent = {
      type: s.kind === 'exec' ? 'exec.end' : 'session.end',
      session: s.id,
      ...(start?.actor ? { actor: start.actor } : {}),
      ...(start?.account ? { account: start.account } : {}),
      ...(start?.src ? { src: start.src } : {}),
      ...(start?.target ? { target: start.target } : {}),
      outcome: 'failure',
      detail: {
        interrupted: true,
        reason: REASON,
        statements: s.statements,
        denied: s.denials,
        ...(ended ? { duration_ms: (micros(ended) - micros(s.start)) / 1000, last_seq: s.last_seq } : {}),
      },
      ...(blobs.length ? { blobs } : {}),
    };
    await log.append(event);
  }
  return open.length;
}

/**
 * Whether `file` exists; a last line a kill cut short (no `\n`) is cut first: a transcript is written in batches
 * of whole lines, so what precedes it reads as it was written.
 */
async function cutToLastLine(ctx: Ctx, file: string): Promise<boolean> {
  let text: Buffer;
  try {
    text = await ctx.fs.readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  if (text.length > 0 && text[text.length - 1] !== 0x0a) await ctx.fs.truncate(file, text.lastIndexOf(0x0a) + 1);
  return true;
}
