/**
 * `config check --resolve`: proves that every secret reference in a configuration resolves, without
 * showing any value (PCI DSS 8.3.2 — the operator learns "PGPASS is unset" before a session fails, and
 * nothing secret reaches the terminal). Resolved values are dropped as soon as they are checked.
 */
import type { Ctx } from '../cli/ctx.js';
import { PcigateError } from '../errors.js';
import type { PcigateConfig } from './schema.js';
import { isSecretRef } from './secret-ref.js';
import type { SecretRef } from './secret-ref.js';
import { resolveSecret } from './secrets.js';
import type { ResolveSecretOptions } from './secrets.js';

export interface SecretCheck {
  /** Dotted key path, e.g. `connections.prod-db.password`. */
  path: string;
  /** The redacted reference, e.g. `<redacted: env:PGPASS>`. */
  ref: string;
  ok: boolean;
  /** Why it did not resolve; never contains the value. */
  error?: string;
}

/** Every secret reference in `config`, with its dotted path, in document order. */
export function listSecretRefs(config: PcigateConfig): Array<{ path: string; ref: SecretRef }> {
  const out: Array<{ path: string; ref: SecretRef }> = [];
  const walk = (v: unknown, p: string): void => {
    if (isSecretRef(v)) { out.push({ path: p, ref: v }); return; }
    if (Array.isArray(v)) { v.forEach((x, i) => walk(x, `${p}[${i}]`)); return; }
    if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, p ? `${p}.${k}` : k);
  };
  walk(config, '');
  return out;
}

/** Resolves each reference once, sequentially (cmd: references may prompt a vault agent), keeping no value. */
export async function checkSecrets(
  ctx: Pick<Ctx, 'env' | 'cwd' | 'fs'>,
  config: PcigateConfig,
  opts: ResolveSecretOptions = {},
): Promise<SecretCheck[]> {
  const results: SecretCheck[] = [];
  for (const { path, ref } of listSecretRefs(config)) {
    try {
      await resolveSecret(ctx, ref, opts);
      results.push({ path, ref: ref.redacted(), ok: true });
    } catch (e) {
      const msg = e instanceof PcigateError ? e.message : `unexpected error: ${(e as Error).message}`;
      results.push({ path, ref: ref.redacted(), ok: false, error: msg });
    }
  }
  return results;
}
