/**
 * The audit log as the approvals store's memory of how far a request has gone. A request file in `approvals/`
 * is sealed (approvals.ts sealOf), but a seal only says that pcigate once wrote the file: an old copy put back
 * (the approved file saved before its one run, the pending one saved before a denial) still carries a good
 * seal. Every transition is in the hash-chained log before its file is replaced, and the log is written only
 * by its owner (the broker), outside `approvals/`: the state it records for a request is one no copied-back
 * file can take back (docs/log-format.md "approvals").
 */
import path from 'node:path';
import type { Fs } from '../cli/ctx.js';
import { listSegments, recordsEnd } from '../../recorder/segment-scan.js';
import type { ApprovalState } from './approvals.js';

/** How far each state is along the only ways a request moves: pending → approved → used, or to denied/expired. */
export const STATE_RANK: Readonly<Record<ApprovalState, number>> = { pending: 0, approved: 1, denied: 2, expired: 2, used: 2 };

/** The furthest state the log records for a request, and the record that says so. */
export interface LoggedState {
  state: ApprovalState;
  type: string;
  seq: number;
}

/**
 * The furthest `detail.state` of the `approval.*` records of request `id` in the home's log (undefined when
 * there is none, or no log). Reads from the segment holding `fromSeq` (the request's own record) on, and parses
 * only the lines that name the id (`"id":"A-…"` in the record's canonical JSON); a line still being written
 * (no `\n` yet) is not read.
 */
export async function loggedState(fs: Fs, home: string, id: string, fromSeq = 0): Promise<LoggedState | undefined> {
  const dir = path.join(home, 'log');
  let segments: Array<{ file: string; firstSeq: number }>;
  try { segments = await listSegments(fs, dir); } catch { return undefined; }
  let first = 0;
  for (const [i, s] of segments.entries()) if (s.firstSeq <= fromSeq) first = i;
  const needle = Buffer.from(`"id":${JSON.stringify(id)}`, 'utf8');
  let best: LoggedState | undefined;
  for (const seg of segments.slice(first)) {
    const newest = seg === segments.at(-1);
    const whole = await fs.readFile(path.join(dir, seg.file));
    // The newest segment's records end before the room the writer reserves (recordsEnd); its last line may be a
    // batch being written, read whole next time.
    const buf = newest ? whole.subarray(0, recordsEnd(whole)) : whole;
    for (let at = buf.indexOf(needle); at >= 0;) {
      const end = buf.indexOf(0x0a, at);
      if (end < 0) break;
      const line = buf.subarray(buf.lastIndexOf(0x0a, at) + 1, end).toString('utf8');
      let rec: { seq: number; type: string; detail?: { id?: unknown; state?: unknown } };
      try {
        rec = JSON.parse(line) as typeof rec;
      } catch (e) {
        if (newest && end + 1 === buf.length) break;
        throw e;
      }
      const state = rec.detail?.state as ApprovalState;
      if (rec.type.startsWith('approval.') && rec.detail?.id === id && Object.hasOwn(STATE_RANK, state)
        && (!best || STATE_RANK[state] > STATE_RANK[best.state])) best = { state, type: rec.type, seq: rec.seq };
      at = buf.indexOf(needle, end);
    }
  }
  return best;
}
