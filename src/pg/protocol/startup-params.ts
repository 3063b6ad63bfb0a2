/**
 * Which of a client's StartupMessage parameters may reach the upstream server.
 * https://www.postgresql.org/docs/current/protocol-message-formats.html (StartupMessage) and
 * https://www.postgresql.org/docs/current/runtime-config-client.html
 *
 * Besides `user` and `database` (which pcigate replaces with the connection's own), a startup packet can
 * carry `replication` (turns the session into a walsender that speaks replication commands and can
 * stream the whole cluster), `options` (command-line switches: `-c any_guc=value`) and any run-time
 * setting by name. Forwarding them blindly lets a client change what the broker-held credential does,
 * so only an allow-list of harmless client settings passes (fail closed); everything else is refused.
 */

/**
 * Client settings forwarded by default (compared case-insensitively, as the server does). Settings a
 * policy may depend on are left out on purpose: a startup parameter overrides the role's own setting and
 * is never seen as SQL, e.g. `search_path` (which table `cards` means) or `default_transaction_read_only`.
 */
export const FORWARDED_STARTUP_PARAMS: readonly string[] = [
  'application_name',
  'client_encoding',
  'datestyle',
  'timezone',
  'intervalstyle',
  'extra_float_digits',
  'bytea_output',
  'statement_timeout',
  'lock_timeout',
  'idle_in_transaction_session_timeout',
  'default_transaction_isolation',
];

export interface PartitionedStartupParams {
  /** Parameters to send upstream (without user and database). */
  forward: Record<string, string>;
  /** Names dropped: not on the allow-list (`options`, arbitrary settings, …). */
  dropped: string[];
  /** True when the client asked for a replication connection: refuse the session (FATAL 0A000). */
  replication: boolean;
}

/**
 * Split a client's startup parameters. `_pq_.*` protocol options are forwarded, so that the server's
 * NegotiateProtocolVersion can be passed back to the client as the protocol requires.
 */
export function partitionStartupParams(params: Readonly<Record<string, string>>,
  allow: readonly string[] = FORWARDED_STARTUP_PARAMS): PartitionedStartupParams {
  const allowed = new Set(allow.map((a) => a.toLowerCase()));
  const forward: Record<string, string> = {};
  const dropped: string[] = [];
  let replication = false;
  for (const [name, value] of Object.entries(params)) {
    const lower = name.toLowerCase();
    if (lower === 'user' || lower === 'database') continue;
    if (lower === 'replication') {
      // Any value but an explicit "off" asks for a walsender ("true", "on", "yes", "1", "database").
      if (!/^(false|off|no|0)$/i.test(value.trim())) replication = true;
      continue;
    }
    if (allowed.has(lower) || name.startsWith('_pq_.')) forward[name] = value;
    else dropped.push(name);
  }
  return { forward, dropped, replication };
}
