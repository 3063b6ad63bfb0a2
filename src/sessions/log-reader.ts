/**
 * Reads audit log records (docs/log-format.md: segments `log/<first seq>.jsonl`, one RFC 8785 line per
 * record) from a byte position onwards, in 1 MiB reads, so the session index can catch up with a large log
 * without re-reading what it has already seen. Only complete (`\n`-terminated) lines are consumed: a line
 * being written right now is read next time, and so is the room the writer reserves past its records.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Fs } from '../cli/ctx.js';
import type { AuditRecord } from '../../recorder/types.js';

/** A position in the log: a segment file and the bytes of it already consumed. */
export interface LogPosition {
  file: string;
  bytes: number;
}

/** The segment files of a home's log, oldest first, with their sizes. */
export async function listSegments(fs: Fs, home: string): Promise<LogPosition[]> {
  const dir = path.join(home, 'log');
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return [];
  }
  const out: LogPosition[] = [];
  for (const name of names.filter((n) => /^\d{12}\.jsonl$/.test(n)).sort()) {
    const st = await fs.stat(path.join(dir, name));
    out.push({ file: name, bytes: st.size });
  }
  return out;
}

/** The segment that holds record `seq` (the last whose first seq is not above it), if any: where reading for it starts. */
export function segmentHolding(files: LogPosition[], seq: number): LogPosition | undefined {
  return files.filter((f) => Number(f.file.slice(0, 12)) <= seq).at(-1);
}

/** RFC 6962 leaf hash of a record line (without its `\n`): SHA-256(0x00 ‖ line). */
export function leafOf(line: Buffer): string {
  return createHash('sha256').update(Buffer.of(0)).update(line).digest('hex');
}

/**
 * Calls `onRecord` for every complete record of `files` (in order), starting at `start.bytes` of the file
 * named `start.file` (or at the beginning of the first file). Returns how far each file was consumed and
 * the leaf of the last record read.
 */
export async function readRecords(
  fs: Fs, home: string, files: LogPosition[], start: LogPosition | undefined,
  onRecord: (r: AuditRecord, line: Buffer) => void,
): Promise<{ consumed: LogPosition[]; lastLeaf: string | undefined }> {
  const consumed: LogPosition[] = [];
  let lastLine: Buffer | undefined;
  let begun = start === undefined;
  for (const f of files) {
    let offset = 0;
    if (!begun) {
      if (f.file !== start!.file) { consumed.push({ ...f }); continue; }
      begun = true;
      offset = start!.bytes;
    }
    const fh = await fs.open(path.join(home, 'log', f.file), 'r');
    // The newest segment's records end at its first empty line, or line with a NUL, and a line there that does not
    // parse is a batch being written (or one a crash cut short): reading stops at either, and what was consumed
    // ends with the last record read, where the writer will write its next records (recorder/segment-scan.ts
    // recordsEnd, docs/log-format.md "Reserved room").
    const newest = f === files.at(-1);
    let done = offset;
    let stopped = false;
    try {
      if (offset > 0) {
        // A position another reader recorded (the session index) must be a line's start: resuming mid-line would
        // take the line's end for a record in flight, not for a position that does not fit this log.
        const before = Buffer.alloc(1);
        await fh.read(before, 0, 1, offset - 1);
        if (before[0] !== 10) throw new Error(`${f.file}: byte ${offset} is not where a line starts`);
      }
      const buf = Buffer.allocUnsafe(1 << 20);
      let carry: Buffer = Buffer.alloc(0);
      let pos = offset;
      while (!stopped) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) break;
        pos += bytesRead;
        const chunk = carry.length ? Buffer.concat([carry, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead);
        let from = 0;
        let last: Buffer | undefined;
        const eof = bytesRead < buf.length;
        for (let nl = chunk.indexOf(10, from); nl >= 0; nl = chunk.indexOf(10, from)) {
          const line = chunk.subarray(from, nl);
          if (newest && (line.length === 0 || line.includes(0))) { stopped = true; break; }
          let record: AuditRecord | undefined;
          if (line.length > 0) {
            try {
              record = JSON.parse(line.toString('utf8')) as AuditRecord;
            } catch (e) {
              // In flight only as the newest segment's last line before its records end (what follows it is room,
              // or nothing); whether it is, the next read tells when the line ends this one.
              if (!newest) throw e;
              if (nl + 1 === chunk.length && !eof) break;
              if (nl + 1 === chunk.length || chunk[nl + 1] === 10 || chunk[nl + 1] === 0) { stopped = true; break; }
              throw e;
            }
          }
          from = nl + 1;
          offset += line.length + 1;
          if (!record) continue;
          onRecord(record, line);
          last = line;
          done = offset;
        }
        // `buf` is reused by the next read: keep a copy of the newest line for its leaf hash.
        if (last) { lastLine = Buffer.from(last); last = undefined; }
        carry = Buffer.from(chunk.subarray(from));
      }
    } finally {
      await fh.close();
    }
    consumed.push({ file: f.file, bytes: done });
  }
  return { consumed, lastLeaf: lastLine ? leafOf(lastLine) : undefined };
}
