/**
 * The data home: --home, then PCIGATE_HOME, then the config's audit.dir, then $XDG_DATA_HOME/pcigate,
 * then ~/.local/share/pcigate (XDG Base Directory defaults).
 */
import path from 'node:path';
import type { Ctx } from './ctx.js';

export function resolveHome(ctx: Ctx, flag: string | undefined, configDir?: string): string {
  const pick = flag ?? ctx.env.PCIGATE_HOME ?? configDir;
  if (pick) return path.resolve(ctx.cwd, pick);
  const xdg = ctx.env.XDG_DATA_HOME;
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'pcigate');
  const home = ctx.env.HOME ?? '/';
  return path.join(home, '.local', 'share', 'pcigate');
}
