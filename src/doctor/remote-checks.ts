/**
 * Remote checks of `pcigate doctor`: each connection reached with the broker-held credential exactly as a
 * session would (Postgres: TCP, TLS per sslmode, authentication — PostgreSQL protocol 3.0 startup; SSH:
 * TCP, the pinned host key, public-key authentication — RFC 4252/4253), and the identity provider's
 * discovery document answering (OpenID Connect Discovery 1.0).
 */
import { upstreamTarget } from '../broker/pg-connect.js';
import type { Ctx } from '../cli/ctx.js';
import type { Connection, PcigateConfig } from '../config/index.js';
import { resolveSecret } from '../config/secrets.js';
import { maskText } from '../mask/pan-masker.js';
import { connectUpstream, TERMINATE } from '../pg/protocol/index.js';
import { connectSshUpstream } from '../ssh/upstream.js';
import { fail, ok, warn, type CheckResult } from './doctor-types.js';

/** Error text without any PAN (a hostile server's message must not reach the terminal unmasked). */
function msg(e: unknown): string {
  return maskText((e as Error)?.message ?? String(e)).split('\n')[0]!;
}

/** One connection: reach it, authenticate, disconnect. */
export async function checkConnection(ctx: Ctx, name: string, conn: Connection): Promise<CheckResult> {
  const id = `connection:${name}`;
  if (conn.kind === 'postgres') {
    let target;
    try {
      target = await upstreamTarget(ctx, conn);
    } catch (e) {
      return fail(id, `${name}: cannot resolve its credential: ${msg(e)}`, `check connections.${name}.password (pcigate config check)`);
    }
    const where = `${conn.user}@${conn.socket ?? `${conn.host}:${conn.port}`}/${conn.database}`;
    try {
      const c = await connectUpstream(target);
      c.socket.end(TERMINATE);
      c.socket.destroy();
      const reached = `${name}: postgres ${where} reachable, ${c.tls ? 'TLS' : 'no TLS'} (sslmode ${conn.sslmode}), authenticated (${c.authMethod})`;
      // Through a superuser, a statement policy allows as ddl or function can do anything (docs/policy-server-secrets.md).
      if (c.parameters.is_superuser === 'on') {
        const hint = `give pcigate a role that is not a superuser for connections.${name}.user (PCI DSS 7.2.5)`;
        return conn.upstream_superuser === 'refuse'
          ? fail(id, `${reached}, but ${conn.user} is a superuser and upstream_superuser is refuse: every session will be refused`, hint)
          : warn(id, `${reached}; ${conn.user} is a superuser: a statement policy allows as ddl or function can do anything there`, `${hint}, or set upstream_superuser: refuse`);
      }
      return ok(id, reached);
    } catch (e) {
      return fail(id, `${name}: postgres ${where}: ${msg(e)}`, hintFor(msg(e), name, conn.sslmode));
    }
  }
  const where = `${conn.user}@${conn.host}:${conn.port}`;
  let privateKey: string;
  let passphrase: string | undefined;
  try {
    privateKey = await resolveSecret(ctx, conn.private_key);
    passphrase = conn.passphrase ? await resolveSecret(ctx, conn.passphrase) : undefined;
  } catch (e) {
    return fail(id, `${name}: cannot resolve its private key: ${msg(e)}`, `check connections.${name}.private_key (pcigate config check)`);
  }
  try {
    const client = await connectSshUpstream({
      host: conn.host, port: conn.port, user: conn.user, privateKey, hostKey: conn.host_key, timeoutMs: conn.connect_timeout,
      ...(passphrase ? { passphrase } : {}),
    });
    client.end();
    const reached = `${name}: ssh ${where} reachable, host key matches the pin, authenticated`;
    if (conn.user === 'root') return warn(id, `${reached}; it logs in as root: every command policy allows runs as root`, `give pcigate an account of its own with what its users need (sudo rules) for connections.${name}.user (PCI DSS 7.2.5)`);
    return ok(id, reached);
  } catch (e) {
    const code = (e as { code?: string }).code;
    return fail(id, `${name}: ssh ${where}: ${msg(e)}`, code === 'ERR_HOST_KEY_MISMATCH' || /host key/.test(msg(e))
      ? `check the new key out of band, then update connections.${name}.host_key`
      : 'check host, port, user and that the broker key is in authorized_keys');
  }
}

function hintFor(text: string, name: string, sslmode: string): string {
  if (/ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|timed out/i.test(text)) return `check connections.${name}.host/port and that the server is running and reachable from here`;
  if (/password|authentication|SCRAM|28P01|28000/i.test(text)) return `check the broker credential connections.${name}.password and pg_hba.conf`;
  if (/TLS|SSL|certificate/i.test(text)) return `check connections.${name}.sslmode (${sslmode}) and ca_file`;
  return `check connections.${name} (pcigate config check)`;
}

/** The issuer's discovery document answers and names the same issuer. */
export async function checkIdentity(ctx: Ctx, config: PcigateConfig, timeoutMs = 10_000): Promise<CheckResult> {
  const issuer = config.identity.issuer;
  if (!issuer) {
    return config.identity.allow_local
      ? warn('identity', 'no identity provider configured; local OS accounts stand in (identity.allow_local)', 'set identity.issuer and identity.client_id for OIDC login (PCI DSS 8.2.1)')
      : fail('identity', 'no identity provider configured and identity.allow_local is off: nobody can log in', 'set identity.issuer and identity.client_id');
  }
  const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  try {
    const res = await ctx.fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
    if (!res.ok) return fail('identity', `identity provider discovery ${url} answered HTTP ${res.status}`, 'check identity.issuer');
    const doc = (await res.json()) as { issuer?: unknown; device_authorization_endpoint?: unknown; jwks_uri?: unknown };
    if (doc.issuer !== issuer) return fail('identity', `discovery document names issuer ${String(doc.issuer)}, not ${issuer}`, 'set identity.issuer exactly as the provider names itself');
    if (typeof doc.jwks_uri !== 'string') return fail('identity', 'discovery document has no jwks_uri', 'check the provider configuration');
    const device = typeof doc.device_authorization_endpoint === 'string';
    return device
      ? ok('identity', `identity provider ${issuer} answers discovery (device flow supported)`)
      : warn('identity', `identity provider ${issuer} answers discovery but offers no device flow`, 'enable the device authorization grant (RFC 8628) for the pcigate client');
  } catch (e) {
    return fail('identity', `identity provider discovery ${url}: ${msg(e)}`, 'check identity.issuer and that the provider is reachable from here');
  }
}
