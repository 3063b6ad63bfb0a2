/**
 * Settings PostgreSQL shows only to superusers and members of pg_read_all_settings (GUC_SUPERUSER_ONLY in
 * guc.c / guc_tables.c): SHOW and current_setting() refuse them to anyone else with 42501, and pg_settings
 * leaves their rows out. They name secrets or server paths (primary_conninfo may hold a replication password,
 * ssl_passphrase_command a key's passphrase). pcigate connects upstream as a user who may read them all, so
 * policy asks for an explicit grant to read one (server-secrets.ts).
 *
 * How the list was made: against the harness's PostgreSQL 15.18 (Debian), a fresh role with LOGIN and nothing
 * else (not a member of pg_read_all_settings) ran `SHOW "<name>"` for every name of pg_settings (354); these
 * are the names that failed with SQLSTATE 42501. `extension_destdir` is Debian's own patch. Cross-checked against
 * PostgreSQL's master guc_parameters.dat (GUC_SUPERUSER_ONLY): the same names where they exist in 15, and these
 * later ones, kept so that a newer server is covered too: extension_control_path, oauth_validator_libraries,
 * ssl_groups (ssl_ecdh_curve's new name) and ssl_tls13_ciphers (18), hosts_file and ssl_sni (19 development).
 * Versions 12 to 14 were not checked. Names are lower case: the server looks settings up case-insensitively, so
 * callers fold a name before asking.
 */
export const SUPERUSER_ONLY_SETTINGS: ReadonlySet<string> = new Set([
  'config_file', 'data_directory', 'dynamic_library_path', 'extension_destdir', 'external_pid_file', 'hba_file',
  'ident_file', 'jit_provider', 'krb_server_keyfile', 'log_directory', 'log_filename', 'primary_conninfo',
  'session_preload_libraries', 'shared_preload_libraries', 'ssl_ciphers', 'ssl_dh_params_file', 'ssl_ecdh_curve',
  'ssl_max_protocol_version', 'ssl_min_protocol_version', 'ssl_passphrase_command', 'unix_socket_directories',
  // PostgreSQL 18 and later (guc_parameters.dat)
  'extension_control_path', 'hosts_file', 'oauth_validator_libraries', 'ssl_groups', 'ssl_sni', 'ssl_tls13_ciphers',
]);
