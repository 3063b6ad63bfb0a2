/**
 * The data home with the config in the loop. Precedence is resolveHome's (src/cli/home.ts): `--home`,
 * `PCIGATE_HOME`, the config's `audit.dir`, then `$XDG_DATA_HOME/pcigate`. The config is only read when
 * neither the flag nor the variable decides, and a missing config is fine (defaults); a broken one is not.
 */
import type { GlobalOptions } from '../cli/command.js';
import type { Ctx } from '../cli/ctx.js';
import { resolveHome } from '../cli/home.js';
import { loadConfigOrDefaults } from './load-config.js';
import { defaultConfig } from './schema.js';
import type { AuditConfig } from './sections/audit.js';
import type { IdentityConfig } from './sections/identity.js';
import type { LoadedConfig } from './load-config.js';

export interface HomeWithConfig {
  home: string;
  /** The configuration that was consulted; undefined when --home/PCIGATE_HOME made reading it unnecessary. */
  loaded: LoadedConfig | undefined;
}

/** Resolves the data home for a command, consulting the config's `audit.dir` only when needed. */
export async function resolveHomeWithConfig(ctx: Ctx, global: Pick<GlobalOptions, 'home' | 'config'>): Promise<HomeWithConfig> {
  const flag = global.home ?? ctx.env.PCIGATE_HOME;
  if (flag !== undefined && flag !== '') return { home: resolveHome(ctx, flag), loaded: undefined };
  const loaded = await loadConfigOrDefaults(ctx, { path: global.config });
  return { home: resolveHome(ctx, undefined, loaded.config.audit.dir), loaded };
}

/**
 * For the auditor's commands (verify, sessions, replay, evidence), which must work on a data home even when the
 * configuration is broken: the home, the audit settings — the defaults, with a warning, when the configuration
 * cannot be read — and the identity settings (undefined then: whose login to look for is unknown).
 */
export async function resolveAuditHome(ctx: Ctx, global: Pick<GlobalOptions, 'home' | 'config'>, warn: (line: string) => void): Promise<{ home: string; audit: AuditConfig; identity: IdentityConfig | undefined }> {
  const { home, loaded } = await resolveHomeWithConfig(ctx, global);
  try {
    const { config } = loaded ?? (await loadConfigOrDefaults(ctx, { path: global.config }));
    return { home, audit: config.audit, identity: config.identity };
  } catch (e) {
    warn(`warning: configuration not used (${(e as Error).message}); audit settings at their defaults`);
    return { home, audit: defaultConfig().audit, identity: undefined };
  }
}
