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
 * is never seen as SQL, e.g. `default_transaction_read_only`. `search_path` (which table `cards` means) is
 * forwarded because policy starts from it (PgSessionInfo.startup → PolicyEngine.openSession): dropping it
 * ran a client that asked for `app` (pgjdbc `currentSchema`, postgres.js, Npgsql) against `public` tables.
 */
export const FORWARDED_STARTUP_PARAMS: readonly string[] = [
  'search_path',
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

/** PostgreSQL's encoding-name cleaning (clean_encoding_name in encnames.c): lower case, letters and digits only. */
const encodingKey = (name: string): string => name.toLowerCase().replace(/[^a-z0-9]/g, '');

/**
 * The client-only encodings whose multibyte characters may end in an ASCII byte, by every name pg_encname_tbl
 * (encnames.c) gives them: SJIS, SHIFT_JIS_2004, BIG5, GBK, UHC, JOHAB, GB18030. The server converts a query
 * from such an encoding before it parses it, so the bytes `E'`, 0x95, `\'; SELECT … FROM denied; -- '` are a
 * kanji, a closing quote and a second statement to the server and one string literal to policy, which reads
 * UTF-8 (policy refuses `SET client_encoding` to these for that reason: classify.ts). In every other encoding
 * PostgreSQL knows, bytes below 0x80 are ASCII characters and the rest never are.
 */
const SPLITTING_ENCODINGS = new Set([
  'sjis', 'shiftjis', 'mskanji', 'win932', 'windows932', 'cp932', 'shiftjis2004', 'big5', 'win950', 'windows950', 'cp950',
  'gbk', 'win936', 'windows936', 'cp936', 'uhc', 'win949', 'windows949', 'cp949', 'johab', 'gb18030',
]);

/**
 * Whether an encoding name is UTF8 by one of its PostgreSQL names (UTF8, UNICODE), as the server cleans it: `UTF-8`,
 * `utf_8` and `Unicode` are UTF8 to the server too. Policy trusts text as UTF-8 on this answer (client_encoding,
 * COPY's ENCODING), so it must never say UTF-8 where the server reads another encoding. It says so of a name
 * whose a-z and 0-9, once lower-cased, spell utf8 or unicode; the server keeps those letters too and drops or
 * keeps each non-ASCII byte by its locale, so such a name is UTF8 to it or one it refuses (JavaScript lower-cases `İ` to `i̇`: `UNİCODE` is unicode here and `uncode`, no encoding, there).
 */
export function isUtf8Name(name: string): boolean {
  const k = encodingKey(name);
  return k === 'utf8' || k === 'unicode';
}

/** Whether a client_encoding makes the server split query bytes where a UTF-8 reader does not (see above). */
export function isSplittingEncoding(name: string): boolean {
  return SPLITTING_ENCODINGS.has(encodingKey(name));
}

/**
 * Why a setting the server reports (ParameterStatus, §55.2.7: both are reported whenever they change) makes it
 * read query text otherwise than policy, which reads UTF-8 with standard_conforming_strings on; undefined when
 * it does not. Policy refuses the SETs; this catches any other way (a role default, `UPDATE pg_settings`,
 * set_config, a function body).
 */
export function misreadingParameter(name: string, value: string): string | undefined {
  if (name === 'client_encoding' && isSplittingEncoding(value)) return `client_encoding ${value}`;
  if (name === 'standard_conforming_strings' && value !== 'on') return `standard_conforming_strings ${value}`;
  return undefined;
}

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
    // Never forwarded, whoever calls this: the session is refused before (local-auth.ts).
    if (lower === 'client_encoding' && isSplittingEncoding(value)) dropped.push(name);
    else if (allowed.has(lower) || name.startsWith('_pq_.')) forward[name] = value;
    else dropped.push(name);
  }
  return { forward, dropped, replication };
}

/**
 * Whether a startup `options` string (command-line switches, not forwarded) sets search_path (`-c
 * search_path=…`, `--search_path=…`, `-csearch_path=…`): dropping it silently would run the client against
 * other tables than it asked for, so such a session is refused instead.
 */
export function optionsSetSearchPath(options: string | undefined): boolean {
  return options !== undefined && /(?:^|\s)(?:-c\s*|--)search[_-]path\s*=/i.test(options);
}

/** A startup parameter by name, compared case-insensitively as the server compares setting names. */
export function startupSetting(params: Readonly<Record<string, string>>, name: string): string | undefined {
  for (const [k, v] of Object.entries(params)) if (k.toLowerCase() === name) return v;
  return undefined;
}
