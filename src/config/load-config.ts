/**
 * Finding and loading pcigate.yaml. Search order (issue 2 item 2, XDG Base Directory spec):
 * `--config FILE`, `$PCIGATE_CONFIG`, `./pcigate.yaml`, `$XDG_CONFIG_HOME/pcigate/config.yaml`, then
 * `~/.config/pcigate/config.yaml`. A file named explicitly (flag or variable) must exist: falling through
 * to another file would run with a configuration the operator did not choose.
 */
import path from 'node:path';
import type { Ctx } from '../cli/ctx.js';
import { ConfigError, ConfigNotFound } from '../errors.js';
import { MAX_CONFIG_BYTES, parseConfigText } from './parse-config.js';
import { defaultConfig } from './schema.js';
import type { PcigateConfig } from './schema.js';

/** Where the config came from: the flag, PCIGATE_CONFIG, the working directory, XDG, ~/.config, or none. */
export type ConfigSource = 'flag' | 'env' | 'cwd' | 'xdg' | 'home' | 'defaults';

export interface LoadedConfig {
  config: PcigateConfig;
  /** Absolute path of the file read; undefined when source is 'defaults'. */
  path: string | undefined;
  source: ConfigSource;
}

export interface Candidate {
  path: string;
  source: Exclude<ConfigSource, 'defaults'>;
  /** Named explicitly by the user: must exist. */
  explicit: boolean;
}

/** The files the search order looks at, in order. */
export function configCandidates(ctx: Pick<Ctx, 'env' | 'cwd'>, flag?: string): Candidate[] {
  const { env, cwd } = ctx;
  if (flag !== undefined) return [{ path: path.resolve(cwd, flag), source: 'flag', explicit: true }];
  if (env.PCIGATE_CONFIG) return [{ path: path.resolve(cwd, env.PCIGATE_CONFIG), source: 'env', explicit: true }];
  const out: Candidate[] = [{ path: path.join(cwd, 'pcigate.yaml'), source: 'cwd', explicit: false }];
  const xdg = env.XDG_CONFIG_HOME;
  // The XDG spec says relative values are invalid and must be ignored.
  if (xdg && path.isAbsolute(xdg)) out.push({ path: path.join(xdg, 'pcigate', 'config.yaml'), source: 'xdg', explicit: false });
  if (env.HOME) {
    const p = path.join(env.HOME, '.config', 'pcigate', 'config.yaml');
    if (!out.some((c) => c.path === p)) out.push({ path: p, source: 'home', explicit: false });
  }
  return out;
}

/**
 * Loads the configuration by the search order and validates it.
 * - found → `{config, path, source}`; invalid → ConfigInvalid (exit 2) with file:line:col problems.
 * - none found → ConfigNotFound (exit 2), unless `optional: true`, which gives the defaults with
 *   `source: 'defaults'` for commands that can run without a config (verify, keys, whoami …).
 */
export async function loadConfig(
  ctx: Pick<Ctx, 'env' | 'cwd' | 'fs'>,
  opts: { path?: string | undefined; optional?: boolean } = {},
): Promise<LoadedConfig> {
  const candidates = configCandidates(ctx, opts.path);
  for (const c of candidates) {
    const text = await readIfExists(ctx, c);
    if (text === undefined) continue;
    return { config: parseConfigText(text, c.path, { homeDir: ctx.env.HOME }), path: c.path, source: c.source };
  }
  if (opts.optional && !candidates.some((c) => c.explicit)) return { config: defaultConfig(), path: undefined, source: 'defaults' };
  const first = candidates[0]!;
  if (first.explicit) {
    const via = first.source === 'flag' ? '--config' : 'PCIGATE_CONFIG';
    throw new ConfigNotFound(`configuration file ${first.path} (from ${via}) does not exist`, {
      hint: 'Check the path, or copy docs/pcigate.example.yaml there as a start.',
    });
  }
  throw new ConfigNotFound(`no configuration file found; looked in:\n${candidates.map((c) => `  ${c.path}`).join('\n')}`, {
    hint: 'Create ./pcigate.yaml (docs/pcigate.example.yaml shows every key), or pass --config FILE.',
  });
}

/** Same as loadConfig(…, {optional: true}): the file when there is one, else the defaults. */
export function loadConfigOrDefaults(ctx: Pick<Ctx, 'env' | 'cwd' | 'fs'>, opts: { path?: string | undefined } = {}): Promise<LoadedConfig> {
  return loadConfig(ctx, { ...opts, optional: true });
}

async function readIfExists(ctx: Pick<Ctx, 'fs'>, c: Candidate): Promise<string | undefined> {
  let st;
  try {
    st = await ctx.fs.stat(c.path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new ConfigError(`cannot read configuration file ${c.path}: ${code ?? (e as Error).message}`, { cause: e, hint: 'Check the path and the permissions of its directories.' });
  }
  if (!st.isFile()) throw new ConfigError(`configuration path ${c.path} is not a regular file`, { hint: 'Point --config at a YAML file.' });
  // A world-writable config lets any local user repoint a connection or change what a `cmd:` secret runs.
  if ((st.mode & 0o002) !== 0) {
    throw new ConfigError(`configuration file ${c.path} is writable by any user (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); refusing to use it`, {
      hint: `Remove write access for others: chmod o-w ${c.path}`,
    });
  }
  if (st.size > MAX_CONFIG_BYTES) {
    throw new ConfigError(`configuration file ${c.path} is larger than ${MAX_CONFIG_BYTES} bytes`, { hint: 'Is this the right file? A pcigate.yaml is a few kilobytes.' });
  }
  try {
    return await ctx.fs.readFile(c.path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(`cannot read configuration file ${c.path}: ${code ?? (e as Error).message}`, {
      cause: e,
      hint: code === 'EACCES' ? 'Check the file permissions: the user running pcigate must be able to read it.' : 'Check the file.',
    });
  }
}
