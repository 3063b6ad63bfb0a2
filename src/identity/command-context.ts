/**
 * What login, whoami and logout share: the configuration (optional: flags can stand in), the data home, the
 * identity settings with flag overrides, the token store, and the audit log when this data home has one.
 */
import { openAuditLog } from '../../recorder/index.js';
import type { AuditLog } from '../../recorder/index.js';
import type { GlobalOptions } from '../cli/command.js';
import type { Ctx } from '../cli/ctx.js';
import { resolveHomeWithConfig } from '../config/resolve-home.js';
import { loadConfigOrDefaults } from '../config/load-config.js';
import { settingsFrom } from './settings.js';
import type { IdentitySettings, SettingsOverrides } from './settings.js';
import { openTokenStore } from './token-store.js';
import type { TokenStore } from './token-store.js';

export interface IdentityCommandContext {
  settings: IdentitySettings;
  home: string;
  store: TokenStore;
  /** The data home's audit log, when it has been initialised (`pcigate keys init`); else undefined. */
  audit: AuditLog | undefined;
  close(): Promise<void>;
}

export async function identityCommandContext(
  ctx: Ctx,
  global: Pick<GlobalOptions, 'home' | 'config'>,
  over: SettingsOverrides,
  warn: (line: string) => void,
): Promise<IdentityCommandContext> {
  const { home, loaded } = await resolveHomeWithConfig(ctx, global);
  const config = (loaded ?? (await loadConfigOrDefaults(ctx, { path: global.config }))).config;
  const settings = settingsFrom(config.identity, over);
  const store = await openTokenStore(ctx, { kind: settings.tokenStore, home, warn });
  let audit: AuditLog | undefined;
  try {
    audit = await openAuditLog(ctx, { home, createIfMissing: false });
  } catch (err) {
    // No log in this data home (a laptop without `keys init`), or a broker holds it: the broker's own
    // records of every session remain the authoritative trail.
    ctx.log.debug(`identity records not written locally: ${(err as Error).message}`);
  }
  return { settings, home, store, audit, close: async () => { await audit?.close(); } };
}
