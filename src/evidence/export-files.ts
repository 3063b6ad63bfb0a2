/**
 * Reads what is at each recorded export's path now (exports.ts), for requirement 3's scan: its SHA-256, its
 * size and the `pcigate scan` findings inside it — the same scan as the command (scan-files.ts): a zip (an
 * evidence bundle) entry by entry, a gzip decompressed, anything else in chunks, within the archive limits of
 * scan-archive.ts, so a large file at a recorded path is never held in memory whole.
 */
import type { Ctx } from '../cli/ctx.js';
import { maskText } from '../mask/pan-masker.js';
import { scanPaths } from '../mask/scan-files.js';
import type { ScanOptions } from '../mask/scan-files.js';
import { sha256OfHandle } from '../../recorder/blob.js';
import { useRegularFile } from '../../recorder/regular-file.js';
import { shownPath } from './exports.js';
import type { ExportFile } from './exports.js';

/** Each distinct path of `paths`, looked at once. Never throws: a problem is the file's state. */
export async function readExportFiles(ctx: Pick<Ctx, 'fs' | 'cwd'>, paths: Iterable<string>, opts: ScanOptions): Promise<Map<string, ExportFile>> {
  const out = new Map<string, ExportFile>();
  for (const p of paths) if (!out.has(p)) out.set(p, await readExportFile(ctx, p, opts));
  return out;
}

async function readExportFile(ctx: Pick<Ctx, 'fs' | 'cwd'>, abs: string, opts: ScanOptions): Promise<ExportFile> {
  const shown = shownPath(abs);
  try {
    // Symbolic links are followed: an export path is the user's own absolute path (exports.ts), not the log's.
    // The handle is checked and hashed, not the path again: the name may be swapped for a FIFO in between.
    const opened = await useRegularFile(ctx.fs, abs, { follow: true }, async (fh, size): Promise<ExportFile> => {
      const { sha256 } = await sha256OfHandle(fh);
      // scanPaths does not follow symlinks; the export is what the path leads to (the open above followed it too).
      const target = await ctx.fs.realpath(abs);
      const report = await scanPaths(ctx, [target], opts);
      // Names are `target` or `target!entry…` (entries already masked): shown as the recorded path, masked.
      const named = (file: string) => shown + file.slice(target.length);
      const errors = report.errors.map((e) => ({ file: named(e.file), message: maskText(e.message) }));
      // The scan opens the path again: a name swapped since the open above for anything but a regular file is
      // skipped by scanPaths, which must not read as a clean scan.
      if (report.files === 0 && report.errors.length === 0) errors.push({ file: shown, message: 'no longer a regular file when scanned: not scanned' });
      return { state: 'present', sha256, size, findings: report.findings.map((f) => ({ ...f, file: named(f.file) })), errors };
    });
    if (opened.status === 'used') return opened.value;
    if (opened.status === 'not_file') return { state: 'unreadable', message: 'not a regular file' };
    if (opened.code === 'ENOENT' || opened.code === 'ENOTDIR') return { state: 'missing' };
    return { state: 'unreadable', message: maskText((opened.cause as Error).message) };
  } catch (e) {
    return { state: 'unreadable', message: maskText((e as Error).message) };
  }
}
