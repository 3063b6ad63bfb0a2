/**
 * `pcigate doctor`: every check in order — configuration, token store, data home, signing keys, approval key,
 * clock, each connection, the identity provider. Checks that need a valid configuration are skipped (and said
 * so) when it is not valid; the rest still run with the defaults. Connections are checked concurrently.
 */
import type { Ctx } from '../cli/ctx.js';
import { resolveHome } from '../cli/home.js';
import { defaultConfig, loadConfig, type PcigateConfig } from '../config/index.js';
import { fail, ok, type CheckResult } from './doctor-types.js';
import { checkApprovals, checkClock, checkHome, checkKeys, checkTokenStore } from './local-checks.js';
import { checkConnection, checkIdentity } from './remote-checks.js';

export interface DoctorOptions {
  configPath?: string | undefined;
  home?: string | undefined;
}

export async function runDoctor(ctx: Ctx, o: DoctorOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  let config: PcigateConfig | undefined;
  try {
    const loaded = await loadConfig(ctx, { path: o.configPath });
    config = loaded.config;
    const n = Object.keys(config.connections).length;
    results.push(ok('config', `configuration valid: ${loaded.path ?? 'defaults'} (${n} connection${n === 1 ? '' : 's'})`));
  } catch (e) {
    const hint = (e as { hint?: string }).hint;
    results.push(fail('config', `configuration: ${(e as Error).message.split('\n')[0]}`, hint ?? 'run pcigate config check for every problem'));
  }
  const effective = config ?? defaultConfig();
  const home = resolveHome(ctx, o.home, effective.audit.dir);
  results.push(await checkTokenStore(ctx, effective, home));
  results.push(await checkHome(ctx, home));
  results.push(await checkKeys(ctx, effective, home));
  results.push(await checkApprovals(ctx, home));
  results.push(await checkClock(ctx, home));
  if (!config) return results;
  results.push(...(await Promise.all(Object.entries(config.connections).map(([name, conn]) => checkConnection(ctx, name, conn)))));
  results.push(await checkIdentity(ctx, config));
  return results;
}
