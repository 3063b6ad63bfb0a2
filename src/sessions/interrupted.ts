/**
 * Sessions a process left open: it was killed (kill -9, the machine stopped) before it wrote their `session.end`
 * (`exec.end`). Sessions run only in the process that owns the audit log (recorder/log-lock.ts; a short command
 * parks its records in the outbox instead), so when a broker opens the log every session still open there belongs
 * to a process that is gone: none of them will ever end on its own, and a Postgres transcript of one was never
 * committed, so `replay` could not show what it ran, nor prove the file unchanged since.
 *
 * Each gets its end when a broker next opens the log (openAuditLogWaiting): its recordings (a Postgres transcript,
 * `pcigate exec`'s or an SSH channel's asciicast), each cut back to its last complete line, are committed, and a
 * `session.end` (`exec.end`) follows with outcome `failure`, `interrupted: true`, the actor, source, target and
 * account of its start, and the time of its own last record as its end (`duration_ms`).
 */
import { constants } from 'node:fs';
import path from 'node:path';
import type { Ctx } from '../cli/ctx.js';
import type { AuditLog } from '../../recorder/audit-log.js';
import type { AuditEvent, AuditRecord, BlobRef } from '../../recorder/types.js';
import { loadSessionIndex } from './session-index.js';
import { micros } from './session-summary.js';
import type { SessionKind } from './session-summary.js';
import { listSegments, readRecords, segmentHolding } from './log-reader.js';

/** Records that name a session but are written by whoever reads it later (`pcigate replay`, `sessions`, evidence). */
const READERS: ReadonlySet<string> = new Set(['audit.access', 'evidence.export', 'verify.run']);
/** What a session id looks like (a UUID, or a test's plain name): it becomes part of a file name. */
const SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

const REASON = 'interrupted: the process that ran the session stopped before ending it (ended when the audit log was next opened)';

/** Ends every session the log shows open (see above); returns how many. Call only as the log's new owner, before any session starts. */
export async function endInterruptedSessions(ctx: Ctx, home: string, log: AuditLog): Promise<number> {
  const open = (await loadSessionIndex(ctx.fs, home)).sessions.filter((s) => s.outcome === 'open');
  if (open.length === 0) return 0;
  // Each session's first record (its actor, source, target, account) and last one (when it stopped), in one pass
  // from the segment that holds the oldest start.
  const want = new Map(open.map((s) => [s.id, s]));
  const first = new Map<string, AuditRecord>();
  /** Each session's own last record: before the next process's log.start, and not a reader's (audit.access …). */
  const last = new Map<string, AuditRecord>();
  /** log.start records read so far, and that count at each session's start: records after the next one are not its. */
  let startsSeen = 0;
  const startsBefore = new Map<string, number>();
  const segments = await listSegments(ctx.fs, home);
  const from = Math.min(...open.map((s) => s.start_seq));
  const startAt = segmentHolding(segments, from);
  await readRecords(ctx.fs, home, segments, startAt ? { file: startAt.file, bytes: 0 } : undefined, (r) => {
    if (r.type === 'log.start') startsSeen++;
    const s = r.session === undefined ? undefined : want.get(r.session);
    if (!s || r.seq < s.start_seq) return;
    if (r.seq === s.start_seq) { first.set(s.id, r); startsBefore.set(s.id, startsSeen); }
    if (startsBefore.get(s.id) === startsSeen && !READERS.has(r.type)) last.set(s.id, r);
  });
  let ended = 0;
  for (const s of open) {
    const start = first.get(s.id);
    // Not found where the index put it (the index is a cache): nothing to end it with.
    if (!start || !SESSION_ID.test(s.id)) continue;
    const blobs: BlobRef[] = [];
    for (const { name, kind } of await recordingsOf(ctx, home, s.id, s.kind)) {
      const file = path.join(home, 'recordings', name);
      try {
        if (await cutToLastLine(ctx, file)) blobs.push(await log.commitBlob(file, kind));
      } catch (e) {
        ctx.log.warn(`the recording ${name} of interrupted session ${s.id} could not be committed: ${(e as Error).message}`);
      }
    }
    const lastOwn = last.get(s.id);
    const event: AuditEvent = {
      type: s.kind === 'exec' ? 'exec.end' : 'session.end',
      session: s.id,
      ...(start.actor ? { actor: start.actor } : {}),
      ...(start.account ? { account: start.account } : {}),
      ...(start.src ? { src: start.src } : {}),
      ...(start.target ? { target: start.target } : {}),
      outcome: 'failure',
      detail: {
        interrupted: true,
        reason: REASON,
        statements: s.statements,
        denied: s.denials,
        ...(lastOwn ? { duration_ms: (micros(lastOwn.ts) - micros(start.ts)) / 1000, last_seq: lastOwn.seq } : {}),
      },
      ...(blobs.length ? { blobs } : {}),
    };
    await log.append(event);
    ended++;
  }
  return ended;
}

/**
 * The recordings a session of `kind` writes under recordings/, by the names its broker gives them: a Postgres
 * transcript `<id>.pg.jsonl`; `pcigate exec`'s terminal `<id>.cast`; an SSH session's channels `<id>-<n>.cast`.
 */
async function recordingsOf(ctx: Ctx, home: string, id: string, kind: SessionKind): Promise<Array<{ name: string; kind: string }>> {
  if (kind === 'postgres') return [{ name: `${id}.pg.jsonl`, kind: 'pg-transcript' }];
  if (kind === 'exec') return [{ name: `${id}.cast`, kind: 'asciicast' }];
  const channel = new RegExp(`^${id.replace(/[.]/g, '\\.')}-(\\d+)\\.cast$`);
  const names = (await ctx.fs.readdir(path.join(home, 'recordings')).catch(() => [] as string[])).filter((n) => channel.test(n));
  return names.sort((a, b) => Number(channel.exec(a)![1]) - Number(channel.exec(b)![1])).map((name) => ({ name, kind: 'asciicast' }));
}

/**
 * Whether `file` is there as a regular file (opened without following a link or waiting on a FIFO: its name comes
 * from the log); a last line a kill cut short (no `\n`) is cut first, through the handle opened: a transcript is
 * written in batches of whole lines, so what precedes it reads as it was written. Only its last 64 KiB are read.
 */
async function cutToLastLine(ctx: Ctx, file: string): Promise<boolean> {
  let fh;
  try {
    fh = await ctx.fs.open(file, constants.O_RDWR | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Error(`${file} is not a regular file`);
    if (st.size === 0) return true;
    const tail = Buffer.alloc(Math.min(st.size, 64 * 1024));
    const { bytesRead } = await fh.read(tail, 0, tail.length, st.size - tail.length);
    if (tail[bytesRead - 1] === 0x0a) return true;
    const nl = tail.subarray(0, bytesRead).lastIndexOf(0x0a);
    // no line end in the last 64 KiB: a line that long is not a transcript line (values are capped); kept whole
    if (nl < 0 && st.size > tail.length) return true;
    await fh.truncate(st.size - tail.length + nl + 1);
    return true;
  } finally {
    await fh.close();
  }
}
