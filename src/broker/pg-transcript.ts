/**
 * PgTranscript: the per-session recording for Postgres (ARCHITECTURE.md §4, "JSONL transcript for Postgres
 * with masked result samples"): one JSON line per statement, its outcome, and a capped sample of result
 * rows. Values are PAN-masked before they are written; the file is 0600 under recordings/ and its hash is
 * committed into the log at session end (AuditSink.commitBlob).
 */
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Fs } from '../cli/ctx.js';
import { writeAllTo } from '../../recorder/durable-fs.js';
import { CUT_MARGIN, defaultPanMasker, maskCut } from '../mask/pan-masker.js';
import type { PanMasker } from '../mask/pan-masker.js';
import { isPrintableAscii, structuredOrPan } from '../mask/pg-values.js';
import { NAMES_SECRET } from '../policy/redact-content.js';
import { valueSecretsRedacted } from '../policy/redact-statement-secrets.js';

export interface TranscriptLimits {
  /** Rows sampled per statement. */
  rowsPerStatement: number;
  /** Rows sampled per session. */
  rowsPerSession: number;
  /** Characters kept per value. */
  valueChars: number;
}

/** How long a line may wait in memory for its batch. */
const FLUSH_MS = 1000;

export const DEFAULT_TRANSCRIPT_LIMITS: TranscriptLimits = { rowsPerStatement: 20, rowsPerSession: 1000, valueChars: 200 };

/** Whether the result masker's own reading (pg-values.ts structuredOrPan) finds a card number in the bytes. */
function holdsBinaryPan(v: Uint8Array, masker: PanMasker): boolean {
  const found = structuredOrPan(v, { content: { format: 'full' }, detect: masker.detect, hmacKey: undefined, counts: {} });
  return found !== undefined && found !== v;
}

/**
 * A sampled row's values, every one `[redacted]` when one names a secret: a key/value table's ('api_key', 'k-1') or
 * ('Stripe secret key', …), its pair in an array or JSON ({api_key,k-1}), a role's settings ({app.encryption_key=k}),
 * row_to_json's {"password": …}. Where the secret sits beside its name is not read: the row goes.
 */
function secretsWithheld(texts: Array<string | null>): Array<string | null> {
  return texts.some((t) => t !== null && NAMES_SECRET.test(t)) ? texts.map((t) => (t === null ? null : '[redacted]')) : texts;
}

/** Bytes past a sample's cut still read for tokens (valueSecretsRedacted reads a token whole, one that runs past the cut too). */
const TOKEN_ROOM = 64 * 1024;

/**
 * The text of a value's first bytes, as many as `max` characters and the masking margin can take (4 bytes a
 * character at most in UTF-8) and TOKEN_ROOM more: a sample shows `max` characters, and decoding all of a large value
 * only to cut it cost its size again in memory, and past 512 MiB (V8's longest string) threw, which closed the
 * session (`select repeat('a', 600000000)`). A character cut in two at the end decodes as U+FFFD, far past the cut.
 */
function sampleHead(v: Buffer, max: number): string {
  const bytes = (max + CUT_MARGIN) * 4 + TOKEN_ROOM;
  return (v.length > bytes ? v.subarray(0, bytes) : v).toString('utf8');
}

export class PgTranscript {
  private lines: string[] = [];
  /** A wrapping handle's write still running (null: none; plain handles write synchronously). */
  private pending: Promise<void> | null = null;
  private rowsTotal = 0;
  private failed: unknown = null;
  /** Flushes lines waiting fewer than 64 after FLUSH_MS. */
  private timer: ReturnType<typeof setTimeout> | undefined;

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

  /** Adds a line; values are written in batches of 64 lines, or of what came within FLUSH_MS. */
  add(entry: Record<string, unknown>): void {
    this.push(JSON.stringify(entry));
  }

  /** Adds `{"t": t, ...detail}` without copying `detail` into a new object (one per statement). */
  addTagged(t: string, detail: Record<string, unknown>): void {
    const body = JSON.stringify(detail);
    this.push(body === '{}' ? `{"t":${JSON.stringify(t)}}` : `{"t":${JSON.stringify(t)},${body.slice(1)}`);
  }

  private push(line: string): void {
    this.lines.push(line);
    if (this.lines.length >= 64) this.flush();
    // A quiet session's lines reach the file within a second too: a broker killed meanwhile loses no more (what a
    // killed broker's session has on disk is committed when the log is next opened: src/sessions/interrupted.ts).
    else if (!this.timer) this.timer = setTimeout(() => { this.timer = undefined; this.flush(); }, FLUSH_MS).unref();
  }

  /**
   * Samples one row (already masked by the masking hook, masked again here as a floor, by `masker`). `withheld`: the
   * values written `[redacted]`, every one (true) or by column: a column whose name says secret (password_hash,
   * api_key), or a statement whose text may hold one (current_setting('app.encryption_key'), a key's function, an
   * EXECUTE), whose result may echo it.
   */
  row(n: number, values: (Buffer | null)[], masker: PanMasker = defaultPanMasker(), withheld?: true | readonly boolean[]): void {
    this.rowsTotal++;
    const max = this.limits.valueChars;
    const texts = values.map((v, i) => {
      if (v === null) return null;
      if (withheld === true || withheld?.[i]) return '[redacted]';
      // A binary value the masker let through (a role with unmask clear) is not text: one that reads as a card
      // number in a numeric layout (int8, float8, numeric, money, or inside an array or record) is not sampled,
      // its bytes would be half kept by the UTF-8 decoding.
      if (!isPrintableAscii(v) && holdsBinaryPan(v, masker)) return '[masked]';
      // (a token known by its form goes as on a command line, whatever the column: `select v from settings`; so does a
      // URL's password, an HTTP credential, a private key: the value is read as a literal's text is)
      return maskCut(valueSecretsRedacted(sampleHead(v, max)), max, undefined, (t) => masker.maskText(t));
    });
    this.add({ t: 'row', n, values: secretsWithheld(texts) });
  }

  /**
   * Writes the batch with write(2) on the calling thread as the audit log does (durable-fs.ts writeAllTo: a
   * thread-pool round trip per batch cost more than the write). A wrapping handle (a test's fault-injecting
   * Fs) writes asynchronously: while one of its writes runs, later batches wait for it, in order.
   */
  private flush(): void {
    if (this.timer) { clearTimeout(this.timer); this.timer = undefined; }
    if (this.lines.length === 0) return;
    const data = Buffer.from(`${this.lines.join('\n')}\n`, 'utf8');
    this.lines = [];
    if (this.pending) this.pending = this.pending.then(() => this.write(data));
    else this.pending = this.write(data) ?? null;
  }

  /** One batch, unless an earlier one failed; a promise only for a wrapping handle. */
  private write(data: Buffer): Promise<void> | undefined {
    if (this.failed) return undefined;
    try {
      return writeAllTo(this.fh, data)?.catch((e: unknown) => { this.failed = e; });
    } catch (e) {
      this.failed = e;
      return undefined;
    }
  }

  /** Writes what is left, fsyncs and closes; rethrows a write failure so the session end can say so. */
  async close(): Promise<void> {
    this.flush();
    await this.pending;
    try {
      if (!this.failed) await this.fh.sync();
    } finally {
      await this.fh.close();
    }
    if (this.failed) throw this.failed;
  }
}
