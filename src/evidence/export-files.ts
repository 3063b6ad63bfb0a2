/**
 * Reads what is at each recorded export's path now (exports.ts), for requirement 3's scan: its SHA-256, its
 * size and the `pcigate scan` findings inside it. A zip (an evidence bundle) is read whole and its entries are
 * scanned; anything else is hashed and scanned in chunks (scan-files.ts, which also decompresses gzip), so a
 * large file at a recorded path is never held in memory.
 */
import { createHash } from 'node:crypto';
import type { Ctx } from '../cli/ctx.js';
import { maskText } from '../mask/pan-masker.js';
import type { DetectOptions } from '../mask/pan-detector.js';
import { scanPaths } from '../mask/scan-files.js';
import { sha256OfFile } from '../../recorder/blob.js';
import { isZip, scanZipBytes, shownPath } from './exports.js';
import type { ExportFile } from './exports.js';

/** A zip larger than this is not unpacked (the zip reader's own limit is 1 GiB unpacked). */
const MAX_ZIP_BYTES = 512 << 20;

/** Each distinct path of `paths`, looked at once. Never throws: a problem is the file's state. */
export async function readExportFiles(ctx: Pick<Ctx, 'fs' | 'cwd'>, paths: Iterable<string>, opts: DetectOptions): Promise<Map<string, ExportFile>> {
  const out = new Map<string, ExportFile>();
  for (const p of paths) if (!out.has(p)) out.set(p, await readExportFile(ctx, p, opts));
  return out;
}

async function readExportFile(ctx: Pick<Ctx, 'fs' | 'cwd'>, abs: string, opts: DetectOptions): Promise<ExportFile> {
  const shown = shownPath(abs);
  let st;
  try {
    st = await ctx.fs.stat(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { state: 'missing' };
    return { state: 'unreadable', message: maskText((e as Error).message) };
  }
  if (!st.isFile()) return { state: 'unreadable', message: 'not a regular file' };
  try {
    const head = Buffer.alloc(4);
    const fh = await ctx.fs.open(abs, 'r');
    try { await fh.read(head, 0, 4, 0); } finally { await fh.close(); }
    if (isZip(head) && st.size <= MAX_ZIP_BYTES) {
      const bytes = await ctx.fs.readFile(abs);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      return { state: 'present', sha256, size: bytes.length, ...scanZipBytes(bytes, shown, opts) };
    }
    const { sha256 } = await sha256OfFile(ctx.fs, abs);
    const report = await scanPaths(ctx, [abs], opts);
    const errors = report.errors.map((e) => ({ file: shown, message: maskText(e.message) }));
    if (isZip(head)) errors.push({ file: shown, message: `a zip of ${st.size} bytes is too large to unpack here; its compressed bytes were scanned only` });
    return { state: 'present', sha256, size: st.size, findings: report.findings.map((f) => ({ ...f, file: shown })), errors };
  } catch (e) {
    return { state: 'unreadable', message: maskText((e as Error).message) };
  }
}

