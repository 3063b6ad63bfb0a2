/**
 * The JSONL files of the data home (checkpoints.jsonl, keys/epochs.jsonl), line by line off their bytes,
 * never as one string nor as one buffer: a year of 10 s checkpoints is more text than one string holds (512
 * MiB), 2.7 years more bytes than Node reads as one file (2 GiB), and a planted file of any size must end in
 * a report, not an internal error. What is held at a time is one line, up to MAX_JSONL_LINE, and one chunk.
 */
import type { JsonlFile } from './verify-types.js';

/**
 * A longer line is unreadable, and skipped without being held: a checkpoint line is a few hundred bytes, a
 * certificate line less (a line padded with JSON whitespace up to this still parses).
 */
export const MAX_JSONL_LINE = 16 << 20;

/** One line, 1-based, parsed; `value` is undefined when it is not JSON or is longer than the limit. */
export interface JsonLine {
  line: number;
  value: unknown;
  /** The file's last line, without its `\n`. */
  torn?: true;
}

/** Cuts chunks into lines, holding the unfinished one (dropped once it passes the limit) until its newline. */
class LineReader {
  private parts: Buffer[] = [];
  private held = 0;
  private over = false;
  private line = 0;

  constructor(private readonly maxLine: number) {}

  *push(chunk: Buffer): Generator<JsonLine> {
    for (let start = 0; ;) {
      const nl = chunk.indexOf(10, start);
      this.hold(chunk, start, nl < 0 ? chunk.length : nl);
      if (nl < 0) return;
      yield this.take();
      start = nl + 1;
    }
  }

  /** A last line without its newline counts as a line. */
  *end(): Generator<JsonLine> {
    if (this.held > 0 || this.over) yield { ...this.take(), torn: true };
  }

  private hold(chunk: Buffer, start: number, end: number): void {
    if (this.over || end === start) return;
    if (this.held + end - start > this.maxLine) {
      this.over = true;
      this.parts = [];
      this.held = 0;
      return;
    }
    this.parts.push(Buffer.from(chunk.subarray(start, end))); // a copy: the reader may reuse the chunk
    this.held += end - start;
  }

  private take(): JsonLine {
    let value: unknown;
    if (!this.over) {
      const bytes = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.held);
      try {
        value = JSON.parse(bytes.toString('utf8'));
      } catch {
        value = undefined;
      }
    }
    this.parts = [];
    this.held = 0;
    this.over = false;
    return { line: ++this.line, value };
  }
}

function bufferOf(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** Each line of bytes already in memory (see the file comment). */
export function* jsonLines(bytes: Uint8Array | undefined, maxLine = MAX_JSONL_LINE): Generator<JsonLine> {
  if (!bytes) return;
  const r = new LineReader(maxLine);
  yield* r.push(bufferOf(bytes));
  yield* r.end();
}

/**
 * Hands each line of `file` to `each` in order, reading it a chunk at a time when it is not in memory; `each`
 * returning false stops the reading there.
 */
export async function forEachJsonLine(file: JsonlFile | undefined, each: (l: JsonLine) => boolean | void, maxLine = MAX_JSONL_LINE): Promise<void> {
  if (!file) return;
  if (file instanceof Uint8Array) {
    for (const l of jsonLines(file, maxLine)) if (each(l) === false) return;
    return;
  }
  const r = new LineReader(maxLine);
  let stopped = false;
  await file.read((chunk) => {
    for (const l of r.push(bufferOf(chunk))) {
      if (each(l) === false) {
        stopped = true;
        break;
      }
    }
    return !stopped;
  });
  if (!stopped) for (const l of r.end()) each(l);
}
