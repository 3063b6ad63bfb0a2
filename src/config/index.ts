/** The config area's public surface: load, validate, resolve secrets, redact, and the data home. */
export { configCandidates, loadConfig, loadConfigOrDefaults } from './load-config.js';
export type { Candidate, ConfigSource, LoadedConfig } from './load-config.js';
export { formatProblem, parseConfigText } from './parse-config.js';
export { configSchema, defaultConfig } from './schema.js';
export type { PcigateConfig } from './schema.js';
export { SecretRef, isSecretRef, parseSecretRef, secretRef } from './secret-ref.js';
export { resolveSecret } from './secrets.js';
export type { ResolveSecretOptions } from './secrets.js';
export { checkSecrets, listSecretRefs } from './check-secrets.js';
export type { SecretCheck } from './check-secrets.js';
export { findConnection } from './find-connection.js';
export { redact } from './redact.js';
export { resolveAuditHome, resolveHomeWithConfig } from './resolve-home.js';
export { byteSize, duration, formatDuration, parseDuration, parseSize } from './duration.js';
export type { AuditConfig } from './sections/audit.js';
export type { Connection, PostgresConnection, SshConnection } from './sections/connections.js';
