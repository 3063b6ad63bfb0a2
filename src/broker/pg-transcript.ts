/**
 * PgTranscript: the per-session recording for Postgres (ARCHITECTURE.md §4, "JSONL transcript for Postgres
 * with masked result samples"): one JSON line per statement, its outcome, and a capped sample of result
 * rows. Values are PAN-masked before they are written; the file is 0600 under recordings/ and its hash is
 * committed into the log at session end (AuditSink.commitBlob).
 */
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Fs } from '../cli/ctx.js';
import { maskText } from '../mask/pan-masker.js';

export interface TranscriptLimits {
  /** Rows sampled per statement. */
  rowsPerStatement: number;
  /** Rows sampled per session. */
  rowsPerSession: number;
  /** Characters kept per value. */
  valueChars: number;
}

export const DEFAULT_TRANSCRIPT_LIMITS: TranscriptLimits = { rowsPerStatement: 20, rowsPerSession: 1000, valueChars: 200 };

export class PgTranscript {
  private lines: string[] = [];
  private writing: Promise<void> = Promise.resolve();
  private rowsTotal = 0;
  private failed: unknown = null;

  private constructor(private readonly fh: FileHandle, readonly file: string, private readonly limits: TranscriptLimits) {}

  /** Creates `recordings/<session>.pg.jsonl` under `home` (0700 directory, 0600 file). */
  static async create(fs: Fs, home: string, session: string, limits = DEFAULT_TRANSCRIPT_LIMITS): Promise<PgTranscript> {
    const dir = path.join(home, 'recordings');
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, `${session}.pg.jsonl`);
    const fh = await fs.open(file, 'wx', 0o600);
    return new PgTranscript(fh, file, limits);
  }

  /** Whether another row of the current statement may be sampled. */
  wantsRow(rowsSoFar: number): boolean {
    return rowsSoFar < this.limits.rowsPerStatement && this.rowsTotal < this.limits.rowsPerSession;
  }

  /** Adds a line; values are written in batches, off the data path. */
  add(entry: Record<string, unknown>): void {
    this.lines.push(JSON.stringify(entry));
    if (this.lines.length >= 64) this.flush();
  }

  /** Samples one row (already masked by the masking hook, masked again here as a floor). */
  row(n: number, values: (Buffer | null)[]): void {
    this.rowsTotal++;
    const max = this.limits.valueChars;
    this.add({
      t: 'row', n,
      values: values.map((v) => {
        if (v === null) return null;
        const s = v.toString('utf8');
        return maskText(s.length > max ? `${s.slice(0, max)}…` : s);
      }),
    });
  }

  private flush(): void {
    if (this.lines.length === 0) return;
    const data = `${this.lines.join('\n')}\n`;
    this.lines = [];
    this.writing = this.writing.then(async () => {
      if (this.failed) return;
      try { await this.fh.write(data); } catch (e) { this.failed = e; }
    });
  }

  /** Writes what is left, fsyncs and closes; rethrows a write failure so the session end can say so. */
  async close(): Promise<void> {
    this.flush();
    await this.writing;
    try {
      if (!this.failed) await this.fh.sync();
    } finally {
      await this.fh.close();
    }
    if (this.failed) throw this.failed;
  }
}
