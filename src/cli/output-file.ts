/**
 * Files a command writes where the user names them (`evidence --out`, `replay --html`). An existing file is not
 * replaced unless `--force` says so: an evidence bundle handed to an assessor, or a page attached to a finding, is not
 * lost to a command line run again. The file appears whole or not at all: it is written beside its place and then
 * linked there (link(2) fails on an existing name, so a file that appears meanwhile is not replaced either), or, with
 * --force, renamed over it.
 */
import { constants } from 'node:fs';
import { OutputExists } from '../errors.js';
import type { Ctx } from './ctx.js';

const exists = (file: string) => new OutputExists(`${file} exists: pcigate does not replace it`, { hint: 'name another file, or pass --force to replace it' });

/** Refuses early, before any work, when `file` exists and `force` is not set. */
export async function refuseExisting(ctx: Ctx, file: string, force: boolean): Promise<void> {
  if (force) return;
  try {
    await ctx.fs.lstat(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  throw exists(file);
}

/** Where `file`'s bytes are written before they are put in its place. */
export const stagingName = (file: string) => `${file}.${process.pid}.tmp`;

/**
 * Puts the written `staged` file at `file`: renamed over it with `force`, else linked there (EEXIST: refused) and
 * the staged name removed. Where hard links are not supported, copied with COPYFILE_EXCL (no replace, not atomic).
 */
export async function placeOutput(ctx: Ctx, staged: string, file: string, force: boolean): Promise<void> {
  if (force) return ctx.fs.rename(staged, file);
  try {
    await ctx.fs.link(staged, file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw exists(file);
    if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV', 'EMLINK'].includes(code ?? '')) throw e;
    await ctx.fs.copyFile(staged, file, constants.COPYFILE_EXCL).catch((c: unknown) => {
      throw (c as NodeJS.ErrnoException).code === 'EEXIST' ? exists(file) : c;
    });
  }
  await ctx.fs.rm(staged, { force: true });
}

/** Writes `bytes` (mode 0600) to `file` whole, not replacing an existing one unless `force`. */
export async function writeOutput(ctx: Ctx, file: string, bytes: Uint8Array, force: boolean): Promise<void> {
  const staged = stagingName(file);
  try {
    await ctx.fs.writeFile(staged, bytes, { mode: 0o600, flag: 'wx' });
    await placeOutput(ctx, staged, file, force);
  } finally {
    await ctx.fs.rm(staged, { force: true });
  }
}
