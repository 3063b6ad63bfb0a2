/**
 * The broker's per-session hooks for a Postgres connection: policy (src/policy: allow / deny / hold for
 * approval, decided from the real parse tree) and masking (src/mask: every data-carrying backend message),
 * composed once per listener. `pcigate connect` and `pcigate exec` both start their listener with these,
 * so a statement from psql and one from a CI step take exactly the same path.
 */
import type { Actor, AuditSink } from '../../recorder/types.js';
import type { Ctx } from '../cli/ctx.js';
import type { PcigateConfig } from '../config/index.js';
import { resolveSecret } from '../config/secrets.js';
import { ColumnCatalog } from '../mask/column-catalog.js';
import { PgMasker } from '../mask/pg-masker.js';
import type { UpstreamTarget } from '../pg/protocol/index.js';
import type { SessionHooks } from '../pg/proxy/hooks.js';
import { ApprovalStore } from '../policy/approvals.js';
import { loadParser } from '../policy/pg-parser.js';
import { decideStatement, identityOfActor } from '../policy/pg-policy-hooks.js';
import type { PolicyHooksOptions } from '../policy/pg-policy-hooks.js';
import { PolicyEngine } from '../policy/policy-engine.js';
import { simpleQuery } from './pg-query-client.js';

export interface PgHooksOptions {
  config: PcigateConfig;
  /** The connection's name in the config. */
  name: string;
  /** The broker-held upstream target, for the pg_catalog side lookups of column rules. */
  target: UpstreamTarget;
  home: string;
  sink: AuditSink;
  reason?: string;
  /** Aborts statements waiting for an approval (listener shutdown). */
  signal?: AbortSignal;
}

/** A column's `schema.table.column` from RowDescription's table OID and attribute number. */
function catalogLookup(target: UpstreamTarget) {
  return async (tableOid: number, attnum: number): Promise<string | undefined> => {
    // Integers only: safe to inline, and the side connection uses the simple protocol.
    const r = await simpleQuery(target, `SELECT n.nspname || '.' || c.relname || '.' || a.attname FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE a.attrelid = ${Math.trunc(tableOid)} AND a.attnum = ${Math.trunc(attnum)}`);
    if (r.error) throw new Error(`column lookup failed: ${r.error.code ?? ''} ${r.error.message ?? ''}`);
    return r.results[0]?.rows[0]?.[0] ?? undefined;
  };
}

/** Builds the hooksFor of startPgBroker. Loads the SQL parser once, before the listener opens. */
export async function pgHooksFor(ctx: Ctx, o: PgHooksOptions): Promise<(info: { session: string; actor: Actor }) => SessionHooks> {
  await loadParser();
  const engine = new PolicyEngine(o.config.policy, o.config.connections);
  const store = new ApprovalStore({ fs: ctx.fs, clock: ctx.clock, home: o.home, sink: o.sink, drainOutbox: true });
  const hmacKey = o.config.masking.hmac_key ? Buffer.from(await resolveSecret(ctx, o.config.masking.hmac_key)) : undefined;
  const catalog = new ColumnCatalog(catalogLookup(o.target), { now: () => ctx.clock.now() });
  const dbUser = o.target.user;
  const policy: PolicyHooksOptions = {
    engine, store, connection: o.name, clock: ctx.clock, dbUser,
    ...(o.reason ? { reason: o.reason } : {}), ...(o.signal ? { signal: o.signal } : {}),
  };
  return (info) => {
    const identity = identityOfActor(info.actor);
    const ps = engine.openSession(identity, o.name, ctx.clock.now(), { dbUser, ...(o.reason ? { reason: o.reason } : {}) });
    const masker = new PgMasker({
      config: o.config.masking,
      grants: engine.unmaskGrants(identity, o.name),
      ...(hmacKey ? { hmacKey } : {}),
      catalog,
    });
    return {
      onStatement: (stmt) => decideStatement(policy, ps, info.session, stmt),
      onBackendMessage: (frame) => masker.onBackendMessage(frame),
    };
  };
}
